"""Many seeds and settings of one scenario, trained together: one vmapped, compiled program per group.

Runs whose settings differ only in seed or learning rates share a compiled program and are vmapped
together (and sharded over devices when there are several); a varied setting that changes the
program (widths, batch size, loss, ...) starts a group of its own. Each run is written as a normal
run folder (scenario, CSVs, parameters, summary, final frame), so `toygan sample` and `toygan eval`
work on it; the sweep folder adds a summary table and a small-multiples GIF. A run that diverges keeps
its last finite parameters, says so in its summary.json (`diverged_at_step`), is counted in the table's
`diverged` column and left out of its means; the others train on.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import statistics
import time
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from rich.console import Console
from rich.table import Table

from toygan.config import Scenario, load_scenario
from toygan.engine import rundir
from toygan.engine.compare import parse_vary
from toygan.engine.display import Display
from toygan.engine.gif import GifWriter
from toygan.engine.records import FrameLog, write_summary
from toygan.engine.runner import chunk_lengths, png_bytes
from toygan.engine.train import Trainer, make_trainer
from toygan.errors import ToyganError

SWEEP_FILE = "sweep.csv"
GIF_FILE = "small-multiples.gif"

__all__ = ["parse_vary", "sweep"]


@dataclasses.dataclass(frozen=True)
class SweepRun:
    label: str  # the setting, e.g. "lr_generator=0.0002" ("" when nothing is varied)
    config: Scenario

    @property
    def name(self) -> str:
        return rundir.safe_name(f"{self.label} seed={self.config.seed}".strip())


@partial(jax.jit, static_argnums=0)
def _init_many(trainer: Trainer, keys_R, lr_g_R, lr_d_R):
    return jax.vmap(trainer.init)(keys_R, lr_g_R, lr_d_R)


@partial(jax.jit, static_argnums=(0, 3))
def _advance_many(trainer: Trainer, states, data, n_steps: int):
    """Every run `n_steps` ahead; `data` are the source's arrays, shared by the runs."""
    return jax.vmap(lambda state: trainer.advance(state, data, n_steps))(states)


@partial(jax.jit, static_argnums=(0, 1))
def _observe_many(trainer: Trainer, observe, states, inputs, good):
    """Observations of every run (`observe(trainer, state, *inputs)`, the probe's), and the latest
    finite state of each (for runs that diverge)."""
    obs = jax.vmap(partial(observe, trainer))(states, *inputs)
    keep = lambda new, old: jnp.where(obs.finite.reshape((-1,) + (1,) * (new.ndim - 1)), new, old)
    return obs, jax.tree.map(keep, states, good)


def _sharding(n_runs: int) -> tuple[NamedSharding | None, int]:
    """How the runs spread over the devices (axis 0 of every leaf), and how many copies of the last run
    pad them to a multiple of the device count, so that every device works (the copies are dropped)."""
    devices = jax.devices()
    if len(devices) == 1:
        return None, 0
    return NamedSharding(Mesh(np.array(devices), ("runs",)), PartitionSpec("runs")), -n_runs % len(devices)


