"""Does a generated 2-D sample *match* the true distribution? Figures that read against a second true sample.

Where a point lands (high quality, modes captured) cannot see a generator that is too narrow, too
wide or of the wrong shape, so these compare whole distributions:
- the sliced Wasserstein-1 distance (Rabin et al. 2011; Deshpande et al. 2018): the mean over
  `N_DIRECTIONS` evenly spaced directions of the 1-D Wasserstein-1 distance between the projections;
- precision and recall (Kynkäänniemi et al. 2019), density and coverage (Naeem et al. 2020), each
  from balls around points reaching their `K_NEIGHBOURS`-th nearest neighbour;
- per mode of a known mixture: the mass, mean and per-axis spread of the points weighted by their
  responsibilities under the true mixture (an EM step from the truth). For a sample of the mixture
  itself these estimates are unbiased even where modes overlap: r_k(x) p(x) = w_k N_k(x).

All of them are jit-able functions of arrays; distances use differences, not the |a|^2 + |b|^2 - 2ab
expansion, which loses float32 precision far from the origin.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

KNN_POINTS = 1000  # precision, recall, density and coverage use the first 1,000 points: their cost grows as N^2
N_DIRECTIONS = 16  # 11.25 degrees apart: enough for 2-D, and sorting is the metric's main cost
K_NEIGHBOURS = 5

# What "matches" means: every mode found, its mass within MASS_TOLERANCE of its weight, its spread
# within SPREAD_RANGE of the truth on each axis, the sliced distance within SW_LIMIT times that of a
# second true sample, and coverage within COVERAGE_SLACK of that sample's.
MASS_TOLERANCE = 0.03
SPREAD_RANGE = (0.8, 1.25)
SW_LIMIT = 1.5
COVERAGE_SLACK = 0.05


def squared_distances(a_NxD: jax.Array, b_MxD: jax.Array) -> jax.Array:
    """Squared Euclidean distances, shape (N, M)."""
    return jnp.sum((a_NxD[:, None, :] - b_MxD[None, :, :]) ** 2, axis=-1)


def sliced_wasserstein(x_NxD: jax.Array, y_MxD: jax.Array, n_directions: int = N_DIRECTIONS) -> jax.Array:
    """Sliced Wasserstein-1 distance of two 2-D samples over `n_directions` angles in [0, pi).

    Equal sizes compare sorted projections exactly; unequal ones compare quantiles on a grid of
    4 * max(N, M) levels."""
    angles = np.pi * np.arange(n_directions) / n_directions
    directions_DxP = jnp.asarray(np.stack([np.cos(angles), np.sin(angles)]), x_NxD.dtype)
    px_PxN = jnp.sort((x_NxD @ directions_DxP).T, axis=1)
    py_PxM = jnp.sort((y_MxD @ directions_DxP).T, axis=1)
    n, m = px_PxN.shape[1], py_PxM.shape[1]
    if n != m:
        levels_Q = (np.arange(4 * max(n, m)) + 0.5) / (4 * max(n, m))
        px_PxN, py_PxM = px_PxN[:, np.floor(levels_Q * n).astype(int)], py_PxM[:, np.floor(levels_Q * m).astype(int)]
    return jnp.mean(jnp.abs(px_PxN - py_PxM))


def neighbour_radii(x_NxD: jax.Array, k: int = K_NEIGHBOURS) -> jax.Array:
    """Distance from each point to its k-th nearest other point, shape (N,).

    k passes of "take the row minimum, mask it": on the CPU several times faster than `lax.top_k`
    over an N x N matrix. Ties (duplicate points) are taken together, as one neighbour."""
    n = x_NxD.shape[0]
    d2_NxN = squared_distances(x_NxD, x_NxD) + jnp.diag(jnp.full((n,), jnp.inf, x_NxD.dtype))

    def next_nearest(_, carry):
        d2, _ = carry
        nearest_N = jnp.min(d2, axis=1)
        return jnp.where(d2 <= nearest_N[:, None], jnp.inf, d2), nearest_N

    return jnp.sqrt(jax.lax.fori_loop(0, k, next_nearest, (d2_NxN, jnp.zeros((n,), x_NxD.dtype)))[1])


class Coverage(NamedTuple):
    precision: jax.Array  # share of fakes inside some real point's ball
    recall: jax.Array  # share of reals inside some fake point's ball
    density: jax.Array  # real balls holding each fake, / k, averaged (1 for a true sample, in expectation)
    coverage: jax.Array  # share of reals whose ball holds a fake


def precision_recall_coverage(
    real_NxD: jax.Array, fake_MxD: jax.Array, real_radii_N: jax.Array | None = None, k: int = K_NEIGHBOURS
) -> Coverage:
    """Precision, recall (Kynkäänniemi et al. 2019), density and coverage (Naeem et al. 2020); pass
    `real_radii_N` (`neighbour_radii(real_NxD, k)`) to reuse them across calls."""
    real_radii_N = neighbour_radii(real_NxD, k) if real_radii_N is None else real_radii_N
    fake_radii_M = neighbour_radii(fake_MxD, k)
    d2_NxM = squared_distances(real_NxD, fake_MxD)
    in_real_ball_NxM = d2_NxM <= real_radii_N[:, None] ** 2
    return Coverage(
        precision=jnp.mean(jnp.any(in_real_ball_NxM, axis=0)),
        recall=jnp.mean(jnp.any(d2_NxM <= fake_radii_M[None, :] ** 2, axis=1)),
        density=jnp.sum(in_real_ball_NxM) / (k * fake_MxD.shape[0]),
        coverage=jnp.mean(jnp.any(in_real_ball_NxM, axis=1)),
    )


class ModeFit(NamedTuple):
    mass_K: jax.Array  # mean responsibility of each mode: compare with the weights
    offset_K: jax.Array  # distance of the weighted mean from the mode's mean, in its standard deviations
    spread_KxD: jax.Array  # weighted standard deviation per axis / the mode's true one (1.0 is right)


def mode_fit(
    log_weights_K: jax.Array, component_log_prob_NxK: jax.Array, x_NxD: jax.Array, means_KxD: jax.Array, variances_KxD: jax.Array
) -> ModeFit:
    """Per-mode mass, mean offset and spread ratio of a sample, from its responsibilities under the truth."""
    r_NxK = jax.nn.softmax(component_log_prob_NxK + log_weights_K[None], axis=1)
    total_K = jnp.sum(r_NxK, axis=0)
    safe_K = jnp.maximum(total_K, 1e-6)
    mean_KxD = (r_NxK.T @ x_NxD) / safe_K[:, None]
    sd_KxD = jnp.sqrt(variances_KxD)
    offset_K = jnp.sqrt(jnp.sum(((mean_KxD - means_KxD) / sd_KxD) ** 2, axis=1))
    var_KxD = jnp.einsum("nk,nkd->kd", r_NxK, (x_NxD[:, None, :] - mean_KxD[None]) ** 2) / safe_K[:, None]
    return ModeFit(total_K / x_NxD.shape[0], offset_K, jnp.sqrt(var_KxD) / sd_KxD)
