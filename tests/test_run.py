import imageio.v3 as iio
import numpy as np
import pytest

import toygan
from toygan.errors import ToyganError
from toygan.runner import chunk_lengths


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
    assert rows[0] == "step,d_loss,g_loss,d_real,d_fake"
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
