"""What a run looks at, per kind of data: a probe observes the state on the device each frame, turns
the observation into a metrics row, names the curves worth plotting, draws the frame, and scores
the final generator. The training loop (`runner`) is the same for every probe.

`MixtureProbe` scores against the known mixture; `DigitProbe` against the MNIST evaluator.
"""

from __future__ import annotations

from functools import partial

import jax
import numpy as np
from matplotlib.figure import Figure
from rich.table import Table

from toygan.classifier import load_evaluator
from toygan.config import Scenario
from toygan.data import N_DIGITS, DigitSource
from toygan.digits import (
    captured_digits,
    confusion,
    digit_metrics,
    digit_variety,
    observe_digits,
    requested_labels,
    shown_labels,
    shown_noise,
)
from toygan.digits import (
    metrics_columns as digit_columns,
)
from toygan.metrics import comparison_sample, metrics_columns, metrics_row, problems, reference_draws, reference_row, verdict
from toygan.mnist_view import DigitView
from toygan.observe import observe
from toygan.train import Trainer, TrainState
from toygan.view import FrameView

REAL_POINTS_SALT = 0xDA7A
FINAL_PER_DIGIT = 1000  # the final score of an MNIST run uses 1,000 samples per digit

# (history key, label, colour, drawn on the right-hand axis)
Curve = tuple[str, str, str, bool]


@partial(jax.jit, static_argnums=0)
def _comparison(trainer: Trainer, key: jax.Array):
    return comparison_sample(trainer.mixture, key, trainer.scenario.view.eval_samples)


@partial(jax.jit, static_argnums=0)
def _reference(trainer: Trainer, key: jax.Array, real_ExD: jax.Array, real_radii: jax.Array):
    return reference_draws(trainer.mixture, key, real_ExD, real_radii)


