import numpy as np
from typer.testing import CliRunner

from toygan.cli import app

runner = CliRunner()
TINY = ["-s", "model.hidden=[32, 32]", "-s", "train.batch_size=64", "-s", "view.points=200", "-s", "view.eval_samples=200"]


def test_scenarios_lists_one_line_each():
    result = runner.invoke(app, ["scenarios"])
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["grid-25", "ring-8", "two-gaussians"]


def test_run_then_sample(tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", "two-gaussians", "--steps", "60", "--no-live", "--out", str(out), *TINY])
    assert result.exit_code == 0, result.output
    assert (out / "training.gif").is_file()

    samples = tmp_path / "points.npz"
    result = runner.invoke(app, ["sample", str(out), "-n", "300", "-o", str(samples), "--seed", "2"])
    assert result.exit_code == 0, result.output
    x = np.load(samples)["x"]
    assert x.shape == (300, 2) and x.dtype == np.float32 and np.all(np.isfinite(x))

    again = runner.invoke(app, ["sample", str(out), "-n", "300", "-o", str(samples)])
    assert again.exit_code == 2 and "already exists" in again.output
    np.testing.assert_array_equal(np.load(samples)["x"], x)


def test_bad_input_gets_one_line_and_exit_code_2(tmp_path):
    cases = [
        ["run", "two-gausians", "--no-live"],
        ["run", "two-gaussians", "--no-live", "--steps", "0", "--out", str(tmp_path / "a")],
        ["run", "two-gaussians", "--no-live", "-s", "train.bogus=1", "--out", str(tmp_path / "b")],
        ["sample", str(tmp_path), "-o", str(tmp_path / "x.npz")],
    ]
    for args in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert result.output.startswith("error: ") and result.output.count("\n") == 1, result.output
        assert "Traceback" not in result.output
    assert not (tmp_path / "a").exists() and not (tmp_path / "x.npz").exists()
