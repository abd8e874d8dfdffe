"""The MNIST evaluator: a small convolutional classifier trained once on the real training images and
cached, whose predictions score a conditional GAN (is the requested digit drawn?) and whose
penultimate features give a Fréchet distance between generated and real test images.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx, serialization

from toygan.engine import rundir
from toygan.mnist.data import Digits, MnistData, cache_dir

VERSION = 1  # bump when the network or its training changes: old cached classifiers are then ignored
FEATURES = 128
EPOCHS = 5
BATCH = 128
FD_SAMPLES = 10_000  # real images per side of the real-vs-real reference distance


def _patches(x_NxHxWxC: jax.Array, size: int, stride: int) -> jax.Array:
    """The size x size neighbourhoods (zero-padded) at every `stride`-th pixel, stacked on the last axis.

    A strided convolution is then one matrix product. On XLA's CPU backend this trains about ten
    times faster than `nnx.Conv`, whose gradient takes a slow path there.
    """
    _, height, width, _ = x_NxHxWxC.shape
    pad = size // 2
    padded = jnp.pad(x_NxHxWxC, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    shifted = [padded[:, i : i + height : stride, j : j + width : stride, :] for i in range(size) for j in range(size)]
    return jnp.concatenate(shifted, axis=-1)


class DigitClassifier(nnx.Module):
    """Strided convolutions 5x5x32 and 3x3x64 -> dense 128 (the features) -> 10 logits."""

    def __init__(self, rngs: nnx.Rngs):
        self.conv1 = nnx.Linear(5 * 5 * 1, 32, rngs=rngs)
        self.conv2 = nnx.Linear(3 * 3 * 32, 64, rngs=rngs)
        self.dense = nnx.Linear(7 * 7 * 64, FEATURES, rngs=rngs)
        self.head = nnx.Linear(FEATURES, 10, rngs=rngs)

    def features(self, x_NxD: jax.Array) -> jax.Array:
        """Pixels in [-1, 1], (N, 784) -> features (N, 128)."""
        x = x_NxD.reshape(-1, 28, 28, 1)
        x = jax.nn.relu(self.conv1(_patches(x, 5, 2)))  # 14 x 14 x 32
        x = jax.nn.relu(self.conv2(_patches(x, 3, 2)))  # 7 x 7 x 64
        return jax.nn.relu(self.dense(x.reshape(x.shape[0], -1)))

    def __call__(self, x_NxD: jax.Array) -> jax.Array:
        return self.head(self.features(x_NxD))


@dataclass(frozen=True, eq=False)
class Evaluator:
    """The trained classifier, and the real test images' feature statistics for the Fréchet distance."""

    graph: nnx.GraphDef
    params: nnx.State
    test_accuracy: float  # on the real test images
    test_mean_F: np.ndarray
    test_cov_FxF: np.ndarray
    real_distance: float  # Fréchet distance of real training images to the real test images
    test_spread_K: np.ndarray  # per digit: the spread of the real test images' features (see `class_spread`)
    real_variety: float  # the real training images' spread per digit over the test images', mean over digits

    def logits_and_features(self, params: nnx.State, x_NxD: jax.Array) -> tuple[jax.Array, jax.Array]:
        return classify(self.graph, params, x_NxD)

    def read(self, x_NxD: np.ndarray) -> tuple[np.ndarray, float]:
        """The digit read in each image (pixels in [-1, 1]), and the images' Fréchet distance to the real
        test images."""
        predicted_N, features_NxF = _batched_predict(self.graph, self.params, x_NxD)
        mean_F, cov_FxF = feature_moments(jnp.asarray(features_NxF))
        return predicted_N, frechet_distance(mean_F, cov_FxF, self.test_mean_F, self.test_cov_FxF)


