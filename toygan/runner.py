"""One training run end to end: scenario -> compiled chunks -> frames, logs and files in the run folder.

`run` starts a run and `resume` continues one from its checkpoint; both drive the same loop, which
dispatches the next compiled chunk before drawing the last one, checkpoints at frame boundaries,
stops cleanly on Ctrl-C and on NaN, and leaves a complete run folder in every case.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import signal
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np
from PIL import Image
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from toygan import rundir
from toygan.alerts import Watchdog
from toygan.config import MnistConfig, Scenario, load_scenario
from toygan.display import open_display
from toygan.errors import ToyganError
from toygan.gif import GifWriter
from toygan.data import N_DIGITS, DigitSource, to_unit
from toygan.digits import requested_labels
from toygan.metrics import reported
from toygan.probes import DigitProbe, MixtureProbe, make_probe
from toygan.report import write_report
from toygan.train import TrainState, Trainer, advance, make_trainer, settle, start

Probe = MixtureProbe | DigitProbe

LOSS_COLUMNS = ["step", "d_loss", "g_loss", "d_real", "d_fake"]

FrameCallback = Callable[[int, np.ndarray], None]


class RunInterrupted(ToyganError):
    """Ctrl-C: the run stopped at a frame boundary with a checkpoint; `toygan resume` continues it."""

    exit_code = 130


@dataclass
class Run:
    """A run folder's scenario and trained state; `sample` draws from its generator, `evaluate` scores it."""

    run_dir: Path
    scenario: Scenario
    trainer: Trainer
    state: TrainState

    def sample(self, n: int, seed: int = 0, label: int | None = None) -> np.ndarray:
        """`n` samples. Mixtures: points (n, D). MNIST: images (n, 28, 28) in [0, 1]; a conditional run
        draws digit `label`, or all ten in turn (`labels(n)`) without one."""
        trainer = self.trainer
        z_NxZ = jax.random.normal(jax.random.key(seed), (n, self.scenario.model.noise_dim))
        y_N = self.labels(n, label)
        if not isinstance(trainer.source, DigitSource):
            return np.asarray(trainer.generate(self.state, z_NxZ))
        return to_unit(trainer.generate(self.state, z_NxZ, y_N))

    def labels(self, n: int, label: int | None = None) -> np.ndarray | None:
        """The digits that `sample(n, label=label)` asks for; None for unconditional runs."""
        trainer = self.trainer
        if not trainer.conditional:
            if label is not None:
                what = "this run learns a mixture" if trainer.scenario.mixture is not None else "this MNIST GAN is unconditional"
                raise ToyganError(f"--label needs a conditional MNIST run (mnist-cgan): {what}, it cannot be asked for a digit")
            return None
        if label is not None and not 0 <= label < N_DIGITS:
            raise ToyganError(f"--label {label} is out of range: MNIST digits are 0 to 9")
        return requested_labels(trainer, n) if label is None else np.full(n, label, np.int32)

    def evaluate(self, **options) -> dict:
        """The run's final score: for mixtures, the metrics at the fixed evaluation noise (the last row of
        metrics.csv); for MNIST, the evaluator's verdict on fresh samples (`per_digit`, `seed`)."""
        return make_probe(self.trainer, self.scenario).final(self.state, **options)


def chunk_lengths(steps: int, frame_every: int, start: int = 0) -> list[int]:
    """Steps per compiled call from `start` (a frame boundary): one per frame, the last maybe shorter."""
    lengths = [frame_every] * ((steps - start) // frame_every)
    return lengths + ([(steps - start) % frame_every] if (steps - start) % frame_every else [])


def gif_stride(config: Scenario) -> int:
    """Every how many frames one goes into the GIF, so that it holds at most `view.gif_max_frames`."""
    frames = math.ceil(config.train.steps / config.view.frame_every) + 1
    return max(1, math.ceil(frames / config.view.gif_max_frames))


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
    data: str | Path | None = None,
) -> Run:
    """Train `scenario` (a built-in name or a TOML path) and write its run folder.

    `steps`, `seed` and `overrides` ({"train.lr_generator": 2e-4, ...}) change the scenario; `views`
    lists the panels to draw (["all"] for every one); `live=None` shows a window or notebook cell
    when one can be shown, `False` renders to files only. `data` is the MNIST file or folder of an
    MNIST scenario. Raises `ToyganError` if training diverges and `RunInterrupted` on Ctrl-C, in both
    cases after completing the run folder.
    """
    overrides = dict(overrides or {})
    if steps is not None:
        overrides["train.steps"] = steps
    if seed is not None:
        overrides["seed"] = seed
    config = load_scenario(scenario, overrides)
    if data is not None:
        if config.mnist is None:
            raise ToyganError(f"--data is for MNIST scenarios, and {config.name} learns a mixture: leave --data out")
        config = dataclasses.replace(config, mnist=MnistConfig(str(data)))
    if views is not None:
        config = dataclasses.replace(config, view=config.view.with_panels(views))
    if config.mnist is not None and config.mnist.path:
        # Saved absolute, so that resume, sample and eval find the data from any folder.
        config = dataclasses.replace(config, mnist=MnistConfig(str(Path(config.mnist.path).expanduser().resolve())))
    trainer = make_trainer(config)  # loads the data first: a bad --data leaves no run folder behind
    run_dir = rundir.create_run_dir(Path(out) if out is not None else None, config.name, force)
    rundir.save_scenario(run_dir, config)
    state = start(trainer, config)
    return _drive(run_dir, config, trainer, state, None, live=live, quiet=quiet, on_frame=on_frame)


