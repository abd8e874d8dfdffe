"""The Fréchet distance of a run's digits in feature spaces other than `toygan eval`'s.

    python -m benchmarks.fd_crosscheck RUN_DIR [RUN_DIR ...] [--samples 10000] [--json out.json]

`toygan eval` measures in the features of its own classifier. A distance that is small only there
would say more about that classifier than about the digits. This trains two other classifiers on the
runs' training images, unlike the evaluator and unlike each other (an MLP 784-512-128 and a LeNet-style
network: 5x5 convolutions of 32 and 64 channels, each followed by 2x2 max pooling, then dense 256),
and measures in the last hidden layer of each, against the real test images:

- the run's digits, drawn as `toygan sample RUN -n N` draws them (the N split evenly over the ten
  digits for a conditional run), N = `--samples`;
- real training images of three kinds, N each: the first N (`toygan eval`'s reference), a random N
  (seeded), and a random N/10 of each digit (evenly, as a conditional run's digits are asked for);

and prints each run's distance over each real reference's. About three minutes for the two
classifiers, then a few seconds a run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import numpy as np
from flax import nnx

from toygan.engine.runner import load_run
from toygan.mnist.classifier import _batched_predict, _patches, feature_moments, frechet_distance, train_classifier


class MlpClassifier(nnx.Module):
    """784 -> 512 -> 128 (the features) -> 10, ReLU."""

    def __init__(self, rngs: nnx.Rngs):
        self.hidden = nnx.Linear(784, 512, rngs=rngs)
        self.dense = nnx.Linear(512, 128, rngs=rngs)
        self.head = nnx.Linear(128, 10, rngs=rngs)

    def features(self, x_NxD: jax.Array) -> jax.Array:
        return jax.nn.relu(self.dense(jax.nn.relu(self.hidden(x_NxD))))

    def __call__(self, x_NxD: jax.Array) -> jax.Array:
        return self.head(self.features(x_NxD))


class LeNetClassifier(nnx.Module):
    """5x5 convolutions (32, 64 channels, stride 1), each with 2x2 max pooling -> dense 256 (the
    features) -> 10. The convolutions are matrix products over 5x5 patches, as in the evaluator (much
    faster to train on XLA's CPU backend than `nnx.Conv`)."""

    def __init__(self, rngs: nnx.Rngs):
        self.conv1 = nnx.Linear(5 * 5 * 1, 32, rngs=rngs)
        self.conv2 = nnx.Linear(5 * 5 * 32, 64, rngs=rngs)
        self.dense = nnx.Linear(7 * 7 * 64, 256, rngs=rngs)
        self.head = nnx.Linear(256, 10, rngs=rngs)

    def features(self, x_NxD: jax.Array) -> jax.Array:
        x = x_NxD.reshape(-1, 28, 28, 1)
        x = nnx.max_pool(jax.nn.relu(self.conv1(_patches(x, 5, 1))), (2, 2), (2, 2))  # 14 x 14 x 32
        x = nnx.max_pool(jax.nn.relu(self.conv2(_patches(x, 5, 1))), (2, 2), (2, 2))  # 7 x 7 x 64
        return jax.nn.relu(self.dense(x.reshape(x.shape[0], -1)))

    def __call__(self, x_NxD: jax.Array) -> jax.Array:
        return self.head(self.features(x_NxD))


EXTRACTORS = {"MLP": (MlpClassifier, 10), "LeNet": (LeNetClassifier, 5)}  # network, epochs


def distance(features_NxF: np.ndarray, test: tuple[np.ndarray, np.ndarray]) -> float:
    return frechet_distance(*feature_moments(features_NxF), *test)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="MNIST run folders (all on the same training data)")
    parser.add_argument("--samples", type=int, default=10_000, help="generated digits per run, and real images per reference")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    n = args.samples
    runs = [load_run(path) for path in args.runs]
    data = runs[0].trainer.source.data
    train, test = data.train, data.test
    each, fewest = n // 10, int(np.bincount(train.labels_N, minlength=10).min())
    if test is None or n % 10 or each > fewest:
        raise SystemExit(
            f"needs a test split, and --samples a multiple of 10 up to {10 * fewest:,} (ten times the rarest digit's training images)"
        )
    rng = np.random.default_rng(0)
    balanced = np.concatenate([rng.choice(np.flatnonzero(train.labels_N == k), each, replace=False) for k in range(10)])
    real = {
        f"the first {n:,}": np.arange(n),
        f"a random {n:,}": rng.choice(len(train), n, replace=False),
        f"a random {each:,} of each digit": balanced,
    }
    # What `toygan sample RUN -n N` writes (pixels in [0, 1]), back to the networks' [-1, 1].
    generated = {str(path): run.sample(n, seed=0).reshape(n, -1) * 2.0 - 1.0 for path, run in zip(args.runs, runs)}
    train_NxD, test_NxD = train.scaled(), test.scaled()
    figures: dict = {}
    for name, (network, epochs) in EXTRACTORS.items():
        started = time.perf_counter()
        graph, params = train_classifier(train, epochs=epochs, network=network)
        predicted_N, test_features = _batched_predict(graph, params, test_NxD)
        test_moments = feature_moments(test_features)
        features = lambda x: _batched_predict(graph, params, x)[1]
        references = {kind: distance(features(train_NxD[index]), test_moments) for kind, index in real.items()}
        runs_fd = {path: distance(features(x), test_moments) for path, x in generated.items()}
        accuracy = float(np.mean(predicted_N == test.labels_N))
        figures[name] = {"test_accuracy": accuracy, "real": references, "runs": runs_fd}
        print(f"{name} features ({accuracy:.2%} on the test images, trained and measured in {time.perf_counter() - started:.0f} s):")
        for kind, value in references.items():
            print(f"  real training images, {kind}: {value:.3f}")
        for path, value in runs_fd.items():
            ratios = ", ".join(f"{value / ref:.2f}x {kind}" for kind, ref in references.items())
            print(f"  {path}: {value:.3f} ({ratios})")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
