import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toygan.errors import ToyganError
from toygan.twod.mixture import GaussianMixture

WEIGHTS = [0.2, 0.3, 0.5]
MEANS = [[-10.0, 0.0], [0.0, 10.0], [10.0, -5.0]]
VARIANCES = [[0.5, 2.0], [1.0, 1.0], [0.1, 0.3]]


def test_sampler_matches_weights_means_and_variances():
    mixture = GaussianMixture.create(WEIGHTS, MEANS, VARIANCES)
    x = np.asarray(mixture.sample(jax.random.key(0), 200_000))
    modes = np.argmin(((x[:, None, :] - np.array(MEANS)[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_allclose(np.bincount(modes) / len(x), WEIGHTS, atol=0.005)
    for k in range(3):
        points = x[modes == k]
        np.testing.assert_allclose(points.mean(0), MEANS[k], atol=0.03)
        np.testing.assert_allclose(points.var(0), VARIANCES[k], rtol=0.04)


def test_sampler_is_keyed_and_jittable():
    mixture = GaussianMixture.create(WEIGHTS, MEANS, VARIANCES)
    sample = jax.jit(lambda key: mixture.sample(key, 64))
    a, b = sample(jax.random.key(1)), sample(jax.random.key(1))
    assert a.shape == (64, 2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, sample(jax.random.key(2)))


def test_log_prob_is_a_normalised_density():
    mixture = GaussianMixture.create([0.3, 0.7], [[0.0, 0.0], [1.0, 1.0]], [[0.1, 0.2], [0.3, 0.1]])
    grid = np.linspace(-3, 4, 400)
    xx, yy = np.meshgrid(grid, grid)
    points = jnp.asarray(np.stack([xx.ravel(), yy.ravel()], 1))
    density = np.exp(np.asarray(mixture.log_prob(points)))
    assert density.sum() * (grid[1] - grid[0]) ** 2 == pytest.approx(1.0, abs=1e-3)
    # At a mode centre, by hand: 0.7 / (2 pi sqrt(0.3 * 0.1)) plus the other mode's tiny share.
    at_mode = float(np.exp(mixture.log_prob(jnp.array([[1.0, 1.0]]))[0]))
    other = 0.3 * np.exp(-0.5 * (1 / 0.1 + 1 / 0.2)) / (2 * np.pi * np.sqrt(0.02))
    assert at_mode == pytest.approx(0.7 / (2 * np.pi * np.sqrt(0.03)) + other, rel=1e-5)


@pytest.mark.parametrize(
    ("weights", "means", "variances", "message"),
    [
        ([-0.5, 1.5], [[0, 0], [1, 1]], [[1, 1], [1, 1]], "negative"),
        ([0.5, 0.6], [[0, 0], [1, 1]], [[1, 1], [1, 1]], "sum to 1.1"),
        ([1.0], [[0, 0], [1, 1]], [[1, 1], [1, 1]], "one weight per mode"),
        ([0.5, 0.5], [[0, 0], [1, 1]], [[1, 0], [1, 1]], "non-positive"),
        ([0.5, 0.5], [[0, 0], [1, 1]], [[1, -2], [1, 1]], "non-positive"),
        ([0.5, 0.5], [[0, 0], [1, 1]], [[1, float("nan")], [1, 1]], "NaN or infinite"),
        ([0.5, 0.5], [[0, float("inf")], [1, 1]], [[1, 1], [1, 1]], "NaN or infinite"),
        ([0.5, 0.5], [[0, 0, 0], [1, 1, 1]], [[1, 1], [1, 1]], "one variance per mean coordinate"),
        ([0.5, 0.5], [[0, 0], [1]], [[1, 1], [1, 1]], "equal-length lists"),
        ([0.5, 0.5], [[0, 0], [1, "a"]], [[1, 1], [1, 1]], "equal-length lists"),
    ],
)
def test_invalid_mixtures_get_a_one_line_error(weights, means, variances, message):
    with pytest.raises(ToyganError, match=message) as info:
        GaussianMixture.create(weights, means, variances)
    assert "\n" not in str(info.value)


finite = st.floats(-1e3, 1e3, allow_nan=False)
anything = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5))


@st.composite
def valid_specs(draw):
    k = draw(st.integers(1, 6))
    d = draw(st.integers(1, 3))
    raw = draw(st.lists(st.floats(0.01, 10), min_size=k, max_size=k))
    weights = [w / sum(raw) for w in raw]
    means = draw(st.lists(st.lists(finite, min_size=d, max_size=d), min_size=k, max_size=k))
    variances = draw(st.lists(st.lists(st.floats(1e-4, 1e2), min_size=d, max_size=d), min_size=k, max_size=k))
    return weights, means, variances


@settings(max_examples=15, deadline=None)
@given(valid_specs())
def test_valid_specifications_sample_finite_points_of_the_right_shape(spec):
    mixture = GaussianMixture.create(*spec)
    x = np.asarray(mixture.sample(jax.random.key(0), 50))
    assert x.shape == (50, mixture.dim)
    assert np.all(np.isfinite(x))
    assert np.all(np.isfinite(np.asarray(mixture.log_prob(jnp.asarray(x)))))


@settings(max_examples=80, deadline=None)
@given(
    st.lists(anything, min_size=0, max_size=4),
    st.lists(st.lists(anything, min_size=0, max_size=3), min_size=0, max_size=4),
    st.lists(st.lists(anything, min_size=0, max_size=3), min_size=0, max_size=4),
)
def test_arbitrary_specifications_are_accepted_or_rejected_with_a_toygan_error(weights, means, variances):
    try:
        mixture = GaussianMixture.create(weights, means, variances)
    except ToyganError as error:
        assert "\n" not in str(error)
        return
    assert np.isclose(mixture.weights_K.sum(), 1, atol=1e-5)
    assert np.all(mixture.weights_K >= 0) and np.all(mixture.variances_KxD > 0)
