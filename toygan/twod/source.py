"""Training batches from a known Gaussian mixture, drawn inside the compiled training loop."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from toygan.twod.mixture import GaussianMixture


@dataclass(frozen=True, eq=False)
class MixtureSource:
    """Points from a known mixture; the labels are all 0 (2-D models ignore them).

    The networks work in standardised coordinates, (x - mean) / sd per axis of the mixture, so that
    the same widths, rates and initialisation fit a mixture at any scale and offset: `draw` gives
    standardised points, and `to_data` maps the generator's output back."""

    mixture: GaussianMixture

    @property
    def dim(self) -> int:
        return self.mixture.dim

    n_classes = 0

    def arrays(self) -> tuple:
        return ()

    def draw(self, arrays: tuple, key: jax.Array, n: int, group: int = 1) -> tuple[jax.Array, jax.Array]:
        """`group` is for labelled data; unlabelled points have nothing to group by."""
        return self.to_model(self.mixture.sample(key, n)), jnp.zeros((n,), jnp.int32)

    def to_model(self, x_NxD: jax.Array) -> jax.Array:
        return (x_NxD - jnp.asarray(self.mixture.mean_D)[None]) / jnp.asarray(self.mixture.std_D)[None]

    def to_data(self, x_NxD: jax.Array) -> jax.Array:
        return x_NxD * jnp.asarray(self.mixture.std_D)[None] + jnp.asarray(self.mixture.mean_D)[None]
