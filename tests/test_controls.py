"""What the live window's keys do to training, without a window: learning rates changed between chunks
(without recompiling), single D or G updates, and the rate columns of losses.csv in old run folders."""

import csv

import jax
import numpy as np

import toygan
from toygan.config import load_scenario
from toygan.engine import train
from toygan.engine.runner import resume
from toygan.engine.train import advance, learning_rates, make_trainer, single_update, start, with_learning_rates


def _setup(tiny_overrides):
    config = load_scenario("two-gaussians", {**tiny_overrides, "train.lr_schedule": "constant"})
    trainer = make_trainer(config)
    return config, trainer, start(trainer, config)


def _same(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_learning_rates_change_between_chunks_without_recompiling(tiny_overrides):
    config, trainer, state = _setup(tiny_overrides)
    assert learning_rates(state) == (np.float32(config.train.lr_generator), np.float32(config.train.lr_discriminator))
    plain, _ = advance(trainer, state, 7)
    compiled = train._advance._cache_size()
    doubled = with_learning_rates(state, 2 * config.train.lr_generator, 2 * config.train.lr_discriminator)
    faster, _ = advance(trainer, doubled, 7)
    assert train._advance._cache_size() == compiled, "a learning-rate change recompiled the chunk"
    assert learning_rates(faster) == (np.float32(2 * config.train.lr_generator), np.float32(2 * config.train.lr_discriminator))
    assert not _same(plain.g_params, faster.g_params)
    assert int(faster.step) == int(plain.step) == 7


def test_single_updates_move_one_network_and_keep_the_step(tiny_overrides):
    _, trainer, state = _setup(tiny_overrides)
    d_moved, d_loss = single_update(trainer, state, "d", 0)
    assert np.isfinite(d_loss) and int(d_moved.step) == 0
    assert not _same(d_moved.d_params, state.d_params) and _same(d_moved.g_params, state.g_params)
    g_moved, g_loss = single_update(trainer, state, "g", 0)
    assert np.isfinite(g_loss) and int(g_moved.step) == 0
    assert not _same(g_moved.g_params, state.g_params) and _same(g_moved.d_params, state.d_params)
    # Reproducible from the count, and each count draws its own batch.
    assert _same(single_update(trainer, state, "d", 0)[0].d_params, d_moved.d_params)
    assert not _same(single_update(trainer, state, "d", 1)[0].d_params, d_moved.d_params)
    # The next training step after them draws the batch it would have drawn anyway.
    assert not _same(advance(trainer, d_moved, 1)[0].d_params, advance(trainer, state, 1)[0].d_params)


def test_an_older_run_folder_without_rate_columns_resumes_with_them_filled(tmp_path, tiny_overrides):
    settings = {**tiny_overrides, "train.checkpoint_every": 50, "train.lr_generator": 3e-4}
    run_dir = toygan.run("two-gaussians", steps=100, out=tmp_path / "run", live=False, quiet=True, overrides=settings).run_dir
    with open(run_dir / "losses.csv", newline="") as f:
        old = [{k: v for k, v in row.items() if not k.startswith("lr_")} for row in csv.DictReader(f)]
    with open(run_dir / "losses.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(old[0]))
        writer.writeheader()
        writer.writerows(old)
    resume(run_dir, steps=150, live=False, quiet=True)
    with open(run_dir / "losses.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [50, 100, 150]
    assert {(r["lr_generator"], r["lr_discriminator"]) for r in rows} == {("0.0003", "0.001")}
