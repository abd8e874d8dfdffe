from toygan.cli import app

app(prog_name="toygan")
