"""The Dirac-GAN of Mescheder, Geiger, Nowozin 2018, "Which Training Methods for GANs do actually Converge?"
(ICML 2018, Section 2 and Figs. 1-4): the smallest GAN that shows whether a training method converges.

The data are a point mass at x = 0; the generator is a point mass at theta; the discriminator is linear,
D(x) = psi * x. The only equilibrium is (theta, psi) = (0, 0). Both players minimise their losses from
toygan.engine.objectives, evaluated on D's outputs at the real point, D(0) = 0, and at the fake one, D(theta) = psi * theta.

Around the equilibrium the unregularised game's Jacobian has purely imaginary eigenvalues: simultaneous
gradient descent spirals outwards, alternating gradient descent circles, and neither converges. The R1
penalty gamma / 2 * |grad_x D(0)|^2 = gamma / 2 * psi^2 damps the rotation and both converge.

Sign convention: toygan's D scores real data high, the paper's (and its DiracGAN notebook's) scores fakes
high; the two fields are mirror images in psi, with the same equilibrium and the same (in)stability.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from toygan.engine import objectives

SCHEMES = ("simultaneous", "alternating")
PENALTIES = ("r1", "gp")


def _critic(psi):
    """D(x) = psi * x on a batch of 1-D points (N, 1) -> (N,)."""
    return lambda x_Nx1: psi * x_Nx1[:, 0]


def _resolve_penalty(objective: str, penalty: str | None) -> str:
    """gamma weighs the gradient penalty for "wgan-gp", the R1 penalty otherwise, unless `penalty` says which."""
    penalty = penalty or ("gp" if objective == "wgan-gp" else "r1")
    if penalty not in PENALTIES:
        raise ValueError(f"unknown penalty {penalty!r}: one of {PENALTIES}")
    return penalty


def _d_loss(objective: str, penalty: str, theta, psi, gamma):
    """D's loss at (theta, psi), with its penalty weighted by gamma: R1 at the real point, gamma / 2 * psi^2;
    WGAN-GP's, gamma * (|psi| - 1)^2 (D's gradient is psi everywhere, so the interpolates do not matter)."""
    critic = _critic(psi)
    real_Nx1, fake_Nx1 = jnp.zeros((1, 1)), jnp.reshape(theta, (1, 1))
    loss = objectives.discriminator_loss(objective, critic(real_Nx1), critic(fake_Nx1))
    if penalty == "r1":
        return loss + objectives.r1_penalty(critic, real_Nx1, gamma)
    return loss + objectives.gradient_penalty(critic, real_Nx1, fake_Nx1, jax.random.key(0), gamma)


def _g_loss(objective: str, form: str | None, theta, psi):
    return objectives.generator_loss(objective, _critic(psi)(jnp.reshape(theta, (1, 1))), form)


def _directions(objective, penalty, form, unroll, theta, psi, gamma, lr_d):
    """(d theta, d psi): minus the gradient of each player's loss in its own parameter. With `unroll` > 0, G's
    loss is taken after `unroll` gradient steps of D (step lr_d), differentiated through them (Metz et al. 2017)."""
    d_grad = jax.grad(lambda psi, theta: _d_loss(objective, penalty, theta, psi, gamma))

    def g_loss(theta):
        unrolled = psi
        for _ in range(unroll):
            unrolled = unrolled - lr_d * d_grad(unrolled, theta)
        return _g_loss(objective, form, theta, unrolled)

    return -jax.grad(g_loss)(theta), -d_grad(psi, theta)


@partial(jax.jit, static_argnames=("objective", "penalty", "form", "unroll"))
def vector_field(
    objective: str,
    theta,
    psi,
    gamma: float = 0.0,
    penalty: str | None = None,
    *,
    form: str | None = None,
    unroll: int = 0,
    lr: float = 0.1,
) -> tuple[jax.Array, jax.Array]:
    """The gradient-descent directions (d theta, d psi) of the Dirac-GAN under `objective` (toygan.engine.objectives),
    G and D each minimising its loss. `gamma` weighs a penalty on D: R1 (gamma / 2 * psi^2), or for "wgan-gp"
    (or penalty="gp") the gradient penalty gamma * (|psi| - 1)^2. `form`: the log objective's generator loss.
    `unroll` > 0: G sees D after that many steps of size `lr` (unrolled GAN)."""
    penalty = _resolve_penalty(objective, penalty)
    return _directions(objective, penalty, form, unroll, jnp.asarray(theta, jnp.float32), jnp.asarray(psi, jnp.float32), gamma, lr)


@partial(jax.jit, static_argnames=("objective", "scheme", "steps", "d_steps", "unroll", "penalty", "form", "clip"))
def _trajectory(objective, scheme, theta0, psi0, lr_g, lr_d, steps, gamma, d_steps, unroll, penalty, form, clip):
    def d_step(theta, psi):
        psi = psi + lr_d * _directions(objective, penalty, form, 0, theta, psi, gamma, lr_d)[1]
        return psi if clip is None else objectives.clip_weights(psi, clip)

    def g_step(theta, psi):
        return theta + lr_g * _directions(objective, penalty, form, unroll, theta, psi, gamma, lr_d)[0]

    def d_steps_from(theta, psi):
        return jax.lax.fori_loop(0, d_steps, lambda _, psi: d_step(theta, psi), psi)

    def step(carry, _):
        theta, psi = carry
        if scheme == "simultaneous":  # both players move from the same point
            theta, psi = g_step(theta, psi), d_steps_from(theta, psi)
        else:  # D's steps first, then G against the updated D, as toygan.engine.train's train_step does
            psi = d_steps_from(theta, psi)
            theta = g_step(theta, psi)
        return (theta, psi), jnp.stack([theta, psi])

    start = (jnp.asarray(theta0, jnp.float32), jnp.asarray(psi0, jnp.float32))
    if clip is not None:
        start = (start[0], objectives.clip_weights(start[1], clip))
    _, path_Tx2 = jax.lax.scan(step, start, None, length=steps)
    return jnp.concatenate([jnp.stack(start)[None], path_Tx2])


def trajectory(
    objective: str,
    scheme: str,
    theta0: float,
    psi0: float,
    lr: float | tuple[float, float],
    steps: int,
    gamma: float = 0.0,
    d_steps: int = 1,
    unroll: int = 0,
    *,
    penalty: str | None = None,
    form: str | None = None,
    clip: float | None = None,
) -> jax.Array:
    """(theta, psi) at the start and after each of `steps` training steps, shape (steps + 1, 2).

    A step is `d_steps` gradient steps of D and one of G, of size `lr` (or `(lr_g, lr_d)`): "simultaneous"
    computes both from the same point, "alternating" updates D first and then G against the new D.
    `gamma`, `penalty`, `form`, `unroll` as in `vector_field`; `clip`: WGAN's weight clipping of psi to
    [-clip, clip] after each D step (objectives.clip_weights). jit-compiled, a lax.scan over the steps."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme {scheme!r}: one of {SCHEMES}")
    lr_g, lr_d = lr if isinstance(lr, tuple) else (lr, lr)
    penalty = _resolve_penalty(objective, penalty)
    return _trajectory(objective, scheme, theta0, psi0, lr_g, lr_d, steps, gamma, d_steps, unroll, penalty, form, clip)


