import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from toygan.config import load_scenario
from toygan.engine.objectives import log_discriminator_loss as discriminator_loss
from toygan.engine.objectives import log_generator_loss as generator_loss
from toygan.engine.train import advance, make_trainer, settle
from toygan.errors import ToyganError


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
    grad = jax.grad(lambda logit: generator_loss(logit, "non-saturating"))(saturated_fake)
    assert np.all(np.isfinite(grad)) and float(grad[0]) == pytest.approx(-1.0)


def _nearest_mode_distance(trainer, x):
    return float(np.mean(np.min(np.asarray(trainer.source.mixture.mahalanobis(jnp.asarray(x))), axis=1)))


def test_a_short_run_moves_the_generated_points_toward_the_data(tiny_overrides):
    far_away = {
        "mixture.means": [[4.0, 4.0], [5.0, 5.0]],
        "train.lr_generator": 1e-3,
        "train.lr_discriminator": 1e-3,
        "train.generator_ema": 0.0,
    }  # the trained generator itself, not its lagging average
    scenario = load_scenario("two-gaussians", {**tiny_overrides, **far_away})
    trainer = make_trainer(scenario)
    key = jax.random.key(0)
    state, z = fresh(trainer, scenario, key), trainer.view_noise(key)
    before = _nearest_mode_distance(trainer, trainer.generate(state, z))
    state, logs = advance(trainer, state, 600)
    after = _nearest_mode_distance(trainer, trainer.generate(state, z))
    assert int(state.step) == 600
    # Training in standardised coordinates starts G at the data's centre, between the modes; 600 steps
    # bring its points near to a true sample's own distance from their nearest mode.
    truth = _nearest_mode_distance(trainer, trainer.source.mixture.sample(key, z.shape[0]))
    assert after < 0.85 * before and after < 1.3 * truth, (before, after, truth)
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


def check_average(trainer, before, decay):
    """One step from `before`, checking that the average moved as avg <- decay avg + (1 - decay) weights."""
    after, _ = advance(trainer, before, 1)
    for avg, prev_avg, live in zip(*(jax.tree.leaves(t) for t in (after.g_avg_params, before.g_avg_params, after.g_params))):
        np.testing.assert_allclose(avg, decay * prev_avg + (1 - decay) * live, rtol=1e-5, atol=1e-7)
    return after


def test_a_run_keeps_batch_statistics_from_many_more_batches_than_a_frame(tiny_overrides):
    from flax import nnx

    scenario = load_scenario("ring-8", {**tiny_overrides, "train.generator_ema": 0.9, "model.batch_norm": True})
    trainer = make_trainer(scenario)
    state, _ = advance(trainer, fresh(trainer, scenario, jax.random.key(5)), 100)
    kept = settle(trainer, state)
    # Only the averaged generator's statistics change.
    for name in ("g_params", "g_stats", "g_avg_params", "d_params", "step"):
        for a, b in zip(jax.tree.leaves(getattr(state, name)), jax.tree.leaves(getattr(kept, name))):
            np.testing.assert_array_equal(a, b)
    # Both estimate the first layer's population mean (that of many fresh training batches); the kept
    # statistics, from FINAL_BN_BATCHES (4,096) batches instead of PRECISE_BN_BATCHES (64), by far the closer.
    model = nnx.merge(trainer.g_graph, state.g_avg_params, state.g_avg_stats, copy=True)
    population = jax.nn.relu(model.layers[0](jax.random.normal(jax.random.key(9), (400_000, scenario.model.noise_dim)))).mean(0)
    error = lambda s: float(jnp.mean(jnp.abs(s.g_avg_stats["norms"][0]["mean"][...] - population)))
    assert error(kept) < error(state) / 2, (error(kept), error(state))