def _mean_sd(values: list[float]) -> tuple[float, float]:
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def sweep(
    scenario: str | Path,
    seeds: int,
    vary: dict[str, list] | None = None,
    *,
    steps: int | None = None,
    first_seed: int = 0,
    out: Path | None = None,
    force: bool = False,
    overrides: dict[str, object] | None = None,
    quiet: bool = False,
) -> tuple[Path, list[dict]]:
    """Train `seeds` seeds of every combination of the `vary` values; returns the folder and summary rows."""
    if seeds < 1:
        raise ToyganError(f"--seeds must be at least 1, got {seeds}")
    overrides = dict(overrides or {})
    if steps is not None:
        overrides["train.steps"] = steps
    base = load_scenario(scenario, overrides)
    if base.kind.sweep_refusal:
        raise ToyganError(f"{base.name}: {base.kind.sweep_refusal}")
    vary = vary or {}
    keys = list(vary)
    settings = [dict(zip(keys, values)) for values in itertools.product(*(vary[k] for k in keys))]
    runs = []
    for setting in settings:
        label = " ".join(f"{k.split('.')[-1]}={v}" for k, v in setting.items())
        for seed in range(first_seed, first_seed + seeds):
            config = load_scenario(scenario, {**overrides, **setting, "seed": seed})
            config = dataclasses.replace(config, view=config.view.with_panels([]))
            runs.append(SweepRun(label, config))
    name = runs[0].config.name
    folder = rundir.create_run_dir(out, f"{name}-sweep", force, marker=SWEEP_FILE)
    console = Console(stderr=True, quiet=quiet)
    groups: dict[int, list[int]] = {}
    for index, sweep_run in enumerate(runs):
        groups.setdefault(id(make_trainer(sweep_run.config)), []).append(index)
    console.print(
        f"[bold]{name}[/]: {len(runs)} runs ({len(settings)} setting(s) x {seeds} seeds) in {len(groups)} "
        f"compiled program(s) on {jax.device_count()} device(s); sweep folder {folder}"
    )
    shown: dict[int, list] = {}
    finals: dict[int, dict] = {}
    diverged: dict[int, int] = {}  # run index -> the step at which it diverged
    started = time.perf_counter()
    probe = None
    for indices in groups.values():
        probe = _train_group(folder, [runs[i] for i in indices], indices, shown, finals, diverged, console)
    elapsed = time.perf_counter() - started
    seed_steps = sum(r.config.train.steps for r in runs)
    console.print(f"trained {len(runs)} runs in {elapsed:.1f}s: {seed_steps / elapsed:,.0f} seed-steps/s")
    _small_multiples(folder / GIF_FILE, runs, shown, probe)
    rows = _summarise(folder, runs, finals, diverged, probe, console)
    return folder, rows


def _train_group(
    folder: Path, runs: list[SweepRun], indices: list[int], shown: dict, finals: dict, diverged: dict[int, int], console: Console
):
    """Train one compiled group of runs together and write each run's folder; note the runs that diverge.
    Returns the group's first probe."""
    config = runs[0].config
    trainer = make_trainer(config)
    n_runs, view_cfg = len(runs), config.view
    sharding, n_pad = _sharding(n_runs)
    padded = runs + [runs[-1]] * n_pad
    if n_pad:
        console.print(f"{n_runs} runs padded to {n_runs + n_pad} with copies of the last, so that all {jax.device_count()} devices work")

    def spread(tree):
        return tree if sharding is None else jax.device_put(tree, sharding)

    keys_R = jnp.stack([jax.random.key(r.config.seed) for r in padded])
    lr_g = jnp.array([r.config.train.lr_generator for r in padded], jnp.float32)
    lr_d = jnp.array([r.config.train.lr_discriminator for r in padded], jnp.float32)
    states = spread(_init_many(trainer, keys_R, lr_g, lr_d))
    probes = [config.kind.make_probe(trainer, r.config) for r in runs]
    inputs = spread(tuple(jnp.stack(arrays) for arrays in zip(*(jax.device_get(p.observe_inputs) for p in probes + probes[-1:] * n_pad))))
    observe = type(probes[0]).observe_with
    dirs = [folder / r.name for r in runs]
    logs: list[FrameLog] = []
    for run_dir, sweep_run, probe in zip(dirs, runs, probes):
        run_dir.mkdir()
        rundir.save_scenario(run_dir, sweep_run.config)
        logs.append(FrameLog(run_dir, probe, view_cfg.frame_every))
    for index in indices:
        shown[index] = []

    def record(step, step_logs, obs):
        step_logs, obs = jax.device_get((step_logs, obs))
        for r in range(n_runs):
            obs_r = jax.tree.map(lambda leaf: leaf[r], obs)
            logs_r = None if step_logs is None else jax.tree.map(lambda leaf: leaf[r], step_logs)
            row = probes[r].row(obs_r)
            train = runs[r].config.train
            logs[r].write(step, logs_r, obs_r, row, (train.lr_generator, train.lr_discriminator))
            shown[indices[r]].append((step, probes[r].thumbnail(obs_r), row))

    good = states
    obs, good = _observe_many(trainer, observe, states, inputs, good)
    record(0, None, obs)
    step, pending = 0, None
    for length in chunk_lengths(config.train.steps, view_cfg.frame_every):
        states, step_logs = _advance_many(trainer, states, trainer.source.arrays(), length)
        step += length
        obs, good = _observe_many(trainer, observe, states, inputs, good)
        if pending is not None:
            record(*pending)
        pending = (step, step_logs, obs)
    record(*pending)

    good = jax.device_get(good)
    for r, (run_dir, sweep_run, probe, log) in enumerate(zip(dirs, runs, probes, logs)):
        log.close()
        state = jax.tree.map(lambda leaf: leaf[r], good)
        rundir.save_params(run_dir, state)
        final_obs = jax.device_get(probe.observe(state))
        final = probe.row(final_obs)
        finals[indices[r]] = final
        if log.watchdog.diverged:
            diverged[indices[r]] = log.watchdog.diverged_at
            console.print(
                f"[yellow]warning:[/] {sweep_run.name} diverged at step {log.watchdog.diverged_at}: left out of the means in "
                f"{SWEEP_FILE}; its folder keeps its last finite parameters (step {int(state.step)})"
            )
        write_summary(run_dir, log.summary(int(state.step), final))
        view = probe.view(Display().figure)
        view.update(int(state.step), final_obs, {}, [])
        rundir.write_atomic(run_dir / rundir.FINAL_PNG, png_bytes(view.render()))
    return probes[0]


