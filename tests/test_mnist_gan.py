"""The MNIST scenarios on the shared engine: network designs, conditioning, batch norm and dropout,
the evaluator, and the run / sample / eval commands (on synthetic bar digits, and on real MNIST when
it is present)."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from test_mnist_data import SHARED, needs_real_mnist
from typer.testing import CliRunner

from toygan.cli import app
from toygan.config import load_scenario
from toygan.engine.train import advance, make_trainer, start
from toygan.errors import ToyganError
from toygan.mnist.classifier import FD_SAMPLES, class_spread, frechet_distance, load_evaluator
from toygan.mnist.data import load_mnist
from toygan.mnist.digits import shown_labels

runner = CliRunner()
TINY = {
    "model.hidden": [64],
    "model.discriminator_hidden": [64],
    "model.discriminator_dropout": [0.2],
    "train.steps": 200,
    "view.frame_every": 100,
    "view.eval_samples": 200,
    "view.points": 100,
    "view.sample_rows": 2,
}
TINY_ARGS = [arg for key, value in TINY.items() for arg in ("-s", f"{key}={json.dumps(value)}")]


def networks(name, data):
    scenario = load_scenario(name, {"mnist.path": str(data)})
    trainer = make_trainer(scenario)
    state = start(trainer, scenario)
    g = nnx.merge(trainer.g_graph, state.g_params, state.g_stats)
    d = nnx.merge(trainer.d_graph, state.d_params, state.d_stats)
    return trainer, state, g, d


def kernels(mlp):
    return [tuple(layer.kernel.shape) for layer in mlp.layers]


def test_the_networks_follow_the_keras_cgan_and_gan_designs(bar_mnist):
    trainer, state, g, d = networks("mnist-cgan", bar_mnist)
    assert kernels(g) == [(100, 256), (256, 512), (512, 1024), (1024, 784)]
    assert kernels(d) == [(784, 512), (512, 512), (512, 512), (512, 1)]
    assert g.embedding.embedding.shape == (10, 100) and d.embedding.embedding.shape == (10, 784)
    assert [norm.momentum for norm in g.norms] == [0.8, 0.8, 0.8] and len(d.norms) == 0
    assert [drop.rate for drop in d.dropouts] == [0.0, 0.4, 0.4]
    x = trainer.generate(state, jax.random.normal(jax.random.key(0), (64, 100)), jnp.arange(64) % 10)
    assert x.shape == (64, 784) and float(jnp.max(jnp.abs(x))) <= 1.0  # tanh output

    _, _, g, d = networks("mnist-cgan-onehot", bar_mnist)
    assert kernels(g)[0] == (110, 256) and kernels(d)[0] == (794, 512)
    assert not hasattr(g, "embedding") and not hasattr(d, "embedding")

    trainer, _, g, d = networks("mnist-gan", bar_mnist)
    assert kernels(g) == [(100, 256), (256, 512), (512, 1024), (1024, 784)]
    assert kernels(d) == [(784, 1024), (1024, 512), (512, 256), (256, 1)]
    assert [drop.rate for drop in d.dropouts] == [0.3, 0.3, 0.3] and not trainer.conditional
    assert [norm.momentum for norm in g.norms] == [0.8, 0.8, 0.8] and len(d.norms) == 0


def bar_read_as(images_NxD):
    """Which bar digit an image shows: the brightest pair of rows 2k+3, 2k+4."""
    rows_NxH = np.asarray(images_NxD).reshape(-1, 28, 28).mean(axis=2)
    bands_NxK = np.stack([rows_NxH[:, 2 * k + 3 : 2 * k + 5].mean(axis=1) for k in range(10)], axis=1)
    return np.argmax(bands_NxK, axis=1)


def test_a_small_cgan_learns_to_draw_the_digit_asked_for(bar_mnist):
    small = {
        "model.hidden": [128, 128],
        "model.discriminator_hidden": [128, 128],
        "train.steps": 800,
        "train.lr_generator": 2e-3,
        "train.lr_discriminator": 2e-3,
    }
    scenario = load_scenario("mnist-cgan", {**TINY, **small, "mnist.path": str(bar_mnist)})
    trainer = make_trainer(scenario)
    state, _ = advance(trainer, start(trainer, scenario), 800)
    z = jax.random.normal(jax.random.key(1), (500, 100))
    asked = jnp.arange(500) % 10
    accuracy = np.mean(bar_read_as(trainer.generate(state, z, asked)) == np.asarray(asked))
    assert accuracy > 0.8, f"only {accuracy:.0%} of the images show the bar asked for"
    # Batch norm has learned running statistics, and inference uses them: a sample does not depend on
    # what else is in its batch (with batch statistics, 8 digits alone and among 500 would differ).
    assert not np.allclose(jax.tree.leaves(state.g_stats)[0], jax.tree.leaves(start(trainer, scenario).g_stats)[0])
    alone = trainer.generate(state, z[:8], asked[:8])
    among_others = trainer.generate(state, jnp.concatenate([z[:8], 3 * z[8:]]), asked)[:8]
    np.testing.assert_allclose(alone, among_others, atol=1e-5)


@pytest.mark.parametrize("scenario_name", ["mnist-cgan", "mnist-cgan-onehot"])
def test_both_networks_see_the_label(bar_mnist, scenario_name):
    scenario = load_scenario(scenario_name, {**TINY, "mnist.path": str(bar_mnist)})
    trainer = make_trainer(scenario)
    state = start(trainer, scenario)
    z = jnp.repeat(jax.random.normal(jax.random.key(0), (1, 100)), 10, axis=0)
    images = np.asarray(trainer.generate(state, z, jnp.arange(10)))
    assert min(np.abs(images[i] - images[j]).max() for i in range(10) for j in range(i)) > 1e-3
    logits = np.asarray(trainer.logits(state, jnp.asarray(images[:1].repeat(10, axis=0)), jnp.arange(10)))
    assert len(np.unique(logits)) == 10


def test_a_packed_conditional_discriminator_judges_packs_of_one_digit(bar_mnist):
    scenario = load_scenario("mnist-cgan", {**TINY, "mnist.path": str(bar_mnist), "model.pack": 4})
    trainer = make_trainer(scenario)
    arrays = trainer.source.arrays()
    x_NxD, y_N = trainer.source.draw(arrays, jax.random.key(3), 4000, group=4)
    y_MxP = np.asarray(y_N).reshape(-1, 4)
    assert np.all(y_MxP == y_MxP[:, :1]), "a pack mixes digits"
    # Each image is a training image of its label, and every member of a pack is a uniform draw.
    train_x, train_y = (np.asarray(a) for a in arrays[:2])
    pixels = {row.tobytes(): label for row, label in zip(train_x, train_y)}
    drawn = np.round((np.asarray(x_NxD) + 1) * 127.5).astype(np.uint8)
    assert all(pixels[row.tobytes()] == label for row, label in zip(drawn, np.asarray(y_N)))
    share = np.bincount(train_y, minlength=10) / len(train_y)
    for member in range(4):
        np.testing.assert_allclose(np.bincount(y_MxP[:, member], minlength=10) / len(y_MxP), share, atol=0.05)
    assert len(np.unique(drawn.reshape(-1, 4, 784)[:, 1:], axis=0)) > 900  # not one fixed image per digit
    state, log = advance(trainer, start(trainer, scenario), 20)
    assert state.d_params["layers"][0]["kernel"].shape[0] == 4 * 784
    assert np.all(np.isfinite(np.asarray(log.d_loss)))
    # Views and the evaluator still get one D value per image and label.
    assert trainer.logits(state, x_NxD[:6], y_N[:6]).shape == (6,)


def test_the_grid_shows_ten_digits_or_one_chosen_digit(bar_mnist):
    for digit, expected in ((-1, np.tile(np.arange(10), 2)), (7, np.full(20, 7))):
        scenario = load_scenario("mnist-cgan", {**TINY, "mnist.path": str(bar_mnist), "view.digit": digit})
        np.testing.assert_array_equal(shown_labels(make_trainer(scenario)), expected)
    with pytest.raises(ToyganError, match="view.digit must be a digit 0..9"):
        load_scenario("mnist-cgan", {"view.digit": 10})


def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians():
    mean1, mean2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    sd1, sd2 = np.array([1.0, 2.0, 0.5]), np.array([2.0, 2.0, 1.5])
    expected = np.sum((mean1 - mean2) ** 2) + np.sum((sd1 - sd2) ** 2)
    assert frechet_distance(mean1, np.diag(sd1**2), mean2, np.diag(sd2**2)) == pytest.approx(expected, rel=1e-9)
    rotation = np.linalg.qr(np.random.default_rng(0).normal(size=(3, 3)))[0]
    rotated = [rotation @ np.diag(sd**2) @ rotation.T for sd in (sd1, sd2)]
    assert frechet_distance(rotation @ mean1, rotated[0], rotation @ mean2, rotated[1]) == pytest.approx(expected, rel=1e-6)
    assert frechet_distance(mean1, rotated[0], mean1, rotated[0]) == pytest.approx(0.0, abs=1e-6)


def test_class_spread_is_the_trace_of_each_digits_feature_covariance():
    rng = np.random.default_rng(0)
    features, groups = rng.normal(size=(300, 5)) * np.arange(1, 6), rng.integers(0, 3, 300)
    groups[groups == 2] = 1  # no member left in group 2; group 3 gets a single member
    groups[0] = 3
    spread = np.asarray(class_spread(jnp.asarray(features, jnp.float32), jnp.asarray(groups), 5))
    for k in (0, 1):
        assert spread[k] == pytest.approx(np.trace(np.cov(features[groups == k], rowvar=False)), rel=1e-4)
    assert np.all(np.isnan(spread[2:]))
    # Samples that repeat a few images have little spread however different those images are.
    repeated = np.repeat(features[:3], 100, axis=0) + rng.normal(size=(300, 5)) * 0.01
    assert float(class_spread(jnp.asarray(repeated, jnp.float32), jnp.zeros(300, jnp.int32), 1)[0]) < spread[0] / 2


@pytest.fixture(scope="module")
def cgan_run(bar_mnist, tmp_path_factory):
    out = tmp_path_factory.mktemp("cgan") / "run"
    result = runner.invoke(app, ["run", "mnist-cgan", "--data", str(bar_mnist), "--no-live", "--out", str(out), *TINY_ARGS])
    assert result.exit_code == 0, result.output
    return out


def test_the_run_keeps_its_generator_with_settled_batch_statistics(cgan_run):
    from toygan.engine import rundir
    from toygan.engine.runner import load_run
    from toygan.engine.train import settle

    run = load_run(cgan_run)
    last, _ = rundir.load_checkpoint(cgan_run, start(run.trainer, run.scenario))
    assert int(last.step) == 200
    settled = settle(run.trainer, last)
    for saved, expected in zip(jax.tree.leaves(run.state.g_avg_stats), jax.tree.leaves(settled.g_avg_stats)):
        np.testing.assert_array_equal(saved, expected)
    changed = [not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(last.g_avg_stats), jax.tree.leaves(settled.g_avg_stats))]
    assert any(changed), "the saved statistics are the last frame's, not re-estimated"


def test_an_mnist_run_writes_digit_frames_and_evaluator_metrics(cgan_run):
    header = (cgan_run / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header[:5] == ["step", "frechet_distance", "accuracy", "confidence", "digits_captured"]
    assert [f"acc_{k}" for k in range(10)] == header[5:15]
    rows = (cgan_run / "metrics.csv").read_text().splitlines()[1:]
    assert [row.split(",")[0] for row in rows] == ["0", "100", "200"]
    from PIL import Image

    with Image.open(cgan_run / "training.gif") as gif:
        assert gif.n_frames == 3
    summary = json.loads((cgan_run / "summary.json").read_text())
    final = summary["final"]
    assert final["samples"] == 10_000 and len(final["confusion"]) == 10
    assert [sum(row) for row in final["confusion"]] == [1000] * 10
    assert final["accuracy"] == pytest.approx(np.trace(final["confusion"]) / 10_000, abs=1e-6)
    assert summary["reference"]["accuracy"] > 0.9  # the evaluator reads real bar digits
    # Variety within a digit: real training digits are about as varied as the test digits.
    assert 0.8 < summary["reference"]["variety"] < 1.25
    assert len(final["variety_per_digit"]) == 10 and final["variety"] > 0


def test_sample_writes_images_in_unit_range_with_the_labels_asked_for(cgan_run, tmp_path):
    out = tmp_path / "threes.npz"
    result = runner.invoke(app, ["sample", str(cgan_run), "-n", "20", "--label", "3", "-o", str(out)])
    assert result.exit_code == 0, result.output
    with np.load(out) as saved:
        assert saved["x"].shape == (20, 28, 28) and saved["x"].dtype == np.float32
        assert saved["x"].min() >= 0 and saved["x"].max() <= 1
        np.testing.assert_array_equal(saved["y"], np.full(20, 3))
    out = tmp_path / "all.npz"
    assert runner.invoke(app, ["sample", str(cgan_run), "-n", "50", "-o", str(out)]).exit_code == 0
    with np.load(out) as saved:
        np.testing.assert_array_equal(np.bincount(saved["y"], minlength=10), np.full(10, 5))


@pytest.mark.parametrize("label", ["10", "-1"])
def test_label_out_of_range_is_one_line_and_writes_nothing(cgan_run, tmp_path, label):
    out = tmp_path / "x.npz"
    result = runner.invoke(app, ["sample", str(cgan_run), "--label", label, "-o", str(out)])
    assert result.exit_code == 2
    assert "out of range" in result.output and "0 to 9" in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not out.exists()


def test_eval_scores_fresh_samples_per_digit(cgan_run):
    result = runner.invoke(app, ["eval", str(cgan_run), "--json", "--per-digit", "7"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.output)
    assert scores["samples"] == 70 and [sum(row) for row in scores["confusion"]] == [7] * 10
    table = runner.invoke(app, ["eval", str(cgan_run), "--per-digit", "7"])
    assert "Fréchet distance" in table.output and "asked for (rows)" in table.output
    assert "variety within a digit" in table.output
    assert scores["variety"] == pytest.approx(np.nanmean(scores["variety_per_digit"]), rel=1e-6)


def test_label_on_a_run_that_cannot_take_one(tmp_path):
    out = tmp_path / "mixture"
    tiny = ["-s", "model.hidden=[16]", "-s", "view.points=100", "-s", "view.eval_samples=100"]
    assert runner.invoke(app, ["run", "two-gaussians", "--steps", "10", "--no-live", "--out", str(out), *tiny]).exit_code == 0
    result = runner.invoke(app, ["sample", str(out), "--label", "3", "-o", str(tmp_path / "x.npz")])
    assert result.exit_code == 2 and "--label needs a conditional run (mnist-cgan), and two-gaussians is unconditional" in result.output
    result = runner.invoke(app, ["run", "two-gaussians", "--data", str(tmp_path), "--no-live", "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "--data is for scenarios that read a data file" in result.output


def test_missing_data_is_one_line_and_leaves_no_run_folder(tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["run", "mnist-cgan", "--data", str(tmp_path / "nope.npz"), "--no-live", "--out", str(out)])
    assert result.exit_code == 2 and "does not exist" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()


@needs_real_mnist
def test_the_evaluator_reads_real_digits_and_measures_distance():
    data = load_mnist(SHARED / "mnist.npz")
    evaluator = load_evaluator(data)
    assert evaluator.test_accuracy >= 0.97, evaluator.test_accuracy
    # Real training images are close to the test images in feature space; noise images are far away.
    read_N, real_distance = evaluator.read(data.train.scaled()[:FD_SAMPLES])
    assert real_distance == pytest.approx(evaluator.real_distance, rel=1e-4)  # the reference, by either route
    assert np.mean(read_N == data.train.labels_N[:FD_SAMPLES]) >= 0.97
    noise = np.random.default_rng(0).uniform(-1, 1, (2000, 784)).astype(np.float32)
    noise_distance = evaluator.read(noise)[1]
    assert evaluator.real_distance < noise_distance / 20, (evaluator.real_distance, noise_distance)
    assert 0.9 < evaluator.real_variety < 1.1  # training digits vary within each digit as test digits do


def test_an_mnist_run_resumed_matches_one_that_was_not(bar_mnist, tmp_path):
    constant = [*TINY_ARGS, "-s", 'train.lr_schedule="constant"', "-s", "train.checkpoint_every=100"]
    whole, split = tmp_path / "whole", tmp_path / "split"
    base = ["run", "mnist-cgan", "--data", str(bar_mnist), "--no-live"]
    assert runner.invoke(app, [*base, "--out", str(whole), *constant]).exit_code == 0
    assert runner.invoke(app, [*base, "--out", str(split), *constant, "--steps", "100"]).exit_code == 0
    result = runner.invoke(app, ["resume", str(split), "--steps", "200", "--no-live"])
    assert result.exit_code == 0, result.output
    for name in ("losses.csv", "metrics.csv"):
        assert (split / name).read_text() == (whole / name).read_text(), name
