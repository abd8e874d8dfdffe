"""One training run end to end: scenario -> compiled chunks -> frames, logs and files in the run folder."""

from __future__ import annotations

import dataclasses
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np
from PIL import Image
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from toygan import rundir
from toygan.alerts import Watchdog
from toygan.config import Scenario, load_scenario
from toygan.display import open_display
from toygan.errors import ToyganError
from toygan.gif import GifWriter
from toygan.metrics import metrics_row, mixture_metrics, reported
from toygan.observe import Observation, observe
from toygan.report import write_report
from toygan.train import TrainState, Trainer, advance, init_state, make_trainer
from toygan.view import FrameView

LOSS_COLUMNS = ["step", "d_loss", "g_loss", "d_real", "d_fake"]
REAL_POINTS_SALT = 0xDA7A
REFERENCE_SALT = 0x1DEA

FrameCallback = Callable[[int, np.ndarray], None]


@dataclass
class Run:
    """A run folder's scenario and trained state; `sample` draws from its generator, `evaluate` scores it."""

    run_dir: Path
    scenario: Scenario
    trainer: Trainer
    state: TrainState

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        z_NxZ = jax.random.normal(jax.random.key(seed), (n, self.scenario.model.noise_dim))
        return np.asarray(self.trainer.generate(self.state.g_params, z_NxZ))

    def evaluate(self) -> dict[str, float]:
        """Metrics of the generator on the run's fixed evaluation noise: the last row of metrics.csv."""
        z_view = self.trainer.view_noise(jax.random.key(self.scenario.seed))
        return metrics_row(observe(self.trainer, self.state.g_params, self.state.d_params, z_view).metrics)