def _small_multiples(path: Path, runs: list[SweepRun], shown: dict, probe) -> None:
    """One panel per run, its samples over the data's (the probe's thumbnail), every frame (bounded like a
    run's GIF)."""
    config = runs[0].config
    cols = math.ceil(math.sqrt(len(runs)))
    rows = math.ceil(len(runs) / cols)
    figure = Figure(figsize=(2.3 * cols, 2.3 * rows + 0.4), dpi=80)
    canvas = FigureCanvasAgg(figure)
    updaters, texts = [], []
    for i, sweep_run in enumerate(runs):
        ax = figure.add_subplot(rows, cols, i + 1)
        updaters.append(probe.thumbnail_axes(ax))
        ax.set_title(f"{sweep_run.label} seed {sweep_run.config.seed}".strip(), fontsize=7)
        texts.append(ax.text(0.02, 0.02, "", transform=ax.transAxes, fontsize=6, animated=True))
    step_text = figure.suptitle("", fontsize=9, animated=True)
    figure.tight_layout()
    canvas.draw()
    background = canvas.copy_from_bbox(figure.bbox)
    n_frames = len(shown[0])
    stride = max(1, math.ceil(n_frames / config.view.gif_max_frames))
    with GifWriter(path, config.view.fps) as gif:
        for f in list(range(0, n_frames, stride)) + ([n_frames - 1] if (n_frames - 1) % stride else []):
            canvas.restore_region(background)
            for i in range(len(runs)):
                step, thumbnail, row = shown[i][f]
                for artist in updaters[i](thumbnail):
                    artist.axes.draw_artist(artist)
                texts[i].set_text(probe.short_status(row))
                texts[i].axes.draw_artist(texts[i])
            step_text.set_text(f"{config.name}: step {shown[0][f][0]}")
            figure.draw_artist(step_text)
            gif.append(np.asarray(canvas.buffer_rgba())[..., :3].copy())


def _summarise(folder: Path, runs: list[SweepRun], finals: dict, diverged: dict, probe, console: Console) -> list[dict]:
    """Mean and sd over the seeds that did not diverge, per setting, of the probe's `sweep_columns`, and
    how many runs match and how many are complete (`probe.complete`: every mode captured); beside published numbers."""
    rows = []
    for label in dict.fromkeys(r.label for r in runs):
        indices = [i for i, r in enumerate(runs) if r.label == label]
        members = [finals[i] for i in indices if i not in diverged]
        row = {
            "setting": label or "(scenario)",
            "runs": len(indices),
            "diverged": len(indices) - len(members),
            "matches": sum(m["matches"] for m in members),
        }
        for key, *_ in probe.sweep_columns:
            row[f"{key}_mean"], row[f"{key}_sd"] = _mean_sd([m[key] for m in members])
        row[probe.complete_key] = sum(probe.complete(m) for m in members)
        rows.append(row)
    rundir.write_rows(folder / SWEEP_FILE, rows)
    table = Table(title=f"{runs[0].config.name}: final metrics over seeds (mean ± sd)", title_justify="left")
    table.add_column("setting")
    for column in ("match", *(title for _, title, _ in probe.sweep_columns), probe.complete_title):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            row["setting"],
            f"{row['matches']} / {row['runs']}",
            *(f"{fmt(row[f'{key}_mean'])} ± {fmt(row[f'{key}_sd'])}" for key, _, fmt in probe.sweep_columns),
            f"{row[probe.complete_key]} / {row['runs']}",
        )
    console.print(table)
    published = probe.published_table(rows)
    if published is not None:
        console.print(published)
    return rows