def resume(
    run_dir: str | Path,
    *,
    steps: int | None = None,
    live: bool | None = None,
    quiet: bool = False,
    on_frame: FrameCallback | None = None,
) -> Run:
    """Continue a run from its last checkpoint, to `steps` in all if given (else the scenario's steps)."""
    run_dir = Path(run_dir)
    config = rundir.load_run_scenario(run_dir)
    trainer = make_trainer(config)
    state, meta = rundir.load_checkpoint(run_dir, start(trainer, config))
    if steps is not None:
        if steps <= meta["step"]:
            raise ToyganError(f"--steps {steps} is not beyond the checkpoint's step {meta['step']}: give a larger total")
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, steps=steps))
        trainer = make_trainer(config)
        rundir.save_scenario(run_dir, config)
    elif meta["step"] >= config.train.steps:
        raise ToyganError(f"{run_dir} already finished its {config.train.steps} steps: pass --steps N to train on")
    return _drive(run_dir, config, trainer, state, meta, live=live, quiet=quiet, on_frame=on_frame)


@contextmanager
def _sigint_flag():
    """While training, the first Ctrl-C asks for a clean stop at the next frame; a second one aborts."""
    requested = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield requested
        return

    def handler(signum, frame):
        if requested.is_set():
            raise KeyboardInterrupt
        requested.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield requested
    finally:
        signal.signal(signal.SIGINT, previous)


def _restore_history(run_dir: Path, probe: Probe) -> tuple[dict[str, list], list[str]]:
    """Curves and warnings so far, read back from the CSV files (after they were cut to the checkpoint)."""
    history: dict[str, list] = {name: [] for name in ("step", "d_loss", "g_loss", *(c[0] for c in probe.curves))}
    warnings: list[str] = []
    for row in rundir.read_csv_rows(run_dir / rundir.LOSSES_FILE):
        history["d_loss"].append(float(row["d_loss"]))
        history["g_loss"].append(float(row["g_loss"]))
    for row in rundir.read_csv_rows(run_dir / rundir.METRICS_FILE):
        history["step"].append(int(row["step"]))
        for name, value in probe.history_values(row).items():
            history[name].append(value)
        warnings.extend(w for w in row["warnings"].split("; ") if w)
    return history, warnings


