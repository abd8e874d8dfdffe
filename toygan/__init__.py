"""toygan: watch GANs learn.

import toygan
result = toygan.run("two-gaussians", steps=2000, seed=1)
points = result.sample(500)

In Jupyter with ipywidgets (the `notebook` extra) the run trains in the background beside buttons that
steer it, and `result` waits for its end when asked for its samples.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from toygan.errors import ToyganError

if TYPE_CHECKING:
    from toygan.config import Scenario, list_scenarios, load_scenario
    from toygan.engine.runner import Run, load_run, resume, run

__all__ = ["Run", "Scenario", "ToyganError", "list_scenarios", "load_run", "load_scenario", "resume", "run"]

# Imported on first use, so that `toygan --help` and a mistyped command answer without loading JAX.
_HOMES = {"Scenario": "toygan.config", "list_scenarios": "toygan.config", "load_scenario": "toygan.config"}
_HOMES.update(dict.fromkeys(("Run", "load_run", "resume", "run"), "toygan.engine.runner"))


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'toygan' has no attribute '{name}'")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value
