"""The classic GAN log losses, written on logits so that they stay finite when D saturates."""

import jax
import jax.numpy as jnp


def discriminator_loss(real_logits_N: jax.Array, fake_logits_N: jax.Array) -> jax.Array:
    """-log D(x) - log(1 - D(G(z))), averaged; log D = log_sigmoid(l), log(1 - D) = log_sigmoid(-l)."""
    return -jnp.mean(jax.nn.log_sigmoid(real_logits_N)) - jnp.mean(jax.nn.log_sigmoid(-fake_logits_N))


def generator_loss(fake_logits_N: jax.Array, kind: str) -> jax.Array:
    """`non-saturating`: -log D(G(z)); `minimax`: log(1 - D(G(z))), the form that saturates early on."""
    if kind == "non-saturating":
        return -jnp.mean(jax.nn.log_sigmoid(fake_logits_N))
    if kind == "minimax":
        return jnp.mean(jax.nn.log_sigmoid(-fake_logits_N))
    raise ValueError(f"unknown generator loss {kind!r}")
