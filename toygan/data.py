"""Where training batches come from: a Gaussian mixture, or labelled MNIST digits.

A source draws `(x_NxD, y_N)` batches inside the compiled training loop. Its arrays (the digits)
are passed to the compiled program as an argument, not baked into it as constants, which would
make every compilation copy the whole data set.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from toygan.config import MnistConfig, Scenario
from toygan.mixture import GaussianMixture
from toygan.mnist import MnistData, load_mnist

N_DIGITS = 10


@dataclass(frozen=True, eq=False)
class MixtureSource:
    """Points from a known mixture; the labels are all 0 (2-D models ignore them)."""

    mixture: GaussianMixture

    @property
    def dim(self) -> int:
        return self.mixture.dim

    n_classes = 0

    def arrays(self) -> tuple:
        return ()

    def draw(self, arrays: tuple, key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
        return self.mixture.sample(key, n), jnp.zeros((n,), jnp.int32)


@dataclass(frozen=True, eq=False)
class DigitSource:
    """MNIST training images (uint8 on the device, scaled to [-1, 1] per batch) and their labels."""

    data: MnistData
    dim = 28 * 28
    n_classes = N_DIGITS

    @functools.cached_property
    def _device_arrays(self) -> tuple[jax.Array, jax.Array]:
        train = self.data.train
        return jnp.asarray(train.images_NxHxW.reshape(len(train), -1)), jnp.asarray(train.labels_N, jnp.int32)

    def arrays(self) -> tuple[jax.Array, jax.Array]:
        return self._device_arrays

    def draw(self, arrays: tuple, key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
        """A batch drawn uniformly with replacement, as the Keras CGAN does."""
        images_NxD, labels_N = arrays
        index_B = jax.random.randint(key, (n,), 0, images_NxD.shape[0])
        return images_NxD[index_B].astype(jnp.float32) / 127.5 - 1.0, labels_N[index_B]


def to_unit(x_NxD: np.ndarray) -> np.ndarray:
    """Generated pixels in [-1, 1] -> images (N, 28, 28) in [0, 1]."""
    return np.clip((np.asarray(x_NxD, np.float32) + 1.0) / 2.0, 0.0, 1.0).reshape(-1, 28, 28)


def make_source(scenario: Scenario) -> MixtureSource | DigitSource:
    if scenario.mixture is not None:
        return MixtureSource(scenario.mixture.build())
    return DigitSource(_load_digits(scenario.mnist))


@functools.lru_cache(maxsize=2)
def _load_digits(config: MnistConfig) -> MnistData:
    return load_mnist(Path(config.path) if config.path else None)
