"""What a frame shows, computed on the device in one compiled call from the current parameters.

The same jitted `observe` serves the live run and `toygan eval`, so both report identical numbers.
Views that are switched off in the scenario are not computed at all.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from toygan.engine import objectives
from toygan.engine.models import noise_bin
from toygan.engine.train import Trainer, TrainState

FIELD_SIZE = 17
MANIFOLD_LINES = 15
MANIFOLD_POINTS = 60
NOISE_SPAN = 2.5


class Observation(NamedTuple):
    fake_ExD: jax.Array
    metrics: NamedTuple  # the source's `frame_metrics`: MixtureMetrics, or PointMetrics for point data
    finite: jax.Array  # every parameter and generated point is finite
    d_grid_GxG: jax.Array | None = None  # D(x) over the view grid
    arrows_PxD: jax.Array | None = None  # -grad_x of the generator loss at the shown points
    field_FxFxD: jax.Array | None = None  # the same over a coarse grid of the plane
    manifold_LxMxD: jax.Array | None = None  # images of straight lines in noise space
    optimal_d_GxG: jax.Array | None = None  # p_data / (p_data + p_g), p_g by kernel density


def view_axes(trainer: Trainer, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The x and y coordinates of a size x size grid over the fixed view box."""
    low, high = trainer.source.bounds()
    return np.linspace(low[0], high[0], size), np.linspace(low[1], high[1], size)


def _grid_points(trainer: Trainer, size: int) -> jax.Array:
    xs, ys = view_axes(trainer, size)
    xx, yy = np.meshgrid(xs, ys)
    return jnp.asarray(np.stack([xx.ravel(), yy.ravel()], axis=1), jnp.float32)


def manifold_noise(noise_dim: int) -> np.ndarray:
    """Straight lines in noise space along its first two coordinates (the rest held at 0)."""
    t_M = np.linspace(-NOISE_SPAN, NOISE_SPAN, MANIFOLD_POINTS)
    levels_L = np.linspace(-NOISE_SPAN, NOISE_SPAN, MANIFOLD_LINES)
    if noise_dim == 1:
        return t_M[None, :, None].astype(np.float32)
    lines = np.zeros((2 * MANIFOLD_LINES, MANIFOLD_POINTS, noise_dim), np.float32)
    lines[:MANIFOLD_LINES, :, 0] = t_M[None]
    lines[:MANIFOLD_LINES, :, 1] = levels_L[:, None]
    lines[MANIFOLD_LINES:, :, 0] = levels_L[:, None]
    lines[MANIFOLD_LINES:, :, 1] = t_M[None]
    return lines


def binned_kde_log_density(samples_NxD: jax.Array, xs_G: np.ndarray, ys_G: np.ndarray) -> jax.Array:
    """log of a Gaussian kernel density estimate of 2-D samples on the grid xs x ys, shape (G, G) [y, x].

    Scott's bandwidth per axis; the samples are first linearly binned on the grid (a binned KDE), which makes
    it a pair of small matrix products instead of a kernel per grid point and sample.
    """
    n, dim = samples_NxD.shape
    bandwidth_D = jnp.std(samples_NxD, axis=0) * n ** (-1.0 / (dim + 4)) + 1e-6
    size = len(xs_G)
    # Linear binning: each sample's unit mass is shared by the four grid points around it.
    col_N = (samples_NxD[:, 0] - xs_G[0]) / (xs_G[1] - xs_G[0])
    row_N = (samples_NxD[:, 1] - ys_G[0]) / (ys_G[1] - ys_G[0])
    col0_N, row0_N = jnp.floor(col_N), jnp.floor(row_N)
    counts_GxG = jnp.zeros((size, size))
    for d_row, d_col in ((0, 0), (0, 1), (1, 0), (1, 1)):
        weight_N = (1 - jnp.abs(row_N - row0_N - d_row)) * (1 - jnp.abs(col_N - col0_N - d_col))
        counts_GxG = counts_GxG.at[(row0_N + d_row).astype(jnp.int32), (col0_N + d_col).astype(jnp.int32)].add(weight_N, mode="drop")

    def kernel(axis_G, h):
        diff = (axis_G[:, None] - axis_G[None, :]) / h
        return jnp.exp(-0.5 * diff**2) / (h * jnp.sqrt(2 * jnp.pi))

    density_GxG = kernel(jnp.asarray(ys_G), bandwidth_D[1]) @ counts_GxG @ kernel(jnp.asarray(xs_G), bandwidth_D[0]).T
    return jnp.log(density_GxG / n + 1e-30)


