"""The `toygan` command: a thin typer layer over the Python API."""

from __future__ import annotations

import functools
import io
import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from toygan.config import list_scenarios, parse_override
from toygan.errors import ToyganError

app = typer.Typer(add_completion=False, no_args_is_help=True)

SetOption = Annotated[Optional[list[str]], typer.Option("--set", "-s", help="Override any setting: -s train.lr_generator=2e-4.")]
ViewsOption = Annotated[
    Optional[str],
    typer.Option(
        help="Panels to draw, comma-separated: discriminator, gradients, gradient_field, manifold, "
        "optimal_discriminator, curves; or all, or none. Default: the scenario's."
    ),
]


def _split_cpu(count: int) -> None:
    """Expose the CPU as `count` JAX devices: one vmapped batch of runs per core. Takes effect only if
    JAX has not started its backend yet, and never overrides a device count the user set."""
    flags = os.environ.get("XLA_FLAGS", "")
    if count > 1 and "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={count}".strip()


def _overrides(texts: list[str] | None) -> dict[str, object]:
    return dict(parse_override(text) for text in texts or [])


def _views(text: str | None) -> list[str] | None:
    if text is None:
        return None
    panels = [p.strip() for p in text.split(",") if p.strip()]
    return [] if panels == ["none"] else panels


