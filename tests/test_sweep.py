import csv
import json
import os
import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest
from typer.testing import CliRunner

import toygan
from toygan.cli import app
from toygan.engine.sweep import sweep

TINY = {"model.hidden": [32, 32], "train.batch_size": 64, "view.points": 200, "view.eval_samples": 200}


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "s"
    folder, rows = sweep("ring-8", 2, {"train.lr_generator": [2e-4, 1e-3]}, steps=100, out=out, overrides=TINY, quiet=True)
    return folder, rows


def test_every_run_is_a_normal_run_folder(swept):
    folder, rows = swept
    runs = sorted(p.name for p in folder.iterdir() if p.is_dir())
    assert runs == [
        "lr_generator=0.0002_seed=0",
        "lr_generator=0.0002_seed=1",
        "lr_generator=0.001_seed=0",
        "lr_generator=0.001_seed=1",
    ]
    one = folder / runs[3]
    scenario = toygan.load_scenario(one / "scenario.toml")
    assert scenario.seed == 1 and scenario.train.lr_generator == 1e-3
    metrics = _rows(one / "metrics.csv")
    assert [int(r["step"]) for r in metrics] == [0, 50, 100]
    assert len(_rows(one / "losses.csv")) == 2
    final = toygan.load_run(one).evaluate()
    for name, value in final.items():
        assert float(metrics[-1][name]) == pytest.approx(value, rel=1e-5, abs=1e-6), name
    assert toygan.load_run(one).sample(10).shape == (10, 2)
    assert iio.imread(one / "final.png").ndim == 3


def test_summary_is_mean_and_sd_over_seeds(swept):
    folder, rows = swept
    table = _rows(folder / "sweep.csv")
    assert [r["setting"] for r in table] == ["lr_generator=0.0002", "lr_generator=0.001"]
    for row, setting in zip(table, ("lr_generator=0.0002", "lr_generator=0.001")):
        finals = [json.loads((folder / f"{setting}_seed={s}" / "summary.json").read_text())["final"] for s in (0, 1)]
        hq = [f["high_quality"] for f in finals]
        assert float(row["high_quality_mean"]) == pytest.approx(np.mean(hq))
        assert float(row["high_quality_sd"]) == pytest.approx(np.std(hq, ddof=1))
        assert int(row["all_modes"]) == sum(f["modes_captured"] == 8 for f in finals)
    gif = iio.imread(folder / "small-multiples.gif", index=None)
    assert gif.shape[0] == 3


def test_a_swept_run_matches_the_same_run_trained_alone(swept, tmp_path):
    folder, _ = swept
    alone = toygan.run(
        "ring-8",
        steps=100,
        seed=1,
        out=tmp_path / "alone",
        live=False,
        quiet=True,
        overrides={**TINY, "train.lr_generator": 1e-3, "view.discriminator": False},
    )
    a = _rows(alone.run_dir / "losses.csv")
    b = _rows(folder / "lr_generator=0.001_seed=1" / "losses.csv")
    assert [r["step"] for r in a] == [r["step"] for r in b] and len(a) > 1
    for row_a, row_b in zip(a, b):
        for column in ("d_loss", "g_loss"):
            assert float(row_a[column]) == pytest.approx(float(row_b[column]), rel=1e-3), column


def test_settings_that_change_the_program_form_their_own_group(tmp_path):
    runner = CliRunner()
    args = [
        "sweep",
        "two-gaussians",
        "--seeds",
        "1",
        "--vary",
        "model.hidden=[16],[32, 32]",
        "--steps",
        "50",
        "--out",
        str(tmp_path / "s"),
        "-s",
        "train.batch_size=32",
        "-s",
        "view.eval_samples=200",
        "-s",
        "view.points=100",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "2 runs (2 setting(s) x 1 seeds) in 2 compiled program(s)" in result.output
    assert len(_rows(tmp_path / "s" / "sweep.csv")) == 2
    bad = runner.invoke(app, ["sweep", "two-gaussians", "--seeds", "0", "--out", str(tmp_path / "t")])
    assert bad.exit_code == 2 and "--seeds must be at least 1" in bad.output


def test_runs_are_sharded_over_several_devices(tmp_path):
    code = (
        "import jax, toygan.engine.sweep as s\n"
        "assert jax.device_count() == 2\n"
        f"s.sweep('ring-8', 3, steps=100, out={str(tmp_path / 'two')!r}, overrides={TINY!r})\n"
    )
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    # Three runs do not divide over two devices: a copy pads them, and every device works.
    assert "on 2 device(s)" in done.stderr.replace("\n", " ")
    assert "3 runs padded to 4" in done.stderr.replace("\n", " ")
    single = sweep("ring-8", 3, steps=100, out=tmp_path / "one", overrides=TINY, quiet=True)[0]
    assert sorted(p.name for p in (tmp_path / "two").iterdir() if p.is_dir()) == ["seed=0", "seed=1", "seed=2"]
    for seed in (0, 1, 2):
        a = _rows(tmp_path / "two" / f"seed={seed}" / "losses.csv")
        b = _rows(single / f"seed={seed}" / "losses.csv")
        assert [float(r["d_loss"]) for r in a] == pytest.approx([float(r["d_loss"]) for r in b], rel=1e-3)