def optimal_discriminator(log_p_data: jax.Array, log_p_g: jax.Array, box_area: float) -> jax.Array:
    """D*(x) = p_data / (p_data + p_g), each density floored by a uniform 0.1% of mass over the view box.

    The floor makes D* read 0.5 (undecided) where neither distribution has mass, instead of the 0/0
    that the densities' tails would give.
    """
    floor = 1e-3 / box_area
    p_data, p_g = jnp.exp(log_p_data) + floor, jnp.exp(log_p_g) + floor
    return p_data / (p_data + p_g)


def all_finite(state: TrainState, *arrays: jax.Array) -> jax.Array:
    """True when every parameter, batch statistic and given array is finite."""
    trees = (state.g_params, state.d_params, state.g_stats, state.d_stats, state.g_avg_params, state.g_avg_stats, arrays)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(trees)]))


@partial(jax.jit, static_argnums=0)
def observe(trainer: Trainer, state: TrainState, z_view_ExZ: jax.Array, real_ExD: jax.Array, real_radii_E: jax.Array) -> Observation:
    """Generated points at the fixed noise, their metrics against the mixture and the fixed true sample
    `real_ExD` (with its neighbour radii), and the panels the scenario turns on."""
    view = trainer.scenario.view
    fake_ExD = trainer.generate(state, z_view_ExZ)
    finite = all_finite(state, fake_ExD)
    extras = {}

    def push(x_NxD):
        """Where the generator loss pushes points: minus its gradient with respect to each point."""
        train = trainer.scenario.train
        form = train.generator_loss if train.loss == "log" else None
        per_point = lambda x: objectives.generator_loss(train.loss, trainer.logits(state, x[None]), form)
        return -jax.vmap(jax.grad(per_point))(x_NxD)

    if view.discriminator or view.optimal_discriminator:
        grid_Gsq = _grid_points(trainer, view.grid_size)
        shape = (view.grid_size, view.grid_size)
        if view.discriminator:
            extras["d_grid_GxG"] = objectives.shown_output(trainer.scenario.train.loss, trainer.logits(state, grid_Gsq)).reshape(shape)
        if view.optimal_discriminator:
            xs, ys = view_axes(trainer, view.grid_size)
            log_p_data = trainer.source.mixture.log_prob(grid_Gsq).reshape(shape)
            box_area = float((xs[-1] - xs[0]) * (ys[-1] - ys[0]))
            extras["optimal_d_GxG"] = optimal_discriminator(log_p_data, binned_kde_log_density(fake_ExD, xs, ys), box_area)
    if view.gradients:
        extras["arrows_PxD"] = push(fake_ExD[: view.arrows])
    if view.gradient_field:
        field = _grid_points(trainer, FIELD_SIZE)
        extras["field_FxFxD"] = push(field).reshape(FIELD_SIZE, FIELD_SIZE, -1)
    if view.manifold:
        model = trainer.scenario.model
        lines = jnp.asarray(manifold_noise(model.noise_dim))
        image_LxMxD = trainer.generate(state, lines.reshape(-1, lines.shape[-1])).reshape(*lines.shape[:2], -1)
        if model.noise_bins:
            # The generator jumps where a line crosses a bin edge: NaN there breaks the drawn line.
            bin_LxM = noise_bin(lines[:, :, 0], model.noise_bins)
            jump_LxM = jnp.pad(bin_LxM[:, 1:] != bin_LxM[:, :-1], ((0, 0), (1, 0)))
            image_LxMxD = jnp.where(jump_LxM[:, :, None], jnp.nan, image_LxMxD)
        extras["manifold_LxMxD"] = image_LxMxD
    metrics = trainer.source.frame_metrics(fake_ExD, real_ExD, real_radii_E)
    return Observation(fake_ExD, metrics, finite, **extras)
