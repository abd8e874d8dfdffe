"""2-D data with no known density, written as a scenario's `[points]` table: a file of your own points
(`path`, .csv or .npy), or one of the classic toy sets (`toy`), learned as an empirical distribution and
scored against held-out points."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import ClassVar

from toygan.errors import ToyganError
from toygan.kinds import DataKind, absolute_path
from toygan.twod import toysets
from toygan.twod.points import PointSource


@dataclass(frozen=True)
class PointsConfig:
    """Exactly one of `path` (an N x 2 .csv, with or without a header, or .npy) and `toy` (a toy set's name)."""

    table: ClassVar[str] = "points"

    path: str = ""
    toy: str = ""


@functools.lru_cache(maxsize=4)
def make_source(config: PointsConfig):
    """The training and held-out points, split once per process (seed 0: every run of a file holds out the
    same points, so their figures compare)."""
    if config.toy:
        return toysets.ToySource.create(config.toy)
    return PointSource.load(config.path)


def check(scenario) -> None:
    config = scenario.data
    if bool(config.path) == bool(config.toy):
        raise ToyganError('[points] needs exactly one of path = "my-points.csv" and toy = "swiss-roll"')
    if config.toy:
        toysets.check_name(config.toy, "points.toy")
    if scenario.view.optimal_discriminator:
        raise ToyganError("view.optimal_discriminator needs the data's density, which [points] data have none of: turn that panel off")


def make_probe(trainer, scenario, announce=None):
    from toygan.twod.probe import PointProbe

    return PointProbe(trainer, scenario)


def compile_ahead(trainer, scenario, state):
    from toygan.twod.probe import PointProbe

    return PointProbe.compile_ahead(trainer, scenario, state)


KIND = DataKind(
    table="points",
    config=PointsConfig,
    make_source=make_source,
    make_probe=make_probe,
    compile_ahead=compile_ahead,
    check=check,
    with_data=lambda config, path: PointsConfig(path=str(path)),
    resolve=absolute_path,
)
