"""Do the defaults learn any mixture a user writes? Random mixtures, trained with the defaults, scored.

    python -m benchmarks.fidelity [--mixtures 30] [--seed 0] [--out benchmarks/fidelity.md] [-s train.steps=8000 ...]

Draws `--mixtures` random Gaussian mixtures (seeded) across the ranges a scenario file may hold: 1
to 10 modes, weights down to 5%, a different spread on each axis (ratio up to 10), means from 0.01
to 1,000 in size. Each is a scenario with only its [mixture] table (plus `-s` overrides), trained
as `toygan run` trains it (the same compiled chunks, without drawing frames) and scored at its end
by the run's own final metrics. Prints and writes a Markdown table: every criterion per mixture and
the share that meet all of them.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import numpy as np

from toygan.config import parse_override, scenario_from_table
from toygan.engine.train import advance, make_trainer, settle, start
from toygan.twod.metrics import criteria
from toygan.twod.probe import MixtureProbe

CHUNK = 500


def random_mixture(rng: np.random.Generator) -> dict:
    """A [mixture] table: K modes, weights >= 5%, per-axis spreads (ratio up to 10), any scale and offset.

    The modes' sizes (the geometric mean of their two spreads) are within a factor 4 of each other
    and 5% to 20% of the means' scale."""
    n_modes = int(rng.integers(1, 11))
    weights = 0.05 + (1 - 0.05 * n_modes) * rng.dirichlet(np.ones(n_modes))
    scale = 10 ** rng.uniform(-2, 3)  # the size of the means, 0.01 to 1,000
    centre = scale * rng.uniform(-1, 1, 2)
    means = centre + scale * rng.uniform(-1, 1, (n_modes, 2))
    size = scale * 10 ** rng.uniform(-1.3, -0.7) * 10 ** rng.uniform(-0.3, 0.3, n_modes)  # 5% to 20% of the scale
    ratio = 10 ** rng.uniform(-1, 1, n_modes)  # each mode's y spread / x spread, 0.1 to 10
    sd = np.stack([size / np.sqrt(ratio), size * np.sqrt(ratio)], axis=1)
    weights = weights / weights.sum()
    return {"weights": weights.tolist(), "means": means.tolist(), "variances": (sd**2).tolist()}


def train_and_score(table: dict) -> tuple[dict, dict, float]:
    """Train a scenario table as `toygan run` does; its final metrics, the true sample's, and seconds."""
    scenario = scenario_from_table(table)
    trainer = make_trainer(scenario)
    started = time.perf_counter()
    state = start(trainer, scenario)
    steps = scenario.train.steps
    for length in [CHUNK] * (steps // CHUNK) + ([steps % CHUNK] if steps % CHUNK else []):
        state, _ = advance(trainer, state, length)
    state = settle(trainer, state)
    probe = MixtureProbe(trainer, scenario)
    final = probe.final(state)
    jax.block_until_ready(state)
    return final, probe.reference, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mixtures", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--first", type=int, default=0, help="start at this mixture (the draws stay the same)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("-s", "--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    tables = [random_mixture(rng) for _ in range(args.mixtures)]
    lines = [
        "| # | modes | scale | modes found | largest mass error | spread ratios | distance / true | coverage (true) | all | seconds |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    print("\n".join(lines), flush=True)
    passed = 0
    for index in range(args.first, args.mixtures):
        mixture = tables[index]
        table = {"name": f"mixture-{index}", "mixture": mixture, "seed": 0}
        for text in args.overrides:
            key, value = parse_override(text)
            section, name = key.split(".")
            table.setdefault(section, {})[name] = value
        final, reference, seconds = train_and_score(table)
        checks = criteria(final, np.asarray(mixture["weights"]), reference["coverage_mean"])
        ok = all(good for _, good in checks.values())
        passed += ok
        scale = float(np.abs(np.asarray(mixture["means"])).max())
        cells = [f"{text}" if good else f"**{text}**" for text, good in checks.values()]
        line = f"| {index} | {len(mixture['weights'])} | {scale:.3g} | {' | '.join(cells)} | {'yes' if ok else 'no'} | {seconds:.0f} |"
        lines.append(line)
        print(line, flush=True)
    total = args.mixtures - args.first
    summary = f"\n{passed} of {total} mixtures ({passed / total:.0%}) meet every criterion (failed criteria in bold)."
    print(summary)
    if args.out is not None:
        args.out.write_text("\n".join(lines) + "\n" + summary + "\n")


if __name__ == "__main__":
    main()
