"""One training run end to end: scenario -> compiled chunks -> frames, logs and files in the run folder.

`run` starts a run and `resume` continues one from its checkpoint; both drive the same loop, which
dispatches the next compiled chunk before drawing the last one, checkpoints at frame boundaries,
stops cleanly on Ctrl-C, SIGTERM and NaN, and leaves a complete run folder in every case. While it
runs it holds the folder's lock; a second signal or a failed write stops it at once with a one-line
error, its last checkpoint kept.

In a live window, keys steer the run at frame boundaries (`display.KEYS`): pause, one frame at a time,
single D or G updates, learning rates halved or doubled, the panels, a PNG, and `q`, a stop as Ctrl-C's.
Each is a row of controls.csv (step, action, value); what changes the training state is checkpointed at
once, so that `resume` goes on from it, and marks the run as steered in its summary. Closing the window
lets training go on headless. In Jupyter, the buttons of `notebook` ask for the same through the same
path.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import math
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import jax
import numpy as np
from PIL import Image
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from toygan.config import Scenario, load_scenario
from toygan.engine import rundir
from toygan.engine.display import Display, open_display
from toygan.engine.gif import GifWriter
from toygan.engine.notebook import LiveRun, widgets_here
from toygan.engine.probe import Probe
from toygan.engine.records import ControlLog, FrameLog, write_summary
from toygan.engine.report import write_report
from toygan.engine.train import (
    Trainer,
    TrainState,
    advance,
    learning_rates,
    make_trainer,
    settle,
    single_update,
    start,
    state_shapes,
    with_learning_rates,
)
from toygan.errors import ToyganError

if TYPE_CHECKING:
    from toygan.dirac.run import GameRun

FrameCallback = Callable[[int, np.ndarray], None]


class RunInterrupted(ToyganError):
    """Ctrl-C or SIGTERM: the run stopped at a frame boundary with a checkpoint; `toygan resume` continues it."""

    label = "interrupted"

    def __init__(self, message: str, exit_code: int = 128 + signal.SIGINT):
        super().__init__(message)
        self.exit_code = exit_code  # 128 + the signal's number, as a shell reports a process it ended


class RunAborted(RunInterrupted):
    """A second Ctrl-C or SIGTERM: the run stopped at once, its last checkpoint kept."""

    label = "aborted"


class WriteFailed(ToyganError):
    """A file of the run folder could not be written (disk full, file too large); the last checkpoint is kept."""

    exit_code = 1


@dataclass
class Run:
    """A run folder's scenario and trained state; `sample` draws from its generator, `evaluate` scores it."""

    run_dir: Path
    scenario: Scenario
    trainer: Trainer
    state: TrainState

    @functools.cached_property
    def probe(self) -> Probe:
        """The probe of the run's kind of data, which scores its generator."""
        return self.scenario.kind.make_probe(self.trainer, self.scenario)

    def sample(self, n: int, seed: int = 0, label: int | None = None) -> np.ndarray:
        """`n` samples in the data's own form: 2-D points (n, 2); MNIST images (n, 28, 28) in [0, 1].
        A conditional run draws digit `label`, or all ten in turn (`labels(n)`) without one."""
        z_NxZ = jax.random.normal(jax.random.key(seed), (n, self.scenario.model.noise_dim))
        y_N = self.labels(n, label)
        return self.scenario.kind.to_samples(self.trainer.generate(self.state, z_NxZ, y_N))

    def labels(self, n: int, label: int | None = None) -> np.ndarray | None:
        """The labels that `sample(n, label=label)` asks for; None for unconditional runs."""
        if not self.trainer.conditional:
            if label is not None:
                raise ToyganError(
                    f"--label needs a conditional run (mnist-cgan), and {self.scenario.name} is unconditional: leave --label out"
                )
            return None
        return self.probe.labels(n, label)

    def evaluate(self, **options) -> dict:
        """The run's final score: for 2-D data, the metrics at the fixed evaluation noise (the last row of
        metrics.csv); for MNIST, the evaluator's verdict on fresh samples (`per_digit`, `seed`)."""
        return self.probe.final(self.state, **options)


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
) -> Run | GameRun | LiveRun:
    """Train `scenario` (a built-in name or a TOML path) and write its run folder. A dirac-gan scenario plays
    the game instead and returns a `toygan.dirac.run.GameRun`.

    `steps`, `seed` and `overrides` ({"train.lr_generator": 2e-4, ...}) change the scenario; `views`
    lists the panels to draw (["all"] for every one); `live=None` shows a window or notebook cell
    when one can be shown, `False` renders to files only. `data` is the MNIST file or folder of an
    MNIST scenario. Raises `ToyganError` if training diverges and `RunInterrupted` on Ctrl-C or SIGTERM,
    in both cases after completing the run folder; `RunAborted` on a second signal and `WriteFailed` when
    a file cannot be written, in both cases with the last checkpoint kept.

    In Jupyter with ipywidgets, the run trains in the background beside buttons that steer it, and the
    call returns a `LiveRun`, which stands for the `Run` (see `toygan.engine.notebook`).
    """
    overrides = dict(overrides or {})
    if steps is not None:
        overrides["train.steps"] = steps
    if seed is not None:
        overrides["seed"] = seed
    config = load_scenario(scenario, overrides)
    kind = config.kind
    if data is not None:
        if kind.with_data is None:
            raise ToyganError(f"--data is for scenarios that read a data file (MNIST), and {config.name} does not: leave --data out")
        config = config.with_data(kind.with_data(config.data, data))
    if views is not None:
        config = dataclasses.replace(config, view=config.view.with_panels(views))
    if kind.run is not None:  # a game with no networks to train (dirac-gan) runs itself, into a run folder as ours
        return kind.run(config, out=out, force=force, live=live, quiet=quiet, on_frame=on_frame)
    config = config.with_data(kind.resolve(config.data))  # saved so that resume, sample and eval find the data anywhere
    trainer = make_trainer(config)  # loads the data first: a bad --data leaves no run folder behind
    run_dir = rundir.create_run_dir(Path(out) if out is not None else None, config.name, force)

    def train(display: Display | None) -> Run:
        with _guarded(run_dir, quiet) as stop_requested:
            ahead = _compile_ahead(trainer, config)
            rundir.save_scenario(run_dir, config)
            state = start(trainer, config)
            return _drive(run_dir, config, trainer, state, None, stop_requested, display, ahead, live=live, quiet=quiet, on_frame=on_frame)

    return _launch(run_dir, train, live)


