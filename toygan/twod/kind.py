"""2-D data of a known density: a Gaussian mixture, written as a scenario's `[mixture]` table."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from toygan.config import number
from toygan.errors import ToyganError
from toygan.kinds import DataKind
from toygan.twod.mixture import GaussianMixture
from toygan.twod.source import MixtureSource


@dataclass(frozen=True)
class MixtureConfig:
    """Mode weights, means and diagonal variances, listed mode by mode."""

    table: ClassVar[str] = "mixture"

    weights: tuple[float, ...]
    means: tuple[tuple[float, ...], ...]
    variances: tuple[tuple[float, ...], ...]

    def build(self) -> GaussianMixture:
        return GaussianMixture.create(self.weights, self.means, self.variances)


def expand(table) -> dict:
    """Turn the `kind = "ring"` and `kind = "grid"` shorthands into explicit weights, means and variances."""
    if not isinstance(table, dict):
        raise ToyganError("[mixture] must be a table")
    table = dict(table)
    kind = table.pop("kind", "explicit")
    if kind == "explicit":
        return table
    std = number(table.pop("std", None), "mixture.std")
    if kind == "ring":
        modes = table.pop("modes", None)
        radius = number(table.pop("radius", None), "mixture.radius")
        if not isinstance(modes, int) or isinstance(modes, bool) or modes <= 0:
            raise ToyganError(f"mixture.modes must be a positive integer, got {modes!r}")
        means = [(radius * math.cos(2 * math.pi * k / modes), radius * math.sin(2 * math.pi * k / modes)) for k in range(modes)]
    elif kind == "grid":
        coords = table.pop("coords", None)
        if not isinstance(coords, list) or not coords:
            raise ToyganError('mixture.coords must be a non-empty list of numbers for kind = "grid"')
        coords = [number(c, "mixture.coords") for c in coords]
        means = [(x, y) for x in coords for y in coords]
    else:
        raise ToyganError(f'mixture.kind \'{kind}\' is unknown: use "explicit", "ring" or "grid"')
    if table:
        raise ToyganError(f'mixture has unexpected keys {sorted(table)} for kind = "{kind}"')
    return {
        "weights": [1.0 / len(means)] * len(means),
        "means": [list(m) for m in means],
        "variances": [[std**2, std**2] for _ in means],
    }


def check(scenario) -> None:
    scenario.data.build()


def make_probe(trainer, scenario, announce=None):
    from toygan.twod.probe import MixtureProbe

    return MixtureProbe(trainer, scenario)


def compile_ahead(trainer, scenario, state):
    from toygan.twod.probe import MixtureProbe

    return MixtureProbe.compile_ahead(trainer, scenario, state)


KIND = DataKind(
    table="mixture",
    config=MixtureConfig,
    make_source=lambda config: MixtureSource(config.build()),
    make_probe=make_probe,
    compile_ahead=compile_ahead,
    prepare=expand,
    check=check,
)
