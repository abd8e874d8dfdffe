import jax
import jax.numpy as jnp
import numpy as np
import pytest

from toygan.config import load_scenario
from toygan.twod.metrics import KL_PSEUDO_COUNT, comparison_sample, evaluate_points, mixture_metrics
from toygan.twod.mixture import GaussianMixture

IDEAL_HIGH_QUALITY = 1 - np.exp(-9 / 2)  # 2-D Gaussian mass within 3 sd: 98.89%


@pytest.fixture(params=["two-gaussians", "ring-8", "grid-25"])
def mixture(request):
    return load_scenario(request.param).data.build()


def test_true_mixture_samples_score_ideal_values(mixture):
    metrics, _ = evaluate_points(mixture, mixture.sample(jax.random.key(0), 2500))
    assert metrics["modes_captured"] == mixture.n_modes
    assert metrics["high_quality"] == pytest.approx(IDEAL_HIGH_QUALITY, abs=0.006)
    assert metrics["reverse_kl"] < 0.01
    big = mixture.sample(jax.random.key(1), 200_000)
    expected_log_likelihood = float(jnp.mean(mixture.log_prob(big)))  # minus the mixture's entropy
    assert metrics["log_likelihood"] == pytest.approx(expected_log_likelihood, abs=0.08)
    masses = np.array([metrics[f"mass_{k}"] for k in range(mixture.n_modes)])
    np.testing.assert_allclose(masses, mixture.weights_K, atol=0.03)
    assert metrics["matches"] == 1


def test_a_collapsed_sample_scores_badly(mixture):
    one_mode = GaussianMixture.create([1.0], mixture.means_KxD[:1], mixture.variances_KxD[:1])
    metrics, _ = evaluate_points(mixture, one_mode.sample(jax.random.key(0), 2500))
    assert metrics["modes_captured"] <= 2  # overlapping modes may catch a stray point
    assert metrics["reverse_kl"] > 0.8 * np.log(mixture.n_modes) - 0.1
    assert metrics["mass_0"] > 0.9
    assert metrics["matches"] == 0 and metrics["coverage"] < 0.6


def test_points_off_the_data_are_not_high_quality(mixture):
    low, high = mixture.bounds()
    spread = jax.random.uniform(jax.random.key(0), (2500, 2), minval=low - 5, maxval=high + 5)
    metrics, _ = evaluate_points(mixture, spread)
    assert metrics["high_quality"] < 0.3
    assert metrics["log_likelihood"] < -10


def test_reverse_kl_is_weight_aware():
    mixture = GaussianMixture.create([0.8, 0.2], [[0, 0], [10, 0]], [[1, 1], [1, 1]])
    right, _ = evaluate_points(mixture, mixture.sample(jax.random.key(0), 5000))
    even = GaussianMixture.create([0.5, 0.5], [[0, 0], [10, 0]], [[1, 1], [1, 1]])
    wrong, _ = evaluate_points(mixture, even.sample(jax.random.key(0), 5000))
    assert right["reverse_kl"] < 0.002
    expected = 0.5 * np.log(0.5 / 0.8) + 0.5 * np.log(0.5 / 0.2)
    assert wrong["reverse_kl"] == pytest.approx(expected, abs=0.01)


def test_metrics_by_hand():
    mixture = GaussianMixture.create([0.5, 0.5], [[0, 0], [10, 0]], [[1, 1], [4, 4]])
    # distances in sd: 1 from mode 0; 5 from mode 0; 1 from mode 1 (sd 2); 2.5 from mode 1
    x = jnp.array([[1.0, 0.0], [0.0, 5.0], [12.0, 0.0], [10.0, 5.0]])
    real = comparison_sample(mixture, jax.random.key(0), 2500)
    m = mixture_metrics(mixture, x, *real)
    assert int(m.modes_captured) == 2
    assert float(m.high_quality) == pytest.approx(0.75)
    np.testing.assert_allclose(m.mode_mass_K, [0.5, 0.5], atol=0.01)  # responsibilities: each pair is all but certain
    q = (np.array([2, 2]) + KL_PSEUDO_COUNT) / (4 + 2 * KL_PSEUDO_COUNT)
    assert float(m.reverse_kl) == pytest.approx(float(np.sum(q * np.log(q / 0.5))), abs=1e-6)
    only_far = mixture_metrics(mixture, x[1:2], *real)
    assert int(only_far.modes_captured) == 0 and float(only_far.high_quality) == 0.0
