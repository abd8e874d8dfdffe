"""Sample quality measured against the known mixture: where points land, and whether they match it.

Where points land, as in the mode-collapse papers (VEEGAN, PacGAN): a point is *high quality* when it
lies within `HQ_RADIUS` standard deviations (Mahalanobis distance) of its nearest mode; a mode is
*captured* when it is the nearest mode of at least one high-quality point. The reverse KL compares
the nearest-mode histogram q of all points with the mixture weights p, KL(q || p), after adding a
pseudo-count of `KL_PSEUDO_COUNT` to every mode's count so that empty modes give a finite value.

Whether they match it (`toygan.twod.fidelity`): the sliced Wasserstein distance to a fixed true sample,
precision, recall, density and coverage, and each mode's mass, mean offset and spread ratio. The
same figures for a second true sample (`reference`) are what a perfect generator scores.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from toygan.engine.records import reported
from toygan.twod.fidelity import (
    COVERAGE_SLACK,
    KNN_POINTS,
    MASS_TOLERANCE,
    SPREAD_RANGE,
    SW_LIMIT,
    mode_fit,
    neighbour_radii,
    precision_recall_coverage,
    sliced_wasserstein,
)
from toygan.twod.mixture import GaussianMixture

HQ_RADIUS = 3.0
KL_PSEUDO_COUNT = 0.5
SCALAR_METRICS = (
    "sw_ratio",
    "precision",
    "recall",
    "density",
    "coverage",
    "modes_captured",
    "high_quality",
    "reverse_kl",
    "log_likelihood",
)
AXES = "xy"


class MixtureMetrics(NamedTuple):
    modes_captured: jax.Array  # how many modes have a high-quality point
    high_quality: jax.Array  # share of points within HQ_RADIUS sd of their nearest mode
    reverse_kl: jax.Array  # KL(nearest-mode histogram || weights), smoothed
    log_likelihood: jax.Array  # mean log p_data(x) of the points
    captured_K: jax.Array  # which modes are captured (bool)
    sliced_wasserstein: jax.Array  # to the fixed true sample
    precision: jax.Array
    recall: jax.Array
    density: jax.Array
    coverage: jax.Array
    mode_mass_K: jax.Array  # mean responsibility of each mode, to compare with the weights
    offset_K: jax.Array  # each mode's mean offset in its standard deviations
    spread_KxD: jax.Array  # each mode's generated-to-true spread per axis


def mixture_metrics(mixture: GaussianMixture, x_NxD: jax.Array, real_MxD: jax.Array, real_radii_M: jax.Array) -> MixtureMetrics:
    """All metrics of a sample against the mixture and a fixed true sample `real_MxD`, in one
    vectorised pass; jit-able. `real_radii_M` are the neighbour radii of the true sample's first
    `KNN_POINTS` points (`comparison_sample`)."""
    distance_NxK = mixture.mahalanobis(x_NxD)
    nearest_N = jnp.argmin(distance_NxK, axis=1)
    high_quality_N = jnp.min(distance_NxK, axis=1) <= HQ_RADIUS
    one_hot_NxK = jax.nn.one_hot(nearest_N, mixture.n_modes)
    counts_K = jnp.sum(one_hot_NxK, axis=0)
    captured_K = jnp.any(one_hot_NxK * high_quality_N[:, None] > 0, axis=0)
    n = x_NxD.shape[0]
    q_K = (counts_K + KL_PSEUDO_COUNT) / (n + KL_PSEUDO_COUNT * mixture.n_modes)
    p_K = jnp.asarray(mixture.weights_K)
    # Centred on the mixture's mean: projections and distances stay precise for far-off mixtures.
    centre_D = jnp.asarray(mixture.mean_D)
    x_c, real_c = x_NxD - centre_D[None], real_MxD - centre_D[None]
    coverage = precision_recall_coverage(real_c[:KNN_POINTS], x_c[:KNN_POINTS], real_radii_M)
    log_w_K = jnp.log(jnp.maximum(p_K, 1e-30))
    fit = mode_fit(
        log_w_K,
        mixture.component_log_prob(x_NxD),
        x_c,
        jnp.asarray(mixture.means_KxD) - centre_D[None],
        jnp.asarray(mixture.variances_KxD),
    )
    return MixtureMetrics(
        modes_captured=jnp.sum(captured_K),
        high_quality=jnp.mean(high_quality_N),
        reverse_kl=jnp.sum(q_K * (jnp.log(q_K) - jnp.log(jnp.maximum(p_K, 1e-12)))),
        log_likelihood=jnp.mean(mixture.log_prob(x_NxD)),
        captured_K=captured_K,
        sliced_wasserstein=sliced_wasserstein(x_c, real_c),
        precision=coverage.precision,
        recall=coverage.recall,
        density=coverage.density,
        coverage=coverage.coverage,
        mode_mass_K=fit.mass_K,
        offset_K=fit.offset_K,
        spread_KxD=fit.spread_KxD,
    )


COMPARISON_SALT = 0xC0DE
REFERENCE_SALT = 0x1DEA
REFERENCE_DRAWS = 8  # true samples whose mean distance to the comparison sample is the distance's unit


def comparison_sample(mixture: GaussianMixture, key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
    """The fixed true sample that generated points are compared with, and its neighbour radii."""
    real_NxD = mixture.sample(jax.random.fold_in(key, COMPARISON_SALT), n)
    return real_NxD, neighbour_radii(real_NxD[:KNN_POINTS] - jnp.asarray(mixture.mean_D)[None])


def reference_draws(mixture: GaussianMixture, key: jax.Array, real_NxD: jax.Array, real_radii: jax.Array) -> MixtureMetrics:
    """The metrics of `REFERENCE_DRAWS` other true samples of the comparison sample's size, stacked."""
    n = real_NxD.shape[0]
    keys = jax.random.split(jax.random.fold_in(key, REFERENCE_SALT), REFERENCE_DRAWS)
    return jax.lax.map(lambda k: mixture_metrics(mixture, mixture.sample(k, n), real_NxD, real_radii), keys)


