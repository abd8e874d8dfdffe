import numpy as np
from typer.testing import CliRunner

from toygan.cli import app

runner = CliRunner()
TINY = ["-s", "model.hidden=[32, 32]", "-s", "train.batch_size=64", "-s", "view.points=200", "-s", "view.eval_samples=200"]


def test_scenarios_lists_one_line_each():
    result = runner.invoke(app, ["scenarios"])
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    assert [line.split()[0] for line in lines] == [
        "checkerboard",
        "dirac-gan",
        "grid-25",
        "mnist-cgan",
        "mnist-cgan-onehot",
        "mnist-gan",
        "moons",
        "pinwheel",
        "protocol-grid-25",
        "protocol-ring-8",
        "ring-8",
        "spiral",
        "swiss-roll",
        "two-gaussians",
    ]
    assert all(len(line.split()) > 3 for line in lines)  # each with its description


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


def test_eval_prints_the_final_metrics(tmp_path):
    import csv
    import json

    out = tmp_path / "run"
    assert runner.invoke(app, ["run", "ring-8", "--steps", "50", "--no-live", "--out", str(out), *TINY]).exit_code == 0
    result = runner.invoke(app, ["eval", str(out), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    with open(out / "metrics.csv") as f:
        last = list(csv.DictReader(f))[-1]
    assert metrics["modes_captured"] == int(last["modes_captured"])
    assert metrics["reverse_kl"] == float(last["reverse_kl"])
    table = runner.invoke(app, ["eval", str(out)])
    assert table.exit_code == 0 and "true mixture" in table.output and "modes captured" in table.output
    assert runner.invoke(app, ["eval", str(tmp_path)]).exit_code == 2


def test_compare_writes_runs_side_by_side_and_a_table(tmp_path):
    import imageio.v3 as iio

    out = tmp_path / "cmp"
    args = [
        "compare",
        "two-gaussians",
        "--vary",
        "train.generator_loss=non-saturating,minimax",
        "--steps",
        "100",
        "--out",
        str(out),
        "--views",
        "none",
        *TINY,
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    rows = (out / "comparison.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert header[0] == "setting" and {"sw_ratio", "coverage", "matches", "modes_captured"} <= set(header)
    assert len(rows) == 3
    side = iio.imread(out / "side-by-side.gif", index=None)
    single = iio.imread(out / "generator_loss=minimax" / "training.gif", index=None)
    assert side.shape[0] == single.shape[0] == 3
    assert side.shape[2] == 2 * single.shape[2]
    assert "minimax" in result.output


def test_data_mnist_shows_images_and_the_label_histogram(tmp_path):
    import imageio.v3 as iio

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10, dtype=np.uint8), 5)
    np.savez(tmp_path / "m.npz", x_train=rng.integers(0, 256, (50, 28, 28), dtype=np.uint8), y_train=labels)
    picture = tmp_path / "preview.png"
    result = runner.invoke(app, ["data", "mnist", "--data", str(tmp_path / "m.npz"), "-o", str(picture)])
    assert result.exit_code == 0, result.output
    assert "train     50 images  0:5  1:5" in result.output
    assert iio.imread(picture).shape[1] > 800
    again = runner.invoke(app, ["data", "mnist", "--data", str(tmp_path / "m.npz"), "-o", str(picture)])
    assert again.exit_code == 2 and "already exists" in again.output
    missing = runner.invoke(app, ["data", "mnist", "--data", str(tmp_path / "none.npz"), "-o", str(tmp_path / "x.png")])
    assert missing.exit_code == 2 and missing.output.startswith("error: ") and "does not exist" in missing.output
