"""Sample quality measured against the known mixture, as in the mode-collapse papers (VEEGAN, PacGAN).

A point is *high quality* when it lies within `HQ_RADIUS` standard deviations (Mahalanobis distance,
the Euclidean distance in standard deviations for isotropic modes) of its nearest mode. A mode is
*captured* when it is the nearest mode of at least one high-quality point. The reverse KL compares
the nearest-mode histogram q of all points with the mixture weights p, KL(q || p), after adding a
pseudo-count of `KL_PSEUDO_COUNT` to every mode's count so that empty modes give a finite value.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from toygan.mixture import GaussianMixture

HQ_RADIUS = 3.0
KL_PSEUDO_COUNT = 0.5
SCALAR_METRICS = ("modes_captured", "high_quality", "reverse_kl", "log_likelihood")


class MixtureMetrics(NamedTuple):
    modes_captured: jax.Array  # how many modes have a high-quality point
    high_quality: jax.Array  # share of points within HQ_RADIUS sd of their nearest mode
    reverse_kl: jax.Array  # KL(nearest-mode histogram || weights), smoothed
    log_likelihood: jax.Array  # mean log p_data(x) of the points
    mode_mass_K: jax.Array  # share of points nearest each mode, to compare with the weights
    captured_K: jax.Array  # which modes are captured (bool)


def mixture_metrics(mixture: GaussianMixture, x_NxD: jax.Array) -> MixtureMetrics:
    """All metrics of a sample in one vectorised pass; jit-able."""
    distance_NxK = mixture.mahalanobis(x_NxD)
    nearest_N = jnp.argmin(distance_NxK, axis=1)
    high_quality_N = jnp.min(distance_NxK, axis=1) <= HQ_RADIUS
    one_hot_NxK = jax.nn.one_hot(nearest_N, mixture.n_modes)
    counts_K = jnp.sum(one_hot_NxK, axis=0)
    captured_K = jnp.any(one_hot_NxK * high_quality_N[:, None] > 0, axis=0)
    n = x_NxD.shape[0]
    q_K = (counts_K + KL_PSEUDO_COUNT) / (n + KL_PSEUDO_COUNT * mixture.n_modes)
    p_K = jnp.asarray(mixture.weights_K)
    return MixtureMetrics(
        modes_captured=jnp.sum(captured_K),
        high_quality=jnp.mean(high_quality_N),
        reverse_kl=jnp.sum(q_K * (jnp.log(q_K) - jnp.log(jnp.maximum(p_K, 1e-12)))),
        log_likelihood=jnp.mean(mixture.log_prob(x_NxD)),
        mode_mass_K=counts_K / n,
        captured_K=captured_K,
    )


def metrics_columns(n_modes: int) -> list[str]:
    """The header of metrics.csv: step, the scalars, one mass per mode, and the frame's warnings."""
    return ["step", *SCALAR_METRICS, *(f"mass_{k}" for k in range(n_modes)), "warnings"]


def reported(value) -> float:
    """A float32 as the shortest decimal that reads back as the same float32: CSV and JSON agree."""
    return float(str(np.float32(value)))


def metrics_row(metrics: MixtureMetrics) -> dict[str, float]:
    """Host-side flat record: the scalars and `mass_k` per mode."""
    row = {name: reported(getattr(metrics, name)) for name in SCALAR_METRICS}
    row["modes_captured"] = int(row["modes_captured"])
    row.update({f"mass_{k}": reported(m) for k, m in enumerate(np.asarray(metrics.mode_mass_K))})
    return row
