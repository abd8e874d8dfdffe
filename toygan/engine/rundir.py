"""A run folder on disk: created without clobbering, written atomically, read back for sample/eval."""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from toygan.config import Scenario, load_scenario
from toygan.errors import ToyganError

SCENARIO_FILE = "scenario.toml"
PARAMS_FILE = "params.msgpack"
LOSSES_FILE = "losses.csv"
METRICS_FILE = "metrics.csv"
SUMMARY_FILE = "summary.json"
REPORT_FILE = "report.png"
CHECKPOINT_FILE = "checkpoint.msgpack"
GIF_FILE = "training.gif"
FINAL_PNG = "final.png"
CONTROLS_FILE = "controls.csv"
LOCK_FILE = ".lock"
CHECKPOINT_META = {"step", "gif_frames", "watchdog"}  # the bookkeeping a checkpoint holds beside the state


def create_run_dir(out: Path | None, name: str, force: bool, root: Path = Path("runs"), marker: str = SCENARIO_FILE) -> Path:
    """Make the run folder: `out`, or a fresh `runs/NAME-YYYYmmdd-HHMMSS[-k]`; never reuse one silently.

    `--force` replaces an existing folder only if it holds `marker`, the file toygan writes first, and
    no live process holds its lock.
    """
    if out is None:
        stem = root / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
        out, k = stem, 1
        while out.exists():
            k += 1
            out = stem.with_name(f"{stem.name}-{k}")
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise ToyganError(f"output path {out} is a file: choose a folder name with --out")
        if any(p.name != LOCK_FILE for p in out.iterdir()):
            if not force:
                raise ToyganError(f"run folder {out} already exists: pass --force to replace it, or choose another --out")
            if not (out / marker).is_file():
                raise ToyganError(f"{out} is not empty and is not a toygan run folder: --force only replaces run folders")
            with locked(out):
                shutil.rmtree(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise ToyganError(f"cannot write to output folder {out} ({error.strerror}): choose a writable --out") from None
    return out


@contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on a run folder while writing it, so that a second `run --force` or `resume`
    is refused instead of mixing its files with ours. The OS releases it when the process ends, however."""
    try:
        fd = os.open(Path(folder) / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise ToyganError(f"cannot write to run folder {folder} ({error.strerror})") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip()
            who = f"toygan process {holder}" if holder else "another toygan process"
            raise ToyganError(f"{folder} is in use by {who}: wait for it to end, or stop it, first") from None
        except OSError as error:
            raise ToyganError(f"cannot lock run folder {folder} ({error.strerror})") from None
        yield
    finally:
        os.close(fd)


def safe_name(text: str) -> str:
    """A folder name from a setting's text: anything but letters, digits and `=.,_-` becomes `_`."""
    return re.sub(r"[^A-Za-z0-9=.,_-]+", "_", text)


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename, so `path` is always whole; a failed write
    (disk full, file too large) leaves `path` as it was and raises `OSError` naming it."""
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except OSError as error:
        tmp.unlink(missing_ok=True)
        raise OSError(error.errno, error.strerror, str(path)) from None
    os.replace(tmp, path)


def _is_key(leaf) -> bool:
    return jax.dtypes.issubdtype(getattr(leaf, "dtype", None), jax.dtypes.prng_key)


def pytree_to_dict(tree) -> dict[str, np.ndarray]:
    """Leaves keyed by their path (`['generator'].layers[0].kernel.value`); PRNG keys as their raw data."""
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {jax.tree_util.keystr(path): np.asarray(jax.random.key_data(leaf) if _is_key(leaf) else leaf) for path, leaf in flat}


def pytree_from_dict(template, stored: dict, where: Path):
    """The inverse of `pytree_to_dict`, shaped like `template`; mismatches are reported, not guessed."""
    flat, treedef = jax.tree_util.tree_flatten_with_path(template)
    leaves = []
    for path, leaf in flat:
        key = jax.tree_util.keystr(path)
        expected = jax.random.key_data(leaf).shape if _is_key(leaf) else np.shape(leaf)
        if key not in stored or np.shape(stored[key]) != expected:
            raise ToyganError(f"{where} does not match its scenario.toml (at {key}): the run folder was altered")
        leaves.append(jax.random.wrap_key_data(stored[key]) if _is_key(leaf) else jnp.asarray(stored[key]))
    return jax.tree_util.tree_unflatten(treedef, leaves)


def read_msgpack(path: Path, what: str) -> dict:
    try:
        return serialization.msgpack_restore(path.read_bytes())
    except OSError as error:
        raise ToyganError(f"cannot read {path} ({error.strerror})") from None
    except Exception:
        raise ToyganError(f"{path} is corrupt: it is not a toygan {what} file") from None


def save_scenario(run_dir: Path, scenario: Scenario) -> None:
    write_atomic(run_dir / SCENARIO_FILE, scenario.to_toml().encode())


def load_run_scenario(run_dir: Path) -> Scenario:
    """The scenario a run was made with; a folder that is not a run gets a one-line error."""
    run_dir = Path(run_dir)
    if not (run_dir / SCENARIO_FILE).is_file():
        raise ToyganError(f"{run_dir} is not a toygan run folder (no {SCENARIO_FILE}): pass a folder made by `toygan run`")
    return load_scenario(run_dir / SCENARIO_FILE)


def _networks(state) -> dict:
    """The trained networks of a training state: parameters and batch statistics, without optimisers."""
    return {
        "generator": state.g_params,
        "discriminator": state.d_params,
        "generator_stats": state.g_stats,
        "discriminator_stats": state.d_stats,
        "generator_average": state.g_avg_params,
        "generator_average_stats": state.g_avg_stats,
    }


def save_params(run_dir: Path, state) -> None:
    write_atomic(run_dir / PARAMS_FILE, serialization.msgpack_serialize(pytree_to_dict(_networks(state))))


def load_params(run_dir: Path, template_state):
    """`template_state` with the trained networks of the run folder put in."""
    path = Path(run_dir) / PARAMS_FILE
    if not path.is_file():
        raise ToyganError(f"{run_dir} has no trained parameters ({PARAMS_FILE}): the run did not finish")
    stored = pytree_from_dict(_networks(template_state), read_msgpack(path, "parameter"), path)
    return template_state.replace(
        g_params=stored["generator"],
        d_params=stored["discriminator"],
        g_stats=stored["generator_stats"],
        d_stats=stored["discriminator_stats"],
        g_avg_params=stored["generator_average"],
        g_avg_stats=stored["generator_average_stats"],
    )


def save_checkpoint(run_dir: Path, state, meta: dict) -> None:
    """Training state (parameters, optimiser states, PRNG key, step) and the run's bookkeeping, atomically."""
    payload = {"state": pytree_to_dict(state), "meta": meta}
    write_atomic(run_dir / CHECKPOINT_FILE, serialization.msgpack_serialize(payload))


def load_checkpoint(run_dir: Path, template_state):
    """(state, meta) of the last checkpoint; a missing or corrupt one is a one-line error."""
    path = Path(run_dir) / CHECKPOINT_FILE
    if not path.is_file():
        raise ToyganError(f"{run_dir} has no {CHECKPOINT_FILE}: it cannot be resumed")
    stored = read_msgpack(path, "checkpoint")
    meta = stored.get("meta") if isinstance(stored, dict) else None
    if not isinstance(meta, dict) or "state" not in stored or not CHECKPOINT_META <= meta.keys():
        raise ToyganError(f"{path} is corrupt: it is not a toygan checkpoint file")
    return pytree_from_dict(template_state, stored["state"], path), meta


def checkpoint_step(run_dir: Path) -> int | None:
    """The step of the run folder's checkpoint, or None if it has no readable one."""
    try:
        return int(read_msgpack(Path(run_dir) / CHECKPOINT_FILE, "checkpoint")["meta"]["step"])
    except (ToyganError, KeyError, TypeError, ValueError):
        return None


def summary_step(run_dir: Path) -> int | None:
    """The step at which the run folder's last run ended and wrote its summary; None without one."""
    try:
        return int(json.loads((Path(run_dir) / SUMMARY_FILE).read_text())["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_rows(path: Path, rows: list[dict], columns: list[str] | None = None) -> None:
    """A whole CSV file from dict rows (columns: the first row's keys unless given), written atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns if columns is not None else list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_atomic(path, buffer.getvalue().encode())


def read_csv_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def rows_until(path: Path, step: int) -> list[dict[str, str]]:
    """The rows of a run's CSV log up to `step`, a checkpoint's. A last row cut short (by a kill or a full
    disk) comes after the checkpoint and is dropped; a damaged row or a log that stops short of `step`
    cannot be repaired and is a one-line error."""
    with open(path, newline="") as f:
        text = f.read()
    kept: list[dict[str, str]] = []
    last = 0
    for number, row in enumerate(csv.DictReader(io.StringIO(text[: text.rfind("\n") + 1])), start=2):
        try:
            row_step = int(row["step"])
        except (TypeError, ValueError):
            row_step = None
        if row_step is None or None in row or None in row.values():
            raise ToyganError(f"{path} is damaged at line {number}: the run folder was altered, it cannot be resumed")
        if row_step > step:
            break
        kept.append(row)
        last = row_step
        if last == step:
            break  # the rest comes after the checkpoint
    if last != step:
        raise ToyganError(
            f"{path} stops at step {last}, short of the checkpoint's step {step}: the run folder was altered, it cannot be resumed"
        )
    return kept


class CsvLog:
    """Rows appended and flushed one at a time, so the file is readable while the run goes on.

    `keep_until` (on resume) keeps the rows of an existing file up to that step and drops the rest,
    rewriting the file atomically first. A failed write raises `OSError` naming the file.
    """

    def __init__(self, path: Path, columns: list[str], keep_until: int | None = None, fill: dict | None = None):
        """`fill` gives the values of columns that kept rows lack (written by an older toygan)."""
        self.path = path
        rows = []
        if keep_until is not None and path.is_file():
            rows = [{**(fill or {}), **row} for row in rows_until(path, keep_until)]
        write_rows(path, rows, columns)
        self._file = open(path, "a", newline="")
        self._writer = csv.writer(self._file)

    def write(self, row: list) -> None:
        try:
            self._writer.writerow(row)
            self._file.flush()
        except OSError as error:
            raise OSError(error.errno, error.strerror, str(self.path)) from None

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> CsvLog:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        try:
            self.close()
        except OSError:
            if exc_type is None:  # else the error already on its way says what failed
                raise
