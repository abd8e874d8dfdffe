"""Training batches of labelled MNIST digits.

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

from toygan.mnist.data import MnistData, load_mnist

N_DIGITS = 10


@dataclass(frozen=True, eq=False)
class DigitSource:
    """MNIST training images (uint8 on the device, scaled to [-1, 1] per batch) and their labels."""

    data: MnistData
    dim = 28 * 28
    n_classes = N_DIGITS

    @functools.cached_property
    def _device_arrays(self) -> tuple[jax.Array, ...]:
        """Images (N, 784) uint8, labels (N,), the image indices ordered by label, and where each
        label's run starts in that order and how long it is."""
        train = self.data.train
        labels_N = np.asarray(train.labels_N, np.int32)
        by_label_N = np.argsort(labels_N, kind="stable").astype(np.int32)
        count_K = np.bincount(labels_N, minlength=N_DIGITS).astype(np.int32)
        start_K = (np.cumsum(count_K) - count_K).astype(np.int32)
        images_NxD = train.images_NxHxW.reshape(len(train), -1)
        return tuple(jnp.asarray(a) for a in (images_NxD, labels_N, by_label_N, start_K, count_K))

    def arrays(self) -> tuple[jax.Array, ...]:
        return self._device_arrays

    def to_model(self, x_NxD: jax.Array) -> jax.Array:
        """Images are already scaled to [-1, 1] by `draw`."""
        return x_NxD

    def to_data(self, x_NxD: jax.Array) -> jax.Array:
        return x_NxD

    def _indices(self, arrays: tuple, key: jax.Array, n: int, group: int) -> jax.Array:
        """The training images of a `draw` (see there)."""
        images_NxD, labels_N, by_label_N, start_K, count_K = arrays
        first_M = jax.random.randint(key, (n // group,), 0, images_NxD.shape[0])
        if group == 1:
            return first_M
        label_M = labels_N[first_M]
        rank_MxR = jax.random.randint(jax.random.fold_in(key, 1), (n // group, group - 1), 0, count_K[label_M][:, None])
        rest_MxR = by_label_N[start_K[label_M][:, None] + rank_MxR]
        return jnp.concatenate([first_M[:, None], rest_MxR], axis=1).reshape(-1)

    def draw(self, arrays: tuple, key: jax.Array, n: int, group: int = 1) -> tuple[jax.Array, jax.Array]:
        """A batch drawn uniformly with replacement, as the Keras CGAN does. With `group` > 1, each
        run of `group` consecutive images shares one label (for a packed conditional discriminator):
        the run's first image is drawn uniformly, the others uniformly among the images of its label,
        so that every image of the batch is still a uniform draw."""
        index_N = self._indices(arrays, key, n, group)
        return arrays[0][index_N].astype(jnp.float32) / 127.5 - 1.0, arrays[1][index_N]


def to_unit(x_NxD: np.ndarray) -> np.ndarray:
    """Generated pixels in [-1, 1] -> images (N, 28, 28) in [0, 1]."""
    return np.clip((np.asarray(x_NxD, np.float32) + 1.0) / 2.0, 0.0, 1.0).reshape(-1, 28, 28)


@functools.lru_cache(maxsize=2)
def load_digits(config) -> MnistData:
    """The data of an `MnistConfig`, loaded once per process."""
    return load_mnist(Path(config.path) if config.path else None)
