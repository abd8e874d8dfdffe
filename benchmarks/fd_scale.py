"""What the MNIST evaluator's Fréchet distance means: real digits, and real digits slightly spoiled.

    python -m benchmarks.fd_scale [--data ../shared/data/mnist/mnist.npz] [--json out.json]

Each row is 10,000 images scored as `toygan eval` scores generated digits: the share the evaluator
reads as their true digit, and their Fréchet distance (in the evaluator's 128 features) to the real
test images. The first row is `toygan eval`'s reference, the first 10,000 real training images; the
second, the next 10,000 (as many as there are); the others spoil that second sample a little, with a
fixed seed: every digit moved by up to a pixel each way, Gaussian noise on the pixels (in [-1, 1],
clipped), a slight Gaussian blur. A generator's distance reads against this scale.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter

from toygan.mnist.classifier import FD_SAMPLES, load_evaluator
from toygan.mnist.data import load_mnist

SIDE = 28


def jitter(images_NxD: np.ndarray, rng: np.random.Generator, reach: int = 1) -> np.ndarray:
    """Each image moved by its own random (dy, dx), each in [-reach, reach]; the border fills with
    the background (-1)."""
    n = len(images_NxD)
    padded = np.pad(images_NxD.reshape(n, SIDE, SIDE), ((0, 0), (reach, reach), (reach, reach)), constant_values=-1.0)
    dy_N, dx_N = rng.integers(-reach, reach + 1, (2, n))
    rows_NxS = reach - dy_N[:, None] + np.arange(SIDE)[None, :]
    cols_NxS = reach - dx_N[:, None] + np.arange(SIDE)[None, :]
    moved = padded[np.arange(n)[:, None, None], rows_NxS[:, :, None], cols_NxS[:, None, :]]
    return moved.reshape(n, -1)


def noisy(images_NxD: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    return np.clip(images_NxD + rng.normal(0.0, sigma, images_NxD.shape), -1.0, 1.0).astype(np.float32)


def blurred(images_NxD: np.ndarray, sigma: float) -> np.ndarray:
    stack = images_NxD.reshape(-1, SIDE, SIDE)
    return gaussian_filter(stack, sigma=(0, sigma, sigma), mode="constant", cval=-1.0).reshape(len(stack), -1)


def scale(data_path: str | None) -> list[dict]:
    data = load_mnist(data_path)
    evaluator = load_evaluator(data, announce=print)
    train = data.train.scaled()
    labels = data.train.labels_N
    if len(train) < FD_SAMPLES + 2:
        raise SystemExit(f"the scale needs more than {FD_SAMPLES:,} training images, {data_path or 'the cache'} holds {len(train):,}")
    first, second = slice(0, FD_SAMPLES), slice(FD_SAMPLES, 2 * FD_SAMPLES)
    sample, sample_labels = train[second], labels[second]
    rng = np.random.default_rng(0)
    rows = [
        (f"real training images, the first {FD_SAMPLES:,} (toygan eval's reference)", train[first], labels[first]),
        (f"real training images, the next {len(sample):,}", sample, sample_labels),
        ("the same, each moved by up to 1 pixel each way", jitter(sample, rng), sample_labels),
        *((f"the same, pixel noise {s}", noisy(sample, rng, s), sample_labels) for s in (0.05, 0.1, 0.2)),
        *((f"the same, blurred ({s} pixel)", blurred(sample, s), sample_labels) for s in (0.5, 0.7)),
    ]
    results = []
    for name, images, truth in rows:
        predicted, distance = evaluator.read(images)
        accuracy = float(np.mean(predicted == truth))
        results.append({"images": name, "frechet_distance": distance, "accuracy": accuracy})
        print(f"{distance:8.2f}  {accuracy:7.2%}  {name}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="MNIST file or folder (default: download to the cache)")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    args = parser.parse_args()
    print("Fréchet distance  read as true digit  images (against the real test images)")
    results = scale(args.data)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
