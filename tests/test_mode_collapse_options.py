"""The named options against mode collapse: PacGAN packing, spectral normalisation, R1 penalty,
data-dependent initialisation, the discriminator's own schedule, top-k generator updates, the
binned noise code, the mode-seeking term."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from toygan.config import load_scenario
from toygan.engine.models import noise_bin
from toygan.engine.objectives import mode_seeking_term
from toygan.engine.train import advance, make_trainer
from toygan.errors import ToyganError

# ring-8 as a plain GAN (the scenario itself packs and uses higher rates): each test turns one option on.
PLAIN = {"model.pack": 1, "train.lr_generator": 2e-4, "train.lr_discriminator": 2e-4}


def _trained(overrides, steps=200, seed=0):
    scenario = load_scenario("ring-8", {**PLAIN, **overrides, "seed": seed})
    trainer = make_trainer(scenario)
    state = trainer.init(jax.random.key(seed), scenario.train.lr_generator, scenario.train.lr_discriminator)
    state, log = advance(trainer, state, steps)
    return trainer, state, log


def _logit_gradient_norms(trainer, state, x_NxD):
    grad = jax.vmap(jax.grad(lambda x: trainer.logits(state, x[None])[0]))(x_NxD)
    return np.linalg.norm(np.asarray(grad), axis=1)


def test_packing_makes_the_discriminator_judge_sets_of_points(tiny_overrides):
    trainer, state, log = _trained({**tiny_overrides, "model.pack": 4}, steps=50)
    first_kernel = state.d_params["layers"][0]["kernel"][...]
    assert first_kernel.shape[0] == 2 * 4  # four 2-D points per input row
    assert np.all(np.isfinite(np.asarray(log.d_loss)))
    # Views still get one D value per point: D of a set of copies of the point.
    x = jnp.array([[0.0, 2.0], [2.0, 0.0], [5.0, 5.0]])
    values = trainer.logits(state, x)
    assert values.shape == (3,)
    copies = jnp.tile(trainer.source.to_model(x), (1, 4))  # D works in standardised coordinates
    direct = trainer.d_graph, state.d_params, state.d_stats
    model = nnx.merge(*direct, copy=True)
    np.testing.assert_allclose(values, model(copies, jnp.zeros(3, jnp.int32))[:, 0], rtol=1e-6)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"model.pack": 3, "train.batch_size": 64}, "multiple of model.pack"),
        ({"model.pack": 0}, "model.pack"),
        ({"train.r1_gamma": -1.0}, "train.r1_gamma"),
        ({"train.r1_every": 0}, "train.r1_every"),
        ({"model.noise_bins": -1}, "model.noise_bins"),
        ({"train.mode_seeking": -0.1}, "train.mode_seeking"),
        ({"train.mode_seeking": 1.0, "model.pack": 2, "train.batch_size": 66}, "mode_seeking pairs"),
    ],
)
def test_bad_option_values_are_one_line_errors(overrides, message):
    with pytest.raises(ToyganError, match=message) as error:
        load_scenario("ring-8", overrides)
    assert "\n" not in str(error.value)


def test_spectral_norm_bounds_the_discriminators_slope(tiny_overrides):
    """Every layer divided by its largest singular value, and ReLU 1-Lipschitz: |grad_x logit| <= 1."""
    steep = {**tiny_overrides, "train.lr_discriminator": 1e-2}
    points = jax.random.normal(jax.random.key(1), (300, 2)) * 2
    trainer, state, _ = _trained({**steep, "model.spectral_norm": True}, steps=300)
    assert _logit_gradient_norms(trainer, state, points).max() <= 1.05
    trainer, state, _ = _trained(steep, steps=300)
    assert _logit_gradient_norms(trainer, state, points).max() > 2  # the same run without it is steeper


def test_r1_penalty_flattens_the_discriminator_on_the_data(tiny_overrides):
    fast = {**tiny_overrides, "train.lr_discriminator": 5e-3}
    trainer, state, log = _trained({**fast, "train.r1_gamma": 10.0}, steps=300)
    real = trainer.source.mixture.sample(jax.random.key(2), 500)
    flat = _logit_gradient_norms(trainer, state, real)
    trainer, state, _ = _trained(fast, steps=300)
    steep = _logit_gradient_norms(trainer, state, real)
    assert np.mean(flat**2) < 0.25 * np.mean(steep**2)
    assert np.all(np.isfinite(np.asarray(log.d_loss)))


def test_lazy_r1_is_the_penalty_k_times_over_in_every_kth_step(tiny_overrides):
    """`train.r1_every = 4`: step 0's discriminator update is that of R1 with 4 times the weight,
    steps 1 to 3's are those without R1."""

    def trainer_with(gamma, every=1):
        scenario = load_scenario("ring-8", {**PLAIN, **tiny_overrides, "train.r1_gamma": gamma, "train.r1_every": every})
        return make_trainer(scenario), scenario.train

    lazy, train = trainer_with(10.0, every=4)
    start = lazy.init(jax.random.key(0), train.lr_generator, train.lr_discriminator)
    first, _ = advance(lazy, start, 1)
    second, _ = advance(lazy, first, 1)
    heavy_first, _ = advance(trainer_with(40.0)[0], start, 1)
    plain_trainer = trainer_with(0.0)[0]
    plain_first, _ = advance(plain_trainer, start, 1)
    plain_second, _ = advance(plain_trainer, first, 1)

    def d_leaves(state):
        return [np.asarray(leaf) for leaf in jax.tree.leaves(state.d_params)]

    for got, want in zip(d_leaves(first), d_leaves(heavy_first)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)
    for got, want in zip(d_leaves(second), d_leaves(plain_second)):
        np.testing.assert_array_equal(got, want)
    # The penalty did act in step 0: without it, D moves elsewhere.
    assert any(not np.allclose(a, b, rtol=1e-5, atol=1e-7) for a, b in zip(d_leaves(first), d_leaves(plain_first)))


