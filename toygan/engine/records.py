"""A run's records, frame by frame, written the same way by `runner` (one run) and `sweep` (many):
losses.csv, metrics.csv with the watchdog's warnings, the curves so far, and summary.json at the end."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from toygan.engine import objectives, rundir
from toygan.engine.alerts import Watchdog
from toygan.engine.probe import Probe

LOSS_COLUMNS = ["step", "d_loss", "g_loss", "d_real", "d_fake", "lr_generator", "lr_discriminator"]


class FrameLog:
    """The CSV files, warnings and curve history of one run folder.

    `checkpoint` (on resume) is the checkpoint's bookkeeping: the files are cut back to its step, the
    watchdog takes up its state, and the curves and warnings so far are read back from the files."""

    def __init__(self, run_dir: Path, probe: Probe, frame_every: int, checkpoint: dict | None = None):
        self.probe = probe
        keep_until = None if checkpoint is None else int(checkpoint["step"])
        # Run folders from before the rate columns ran at their scenario's rates throughout.
        train = probe.scenario.train
        rates = {"lr_generator": reported(train.lr_generator), "lr_discriminator": reported(train.lr_discriminator)}
        self.losses = rundir.CsvLog(run_dir / rundir.LOSSES_FILE, LOSS_COLUMNS, keep_until, fill=rates)
        self.metrics = rundir.CsvLog(run_dir / rundir.METRICS_FILE, ["step", *probe.columns, "warnings"], keep_until)
        self.watchdog = Watchdog(frame_every, probe.unit, objectives.HAS_PROBABILITY[probe.scenario.train.loss])
        self.history: dict[str, list] = {name: [] for name in ("step", "d_loss", "g_loss", *(c[0] for c in probe.curves))}
        self.warnings: list[str] = []
        if checkpoint is not None:
            self.watchdog.load_state(checkpoint["watchdog"])
            self._restore(run_dir)

    def _restore(self, run_dir: Path) -> None:
        """Curves and warnings so far, read back from the CSV files (already cut to the checkpoint)."""
        for row in rundir.read_csv_rows(run_dir / rundir.LOSSES_FILE):
            self.history["d_loss"].append(float(row["d_loss"]))
            self.history["g_loss"].append(float(row["g_loss"]))
        for row in rundir.read_csv_rows(run_dir / rundir.METRICS_FILE):
            self._add_curves(int(row["step"]), row)
            self.warnings.extend(w for w in row["warnings"].split("; ") if w)

    def _add_curves(self, step: int, row: dict) -> None:
        self.history["step"].append(step)
        for name, value in self.probe.history_values(row).items():
            self.history.setdefault(name, []).append(value)

    def write(self, step: int, logs, obs, row: dict, rates: tuple[float, float]) -> list[str]:
        """Record a frame: the chunk's mean losses (`logs`, stacked per step; None at step 0) with the
        learning rates (G's, D's) its steps ran at, the metrics row of observation `obs`, and the warnings
        they raise, which are returned."""
        d_real = d_fake = 0.5
        if logs is not None:
            means = [reported(np.mean(v)) for v in logs]
            self.losses.write([step, *means, *(reported(rate) for rate in rates)])
            self.history["d_loss"].append(means[0])
            self.history["g_loss"].append(means[1])
            d_real, d_fake = means[2], means[3]
        new = self.watchdog.check(step, self.probe.check_input(obs, row), bool(obs.finite), d_real, d_fake)
        self.warnings.extend(new)
        self.metrics.write([step, *row.values(), "; ".join(new)])
        self._add_curves(step, row)
        return new

    def summary(self, step: int, final: dict) -> dict:
        """What summary.json holds for the kept generator at `step` with final metrics `final`."""
        summary = {"step": step, "final": final, "reference": self.probe.reference, "warnings": self.warnings}
        summary.update(self.probe.judge(final))
        summary["diverged_at_step"] = self.watchdog.diverged_at  # None: it did not
        if "matches" in self.history:
            summary["matched_from_step"] = matched_from(self.history["step"], self.history["matches"])
            # What keeps the kept generator from matching (too narrow, too wide, masses off) is a warning.
            summary["warnings"] = self.warnings + [f"step {step}: {text}" for text in summary["problems"]]
        return summary

    def close(self) -> None:
        try:
            self.losses.close()
        finally:
            self.metrics.close()

    def __enter__(self) -> FrameLog:
        return self

    def __exit__(self, exc_type, *exc) -> None:
        """Closes both files; a failure to close is raised only if no error is already on its way."""
        try:
            self.losses.__exit__(exc_type, *exc)
        finally:
            self.metrics.__exit__(exc_type, *exc)


def reported(value) -> float:
    """A float32 as the shortest decimal that reads back as the same float32: CSV and JSON agree."""
    return float(str(np.float32(value)))


def write_summary(run_dir: Path, summary: dict) -> None:
    rundir.write_atomic(run_dir / rundir.SUMMARY_FILE, json.dumps(summary, indent=2).encode())


def matched_from(steps: list[int], matches: list[int]) -> int | None:
    """The first step from which a run matched its data at every frame to the end; None if the last
    frame does not match."""
    first = None
    for step, match in zip(steps, matches):
        first = (step if first is None else first) if match else None
    return first


# The controls that change what training computes (the notebook's rate sliders name the rate they set).
STEERING = {"d_update", "g_update", "lr_halve", "lr_double", "lr_generator", "lr_discriminator"}


class ControlLog:
    """controls.csv: what was asked of a run from its live window, a row (step, action, value) each.

    `checkpoint` (on resume) cuts the file back to the checkpoint's step. Rows are flushed one at a time;
    the file exists only once a key was pressed."""

    COLUMNS = ["step", "action", "value"]

    def __init__(self, run_dir: Path, checkpoint: dict | None = None):
        self.path = run_dir / rundir.CONTROLS_FILE
        self.rows: list[dict] = []
        if checkpoint is not None and self.path.is_file():
            self.rows = [row for row in rundir.read_csv_rows(self.path) if int(row["step"]) <= int(checkpoint["step"])]
            rundir.write_rows(self.path, self.rows, self.COLUMNS)
        self._file = None

    def write(self, step: int, action: str, value="") -> None:
        if self._file is None:
            if not self.rows:
                rundir.write_rows(self.path, [], self.COLUMNS)
            self._file = open(self.path, "a", newline="")
        try:
            csv.writer(self._file).writerow([step, action, value])
            self._file.flush()
        except OSError as error:
            raise OSError(error.errno, error.strerror, str(self.path)) from None
        self.rows.append({"step": str(step), "action": action, "value": str(value)})

    @property
    def single_updates(self) -> int:
        """How many single D or G updates the run had: each draws its batch with the next count."""
        return sum(row["action"] in ("d_update", "g_update") for row in self.rows)

    @property
    def steered(self) -> bool:
        return any(row["action"] in STEERING for row in self.rows)

    def summary(self) -> dict:
        """What summary.json says of the controls: whether the run was steered, and where that is recorded."""
        actions = [row["action"] for row in self.rows]
        return {
            "steered": self.steered,
            "controls": {a: actions.count(a) for a in sorted(set(actions))},
            "controls_file": rundir.CONTROLS_FILE if actions else None,
        }

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> ControlLog:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
