"""A dirac-gan run end to end: every panel's trajectory (one compiled scan each), then the records, then the
frames, live and into the GIF.

The trajectories are computed first, in well under a second, and written with the verdicts before any frame
is drawn, so a run stopped while it animates (Ctrl-C) still leaves its results. The live window shows the
frames at the GIF's rate; its keys pause (space), go on one frame (n), save a PNG (s) and draw the rest at
once (q); headless, the frames go to the files as fast as they are drawn.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from toygan.config import Scenario
from toygan.dirac import game
from toygan.dirac.view import GameView
from toygan.engine import rundir
from toygan.engine.display import open_display
from toygan.engine.gif import GifWriter
from toygan.engine.records import write_summary
from toygan.engine.runner import FrameCallback, chunk_lengths, gif_stride, png_bytes

TRAJECTORIES_FILE = "trajectories.csv"
# The keys a game's window acts on: the trajectories are computed before the first frame, so there is
# nothing to update alone and no rate to change while they play.
LEGEND = "space  pause / resume\nn, →  one frame (paused)\ns  save PNG    q  on to the end\nh  hide"


@dataclass(frozen=True)
class Panel:
    """One objective, update scheme and penalty of the game, and the penalty's weight (0 without one)."""

    objective: str
    scheme: str
    penalty: str  # "none", "r1" or "gp"
    weight: float
    generator_loss: str | None  # the log objective's G loss; None for the others, which have one

    @property
    def label(self) -> str:
        name = f"{self.objective} ({self.generator_loss})" if self.generator_loss else self.objective
        penalty = {"none": "no penalty", "r1": f"R1 γ = {self.weight:g}", "gp": f"GP λ = {self.weight:g}"}[self.penalty]
        return f"{name}, {self.scheme}, {penalty}"

    def game_options(self) -> dict:
        """This panel's keywords of `game.vector_field` and `game.trajectory`."""
        return {"gamma": self.weight, "penalty": None if self.penalty == "none" else self.penalty, "form": self.generator_loss}


@dataclass
class GameRun:
    """A finished dirac-gan run: its folder, scenario, panels and their trajectories (P, steps + 1, 2)."""

    run_dir: Path
    scenario: Scenario
    panels: list[Panel]
    paths_PxTx2: np.ndarray
    summary: dict


def panels_of(scenario: Scenario) -> list[Panel]:
    """The scenario's panels, objective by objective (a row each), penalty by penalty, scheme by scheme."""
    dirac, train = scenario.data, scenario.train
    weights = {"none": 0.0, "r1": train.r1_gamma, "gp": train.gp_lambda}
    return [
        Panel(objective, scheme, penalty, weights[penalty], train.generator_loss if objective == "log" else None)
        for objective in dirac.objectives
        for penalty in dirac.penalties
        for scheme in dirac.schemes
    ]


def trajectories(scenario: Scenario, panels: list[Panel]) -> np.ndarray:
    """(theta, psi) of every panel from the start through every step: (P, steps + 1, 2), float64."""
    dirac, train = scenario.data, scenario.train
    return np.stack(
        [
            np.asarray(
                game.trajectory(
                    panel.objective,
                    panel.scheme,
                    dirac.theta0,
                    dirac.psi0,
                    (train.lr_generator, train.lr_discriminator),
                    train.steps,
                    d_steps=train.d_steps,
                    unroll=train.unroll,
                    clip=train.clip if panel.objective == "wgan" else None,  # WGAN's clipping, as in training
                    **panel.game_options(),
                ),
                np.float64,
            )
            for panel in panels
        ]
    )