class MixtureProbe:
    """Scores generated points against the known mixture; frames are scatter plots over the plane."""

    unit = "mode"
    curves: tuple[Curve, ...] = (
        ("coverage", "coverage", "tab:green", False),
        ("precision", "precision", "tab:orange", False),
        ("modes_share", "modes captured / K", "black", False),
        ("sw_ratio", "distance / a true sample's (right)", "tab:purple", True),
    )

    def __init__(self, trainer: Trainer, scenario: Scenario):
        self.trainer, self.scenario = trainer, scenario
        self.key = jax.random.key(scenario.seed)
        self.n_groups = trainer.mixture.n_modes
        self.z_view_ExZ = trainer.view_noise(self.key)
        self.columns = metrics_columns(self.n_groups)[1:-1]
        self.real_ExD, self.real_radii_E = _comparison(trainer, self.key)
        self.reference = reference_row(trainer.mixture, _reference(trainer, self.key, self.real_ExD, self.real_radii_E))
        # Frames are observed on the last device: with several (the CLI makes one per core), scoring a
        # frame can run beside the next chunk of training, which is dispatched first (see `runner`).
        self.device = jax.devices()[-1]
        self.z_view_ExZ, self.real_ExD, self.real_radii_E = jax.device_put((self.z_view_ExZ, self.real_ExD, self.real_radii_E), self.device)

    def observe(self, state: TrainState):
        state = jax.device_put(state, self.device)
        return observe(self.trainer, state, self.z_view_ExZ, self.real_ExD, self.real_radii_E)

    def row(self, obs) -> dict:
        return self.metrics_row(obs.metrics)

    def metrics_row(self, metrics) -> dict:
        """A metrics row, read against the true samples' distance and coverage."""
        reference = self.reference
        return metrics_row(metrics, reference["sliced_wasserstein"], self.trainer.mixture.weights_K, reference["coverage_mean"])

    def verdict(self, row: dict) -> str:
        return verdict(row, self.trainer.mixture.weights_K, self.reference["coverage_mean"])

    def problems(self, row: dict) -> list[str]:
        return problems(row, self.trainer.mixture.weights_K, self.reference["coverage_mean"])

    def judge(self, final: dict) -> dict:
        """What a run's summary and `toygan eval` add to the final metrics: the verdict and what keeps
        the generator from matching."""
        return {"verdict": self.verdict(final), "problems": self.problems(final)}

    def check_input(self, obs, row: dict) -> np.ndarray:
        """Which modes the frame captures (for the watchdog)."""
        return np.asarray(obs.metrics.captured_K)

    def history_values(self, row: dict) -> dict[str, float]:
        """The curve values of a metrics row (numbers, or the strings read back from metrics.csv)."""
        return {
            "matches": int(row["matches"]),
            "coverage": float(row["coverage"]),
            "precision": float(row["precision"]),
            "modes_share": int(row["modes_captured"]) / self.n_groups,
            "sw_ratio": float(row["sw_ratio"]),
        }

    def status(self, row: dict) -> str:
        return f"{self.verdict(row)}  (modes {row['modes_captured']}/{self.n_groups}, coverage {row['coverage']:.2f})"

    def short_status(self, row: dict) -> str:
        return "matches" if row["matches"] else f"distance {row['sw_ratio']:.1f}x"

    def view(self, figure: Figure):
        real_Nx2 = np.asarray(self.trainer.mixture.sample(jax.random.fold_in(self.key, REAL_POINTS_SALT), self.scenario.view.points))
        headline = lambda obs: self.verdict(self.row(obs))
        return FrameView(
            figure,
            self.trainer.mixture,
            real_Nx2,
            self.scenario.name,
            self.scenario.view,
            self.scenario.train.steps,
            self.curves,
            headline,
        )

    def final(self, state: TrainState) -> dict:
        """The final score: the metrics at the fixed evaluation noise (the last row of metrics.csv)."""
        return self.row(jax.device_get(self.observe(state)))

    def table(self, final: dict) -> Table:
        """Final metrics beside those of a sample from the true mixture."""
        n, reference = self.n_groups, self.reference
        table = _table("generator", "true mixture")
        table.add_row("verdict", self.verdict(final), "")
        table.add_row("distance / a true sample's", f"{final['sw_ratio']:.2f}x", f"{reference['sw_ratio']:.2f}x (<= 1.5 to match)")
        for name in ("precision", "recall", "density", "coverage"):
            table.add_row(name, f"{final[name]:.3f}", f"{reference[name]:.3f}")
        spreads = [float(v) for k, v in final.items() if k.startswith("spread_")]
        true_spreads = [float(v) for k, v in reference.items() if k.startswith("spread_")]
        table.add_row(
            "mode spread / true (range)",
            f"{min(spreads):.2f} to {max(spreads):.2f}",
            f"{min(true_spreads):.2f} to {max(true_spreads):.2f}",
        )
        weights = self.trainer.mixture.weights_K
        mass_error = lambda row: max(abs(float(row[f"mass_{k}"]) - weights[k]) for k in range(n))
        table.add_row("largest mass error", f"{mass_error(final):.3f}", f"{mass_error(reference):.3f}")
        table.add_row("modes captured", f"{final['modes_captured']} / {n}", f"{reference['modes_captured']} / {n}")
        table.add_row("high quality", f"{final['high_quality']:.1%}", f"{reference['high_quality']:.1%}")
        table.add_row("reverse KL", f"{final['reverse_kl']:.4f}", f"{reference['reverse_kl']:.4f}")
        table.add_row("mean log-likelihood", f"{final['log_likelihood']:.3f}", f"{reference['log_likelihood']:.3f}")
        return table


class DigitProbe:
    """Scores generated digits with the MNIST evaluator; frames are grids of digits from fixed noise."""

    unit = "digit"
    n_groups = N_DIGITS

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

    def table(self, final: dict) -> Table:
        table = _table("generator", "real test images")
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
        return table


def confusion_table(final: dict) -> Table:
    """The confusion counts of a conditional run's final score: rows asked for, columns read as."""
    table = Table(title="asked for (rows) vs read as (columns)", title_justify="left")
    table.add_column("")
    for k in range(N_DIGITS):
        table.add_column(str(k), justify="right")
    for k, counts in enumerate(final["confusion"]):
        table.add_row(str(k), *(f"[bold]{c}[/]" if j == k else (str(c) if c else "·") for j, c in enumerate(counts)))
    return table


def _table(*columns: str) -> Table:
    table = Table(title="final metrics", title_justify="left")
    table.add_column("metric")
    for column in columns:
        table.add_column(column, justify="right")
    return table


def make_probe(trainer: Trainer, scenario: Scenario, announce=None) -> MixtureProbe | DigitProbe:
    """The probe for the scenario's data; `announce(text)` hears of slow one-time work (training the evaluator)."""
    if isinstance(trainer.source, DigitSource):
        return DigitProbe(trainer, scenario, announce)
    return MixtureProbe(trainer, scenario)
