"""The kinds of data a scenario can learn, each in a package of its own, looked up by the name of its
scenario table (as gymnax's `make(name)` looks up an environment).

A kind gives the engine everything that depends on the data: the config class of its table, the
source of training batches, the probe that scores and draws frames, and how samples reach a user.
The engine, the config and the CLI know kinds only through this registry, so a new kind is a new
package and one line in `KIND_MODULES`. A kind with no networks to train (the Dirac-GAN game, two numbers)
gives its own `run` instead of a source and a probe, since the engine's compiled training, records and
checkpoints are all about networks; it still shares the scenario file, the run folder and the CLI.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

# The scenario table of each kind -> the module that defines its `KIND`.
KIND_MODULES = {
    "mixture": "toygan.twod.kind",
    "points": "toygan.twod.points_kind",
    "mnist": "toygan.mnist.kind",
    "dirac": "toygan.dirac.kind",
}
# Data files `toygan run FILE` learns directly, by suffix -> the kind whose table takes them as `path`.
FILE_KINDS = {".csv": "points", ".npy": "points"}


@dataclass(frozen=True)
class DataKind:
    """What the engine needs from one kind of data."""

    table: str  # the scenario's TOML table, e.g. "mixture"
    config: type  # the dataclass that table builds (frozen, hashable)
    make_source: Callable[[Any], Any]  # config -> a source of training batches (see `toygan.engine.train.Source`)
    make_probe: Callable[..., Any]  # (trainer, scenario, announce) -> the probe that scores and draws frames
    # (trainer, scenario, the state's shapes) -> the probe's work before the first frame, as jobs to run at once
    compile_ahead: Callable[..., list[Callable[[], Any]]] | None = None
    prepare: Callable[[dict], dict] = lambda table: table  # expands shorthands in the table before it is built
    check: Callable[[Any], None] = lambda scenario: None  # raises ToyganError for settings this kind cannot use
    to_samples: Callable[[np.ndarray], np.ndarray] = np.asarray  # generator output -> what `sample` returns
    sample_noun: str = "points"
    labelled: bool = False  # samples come with labels, so a conditional GAN can learn them
    with_data: Callable[[Any, str], Any] | None = None  # (config, --data path) -> config, for kinds read from a file
    resolve: Callable[[Any], Any] = lambda config: config  # the config as saved in a run folder (absolute paths)
    sweep_refusal: str = ""  # why `toygan sweep` cannot run this kind; "" when it can
    compare_refusal: str = ""  # why `toygan compare` cannot run this kind; "" when it can
    preview: Callable[[Any], tuple[list[str], Any]] | None = None  # data path -> (summary lines, figure) for `toygan data`
    defaults: dict[str, dict] = dataclasses.field(default_factory=dict)  # its own defaults in [train], [view]: {"train": {"steps": 500}}
    run: Callable[..., Any] | None = None  # (scenario, out, force, live, quiet, on_frame) -> result: a kind with no networks runs itself


def absolute_path(config):
    """`config` with its `path` made absolute ("" kept), so that resume, sample and eval find the data from any folder."""
    return dataclasses.replace(config, path=str(Path(config.path).expanduser().resolve())) if config.path else config


def tables() -> tuple[str, ...]:
    """The scenario tables that name a kind of data."""
    return tuple(KIND_MODULES)


def get(table: str) -> DataKind:
    """The kind whose scenario table is `table` (imported on first use)."""
    return importlib.import_module(KIND_MODULES[table]).KIND


def of(scenario) -> DataKind:
    """The kind of a scenario's data."""
    return get(type(scenario.data).table)
