"""The distribution-level metrics against values worked out by hand, and against true samples."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from toygan.twod.fidelity import SW_LIMIT, mode_fit, neighbour_radii, precision_recall_coverage, sliced_wasserstein
from toygan.twod.metrics import evaluate_points, problems
from toygan.twod.mixture import GaussianMixture


def test_sliced_wasserstein_of_a_shift_is_its_length_times_the_mean_projection():
    x = jnp.array([[0.0, 0.0], [5.0, 5.0]])
    shifted = x + jnp.array([[2.0, 0.0]])
    angles = np.pi * np.arange(16) / 16
    # Each direction sees the shift's projection 2 |cos(angle)|; the sliced distance is its mean.
    assert float(sliced_wasserstein(x, shifted)) == pytest.approx(2 * np.mean(np.abs(np.cos(angles))), rel=1e-5)
    assert float(sliced_wasserstein(x, x[::-1])) == 0.0  # order does not matter


def test_sliced_wasserstein_of_unequal_sizes_compares_quantiles():
    one = jnp.array([[0.0, 0.0]])
    four = jnp.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [4.0, 0.0]])
    # A quarter of the mass moves by 4 along x: in each direction a quarter of 4 |cos|.
    angles = np.pi * np.arange(16) / 16
    assert float(sliced_wasserstein(one, four)) == pytest.approx(np.mean(np.abs(np.cos(angles))), rel=1e-5)


def test_neighbour_radii_on_a_line():
    x = jnp.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [6.0, 0.0], [10.0, 0.0]])
    np.testing.assert_allclose(neighbour_radii(x, k=1), [1, 1, 2, 3, 4])
    np.testing.assert_allclose(neighbour_radii(x, k=2), [3, 2, 3, 4, 7])


def test_precision_recall_density_coverage_by_hand():
    real = jnp.array([[0.0, 0.0], [2.0, 0.0], [10.0, 0.0]])  # k = 1 radii: 2, 2, 8
    fake = jnp.array([[1.0, 0.0], [20.0, 0.0]])  # k = 1 radii: 19, 19
    result = precision_recall_coverage(real, fake, k=1)
    assert float(result.precision) == pytest.approx(1 / 2)  # (1, 0) is in a real ball; (20, 0) is 10 from (10, 0) > 8
    assert float(result.recall) == pytest.approx(1.0)  # every real point within 19 of a fake
    assert float(result.density) == pytest.approx(2 / 2)  # (1, 0) sits in 2 real balls, (20, 0) in none; / (k M)
    assert float(result.coverage) == pytest.approx(2 / 3)  # the ball of (10, 0) holds no fake


def test_mode_fit_by_hand():
    means = jnp.array([[0.0, 0.0], [100.0, 100.0]])
    variances = jnp.array([[1.0, 4.0], [1.0, 1.0]])
    mixture = GaussianMixture.create([0.5, 0.5], means, variances)
    # Four points around mode 0 (x spread 1 / sqrt 2 of its sd 1, y 2 / sqrt 2 of its sd 2), shifted by 0.5 in x;
    # four points at mode 1's mean.
    x = jnp.array([[1.5, 0.0], [-0.5, 0.0], [0.5, 2.0], [0.5, -2.0]] + [[100.0, 100.0]] * 4)
    fit = mode_fit(jnp.log(jnp.array([0.5, 0.5])), mixture.component_log_prob(x), x, means, variances)
    np.testing.assert_allclose(fit.mass_K, [0.5, 0.5], atol=1e-6)
    np.testing.assert_allclose(fit.offset_K, [0.5, 0.0], atol=1e-5)
    np.testing.assert_allclose(fit.spread_KxD[0], [np.sqrt(0.5), np.sqrt(2.0) / 2], rtol=1e-5)
    np.testing.assert_allclose(fit.spread_KxD[1], [0.0, 0.0], atol=1e-3)


MIXTURE = GaussianMixture.create([0.6, 0.3, 0.1], [[0.0, 0.0], [3.0, 1.0], [-2.0, 4.0]], [[0.1, 1.0], [0.5, 0.05], [0.2, 0.2]])


def _scaled_about_modes(factor: float, seed: int = 3) -> jax.Array:
    """A true sample with every point moved towards (factor < 1) or away from its own mode's mean."""
    x = MIXTURE.sample(jax.random.key(seed), 2500)
    owner = jnp.argmax(MIXTURE.component_log_prob(x) + jnp.log(MIXTURE.weights_K)[None], axis=1)
    centre = jnp.asarray(MIXTURE.means_KxD)[owner]
    return centre + factor * (x - centre)


@pytest.mark.parametrize("seed", [3, 4])
def test_a_true_sample_matches(seed):
    row, reference = evaluate_points(MIXTURE, MIXTURE.sample(jax.random.key(seed), 2500))
    assert row["matches"] == 1
    # One true sample's distance varies by about a third around the unit (the mean of eight)
    assert 0.5 < row["sw_ratio"] < SW_LIMIT and 0.5 < reference["sw_ratio"] < SW_LIMIT
    assert abs(row["coverage"] - reference["coverage_mean"]) < 0.03
    assert all(0.85 < v < 1.15 for k, v in row.items() if k.startswith("spread_"))


@pytest.mark.parametrize("factor, word", [(0.6, "narrow"), (1.6, "wide")])
def test_too_narrow_and_too_wide_are_flagged(factor, word):
    row, reference = evaluate_points(MIXTURE, _scaled_about_modes(factor))
    assert row["matches"] == 0
    spreads = [v for k, v in row.items() if k.startswith("spread_")]
    assert all(abs(s - factor) < 0.15 for s in spreads)
    found = problems(row, MIXTURE.weights_K, reference["coverage_mean"])
    assert any(f"too {word}" in p for p in found)


def test_wrong_masses_are_flagged():
    even = GaussianMixture.create([1 / 3] * 3, MIXTURE.means_KxD, MIXTURE.variances_KxD)
    row, reference = evaluate_points(MIXTURE, even.sample(jax.random.key(3), 2500))
    found = problems(row, MIXTURE.weights_K, reference["coverage_mean"])
    assert row["matches"] == 0
    assert any("mode 0 mass 0.3" in p for p in found) and any("mode 2 mass 0.3" in p for p in found)
    # where the points land cannot see it: every point is still close to a mode
    assert row["modes_captured"] == 3 and row["high_quality"] > 0.97


def test_far_from_the_origin_the_figures_hold():
    far = GaussianMixture.create(MIXTURE.weights_K, MIXTURE.means_KxD * 100 + 1000, MIXTURE.variances_KxD * 100**2)
    row, _ = evaluate_points(far, far.sample(jax.random.key(3), 2500))
    near, _ = evaluate_points(MIXTURE, MIXTURE.sample(jax.random.key(3), 2500))
    assert row["matches"] == 1
    assert row["coverage"] == pytest.approx(near["coverage"], abs=0.01)
