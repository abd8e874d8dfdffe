"""The MNIST probe: scores generated digits with the evaluator each frame and draws digit grids."""

from __future__ import annotations

import jax
import numpy as np
from matplotlib.figure import Figure
from rich.console import Group
from rich.table import Table

from toygan.config import Scenario
from toygan.engine.probe import Column, Curve, final_table
from toygan.engine.train import Trainer, TrainState
from toygan.errors import ToyganError
from toygan.mnist.classifier import load_evaluator
from toygan.mnist.digits import (
    captured_digits,
    confusion,
    digit_metrics,
    digit_variety,
    observe_digits,
    requested_labels,
    shown_labels,
    shown_noise,
)
from toygan.mnist.digits import (
    metrics_columns as digit_columns,
)
from toygan.mnist.source import N_DIGITS, DigitSource
from toygan.mnist.view import DigitView

FINAL_PER_DIGIT = 1000  # the final score of an MNIST run uses 1,000 samples per digit


class DigitProbe:
    """Scores generated digits with the MNIST evaluator; frames are grids of digits from fixed noise."""

    unit = "digit"
    n_groups = N_DIGITS
    final_options = ("per_digit", "seed")  # what `toygan eval` may set of the final score
    table_columns: tuple[Column, ...] = (
        ("Fréchet distance", "frechet_distance", "{:.3f}".format),
        ("read as asked", "accuracy", "{:.2%}".format),
        ("digits drawn", "digits_captured", str),
        ("variety", "variety", "{:.0%}".format),
    )

    def __init__(self, trainer: Trainer, scenario: Scenario, announce=None):
        assert isinstance(trainer.source, DigitSource)
        self.trainer, self.scenario = trainer, scenario
        self.evaluator = load_evaluator(trainer.source.data, announce=announce)
        self.key = jax.random.key(scenario.seed)
        self.conditional = trainer.conditional
        self.columns = digit_columns(self.conditional)
        self.curves: tuple[Curve, ...] = (
            *((("accuracy", "requested digit", "tab:green", False),) if self.conditional else ()),
            ("confidence", "confidence", "0.4", False),
            ("frechet_distance", "Fréchet distance (right)", "tab:purple", True),
        )
        self.z_view_ExZ = trainer.view_noise(self.key)
        self.y_view_E = requested_labels(trainer, len(self.z_view_ExZ))
        self.z_shown_SxZ = shown_noise(trainer, self.key)
        self.y_shown_S = shown_labels(trainer)
        self.reference = {
            "frechet_distance": self.evaluator.real_distance,
            "accuracy": self.evaluator.test_accuracy,
            "variety": self.evaluator.real_variety,
        }

    def observe(self, state: TrainState, z_ExZ=None, y_E=None):
        z_ExZ = self.z_view_ExZ if z_ExZ is None else z_ExZ
        y_E = self.y_view_E if y_E is None else y_E
        evaluator = self.evaluator
        return observe_digits(self.trainer, evaluator, evaluator.params, state, z_ExZ, y_E, self.z_shown_SxZ, self.y_shown_S)

    def labels(self, n: int, label: int | None = None) -> np.ndarray:
        """The digits `n` samples ask for: `label`, or 0-9 in turn."""
        if label is not None and not 0 <= label < N_DIGITS:
            raise ToyganError(f"--label {label} is out of range: MNIST digits are 0 to 9")
        return requested_labels(self.trainer, n) if label is None else np.full(n, label, np.int32)

    def row(self, obs) -> dict:
        return digit_metrics(obs, self.evaluator, self.conditional)

    def check_input(self, obs, row: dict) -> np.ndarray:
        return captured_digits(row, self.conditional)

    def history_values(self, row: dict) -> dict[str, float]:
        return {name: float(row[name]) for name, *_ in self.curves}

    def judge(self, final: dict) -> dict:
        """The evaluator's figures say it all: nothing to add."""
        return {}

    def status(self, row: dict) -> str:
        accuracy = f"  accuracy {row['accuracy']:.1%}" if self.conditional else ""
        return f"digits {row['digits_captured']}/10{accuracy}  FD {row['frechet_distance']:.2f}"

    def short_status(self, row: dict) -> str:
        return f"acc {row['accuracy']:.1%}" if self.conditional else f"FD {row['frechet_distance']:.2f}"

    def view(self, figure: Figure):
        labels = self.y_shown_S if self.conditional else None
        view, steps = self.scenario.view, self.scenario.train.steps
        return DigitView(figure, self.scenario.name, labels, view.sample_rows, steps, self.curves)

    def final(self, state: TrainState, per_digit: int = FINAL_PER_DIGIT, seed: int | None = None) -> dict:
        """The final score on `per_digit` samples of each digit (fresh noise): the metrics and the
        confusion table (rows: digit asked for, columns: digit read)."""
        key = jax.random.fold_in(self.key if seed is None else jax.random.key(seed), 0xF17A1)
        n = per_digit * N_DIGITS
        z_ExZ = jax.random.normal(key, (n, self.scenario.model.noise_dim))
        obs = jax.device_get(self.observe(state, z_ExZ, requested_labels(self.trainer, n)))
        row = self.row(obs)
        row["samples"] = n
        row.update(digit_variety(obs, self.evaluator))
        if self.conditional:
            row["confusion"] = confusion(obs).tolist()
        return row

    def table(self, final: dict) -> Table | Group:
        """The final metrics beside real images', and the confusion table of a conditional run."""
        table = final_table("generator", "real test images")
        table.add_row("samples", f"{final['samples']:,}", "")
        table.add_row("Fréchet distance", f"{final['frechet_distance']:.3f}", f"{self.reference['frechet_distance']:.3f} (train vs test)")
        if self.conditional:
            table.add_row("read as the digit asked for", f"{final['accuracy']:.2%}", f"{self.reference['accuracy']:.2%} (true label)")
            worst = min(range(N_DIGITS), key=lambda k: final[f"acc_{k}"])
            table.add_row("worst digit", f"{worst}: {final[f'acc_{worst}']:.1%}", "")
        table.add_row("digits drawn", f"{final['digits_captured']} / 10", "10 / 10")
        per_digit = final["variety_per_digit"]
        least = min((k for k in range(N_DIGITS) if np.isfinite(per_digit[k])), key=lambda k: per_digit[k], default=None)
        variety = "n/a (too few samples)" if least is None else f"{final['variety']:.0%} (least: {least}: {per_digit[least]:.0%})"
        table.add_row("variety within a digit", variety, f"{self.reference['variety']:.0%} (train vs test)")
        table.add_row("mean confidence", f"{final['confidence']:.3f}", "")
        return Group(table, confusion_table(final)) if "confusion" in final else table


def confusion_table(final: dict) -> Table:
    """The confusion counts of a conditional run's final score: rows asked for, columns read as."""
    table = Table(title="asked for (rows) vs read as (columns)", title_justify="left")
    table.add_column("")
    for k in range(N_DIGITS):
        table.add_column(str(k), justify="right")
    for k, counts in enumerate(final["confusion"]):
        table.add_row(str(k), *(f"[bold]{c}[/]" if j == k else (str(c) if c else "·") for j, c in enumerate(counts)))
    return table
