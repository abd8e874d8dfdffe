"""Your own points and the toy sets, through the installed `toygan` command: a .csv or .npy file runs as a
scenario of its own, scored against held-out points; bad files are one-line errors; the toy sets run by name."""

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import TOYGAN

from toygan.config import load_scenario
from toygan.twod.toysets import TOY_SETS

SMALL = [
    "--no-live",
    "--steps",
    "200",
    "-s",
    "model.hidden=[32, 32]",
    "-s",
    "train.batch_size=64",
    "-s",
    "view.eval_samples=600",
    "-s",
    "view.points=300",
]


def toygan(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    env.pop("DISPLAY", None)
    return subprocess.run([TOYGAN, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def point_files(tmp_path_factory):
    """Three Gaussian blobs, as a .csv with a header and as a .npy."""
    folder = tmp_path_factory.mktemp("points")
    rng = np.random.default_rng(1)
    mode_N = rng.choice(3, 1500, p=[0.5, 0.3, 0.2])
    x_Nx2 = np.array([[0.0, 0.0], [4.0, 1.0], [1.0, 5.0]])[mode_N] + rng.normal(size=(1500, 2)) * 0.5
    np.savetxt(folder / "blobs.csv", x_Nx2, delimiter=",", header="x,y", comments="")
    np.save(folder / "blobs.npy", x_Nx2)
    return folder


@pytest.mark.parametrize("name", ["blobs.csv", "blobs.npy"])
def test_a_point_file_runs_as_its_own_scenario_scored_against_held_out_points(point_files, name):
    done = toygan("run", name, *SMALL, "--out", f"run-{name}", cwd=point_files)
    assert done.returncode == 0, done.stderr
    run_dir = point_files / f"run-{name}"
    summary = json.loads((run_dir / "summary.json").read_text())
    # Held out: 20% of 1,500 points; the true sample (training points of that size) reads about 1.
    assert 0.6 < summary["reference"]["sw_ratio"] < 1.5 and summary["reference"]["coverage"] > 0.9
    assert set(summary["final"]) == {"sw_ratio", "precision", "recall", "density", "coverage", "matches"}
    assert summary["verdict"].startswith(("matches the data", "not yet"))
    # The scenario saved in the folder names the file by its absolute path: resume and eval work from anywhere.
    saved = load_scenario(run_dir / "scenario.toml")
    assert Path(saved.data.path) == point_files / name
    evaluated = toygan("eval", str(run_dir), "--json", cwd=point_files.parent)
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["sw_ratio"] == summary["final"]["sw_ratio"]
    sampled = toygan("sample", str(run_dir), "-n", "50", "-o", str(point_files / f"{name}.samples.npz"), cwd=point_files)
    assert sampled.returncode == 0 and np.load(point_files / f"{name}.samples.npz")["x"].shape == (50, 2)


def test_the_point_files_learn_the_same_from_csv_and_npy(point_files):
    csv = json.loads((point_files / "run-blobs.csv" / "summary.json").read_text())
    npy = json.loads((point_files / "run-blobs.npy" / "summary.json").read_text())
    assert csv["final"] == pytest.approx(npy["final"], rel=1e-4)


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "is empty"),
        ("x,y\n", "no points"),
        ("1,2,3\n" * 150, "3 columns"),
        ("1,2\n" * 99, "99 points"),
        ("1,2\nnan,3\n" + "1,2\n" * 150, "NaN or infinite"),
        ("1,2\none,3\n" + "1,2\n" * 150, "not a number"),
    ],
)
def test_a_bad_point_file_is_a_one_line_error_with_exit_code_2(tmp_path, content, message):
    (tmp_path / "bad.csv").write_text(content)
    done = toygan("run", "bad.csv", *SMALL, "--out", "run", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ") and "bad.csv" in done.stderr
    assert message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "run").exists()


def test_a_missing_point_file_is_a_one_line_error(tmp_path):
    done = toygan("run", "nowhere.npy", *SMALL, cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "nowhere.npy" in done.stderr, done.stderr


@pytest.mark.parametrize("name", TOY_SETS)
def test_every_toy_set_is_a_built_in_scenario_with_a_held_out_sample(name):
    scenario = load_scenario(name)
    assert scenario.data.toy == name and scenario.description
    source = scenario.kind.make_source(scenario.data)
    assert source.held_out_MxD.shape == (2000, 2) and np.all(np.isfinite(source.held_out_MxD))
