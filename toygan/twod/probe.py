"""The 2-D probes: score generated points each frame and draw the plane. `MixtureProbe` scores against a
known mixture (every criterion, per mode); `PointProbe` against held-out points of data with no known
density (a point file, a toy set): the distance and coverage criteria."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import jax
import numpy as np
from matplotlib.figure import Figure
from rich.table import Table

from toygan.config import Scenario
from toygan.engine import threefry
from toygan.engine.cache import remembered
from toygan.engine.probe import Column, Curve, final_table
from toygan.engine.train import Trainer, TrainState
from toygan.twod import points
from toygan.twod.metrics import comparison_sample, metrics_columns, metrics_row, problems, reference_draws, reference_row, verdict
from toygan.twod.observe import observe
from toygan.twod.published import PUBLISHED
from toygan.twod.view import FrameView

REAL_POINTS_SALT = 0xDA7A
THUMBNAIL_POINTS = 300  # generated points in a sweep's small multiple


@partial(jax.jit, static_argnums=0)
def _comparison(trainer: Trainer, key: jax.Array):
    return comparison_sample(trainer.source.mixture, key, trainer.scenario.view.eval_samples)


@partial(jax.jit, static_argnums=0)
def _reference(trainer: Trainer, key: jax.Array, real_ExD: jax.Array, real_radii: jax.Array):
    return reference_draws(trainer.source.mixture, key, real_ExD, real_radii)


def _comparison_sample(trainer: Trainer, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The fixed true sample that frames are scored against, and its neighbour radii (remembered, and
    compiled with JAX's threefry loop: for one call, it compiles sooner)."""
    with threefry.rolled():
        return remembered(_comparison, trainer, key)


def _real_points(trainer: Trainer, key: jax.Array):
    return trainer.source.sample(jax.random.fold_in(key, REAL_POINTS_SALT), trainer.scenario.view.points)


def _view_noise(trainer: Trainer, key: jax.Array):
    return trainer.view_noise(key)


# Drawn op by op, as frames always had them: these compiled forms only name them for `remembered`.
_named_real_points, _named_view_noise = (jax.jit(f, static_argnums=0) for f in (_real_points, _view_noise))


def _view_points(trainer: Trainer, key: jax.Array) -> np.ndarray:
    """The real points every frame shows (remembered)."""
    return np.asarray(remembered(_named_real_points, trainer, key, op_by_op=lambda: _real_points(trainer, key)))


def _fixed_noise(trainer: Trainer, key: jax.Array) -> jax.Array:
    """The noise every frame's generated points come from (remembered)."""
    return remembered(_named_view_noise, trainer, key, op_by_op=lambda: _view_noise(trainer, key))


def _compile_observe(trainer: Trainer, state, inputs) -> None:
    """Compile a frame's observation for arguments of these shapes, placed as `MixtureProbe.observe` places them."""
    on_device = jax.sharding.SingleDeviceSharding(jax.devices()[-1])
    placed = jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=on_device, weak_type=s.weak_type), (state, *inputs))
    observe.lower(trainer, *placed).compile()


