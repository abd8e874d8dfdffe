"""The user's own 2-D points: loading and checking a file, a training / held-out split, and metrics without a density.

A points file is a `.csv` of x,y pairs (one per line; a header row, blank lines, `#` comments and
spaces around the numbers are allowed) or a `.npy` array of shape (N, 2). Every problem with it is
one `ToyganError` line naming the file (and, for a CSV, the line) and saying how to fix it.

`PointSource` splits the points once, by a seeded permutation, into a training part that batches
are drawn from and a held-out part that generated samples are compared with.

An empirical distribution has no density, so the figures are those of `toygan.twod.fidelity` that need
only samples: the sliced Wasserstein distance, precision, recall, density and coverage, read
against the held-out part. Their unit, what a perfect generator scores, is what another sample of
the true distribution scores against the held-out part; the training points are such samples (the
two parts are disjoint draws from the same distribution), so the reference is the training part,
subsampled to the held-out size `REFERENCE_DRAWS` times, read against the held-out part. A
generator that only reproduces its training points also reads 1.0: these figures cannot tell
memorising from generalising.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from toygan.errors import ToyganError
from toygan.twod.fidelity import COVERAGE_SLACK, KNN_POINTS, SW_LIMIT, neighbour_radii, precision_recall_coverage, sliced_wasserstein
from toygan.twod.metrics import REFERENCE_DRAWS, reported

MIN_POINTS = 100  # fewer cannot fill a held-out part and a training part worth the name
SUFFIXES = (".csv", ".npy")
# The held-out part: HELD_OUT_SHARE of the points, at least MIN_HELD_OUT (enough neighbours for the
# k-NN figures) but never more than half (the reference subsamples the training part to its size),
# and at most MAX_HELD_OUT (the k-NN figures read only their first KNN_POINTS anyway).
HELD_OUT_SHARE = 0.2
MIN_HELD_OUT = 100
MAX_HELD_OUT = 2000
REFERENCE_SALT = 0x5EED
NPY_MAGIC = b"\x93NUMPY"
SHOWN_CHARS = 30  # a bad value is quoted up to this length


def load_points(path) -> np.ndarray:
    """The points of a `.csv` or `.npy` file, shape (N, 2) float32, checked (see the module docstring)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise ToyganError(f"points file {path} has the extension '{path.suffix}': give a .csv of x,y lines or a .npy array of shape (N, 2)")
    if not path.exists():
        raise ToyganError(f"points file {path} not found: check the path")
    if path.is_dir():
        raise ToyganError(f"points file {path} is a folder: give the .csv or .npy file inside it")
    if suffix == ".csv":
        points, line_of_row = _read_csv(path)
    else:
        points, line_of_row = _read_npy(path), None
    with np.errstate(over="ignore"):
        points = points.astype(np.float32)  # beyond float32's range reads as infinite, below
    bad_R = np.flatnonzero(~np.all(np.isfinite(points), axis=1))
    if bad_R.size:
        row = int(bad_R[0])
        where = f"line {line_of_row[row]}" if line_of_row is not None else f"row {row}"
        raise ToyganError(
            f"points file {path} has a NaN or infinite value on {where} ({bad_R.size} such rows; beyond +-3.4e38 counts as infinite): "
            "remove them or replace them with numbers"
        )
    if points.shape[0] < MIN_POINTS:
        raise ToyganError(f"points file {path} has {points.shape[0]} points, fewer than {MIN_POINTS}: give at least {MIN_POINTS} x,y pairs")
    return points