def resume(
    run_dir: str | Path,
    *,
    steps: int | None = None,
    live: bool | None = None,
    quiet: bool = False,
    on_frame: FrameCallback | None = None,
) -> Run | LiveRun:
    """Continue a run from its last checkpoint, to `steps` in all if given (else the scenario's steps);
    shown and steered as `run` is."""
    run_dir = Path(run_dir)
    config = rundir.load_run_scenario(run_dir)
    return _launch(run_dir, functools.partial(_resume, run_dir, config, steps, live, quiet, on_frame), live)


def _resume(
    run_dir: Path,
    config: Scenario,
    steps: int | None,
    live: bool | None,
    quiet: bool,
    on_frame: FrameCallback | None,
    display: Display | None,
) -> Run:
    with _guarded(run_dir, quiet) as stop_requested:
        trainer = make_trainer(config)
        state, meta = rundir.load_checkpoint(run_dir, start(trainer, config))
        if steps is not None:
            if steps <= meta["step"]:
                raise ToyganError(f"--steps {steps} is not beyond the checkpoint's step {meta['step']}: give a larger total")
            config = dataclasses.replace(config, train=dataclasses.replace(config.train, steps=steps))
            trainer = make_trainer(config)
            rundir.save_scenario(run_dir, config)
        elif meta["step"] >= config.train.steps and rundir.summary_step(run_dir) == meta["step"]:
            # (a run that stopped while finishing has no summary of its last step: resuming finishes it)
            raise ToyganError(f"{run_dir} already finished its {config.train.steps} steps: pass --steps N to train on")
        ahead = _compile_ahead(trainer, config)
        return _drive(run_dir, config, trainer, state, meta, stop_requested, display, ahead, live=live, quiet=quiet, on_frame=on_frame)