class MixtureProbe:
    """Scores generated points against the known mixture; frames are scatter plots over the plane."""

    unit = "mode"
    target = "the mixture"  # what a run reports matching
    final_options = ()  # the final score is at the fixed evaluation noise: nothing to set
    curves: tuple[Curve, ...] = (
        ("coverage", "coverage", "tab:green", False),
        ("precision", "precision", "tab:orange", False),
        ("modes_share", "modes captured / K", "black", False),
        ("sw_ratio", "distance / a true sample's (right)", "tab:purple", True),
    )
    table_columns: tuple[Column, ...] = (
        ("matches the mixture", "matches", lambda v: "yes" if v else "no"),
        ("distance / true", "sw_ratio", "{:.2f}x".format),
        ("precision", "precision", "{:.3f}".format),
        ("recall", "recall", "{:.3f}".format),
        ("coverage", "coverage", "{:.3f}".format),
        ("modes captured", "modes_captured", str),
        ("high quality", "high_quality", "{:.1%}".format),
    )

    def __init__(self, trainer: Trainer, scenario: Scenario):
        self.trainer, self.scenario = trainer, scenario
        self.key = jax.random.key(scenario.seed)
        self.n_groups = trainer.source.mixture.n_modes
        self.z_view_ExZ = _fixed_noise(trainer, self.key)
        self.columns = metrics_columns(self.n_groups)[1:-1]
        self.real_ExD, self.real_radii_E = _comparison_sample(trainer, self.key)
        self.reference = reference_row(trainer.source.mixture, remembered(_reference, trainer, self.key, self.real_ExD, self.real_radii_E))
        # Frames are observed on the last device: with several (the CLI makes one per core), scoring a
        # frame can run beside the next chunk of training, which is dispatched first (see `runner`).
        self.device = jax.devices()[-1]
        self.z_view_ExZ, self.real_ExD, self.real_radii_E = jax.device_put((self.z_view_ExZ, self.real_ExD, self.real_radii_E), self.device)

    @classmethod
    def compile_ahead(cls, trainer: Trainer, scenario: Scenario, state) -> list[Callable[[], object]]:
        """The probe's work before a run's first frame as independent jobs, which `runner` runs on all
        cores at once: the reference figures, the real points and the noise a frame shows, and the compiled
        observation of a frame of `state`'s shapes. The probe then finds their results remembered
        (`toygan.engine.cache`) and the observation compiled."""
        key = jax.random.key(scenario.seed)
        return [
            lambda: cls._reference_figures(trainer, key),
            lambda: (_view_points(trainer, key), _fixed_noise(trainer, key)),
            lambda: _compile_observe(trainer, state, cls._observe_shapes(trainer, key)),
        ]

    @staticmethod
    def _reference_figures(trainer: Trainer, key: jax.Array):
        return remembered(_reference, trainer, key, *_comparison_sample(trainer, key))

    @staticmethod
    def _observe_shapes(trainer: Trainer, key: jax.Array) -> tuple:
        return (jax.eval_shape(trainer.view_noise, key), *jax.eval_shape(_comparison, trainer, key))

    observe_with = staticmethod(observe)  # (trainer, state, *observe_inputs): pure, so sweeps vmap it

    @property
    def observe_inputs(self) -> tuple[jax.Array, ...]:
        """The fixed arrays a frame is observed with: view noise, the comparison sample and its radii."""
        return self.z_view_ExZ, self.real_ExD, self.real_radii_E

    def observe(self, state: TrainState):
        return observe(self.trainer, jax.device_put(state, self.device), *self.observe_inputs)

    def row(self, obs) -> dict:
        return self.metrics_row(obs.metrics)

    def metrics_row(self, metrics) -> dict:
        """A metrics row, read against the true samples' distance and coverage."""
        reference = self.reference
        return metrics_row(metrics, reference["sliced_wasserstein"], self.trainer.source.mixture.weights_K, reference["coverage_mean"])

    def verdict(self, row: dict) -> str:
        return verdict(row, self.trainer.source.mixture.weights_K, self.reference["coverage_mean"])

    def problems(self, row: dict) -> list[str]:
        return problems(row, self.trainer.source.mixture.weights_K, self.reference["coverage_mean"])

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
        real_Nx2 = _view_points(self.trainer, self.key)
        headline = lambda obs: self.verdict(self.row(obs))
        return FrameView(
            figure,
            self.trainer.source.bounds(),
            real_Nx2,
            self.scenario.name,
            self.scenario.view,
            self.scenario.train.steps,
            self.curves,
            headline,
            self.scenario.train.loss,
        )

    # What a sweep tabulates: (metrics key, column title, format), and which runs are complete.
    sweep_columns: tuple[tuple[str, str, object], ...] = (
        ("sw_ratio", "distance / true", "{:.2f}".format),
        ("coverage", "coverage", "{:.3f}".format),
        ("modes_captured", "modes captured", "{:.2f}".format),
        ("high_quality", "high quality", "{:.1%}".format),
        ("reverse_kl", "reverse KL", "{:.4f}".format),
    )
    complete_key, complete_title = "all_modes", "all modes"

    def complete(self, row: dict) -> bool:
        return row["modes_captured"] == self.n_groups

    def published_table(self, rows: list[dict]) -> Table | None:
        """The sweep's rows beside the published results of the scenario's protocol, if it names one."""
        published = PUBLISHED.get(self.scenario.published)
        if not published:
            return None
        table = Table(title=f"beside the published {self.scenario.published} results", title_justify="left")
        for column in ("method", "modes", "high quality"):
            table.add_column(column, justify="left" if column == "method" else "right")
        for method, (modes, high_quality) in published.items():
            table.add_row(method, f"{modes:.1f}", f"{high_quality:.1f}%")
        for row in rows:
            table.add_row(f"toygan {row['setting']}", f"{row['modes_captured_mean']:.1f}", f"{100 * row['high_quality_mean']:.1f}%")
        return table

    def thumbnail(self, obs) -> np.ndarray:
        """What a sweep's small multiple shows of a frame: some generated points."""
        return np.asarray(obs.fake_ExD[:THUMBNAIL_POINTS])

    def thumbnail_axes(self, ax):
        """Draw the data into a small-multiples panel; returns the function that shows a thumbnail there
        (and gives back the artists to redraw)."""
        low, high = self.trainer.source.bounds()
        real = np.asarray(self.trainer.source.sample(jax.random.key(0), 500))
        ax.set_xlim(low[0], high[0])
        ax.set_ylim(low[1], high[1])
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.scatter(real[:, 0], real[:, 1], s=4, c="tab:red", marker="+", linewidths=0.5)
        scatter = ax.scatter([], [], s=3, c="tab:blue", marker="x", linewidths=0.5, animated=True)

        def show(points_Nx2: np.ndarray):
            scatter.set_offsets(points_Nx2)
            return [scatter]

        return show

    def final(self, state: TrainState) -> dict:
        """The final score: the metrics at the fixed evaluation noise (the last row of metrics.csv)."""
        return self.row(jax.device_get(self.observe(state)))

    def table(self, final: dict) -> Table:
        """Final metrics beside those of a sample from the true mixture."""
        n, reference = self.n_groups, self.reference
        table = final_table("generator", "true mixture")
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
        weights = self.trainer.source.mixture.weights_K
        mass_error = lambda row: max(abs(float(row[f"mass_{k}"]) - weights[k]) for k in range(n))
        table.add_row("largest mass error", f"{mass_error(final):.3f}", f"{mass_error(reference):.3f}")
        table.add_row("modes captured", f"{final['modes_captured']} / {n}", f"{reference['modes_captured']} / {n}")
        table.add_row("high quality", f"{final['high_quality']:.1%}", f"{reference['high_quality']:.1%}")
        table.add_row("reverse KL", f"{final['reverse_kl']:.4f}", f"{reference['reverse_kl']:.4f}")
        table.add_row("mean log-likelihood", f"{final['log_likelihood']:.3f}", f"{reference['log_likelihood']:.3f}")
        return table