def reference_row(mixture: GaussianMixture, stacked: MixtureMetrics) -> dict:
    """What a perfect generator scores: the first true sample's row, read against the mean distance
    and coverage of all `REFERENCE_DRAWS` (one sample's distance alone varies by about a fifth), so
    that `sw_ratio` of a true sample reads about 1. The two means are kept as `sliced_wasserstein`
    and `coverage_mean`."""
    stacked = jax.device_get(stacked)
    unit, coverage = float(np.mean(stacked.sliced_wasserstein)), float(np.mean(stacked.coverage))
    first = jax.tree.map(lambda leaf: leaf[0], stacked)
    return {**metrics_row(first, unit, mixture.weights_K, coverage), "sliced_wasserstein": unit, "coverage_mean": coverage}


def evaluate_points(mixture: GaussianMixture, x_NxD, seed: int = 0) -> tuple[dict, dict]:
    """Score any points against a mixture as a run scores its generator: (their row, a true sample's row).

    The comparison and reference samples have the points' size and are drawn from `seed`."""
    key = jax.random.key(seed)
    x_NxD = jnp.asarray(x_NxD, jnp.float32)
    real_NxD, radii = jax.jit(comparison_sample, static_argnums=(0, 2))(mixture, key, x_NxD.shape[0])
    reference = reference_row(mixture, jax.jit(reference_draws, static_argnums=0)(mixture, key, real_NxD, radii))
    metrics = jax.jit(mixture_metrics, static_argnums=0)(mixture, x_NxD, real_NxD, radii)
    row = metrics_row(metrics, reference["sliced_wasserstein"], mixture.weights_K, reference["coverage_mean"])
    return row, reference


def metrics_columns(n_modes: int, dim: int = 2) -> list[str]:
    """The header of metrics.csv: step, the scalars, per-mode figures, whether it matches, the warnings."""
    per_mode = [f"mass_{k}" for k in range(n_modes)] + [f"offset_{k}" for k in range(n_modes)]
    per_mode += [f"spread_{AXES[d]}_{k}" for k in range(n_modes) for d in range(dim)]
    return ["step", *SCALAR_METRICS, *per_mode, "matches", "warnings"]


