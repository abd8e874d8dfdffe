"""The classic GAN log losses, written on logits so that they stay finite when D saturates."""

import jax
import jax.numpy as jnp


def discriminator_loss(real_logits_N: jax.Array, fake_logits_N: jax.Array) -> jax.Array:
    """-log D(x) - log(1 - D(G(z))), averaged; log D = log_sigmoid(l), log(1 - D) = log_sigmoid(-l)."""
    return -jnp.mean(jax.nn.log_sigmoid(real_logits_N)) - jnp.mean(jax.nn.log_sigmoid(-fake_logits_N))


def generator_loss(fake_logits_N: jax.Array, kind: str, keep: jax.Array | float = 1.0) -> jax.Array:
    """`non-saturating`: -log D(G(z)); `minimax`: log(1 - D(G(z))), the form that saturates early on.

    `keep` < 1 averages over only the ceil(keep * N) fakes with the highest logits (top-k training):
    the others get no gradient."""
    if kind == "non-saturating":
        loss_N = -jax.nn.log_sigmoid(fake_logits_N)
    elif kind == "minimax":
        loss_N = jax.nn.log_sigmoid(-fake_logits_N)
    else:
        raise ValueError(f"unknown generator loss {kind!r}")
    if isinstance(keep, float) and keep >= 1.0:
        return jnp.mean(loss_N)
    n = fake_logits_N.shape[0]
    k = jnp.clip(jnp.ceil(keep * n).astype(jnp.int32), 1, n)
    threshold = jnp.sort(fake_logits_N)[n - k]  # the k-th highest logit
    kept_N = fake_logits_N >= threshold
    return jnp.sum(jnp.where(kept_N, loss_N, 0.0)) / jnp.sum(kept_N)


def mode_seeking_term(x_NxD: jax.Array, z_NxZ: jax.Array, epsilon: float = 1e-5) -> jax.Array:
    """MSGAN's term (Mao et al. 2019), 1 / (mean |x_a - x_b| / mean |z_a - z_b| + epsilon), over the
    pairs (a, b) of consecutive rows: small when different noise gives different samples."""
    x_MxD, z_MxZ = x_NxD.reshape(-1, 2, x_NxD.shape[1]), z_NxZ.reshape(-1, 2, z_NxZ.shape[1])
    ratio = jnp.mean(jnp.abs(x_MxD[:, 0] - x_MxD[:, 1])) / jnp.mean(jnp.abs(z_MxZ[:, 0] - z_MxZ[:, 1]))
    return 1.0 / (ratio + epsilon)