@partial(jax.jit, static_argnums=0)
def _point_reference(trainer: Trainer, key: jax.Array, held_out_MxD: jax.Array, radii_M: jax.Array):
    return points.reference_metrics(trainer.source.reference_samples(key), held_out_MxD, radii_M)


_held_out_radii = jax.jit(points.held_out_radii)


def _held_out(trainer: Trainer) -> tuple[jax.Array, jax.Array]:
    """The held-out points and their neighbour radii (remembered)."""
    held_out_MxD = jax.numpy.asarray(trainer.source.held_out_MxD)
    return held_out_MxD, remembered(_held_out_radii, held_out_MxD)


class PointProbe(MixtureProbe):
    """Scores generated points against held-out points of the data (`toygan.twod.points`): the sample
    distance and precision, recall, density and coverage, each read against training points of the
    held-out size as the true sample. No density, so no modes, masses or spreads."""

    curves: tuple[Curve, ...] = (
        ("coverage", "coverage", "tab:green", False),
        ("precision", "precision", "tab:orange", False),
        ("sw_ratio", "distance / a true sample's (right)", "tab:purple", True),
    )
    table_columns: tuple[Column, ...] = MixtureProbe.table_columns[:5]
    sweep_columns = MixtureProbe.sweep_columns[:2]
    complete_key, complete_title = "matching", "matching"
    target = "the data"
    columns = ["sw_ratio", "precision", "recall", "density", "coverage", "matches"]

    def __init__(self, trainer: Trainer, scenario: Scenario):
        self.trainer, self.scenario = trainer, scenario
        self.key = jax.random.key(scenario.seed)
        self.n_groups = 0
        held_out_MxD, radii_M = _held_out(trainer)
        self.reference = points.reference_row(remembered(_point_reference, trainer, self.key, held_out_MxD, radii_M))
        self.device = jax.devices()[-1]  # as MixtureProbe's
        self.z_view_ExZ, self.real_ExD, self.real_radii_E = jax.device_put(
            (_fixed_noise(trainer, self.key), held_out_MxD, radii_M), self.device
        )

    @staticmethod
    def _reference_figures(trainer: Trainer, key: jax.Array):
        return remembered(_point_reference, trainer, key, *_held_out(trainer))

    @staticmethod
    def _observe_shapes(trainer: Trainer, key: jax.Array) -> tuple:
        held_out_MxD = jax.eval_shape(lambda: jax.numpy.asarray(trainer.source.held_out_MxD))
        return (jax.eval_shape(trainer.view_noise, key), held_out_MxD, jax.eval_shape(points.held_out_radii, held_out_MxD))

    def metrics_row(self, metrics) -> dict:
        return points.point_row(metrics, self.reference["sliced_wasserstein"], self.reference["coverage_mean"])

    def problems(self, row: dict) -> list[str]:
        met = points.point_criteria(row, self.reference["coverage_mean"])
        found = []
        if not met["distance"][1]:
            found.append(f"distance {float(row['sw_ratio']):.1f}x a true sample's")
        if not met["coverage"][1]:
            found.append(f"coverage {float(row['coverage']):.2f}, a true sample's {self.reference['coverage_mean']:.2f}")
        return found

    def verdict(self, row: dict) -> str:
        found = self.problems(row)
        if not found:
            return f"matches the data: distance {float(row['sw_ratio']):.2f}x a true sample's"
        return f"not yet: {'; '.join(found)}"

    def check_input(self, obs, row: dict) -> np.ndarray:
        """No modes to watch."""
        return np.zeros(0, bool)

    def history_values(self, row: dict) -> dict[str, float]:
        return {name: float(row[name]) for name in ("coverage", "precision", "sw_ratio")} | {"matches": int(row["matches"])}

    def status(self, row: dict) -> str:
        return f"{self.verdict(row)}  (coverage {row['coverage']:.2f})"

    def complete(self, row: dict) -> bool:
        return bool(row["matches"])

    def published_table(self, rows: list[dict]) -> Table | None:
        return None

    def table(self, final: dict) -> Table:
        """Final metrics beside those of a true sample (training points of the held-out size)."""
        reference = self.reference
        table = final_table("generator", "training points")
        table.add_row("verdict", self.verdict(final), "")
        table.add_row("distance / a true sample's", f"{final['sw_ratio']:.2f}x", f"{reference['sw_ratio']:.2f}x (<= 1.5 to match)")
        for name in ("precision", "recall", "density", "coverage"):
            table.add_row(name, f"{final[name]:.3f}", f"{reference[name]:.3f}")
        return table
