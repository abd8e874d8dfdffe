"""The toy sets against their papers' constructions, and their source's batches and metrics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from toygan.errors import ToyganError
from toygan.twod.fidelity import COVERAGE_SLACK, SW_LIMIT, sliced_wasserstein
from toygan.twod.points import evaluate_sample
from toygan.twod.toysets import DESCRIPTIONS, TOY_SETS, ToySource, sample

N = 20_000
_sample = jax.jit(sample, static_argnums=(0, 2))


def _points(name: str, seed: int = 0, n: int = N) -> np.ndarray:
    return np.asarray(_sample(name, jax.random.key(seed), n))


@pytest.mark.parametrize("name", TOY_SETS)
def test_shape_finite_and_decided_by_the_key(name):
    x = _points(name)
    assert x.shape == (N, 2) and x.dtype == np.float32 and np.all(np.isfinite(x))
    np.testing.assert_array_equal(_points(name), x)
    assert not np.array_equal(_points(name, seed=1), x)
    np.testing.assert_array_equal(sample(name, jax.random.key(0), 7), sample(name, jax.random.key(0), 7))  # eager too


def test_every_set_has_a_one_line_description():
    assert set(DESCRIPTIONS) == set(TOY_SETS)
    assert all(text and "\n" not in text for text in DESCRIPTIONS.values())


def test_an_unknown_name_is_one_line_listing_the_sets():
    with pytest.raises(ToyganError, match="'rings' is not known: choose one of swiss-roll, moons"):
        sample("rings", jax.random.key(0), 10)


def test_swiss_roll_is_make_swiss_roll_over_7_5():
    # t ~ U[1.5 pi, 4.5 pi], the point t (cos t, sin t) plus noise of sd 0.25, all / 7.5: so 7.5 |x| is about t,
    # uniform over its range, and the point's angle is t (mod 2 pi).
    x = _points("swiss-roll") * 7.5
    t = np.linalg.norm(x, axis=1)
    assert 1.5 * np.pi - 1.5 < t.min() and t.max() < 4.5 * np.pi + 1.5  # six noise sds
    np.testing.assert_allclose(np.quantile(t, [0.05, 0.5, 0.95]) / np.pi, [1.65, 3.0, 4.35], atol=0.05)
    off_angle = np.abs(np.angle(np.exp(1j * (np.arctan2(x[:, 1], x[:, 0]) - t))))
    assert np.median(off_angle) < 0.3 and np.quantile(off_angle, 0.99) < 1.0


def _arc_distance(x: np.ndarray, centre, upper: bool) -> np.ndarray:
    """Distance to the half circle of radius 2 about `centre`, the upper or the lower half."""
    q = x - np.asarray(centre)[None]
    on_side = q[:, 1] >= 0 if upper else q[:, 1] <= 0
    to_ends = np.minimum(np.linalg.norm(q - [[2.0, 0.0]], axis=1), np.linalg.norm(q + [[2.0, 0.0]], axis=1))
    return np.where(on_side, np.abs(np.linalg.norm(q, axis=1) - 2.0), to_ends)


def test_moons_are_two_half_circles_in_equal_shares():
    # make_moons' arcs (cos a, sin a) and (1 - cos a, 0.5 - sin a), a in [0, pi], noise 0.1, then * 2 + (-1, -0.2):
    # the upper half circle of radius 2 about (-1, -0.2) and the lower one about (1, 0.8), noise 0.2.
    x = _points("moons")
    upper, lower = _arc_distance(x, (-1.0, -0.2), upper=True), _arc_distance(x, (1.0, 0.8), upper=False)
    nearest = np.minimum(upper, lower)
    assert np.quantile(nearest, 0.99) < 0.6 and np.median(nearest) < 0.2
    assert abs(np.mean(upper < lower) - 0.5) < 0.02
    # The two moons are two clusters: along x, the upper one spans [-3, 1], the lower [-1, 3].
    np.testing.assert_allclose(np.quantile(x[upper < lower, 0], [0.01, 0.99]), [-3, 1], atol=0.3)
    np.testing.assert_allclose(np.quantile(x[lower < upper, 0], [0.01, 0.99]), [-1, 3], atol=0.3)


def test_spiral_arms_are_each_others_negation():
    # FFJORD's second arm is the first with x -> -x (the whole point negated): the set is symmetric under it, but
    # not under a mirror, because of the spiral's turn and the arms' U[0, 0.5] jitter.
    a, b = _sample("spiral", jax.random.key(0), 4000), _sample("spiral", jax.random.key(1), 4000)
    unit = float(sliced_wasserstein(a, b))  # two true samples
    assert float(sliced_wasserstein(a, -a)) < 1.5 * unit
    assert float(sliced_wasserstein(a, a * jnp.array([1.0, -1.0])[None])) > 2.5 * unit
    # Up to one and a half turns: |arm| <= (3 pi + 0.5 sqrt 2) / 3, plus noise of sd 0.1.
    radius = np.linalg.norm(_points("spiral"), axis=1)
    assert radius.max() < (3 * np.pi + 0.5 * np.sqrt(2)) / 3 + 0.6
    assert np.quantile(radius, 0.99) > 2.8  # and the outer turn is reached


def test_checkerboard_fills_only_the_on_squares_evenly():
    x = _points("checkerboard")
    assert np.all(np.abs(x) <= 4)
    square = np.floor(x / 2).astype(int)  # -2 .. 1 on each axis
    assert np.all((square.sum(axis=1)) % 2 == 0)  # FFJORD's board: floor(x / 2) + floor(y / 2) even
    _, counts = np.unique(square, axis=0, return_counts=True)
    assert len(counts) == 8 and np.all(np.abs(counts / N - 1 / 8) < 0.01)


def test_pinwheel_has_five_arms_at_the_ffjord_constants():
    # A point is 2 (r, t) turned clockwise by 2 pi k / 5 + 0.25 exp(r), r ~ N(1, 0.3), t ~ N(0, 0.1): undoing the
    # 0.25 exp(r) twist (r about |x| / 2) puts it at angle -2 pi k / 5, up to atan(t / r), for one of 5 arms k.
    x = _points("pinwheel") / 2
    r = np.linalg.norm(x, axis=1)
    arm = -(np.arctan2(x[:, 1], x[:, 0]) + 0.25 * np.exp(r)) / (2 * np.pi / 5)
    off = (arm - np.round(arm)) * 2 * np.pi / 5
    assert np.mean(np.abs(off) < 0.3) > 0.95
    np.testing.assert_allclose(np.bincount(np.round(arm).astype(int) % 5) / N, [0.2] * 5, atol=0.01)
    np.testing.assert_allclose([np.mean(r), np.median(r)], [1.0, 1.0], atol=0.03)


@pytest.fixture(scope="module")
def board():
    return ToySource.create("checkerboard", seed=0)


def test_toy_source_draws_fresh_standardised_batches(board):
    assert board.held_out_MxD.shape == (2000, 2) and board.arrays() == ()
    draw = jax.jit(board.draw, static_argnums=(2, 3))
    x, y = draw((), jax.random.key(1), 8000, 1)
    assert x.shape == (8000, 2) and not np.any(np.asarray(y))
    np.testing.assert_allclose(np.mean(x, axis=0), [0, 0], atol=0.05)
    np.testing.assert_allclose(np.std(x, axis=0), [1, 1], atol=0.05)
    np.testing.assert_allclose(board.to_data(x), board.sample(jax.random.key(1), 8000), rtol=1e-5, atol=1e-5)
    assert not np.array_equal(draw((), jax.random.key(2), 8000, 1)[0], x)
    np.testing.assert_array_equal(ToySource.create("checkerboard", seed=0).held_out_MxD, board.held_out_MxD)


def test_toy_source_metrics_read_a_true_sample_as_one_and_a_shrunk_one_as_far(board):
    fresh = np.asarray(board.sample(jax.random.key(5), 2000))
    row, reference = evaluate_sample(board, fresh)
    assert 0.6 < row["sw_ratio"] < SW_LIMIT and abs(row["coverage"] - reference["coverage_mean"]) < COVERAGE_SLACK
    assert row["matches"] == 1
    mean = fresh.mean(axis=0, keepdims=True)
    shrunk, _ = evaluate_sample(board, mean + 0.5 * (fresh - mean))
    assert shrunk["sw_ratio"] > 1.5 and shrunk["matches"] == 0


def test_toy_source_refuses_an_unknown_set():
    with pytest.raises(ToyganError, match="not known"):
        ToySource.create("8gaussians")
