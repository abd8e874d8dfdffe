"""What a run looks at: the interface every kind's probe gives the training loop (`runner`, `sweep`).

A probe observes the state on the device each frame, turns the observation into a metrics row,
names the curves worth plotting, draws the frame, and scores the final generator. The loop is the
same for every kind of data; each kind's package has its probe (`toygan.kinds`).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from matplotlib.figure import Figure
from rich.table import Table

# (history key, label, colour, drawn on the right-hand axis)
Curve = tuple[str, str, str, bool]

# (column title, metrics key, format) of a comparison table
Column = tuple[str, str, Any]


class Probe(Protocol):
    unit: str  # what the watchdog counts: "mode", "digit"
    target: str  # what a run reports matching, e.g. "the mixture" (kinds with a verdict)
    n_groups: int
    columns: list[str]  # metrics.csv's columns, after "step"
    curves: tuple[Curve, ...]
    table_columns: tuple[Column, ...]  # the final metrics that `compare` tabulates
    reference: dict
    scenario: Any  # the run's Scenario

    def observe(self, state) -> Any: ...
    def row(self, obs) -> dict: ...
    def check_input(self, obs, row: dict) -> np.ndarray: ...
    def history_values(self, row: dict) -> dict[str, float]: ...
    def judge(self, final: dict) -> dict: ...
    def status(self, row: dict) -> str: ...
    def short_status(self, row: dict) -> str: ...
    def view(self, figure: Figure) -> Any: ...
    def final(self, state, **options) -> dict: ...
    def table(self, final: dict) -> Table: ...


def final_table(*columns: str) -> Table:
    """The table of final metrics, with one column per sample it compares."""
    table = Table(title="final metrics", title_justify="left")
    table.add_column("metric")
    for column in columns:
        table.add_column(column, justify="right")
    return table
