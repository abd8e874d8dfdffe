"""What the views cost: frames/s of each panel set, and a default run's wall time with all views on.

    python -m benchmarks.views [--steps 10000] [--repeats 2] [--json out.json]

End-to-end runs alternate (default, all, default, all, ...) so that drift in the machine's speed
falls on both alike; the ratio of the medians is reported.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

import toygan
from toygan.config import VIEW_PANELS, load_scenario
from toygan.engine.display import Display
from toygan.engine.gif import GifWriter
from toygan.engine.train import advance, make_trainer, start
from toygan.twod.probe import MixtureProbe
from toygan.twod.view import FrameView

PANEL_SETS = {"plain": [], "default": None, **{p: [p] for p in VIEW_PANELS}, "all": ["all"]}


def frames_per_second(scenario_name: str, panels: list[str] | None, frames: int = 40) -> dict[str, float]:
    """Host-side frame cost: update + draw + GIF encode, on a trained-for-a-while state."""
    scenario = load_scenario(scenario_name)
    if panels is not None:
        scenario = dataclasses.replace(scenario, view=scenario.view.with_panels(panels))
    trainer = make_trainer(scenario)
    key = jax.random.key(0)
    state = start(trainer, scenario)
    state, _ = advance(trainer, state, 200)
    probe = MixtureProbe(trainer, scenario)
    obs = jax.device_get(probe.observe(state))
    view = FrameView(
        Display().figure,
        trainer.source.bounds(),
        np.asarray(trainer.source.sample(key, 1000)),
        "bench",
        scenario.view,
        10_000,
        probe.curves,
        lambda obs: probe.verdict(probe.row(obs)),
    )
    history = {
        "step": [0, 50],
        "d_loss": [1.3],
        "g_loss": [0.7],
        "coverage": [0.5, 0.6],
        "precision": [0.9, 0.95],
        "modes_share": [1.0, 1.0],
        "sw_ratio": [3.0, 1.2],
    }
    with tempfile.TemporaryDirectory() as tmp, GifWriter(Path(tmp) / "b.gif", 10) as gif:
        view.update(50, obs, history, [])
        gif.append(view.render())
        started = time.perf_counter()
        for _ in range(frames):
            view.update(50, obs, history, [])
            frame = view.render()
        drawn = time.perf_counter()
        for _ in range(frames):
            gif.append(frame)
        encoded = time.perf_counter()
    draw_s, encode_s = (drawn - started) / frames, (encoded - drawn) / frames
    return {
        "draw_ms": 1e3 * draw_s,
        "gif_ms": 1e3 * encode_s,
        "frames_per_s": 1 / (draw_s + encode_s),
        "width": frame.shape[1],
        "height": frame.shape[0],
    }


def wall_time(scenario: str, steps: int, views: list[str] | None) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        toygan.run(scenario, steps=steps, out=Path(tmp) / "run", live=False, quiet=True, views=views)
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="two-gaussians")
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    results = {"frames": {}, "end_to_end": {}}
    print(f"{'panels':<24}{'draw ms':>9}{'gif ms':>8}{'frames/s':>10}  size")
    for name, panels in PANEL_SETS.items():
        r = frames_per_second(args.scenario, panels)
        results["frames"][name] = r
        print(f"{name:<24}{r['draw_ms']:>9.1f}{r['gif_ms']:>8.1f}{r['frames_per_s']:>10.1f}  {r['width']}x{r['height']}")

    walls = {"default": [], "all": []}
    for _ in range(args.repeats):
        walls["default"].append(wall_time(args.scenario, args.steps, None))
        walls["all"].append(wall_time(args.scenario, args.steps, ["all"]))
    default, full = statistics.median(walls["default"]), statistics.median(walls["all"])
    results["end_to_end"] = {
        "steps": args.steps,
        "default_s": walls["default"],
        "all_views_s": walls["all"],
        "ratio": full / default,
    }
    print(f"\n{args.scenario}, {args.steps} steps, wall time (median of {args.repeats}, alternating):")
    print(f"  default views {default:.1f} s   all views {full:.1f} s   ratio {full / default:.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
