"""How many of its noise dimensions a trained MNIST generator uses, per digit.

    python -m benchmarks.noise_use RUN_DIR [RUN_DIR ...] [--json out.json]

The generator shown (the moving average, when the run keeps one) feeds its noise z into its first
layer W. In the Keras design (`model.conditioning = "embedding"`) that layer sees z * e_y, the noise
times digit y's learned embedding, so noise dimension i reaches it with weight e_y[i]^2 |W_i|^2 (W_i:
the row of W that z_i multiplies); the network can switch a dimension off for one digit alone. With
a one-hot label concatenated (`"one-hot"`), or none, the weight is |W_i|^2 for every digit. The
effective number of dimensions is the participation ratio of those weights, (sum w)^2 / sum w^2: the
noise size when all weigh the same, 1 when one dimension carries everything.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from flax import nnx

from toygan.engine.models import MLP
from toygan.engine.runner import load_run
from toygan.mnist.source import N_DIGITS


def participation_ratio(weights_KxI: np.ndarray) -> np.ndarray:
    """(sum w)^2 / sum w^2 over the last axis: how many entries carry the weight."""
    return np.sum(weights_KxI, axis=-1) ** 2 / np.sum(weights_KxI**2, axis=-1)


def noise_weights(generator: MLP, noise_dim: int) -> np.ndarray:
    """Per digit (one row for a generator without an embedding), each noise dimension's weight in the
    first layer."""
    row_norms_I = np.sum(np.asarray(generator.layers[0].kernel[...])[:noise_dim] ** 2, axis=1)
    if generator.conditioning == "embedding":
        return np.asarray(generator.embedding.embedding[...]) ** 2 * row_norms_I[None, :]
    return row_norms_I[None, :]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="MNIST run folders (mnist-cgan, mnist-cgan-onehot, mnist-gan)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    table, sizes = {}, {}
    for run_dir in args.runs:
        run = load_run(run_dir)
        # The generator as its frames, `sample` and `eval` show it (the average, if the run keeps one).
        generator = nnx.merge(run.trainer.g_graph, *run.trainer.shown_generator(run.state))
        sizes[str(run_dir)] = run.scenario.model.noise_dim
        table[str(run_dir)] = participation_ratio(noise_weights(generator, sizes[str(run_dir)])).round(1).tolist()
    print("effective noise dimensions per digit")
    print("| run (noise size) | " + " | ".join(str(d) for d in range(N_DIGITS)) + " |")
    print("| --- " * (N_DIGITS + 1) + "|")
    for run_dir, ratios in table.items():
        cells = ratios * N_DIGITS if len(ratios) == 1 else ratios  # one figure serves every digit
        print(f"| {run_dir} ({sizes[run_dir]}) | " + " | ".join(f"{r:.1f}" for r in cells) + " |")
    if args.json:
        args.json.write_text(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
