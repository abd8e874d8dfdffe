"""Training batches from a known Gaussian mixture, drawn inside the compiled training loop."""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from toygan.twod.metrics import mixture_metrics
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

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """The view box: every mode to 4 standard deviations."""
        return self.mixture.bounds()

    def sample(self, key: jax.Array, n: int) -> jax.Array:
        return self.mixture.sample(key, n)

    def frame_metrics(self, fake_ExD: jax.Array, real_ExD: jax.Array, radii_E: jax.Array):
        """A frame's metrics against the mixture and its comparison sample (`toygan.twod.metrics`)."""
        return mixture_metrics(self.mixture, fake_ExD, real_ExD, radii_E)