def test_the_averaged_generator_is_what_is_shown_sampled_and_saved(tiny_overrides, tmp_path):
    from toygan.engine import rundir

    scenario = load_scenario("ring-8", {**tiny_overrides, "train.generator_ema": 0.9, "model.batch_norm": True})
    trainer = make_trainer(scenario)
    key = jax.random.key(5)
    start_state = fresh(trainer, scenario, key)

    # avg <- d avg + (1 - d) weights from the initial weights, d warming up as (1 + step) / (10 + step)...
    one, _ = advance(trainer, start_state, 1)
    two = check_average(trainer, one, (1 + 1) / (10 + 1))
    # ...to the configured 0.9 (from step 81 on).
    state, _ = advance(trainer, two, 100)
    state = check_average(trainer, state, 0.9)
    state, _ = advance(trainer, state, 100)
    z = trainer.view_noise(key)
    shown = trainer.generate(state, z)
    live = trainer.generate(state.replace(g_avg_params=state.g_params, g_avg_stats=state.g_stats), z)
    assert not np.allclose(shown, live)
    # Precise BN: the averaged generator's first-layer statistics are those of fresh training batches.
    from flax import nnx

    model = nnx.merge(trainer.g_graph, state.g_avg_params, state.g_avg_stats, copy=True)
    z_big = jax.random.normal(jax.random.key(9), (20000, scenario.model.noise_dim))
    first = jax.nn.relu(model.layers[0](z_big))
    np.testing.assert_allclose(state.g_avg_stats["norms"][0]["mean"][...], first.mean(0), atol=0.02 + 0.05 * float(first.mean()))
    # Saved and loaded with the run, so `toygan sample` draws from the average too.
    rundir.save_params(tmp_path, state)
    loaded = rundir.load_params(tmp_path, start_state)
    np.testing.assert_array_equal(trainer.generate(loaded, z), shown)


def test_a_lower_average_power_warms_up_more_slowly(tiny_overrides):
    # generator_ema_power = 3: the decay ramps as (1 + step) / (5 + step), so the average keeps more of
    # the early weights (step t's about in proportion to t^3, against t^8 by default)...
    overrides = {**tiny_overrides, "train.generator_ema": 0.99, "train.generator_ema_power": 3}
    trainer = make_trainer(load_scenario("ring-8", overrides))
    state, _ = advance(trainer, fresh(trainer, trainer.scenario, jax.random.key(1)), 40)
    state = check_average(trainer, state, (1 + 40) / (5 + 40))
    # ...until it reaches the cap (0.99 from step 395 on).
    state, _ = advance(trainer, state, 400)
    check_average(trainer, state, 0.99)
    with pytest.raises(ToyganError, match="generator_ema_power"):
        load_scenario("ring-8", {"train.generator_ema_power": -1})


def test_averaged_generator_statistics_do_not_depend_on_chunking(tiny_overrides):
    scenario = load_scenario("ring-8", {**tiny_overrides, "train.generator_ema": 0.99, "model.batch_norm": True})
    trainer = make_trainer(scenario)
    key = jax.random.key(2)
    one, _ = advance(trainer, fresh(trainer, scenario, key), 30)
    two, _ = advance(trainer, fresh(trainer, scenario, key), 12)
    two, _ = advance(trainer, two, 18)
    fields = lambda state: jax.tree.leaves((state.g_params, state.d_params, state.g_avg_params, state.g_avg_stats))
    for a, b in zip(fields(one), fields(two)):
        np.testing.assert_array_equal(a, b)


