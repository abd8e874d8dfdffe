"""A run folder on disk: created without clobbering, written atomically, read back for sample/eval."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import time
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


def create_run_dir(
    out: Path | None, name: str, force: bool, root: Path = Path("runs"), marker: str = SCENARIO_FILE
) -> Path:
    """Make the run folder: `out`, or a fresh `runs/NAME-YYYYmmdd-HHMMSS[-k]`; never reuse one silently.

    `--force` replaces an existing folder only if it holds `marker`, the file toygan writes first.
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
        if any(out.iterdir()):
            if not force:
                raise ToyganError(f"run folder {out} already exists: pass --force to replace it, or choose another --out")
            if not (out / marker).is_file():
                raise ToyganError(f"{out} is not empty and is not a toygan run folder: --force only replaces run folders")
            shutil.rmtree(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise ToyganError(f"cannot write to output folder {out} ({error.strerror}): choose a writable --out") from None
    return out


def safe_name(text: str) -> str:
    """A folder name from a setting's text: anything but letters, digits and `=.,_-` becomes `_`."""
    return re.sub(r"[^A-Za-z0-9=.,_-]+", "_", text)


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename, so `path` is always whole."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _is_key(leaf) -> bool:
    return jax.dtypes.issubdtype(getattr(leaf, "dtype", None), jax.dtypes.prng_key)


def pytree_to_dict(tree) -> dict[str, np.ndarray]:
    """Leaves keyed by their path (`['generator'].layers[0].kernel.value`); PRNG keys as their raw data."""
    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {
        jax.tree_util.keystr(path): np.asarray(jax.random.key_data(leaf) if _is_key(leaf) else leaf)
        for path, leaf in flat
    }


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
    return {"generator": state.g_params, "discriminator": state.d_params,
            "generator_stats": state.g_stats, "discriminator_stats": state.d_stats,
            "generator_average": state.g_avg_params, "generator_average_stats": state.g_avg_stats}


def save_params(run_dir: Path, state) -> None:
    write_atomic(run_dir / PARAMS_FILE, serialization.msgpack_serialize(pytree_to_dict(_networks(state))))


def load_params(run_dir: Path, template_state):
    """`template_state` with the trained networks of the run folder put in."""
    path = Path(run_dir) / PARAMS_FILE
    if not path.is_file():
        raise ToyganError(f"{run_dir} has no trained parameters ({PARAMS_FILE}): the run did not finish")
    stored = pytree_from_dict(_networks(template_state), read_msgpack(path, "parameter"), path)
    return template_state.replace(
        g_params=stored["generator"], d_params=stored["discriminator"],
        g_stats=stored["generator_stats"], d_stats=stored["discriminator_stats"],
        g_avg_params=stored["generator_average"], g_avg_stats=stored["generator_average_stats"],
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
    if not isinstance(stored, dict) or "state" not in stored or "meta" not in stored:
        raise ToyganError(f"{path} is corrupt: it is not a toygan checkpoint file")
    return pytree_from_dict(template_state, stored["state"], path), stored["meta"]


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


class CsvLog:
    """Rows appended and flushed one at a time, so the file is readable while the run goes on.

    `keep_until` (on resume) keeps the rows of an existing file up to that step and drops the rest,
    rewriting the file atomically first.
    """

    def __init__(self, path: Path, columns: list[str], keep_until: int | None = None):
        rows = []
        if keep_until is not None:
            rows = [r for r in read_csv_rows(path) if int(r["step"]) <= keep_until]
        write_rows(path, rows, columns)
        self._file = open(path, "a", newline="")
        self._writer = csv.writer(self._file)

    def write(self, row: list) -> None:
        self._writer.writerow(row)
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> CsvLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