def _read_csv(path: Path) -> tuple[np.ndarray, list[int]]:
    """The values (N, 2) float64 and the file line (from 1) of each row."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ToyganError(f"points file {path} is not a text file: save it as a UTF-8 .csv of x,y lines") from None
    # np.loadtxt counts rows without the lines it skips and fails on whitespace-only lines, so the
    # lines are filtered here: the messages can then name the file's own line numbers.
    lines = [(number, line) for number, line in enumerate(text.splitlines(), start=1) if _content(line)]
    if not lines:
        raise ToyganError(f"points file {path} is empty: give one x,y pair per line")
    header = not any(_is_number(field) for field in _content(lines[0][1]).split(","))
    if header:
        lines = lines[1:]
        if not lines:
            raise ToyganError(f"points file {path} has a header line but no points: add one x,y pair per line below it")
    try:
        values = np.loadtxt([line for _, line in lines], delimiter=",", comments="#", dtype=np.float64, ndmin=2)
    except ValueError as error:
        found = _csv_problem(path, lines)
        raise found or ToyganError(f"points file {path} could not be read ({error}): give one x,y pair per line") from None
    if values.shape[1] != 2:
        raise _column_error(path, lines[0][0], values.shape[1])
    return values, [number for number, _ in lines]


def _content(line: str) -> str:
    """A line without its `#` comment and surrounding spaces."""
    return line.split("#", 1)[0].strip()


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return "_" not in field  # Python reads 1_000, numpy does not


def _csv_problem(path: Path, lines: list[tuple[int, str]]) -> ToyganError | None:
    """The first line that is not two comma-separated numbers, as an error."""
    for number, line in lines:
        fields = _content(line).split(",")
        if len(fields) != 2:
            return _column_error(path, number, len(fields))
        for field in fields:
            if not _is_number(field.strip()):
                shown = field.strip()
                shown = shown if len(shown) <= SHOWN_CHARS else shown[:SHOWN_CHARS] + "..."
                return ToyganError(f"points file {path} line {number}: {shown!r} is not a number: give two numbers per line, x,y")
    return None


def _column_error(path: Path, number: int, found: int) -> ToyganError:
    return ToyganError(
        f"points file {path} has {found} column{'s' if found != 1 else ''} on line {number}, not 2: "
        "give one x,y pair per line, separated by a comma"
    )


def _read_npy(path: Path) -> np.ndarray:
    with path.open("rb") as file:
        if file.read(len(NPY_MAGIC)) != NPY_MAGIC:  # np.load would try to read anything else as a pickle
            raise ToyganError(f"points file {path} is not a readable .npy file: save an array of shape (N, 2) with np.save")
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise ToyganError(f"points file {path} holds Python objects: save a numeric array of shape (N, 2) with np.save") from None
        raise ToyganError(f"points file {path} is not a readable .npy file: save an array of shape (N, 2) with np.save") from None
    except (OSError, EOFError):
        raise ToyganError(f"points file {path} is not a readable .npy file: save an array of shape (N, 2) with np.save") from None
    if not isinstance(array, np.ndarray):
        raise ToyganError(f"points file {path} is not a single array: save one array of shape (N, 2) with np.save")
    if array.size == 0:
        raise ToyganError(f"points file {path} is empty (shape {list(array.shape)}): save an array of shape (N, 2) with N >= {MIN_POINTS}")
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ToyganError(f"points file {path} holds {array.dtype} values, not numbers: save a float array of shape (N, 2)")
    if array.ndim != 2:
        raise ToyganError(f"points file {path} holds an array of shape {list(array.shape)}: save an array of shape (N, 2)")
    if array.shape[1] != 2:
        raise ToyganError(
            f"points file {path} has {array.shape[1]} columns (shape {list(array.shape)}), not 2: save an array of shape (N, 2)"
        )
    return array.astype(np.float64)


def sample_bounds(points_NxD: np.ndarray, margin: float = 0.15) -> tuple[np.ndarray, np.ndarray]:
    """A view box for a sample: its 0.5% to 99.5% quantiles per axis, widened by `margin` of the span on
    each side and padded to a square, as `GaussianMixture.bounds` does for a mixture."""
    low_D, high_D = np.quantile(np.asarray(points_NxD, np.float64), [0.005, 0.995], axis=0)
    centre_D, half = (low_D + high_D) / 2, (high_D - low_D).max() / 2 * (1 + 2 * margin)
    return centre_D - half, centre_D + half


class HeldOutMetrics:
    """What the frame needs of a source scored against its held-out points: its view box and the metrics
    of a generated sample (the first held-out-size points of it, see `point_metrics`)."""

    held_out_MxD: np.ndarray

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return sample_bounds(self.held_out_MxD)

    def frame_metrics(self, fake_ExD: jax.Array, real_MxD: jax.Array, radii_M: jax.Array) -> PointMetrics:
        return point_metrics(fake_ExD[: real_MxD.shape[0]], real_MxD, radii_M)


def held_out_size(n_points: int) -> int:
    """How many of `n_points` are held out (see `HELD_OUT_SHARE`)."""
    return min(max(round(HELD_OUT_SHARE * n_points), MIN_HELD_OUT), n_points // 2, MAX_HELD_OUT)


@dataclass(frozen=True, eq=False)
class PointSource(HeldOutMetrics):
    """Training batches drawn from a fixed set of points; the labels are all 0.

    Slots in beside `toygan.twod.source.MixtureSource`: the networks work in standardised coordinates,
    (x - mean) / sd per axis of the training part, `draw` gives standardised training points and
    `to_data` maps the generator's output back. `sample` gives training points in data coordinates.
    Hashed by identity, so that it can be a static argument of `jax.jit`."""

    train_NxD: np.ndarray  # float32
    held_out_MxD: np.ndarray  # float32, disjoint from the training part
    mean_D: np.ndarray  # of the training part
    std_D: np.ndarray

    n_classes = 0

    @classmethod
    def create(cls, points, seed: int = 0, where: str = "points") -> PointSource:
        """Split (N, 2) points by a permutation seeded with `seed`: `held_out_size(N)` held out, the rest for training."""
        points_NxD = np.asarray(points, np.float32)
        if points_NxD.ndim != 2 or points_NxD.shape[0] < MIN_POINTS:
            raise ToyganError(f"{where} has shape {list(points_NxD.shape)}: give at least {MIN_POINTS} points of shape (N, 2)")
        order_N = np.random.default_rng(seed).permutation(points_NxD.shape[0])
        n_held = held_out_size(points_NxD.shape[0])
        held_out_MxD, train_NxD = points_NxD[order_N[:n_held]], points_NxD[order_N[n_held:]]
        std_D = train_NxD.astype(np.float64).std(axis=0)
        flat = [axis for axis, sd in zip("xy", std_D) if not sd > 0]
        if flat:
            raise ToyganError(f"{where}: every training point has the same {flat[0]}: give points that spread on both axes")
        return cls(train_NxD, held_out_MxD, train_NxD.astype(np.float64).mean(axis=0).astype(np.float32), std_D.astype(np.float32))

    @classmethod
    def load(cls, path, seed: int = 0) -> PointSource:
        """`load_points(path)`, split by `create`."""
        return cls.create(load_points(path), seed, where=f"points file {path}")

    @property
    def dim(self) -> int:
        return self.train_NxD.shape[1]

    @functools.cached_property
    def _device_arrays(self) -> tuple[jax.Array]:
        with jax.ensure_compile_time_eval():  # a concrete array even when first asked for inside `jax.jit`
            return (jnp.asarray(self.train_NxD),)

    def arrays(self) -> tuple[jax.Array]:
        """The training points on the device, passed to compiled code as an argument rather than baked in."""
        return self._device_arrays

    def sample(self, key: jax.Array, n: int, arrays: tuple | None = None) -> jax.Array:
        """`n` training points drawn uniformly with replacement, data coordinates, shape (n, D); jit-able."""
        train_NxD = (self.arrays() if arrays is None else arrays)[0]
        return train_NxD[jax.random.randint(key, (n,), 0, train_NxD.shape[0])]

    def draw(self, arrays: tuple, key: jax.Array, n: int, group: int = 1) -> tuple[jax.Array, jax.Array]:
        """`group` is for labelled data; unlabelled points have nothing to group by."""
        return self.to_model(self.sample(key, n, arrays)), jnp.zeros((n,), jnp.int32)

    def to_model(self, x_NxD: jax.Array) -> jax.Array:
        return (x_NxD - jnp.asarray(self.mean_D)[None]) / jnp.asarray(self.std_D)[None]

    def to_data(self, x_NxD: jax.Array) -> jax.Array:
        return x_NxD * jnp.asarray(self.std_D)[None] + jnp.asarray(self.mean_D)[None]

    def reference_samples(self, key: jax.Array, draws: int = REFERENCE_DRAWS) -> jax.Array:
        """`draws` samples of the true distribution of the held-out size: training points without
        replacement within each draw. Shape (draws, M, D); jit-able."""
        n_train, n_held = self.train_NxD.shape[0], self.held_out_MxD.shape[0]
        train_NxD = self.arrays()[0]
        pick = lambda k: train_NxD[jax.random.permutation(k, n_train)[:n_held]]
        return jax.lax.map(pick, jax.random.split(jax.random.fold_in(key, REFERENCE_SALT), draws))


class PointMetrics(NamedTuple):
    sliced_wasserstein: jax.Array  # to the held-out points
    precision: jax.Array
    recall: jax.Array
    density: jax.Array
    coverage: jax.Array


def held_out_radii(held_out_MxD: jax.Array) -> jax.Array:
    """The neighbour radii of the held-out points that `point_metrics` reads, of its first `KNN_POINTS`."""
    return neighbour_radii(held_out_MxD[:KNN_POINTS] - jnp.mean(held_out_MxD, axis=0)[None])


def point_metrics(generated_NxD: jax.Array, held_out_MxD: jax.Array, radii: jax.Array) -> PointMetrics:
    """The density-free figures of a generated sample against the held-out points; jit-able.

    `radii` is `held_out_radii(held_out_MxD)`. Both samples are centred on the held-out mean, for
    float32 precision far from the origin. Give a sample of the held-out size: the reference
    (`reference_metrics`) compares samples of that size, and the distance between two samples grows
    as they shrink; precision, recall, density and coverage read the first `KNN_POINTS` of each."""
    centre_D = jnp.mean(held_out_MxD, axis=0)
    x_c, real_c = generated_NxD - centre_D[None], held_out_MxD - centre_D[None]
    coverage = precision_recall_coverage(real_c[:KNN_POINTS], x_c[:KNN_POINTS], radii)
    return PointMetrics(sliced_wasserstein(x_c, real_c), coverage.precision, coverage.recall, coverage.density, coverage.coverage)


def reference_metrics(references_RxMxD: jax.Array, held_out_MxD: jax.Array, radii: jax.Array) -> PointMetrics:
    """`point_metrics` of each of several true samples (a source's `reference_samples`), stacked; jit-able."""
    return jax.lax.map(lambda x_MxD: point_metrics(x_MxD, held_out_MxD, radii), references_RxMxD)


def reference_row(stacked: PointMetrics) -> dict:
    """What a perfect generator scores: the first true sample's figures, its distance as a multiple of
    the mean distance of all of them (one sample's varies by about a fifth), and the two means as
    `sliced_wasserstein` and `coverage_mean`, as `toygan.twod.metrics.reference_row`."""
    stacked = jax.device_get(stacked)
    unit, coverage = float(np.mean(stacked.sliced_wasserstein)), float(np.mean(stacked.coverage))
    first = jax.tree.map(lambda leaf: leaf[0], stacked)
    return {**point_row(first, unit, coverage), "sliced_wasserstein": unit, "coverage_mean": coverage}


def point_row(metrics: PointMetrics, reference_sw: float, reference_coverage: float) -> dict:
    """Host-side record: `sw_ratio` (the distance over a true sample's), precision, recall, density,
    coverage, and `matches` (1 when both `point_criteria` hold)."""
    row = {"sw_ratio": reported(float(metrics.sliced_wasserstein) / reference_sw)}
    row.update({name: reported(getattr(metrics, name)) for name in ("precision", "recall", "density", "coverage")})
    row["matches"] = int(all(ok for _, ok in point_criteria(row, reference_coverage).values()))
    return row


def point_criteria(row: dict, reference_coverage: float) -> dict[str, tuple[str, bool]]:
    """The criteria of `toygan.twod.metrics.criteria` that need no density: the distance within `SW_LIMIT`
    times a true sample's, and coverage within `COVERAGE_SLACK` of a true sample's."""
    sw_ratio, coverage = float(row["sw_ratio"]), float(row["coverage"])
    return {
        "distance": (f"{sw_ratio:.2f}x", sw_ratio <= SW_LIMIT),
        "coverage": (f"{coverage:.3f} ({reference_coverage:.3f})", coverage >= reference_coverage - COVERAGE_SLACK),
    }


class HeldOutSource(Protocol):
    """What `evaluate_sample` needs: `PointSource` and `toygan.twod.toysets.ToySource` both have it."""

    held_out_MxD: np.ndarray

    def reference_samples(self, key: jax.Array, draws: int = REFERENCE_DRAWS) -> jax.Array: ...


def evaluate_sample(source: HeldOutSource, x_NxD, seed: int = 0) -> tuple[dict, dict]:
    """Score any points against a source's held-out points: (their row, a true sample's row).

    The reference samples are drawn from `seed`; `x_NxD` should have the held-out size (see `point_metrics`)."""
    metrics, stacked = _scores(source, jax.random.key(seed), jnp.asarray(source.held_out_MxD), jnp.asarray(x_NxD, jnp.float32))
    reference = reference_row(stacked)
    return point_row(metrics, reference["sliced_wasserstein"], reference["coverage_mean"]), reference


@functools.partial(jax.jit, static_argnums=0)
def _scores(source: HeldOutSource, key: jax.Array, held_out_MxD: jax.Array, x_NxD: jax.Array) -> tuple[PointMetrics, PointMetrics]:
    """The sample's figures and the reference samples' (stacked), compiled once per source and size."""
    radii = held_out_radii(held_out_MxD)
    references = source.reference_samples(key, REFERENCE_DRAWS)
    return point_metrics(x_NxD, held_out_MxD, radii), reference_metrics(references, held_out_MxD, radii)
