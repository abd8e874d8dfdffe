"""The same scenario and seed under several settings, side by side: one GIF and one table of metrics."""

from __future__ import annotations

import itertools
import re
import tomllib
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from PIL import Image, ImageDraw
from rich.console import Console
from rich.table import Table

from toygan.config import load_scenario
from toygan.engine import rundir
from toygan.engine.gif import GifWriter
from toygan.engine.probe import Column
from toygan.engine.runner import run
from toygan.errors import ToyganError

COMPARISON_FILE = "comparison.csv"
GIF_FILE = "side-by-side.gif"
LABEL_HEIGHT = 24


def comparison_table(title: str, rows: list[dict], columns: tuple[Column, ...]) -> Table:
    """The settings' final metrics, in the columns that their kind of data has (its probe's
    `table_columns`; those of a conditional MNIST run's that an unconditional one lacks are left out)."""
    columns = [c for c in columns if c[1] in rows[0]]
    table = Table(title=title, title_justify="left")
    table.add_column("setting")
    for column, *_ in columns:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(row["setting"], *(fmt(row[key]) for _, key, fmt in columns))
    return table


def parse_vary(text: str) -> tuple[str, list]:
    """`train.generator_loss=non-saturating,minimax` -> key and values (each read as TOML if it can be)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip() or not raw.strip():
        raise ToyganError(f"--vary {text!r} is not of the form section.key=value1,value2")
    values = []
    for item in re.split(r",(?![^\[]*\])", raw):
        try:
            values.append(tomllib.loads(f"v = {item.strip()}")["v"])
        except tomllib.TOMLDecodeError:
            values.append(item.strip())
    return key.strip(), values


def _label(setting: dict) -> str:
    return " ".join(f"{key.split('.')[-1]}={value}" for key, value in setting.items())


def _folder_name(setting: dict) -> str:
    return rundir.safe_name("_".join(f"{k.split('.')[-1]}={v}" for k, v in setting.items()))


def _labelled(frame_HxWx3: np.ndarray, text: str) -> np.ndarray:
    image = Image.new("RGB", (frame_HxWx3.shape[1], frame_HxWx3.shape[0] + LABEL_HEIGHT), "white")
    image.paste(Image.fromarray(frame_HxWx3), (0, LABEL_HEIGHT))
    ImageDraw.Draw(image).text((8, 5), text, fill="black", font_size=15)
    return np.asarray(image)


def side_by_side(gifs: list[Path], labels: list[str], out: Path, fps: float) -> int:
    """Stream the runs' GIFs frame by frame into one GIF; a shorter run holds its last frame."""
    frames = [iio.imiter(path) for path in gifs]
    last: list[np.ndarray | None] = [None] * len(gifs)
    with GifWriter(out, fps) as writer:
        for step_frames in itertools.zip_longest(*frames):
            last = [f[..., :3] if f is not None else prev for f, prev in zip(step_frames, last)]
            height = max(f.shape[0] for f in last)
            padded = [np.pad(f, ((0, height - f.shape[0]), (0, 0), (0, 0)), constant_values=255) for f in last]
            writer.append(np.concatenate([_labelled(f, text) for f, text in zip(padded, labels)], axis=1))
        return writer.frames_written


def compare(
    scenario: str | Path,
    vary: dict[str, list],
    *,
    steps: int | None = None,
    seed: int | None = None,
    out: Path | None = None,
    force: bool = False,
    overrides: dict[str, object] | None = None,
    views: list[str] | None = None,
    quiet: bool = False,
    data: str | Path | None = None,
) -> tuple[Path, list[dict]]:
    """Train one run per combination of the `vary` values; returns the folder and the metrics rows.
    `data` is the data file or folder of a scenario that reads one (MNIST), as `run` takes it."""
    if not vary:
        raise ToyganError("nothing to compare: give at least one --vary section.key=value1,value2")
    base = load_scenario(scenario, overrides)
    if base.kind.compare_refusal:
        raise ToyganError(f"{base.name}: {base.kind.compare_refusal}")
    keys = list(vary)
    settings = [dict(zip(keys, values)) for values in itertools.product(*(vary[k] for k in keys))]
    for setting in settings:  # a bad --vary is reported before anything is trained or written
        load_scenario(scenario, {**(overrides or {}), **setting})
    name = Path(str(scenario)).stem
    folder = rundir.create_run_dir(out, f"{name}-compare", force, marker=COMPARISON_FILE)
    console = Console(stderr=True, quiet=quiet)
    rows, labels, gifs = [], [], []
    for setting in settings:
        label = _label(setting)
        console.print(f"[bold]{label}[/]")
        result = run(
            scenario,
            steps=steps,
            seed=seed,
            out=folder / _folder_name(setting),
            live=False,
            overrides={**(overrides or {}), **setting},
            views=views,
            quiet=True,
            data=data,
        )
        final = result.evaluate()
        rows.append({"setting": label, **final})
        labels.append(label)
        gifs.append(result.run_dir / rundir.GIF_FILE)
    fps = result.scenario.view.fps
    side_by_side(gifs, labels, folder / GIF_FILE, fps)
    rundir.write_rows(folder / COMPARISON_FILE, rows)
    console.print(comparison_table(f"{name}: final metrics", rows, result.probe.table_columns))
    console.print(f"side by side: {folder / GIF_FILE}")
    return folder, rows