def _user_errors(command):
    """Report `ToyganError` as one line on stderr (exit code 2 for bad input, 1 for a failed write, 130 or
    143 when Ctrl-C or SIGTERM stopped a run), never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ToyganError as error:
            typer.secho(f"{error.label}: {error}", err=True, fg="red")
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:  # a run turns Ctrl-C into RunInterrupted or RunAborted once it writes its folder
            typer.secho("interrupted by Ctrl-C", err=True, fg="red")
            raise typer.Exit(130) from None

    return wrapper


@app.callback()
def main(
    compile_cache: Annotated[
        bool,
        typer.Option(
            "--compile-cache/--no-compile-cache",
            help="Keep what a run compiles for the next run of the scenario, which then starts sooner: in $TOYGAN_COMPILE_CACHE "
            "(default ~/.cache/toygan/compiled; TOYGAN_COMPILE_CACHE=off also turns it off).",
        ),
    ] = True,
) -> None:
    """Watch GANs learn."""
    if not compile_cache:
        os.environ["TOYGAN_COMPILE_CACHE"] = "off"  # read by toygan.engine.cache (imported with JAX: not here)


@app.command()
@_user_errors
def run(
    scenario: Annotated[str, typer.Argument(help="Built-in scenario name (see `toygan scenarios`) or a .toml file.")],
    steps: Annotated[Optional[int], typer.Option(help="Training steps (overrides train.steps).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Random seed (overrides seed).")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Run folder; default runs/NAME-DATE-TIME.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing run folder.")] = False,
    live: Annotated[bool, typer.Option("--live/--no-live", help="Show a live window when a display exists.")] = True,
    set_: SetOption = None,
    views: ViewsOption = None,
    data_path: Annotated[
        Optional[Path],
        typer.Option("--data", help="MNIST scenarios: .npz, IDX file or folder, or .csv; default: download to the cache."),
    ] = None,
) -> None:
    """Train a GAN on a scenario, watch it live, and write a run folder with its GIF, metrics and report."""
    from toygan.config import load_scenario

    overrides = _overrides(set_)
    load_scenario(scenario, overrides)  # a mistyped name or setting answers before the engine (and JAX) loads
    from toygan.engine.runner import run as run_scenario

    run_scenario(
        scenario,
        steps=steps,
        seed=seed,
        out=out,
        force=force,
        live=None if live else False,
        overrides=overrides,
        views=_views(views),
        data=data_path,
    )


@app.command()
@_user_errors
def resume(
    run_dir: Annotated[Path, typer.Argument(help="A run folder with a checkpoint.")],
    steps: Annotated[Optional[int], typer.Option(help="Train to this many steps in all (default: the run's).")] = None,
    live: Annotated[bool, typer.Option("--live/--no-live", help="Show a live window when a display exists.")] = True,
) -> None:
    """Continue a run from its last checkpoint (after Ctrl-C, a crash, or to train it longer)."""
    from toygan.engine.runner import resume as resume_run

    resume_run(run_dir, steps=steps, live=None if live else False)


@app.command()
@_user_errors
def compare(
    scenario: Annotated[str, typer.Argument(help="Built-in scenario name or a .toml file.")],
    vary: Annotated[list[str], typer.Option(help="A setting and its values: --vary train.generator_loss=non-saturating,minimax.")],
    steps: Annotated[Optional[int], typer.Option(help="Training steps of each run.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="The seed all runs share.")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Folder; default runs/NAME-compare-DATE-TIME.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing comparison folder.")] = False,
    set_: SetOption = None,
    views: ViewsOption = None,
    data_path: Annotated[
        Optional[Path],
        typer.Option("--data", help="MNIST scenarios: .npz, IDX file or folder, or .csv; default: download to the cache."),
    ] = None,
) -> None:
    """Train the same scenario and seed under each setting; write one side-by-side GIF and a metrics table."""
    from toygan.engine.compare import compare as compare_runs
    from toygan.engine.compare import parse_vary

    compare_runs(
        scenario,
        dict(parse_vary(text) for text in vary),
        steps=steps,
        seed=seed,
        out=out,
        force=force,
        overrides=_overrides(set_),
        views=_views(views),
        data=data_path,
    )


@app.command()
@_user_errors
def sweep(
    scenario: Annotated[str, typer.Argument(help="Built-in scenario name or a .toml file.")],
    seeds: Annotated[int, typer.Option(help="Seeds per setting (0, 1, ... unless --first-seed).")] = 10,
    vary: Annotated[Optional[list[str]], typer.Option(help="A setting and its values: --vary train.lr_generator=1e-4,2e-4.")] = None,
    steps: Annotated[Optional[int], typer.Option(help="Training steps of each run.")] = None,
    first_seed: Annotated[int, typer.Option(help="The first seed.")] = 0,
    out: Annotated[Optional[Path], typer.Option(help="Folder; default runs/NAME-sweep-DATE-TIME.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing sweep folder.")] = False,
    devices: Annotated[
        Optional[int],
        typer.Option(help="On a CPU, split it into this many JAX devices and shard the runs over them (default: one per core)."),
    ] = None,
    set_: SetOption = None,
) -> None:
    """Train every seed x setting at once (vmapped in one compiled program per group); summarise over seeds."""
    _split_cpu(devices or os.cpu_count() or 1)
    from toygan.engine.sweep import parse_vary
    from toygan.engine.sweep import sweep as sweep_runs

    sweep_runs(
        scenario,
        seeds,
        dict(parse_vary(text) for text in vary or []),
        steps=steps,
        first_seed=first_seed,
        out=out,
        force=force,
        overrides=_overrides(set_),
    )


@app.command("eval")
@_user_errors
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="A run folder written by `toygan run`.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    per_digit: Annotated[int, typer.Option(help="MNIST runs: samples per digit.")] = 1000,
    seed: Annotated[int, typer.Option(help="MNIST runs: seed of the evaluation noise (default: the run's).")] = -1,
) -> None:
    """Score a run's saved generator: against the true mixture (the last row of its metrics.csv), or,
    for MNIST, with the evaluator: digits read as the one asked for, confusion table, Fréchet distance."""
    import json

    from rich.console import Console

    from toygan.engine.runner import load_run

    if per_digit <= 0:
        raise ToyganError(f"--per-digit must be positive, got {per_digit}")
    loaded = load_run(run_dir)
    probe = loaded.probe
    options = {"per_digit": per_digit, "seed": None if seed < 0 else seed}
    final = probe.final(loaded.state, **{k: v for k, v in options.items() if k in probe.final_options})
    final = {**final, **probe.judge(final)}
    if as_json:
        typer.echo(json.dumps({**final, "reference": probe.reference}, indent=2))
        return
    Console().print(probe.table(final))


@app.command()
@_user_errors
def data(
    dataset: Annotated[str, typer.Argument(help="The data set to show: mnist.")],
    data_path: Annotated[
        Optional[Path], typer.Option("--data", help="MNIST .npz, IDX file or folder, or .csv; default: download to the cache.")
    ] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to save the picture.")] = Path("mnist-preview.png"),
    force: Annotated[bool, typer.Option("--force", help="Replace an existing picture.")] = False,
) -> None:
    """Show real images with their labels and the label histogram, and save the picture."""
    from toygan import kinds
    from toygan.engine.rundir import write_atomic

    previews = [name for name in kinds.tables() if kinds.get(name).preview is not None]
    if dataset not in previews:
        raise ToyganError(f"unknown data set '{dataset}': the ones toygan can show are {', '.join(previews)}")
    if output.exists() and not force:
        raise ToyganError(f"{output} already exists: pass --force to replace it, or choose another -o")
    lines, figure = kinds.get(dataset).preview(data_path)
    for line in lines:
        typer.echo(line)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    write_atomic(output, buffer.getvalue())
    typer.echo(f"saved {output}")


@app.command()
@_user_errors
def draw(
    file: Annotated[Path, typer.Argument(help="The scenario file to write, ending in .toml.")],
    force: Annotated[bool, typer.Option("--force", help="Edit FILE if it exists: its mixture is loaded and written back.")] = False,
    extent: Annotated[Optional[float], typer.Option(help="Show the plane [-E, E]^2 (default 4, or what the modes need).")] = None,
) -> None:
    """Draw a Gaussian mixture in a window; closing it writes FILE, which `toygan run FILE` trains on.

    A click places a mode, the scroll wheel over it sets its spread (x or y held: one axis), keys 1-9 and
    + / - its weight, a right click or delete removes it; h shows or hides these keys."""
    from toygan.twod.draw import draw as draw_mixture

    modes = draw_mixture(file, force=force, extent=extent)
    typer.echo(f"wrote {file}: {modes} mode{'s' if modes != 1 else ''}; train on it with: toygan run {file}")


@app.command()
def scenarios() -> None:
    """List the built-in scenarios, one line each."""
    entries = list_scenarios()
    width = max(len(name) for name, _ in entries)
    for name, description in entries:
        typer.echo(f"{name:<{width}}  {description}")


@app.command()
@_user_errors
def sample(
    run_dir: Annotated[Path, typer.Argument(help="A run folder written by `toygan run`.")],
    n: Annotated[int, typer.Option("-n", help="Number of samples.")] = 1000,
    label: Annotated[Optional[int], typer.Option("--label", help="Conditional MNIST runs: the digit to draw (0-9).")] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="The .npz file to write.")] = Path("samples.npz"),
    seed: Annotated[int, typer.Option(help="Seed of the noise.")] = 0,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing output file.")] = False,
) -> None:
    """Draw N samples from a run's trained generator into an .npz file: `x` (N x 2 points, or N x 28 x 28
    images in [0, 1]) and, for conditional runs, `y` (the digits asked for: --label, else 0-9 evenly)."""
    import numpy as np

    from toygan.engine.rundir import write_atomic
    from toygan.engine.runner import load_run

    if n <= 0:
        raise ToyganError(f"-n must be positive, got {n}")
    if output.exists() and not force:
        raise ToyganError(f"{output} already exists: pass --force to replace it, or choose another -o")
    loaded = load_run(run_dir)
    y = loaded.labels(n, label)
    x = loaded.sample(n, seed, label)
    buffer = io.BytesIO()
    np.savez(buffer, x=x, **({} if y is None else {"y": y}))
    write_atomic(output, buffer.getvalue())
    typer.echo(f"wrote {n} {loaded.scenario.kind.sample_noun} to {output}")
