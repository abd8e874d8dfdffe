import jax
import jax.numpy as jnp
import numpy as np
import pytest

from toygan.config import load_scenario
from toygan.engine.objectives import log_generator_loss as generator_loss
from toygan.engine.train import advance, make_trainer
from toygan.twod.observe import binned_kde_log_density, manifold_noise, optimal_discriminator, view_axes
from toygan.twod.probe import MixtureProbe
from toygan.twod.view import unbroken_pieces

ALL_PANELS = {
    "view.discriminator": True,
    "view.gradients": True,
    "view.gradient_field": True,
    "view.manifold": True,
    "view.optimal_discriminator": True,
    "view.curves": True,
}


def test_binned_kde_matches_the_direct_kernel_sum():
    samples = np.asarray(jax.random.normal(jax.random.key(0), (2000, 2))) * [1.0, 0.5] + [0.5, 0.0]
    xs, ys = np.linspace(-4, 4, 80), np.linspace(-3, 3, 80)
    binned = np.exp(np.asarray(binned_kde_log_density(jnp.asarray(samples), xs, ys)))
    h = samples.std(0) * len(samples) ** (-1 / 6)
    xx, yy = np.meshgrid(xs, ys)
    grid = np.stack([xx.ravel(), yy.ravel()], 1)
    z = (grid[:, None, :] - samples[None]) / h
    direct = (np.exp(-0.5 * (z**2).sum(-1)).sum(1) / (len(samples) * 2 * np.pi * h.prod())).reshape(80, 80)
    where = direct > 0.05 * direct.max()
    np.testing.assert_allclose(binned[where], direct[where], rtol=0.05)
    assert binned.sum() * (xs[1] - xs[0]) * (ys[1] - ys[0]) == pytest.approx(1.0, abs=0.02)


def test_every_panel_is_computed_with_the_right_shape_and_meaning(tiny_overrides):
    scenario = load_scenario("two-gaussians", {**tiny_overrides, **ALL_PANELS, "view.arrows": 50})
    trainer = make_trainer(scenario)
    key = jax.random.key(0)
    state = trainer.init(key, 2e-4, 2e-4)
    state, _ = advance(trainer, state, 100)
    obs = jax.device_get(MixtureProbe(trainer, scenario).observe(state))
    size = scenario.view.grid_size
    assert obs.fake_ExD.shape == (scenario.view.eval_samples, 2) and bool(obs.finite)
    assert obs.d_grid_GxG.shape == (size, size) and obs.optimal_d_GxG.shape == (size, size)
    assert np.all((obs.d_grid_GxG >= 0) & (obs.d_grid_GxG <= 1))
    assert obs.manifold_LxMxD.shape[0] == 2 * 15 and obs.manifold_LxMxD.shape[2] == 2

    # D on the grid is the discriminator itself, read at the grid point in row y, column x.
    xs, ys = view_axes(trainer, size)
    point = jnp.array([[xs[7], ys[60]]])
    assert obs.d_grid_GxG[60, 7] == pytest.approx(float(jax.nn.sigmoid(trainer.logits(state, point)[0])), rel=1e-5)

    # Arrows are minus the gradient of the per-point generator loss: moving along one lowers it.
    x0 = jnp.asarray(obs.fake_ExD[:1])
    loss = lambda x: float(generator_loss(trainer.logits(state, x), "non-saturating"))
    step = 1e-3 * obs.arrows_PxD[:1] / np.linalg.norm(obs.arrows_PxD[0])
    assert loss(x0 + step) < loss(x0) < loss(x0 - step)

    assert np.all((obs.optimal_d_GxG > 0) & (obs.optimal_d_GxG < 1))


def test_optimal_discriminator_reads_the_density_ratio():
    log = lambda p: jnp.log(jnp.asarray(p, jnp.float32))
    d_star = np.asarray(optimal_discriminator(log([3.0, 1.0, 0.0, 2.0]), log([1.0, 3.0, 0.0, 2.0]), box_area=1.0))
    np.testing.assert_allclose(d_star, [0.75, 0.25, 0.5, 0.5], atol=1e-3)


def test_manifold_noise_is_a_grid_of_lines_in_the_first_two_noise_coordinates():
    lines = manifold_noise(4)
    assert lines.shape == (30, 60, 4)
    assert np.all(lines[..., 2:] == 0)
    assert np.all(lines[:15, :, 1] == lines[:15, :1, 1])  # horizontal lines hold the second coordinate
    assert manifold_noise(1).shape == (1, 60, 1)


def test_manifold_lines_break_where_binned_noise_makes_the_generator_jump(tiny_overrides):
    """With 4 noise bins, each line along the first noise coordinate crosses the 3 bin edges (the
    quartiles of N(0, 1), inside the drawn span): it is drawn as 4 pieces, never bridging a jump."""
    scenario = load_scenario("two-gaussians", {**tiny_overrides, "view.manifold": True, "model.noise_bins": 4})
    trainer = make_trainer(scenario)
    key = jax.random.key(0)
    state = trainer.init(key, 2e-4, 2e-4)
    lines = np.asarray(jax.device_get(MixtureProbe(trainer, scenario).observe(state)).manifold_LxMxD)
    assert np.all(np.isnan(lines[:15, :, 0]).sum(axis=1) == 3)  # along the first coordinate
    assert not np.isnan(lines[15:]).any()  # the first coordinate held fixed: one bin, no jump
    pieces = unbroken_pieces(lines)
    assert len(pieces) == 15 * 4 + 15
    assert sum(len(piece) for piece in pieces) == lines.shape[0] * lines.shape[1] - 15 * 3
