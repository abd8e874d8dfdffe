"""User point files: every bad file is one clear error, good ones load alike; the split, the batches and the metrics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from toygan.errors import ToyganError
from toygan.twod.fidelity import COVERAGE_SLACK, SW_LIMIT
from toygan.twod.points import (
    MIN_POINTS,
    PointSource,
    evaluate_sample,
    held_out_radii,
    held_out_size,
    load_points,
    point_metrics,
    reference_metrics,
)


def _truth(n: int, seed: int) -> np.ndarray:
    """Points of a fixed two-cluster distribution far from the origin and unequal in scale."""
    rng = np.random.default_rng(seed)
    centre_N = np.where(rng.random(n) < 0.3, 0.0, 6.0)
    return np.stack([100 + centre_N + rng.normal(size=n), -50 + 3 * rng.normal(size=n)], axis=1).astype(np.float32)


def _csv(rows: np.ndarray, header: bool = False) -> str:
    return ("x,y\n" if header else "") + "".join(f"{x!r},{y!r}\n" for x, y in rows.tolist())


GOOD = _truth(150, 0)


def _write(path, text: str):
    path.write_text(text)
    return path


def _lines(n: int = 150) -> list[str]:
    return [f"{x!r},{y!r}" for x, y in GOOD[:n].tolist()]


def _with_line(index: int, line: str) -> str:
    lines = _lines()
    lines[index] = line
    return "\n".join(lines) + "\n"


BAD_CSV = {
    "empty": ("", "is empty"),
    "blank": ("\n  \n\t\n", "is empty"),
    "header only": ("x,y\n", "header line but no points"),
    "not numeric": (_with_line(4, "1.5,abc"), "line 5: 'abc' is not a number"),
    "not numeric with header": ("x,y\n" + _with_line(4, "1.5,abc"), "line 6: 'abc' is not a number"),
    "three columns": (_with_line(9, "1,2,3"), "3 columns on line 10"),
    "trailing comma": (_with_line(9, "1,2,"), "3 columns on line 10"),
    "every line three columns": ("\n".join(f"{line},0" for line in _lines()) + "\n", "3 columns on line 1,"),
    "one column": ("\n".join(str(x) for x in GOOD[:, 0].tolist()) + "\n", "1 column on line 1,"),
    "semicolons": ("x;y\n" + "\n".join(line.replace(",", ";") for line in _lines()) + "\n", "1 column on line 2,"),
    "nan": (_with_line(6, "nan,1"), "NaN or infinite value on line 7"),
    "infinite": ("x,y\n" + _with_line(6, "1,-inf"), "NaN or infinite value on line 8"),
    "too large for float32": (_with_line(6, "1e39,1"), "NaN or infinite value on line 7"),
    "too few": ("x,y\n" + "\n".join(_lines(MIN_POINTS - 1)) + "\n", f"has {MIN_POINTS - 1} points, fewer than {MIN_POINTS}"),
}


def _assert_one_line_about(error: ToyganError, path, fragment: str):
    message = str(error)
    assert "\n" not in message
    assert path.name in message
    assert fragment in message
    assert ": " in message  # what is wrong, then how to fix it


@pytest.mark.parametrize("case", list(BAD_CSV))
def test_each_bad_csv_is_one_line_naming_the_file_and_the_problem(tmp_path, case):
    text, fragment = BAD_CSV[case]
    path = _write(tmp_path / "my points.csv", text)
    with pytest.raises(ToyganError) as caught:
        load_points(path)
    _assert_one_line_about(caught.value, path, fragment)


BAD_NPY = {
    "empty": (np.zeros((0, 2)), "is empty"),
    "one-dimensional": (GOOD[:, 0], "shape [150]"),
    "three columns": (np.concatenate([GOOD, GOOD[:, :1]], axis=1), "has 3 columns"),
    "text": (np.array([["a", "b"]] * 150), "not numbers"),
    "nan": (np.where(np.arange(150)[:, None] == 17, np.nan, GOOD), "NaN or infinite value on row 17"),
    "too few": (GOOD[:42], "has 42 points, fewer than"),
}


@pytest.mark.parametrize("case", list(BAD_NPY))
def test_each_bad_npy_is_one_line_naming_the_file_and_the_problem(tmp_path, case):
    array, fragment = BAD_NPY[case]
    path = tmp_path / "pts.npy"
    np.save(path, array)
    with pytest.raises(ToyganError) as caught:
        load_points(path)
    _assert_one_line_about(caught.value, path, fragment)


def test_unreadable_files(tmp_path):
    cases = {
        tmp_path / "absent.csv": "not found",
        tmp_path / "points.txt": "extension '.txt'",
        tmp_path / "folder.csv": "is a folder",
        tmp_path / "pickled.npy": "Python objects",
        tmp_path / "garbage.npy": "not a readable .npy",
        tmp_path / "binary.csv": "not a text file",
    }
    (tmp_path / "points.txt").write_text(_csv(GOOD))
    (tmp_path / "folder.csv").mkdir()
    np.save(tmp_path / "pickled.npy", np.array([{"x": 1}] * 150, dtype=object), allow_pickle=True)
    (tmp_path / "garbage.npy").write_bytes(b"not an array at all")
    (tmp_path / "binary.csv").write_bytes(bytes(range(128, 256)))
    for path, fragment in cases.items():
        with pytest.raises(ToyganError) as caught:
            load_points(path)
        _assert_one_line_about(caught.value, path, fragment)


def test_csv_with_and_without_header_and_npy_load_the_same(tmp_path):
    plain = load_points(_write(tmp_path / "plain.csv", _csv(GOOD)))
    headed = load_points(_write(tmp_path / "headed.csv", _csv(GOOD, header=True)))
    # Spaces around values and lines, CRLF line ends, blank lines, comments and a byte-order mark are all read.
    messy_text = "\ufeff # exported points\r\n  x , y  \r\n\r\n" + "".join(f"  {x!r} ,\t{y!r}  # ok\r\n   \r\n" for x, y in GOOD.tolist())
    messy = load_points(_write(tmp_path / "messy.CSV", messy_text))
    np.save(tmp_path / "array.npy", GOOD.astype(np.float64))
    array = load_points(tmp_path / "array.npy")
    for loaded in (plain, headed, messy, array):
        assert loaded.dtype == np.float32 and loaded.shape == (150, 2)
        np.testing.assert_array_equal(loaded, GOOD)


def test_held_out_size_rule():
    assert held_out_size(100) == 50  # at least 100 held out, but never more than half
    assert held_out_size(300) == 100
    assert held_out_size(1000) == 200  # 20 %
    assert held_out_size(50_000) == 2000  # at most 2,000


def test_split_is_disjoint_complete_and_seeded():
    points = _truth(1000, 1)
    source = PointSource.create(points, seed=0)
    assert source.held_out_MxD.shape == (200, 2) and source.train_NxD.shape == (800, 2)
    together = np.concatenate([source.train_NxD, source.held_out_MxD])
    np.testing.assert_array_equal(np.sort(together.view(np.complex64).ravel()), np.sort(points.view(np.complex64).ravel()))
    held, train = {tuple(p) for p in source.held_out_MxD.tolist()}, {tuple(p) for p in source.train_NxD.tolist()}
    assert not held & train
    again, other = PointSource.create(points, seed=0), PointSource.create(points, seed=1)
    np.testing.assert_array_equal(again.held_out_MxD, source.held_out_MxD)
    assert not np.array_equal(other.held_out_MxD, source.held_out_MxD)
    np.testing.assert_allclose(source.mean_D, source.train_NxD.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(source.std_D, source.train_NxD.std(axis=0), rtol=1e-4)


def test_a_flat_axis_is_refused():
    points = _truth(200, 2)
    points[:, 1] = 3.0
    with pytest.raises(ToyganError, match="same y"):
        PointSource.create(points)


def test_load_splits_a_file(tmp_path):
    source = PointSource.load(_write(tmp_path / "p.csv", _csv(GOOD, header=True)), seed=3)
    assert source.train_NxD.shape == (75, 2) and source.held_out_MxD.shape == (75, 2)


def test_sample_and_draw_take_only_training_points():
    source = PointSource.create(_truth(600, 4))
    batch = np.asarray(jax.jit(source.sample, static_argnums=1)(jax.random.key(0), 4000))
    train = {tuple(p) for p in source.train_NxD.tolist()}
    assert batch.shape == (4000, 2) and all(tuple(p) in train for p in batch.tolist())
    assert len({tuple(p) for p in batch.tolist()}) > 0.9 * len(train)  # drawn across the whole training part
    np.testing.assert_array_equal(source.sample(jax.random.key(0), 4000), batch)  # the key decides

    draw = jax.jit(source.draw, static_argnums=(2, 3))
    x, y = draw(source.arrays(), jax.random.key(1), 4000, 1)
    assert x.shape == (4000, 2) and y.shape == (4000,) and not np.any(np.asarray(y))
    np.testing.assert_allclose(np.mean(x, axis=0), [0, 0], atol=0.06)  # standardised
    np.testing.assert_allclose(np.std(x, axis=0), [1, 1], atol=0.06)
    # The same key picks the same training points, standardised; to_data maps them back.
    np.testing.assert_allclose(source.to_data(x), source.sample(jax.random.key(1), 4000), rtol=1e-6, atol=1e-4)


def test_reference_samples_are_training_points_without_repeats():
    source = PointSource.create(_truth(1000, 5))
    references = np.asarray(source.reference_samples(jax.random.key(0), 3))
    assert references.shape == (3, 200, 2)
    train = {tuple(p) for p in source.train_NxD.tolist()}
    for draw in references:
        assert len({tuple(p) for p in draw.tolist()}) == 200 and all(tuple(p) in train for p in draw.tolist())


@pytest.fixture(scope="module")
def big_source():
    return PointSource.create(_truth(5000, 6), seed=0)  # 1,000 held out


@pytest.mark.parametrize("seed", [7, 8])
def test_a_true_sample_reads_as_the_reference(big_source, seed):
    row, reference = evaluate_sample(big_source, _truth(1000, seed))
    # One true sample's distance varies by about a fifth around the unit, the mean of eight.
    assert 0.6 < row["sw_ratio"] < SW_LIMIT and 0.6 < reference["sw_ratio"] < SW_LIMIT
    assert abs(row["coverage"] - reference["coverage_mean"]) < COVERAGE_SLACK
    assert row["matches"] == 1


def test_a_sample_shrunk_to_its_mean_reads_far(big_source):
    x = _truth(1000, 9)
    mean = x.mean(axis=0, keepdims=True)
    row, reference = evaluate_sample(big_source, mean + 0.5 * (x - mean))
    assert row["sw_ratio"] > 1.5
    assert row["coverage"] < reference["coverage_mean"] - COVERAGE_SLACK
    assert row["matches"] == 0


def test_point_metrics_is_jit_able_and_reads_zero_for_the_held_out_points(big_source):
    held_out = jnp.asarray(big_source.held_out_MxD)
    radii = held_out_radii(held_out)
    metrics = jax.jit(point_metrics)(held_out, held_out, radii)
    assert float(metrics.sliced_wasserstein) == 0.0
    assert float(metrics.precision) == 1.0 and float(metrics.coverage) == 1.0
    stacked = jax.jit(reference_metrics)(big_source.reference_samples(jax.random.key(0), 2), held_out, radii)
    assert stacked.sliced_wasserstein.shape == (2,) and np.all(np.asarray(stacked.sliced_wasserstein) > 0)