def _launch(run_dir: Path, train: Callable[[Display | None], Run], live: bool | None) -> Run | LiveRun:
    """Train here, or in Jupyter with ipywidgets in a background thread beside the widgets that steer it."""
    return LiveRun(run_dir, train) if widgets_here(live) else train(None)


def _compile_ahead(trainer: Trainer, config: Scenario) -> list[Future]:
    """Start the probe's work before the first frame (`DataKind.compile_ahead`) in threads, one per core,
    beside the calling thread's own (the initial state): while one thread traces a program in Python, XLA
    compiles the others, outside Python's lock. `_drive` waits for the jobs before it makes the probe,
    which finds their results remembered and their programs compiled."""
    if config.kind.compile_ahead is None:
        return []
    jobs = config.kind.compile_ahead(trainer, config, state_shapes(trainer, config))
    pool = ThreadPoolExecutor(max_workers=min(len(jobs), os.cpu_count() or 1), thread_name_prefix="toygan-ahead")
    futures = [pool.submit(job) for job in jobs]
    pool.shutdown(wait=False)
    return futures


def _signal_name(signum: int) -> str:
    return "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name


class StopRequest:
    """Ctrl-C or SIGTERM while a run folder is written: the first asks for a clean stop at the next frame
    (`is_set`), a second aborts at once by raising KeyboardInterrupt wherever the run is."""

    def __init__(self, quiet: bool):
        self.signals: list[int] = []
        # What asked for a stop as the first Ctrl-C does, by name: `q` in the window, a notebook's stop button.
        self.by_control: str | None = None
        self._quiet = quiet

    def is_set(self) -> bool:
        return bool(self.signals) or self.by_control is not None

    def handle(self, signum: int, frame) -> None:
        self.signals.append(signum)
        if len(self.signals) > 1:
            raise KeyboardInterrupt
        if not self._quiet:
            again = "press Ctrl-C again to abort" if signum == signal.SIGINT else "a second signal aborts"
            notice = f"\n{_signal_name(signum)}: stopping at the next frame to save the checkpoint, GIF and report; {again} at once\n"
            try:
                os.write(2, notice.encode())  # not through sys.stderr: the handler may interrupt a write to it
            except OSError:
                pass

    def error(self, step: int, steps: int, run_dir: Path) -> RunInterrupted:
        """The error a run stopped by the first signal (or `q`) ends with."""
        signum = self.signals[0] if self.signals else signal.SIGINT  # q asks for what Ctrl-C asks for
        what = _signal_name(signum) if self.signals else self.by_control
        return RunInterrupted(
            f"stopped by {what} at step {step} of {steps}; checkpoint, GIF and records are saved: continue with `toygan resume {run_dir}`",
            128 + signum,
        )


@contextmanager
def _guarded(run_dir: Path, quiet: bool):
    """Write `run_dir` holding its lock, with Ctrl-C and SIGTERM as stop requests (in the main thread). A
    second signal or a failed write (disk full, file too large) ends the run with a one-line error that
    says which checkpoint is kept."""
    stop = StopRequest(quiet)
    watched = (signal.SIGINT, signal.SIGTERM) if threading.current_thread() is threading.main_thread() else ()
    with rundir.locked(run_dir):
        previous = {signum: signal.signal(signum, stop.handle) for signum in watched}
        try:
            yield stop
        except BaseException as error:
            if len(stop.signals) > 1:  # what the second signal broke off, in whichever library, ends here
                signum = stop.signals[-1]
                what = f"a second {_signal_name(signum)}" if signum == stop.signals[0] else _signal_name(signum)
                raise RunAborted(f"{what} stopped the run at once; {_kept(run_dir)}", 128 + signum) from None
            if isinstance(error, OSError):
                where = error.filename or run_dir
                raise WriteFailed(f"cannot write {where} ({error.strerror or error}); {_kept(run_dir, ' once there is room')}") from None
            raise
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def _kept(run_dir: Path, when: str = "") -> str:
    """What is left to continue from after a run stopped at once."""
    step = rundir.checkpoint_step(run_dir)
    if step is None:
        return f"no checkpoint was written yet: nothing to resume, start the run again{when}"
    return f"the checkpoint at step {step} is kept: continue with `toygan resume {run_dir}`{when}"