def metrics_row(metrics: MixtureMetrics, reference_sw: float, weights_K: np.ndarray, reference_coverage: float) -> dict:
    """Host-side flat record: the scalars, per-mode figures and `matches` (1 when every criterion holds).

    `reference_sw` and `reference_coverage` are a second true sample's figures: `sw_ratio` is the
    distance as a multiple of the true sample's."""
    row = {"sw_ratio": reported(float(metrics.sliced_wasserstein) / reference_sw)}
    row.update({name: reported(getattr(metrics, name)) for name in SCALAR_METRICS[1:]})
    row["modes_captured"] = int(row["modes_captured"])
    mass_K, offset_K, spread_KxD = (np.asarray(a) for a in (metrics.mode_mass_K, metrics.offset_K, metrics.spread_KxD))
    row.update({f"mass_{k}": reported(m) for k, m in enumerate(mass_K)})
    row.update({f"offset_{k}": reported(o) for k, o in enumerate(offset_K)})
    row.update({f"spread_{AXES[d]}_{k}": reported(spread_KxD[k, d]) for k in range(len(mass_K)) for d in range(spread_KxD.shape[1])})
    row["matches"] = int(not problems(row, weights_K, reference_coverage))
    return row


def criteria(row: dict, weights_K: np.ndarray, reference_coverage: float) -> dict[str, tuple[str, bool]]:
    """Each criterion of matching the mixture: (the figure behind it, whether it is met)."""
    n_modes = len(weights_K)
    mass_error = max(abs(float(row[f"mass_{k}"]) - weights_K[k]) for k in range(n_modes))
    spreads = [float(row[f"spread_{axis}_{k}"]) for k in range(n_modes) for axis in AXES]
    return {
        "modes": (f"{int(row['modes_captured'])}/{n_modes}", int(row["modes_captured"]) == n_modes),
        "mass error": (f"{mass_error:.3f}", mass_error <= MASS_TOLERANCE),
        "spread": (f"{min(spreads):.2f}-{max(spreads):.2f}", all(SPREAD_RANGE[0] <= s <= SPREAD_RANGE[1] for s in spreads)),
        "distance": (f"{float(row['sw_ratio']):.2f}x", float(row["sw_ratio"]) <= SW_LIMIT),
        "coverage": (
            f"{float(row['coverage']):.3f} ({reference_coverage:.3f})",
            float(row["coverage"]) >= reference_coverage - COVERAGE_SLACK,
        ),
    }


def problems(row: dict, weights_K: np.ndarray, reference_coverage: float) -> list[str]:
    """What keeps a metrics row from matching the mixture (`criteria` not met), worst first, one short
    phrase each, per mode and axis where a criterion is."""
    met = {name: ok for name, (_, ok) in criteria(row, weights_K, reference_coverage).items()}
    n_modes = len(weights_K)
    found = []
    if not met["modes"]:
        found.append(f"modes missed: {n_modes - int(row['modes_captured'])} of {n_modes}")
    if not met["mass error"]:
        for k in range(n_modes):
            mass = float(row[f"mass_{k}"])
            if abs(mass - weights_K[k]) > MASS_TOLERANCE:
                found.append(f"mode {k} mass {mass:.2f}, weight {weights_K[k]:.2f}")
    if not met["spread"]:
        for k in range(n_modes):
            for axis in AXES:
                ratio = float(row[f"spread_{axis}_{k}"])
                if not SPREAD_RANGE[0] <= ratio <= SPREAD_RANGE[1]:
                    found.append(f"too {'narrow' if ratio < 1 else 'wide'} on mode {k} ({axis}: {ratio:.2f}x)")
    if not met["distance"]:
        found.append(f"distance {float(row['sw_ratio']):.1f}x a true sample's")
    if not met["coverage"]:
        found.append(f"coverage {float(row['coverage']):.2f}, a true sample's {reference_coverage:.2f}")
    return found


def verdict(row: dict, weights_K: np.ndarray, reference_coverage: float) -> str:
    """The frame's headline: whether the generator matches the mixture, else its worst problem."""
    found = problems(row, weights_K, reference_coverage)
    if not found:
        return f"matches the mixture: distance {float(row['sw_ratio']):.2f}x a true sample's"
    more = f" (+{len(found) - 1} more)" if len(found) > 1 else ""
    return f"not yet: {found[0]}{more}"
