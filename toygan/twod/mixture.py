"""Gaussian mixtures with diagonal covariances: validation, keyed sampling and log-density."""

from __future__ import annotations

import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from toygan.errors import ToyganError


@dataclass(frozen=True, eq=False)
class GaussianMixture:
    """A validated mixture: `weights_K`, `means_KxD` and diagonal `variances_KxD` as float32 arrays.

    Hashed by identity, so that it can be a static argument of `jax.jit`."""

    weights_K: np.ndarray
    means_KxD: np.ndarray
    variances_KxD: np.ndarray

    @classmethod
    def create(cls, weights, means, variances, where: str = "mixture") -> GaussianMixture:
        """Check a mixture specification and build it; every problem is one `ToyganError` line."""
        weights_K = _as_array(weights, f"{where}.weights", ndim=1)
        means_KxD = _as_array(means, f"{where}.means", ndim=2)
        variances_KxD = _as_array(variances, f"{where}.variances", ndim=2)
        n_modes, dim = means_KxD.shape
        if n_modes == 0 or dim == 0:
            raise ToyganError(f"{where}.means is empty: give at least one mean with at least one coordinate")
        if weights_K.shape[0] != n_modes:
            raise ToyganError(f"{where}.weights has {weights_K.shape[0]} entries but there are {n_modes} means: give one weight per mode")
        if variances_KxD.shape != means_KxD.shape:
            raise ToyganError(
                f"{where}.variances has shape {list(variances_KxD.shape)} but means has "
                f"{list(means_KxD.shape)}: give one variance per mean coordinate"
            )
        if np.any(weights_K < 0):
            raise ToyganError(f"{where}.weights has a negative entry {weights_K.min():g}: weights must be >= 0")
        total = float(np.sum(weights_K, dtype=np.float64))
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ToyganError(f"{where}.weights sum to {total:.6g}, not 1: rescale them so they sum to 1")
        if np.any(variances_KxD <= 0):
            raise ToyganError(f"{where}.variances has a non-positive entry {variances_KxD.min():g}: variances must be > 0")
        return cls(
            weights_K.astype(np.float32),
            means_KxD.astype(np.float32),
            variances_KxD.astype(np.float32),
        )

    @property
    def n_modes(self) -> int:
        return self.means_KxD.shape[0]

    @property
    def dim(self) -> int:
        return self.means_KxD.shape[1]

    @property
    def mean_D(self) -> np.ndarray:
        """The mixture's mean, sum_k w_k mu_k."""
        return (self.weights_K.astype(np.float64) @ self.means_KxD).astype(np.float32)

    @property
    def std_D(self) -> np.ndarray:
        """The mixture's standard deviation per axis, from E[x^2] = sum_k w_k (var_k + mu_k^2)."""
        w_K, mu_KxD = self.weights_K.astype(np.float64), self.means_KxD.astype(np.float64)
        second_D = w_K @ (self.variances_KxD + mu_KxD**2)
        return np.sqrt(np.maximum(second_D - (w_K @ mu_KxD) ** 2, 0.0)).astype(np.float32)

    def sample(self, key: jax.Array, n: int) -> jax.Array:
        """Draw `n` points, shape (n, D); jit-able and deterministic in `key`."""
        mode_key, noise_key = jax.random.split(key)
        modes_N = jax.random.choice(mode_key, self.n_modes, shape=(n,), p=jnp.asarray(self.weights_K))
        noise_NxD = jax.random.normal(noise_key, (n, self.dim))
        return jnp.asarray(self.means_KxD)[modes_N] + jnp.sqrt(jnp.asarray(self.variances_KxD))[modes_N] * noise_NxD

    def component_log_prob(self, x_NxD: jax.Array) -> jax.Array:
        """log N(x | mean_k, diag var_k) for every point and mode, shape (N, K)."""
        diff_NxKxD = x_NxD[:, None, :] - jnp.asarray(self.means_KxD)[None]
        var_KxD = jnp.asarray(self.variances_KxD)
        quad_NxK = jnp.sum(diff_NxKxD**2 / var_KxD[None], axis=-1)
        log_norm_K = -0.5 * jnp.sum(jnp.log(2 * jnp.pi * var_KxD), axis=-1)
        return log_norm_K[None] - 0.5 * quad_NxK

    def log_prob(self, x_NxD: jax.Array) -> jax.Array:
        """Mixture log-density of each point, shape (N,)."""
        log_w_K = jnp.log(jnp.asarray(self.weights_K))
        return jax.nn.logsumexp(self.component_log_prob(x_NxD) + log_w_K[None], axis=-1)

    def mahalanobis(self, x_NxD: jax.Array) -> jax.Array:
        """Distance of each point to each mode in that mode's standard deviations, shape (N, K)."""
        diff_NxKxD = x_NxD[:, None, :] - jnp.asarray(self.means_KxD)[None]
        return jnp.sqrt(jnp.sum(diff_NxKxD**2 / jnp.asarray(self.variances_KxD)[None], axis=-1))

    def bounds(self, margin_sd: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
        """A box holding every mode to `margin_sd` standard deviations, padded to a square for 2-D views."""
        sd_KxD = np.sqrt(self.variances_KxD)
        low_D = (self.means_KxD - margin_sd * sd_KxD).min(axis=0)
        high_D = (self.means_KxD + margin_sd * sd_KxD).max(axis=0)
        centre_D, half = (low_D + high_D) / 2, (high_D - low_D).max() / 2 * 1.1
        return centre_D - half, centre_D + half


def _as_array(value, where: str, ndim: int) -> np.ndarray:
    shape = "a list of numbers" if ndim == 1 else "a list of equal-length lists of numbers"
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ToyganError(f"{where} must be {shape}") from None
    if array.ndim != ndim:
        raise ToyganError(f"{where} must be {shape}, got an array of shape {list(array.shape)}")
    if not np.all(np.isfinite(array)):
        raise ToyganError(f"{where} has a NaN or infinite entry: every number must be finite")
    return array
