"""GAN objectives, each written once, as pure JAX functions of the discriminator's raw outputs.

The discriminator (the "critic" for the Wasserstein objectives) returns one unbounded number per sample:
a logit for "log", a critic value for the others. Every loss here takes those raw outputs, shape (N,), and
returns a scalar to be minimised: the discriminator minimises `discriminator_loss`, the generator minimises
`generator_loss` (both sides minimise, the way the optimisers see it).

    name             paper                                     discriminator loss                      generator loss
    log              Goodfellow et al. 2014                    -E log s(D(x)) - E log(1 - s(D(G(z))))   -E log s(D(G(z)))   (non-saturating)
                                                                                                        E log(1 - s(D(G(z))))  (minimax)
    wgan             Arjovsky, Chintala, Bottou 2017           E D(G(z)) - E D(x)  (+ weight clipping)  -E D(G(z))
    wgan-gp          Gulrajani et al. 2017                     E D(G(z)) - E D(x)  (+ gradient penalty) -E D(G(z))
    hinge            Lim & Ye 2017; Miyato et al. 2018         E relu(1 - D(x)) + E relu(1 + D(G(z)))   -E D(G(z))
    least-squares    Mao et al. 2017 (LSGAN)                   E (D(x) - b)^2 / 2 + E (D(G(z)) - a)^2 / 2  E (D(G(z)) - c)^2 / 2

(s is the logistic sigmoid.) The constraints that make a critic's loss mean something, weight clipping
(`clip_weights`) and the gradient penalty (`gradient_penalty`), act on the critic's parameters and inputs, not
on its outputs, so they are separate functions; so is the R1 penalty (`r1_penalty`, Mescheder et al. 2018),
which any objective can add.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp

OBJECTIVES = ("log", "wgan", "wgan-gp", "hinge", "least-squares")
GENERATOR_FORMS = ("non-saturating", "minimax")  # the two generator losses of "log"

# LSGAN's targets (a, b, c): D pushes fakes to a and reals to b, G pushes its fakes to c.
LSGAN_CODINGS = {
    # b - c = 1 and b - a = 2: the setting for which Mao et al. prove that G, against the optimal D, minimises
    # the Pearson chi^2 divergence between p_data + p_g and 2 p_g. The default.
    "pearson": (-1.0, 1.0, 0.0),
    # 0-1 coding with c = b: G wants its fakes scored as real. No divergence result; the paper reports it
    # performing about as well as the Pearson setting.
    "0-1": (0.0, 1.0, 1.0),
}
LSGAN_DEFAULT_CODING = "pearson"

# The hyperparameters each paper's algorithm box (or experiments) fixes. d_steps: critic updates per
# generator update. Optimisers are named, not built: "adam" with beta1, beta2; "rmsprop".
PAPER_DEFAULTS: dict[str, dict] = {
    # Goodfellow et al. 2014, Algorithm 1: k = 1 discriminator step per generator step (momentum SGD).
    "log": dict(d_steps=1),
    # Arjovsky et al. 2017, Algorithm 1: alpha = 5e-5, c = 0.01, m = 64, n_critic = 5, RMSProp.
    "wgan": dict(optimizer="rmsprop", lr=5e-5, clip=0.01, d_steps=5, batch_size=64),
    # Gulrajani et al. 2017, Algorithm 1: lambda = 10, n_critic = 5, Adam(alpha = 1e-4, beta1 = 0, beta2 = 0.9).
    # beta1 is 0 in the paper's Algorithm 1 (not 0.5).
    "wgan-gp": dict(optimizer="adam", gp_lambda=10.0, d_steps=5, lr=1e-4, beta1=0.0, beta2=0.9),
    # Miyato et al. 2018 use the hinge loss across several optimiser settings; none is the hinge loss's own.
    "hinge": dict(),
    # Mao et al. 2017: the targets a, b, c (here the Pearson chi^2 setting, LSGAN_CODINGS["pearson"]).
    "least-squares": dict(zip(("a", "b", "c"), LSGAN_CODINGS[LSGAN_DEFAULT_CODING], strict=True)),
}

# What each objective's loss curves estimate, for the view's legend.
CURVE_MEANING = {
    "log": "D loss at 2 ln 2 = 1.386 is chance (D(x) = 1/2); against the optimal D it is 2 ln 2 - 2 JSD(data, G), "
    "so lower means D tells them apart; G's non-saturating loss is -log D(G(z)), the minimax one log(1 - D(G(z)))",
    "wgan": "-critic loss estimates K times the Wasserstein-1 distance between data and generator, K the Lipschitz "
    "bound that clipping imposes; G's loss -E[D(G(z))] has an arbitrary offset, only its changes mean something",
    "wgan-gp": "-critic loss (without the penalty) estimates the Wasserstein-1 distance between data and generator; "
    "G's loss -E[D(G(z))] has an arbitrary offset, only its changes mean something",
    "hinge": "D loss 2 is chance (D = 0 everywhere), 0 means every real scores >= 1 and every fake <= -1; "
    "G's loss -E[D(G(z))] is the fakes' mean score, negated",
    "least-squares": "D loss 1 is chance (D = 0, halfway between the targets a = -1 and b = 1), 0 is perfect; "
    "G's loss, plus the same term on real data (which does not move G's optimum), is against the optimal D half the "
    "Pearson chi^2 divergence between data + G and 2 G",
}

# The same in a few words, for the curves panel's title.
CURVE_LINE = {
    "log": "D loss 1.386 is chance (D = 1/2)",
    "wgan": "-D loss estimates K x W1(data, G)",
    "wgan-gp": "-D loss estimates W1(data, G)",
    "hinge": "D loss 2 is chance, 0 all margins met",
    "least-squares": "D loss 1 is chance, 0 perfect",
}

# Whether the discriminator's output is a logit of a probability (show sigmoid(D)) or a raw critic value.
HAS_PROBABILITY = {name: name == "log" for name in OBJECTIVES}


# --- log (Goodfellow et al. 2014) ---------------------------------------------------------------------------


def log_discriminator_loss(real_N: jax.Array, fake_N: jax.Array) -> jax.Array:
    """Goodfellow et al. 2014, "Generative Adversarial Nets", Eq. 1 for D: -E log D(x) - E log(1 - D(G(z))),
    with D = sigmoid(logit); log D = log_sigmoid(l) and log(1 - D) = log_sigmoid(-l) stay finite when D saturates."""
    return -jnp.mean(jax.nn.log_sigmoid(real_N)) - jnp.mean(jax.nn.log_sigmoid(-fake_N))


def log_generator_loss(fake_N: jax.Array, form: str = "non-saturating") -> jax.Array:
    """Goodfellow et al. 2014: "minimax" is Eq. 1 for G, E log(1 - D(G(z))), whose gradient vanishes while D
    rejects the fakes; "non-saturating" is the paper's alternative, -E log D(G(z)) (same fixed point)."""
    if form == "non-saturating":
        return -jnp.mean(jax.nn.log_sigmoid(fake_N))
    if form == "minimax":
        return jnp.mean(jax.nn.log_sigmoid(-fake_N))
    raise ValueError(f"unknown generator form {form!r}: one of {GENERATOR_FORMS}")