def classify(graph: nnx.GraphDef, params: nnx.State, x_NxD: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Logits (N, 10) and features (N, 128) of images with pixels in [-1, 1]; jit-able."""
    model = nnx.merge(graph, params)
    features_NxF = model.features(x_NxD)
    return model.head(features_NxF), features_NxF


def frechet_distance(mean1_F, cov1_FxF, mean2_F, cov2_FxF) -> float:
    """|m1 - m2|^2 + tr(C1 + C2 - 2 (C1 C2)^(1/2)), with tr((C1 C2)^(1/2)) from the eigenvalues of the
    symmetric C1^(1/2) C2 C1^(1/2), in float64."""
    cov1, cov2 = np.asarray(cov1_FxF, np.float64), np.asarray(cov2_FxF, np.float64)
    values, vectors = np.linalg.eigh(cov1)
    root1 = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    middle = np.linalg.eigvalsh(root1 @ cov2 @ root1)
    trace_root = np.sum(np.sqrt(np.clip(middle, 0, None)))
    diff = np.asarray(mean1_F, np.float64) - np.asarray(mean2_F, np.float64)
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2 * trace_root)


def feature_moments(features_NxF: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Mean and (unbiased) covariance of features; jit-able."""
    mean_F = jnp.mean(features_NxF, axis=0)
    centred = features_NxF - mean_F[None, :]
    return mean_F, centred.T @ centred / (features_NxF.shape[0] - 1)


def class_spread(features_NxF: jax.Array, group_N: jax.Array, n_groups: int = 10) -> jax.Array:
    """Per group: the trace of the features' (unbiased) covariance over its members, i.e. their mean
    squared distance from the group's mean feature, times n / (n - 1); jit-able (NaN for groups of
    fewer than two)."""
    member_NxK = jax.nn.one_hot(group_N, n_groups, dtype=features_NxF.dtype)
    count_K = jnp.sum(member_NxK, axis=0)
    mean_KxF = member_NxK.T @ features_NxF / jnp.maximum(count_K, 1)[:, None]
    square_K = member_NxK.T @ jnp.sum(features_NxF**2, axis=1)
    spread_K = (square_K - count_K * jnp.sum(mean_KxF**2, axis=1)) / (count_K - 1)
    return jnp.where(count_K > 1, spread_K, jnp.nan)


@partial(jax.jit, static_argnums=0)
def _predict(graph: nnx.GraphDef, params: nnx.State, x_NxD: jax.Array):
    logits_NxK, features_NxF = classify(graph, params, x_NxD)
    return jnp.argmax(logits_NxK, axis=1), features_NxF


def _batched_predict(graph, params, x_NxD: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    parts = [_predict(graph, params, x_NxD[i : i + 2000]) for i in range(0, len(x_NxD), 2000)]
    return np.concatenate([np.asarray(p[0]) for p in parts]), np.concatenate([np.asarray(p[1]) for p in parts])


def train_classifier(
    train: Digits, seed: int = 0, epochs: int = EPOCHS, network: type[nnx.Module] = DigitClassifier
) -> tuple[nnx.GraphDef, nnx.State]:
    """Adam with cosine decay on shuffled mini-batches of the real training images (the evaluator,
    `DigitClassifier`: 98.5% on the test set after 5 epochs on the 22,699 training images of
    ../shared/data/mnist). `network` is built from `nnx.Rngs`, and has `features` and `head` methods."""
    graph, params = nnx.split(network(nnx.Rngs(seed)))
    x_NxD, y_N = jnp.asarray(train.scaled()), jnp.asarray(train.labels_N, jnp.int32)
    steps_per_epoch = max(1, len(train) // BATCH)
    optimizer = optax.adam(optax.cosine_decay_schedule(2e-3, epochs * steps_per_epoch))

    def loss(params, x, y):
        return optax.softmax_cross_entropy_with_integer_labels(nnx.merge(graph, params)(x), y).mean()

    @jax.jit
    def epoch(params, opt_state, key):
        order = jax.random.permutation(key, len(y_N))[: steps_per_epoch * BATCH].reshape(steps_per_epoch, -1)

        def step(carry, index_B):
            params, opt_state = carry
            grads = jax.grad(loss)(params, x_NxD[index_B], y_N[index_B])
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), None

        return jax.lax.scan(step, (params, opt_state), order)[0]

    opt_state = optimizer.init(params)
    for k in range(epochs):
        params, opt_state = epoch(params, opt_state, jax.random.key(seed * 1000 + k))
    return graph, params


def _fingerprint(train: Digits, epochs: int) -> str:
    digest = hashlib.sha256(train.images_NxHxW.tobytes())
    digest.update(train.labels_N.tobytes())
    return f"v{VERSION}-e{epochs}-{digest.hexdigest()[:16]}"


def load_evaluator(data: MnistData, cache: Path | None = None, epochs: int = EPOCHS, announce=None) -> Evaluator:
    """The classifier for this training set, from the cache or trained now (and cached), plus the
    test-set statistics. Without a test split, the last sixth of the training images is held out."""
    train, test = data.train, data.test
    if test is None:
        cut = len(train) * 5 // 6
        train, test = (Digits(train.images_NxHxW[s], train.labels_N[s]) for s in (slice(None, cut), slice(cut, None)))
    path = (cache or cache_dir()) / f"classifier-{_fingerprint(train, epochs)}.msgpack"
    graph, template = nnx.split(nnx.eval_shape(lambda: DigitClassifier(nnx.Rngs(0))))
    params = None
    if path.is_file():
        try:
            stored = serialization.msgpack_restore(path.read_bytes())
            params = rundir.pytree_from_dict(template, stored, path)
        except Exception:
            params = None  # an unreadable cache entry is simply trained again
    if params is None:
        if announce is not None:
            announce(f"training the MNIST evaluator on {len(train):,} images, once (about 30 s); cached in {path.parent}")
        graph, params = train_classifier(train, epochs=epochs)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            rundir.write_atomic(path, serialization.msgpack_serialize(rundir.pytree_to_dict(params)))
        except OSError:
            pass  # a read-only cache only costs training the classifier again next time
    predicted_N, test_features = _batched_predict(graph, params, test.scaled())
    test_mean, test_cov = (np.asarray(m) for m in feature_moments(jnp.asarray(test_features)))
    _, train_features = _batched_predict(graph, params, train.scaled()[:FD_SAMPLES])
    train_mean, train_cov = feature_moments(jnp.asarray(train_features))
    test_spread_K = np.asarray(class_spread(jnp.asarray(test_features), jnp.asarray(test.labels_N)))
    train_spread_K = np.asarray(class_spread(jnp.asarray(train_features), jnp.asarray(train.labels_N[:FD_SAMPLES])))
    return Evaluator(
        graph=graph,
        params=params,
        test_accuracy=float(np.mean(predicted_N == test.labels_N)),
        test_mean_F=test_mean,
        test_cov_FxF=test_cov,
        real_distance=frechet_distance(train_mean, train_cov, test_mean, test_cov),
        test_spread_K=test_spread_K,
        real_variety=float(np.nanmean(train_spread_K / test_spread_K)),
    )