def chunk_lengths(steps: int, frame_every: int) -> list[int]:
    """Steps per compiled call: one call per frame, the last one shorter if `steps` is not a multiple."""
    lengths = [frame_every] * (steps // frame_every)
    return lengths + ([steps % frame_every] if steps % frame_every else [])


def reference_metrics(trainer: Trainer, key: jax.Array) -> dict[str, float]:
    """The metrics of a sample from the true mixture: what a perfect generator would score."""
    def score(key):
        real_ExD = trainer.mixture.sample(jax.random.fold_in(key, REFERENCE_SALT), trainer.scenario.view.eval_samples)
        return mixture_metrics(trainer.mixture, real_ExD)

    return metrics_row(jax.jit(score)(key))


def run(
    scenario: str | Path = "two-gaussians",
    *,
    steps: int | None = None,
    seed: int | None = None,
    out: str | Path | None = None,
    force: bool = False,
    live: bool | None = None,
    overrides: dict[str, object] | None = None,
    views: list[str] | None = None,
    quiet: bool = False,
    on_frame: FrameCallback | None = None,
) -> Run:
    """Train `scenario` (a built-in name or a TOML path) and write its run folder.

    `steps`, `seed` and `overrides` ({"train.lr_generator": 2e-4, ...}) change the scenario; `views`
    lists the panels to draw (["all"] for every one); `live=None` shows a window or notebook cell
    when one can be shown, `False` renders to files only. Raises `ToyganError` if training diverges,
    after the run folder has been completed with the last finite parameters.
    """
    overrides = dict(overrides or {})
    if steps is not None:
        overrides["train.steps"] = steps
    if seed is not None:
        overrides["seed"] = seed
    config = load_scenario(scenario, overrides)
    if views is not None:
        config = dataclasses.replace(config, view=config.view.with_panels(views))
    run_dir = rundir.create_run_dir(Path(out) if out is not None else None, config.name, force)
    rundir.save_scenario(run_dir, config)
    console = Console(stderr=True, quiet=quiet)
    trainer = make_trainer(config)
    key = jax.random.key(config.seed)
    state = init_state(trainer, key)
    z_view_ExZ = trainer.view_noise(key)
    view_cfg = config.view
    real_Nx2 = np.asarray(trainer.mixture.sample(jax.random.fold_in(key, REAL_POINTS_SALT), view_cfg.points))
    reference = reference_metrics(trainer, key)

    display = open_display(live)
    if live and display.kind == "headless":
        console.print("no display found: frames go to the run folder only")
    view = FrameView(display.figure, trainer.mixture, real_Nx2, config.name, view_cfg, config.train.steps)
    watchdog = Watchdog(view_cfg.frame_every)
    history: dict[str, list] = {name: [] for name in ("step", "d_loss", "g_loss", "high_quality", "modes_share", "reverse_kl")}
    all_warnings: list[str] = []
    n_modes = trainer.mixture.n_modes
    metric_columns = ["step", "modes_captured", "high_quality", "reverse_kl", "log_likelihood"]
    metric_columns += [f"mass_{k}" for k in range(n_modes)] + ["warnings"]

    progress = Progress(
        TextColumn("[bold blue]training"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} steps/s"),
        TextColumn("D {task.fields[d_loss]}  G {task.fields[g_loss]}  modes {task.fields[modes]}"),
        TimeRemainingColumn(),
        console=console,
        disable=quiet,
    )
    console.print(f"[bold]{config.name}[/]: {config.train.steps} steps, frame every {view_cfg.frame_every}, run folder {run_dir}")
    last_good = state
    with (
        GifWriter(run_dir / rundir.GIF_FILE, view_cfg.fps) as gif,
        rundir.CsvLog(run_dir / rundir.LOSSES_FILE, LOSS_COLUMNS) as losses_csv,
        rundir.CsvLog(run_dir / rundir.METRICS_FILE, metric_columns) as metrics_csv,
        progress,
    ):
        task = progress.add_task("training", total=config.train.steps, rate="-", d_loss="-", g_loss="-", modes="-")
        started = time.perf_counter()
        frame = None

        def record(step: int, logs, obs: Observation, frame_state: TrainState) -> None:
            """Write one frame's records, warnings and image; everything here is host-side work."""
            nonlocal frame, last_good
            logs, obs = jax.device_get((logs, obs))
            row = metrics_row(obs.metrics)
            if logs is not None:
                means = [reported(np.mean(v)) for v in logs]
                losses_csv.write([step, *means])
                history["d_loss"].append(means[0])
                history["g_loss"].append(means[1])
                first = step - len(logs.d_loss) + 1
                for i in np.flatnonzero((np.arange(first, step + 1) % view_cfg.log_every) == 0):
                    progress.console.print(
                        f"step {first + i:>7}  D loss {logs.d_loss[i]:.4f}  G loss {logs.g_loss[i]:.4f}"
                        f"  D(x) {logs.d_real[i]:.3f}  D(G(z)) {logs.d_fake[i]:.3f}"
                        f"  modes {row['modes_captured']}/{n_modes}  hq {row['high_quality']:.1%}"
                    )
                d_real, d_fake = means[2], means[3]
            else:
                d_real, d_fake = 0.5, 0.5
            new_warnings = watchdog.check(step, np.asarray(obs.metrics.captured_K), bool(obs.finite), d_real, d_fake)
            for text in new_warnings:
                progress.console.print(f"[yellow]warning:[/] {text}")
            all_warnings.extend(new_warnings)
            if not watchdog.diverged:
                last_good = frame_state
            metrics_csv.write([step, *row.values(), "; ".join(new_warnings)])
            history["step"].append(step)
            history["high_quality"].append(row["high_quality"])
            history["modes_share"].append(row["modes_captured"] / n_modes)
            history["reverse_kl"].append(row["reverse_kl"])
            if step:
                rate = step / (time.perf_counter() - started)
                progress.update(
                    task, completed=step, rate=f"{rate:,.0f}", d_loss=f"{history['d_loss'][-1]:.3f}",
                    g_loss=f"{history['g_loss'][-1]:.3f}", modes=f"{row['modes_captured']}/{n_modes}",
                )
            view.update(step, obs, history, all_warnings)
            frame = view.render()
            gif.append(frame)
            display.refresh(frame)
            if on_frame is not None:
                on_frame(step, frame)

        record(0, None, observe(trainer, state.g_params, state.d_params, z_view_ExZ), state)
        step, pending = 0, None
        # Dispatch the next chunk before drawing the last one, so that drawing overlaps training.
        for length in chunk_lengths(config.train.steps, view_cfg.frame_every):
            if watchdog.diverged:
                break
            state, logs = advance(trainer, state, length)
            step += length
            obs = observe(trainer, state.g_params, state.d_params, z_view_ExZ)
            if pending is not None:
                record(*pending)
            pending = (step, logs, obs, state)
        if pending is not None and not watchdog.diverged:
            record(*pending)

    final = metrics_row(jax.device_get(observe(trainer, last_good.g_params, last_good.d_params, z_view_ExZ)).metrics)
    rundir.save_params(run_dir, last_good.g_params, last_good.d_params)
    rundir.write_atomic(run_dir / rundir.FINAL_PNG, png_bytes(frame))
    summary = {"step": int(last_good.step), "final": final, "true_mixture": reference, "warnings": all_warnings}
    rundir.write_atomic(run_dir / rundir.SUMMARY_FILE, json.dumps(summary, indent=2).encode())
    write_report(run_dir / rundir.REPORT_FILE, history, frame, config.name)
    display.close()
    elapsed = time.perf_counter() - started
    console.print(metrics_table(final, reference, n_modes))
    if watchdog.diverged:
        raise ToyganError(
            f"training diverged (NaN or infinite values) before step {step}: the last finite parameters "
            f"(step {int(last_good.step)}) are saved in {run_dir}; try lower learning rates"
        )
    console.print(f"done in {elapsed:.1f}s ({config.train.steps / elapsed:,.0f} steps/s): {run_dir / rundir.GIF_FILE}")
    return Run(run_dir, config, trainer, state)


def metrics_table(final: dict, reference: dict, n_modes: int) -> Table:
    """Final metrics beside those of a sample from the true mixture."""
    table = Table(title="final metrics", title_justify="left")
    for column in ("metric", "generator", "true mixture"):
        table.add_column(column, justify="right" if column != "metric" else "left")
    table.add_row("modes captured", f"{final['modes_captured']} / {n_modes}", f"{reference['modes_captured']} / {n_modes}")
    table.add_row("high quality", f"{final['high_quality']:.1%}", f"{reference['high_quality']:.1%}")
    table.add_row("reverse KL", f"{final['reverse_kl']:.4f}", f"{reference['reverse_kl']:.4f}")
    table.add_row("mean log-likelihood", f"{final['log_likelihood']:.3f}", f"{reference['log_likelihood']:.3f}")
    return table


def load_run(run_dir: str | Path) -> Run:
    """A finished run folder, read back with its trained parameters."""
    run_dir = Path(run_dir)
    config = rundir.load_run_scenario(run_dir)
    trainer = make_trainer(config)
    state = init_state(trainer, jax.random.key(config.seed))
    g_params, d_params = rundir.load_params(run_dir, state.g_params, state.d_params)
    return Run(run_dir, config, trainer, state.replace(g_params=g_params, d_params=d_params))


def png_bytes(frame_HxWx3: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(frame_HxWx3).save(buffer, format="PNG")
    return buffer.getvalue()