# --- Wasserstein (Arjovsky et al. 2017; Gulrajani et al. 2017) ---------------------------------------------


def wasserstein_critic_loss(real_N: jax.Array, fake_N: jax.Array) -> jax.Array:
    """Arjovsky, Chintala, Bottou 2017, "Wasserstein GAN", Algorithm 1: E D(G(z)) - E D(x). Its negation,
    for a K-Lipschitz critic at its best, is K * W_1(data, G) (Kantorovich-Rubinstein duality)."""
    return jnp.mean(fake_N) - jnp.mean(real_N)


def wasserstein_generator_loss(fake_N: jax.Array) -> jax.Array:
    """Arjovsky et al. 2017, Algorithm 1 (also Gulrajani et al. 2017): -E D(G(z))."""
    return -jnp.mean(fake_N)


def clip_weights(params, c: float = 0.01):
    """Arjovsky et al. 2017, Algorithm 1, line 7: every floating-point leaf of the critic's parameters clipped
    to [-c, c], after each critic update (c = 0.01 in the paper). Other leaves (counters) pass through."""

    def clip(leaf):
        return jnp.clip(leaf, -c, c) if jnp.issubdtype(jnp.asarray(leaf).dtype, jnp.inexact) else leaf

    return jax.tree.map(clip, params)


