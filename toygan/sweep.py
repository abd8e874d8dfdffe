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
import json
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

from toygan import rundir
from toygan.alerts import Watchdog
from toygan.compare import parse_vary
from toygan.config import Scenario, load_scenario
from toygan.display import Display
from toygan.errors import ToyganError
from toygan.gif import GifWriter
from toygan.metrics import metrics_columns, reported
from toygan.observe import observe
from toygan.probes import MixtureProbe
from toygan.published import PUBLISHED
from toygan.runner import LOSS_COLUMNS, chunk_lengths, png_bytes
from toygan.train import Trainer, make_trainer

SWEEP_FILE = "sweep.csv"
GIF_FILE = "small-multiples.gif"
SHOWN_POINTS = 300

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


@partial(jax.jit, static_argnums=(0, 2))
def _advance_many(trainer: Trainer, states, n_steps: int):
    return jax.vmap(lambda state: trainer.advance(state, (), n_steps))(states)


@partial(jax.jit, static_argnums=0)
def _observe_many(trainer: Trainer, states, z_RxExZ, real_RxExD, radii_RxE, good):
    """Observations of every run, and the latest finite state of each (for runs that diverge)."""
    obs = jax.vmap(partial(observe, trainer))(states, z_RxExZ, real_RxExD, radii_RxE)
    keep = lambda new, old: jnp.where(obs.finite.reshape((-1,) + (1,) * (new.ndim - 1)), new, old)
    return obs, jax.tree.map(keep, states, good)


def _shard(tree, n_runs: int, console: Console):
    """Spread the runs over all devices (axis 0 of every leaf) when they divide evenly."""
    devices = jax.devices()
    if len(devices) == 1:
        return tree
    if n_runs % len(devices):
        console.print(f"{n_runs} runs do not divide over {len(devices)} devices: running on one")
        return tree
    sharding = NamedSharding(Mesh(np.array(devices), ("runs",)), PartitionSpec("runs"))
    return jax.device_put(tree, sharding)


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
    if runs[0].config.mixture is None:
        raise ToyganError(f"{runs[0].config.name} learns MNIST: sweeps run on mixture scenarios; use `toygan run --seed N` per seed")
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
    shown: dict[int, list[np.ndarray]] = {}
    finals: dict[int, dict] = {}
    diverged: dict[int, int] = {}  # run index -> the step at which it diverged
    started = time.perf_counter()
    for indices in groups.values():
        finals.update(_train_group(folder, [runs[i] for i in indices], indices, shown, diverged, console))
    elapsed = time.perf_counter() - started
    seed_steps = sum(r.config.train.steps for r in runs)
    console.print(f"trained {len(runs)} runs in {elapsed:.1f}s: {seed_steps / elapsed:,.0f} seed-steps/s")
    _small_multiples(folder / GIF_FILE, runs, shown)
    rows = _summarise(folder, runs, finals, diverged, console)
    return folder, rows


def _train_group(
    folder: Path, runs: list[SweepRun], indices: list[int], shown: dict, diverged: dict[int, int], console: Console
) -> dict[int, dict]:
    """Train one compiled group of runs together and write each run's folder; note the runs that diverge."""
    config = runs[0].config
    trainer = make_trainer(config)
    n_runs, view_cfg, n_modes = len(runs), config.view, trainer.mixture.n_modes
    keys_R = jnp.stack([jax.random.key(r.config.seed) for r in runs])
    lr_g = jnp.array([r.config.train.lr_generator for r in runs], jnp.float32)
    lr_d = jnp.array([r.config.train.lr_discriminator for r in runs], jnp.float32)
    states = _shard(_init_many(trainer, keys_R, lr_g, lr_d), n_runs, console)
    z_views = _shard(jax.vmap(trainer.view_noise)(keys_R), n_runs, console)
    probes = [MixtureProbe(trainer, r.config) for r in runs]
    real_RxExD = _shard(jnp.stack([jax.device_get(p.real_ExD) for p in probes]), n_runs, console)
    radii_RxE = _shard(jnp.stack([jax.device_get(p.real_radii_E) for p in probes]), n_runs, console)
    dirs = [folder / r.name for r in runs]
    logs_csv, metrics_csv, dogs = [], [], []
    warnings_of: list[list[str]] = [[] for _ in runs]
    for run_dir, sweep_run in zip(dirs, runs):
        run_dir.mkdir()
        rundir.save_scenario(run_dir, sweep_run.config)
        logs_csv.append(rundir.CsvLog(run_dir / rundir.LOSSES_FILE, LOSS_COLUMNS))
        metrics_csv.append(rundir.CsvLog(run_dir / rundir.METRICS_FILE, metrics_columns(n_modes)))
        dogs.append(Watchdog(view_cfg.frame_every))
    for index in indices:
        shown[index] = []

    def record(step, logs, obs):
        logs, obs = jax.device_get((logs, obs))
        for r in range(n_runs):
            metrics = jax.tree.map(lambda leaf: leaf[r], obs.metrics)
            row = probes[r].metrics_row(metrics)
            d_real = d_fake = 0.5
            if logs is not None:
                means = [reported(np.mean(v[r])) for v in logs]
                logs_csv[r].write([step, *means])
                d_real, d_fake = means[2], means[3]
            warnings = dogs[r].check(step, np.asarray(metrics.captured_K), bool(obs.finite[r]), d_real, d_fake)
            warnings_of[r].extend(warnings)
            metrics_csv[r].write([step, *row.values(), "; ".join(warnings)])
            shown[indices[r]].append((step, obs.fake_ExD[r, :SHOWN_POINTS], row))

    good = states
    obs, good = _observe_many(trainer, states, z_views, real_RxExD, radii_RxE, good)
    record(0, None, obs)
    step, pending = 0, None
    for length in chunk_lengths(config.train.steps, view_cfg.frame_every):
        states, logs = _advance_many(trainer, states, length)
        step += length
        obs, good = _observe_many(trainer, states, z_views, real_RxExD, radii_RxE, good)
        if pending is not None:
            record(*pending)
        pending = (step, logs, obs)
    record(*pending)

    finals = {}
    good = jax.device_get(good)
    for r, (run_dir, sweep_run) in enumerate(zip(dirs, runs)):
        logs_csv[r].close()
        metrics_csv[r].close()
        state = jax.tree.map(lambda leaf: leaf[r], good)
        rundir.save_params(run_dir, state)
        probe = probes[r]
        final_obs = jax.device_get(probe.observe(state))
        final = probe.row(final_obs)
        finals[indices[r]] = final
        summary = {
            "step": int(state.step),
            "final": final,
            "reference": probe.reference,
            "warnings": warnings_of[r],
            **probe.judge(final),
            "diverged_at_step": dogs[r].diverged_at,
        }
        if dogs[r].diverged:
            diverged[indices[r]] = dogs[r].diverged_at
            console.print(
                f"[yellow]warning:[/] {sweep_run.name} diverged at step {dogs[r].diverged_at}: left out of the means in "
                f"{SWEEP_FILE}; its folder keeps its last finite parameters (step {int(state.step)})"
            )
        rundir.write_atomic(run_dir / rundir.SUMMARY_FILE, json.dumps(summary, indent=2).encode())
        view = probe.view(Display().figure)
        view.update(int(state.step), final_obs, {}, [])
        rundir.write_atomic(run_dir / rundir.FINAL_PNG, png_bytes(view.render()))
    return finals


