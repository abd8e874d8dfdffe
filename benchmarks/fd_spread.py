"""How much a Fréchet distance moves with the samples drawn: generated digits, and real ones.

    python -m benchmarks.fd_spread RUN_DIR [RUN_DIR ...] [--settle] [--draws 10] [--json out.json]

`toygan eval` scores 10,000 generated digits drawn with one fixed key per run; the distance of another
10,000 from the same generator differs. For each MNIST run this prints `toygan eval`'s distance and
the mean, standard deviation and range over `--draws` other draws of 10,000 (keys 1000, 1001, ...;
`toygan eval --seed`). The reference moves too: the runs' own training data gives, beside `toygan
eval`'s reference (the first 10,000 training images), random sets of 10,000 training images (without
replacement, seeded), each against the real test images.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np

from toygan.engine.runner import load_run
from toygan.engine.train import settle
from toygan.mnist.classifier import FD_SAMPLES


def spread(values: list[float]) -> dict:
    return {"mean": float(np.mean(values)), "sd": float(np.std(values, ddof=1)), "min": min(values), "max": max(values)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="MNIST run folders")
    parser.add_argument("--draws", type=int, default=10, help="draws of 10,000 per run and of real training images")
    parser.add_argument(
        "--settle",
        action="store_true",
        help="for runs made before commit 52ec2a8: batch-norm statistics of the average from 4,096 batches, as runs keep them now",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    figures, probe = {}, None
    for run_dir in args.runs:
        run = load_run(run_dir)
        state = run.state  # as the run kept it, what `toygan eval` reads
        if args.settle:  # a finished run's final step: the statistics a run finishing now keeps
            state = settle(run.trainer, state.replace(step=jnp.asarray(run.scenario.train.steps, state.step.dtype)))
        probe = run.probe
        distances = [probe.final(state, seed=1000 + i)["frechet_distance"] for i in range(args.draws)]
        figures[str(run_dir)] = {"eval": probe.final(state)["frechet_distance"], **spread(distances)}
        f = figures[str(run_dir)]
        print(
            f"{run_dir}: toygan eval {f['eval']:.3f}; {args.draws} draws of 10,000: mean {f['mean']:.2f}, "
            f"sd {f['sd']:.2f}, {f['min']:.2f} to {f['max']:.2f}"
        )
    evaluator, train = probe.evaluator, probe.trainer.source.data.train
    images_NxD = train.scaled()
    rng = np.random.default_rng(0)
    real = [evaluator.read(images_NxD[rng.choice(len(images_NxD), FD_SAMPLES, replace=False)])[1] for _ in range(args.draws)]
    figures["real"] = {"first": evaluator.real_distance, **spread(real)}
    f = figures["real"]
    print(
        f"real training images ({len(images_NxD):,}): the first {FD_SAMPLES:,} {f['first']:.3f} (toygan eval's reference); "
        f"{args.draws} random sets of {FD_SAMPLES:,}: mean {f['mean']:.2f}, sd {f['sd']:.2f}, {f['min']:.2f} to {f['max']:.2f}"
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