def _norm_N(g_NxF: jax.Array) -> jax.Array:
    """Row norms with a finite gradient (0) where a row is 0: sqrt's derivative is infinite there."""
    sq_N = jnp.sum(g_NxF**2, axis=1)
    positive_N = sq_N > 0
    return jnp.where(positive_N, jnp.sqrt(jnp.where(positive_N, sq_N, 1.0)), 0.0)


def _input_gradients(critic: Callable[[jax.Array], jax.Array], x: jax.Array) -> jax.Array:
    """grad_x D(x) for each sample, flattened to (N, F). The sum over the batch separates per sample as long as
    the critic treats samples independently (no batch norm: the WGAN-GP paper drops it for that reason)."""
    return jax.grad(lambda x: jnp.sum(critic(x)))(x).reshape(x.shape[0], -1)


def gradient_penalty(
    critic: Callable[[jax.Array], jax.Array], real: jax.Array, fake: jax.Array, key: jax.Array, gp_lambda: float = 10.0
) -> jax.Array:
    """Gulrajani et al. 2017, "Improved Training of Wasserstein GANs", Algorithm 1, lines 4-7:
    lambda * E[(||grad_x D(x_hat)||_2 - 1)^2] at x_hat = eps * x + (1 - eps) * G(z), eps ~ U[0, 1] per sample.

    `critic` maps a batch (N, ...) to outputs (N,) (or (N, 1)); `real` and `fake` are batches of the same shape.
    Added to the critic's loss; differentiable in the critic's parameters (closed over by `critic`)."""
    eps = jax.random.uniform(key, real.shape[:1] + (1,) * (real.ndim - 1), real.dtype)
    x_hat = eps * real + (1.0 - eps) * fake
    return gp_lambda * jnp.mean((_norm_N(_input_gradients(critic, x_hat)) - 1.0) ** 2)


def r1_penalty(critic: Callable[[jax.Array], jax.Array], real: jax.Array, gamma: float) -> jax.Array:
    """Mescheder, Geiger, Nowozin 2018, "Which Training Methods for GANs do actually Converge?", Eq. 9:
    gamma / 2 * E_data ||grad_x D(x)||^2, on real data only. (`toygan.engine.train` computes the same on packed inputs.)"""
    return gamma / 2 * jnp.mean(jnp.sum(_input_gradients(critic, real) ** 2, axis=1))


# --- hinge (Lim & Ye 2017; Miyato et al. 2018) --------------------------------------------------------------


def hinge_discriminator_loss(real_N: jax.Array, fake_N: jax.Array) -> jax.Array:
    """Lim & Ye 2017, "Geometric GAN" (SVM margin); Miyato et al. 2018, "Spectral Normalization for GANs":
    E relu(1 - D(x)) + E relu(1 + D(G(z)))."""
    return jnp.mean(jax.nn.relu(1.0 - real_N)) + jnp.mean(jax.nn.relu(1.0 + fake_N))


def hinge_generator_loss(fake_N: jax.Array) -> jax.Array:
    """Lim & Ye 2017; Miyato et al. 2018: -E D(G(z))."""
    return -jnp.mean(fake_N)


# --- least squares (Mao et al. 2017) ------------------------------------------------------------------------


