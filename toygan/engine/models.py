"""Flax NNX multilayer perceptrons for the generator and the discriminator.

One `MLP` serves every scenario: plain for the 2-D mixtures, and with the options of the classic
MNIST GANs (Keras CGAN): batch norm after each hidden activation, dropout after chosen hidden
layers, a tanh output, and conditioning on a class label, either as a learned embedding multiplied
into the input or as a one-hot vector concatenated to it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from toygan.config import ModelConfig

LEAKY_SLOPE = 0.2  # the slope of the GAN literature (DCGAN, Keras CGAN), not jax's default 0.01
EMBEDDING_INIT = nnx.initializers.uniform(0.1)  # shifted to U(-0.05, 0.05), Keras' Embedding default
BATCH_NORM_EPSILON = 1e-3  # Keras' default

_ACTIVATIONS = {
    "relu": jax.nn.relu,
    "leaky_relu": lambda x: jax.nn.leaky_relu(x, LEAKY_SLOPE),
    "tanh": jnp.tanh,
    "elu": jax.nn.elu,
}


def noise_bin(z_N: jax.Array, bins: int) -> jax.Array:
    """Which of `bins` equal-probability bins of N(0, 1) each value falls in (ints 0..bins-1)."""
    return jnp.clip(jnp.floor(jax.scipy.special.ndtr(z_N) * bins), 0, bins - 1).astype(jnp.int32)


class MLP(nnx.Module):
    """Dense layers of the given widths with an activation (then batch norm, then dropout) between them."""

    def __init__(
        self,
        widths: tuple[int, ...],
        activation: str,
        *,
        rngs: nnx.Rngs,
        output: str = "linear",
        batch_norm_momentum: float | None = None,
        dropout: tuple[float, ...] = (),
        conditioning: str = "none",
        n_classes: int = 0,
        spectral_norm: bool = False,
        input_bins: int = 0,
    ):
        first_in = widths[0] + (n_classes if conditioning == "one-hot" else 0) + input_bins
        layers = [nnx.Linear(n_in, n_out, rngs=rngs) for n_in, n_out in zip((first_in, *widths[1:-1]), widths[1:])]
        self.layers = nnx.List([nnx.SpectralNorm(layer, rngs=rngs) for layer in layers] if spectral_norm else layers)
        self.spectral_norm = spectral_norm
        hidden = widths[1:-1]
        self.norms = nnx.List(
            [nnx.BatchNorm(w, momentum=batch_norm_momentum, epsilon=BATCH_NORM_EPSILON, rngs=rngs) for w in hidden]
            if batch_norm_momentum is not None
            else []
        )
        self.dropouts = nnx.List([nnx.Dropout(rate) for rate in dropout])
        if conditioning == "embedding":
            init = lambda key, shape, dtype: EMBEDDING_INIT(key, shape, dtype) - 0.05
            self.embedding = nnx.Embed(n_classes, widths[0], embedding_init=init, rngs=rngs)
        self.activation = _ACTIVATIONS[activation]
        self.output = output
        self.conditioning = conditioning
        self.n_classes = n_classes
        self.input_bins = input_bins

    @property
    def _first_linear(self) -> nnx.Linear:
        return self.layers[0].layer_instance if self.spectral_norm else self.layers[0]

    @property
    def first_units(self) -> int:
        return self._first_linear.out_features

    def _dense(self, index: int, x_NxI: jax.Array, train: bool = False) -> jax.Array:
        """Layer `index` (before its activation). Spectral norm refines its singular-vector estimate
        (a batch statistic) only in training."""
        layer = self.layers[index]
        return layer(x_NxI, update_stats=train) if self.spectral_norm else layer(x_NxI)

    def first_preactivations(self, x_NxI: jax.Array) -> jax.Array:
        """The first layer's outputs before the activation, in inference mode: (N, first_units)."""
        return self._dense(0, x_NxI)

    def start_at(self, x_UxI: jax.Array) -> None:
        """Move the first layer's units so that unit j's boundary (pre-activation 0) passes through
        `x_UxI[j]`: data-dependent initialisation, one input row per first-layer unit."""
        linear = self._first_linear
        linear.bias[...] = linear.bias[...] - jnp.diagonal(self.first_preactivations(x_UxI))

    def _binned_first_dense(self, x_NxI: jax.Array, bin_N: jax.Array, noise_dim: int) -> jax.Array:
        """The first layer on the input with the noise bin's one-hot code appended, scaled by
        sqrt(noise_dim) so that it moves the layer as much as the noise does. The code's rows are the
        kernel's last `input_bins`, and the product with a one-hot code is a lookup of one of them:
        unlike the label embedding's 10 rows, 1,000 bins make the product the slower (a protocol-grid-25
        run took 1.3x as long with it)."""
        linear = self._first_linear
        kernel = linear.kernel[...]
        n_in = x_NxI.shape[1]
        return x_NxI @ kernel[:n_in] + linear.bias[...][None] + kernel[n_in:][bin_N] * jnp.sqrt(noise_dim)

    def __call__(self, x_NxI: jax.Array, y_N: jax.Array, *, train: bool = False, key: jax.Array | None = None):
        """`y_N` (int labels) is used only by conditional models; `key` drives dropout when `train`
        (without a key, no dropout)."""
        noise_dim = x_NxI.shape[1]
        bin_N = noise_bin(x_NxI[:, 0], self.input_bins) if self.input_bins else None
        if self.conditioning == "embedding":
            # The lookup as a one-hot product: on the CPU its gradient is a matrix product, not a slow scatter.
            x_NxI = x_NxI * (jax.nn.one_hot(y_N, self.n_classes, dtype=x_NxI.dtype) @ self.embedding.embedding[...])
        elif self.conditioning == "one-hot":
            x_NxI = jnp.concatenate([x_NxI, jax.nn.one_hot(y_N, self.n_classes, dtype=x_NxI.dtype)], axis=1)
        for i in range(len(self.layers) - 1):
            if i == 0 and bin_N is not None:
                x_NxI = self.activation(self._binned_first_dense(x_NxI, bin_N, noise_dim))
            else:
                x_NxI = self.activation(self._dense(i, x_NxI, train))
            if len(self.norms):
                x_NxI = self.norms[i](x_NxI, use_running_average=not train)
            if i < len(self.dropouts) and self.dropouts[i].rate > 0:
                drop_key = None if key is None else jax.random.fold_in(key, i)
                x_NxI = self.dropouts[i](x_NxI, deterministic=not train or key is None, rngs=drop_key)
        x_NxI = self._dense(len(self.layers) - 1, x_NxI, train)
        return jnp.tanh(x_NxI) if self.output == "tanh" else x_NxI


def make_generator(config: ModelConfig, data_dim: int, key: jax.Array, n_classes: int = 0) -> MLP:
    """Noise (N, noise_dim) and labels (N,) -> points (N, data_dim)."""
    return MLP(
        (config.noise_dim, *config.hidden, data_dim),
        config.activation,
        rngs=nnx.Rngs(key),
        output=config.output,
        batch_norm_momentum=config.batch_norm_momentum if config.batch_norm else None,
        conditioning=config.conditioning,
        n_classes=n_classes,
        input_bins=config.noise_bins,
    )


def make_discriminator(config: ModelConfig, data_dim: int, key: jax.Array, n_classes: int = 0) -> MLP:
    """Points (N, data_dim * pack) and labels (N,) -> logits (N, 1); D(x) = sigmoid(logit).

    With `config.pack` > 1 (PacGAN) each input row is `pack` points concatenated."""
    return MLP(
        (data_dim * config.pack, *(config.discriminator_hidden or config.hidden), 1),
        config.activation,
        rngs=nnx.Rngs(key),
        dropout=config.discriminator_dropout,
        conditioning=config.conditioning,
        n_classes=n_classes,
        spectral_norm=config.spectral_norm,
    )
