import jax
import jax.numpy as jnp
import numpy as np
import pytest

from toygan.config import load_scenario
from toygan.losses import discriminator_loss, generator_loss
from toygan.train import advance, make_trainer


def fresh(trainer, scenario, key):
    return trainer.init(key, scenario.train.lr_generator, scenario.train.lr_discriminator)


def test_losses_match_the_textbook_formulas_and_stay_finite_when_d_saturates():
    real, fake = jnp.array([0.3, -1.2, 2.0]), jnp.array([-0.5, 0.7, 1.5])
    d_real, d_fake = jax.nn.sigmoid(real), jax.nn.sigmoid(fake)
    expected_d = -jnp.mean(jnp.log(d_real)) - jnp.mean(jnp.log(1 - d_fake))
    assert float(discriminator_loss(real, fake)) == pytest.approx(float(expected_d), rel=1e-6)
    assert float(generator_loss(fake, "non-saturating")) == pytest.approx(float(-jnp.mean(jnp.log(d_fake))), rel=1e-6)
    assert float(generator_loss(fake, "minimax")) == pytest.approx(float(jnp.mean(jnp.log(1 - d_fake))), rel=1e-6)

    saturated_real, saturated_fake = jnp.array([200.0]), jnp.array([-200.0])
    assert float(discriminator_loss(saturated_real, saturated_fake)) == pytest.approx(0.0, abs=1e-6)
    assert float(generator_loss(saturated_fake, "non-saturating")) == pytest.approx(200.0)
    grad = jax.grad(lambda l: generator_loss(l, "non-saturating"))(saturated_fake)
    assert np.all(np.isfinite(grad)) and float(grad[0]) == pytest.approx(-1.0)


def _nearest_mode_distance(trainer, x):
    return float(np.mean(np.min(np.asarray(trainer.mixture.mahalanobis(jnp.asarray(x))), axis=1)))


def test_a_short_run_moves_the_generated_points_toward_the_data(tiny_overrides):
    far_away = {"mixture.means": [[4.0, 4.0], [5.0, 5.0]], "train.lr_generator": 1e-3, "train.lr_discriminator": 1e-3}
    scenario = load_scenario("two-gaussians", {**tiny_overrides, **far_away})
    trainer = make_trainer(scenario)
    key = jax.random.key(0)
    state, z = fresh(trainer, scenario, key), trainer.view_noise(key)
    before = _nearest_mode_distance(trainer, trainer.generate(state, z))
    state, logs = advance(trainer, state, 600)
    after = _nearest_mode_distance(trainer, trainer.generate(state, z))
    assert int(state.step) == 600
    assert after < 0.3 * before, (before, after)
    assert np.all(np.isfinite(logs.d_loss)) and np.all(np.isfinite(logs.g_loss))


@pytest.mark.parametrize("generator_loss_kind", ["non-saturating", "minimax"])
def test_training_is_deterministic_and_independent_of_chunking(tiny_overrides, generator_loss_kind):
    scenario = load_scenario("ring-8", {**tiny_overrides, "train.generator_loss": generator_loss_kind, "train.d_steps": 2})
    trainer = make_trainer(scenario)
    key = jax.random.key(3)
    one, logs_one = advance(trainer, fresh(trainer, scenario, key), 40)
    two, _ = advance(trainer, fresh(trainer, scenario, key), 15)
    two, logs_two = advance(trainer, two, 25)
    for a, b in zip(jax.tree.leaves((one.g_params, one.d_params)), jax.tree.leaves((two.g_params, two.d_params))):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(logs_one.g_loss[-25:], logs_two.g_loss)
    other, _ = advance(trainer, fresh(trainer, scenario, jax.random.key(4)), 40)
    assert not np.array_equal(jax.tree.leaves(other.g_params)[0], jax.tree.leaves(one.g_params)[0])


def test_generator_loss_option_changes_what_the_generator_minimises(tiny_overrides):
    logs = {}
    for kind in ("non-saturating", "minimax"):
        scenario = load_scenario("two-gaussians", {**tiny_overrides, "train.generator_loss": kind})
        trainer = make_trainer(scenario)
        key = jax.random.key(0)
        logs[kind] = advance(trainer, fresh(trainer, scenario, key), 5)[1]
    # Same first batch: -log D(G(z)) is positive, log(1 - D(G(z))) is negative.
    assert float(logs["non-saturating"].g_loss[0]) > 0 > float(logs["minimax"].g_loss[0])
    np.testing.assert_allclose(logs["non-saturating"].d_loss[0], logs["minimax"].d_loss[0], rtol=1e-6)


def test_learning_rates_live_in_the_state_and_runs_share_one_trainer(tiny_overrides):
    slow = load_scenario("two-gaussians", {**tiny_overrides, "train.lr_generator": 1e-4, "train.lr_discriminator": 1e-4})
    fast = load_scenario("two-gaussians", {**tiny_overrides, "train.lr_generator": 1e-2, "train.lr_discriminator": 1e-2})
    trainer = make_trainer(slow)
    assert make_trainer(fast) is trainer
    key = jax.random.key(0)
    moved = {}
    for name, scenario in (("slow", slow), ("fast", fast)):
        before = fresh(trainer, scenario, key)
        after, _ = advance(trainer, before, 1)
        # Adam's first step moves every weight by about the learning rate.
        moved[name] = float(np.median(np.abs(np.asarray(jax.tree.leaves(after.g_params)[1] - jax.tree.leaves(before.g_params)[1]))))
    assert moved["slow"] == pytest.approx(1e-4, rel=0.05)
    assert moved["fast"] == pytest.approx(1e-2, rel=0.05)