def _small_multiples(path: Path, runs: list[SweepRun], shown: dict) -> None:
    """One panel per run, generated points over the data, every frame (bounded like a run's GIF)."""
    config = runs[0].config
    mixture = config.mixture.build()
    cols = math.ceil(math.sqrt(len(runs)))
    rows = math.ceil(len(runs) / cols)
    figure = Figure(figsize=(2.3 * cols, 2.3 * rows + 0.4), dpi=80)
    canvas = FigureCanvasAgg(figure)
    low, high = mixture.bounds()
    real = np.asarray(mixture.sample(jax.random.key(0), 500))
    scatters, texts = [], []
    for i, sweep_run in enumerate(runs):
        ax = figure.add_subplot(rows, cols, i + 1)
        ax.set_xlim(low[0], high[0])
        ax.set_ylim(low[1], high[1])
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.scatter(real[:, 0], real[:, 1], s=4, c="tab:red", marker="+", linewidths=0.5)
        scatters.append(ax.scatter([], [], s=3, c="tab:blue", marker="x", linewidths=0.5, animated=True))
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
                step, points, row = shown[i][f]
                scatters[i].set_offsets(points)
                verdict = "matches" if row["matches"] else "not yet"
                texts[i].set_text(f"{verdict}: distance {row['sw_ratio']:.1f}x, coverage {row['coverage']:.2f}")
                scatters[i].axes.draw_artist(scatters[i])
                texts[i].axes.draw_artist(texts[i])
            step_text.set_text(f"{config.name}: step {shown[0][f][0]}")
            figure.draw_artist(step_text)
            gif.append(np.asarray(canvas.buffer_rgba())[..., :3].copy())


def _summarise(folder: Path, runs: list[SweepRun], finals: dict, diverged: dict, console: Console) -> list[dict]:
    """Mean and sd over the seeds that did not diverge, per setting, how many runs captured every mode;
    beside published numbers."""
    n_modes = runs[0].config.mixture.build().n_modes
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
        for metric in ("sw_ratio", "coverage", "modes_captured", "high_quality", "reverse_kl"):
            row[f"{metric}_mean"], row[f"{metric}_sd"] = _mean_sd([m[metric] for m in members])
        row["all_modes"] = sum(m["modes_captured"] == n_modes for m in members)
        rows.append(row)
    rundir.write_rows(folder / SWEEP_FILE, rows)
    table = Table(title=f"{runs[0].config.name}: final metrics over seeds (mean ± sd)", title_justify="left")
    for column in (
        "setting",
        "match the mixture",
        "distance / true",
        "coverage",
        "modes captured",
        "high quality",
        "reverse KL",
        "all modes",
    ):
        table.add_column(column, justify="left" if column == "setting" else "right")
    for row in rows:
        table.add_row(
            row["setting"],
            f"{row['matches']} / {row['runs']}",
            f"{row['sw_ratio_mean']:.2f} ± {row['sw_ratio_sd']:.2f}",
            f"{row['coverage_mean']:.3f} ± {row['coverage_sd']:.3f}",
            f"{row['modes_captured_mean']:.2f} ± {row['modes_captured_sd']:.2f} / {n_modes}",
            f"{row['high_quality_mean']:.1%} ± {row['high_quality_sd']:.1%}",
            f"{row['reverse_kl_mean']:.4f} ± {row['reverse_kl_sd']:.4f}",
            f"{row['all_modes']} / {row['runs']}",
        )
    console.print(table)
    published = PUBLISHED.get(runs[0].config.published)
    if published:
        table = Table(title=f"beside the published {runs[0].config.published} results", title_justify="left")
        for column in ("method", "modes", "high quality"):
            table.add_column(column, justify="left" if column == "method" else "right")
        for method, (modes, high_quality) in published.items():
            table.add_row(method, f"{modes:.1f}", f"{high_quality:.1f}%")
        for row in rows:
            table.add_row(f"toygan {row['setting']}", f"{row['modes_captured_mean']:.1f}", f"{100 * row['high_quality_mean']:.1f}%")
        console.print(table)
    return rows