def least_squares_discriminator_loss(real_N: jax.Array, fake_N: jax.Array, a: float = -1.0, b: float = 1.0) -> jax.Array:
    """Mao et al. 2017, "Least Squares Generative Adversarial Networks", D's loss:
    E (D(x) - b)^2 / 2 + E (D(G(z)) - a)^2 / 2. Default a = -1, b = 1 (the Pearson chi^2 setting);
    the 0-1 coding is a = 0, b = 1 (see LSGAN_CODINGS)."""
    return 0.5 * jnp.mean((real_N - b) ** 2) + 0.5 * jnp.mean((fake_N - a) ** 2)


def least_squares_generator_loss(fake_N: jax.Array, c: float = 0.0) -> jax.Array:
    """Mao et al. 2017, G's loss: E (D(G(z)) - c)^2 / 2. Default c = 0 (Pearson chi^2); the 0-1 coding has c = 1."""
    return 0.5 * jnp.mean((fake_N - c) ** 2)


# --- a generator term any objective can add ---------------------------------------------------------------


def mode_seeking_term(x_NxD: jax.Array, z_NxZ: jax.Array, epsilon: float = 1e-5) -> jax.Array:
    """MSGAN's term (Mao et al. 2019), 1 / (mean |x_a - x_b| / mean |z_a - z_b| + epsilon), over the
    pairs (a, b) of consecutive rows: small when different noise gives different samples."""
    x_MxD, z_MxZ = x_NxD.reshape(-1, 2, x_NxD.shape[1]), z_NxZ.reshape(-1, 2, z_NxZ.shape[1])
    ratio = jnp.mean(jnp.abs(x_MxD[:, 0] - x_MxD[:, 1])) / jnp.mean(jnp.abs(z_MxZ[:, 0] - z_MxZ[:, 1]))
    return 1.0 / (ratio + epsilon)


# --- registry -----------------------------------------------------------------------------------------------


def _check(name: str) -> None:
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}: one of {OBJECTIVES}")


def discriminator_loss(name: str, real_N: jax.Array, fake_N: jax.Array, *, coding: str = LSGAN_DEFAULT_CODING) -> jax.Array:
    """The loss D minimises under objective `name`, from its raw outputs on real and fake samples. For "wgan"
    and "wgan-gp" the constraint (`clip_weights`, `gradient_penalty`) is separate; `coding` picks LSGAN's a, b."""
    _check(name)
    if name == "log":
        return log_discriminator_loss(real_N, fake_N)
    if name in ("wgan", "wgan-gp"):
        return wasserstein_critic_loss(real_N, fake_N)
    if name == "hinge":
        return hinge_discriminator_loss(real_N, fake_N)
    a, b, _ = LSGAN_CODINGS[coding]
    return least_squares_discriminator_loss(real_N, fake_N, a, b)


def generator_loss(name: str, fake_N: jax.Array, form: str | None = None, *, coding: str = LSGAN_DEFAULT_CODING) -> jax.Array:
    """The loss G minimises under objective `name`, from D's raw outputs on its samples. `form` is the log
    objective's generator loss ("non-saturating" by default, or "minimax"); the other objectives have one form."""
    _check(name)
    if name == "log":
        return log_generator_loss(fake_N, form or "non-saturating")
    if form is not None:
        raise ValueError(f"objective {name!r} has one generator loss; form {form!r} applies to 'log' only")
    if name in ("wgan", "wgan-gp"):
        return wasserstein_generator_loss(fake_N)
    if name == "hinge":
        return hinge_generator_loss(fake_N)
    return least_squares_generator_loss(fake_N, LSGAN_CODINGS[coding][2])


def shown_output(name: str, out_N: jax.Array) -> jax.Array:
    """What a view shows of D's output: the probability sigmoid(D) for "log", the raw critic value otherwise."""
    _check(name)
    return jax.nn.sigmoid(out_N) if HAS_PROBABILITY[name] else out_N
