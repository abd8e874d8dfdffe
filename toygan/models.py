"""Flax NNX multilayer perceptrons for the generator and the discriminator."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from toygan.config import ModelConfig

_ACTIVATIONS = {"relu": jax.nn.relu, "leaky_relu": jax.nn.leaky_relu, "tanh": jnp.tanh, "elu": jax.nn.elu}


class MLP(nnx.Module):
    """Dense layers of the given widths with an activation between them and none after the last."""

    def __init__(self, widths: tuple[int, ...], activation: str, *, rngs: nnx.Rngs):
        self.layers = nnx.List(
            [nnx.Linear(n_in, n_out, rngs=rngs) for n_in, n_out in zip(widths[:-1], widths[1:])]
        )
        self.activation = _ACTIVATIONS[activation]

    def __call__(self, x_NxI: jax.Array) -> jax.Array:
        for layer in self.layers[:-1]:
            x_NxI = self.activation(layer(x_NxI))
        return self.layers[-1](x_NxI)


def make_generator(config: ModelConfig, data_dim: int, key: jax.Array) -> MLP:
    """Noise (N, noise_dim) -> points (N, data_dim)."""
    return MLP((config.noise_dim, *config.hidden, data_dim), config.activation, rngs=nnx.Rngs(key))


def make_discriminator(config: ModelConfig, data_dim: int, key: jax.Array) -> MLP:
    """Points (N, data_dim) -> logits (N, 1); D(x) = sigmoid(logit)."""
    return MLP((data_dim, *config.hidden, 1), config.activation, rngs=nnx.Rngs(key))