def test_the_generators_update_can_draw_another_number_of_fakes(tiny_overrides):
    """`train.generator_batch_size`: D's update is the same (it comes first, on batch_size real and
    fake samples); G's loss is D's verdict on generator_batch_size fakes from the step's G key."""
    overrides = {**tiny_overrides, "train.generator_ema": 0.0}

    def one_step(extra):
        scenario = load_scenario("ring-8", {**overrides, **extra})
        trainer = make_trainer(scenario)
        first = fresh(trainer, scenario, jax.random.key(0))
        return trainer, first, *advance(trainer, first, 1)

    trainer, first, state, log = one_step({"train.generator_batch_size": 16})
    _, _, same_state, same_log = one_step({})
    np.testing.assert_array_equal(log.d_loss, same_log.d_loss)
    for got, want in zip(jax.tree.leaves(state.d_params), jax.tree.leaves(same_state.d_params)):
        np.testing.assert_array_equal(got, want)
    g_key = jax.random.split(jax.random.fold_in(first.train_key, 0))[1]
    pack = trainer.scenario.model.pack
    fakes = trainer.generate(first, jax.random.normal(g_key, (16, trainer.scenario.model.noise_dim)))
    sets = trainer.source.to_model(fakes).reshape(16 // pack, -1)  # D judges packs of `pack` points, standardised
    d_model = nnx.merge(trainer.d_graph, state.d_params, state.d_stats, copy=True)  # D after the step's update
    expected = generator_loss(d_model(sets, jnp.zeros(16 // pack, jnp.int32))[:, 0], "non-saturating")
    np.testing.assert_allclose(log.g_loss[0], expected, rtol=1e-5)
    assert abs(float(same_log.g_loss[0]) - float(expected)) > 1e-4  # 64 fakes give another loss
    # Equal to batch_size, it is the classic step, bit for bit.
    _, _, equal_state, _ = one_step({"train.generator_batch_size": 64})
    for got, want in zip(jax.tree.leaves(equal_state.g_params), jax.tree.leaves(same_state.g_params)):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("size, message", [(-1, "must be >= 0"), (6, "must be a multiple of model.pack")])
def test_a_bad_generator_batch_size_is_a_one_line_error(tiny_overrides, size, message):
    with pytest.raises(ToyganError, match=f"train.generator_batch_size.*{message}") as error:
        load_scenario("ring-8", {**tiny_overrides, "train.generator_batch_size": size})
    assert "\n" not in str(error.value)


def test_rmsprop_takes_pytorchs_first_step_and_an_unknown_optimiser_is_refused(tiny_overrides):
    """WGAN's critic is trained with RMSprop (Arjovsky et al. 2017): PyTorch's first step from a zero
    average is lr * g / (sqrt(0.01 g^2) + eps), ten times the rate in the gradient's direction."""
    scenario = load_scenario("two-gaussians", {**tiny_overrides, "train.optimizer": "rmsprop", "train.lr_schedule": "constant"})
    trainer = make_trainer(scenario)
    grads = {"w": jnp.array([0.5, -2.0, 1e-3])}
    state = trainer.d_optimizer.init(grads)
    updates, _ = trainer.d_optimizer.update(grads, state, grads)
    # A freshly made optimiser state scales by -1 (the trainer writes the run's rate into it), so the
    # update is minus the direction that a rate multiplies.
    expected = -(grads["w"] / (jnp.sqrt(0.01 * grads["w"] ** 2) + 1e-8))
    np.testing.assert_allclose(np.asarray(updates["w"]), np.asarray(expected), rtol=1e-5)
    with pytest.raises(ToyganError, match="train.optimizer"):
        load_scenario("two-gaussians", {"train.optimizer": "sgd"})


def test_with_several_critic_steps_both_rates_decay_over_the_whole_run(tiny_overrides):
    """The cosine schedule counts training steps for D as for G: with d_steps = 3, D still learns in
    the run's last third (a schedule counting D's updates would have reached zero there), and neither
    network moves after the run's last step."""
    scenario = load_scenario("ring-8", {**tiny_overrides, "train.loss": "wgan-gp", "train.d_steps": 3, "train.steps": 12})
    trainer = make_trainer(scenario)
    state, _ = advance(trainer, fresh(trainer, scenario, jax.random.key(0)), 9)
    later, _ = advance(trainer, state, 1)
    assert not np.array_equal(jax.tree.leaves(later.d_params)[0], jax.tree.leaves(state.d_params)[0])
    assert not np.array_equal(jax.tree.leaves(later.g_params)[0], jax.tree.leaves(state.g_params)[0])
    end, _ = advance(trainer, later, 2)
    beyond, _ = advance(trainer, end, 1)
    for network in ("d_params", "g_params"):
        np.testing.assert_array_equal(jax.tree.leaves(getattr(beyond, network))[0], jax.tree.leaves(getattr(end, network))[0])