def distance_to_equilibrium(traj_Tx2) -> jax.Array:
    """sqrt(theta^2 + psi^2) at each step: the distance to the equilibrium (0, 0)."""
    traj_Tx2 = jnp.asarray(traj_Tx2)
    return jnp.sqrt(jnp.sum(traj_Tx2**2, axis=1))


def draw(
    ax,
    objective: str,
    scheme: str,
    traj_Tx2,
    *,
    gamma: float = 0.0,
    penalty: str | None = None,
    form: str | None = None,
    unroll: int = 0,
    lr: float = 0.1,
    lim: float = 2.0,
    n: int = 15,
    color: str = "C1",
):
    """The game's vector field (a quiver over [-lim, lim]^2) and the trajectory in the (theta, psi) plane, on a
    matplotlib Axes (no pyplot state): the start as a dot, the equilibrium (0, 0) as a star. Returns `ax`."""
    grid_n = np.linspace(-lim, lim, n, dtype=np.float32)
    theta_NxN, psi_NxN = np.meshgrid(grid_n, grid_n)
    field = jax.vmap(lambda t, p: vector_field(objective, t, p, gamma, penalty, form=form, unroll=unroll, lr=lr))
    d_theta, d_psi = (np.asarray(v).reshape(n, n) for v in field(theta_NxN.ravel(), psi_NxN.ravel()))
    ax.quiver(theta_NxN, psi_NxN, d_theta, d_psi, color="0.6", angles="xy", pivot="mid")
    traj_Tx2 = np.asarray(traj_Tx2)
    ax.plot(traj_Tx2[:, 0], traj_Tx2[:, 1], color=color, linewidth=1.2, label=scheme)
    ax.scatter(traj_Tx2[:1, 0], traj_Tx2[:1, 1], color=color, s=20, zorder=3)
    ax.scatter([0.0], [0.0], marker="*", color="k", s=80, zorder=3)
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xlabel("θ (generator)")
    ax.set_ylabel("ψ (discriminator)")
    regularised = f", γ = {gamma:g}" if gamma else ""
    name = f"{objective} ({form})" if form else objective
    ax.set_title(f"Dirac-GAN: {name}, {scheme}{regularised}")
    return ax
