"""The classic 2-D toy sets of the GAN and flow papers, as exact samplers in JAX.

`sample(name, key, n)` draws `n` points, shape (n, 2) float32; jit-able with `name` and `n` static,
and deterministic in `key`. The constants are those of the papers' code, cited per set:
- WGAN-GP's toy code, igul222/improved_wgan_training gan_toy.py (Gulrajani et al. 2017);
- FFJORD's lib/toy_data.py, rtqichen/ffjord (Grathwohl et al. 2019), whose sets most flow and
  GAN papers since reuse.
Those draw a batch with numpy or scikit-learn; here each point is drawn independently from the
same distribution. Where the original fills a batch in fixed proportions (half per moon or spiral
arm, a fifth per pinwheel arm, moons evenly spaced along their arcs), a point's arm and position
are drawn at random instead: the distribution of a point is the same, the batch is not stratified.

No density is known for these sets, so they are scored as user points are (`toygan.twod.points`):
against a held-out sample, with other true samples as the unit. `ToySource` draws fresh training
batches on the device at every step (the sampler is exact, so no fixed training set is needed),
holds a fixed held-out sample, and draws its reference samples fresh too.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from toygan.errors import ToyganError
from toygan.twod.metrics import REFERENCE_DRAWS
from toygan.twod.points import HeldOutMetrics

TOY_SETS = ("swiss-roll", "moons", "spiral", "checkerboard", "pinwheel")
DESCRIPTIONS = {
    "swiss-roll": "a spiral sheet of one and a half turns, seen edge-on (WGAN-GP's toy set)",
    "moons": "two interleaved half circles (scikit-learn's make_moons, as in FFJORD)",
    "spiral": "two arms winding out from the centre, each the other turned half a turn (FFJORD's 2spirals)",
    "checkerboard": "8 of the 16 squares of a 4 x 4 board, filled uniformly (FFJORD)",
    "pinwheel": "5 curved arms around the centre (FFJORD, after Johnson et al. 2016)",
}
HELD_OUT_POINTS = 2000  # the held-out sample of a `ToySource`, as `toygan.twod.points.MAX_HELD_OUT`
STATS_POINTS = 200_000  # the sample the standardisation's mean and sd are estimated from
HELD_OUT_SALT = 0x401D
STATS_SALT = 0x57A7
REFERENCE_SALT = 0x5EED


def swiss_roll(key: jax.Array, n: int) -> jax.Array:
    """WGAN-GP (Gulrajani et al. 2017), gan_toy.py of igul222/improved_wgan_training:
    `sklearn.datasets.make_swiss_roll(n_samples, noise=0.25)[0][:, [0, 2]] / 7.5`. make_swiss_roll
    draws t = 1.5 pi (1 + 2 u), u ~ U[0, 1), and the point (t cos t, 21 u', t sin t) plus noise of sd
    `noise` on each coordinate; the middle coordinate is dropped here, so it is not drawn."""
    t_key, noise_key = jax.random.split(key)
    t_N = 1.5 * jnp.pi * (1 + 2 * jax.random.uniform(t_key, (n,)))
    roll_Nx2 = jnp.stack([t_N * jnp.cos(t_N), t_N * jnp.sin(t_N)], axis=1)
    return (roll_Nx2 + 0.25 * jax.random.normal(noise_key, (n, 2))) / 7.5


def moons(key: jax.Array, n: int) -> jax.Array:
    """FFJORD (Grathwohl et al. 2019), lib/toy_data.py "moons":
    `sklearn.datasets.make_moons(n_samples, noise=0.1)[0] * 2 + [-1, -0.2]`. make_moons puts half
    the points on the upper arc (cos a, sin a) and half on the lower one (1 - cos a, 1 - sin a - 0.5),
    a evenly spaced over [0, pi], plus noise of sd 0.1 on each coordinate; here each point's arc is
    a fair coin and a ~ U[0, pi]."""
    arc_key, angle_key, noise_key = jax.random.split(key, 3)
    lower_N = jax.random.bernoulli(arc_key, 0.5, (n,))
    a_N = jax.random.uniform(angle_key, (n,), maxval=jnp.pi)
    x_N = jnp.where(lower_N, 1 - jnp.cos(a_N), jnp.cos(a_N))
    y_N = jnp.where(lower_N, 0.5 - jnp.sin(a_N), jnp.sin(a_N))
    moons_Nx2 = jnp.stack([x_N, y_N], axis=1) + 0.1 * jax.random.normal(noise_key, (n, 2))
    return moons_Nx2 * 2 + jnp.array([-1.0, -0.2])[None]


def spiral(key: jax.Array, n: int) -> jax.Array:
    """FFJORD (Grathwohl et al. 2019), lib/toy_data.py "2spirals": s = sqrt(u) * 540 * 2 pi / 360
    (u ~ U[0, 1), so up to one and a half turns), the arm (-s cos s + 0.5 u1, s sin s + 0.5 u2)
    (u1, u2 ~ U[0, 1)), the other arm its negation, divided by 3, plus noise of sd 0.1. FFJORD
    fills half the batch from each arm; here each point's arm is a fair coin."""
    s_key, jitter_key, arm_key, noise_key = jax.random.split(key, 4)
    s_N = jnp.sqrt(jax.random.uniform(s_key, (n,))) * 540 * (2 * jnp.pi) / 360
    arm_Nx2 = jnp.stack([-jnp.cos(s_N) * s_N, jnp.sin(s_N) * s_N], axis=1) + 0.5 * jax.random.uniform(jitter_key, (n, 2))
    sign_N = jnp.where(jax.random.bernoulli(arm_key, 0.5, (n,)), -1.0, 1.0)
    return sign_N[:, None] * arm_Nx2 / 3 + 0.1 * jax.random.normal(noise_key, (n, 2))


def checkerboard(key: jax.Array, n: int) -> jax.Array:
    """FFJORD (Grathwohl et al. 2019), lib/toy_data.py "checkerboard": x1 ~ U[-2, 2), x2 ~ U[0, 1)
    or U[-2, -1) with equal odds, moved up by floor(x1) mod 2, both times 2: the squares of side 2
    in [-4, 4]^2 whose floor(x / 2) + floor(y / 2) is even."""
    x_key, y_key, row_key = jax.random.split(key, 3)
    x1_N = jax.random.uniform(x_key, (n,)) * 4 - 2
    x2_N = jax.random.uniform(y_key, (n,)) - jax.random.randint(row_key, (n,), 0, 2) * 2
    x2_N = x2_N + jnp.mod(jnp.floor(x1_N), 2)
    return jnp.stack([x1_N, x2_N], axis=1) * 2


PINWHEEL_ARMS = 5
PINWHEEL_RADIAL_SD = 0.3
PINWHEEL_TANGENTIAL_SD = 0.1
PINWHEEL_RATE = 0.25


def pinwheel(key: jax.Array, n: int) -> jax.Array:
    """FFJORD (Grathwohl et al. 2019), lib/toy_data.py "pinwheel" (from Johnson et al. 2016, SVAE):
    5 arms; a point (r, t) with r ~ N(1, 0.3), t ~ N(0, 0.1), turned clockwise by 2 pi k / 5 +
    0.25 exp(r) for its arm k, times 2. FFJORD takes a fifth of the batch from each arm; here each
    point's arm is uniform."""
    feature_key, arm_key = jax.random.split(key)
    scale_2 = jnp.array([PINWHEEL_RADIAL_SD, PINWHEEL_TANGENTIAL_SD])
    features_Nx2 = jax.random.normal(feature_key, (n, 2)) * scale_2[None] + jnp.array([1.0, 0.0])[None]
    arm_N = jax.random.randint(arm_key, (n,), 0, PINWHEEL_ARMS)
    angle_N = 2 * jnp.pi * arm_N / PINWHEEL_ARMS + PINWHEEL_RATE * jnp.exp(features_Nx2[:, 0])
    cos_N, sin_N = jnp.cos(angle_N), jnp.sin(angle_N)
    # FFJORD's einsum("ti,tij->tj", features, [[cos, -sin], [sin, cos]]): the row vector times the rotation.
    r_N, t_N = features_Nx2[:, 0], features_Nx2[:, 1]
    return 2 * jnp.stack([r_N * cos_N + t_N * sin_N, -r_N * sin_N + t_N * cos_N], axis=1)


_SAMPLERS = {"swiss-roll": swiss_roll, "moons": moons, "spiral": spiral, "checkerboard": checkerboard, "pinwheel": pinwheel}


def check_name(name: str, where: str = "toy set") -> str:
    if name not in _SAMPLERS:
        raise ToyganError(f"{where} {name!r} is not known: choose one of {', '.join(TOY_SETS)}")
    return name


def sample(name: str, key: jax.Array, n: int) -> jax.Array:
    """`n` points of the toy set `name` (one of `TOY_SETS`), shape (n, 2) float32; jit-able with
    `name` and `n` static, deterministic in `key`."""
    return _SAMPLERS[check_name(name)](key, n).astype(jnp.float32)


@dataclass(frozen=True, eq=False)
class ToySource(HeldOutMetrics):
    """Training batches drawn fresh from a toy set at every step; the labels are all 0.

    Slots in beside `toygan.twod.source.MixtureSource` and `toygan.twod.points.PointSource`: `draw` gives
    standardised points ((x - mean) / sd per axis, both estimated from `STATS_POINTS` points),
    `to_data` maps the generator's output back. `held_out_MxD` is a fixed sample for the metrics
    (`toygan.twod.points.evaluate_sample`); the reference samples are fresh draws of its size. Hashed by
    identity, so that it can be a static argument of `jax.jit`."""

    name: str
    held_out_MxD: np.ndarray
    mean_D: np.ndarray
    std_D: np.ndarray

    n_classes = 0
    dim = 2

    @classmethod
    def create(cls, name: str, seed: int = 0, held_out: int = HELD_OUT_POINTS) -> ToySource:
        key = jax.random.key(seed)
        draw = jax.jit(sample, static_argnums=(0, 2))
        held_out_MxD = np.asarray(draw(check_name(name), jax.random.fold_in(key, HELD_OUT_SALT), held_out))
        stats_SxD = np.asarray(draw(name, jax.random.fold_in(key, STATS_SALT), STATS_POINTS), np.float64)
        return cls(name, held_out_MxD, stats_SxD.mean(axis=0).astype(np.float32), stats_SxD.std(axis=0).astype(np.float32))

    def arrays(self) -> tuple:
        return ()

    def sample(self, key: jax.Array, n: int) -> jax.Array:
        """`n` fresh points of the toy set, data coordinates; jit-able."""
        return sample(self.name, key, n)

    def draw(self, arrays: tuple, key: jax.Array, n: int, group: int = 1) -> tuple[jax.Array, jax.Array]:
        """`group` is for labelled data; unlabelled points have nothing to group by."""
        return self.to_model(self.sample(key, n)), jnp.zeros((n,), jnp.int32)

    def to_model(self, x_NxD: jax.Array) -> jax.Array:
        return (x_NxD - jnp.asarray(self.mean_D)[None]) / jnp.asarray(self.std_D)[None]

    def to_data(self, x_NxD: jax.Array) -> jax.Array:
        return x_NxD * jnp.asarray(self.std_D)[None] + jnp.asarray(self.mean_D)[None]

    def reference_samples(self, key: jax.Array, draws: int = REFERENCE_DRAWS) -> jax.Array:
        """`draws` fresh samples of the held-out size, shape (draws, M, 2); jit-able."""
        keys = jax.random.split(jax.random.fold_in(key, REFERENCE_SALT), draws)
        return jax.lax.map(lambda k: self.sample(k, self.held_out_MxD.shape[0]), keys)