def _first_layer_sign_changes(overrides):
    """How many of D's first-layer units are positive on some real points and negative on others."""
    scenario = load_scenario("two-gaussians", overrides)
    trainer = make_trainer(scenario)
    state = trainer.init(jax.random.key(0), 1e-3, 1e-3)
    model = nnx.merge(trainer.d_graph, state.d_params, state.d_stats, copy=True)
    pack = scenario.model.pack
    real = trainer.source.to_model(trainer.source.mixture.sample(jax.random.key(3), 2000 * pack)).reshape(2000, -1)
    pre = np.asarray(model.first_preactivations(real))
    return int(np.sum((pre > 0).any(axis=0) & (pre < 0).any(axis=0))), pre.shape[1]


@pytest.mark.parametrize("extra", [{}, {"model.pack": 4}, {"model.spectral_norm": True}])
def test_data_init_puts_every_first_layer_boundary_through_the_data(tiny_overrides, extra):
    # Two modes far from the origin. D works in coordinates standardised by the mixture, so even the
    # default init (every boundary through the origin) separates most real points; data_init all of them.
    far = {**tiny_overrides, **extra, "mixture.means": [[10.0, 10.0], [11.0, 11.0]]}
    default, units = _first_layer_sign_changes(far)
    seeing, _ = _first_layer_sign_changes({**far, "model.data_init": True})
    assert seeing == units
    assert default > units / 2


def test_data_init_is_refused_for_mnist():
    with pytest.raises(ToyganError, match="data_init"):
        load_scenario("mnist-cgan", {"model.data_init": True})


def test_noise_bins_cut_the_latent_space_into_equal_probability_pieces(tiny_overrides):
    bins = 8
    trainer, state, log = _trained({**tiny_overrides, "model.noise_bins": bins}, steps=50)
    noise_dim = trainer.scenario.model.noise_dim
    assert state.g_params["layers"][0]["kernel"][...].shape[0] == noise_dim + bins
    assert np.all(np.isfinite(np.asarray(log.g_loss)))
    # Each bin holds 1/K of the noise's probability.
    z_NxZ = jax.random.normal(jax.random.key(3), (80_000, noise_dim))
    counts_K = np.bincount(np.asarray(noise_bin(z_NxZ[:, 0], bins)), minlength=bins)
    np.testing.assert_allclose(counts_K / 80_000, 1 / bins, atol=0.006)
    # The first layer sees the noise with the bin's one-hot code, scaled by sqrt(noise_dim), appended.
    generator = nnx.merge(trainer.g_graph, state.g_params, state.g_stats, copy=True)
    code_NxK = jax.nn.one_hot(noise_bin(z_NxZ[:50, 0], bins), bins) * np.sqrt(noise_dim)
    np.testing.assert_allclose(
        generator._binned_first_dense(z_NxZ[:50], noise_bin(z_NxZ[:50, 0], bins), noise_dim),
        generator.layers[0](jnp.concatenate([z_NxZ[:50], code_NxK], axis=1)),
        rtol=1e-5,
        atol=1e-5,
    )
    # The generator jumps where the first noise coordinate crosses a bin edge (the first edge of 8
    # equal-probability bins is N(0, 1)'s 12.5% quantile), and moves smoothly within a bin.
    edge, eps = -1.1503494, 1e-3
    z = jnp.array([[edge - eps, 0.3], [edge + eps, 0.3], [0.5 - eps, 0.3], [0.5 + eps, 0.3]])
    x = np.asarray(trainer.generate(state, z))
    across, within = np.linalg.norm(x[1] - x[0]), np.linalg.norm(x[3] - x[2])
    assert across > 20 * within


def test_mode_seeking_term_is_msgans_ratio_over_pairs_of_rows():
    x = jnp.array([[0.0, 1.0], [1.0, 1.0], [2.0, 0.0], [2.0, 3.0]])
    z = jnp.array([[0.0], [2.0], [1.0], [0.0]])
    # Pairs (rows 0, 1) and (2, 3): mean |x_a - x_b| = (1 + 0 + 0 + 3) / 4, mean |z_a - z_b| = (2 + 1) / 2.
    assert float(mode_seeking_term(x, z)) == pytest.approx(1 / (1.0 / 1.5 + 1e-5), rel=1e-6)
    # Twice the spread between a pair's samples halves the term; identical samples make it huge.
    assert float(mode_seeking_term(2 * x, z)) == pytest.approx(1 / (2.0 / 1.5 + 1e-5), rel=1e-6)
    assert float(mode_seeking_term(jnp.repeat(x[:2], 2, axis=0), z)) > 1e4


def test_mode_seeking_changes_the_generators_update_not_its_logged_loss(tiny_overrides):
    _, plain, plain_log = _trained(tiny_overrides, steps=1)
    _, seeking, seeking_log = _trained({**tiny_overrides, "train.mode_seeking": 1.0}, steps=1)
    # The same batch and weights: the same discriminator step and the same logged G loss...
    np.testing.assert_array_equal(plain_log.g_loss, seeking_log.g_loss)
    np.testing.assert_array_equal(plain_log.d_loss, seeking_log.d_loss)
    # ...but the generator's step follows the extra term.
    moved = [float(jnp.max(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(plain.g_params), jax.tree.leaves(seeking.g_params))]
    assert max(moved) > 1e-5
