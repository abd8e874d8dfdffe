import imageio.v3 as iio
import numpy as np
import pytest

import toygan
from toygan.engine.runner import chunk_lengths
from toygan.errors import ToyganError


def test_chunk_lengths_cover_the_steps():
    assert chunk_lengths(200, 50) == [50, 50, 50, 50]
    assert chunk_lengths(120, 50) == [50, 50, 20]
    assert chunk_lengths(30, 50) == [30]


def test_a_run_writes_its_folder_with_one_gif_frame_per_frame(tmp_path, tiny_overrides):
    result = toygan.run("two-gaussians", steps=120, out=tmp_path / "run", live=False, quiet=True, overrides=tiny_overrides)
    run_dir = result.run_dir
    for name in ("scenario.toml", "losses.csv", "params.msgpack", "training.gif", "final.png"):
        assert (run_dir / name).is_file(), name
    assert not list(run_dir.glob("*.part")) and not list(run_dir.glob(".*.tmp"))
    frames = iio.imread(run_dir / "training.gif", index=None)
    assert frames.shape[0] == 4  # steps 0, 50, 100, 120
    assert not np.array_equal(frames[0], frames[-1])
    final = iio.imread(run_dir / "final.png")
    assert final.shape[:2] == frames.shape[1:3]
    rows = (run_dir / "losses.csv").read_text().splitlines()
    assert rows[0] == "step,d_loss,g_loss,d_real,d_fake,lr_generator,lr_discriminator"
    assert [int(r.split(",")[0]) for r in rows[1:]] == [50, 100, 120]
    saved = toygan.load_scenario(run_dir / "scenario.toml")
    assert saved == result.scenario and saved.train.steps == 120


def test_same_seed_same_losses_and_other_seed_other_losses(tmp_path, tiny_overrides):
    def losses(name, seed):
        run = toygan.run("ring-8", steps=100, seed=seed, out=tmp_path / name, live=False, quiet=True, overrides=tiny_overrides)
        return (run.run_dir / "losses.csv").read_text()

    first = losses("a", 1)
    assert losses("b", 1) == first
    assert losses("c", 2) != first


def test_existing_run_folder_is_never_overwritten_without_force(tmp_path, tiny_overrides):
    out = tmp_path / "run"
    toygan.run("two-gaussians", steps=50, out=out, live=False, quiet=True, overrides=tiny_overrides)
    before = (out / "losses.csv").read_text()
    with pytest.raises(ToyganError, match="already exists: pass --force"):
        toygan.run("two-gaussians", steps=50, seed=5, out=out, live=False, quiet=True, overrides=tiny_overrides)
    assert (out / "losses.csv").read_text() == before
    toygan.run("two-gaussians", steps=50, seed=5, out=out, force=True, live=False, quiet=True, overrides=tiny_overrides)
    assert (out / "losses.csv").read_text() != before


def test_force_refuses_to_clear_a_folder_that_is_not_a_run(tmp_path, tiny_overrides):
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(ToyganError, match="not a toygan run folder"):
        toygan.run("two-gaussians", steps=50, out=tmp_path, force=True, live=False, quiet=True, overrides=tiny_overrides)
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_default_run_folders_are_fresh(tmp_path, monkeypatch, tiny_overrides):
    monkeypatch.chdir(tmp_path)
    a = toygan.run("two-gaussians", steps=50, live=False, quiet=True, overrides=tiny_overrides).run_dir
    b = toygan.run("two-gaussians", steps=50, live=False, quiet=True, overrides=tiny_overrides).run_dir
    assert a != b and a.parent.name == "runs" and a.name.startswith("two-gaussians-")


def test_a_finished_run_loads_back_with_its_generator(tmp_path, tiny_overrides):
    result = toygan.run("two-gaussians", steps=50, out=tmp_path / "run", live=False, quiet=True, overrides=tiny_overrides)
    loaded = toygan.load_run(tmp_path / "run")
    np.testing.assert_array_equal(loaded.sample(100, seed=3), result.sample(100, seed=3))
    assert not np.array_equal(loaded.sample(100, seed=3), loaded.sample(100, seed=4))


def _csv_rows(path):
    import csv

    with open(path) as f:
        return list(csv.DictReader(f))


def test_metrics_summary_and_report_are_written(tmp_path, tiny_overrides):
    result = toygan.run("ring-8", steps=100, out=tmp_path / "run", live=False, quiet=True, overrides=tiny_overrides)
    rows = _csv_rows(result.run_dir / "metrics.csv")
    assert [int(r["step"]) for r in rows] == [0, 50, 100]
    assert set(rows[0]) >= {"modes_captured", "high_quality", "reverse_kl", "log_likelihood", "mass_7", "warnings"}
    assert all(0 <= float(r["high_quality"]) <= 1 for r in rows)
    assert sum(float(rows[-1][f"mass_{k}"]) for k in range(8)) == pytest.approx(1.0, abs=1e-5)
    import json

    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["reference"]["modes_captured"] == 8
    assert summary["final"]["high_quality"] == pytest.approx(float(rows[-1]["high_quality"]))
    report = iio.imread(result.run_dir / "report.png")
    assert report.shape[1] > report.shape[0] > 300


def test_evaluate_agrees_with_the_last_metrics_row(tmp_path, tiny_overrides):
    toygan.run("grid-25", steps=150, out=tmp_path / "run", live=False, quiet=True, overrides=tiny_overrides)
    last = _csv_rows(tmp_path / "run" / "metrics.csv")[-1]
    final = toygan.load_run(tmp_path / "run").evaluate()
    for name, value in final.items():
        assert float(last[name]) == pytest.approx(value, rel=1e-6, abs=1e-9), name


def test_all_views_make_wider_frames(tmp_path, tiny_overrides):
    plain = toygan.run("two-gaussians", steps=50, out=tmp_path / "plain", live=False, quiet=True, overrides=tiny_overrides, views=[])
    full = toygan.run("two-gaussians", steps=50, out=tmp_path / "all", live=False, quiet=True, overrides=tiny_overrides, views=["all"])
    plain_frames = iio.imread(plain.run_dir / "training.gif", index=None)
    full_frames = iio.imread(full.run_dir / "training.gif", index=None)
    assert full_frames.shape[0] == plain_frames.shape[0] == 2
    assert full_frames.shape[2] > 2.5 * plain_frames.shape[2]
    assert full.scenario.view.manifold and not plain.scenario.view.discriminator


def test_divergence_stops_the_run_and_keeps_finite_parameters(tmp_path, tiny_overrides):
    blow_up = {**tiny_overrides, "train.lr_generator": 1e30, "train.lr_discriminator": 1e30}
    with pytest.raises(ToyganError, match="diverged") as info:
        toygan.run("two-gaussians", steps=500, out=tmp_path / "run", live=False, quiet=True, overrides=blow_up)
    assert "\n" not in str(info.value)
    rows = _csv_rows(tmp_path / "run" / "metrics.csv")
    assert "NaN or infinite" in rows[-1]["warnings"]
    assert int(rows[-1]["step"]) < 500
    loaded = toygan.load_run(tmp_path / "run")
    assert np.all(np.isfinite(loaded.sample(100)))
    assert (tmp_path / "run" / "training.gif").is_file()
