"""The objectives and update schemes inside the compiled training step: each trains, each does what its
paper says to the weights, and the schemes differ where they should."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from toygan.config import load_scenario
from toygan.engine.objectives import OBJECTIVES
from toygan.engine.train import advance, make_trainer, start
from toygan.errors import ToyganError


def _trained(overrides: dict, steps: int = 20):
    scenario = load_scenario("two-gaussians", {"train.steps": 1000, **overrides})
    trainer = make_trainer(scenario)
    state, logs = advance(trainer, start(trainer, scenario), steps)
    return trainer, state, logs


def _leaves(tree):
    return [np.asarray(leaf) for leaf in jax.tree.leaves(tree)]


@pytest.mark.parametrize("loss", OBJECTIVES)
def test_every_objective_trains_with_finite_losses_and_moves_both_networks(tiny_overrides, loss):
    trainer, state, logs = _trained({**tiny_overrides, "train.loss": loss})
    first = start(trainer, trainer.scenario)
    assert all(np.all(np.isfinite(np.asarray(v))) for v in logs)
    assert any(not np.array_equal(a, b) for a, b in zip(_leaves(state.g_params), _leaves(first.g_params)))
    assert any(not np.array_equal(a, b) for a, b in zip(_leaves(state.d_params), _leaves(first.d_params)))


def test_each_objective_is_its_own_program_with_its_own_loss(tiny_overrides):
    d_losses = {loss: float(_trained({**tiny_overrides, "train.loss": loss}, steps=1)[2].d_loss[0]) for loss in OBJECTIVES}
    # The same first batch and networks: the five losses of the same D outputs all differ, except that
    # wgan and wgan-gp share the critic's loss (they differ in its constraint).
    assert d_losses["wgan"] == pytest.approx(d_losses["wgan-gp"], abs=1e-6)
    values = [d_losses[loss] for loss in ("log", "wgan", "hinge", "least-squares")]
    assert len({round(v, 4) for v in values}) == 4
    assert d_losses["log"] == pytest.approx(2 * np.log(2), abs=0.1)  # a fresh D is near chance


def test_wgan_clips_every_critic_weight_after_each_update(tiny_overrides):
    _, state, _ = _trained({**tiny_overrides, "train.loss": "wgan", "train.clip": 0.02})
    assert max(float(np.max(np.abs(leaf))) for leaf in _leaves(state.d_params)) <= 0.02 + 1e-7
    _, unclipped, _ = _trained({**tiny_overrides, "train.loss": "hinge"})
    assert max(float(np.max(np.abs(leaf))) for leaf in _leaves(unclipped.d_params)) > 0.02


def test_the_wgan_gp_penalty_changes_the_critics_update(tiny_overrides):
    _, weak, _ = _trained({**tiny_overrides, "train.loss": "wgan-gp", "train.gp_lambda": 1e-6}, steps=1)
    _, strong, strong_logs = _trained({**tiny_overrides, "train.loss": "wgan-gp", "train.gp_lambda": 100.0}, steps=1)
    assert any(not np.array_equal(a, b) for a, b in zip(_leaves(weak.d_params), _leaves(strong.d_params)))
    # The logged loss is the critic's loss without the penalty: the same first batch, the same loss.
    _, _, weak_logs = _trained({**tiny_overrides, "train.loss": "wgan-gp", "train.gp_lambda": 1e-6}, steps=1)
    np.testing.assert_array_equal(weak_logs.d_loss, strong_logs.d_loss)


def test_simultaneous_updates_show_the_generator_the_discriminator_of_the_steps_start(tiny_overrides):
    trainer, alternating, alt_logs = _trained(tiny_overrides, steps=1)
    _, simultaneous, sim_logs = _trained({**tiny_overrides, "train.updates": "simultaneous"}, steps=1)
    # D's update is the same either way; G's differs, since it answers another D.
    for a, b in zip(_leaves(alternating.d_params), _leaves(simultaneous.d_params)):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(alt_logs.d_loss, sim_logs.d_loss)
    assert float(alt_logs.g_loss[0]) != float(sim_logs.g_loss[0])
    # Simultaneous: G's loss is that of the first D on G's fakes (D's logits at the start, no dropout here).
    first = start(trainer, trainer.scenario)
    g_key = jax.random.split(jax.random.fold_in(first.train_key, 0))[1]
    z = jax.random.normal(g_key, (trainer.scenario.train.batch_size, trainer.scenario.model.noise_dim))
    fakes = trainer.generate(first.replace(g_avg_params=first.g_params), z)
    expected = -jnp.mean(jax.nn.log_sigmoid(trainer.logits(first, fakes)))
    np.testing.assert_allclose(sim_logs.g_loss[0], expected, rtol=1e-5)


def test_an_unrolled_discriminator_trains_finite_and_changes_only_the_generators_step(tiny_overrides):
    _, plain, plain_logs = _trained(tiny_overrides, steps=1)
    _, unrolled, unrolled_logs = _trained({**tiny_overrides, "train.unroll": 3}, steps=1)
    np.testing.assert_array_equal(plain_logs.d_loss, unrolled_logs.d_loss)  # D's own update is the plain one
    assert float(plain_logs.g_loss[0]) != float(unrolled_logs.g_loss[0])  # G answers D three steps ahead
    _, _, logs = _trained({**tiny_overrides, "train.unroll": 3}, steps=20)
    assert all(np.all(np.isfinite(np.asarray(v))) for v in logs)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"train.loss": "wasserstein"}, "train.loss 'wasserstein' is unknown: choose one of log, wgan, wgan-gp, hinge, least-squares"),
        ({"train.updates": "together"}, "train.updates"),
        ({"train.unroll": -1}, "train.unroll"),
        ({"train.gp_lambda": 0.0}, "train.gp_lambda"),
        ({"train.clip": -0.01}, "train.clip"),
    ],
)
def test_bad_objective_settings_are_one_line_errors(overrides, message):
    with pytest.raises(ToyganError, match=message) as error:
        load_scenario("two-gaussians", overrides)
    assert "\n" not in str(error.value)
