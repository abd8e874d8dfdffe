"""toygan: watch GANs learn.

import toygan
result = toygan.run("two-gaussians", steps=2000, seed=1)
points = result.sample(500)
"""

from toygan.config import Scenario, list_scenarios, load_scenario
from toygan.engine.runner import Run, load_run, resume, run
from toygan.errors import ToyganError

__all__ = ["Run", "Scenario", "ToyganError", "list_scenarios", "load_run", "load_scenario", "resume", "run"]
