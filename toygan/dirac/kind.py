"""The Dirac-GAN game (Mescheder et al. 2018), written as a scenario's `[dirac]` table: which objectives,
update schemes and penalties to show side by side, one panel of the (theta, psi) plane each.

The game has no networks and no data to sample, so it runs itself (`toygan.dirac.run`) instead of going
through the engine's compiled training. Of the shared tables it reads what a two-parameter game has:
[train]'s steps, learning rates (plain gradient-descent steps, as in the paper), generator loss, d_steps,
unroll, WGAN's clip and the penalties' weights, and [view]'s frame interval and GIF rate; any other setting
is refused rather than ignored.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

from toygan.config import VIEW_PANELS, ModelConfig, TrainConfig, ViewConfig
from toygan.dirac.game import SCHEMES
from toygan.engine.objectives import OBJECTIVES
from toygan.errors import ToyganError
from toygan.kinds import DataKind

PENALTIES = ("none", "r1", "gp")
MAX_STEPS = 100_000

# The settings of Mescheder's DiracGAN notebook (LMescheder/GAN_stability, notebooks/DiracGAN.ipynb): step
# h = 0.2 for both players, 500 steps, WGAN's psi clipped to [-1, 1], R1 weight 0.3, and WGAN-GP's pull of
# 0.7 (|psi| - 1) on psi, which is gp_lambda (|psi| - 1)^2 at gp_lambda = 0.35. A frame every 10 steps.
DEFAULTS = {
    "train": {
        "steps": 500,
        "lr_generator": 0.2,
        "lr_discriminator": 0.2,
        "lr_schedule": "constant",
        "clip": 1.0,
        "r1_gamma": 0.3,
        "gp_lambda": 0.35,
    },
    "view": {"frame_every": 10},
}
# What the game reads of the shared tables; the rest must stay at its default.
USED = {
    "train": {"steps", "lr_generator", "lr_discriminator", "generator_loss", "d_steps", "unroll", "clip", "r1_gamma", "gp_lambda"},
    "view": {"frame_every", "fps", "gif_max_frames"},
}
PANEL_HINT = "its panels are dirac.objectives x dirac.schemes x dirac.penalties"
HINTS = {
    "loss": "list the objectives to show in dirac.objectives",
    "updates": "list the update schemes to show in dirac.schemes",
    "lr_schedule": "the game takes steps of constant size",
    **{panel: f"leave --views out: {PANEL_HINT}" for panel in VIEW_PANELS},
}


@dataclass(frozen=True)
class DiracConfig:
    """The game's start and the panels to show: every objective x scheme x penalty listed, one panel each."""

    table: ClassVar[str] = "dirac"

    theta0: float = 1.0
    """Where the generator starts: it outputs theta (the data are at 0)."""
    psi0: float = 1.0
    """Where the discriminator starts: D(x) = psi * x."""
    objectives: tuple[str, ...] = ("log", "wgan")
    """Objectives to show (`train.loss`'s names): log, wgan (psi clipped to train.clip), wgan-gp, hinge, least-squares."""
    schemes: tuple[str, ...] = ("simultaneous", "alternating")
    """Update schemes to show: simultaneous (both players from the same point), alternating (G answers the new D)."""
    penalties: tuple[str, ...] = ("none", "r1")
    """Penalties on D to show: none; r1, train.r1_gamma / 2 * psi^2 (Mescheder et al. 2018); gp, WGAN-GP's
    train.gp_lambda * (|psi| - 1)^2 (Gulrajani et al. 2017)."""
    tolerance: float = 0.05
    """A panel converges when its distance to the equilibrium (0, 0) after the last step is below this."""
    extent: float = 2.0
    """The plane drawn: [-extent, extent] on both axes."""

    def __post_init__(self):
        for name, choices in (("objectives", OBJECTIVES), ("schemes", SCHEMES), ("penalties", PENALTIES)):
            values = getattr(self, name)
            if not values:
                raise ToyganError(f"dirac.{name} is empty: list at least one of {', '.join(choices)}")
            for value in values:
                if value not in choices:
                    raise ToyganError(f"dirac.{name} '{value}' is unknown: choose from {', '.join(choices)}")
            if len(set(values)) < len(values):
                raise ToyganError(f"dirac.{name} lists a value twice ({list(values)}): list each once")
        for name in ("theta0", "psi0"):
            if not math.isfinite(getattr(self, name)):
                raise ToyganError(f"dirac.{name} must be a finite number, got {getattr(self, name)}")
        for name in ("tolerance", "extent"):
            value = getattr(self, name)
            if not value > 0 or not math.isfinite(value):
                raise ToyganError(f"dirac.{name} must be positive, got {value}")


def check(scenario) -> None:
    """Refuse the settings the game has no use for, naming the first, and R1 panels without a weight."""
    if scenario.seed != 0:
        raise ToyganError("the Dirac-GAN game is deterministic (no noise, no batches): leave --seed and seed out")
    if scenario.published:
        raise ToyganError("published results are for sweeps of 2-D scenarios: leave published out of a [dirac] scenario")
    expected = {
        "model": ModelConfig(),
        "train": TrainConfig(**DEFAULTS["train"]),
        "view": ViewConfig(**DEFAULTS["view"]),
    }
    for section, default in expected.items():
        config = getattr(scenario, section)
        for field in dataclasses.fields(config):
            if field.name not in USED.get(section, ()) and getattr(config, field.name) != getattr(default, field.name):
                hint = HINTS.get(field.name, "the game has no networks and no data: remove it")
                raise ToyganError(f"{section}.{field.name} does not apply to the Dirac-GAN game ({hint})")
    if scenario.train.steps > MAX_STEPS:
        raise ToyganError(
            f"train.steps must be at most {MAX_STEPS:,} for the Dirac-GAN game (trajectories.csv holds every step of every panel), "
            f"got {scenario.train.steps:,}"
        )
    if "r1" in scenario.data.penalties and scenario.train.r1_gamma == 0:
        raise ToyganError(
            'train.r1_gamma is 0, so the "r1" panels would have no penalty: set it above 0, or drop "r1" from dirac.penalties'
        )


def no_networks(*args):
    raise ToyganError(
        "a dirac-gan run is a game of two numbers with no networks: there is nothing to resume, sample or evaluate; "
        "its results are in the run folder's summary.json and trajectories.csv"
    )


def run(scenario, **options):
    from toygan.dirac.run import run as run_game

    return run_game(scenario, **options)


KIND = DataKind(
    table="dirac",
    config=DiracConfig,
    make_source=no_networks,
    make_probe=no_networks,
    check=check,
    sweep_refusal="the Dirac-GAN game is deterministic, so seeds do not vary it; its settings are side by side in one run already "
    "(dirac.objectives, dirac.schemes, dirac.penalties): use `toygan run dirac-gan`",
    compare_refusal="its settings are side by side in one run already: list them in dirac.objectives, dirac.schemes and "
    "dirac.penalties, and run `toygan run dirac-gan`",
    defaults=DEFAULTS,
    run=run,
)
