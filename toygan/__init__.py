"""toygan: watch GANs learn.

import toygan
result = toygan.run("two-gaussians", steps=2000, seed=1)
points = result.sample(500)

In Jupyter with ipywidgets (the `notebook` extra) the run trains in the background beside buttons that
steer it, and `result` waits for its end when asked for its samples.
"""

from toygan.config import Scenario, list_scenarios, load_scenario
from toygan.engine.runner import Run, load_run, resume, run
from toygan.errors import ToyganError

__all__ = ["Run", "Scenario", "ToyganError", "list_scenarios", "load_run", "load_scenario", "resume", "run"]