def _drive(
    run_dir: Path,
    config: Scenario,
    trainer: Trainer,
    state: TrainState,
    checkpoint: dict | None,
    *,
    live: bool | None,
    quiet: bool,
    on_frame: FrameCallback | None,
) -> Run:
    """The training loop shared by `run` and `resume`."""
    console = Console(stderr=True, quiet=quiet)
    probe = make_probe(trainer, config, announce=console.print)
    view_cfg, train_cfg = config.view, config.train
    stride = gif_stride(config)
    start = 0 if checkpoint is None else int(checkpoint["step"])
    keep_until = None if checkpoint is None else start
    watchdog = Watchdog(view_cfg.frame_every, probe.unit)
    if checkpoint is not None:
        watchdog.load_state(checkpoint["watchdog"])

    losses_csv = rundir.CsvLog(run_dir / rundir.LOSSES_FILE, LOSS_COLUMNS, keep_until)
    metrics_csv = rundir.CsvLog(run_dir / rundir.METRICS_FILE, ["step", *probe.columns, "warnings"], keep_until)
    history, all_warnings = _restore_history(run_dir, probe)
    gif = GifWriter(run_dir / rundir.GIF_FILE, view_cfg.fps, keep_frames=None if checkpoint is None else checkpoint["gif_frames"])

    display = open_display(live)
    if live and display.kind == "headless":
        console.print("no display found: frames go to the run folder only")
    view = probe.view(display.figure)
    progress = Progress(
        TextColumn("[bold blue]training"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} steps/s"),
        TextColumn("D {task.fields[d_loss]}  G {task.fields[g_loss]}  {task.fields[status]}"),
        TimeRemainingColumn(),
        console=console,
        disable=quiet,
    )
    verb = "training" if checkpoint is None else f"resuming at step {start}"
    console.print(f"[bold]{config.name}[/]: {verb}, {train_cfg.steps} steps, frame every {view_cfg.frame_every}, run folder {run_dir}")
    last_good, frame, step = state, None, start
    next_checkpoint = start + train_cfg.checkpoint_every

    def record(step: int, logs, obs, frame_state: TrainState) -> None:
        """Write one frame's records, warnings and image; everything here is host-side work."""
        nonlocal frame, last_good, next_checkpoint
        logs, obs = jax.device_get((logs, obs))
        row = probe.row(obs)
        d_real = d_fake = 0.5
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
                    f"  {probe.status(row)}"
                )
            d_real, d_fake = means[2], means[3]
        new_warnings = watchdog.check(step, probe.check_input(obs, row), bool(obs.finite), d_real, d_fake)
        for text in new_warnings:
            progress.console.print(f"[yellow]warning:[/] {text}")
        all_warnings.extend(new_warnings)
        metrics_csv.write([step, *row.values(), "; ".join(new_warnings)])
        history["step"].append(step)
        for name, value in probe.history_values(row).items():
            history[name].append(value)
        if step > start:
            rate = (step - start) / (time.perf_counter() - started)
            progress.update(
                task, completed=step, rate=f"{rate:,.0f}", d_loss=f"{history['d_loss'][-1]:.3f}",
                g_loss=f"{history['g_loss'][-1]:.3f}", status=probe.short_status(row),
            )
        view.update(step, obs, history, all_warnings)
        frame = view.render()
        if (step // view_cfg.frame_every) % stride == 0 or step == train_cfg.steps:
            gif.append(frame)
        display.refresh(frame)
        if on_frame is not None:
            on_frame(step, frame)
        if not watchdog.diverged:
            last_good = frame_state
            if step >= next_checkpoint or step == train_cfg.steps:
                checkpoint_now(frame_state)

    def checkpoint_now(frame_state: TrainState) -> None:
        nonlocal next_checkpoint
        meta = {"step": int(frame_state.step), "gif_frames": gif.frames_written, "watchdog": watchdog.state()}
        rundir.save_checkpoint(run_dir, frame_state, meta)
        next_checkpoint = int(frame_state.step) + train_cfg.checkpoint_every

    interrupted = False
    with losses_csv, metrics_csv, gif, progress, _sigint_flag() as stop_requested:
        task = progress.add_task("training", total=train_cfg.steps, completed=start, rate="-", d_loss="-", g_loss="-", status="")
        started = time.perf_counter()
        if checkpoint is None:
            record(0, None, probe.observe(state), state)
        else:
            view.update(start, jax.device_get(probe.observe(state)), history, all_warnings)
            frame = view.render()
        pending = None
        # Dispatch the next chunk before drawing the last one, so that drawing overlaps training.
        for length in chunk_lengths(train_cfg.steps, view_cfg.frame_every, start):
            if watchdog.diverged or stop_requested.is_set():
                break
            state, logs = advance(trainer, state, length)
            step += length
            obs = probe.observe(state)
            if pending is not None:
                record(*pending)
            pending = (step, logs, obs, state)
        if pending is not None and not watchdog.diverged:
            record(*pending)
        interrupted = stop_requested.is_set() and step < train_cfg.steps
        if interrupted and not watchdog.diverged:
            checkpoint_now(last_good)

    kept = settle(trainer, last_good)
    final = probe.final(kept)
    rundir.save_params(run_dir, kept)
    rundir.write_atomic(run_dir / rundir.FINAL_PNG, png_bytes(frame))
    summary = {"step": int(kept.step), "final": final, "reference": probe.reference, "warnings": all_warnings}
    rundir.write_atomic(run_dir / rundir.SUMMARY_FILE, json.dumps(summary, indent=2).encode())
    write_report(run_dir / rundir.REPORT_FILE, history, probe.curves, frame, config.name)
    display.close()
    elapsed = time.perf_counter() - started
    console.print(probe.table(final))
    if watchdog.diverged:
        raise ToyganError(
            f"training diverged (NaN or infinite values) before step {step}: the last finite parameters "
            f"(step {int(last_good.step)}) are saved in {run_dir}; try lower learning rates"
        )
    if interrupted:
        raise RunInterrupted(
            f"interrupted at step {int(last_good.step)} of {train_cfg.steps}; checkpoint, GIF and records are "
            f"saved: continue with `toygan resume {run_dir}`"
        )
    console.print(f"done in {elapsed:.1f}s ({(train_cfg.steps - start) / elapsed:,.0f} steps/s): {run_dir / rundir.GIF_FILE}")
    return Run(run_dir, config, trainer, kept)


def load_run(run_dir: str | Path) -> Run:
    """A finished run folder, read back with its trained parameters."""
    run_dir = Path(run_dir)
    config = rundir.load_run_scenario(run_dir)
    trainer = make_trainer(config)
    return Run(run_dir, config, trainer, rundir.load_params(run_dir, start(trainer, config)))


def png_bytes(frame_HxWx3: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(frame_HxWx3).save(buffer, format="PNG")
    return buffer.getvalue()