def frame_steps(scenario: Scenario) -> list[int]:
    """The steps drawn: every `view.frame_every`, thinned to at most `view.gif_max_frames` (and the last)."""
    steps, every = scenario.train.steps, scenario.view.frame_every
    boundaries = np.cumsum([0, *chunk_lengths(steps, every)]).tolist()
    stride = gif_stride(scenario)
    return [step for step in boundaries if (step // every) % stride == 0 or step == steps]


def summarise(scenario: Scenario, panels: list[Panel], paths_PxTx2: np.ndarray) -> dict:
    """summary.json: per panel, the distance to the equilibrium at the last step and the verdict."""
    dirac = scenario.data
    distances_PxT = np.hypot(paths_PxTx2[..., 0], paths_PxTx2[..., 1])
    finite = lambda value: float(value) if math.isfinite(value) else None  # JSON has no infinity
    rows = []
    for panel, distances_T in zip(panels, distances_PxT):
        final = float(distances_T[-1])
        rows.append(
            {
                "objective": panel.objective,
                "generator_loss": panel.generator_loss,
                "scheme": panel.scheme,
                "penalty": panel.penalty,
                "penalty_weight": panel.weight,
                "final_distance": finite(final),
                "min_distance": finite(float(np.nanmin(distances_T))),
                "verdict": "converges" if final < dirac.tolerance else "does not converge",
            }
        )
    return {
        "scenario": scenario.name,
        "step": scenario.train.steps,
        "equilibrium": [0.0, 0.0],
        "start": [dirac.theta0, dirac.psi0],
        "start_distance": math.hypot(dirac.theta0, dirac.psi0),
        "tolerance": dirac.tolerance,
        "verdict_rule": f"converges: the distance to the equilibrium (0, 0) after the last step is below {dirac.tolerance:g}",
        "panels": rows,
    }


def write_trajectories(run_dir: Path, panels: list[Panel], paths_PxTx2: np.ndarray) -> None:
    """trajectories.csv: one row per panel and step, from step 0 (the start)."""
    rows = [
        {
            "objective": panel.objective,
            "scheme": panel.scheme,
            "penalty": panel.penalty,
            "step": step,
            "theta": f"{theta:.9g}",
            "psi": f"{psi:.9g}",
            "distance": f"{math.hypot(theta, psi):.9g}",
        }
        for panel, path_Tx2 in zip(panels, paths_PxTx2)
        for step, (theta, psi) in enumerate(path_Tx2.tolist())
    ]
    rundir.write_rows(run_dir / TRAJECTORIES_FILE, rows)


def verdict_table(summary: dict) -> Table:
    table = Table(
        title=f"{summary['scenario']}: distance to (0, 0) after {summary['step']} steps",
        caption=summary["verdict_rule"],
        title_justify="left",
        caption_justify="left",
    )
    for column in ("objective", "scheme", "penalty", "distance", "verdict"):
        table.add_column(column, justify="right" if column == "distance" else "left")
    for row in summary["panels"]:
        distance = "inf" if row["final_distance"] is None else f"{row['final_distance']:.3g}"
        penalty = row["penalty"] if row["penalty"] == "none" else f"{row['penalty']} {row['penalty_weight']:g}"
        objective = f"{row['objective']} ({row['generator_loss']})" if row["generator_loss"] else row["objective"]
        table.add_row(objective, row["scheme"], penalty, distance, row["verdict"])
    return table


def run(
    scenario: Scenario,
    *,
    out: str | Path | None = None,
    force: bool = False,
    live: bool | None = None,
    quiet: bool = False,
    on_frame: FrameCallback | None = None,
) -> GameRun:
    """Play `scenario`'s panels, write the run folder (scenario.toml, trajectories.csv, summary.json,
    training.gif, final.png) and show the frames live when a window can be shown (`live=False`: files only)."""
    started = time.perf_counter()
    console = Console(stderr=True, quiet=quiet)
    panels = panels_of(scenario)
    paths_PxTx2 = trajectories(scenario, panels)
    summary = summarise(scenario, panels, paths_PxTx2)
    run_dir = rundir.create_run_dir(Path(out) if out is not None else None, scenario.name, force)
    with rundir.locked(run_dir):
        rundir.save_scenario(run_dir, scenario)
        write_trajectories(run_dir, panels, paths_PxTx2)
        write_summary(run_dir, summary)
        console.print(f"[bold]{scenario.name}[/]: {len(panels)} panels, {scenario.train.steps} steps, run folder {run_dir}")
        _animate(run_dir, scenario, panels, paths_PxTx2, live, console, on_frame)
    console.print(verdict_table(summary))
    console.print(f"done in {time.perf_counter() - started:.1f}s: {run_dir / rundir.GIF_FILE}")
    return GameRun(run_dir, scenario, panels, paths_PxTx2, summary)


def _animate(run_dir: Path, scenario: Scenario, panels, paths_PxTx2, live, console: Console, on_frame) -> None:
    """Draw the frames into the GIF and the window; final.png is the last."""
    display = open_display(live, legend=LEGEND)
    if live and display.kind == "headless":
        console.print("no display found: frames go to the run folder only")
    train, view_cfg = scenario.train, scenario.view
    view = GameView(
        display.figure, scenario.name, panels, paths_PxTx2, train.lr_discriminator, scenario.data.extent, scenario.data.tolerance
    )
    steps = frame_steps(scenario)
    pace = 0.0 if display.kind == "headless" else 1.0 / view_cfg.fps  # live, the window shows the GIF's rate
    index, paused, frame = 0, False, None
    with GifWriter(run_dir / rundir.GIF_FILE, view_cfg.fps) as gif:
        while index < len(steps):
            one_frame = False
            for action in display.take_actions():
                if action == "pause":
                    paused = not paused
                elif action == "step":
                    one_frame = paused
                elif action == "stop":
                    index, paused = len(steps) - 1, False  # the rest at once: on to the last frame
                elif action == "save" and frame is not None:
                    name, k = f"frame-{steps[index - 1]:07d}.png", 1
                    while (run_dir / name).exists():
                        k += 1
                        name = f"frame-{steps[index - 1]:07d}-{k}.png"
                    rundir.write_atomic(run_dir / name, png_bytes(frame))
            display.show_state(steps[max(index - 1, 0)], paused, (train.lr_generator, train.lr_discriminator))
            if paused and not one_frame:
                display.wait(0.05)
                continue
            started = time.perf_counter()
            view.update(steps[index])
            frame = view.render()
            gif.append(frame)
            display.refresh(frame)
            if on_frame is not None:
                on_frame(steps[index], frame)
            index += 1
            display.wait(max(0.0, pace - (time.perf_counter() - started)))
    rundir.write_atomic(run_dir / rundir.FINAL_PNG, png_bytes(frame))
    display.close()
