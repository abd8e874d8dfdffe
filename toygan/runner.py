"""One training run end to end: scenario -> compiled chunks -> frames, logs and files in the run folder."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np
from PIL import Image
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from toygan import rundir
from toygan.config import Scenario, load_scenario
from toygan.display import open_display
from toygan.gif import GifWriter
from toygan.train import Chunk, TrainState, Trainer, advance, make_trainer
from toygan.view import ScatterView

LOSS_COLUMNS = ["step", "d_loss", "g_loss", "d_real", "d_fake"]
REAL_POINTS_SALT = 0xDA7A

FrameCallback = Callable[[int, np.ndarray], None]


@dataclass
class Run:
    """A finished run: its folder, scenario and trained state; `sample` draws from its generator."""

    run_dir: Path
    scenario: Scenario
    trainer: Trainer
    state: TrainState

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        z_NxZ = jax.random.normal(jax.random.key(seed), (n, self.scenario.model.noise_dim))
        return np.asarray(self.trainer.generate(self.state.g_params, z_NxZ))


def chunk_lengths(steps: int, frame_every: int) -> list[int]:
    """Steps per compiled call: one call per frame, the last one shorter if `steps` is not a multiple."""
    lengths = [frame_every] * (steps // frame_every)
    return lengths + ([steps % frame_every] if steps % frame_every else [])


def run(
    scenario: str | Path = "two-gaussians",
    *,
    steps: int | None = None,
    seed: int | None = None,
    out: str | Path | None = None,
    force: bool = False,
    live: bool | None = None,
    overrides: dict[str, object] | None = None,
    quiet: bool = False,
    on_frame: FrameCallback | None = None,
) -> Run:
    """Train `scenario` (a built-in name or a TOML path) and write its run folder.

    `steps`, `seed` and `overrides` ({"train.lr_generator": 2e-4, ...}) change the scenario;
    `live=None` shows a window or notebook cell when one can be shown, `False` renders to files only.
    """
    overrides = dict(overrides or {})
    if steps is not None:
        overrides["train.steps"] = steps
    if seed is not None:
        overrides["seed"] = seed
    config = load_scenario(scenario, overrides)
    run_dir = rundir.create_run_dir(Path(out) if out is not None else None, config.name, force)
    rundir.save_scenario(run_dir, config)
    console = Console(stderr=True, quiet=quiet)
    trainer = make_trainer(config)
    key = jax.random.key(config.seed)
    state = trainer.init(key)
    z_view_ExZ = trainer.view_noise(key)
    view_cfg = config.view
    real_Nx2 = np.asarray(trainer.mixture.sample(jax.random.fold_in(key, REAL_POINTS_SALT), view_cfg.points))

    display = open_display(live)
    if live and display.kind == "headless":
        console.print("no display found: frames go to the run folder only")
    view = ScatterView(display.figure, trainer.mixture, real_Nx2, config.name)

    def show(step: int, fake_ExD: np.ndarray, d_loss=None, g_loss=None) -> np.ndarray:
        view.update(step, fake_ExD[: view_cfg.points], d_loss, g_loss)
        frame = view.render()
        gif.append(frame)
        display.refresh(frame)
        if on_frame is not None:
            on_frame(step, frame)
        return frame

    lengths = chunk_lengths(config.train.steps, view_cfg.frame_every)
    console.print(f"[bold]{config.name}[/]: {config.train.steps} steps, frame every {view_cfg.frame_every}, run folder {run_dir}")
    progress = Progress(
        TextColumn("[bold blue]training"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} steps/s"),
        TextColumn("D {task.fields[d_loss]}  G {task.fields[g_loss]}"),
        TimeRemainingColumn(),
        console=console,
        disable=quiet,
    )
    with (
        GifWriter(run_dir / rundir.GIF_FILE, view_cfg.fps) as gif,
        rundir.CsvLog(run_dir / rundir.LOSSES_FILE, LOSS_COLUMNS) as losses_csv,
        progress,
    ):
        task = progress.add_task("training", total=config.train.steps, rate="-", d_loss="-", g_loss="-")
        frame = show(0, np.asarray(trainer.generate(state.g_params, z_view_ExZ)))
        started, step, pending = time.perf_counter(), 0, None

        def record(end_step: int, chunk: Chunk) -> None:
            nonlocal frame
            chunk = jax.device_get(chunk)
            logs = chunk.logs
            means = [float(np.mean(v)) for v in logs]
            losses_csv.write([end_step, *means])
            first = end_step - len(logs.d_loss) + 1
            for i in range(len(logs.d_loss)):
                if (first + i) % view_cfg.log_every == 0:
                    progress.console.print(
                        f"step {first + i:>7}  D loss {logs.d_loss[i]:.4f}  G loss {logs.g_loss[i]:.4f}"
                        f"  D(x) {logs.d_real[i]:.3f}  D(G(z)) {logs.d_fake[i]:.3f}"
                    )
            rate = end_step / (time.perf_counter() - started)
            progress.update(task, completed=end_step, rate=f"{rate:,.0f}", d_loss=f"{means[0]:.3f}", g_loss=f"{means[1]:.3f}")
            frame = show(end_step, chunk.fake_ExD, means[0], means[1])

        # Dispatch the next chunk before drawing the last one, so rendering overlaps training.
        for length in lengths:
            state, chunk = advance(trainer, state, z_view_ExZ, length)
            step += length
            if pending is not None:
                record(*pending)
            pending = (step, chunk)
        record(*pending)

    rundir.save_params(run_dir, state.g_params, state.d_params)
    rundir.write_atomic(run_dir / rundir.FINAL_PNG, _png_bytes(frame))
    display.close()
    elapsed = time.perf_counter() - started
    console.print(f"done in {elapsed:.1f}s ({config.train.steps / elapsed:,.0f} steps/s): {run_dir / rundir.GIF_FILE}")
    return Run(run_dir, config, trainer, state)


def load_run(run_dir: str | Path) -> Run:
    """A finished run folder, read back with its trained parameters."""
    run_dir = Path(run_dir)
    config = rundir.load_run_scenario(run_dir)
    trainer = make_trainer(config)
    state = trainer.init(jax.random.key(config.seed))
    g_params, d_params = rundir.load_params(run_dir, state.g_params, state.d_params)
    return Run(run_dir, config, trainer, state.replace(g_params=g_params, d_params=d_params))


def _png_bytes(frame_HxWx3: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(frame_HxWx3).save(buffer, format="PNG")
    return buffer.getvalue()