def _drive(
    run_dir: Path,
    config: Scenario,
    trainer: Trainer,
    state: TrainState,
    checkpoint: dict | None,
    stop_requested: StopRequest,
    display: Display | None,
    ahead: list[Future],
    *,
    live: bool | None,
    quiet: bool,
    on_frame: FrameCallback | None,
) -> Run:
    """The training loop shared by `run` and `resume`; it shows frames on `display`, else on what
    `open_display(live)` finds; `ahead`, the jobs of `_compile_ahead`."""
    console = Console(stderr=True, quiet=quiet)
    # The window opens while the probe's programs compile; without such jobs (MNIST's probe may first
    # train its evaluator), once the probe is made.
    if display is None and ahead:
        display = open_display(live)
    for job in ahead:
        job.result()
    probe = config.kind.make_probe(trainer, config, announce=console.print)
    view_cfg, train_cfg = config.view, config.train
    stride = gif_stride(config)
    start = 0 if checkpoint is None else int(checkpoint["step"])
    records = FrameLog(run_dir, probe, view_cfg.frame_every, checkpoint)
    controls = ControlLog(run_dir, checkpoint)
    history, watchdog = records.history, records.watchdog
    gif = GifWriter(run_dir / rundir.GIF_FILE, view_cfg.fps, keep_frames=None if checkpoint is None else checkpoint["gif_frames"])

    display = display or open_display(live)
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
        disable=quiet or not display.progress_bar,
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
        new_warnings = records.write(step, logs, obs, row, learning_rates(frame_state))
        if logs is not None:
            first = step - len(logs.d_loss) + 1
            for i in np.flatnonzero((np.arange(first, step + 1) % view_cfg.log_every) == 0):
                progress.console.print(
                    f"step {first + i:>7}  D loss {logs.d_loss[i]:.4f}  G loss {logs.g_loss[i]:.4f}"
                    f"  D(x) {logs.d_real[i]:.3f}  D(G(z)) {logs.d_fake[i]:.3f}"
                    f"  {probe.status(row)}"
                )
        for text in new_warnings:
            progress.console.print(f"[yellow]warning:[/] {text}")
        if step > start:
            rate = (step - start) / (time.perf_counter() - started)
            progress.update(
                task,
                completed=step,
                rate=f"{rate:,.0f}",
                d_loss=f"{history['d_loss'][-1]:.3f}",
                g_loss=f"{history['g_loss'][-1]:.3f}",
                status=probe.short_status(row),
            )
        view.update(step, obs, history, records.warnings)
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

    def show(frame_state: TrainState, at: int) -> None:
        """Redraw the window with `frame_state` (after a single update), without recording a frame."""
        nonlocal frame
        view.update(at, jax.device_get(probe.observe(frame_state)), history, records.warnings)
        frame = view.render()
        display.refresh(frame)

    def steer(actions: list, paused: bool, at: int, state: TrainState) -> tuple[bool, bool, TrainState]:
        """Act on the window's keys (or the notebook's controls: a rate's slider gives its name and value) at
        frame boundary `at` (nothing is pending): returns whether the run is paused, whether one frame's worth
        of steps is asked for, and the state to go on from."""
        nonlocal last_good
        one_frame, changed = False, False
        for action in actions:
            value = ""
            if isinstance(action, tuple) or action in ("lr_halve", "lr_double"):
                lr_g, lr_d = learning_rates(state)
                if isinstance(action, tuple):  # ("lr_generator" or "lr_discriminator", the new rate)
                    action, rate = action
                    lr_g, lr_d = (rate, lr_d) if action == "lr_generator" else (lr_g, rate)
                else:
                    factor = 0.5 if action == "lr_halve" else 2.0
                    lr_g, lr_d = lr_g * factor, lr_d * factor
                state = with_learning_rates(state, lr_g, lr_d)
                value = "lr_generator={:.6g} lr_discriminator={:.6g}".format(*learning_rates(state))
                changed = True
            elif action == "pause":
                paused = not paused
                value = "paused" if paused else "resumed"
            elif action == "closed":
                paused, value = False, "training goes on headless"
                console.print("the window was closed: training goes on headless")
            elif action == "step":
                if not paused:
                    continue  # only while paused: running, the next frame comes anyway
                one_frame, value = True, view_cfg.frame_every
            elif action == "stop":
                stop_requested.by_control = display.stop_control
            elif action in ("d_update", "g_update"):
                state, loss = single_update(trainer, state, action[0], controls.single_updates)
                value, changed = f"loss={loss:.6g}", True
            elif action == "panels":
                value = view.cycle_panels() if hasattr(view, "cycle_panels") else "all"
            elif action == "save":
                name = f"frame-{at:07d}.png"
                k = 1
                while (run_dir / name).exists():
                    k += 1
                    name = f"frame-{at:07d}-{k}.png"
                rundir.write_atomic(run_dir / name, png_bytes(frame))
                value = name
            controls.write(at, action, value)
            if action in ("d_update", "g_update", "panels"):
                show(state, at)
        if changed and not watchdog.diverged:
            last_good = state  # what a stop or a resume goes on from: the checkpoint holds it at once
            checkpoint_now(state)
        return paused, one_frame, state

    interrupted = False
    with records, controls, gif, progress:
        task = progress.add_task("training", total=train_cfg.steps, completed=start, rate="-", d_loss="-", g_loss="-", status="")
        started = time.perf_counter()
        display.show_state(start, False, learning_rates(state))
        if checkpoint is None:
            record(0, None, probe.observe(state), state)
        else:
            view.update(start, jax.device_get(probe.observe(state)), history, records.warnings)
            frame = view.render()
            if gif.frames_written < checkpoint["gif_frames"] and (start // view_cfg.frame_every) % stride == 0:
                gif.append(frame)  # a hard kill: the GIF muxer still held the checkpoint's frame
        pending = None
        lengths = iter(chunk_lengths(train_cfg.steps, view_cfg.frame_every, start))
        paused = False
        # Dispatch the next chunk before drawing the last one, so that drawing overlaps training.
        while not (watchdog.diverged or stop_requested.is_set()):
            one_frame = False
            actions = display.take_actions()
            if actions or paused:
                if pending is not None:  # the window's keys act on the frame shown
                    record(*pending)
                    pending = None
                if watchdog.diverged:
                    break
                paused, one_frame, state = steer(actions, paused, step, state)
                if stop_requested.is_set():
                    break
                display.show_state(step, paused, learning_rates(state))
                if paused and not one_frame:
                    display.wait(0.05)
                    continue
            length = next(lengths, None)
            if length is None:
                break
            state, logs = advance(trainer, state, length)
            step += length
            obs = probe.observe(state)
            if pending is not None:
                record(*pending)
            pending = (step, logs, obs, state)
            if one_frame:
                record(*pending)
                pending = None
        if pending is not None and not watchdog.diverged:
            record(*pending)
        interrupted = stop_requested.is_set() and step < train_cfg.steps
        if interrupted and not watchdog.diverged:
            checkpoint_now(last_good)

    kept = settle(trainer, last_good)
    final = probe.final(kept)
    rundir.save_params(run_dir, kept)
    rundir.write_atomic(run_dir / rundir.FINAL_PNG, png_bytes(frame))
    summary = records.summary(int(kept.step), final)
    summary.update(controls.summary())
    write_summary(run_dir, summary)
    write_report(run_dir / rundir.REPORT_FILE, history, probe.curves, frame, config.name)
    display.close()
    elapsed = time.perf_counter() - started
    console.print(probe.table(final))
    if "matched_from_step" in summary:
        since = summary["matched_from_step"]
        console.print(
            f"matched {probe.target} from step {since} to the end"
            if since is not None
            else f"does not match {probe.target}: {', '.join(summary['problems'])}"
        )
    if watchdog.diverged:
        raise ToyganError(
            f"training diverged (NaN or infinite values) before step {step}: the last finite parameters "
            f"(step {int(last_good.step)}) are saved in {run_dir}; try lower learning rates"
        )
    if interrupted:
        raise stop_requested.error(int(last_good.step), train_cfg.steps, run_dir)
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
