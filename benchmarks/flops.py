"""The two FLOP figures of the benchmark: the machine's practical limit (a large float32 matrix
product compiled by XLA) and the FLOPs of one compiled training step (XLA's cost analysis)."""

from __future__ import annotations

import time

import jax


def matmul_flops(size: int = 2048, repeats: int = 10) -> float:
    """FLOP/s of a large float32 matrix product compiled by XLA: the machine's practical limit."""
    a = jax.random.normal(jax.random.key(0), (size, size))
    product = jax.jit(lambda a: a @ a)
    product(a).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        product(a).block_until_ready()
        best = min(best, time.perf_counter() - t)
    return 2 * size**3 / best


def step_flops(trainer, state) -> float:
    """FLOPs of one training step, from XLA's cost analysis of the compiled step."""
    compiled = jax.jit(trainer.train_step).lower(state, trainer.source.arrays()).compile()
    analysis = compiled.cost_analysis()
    analysis = analysis[0] if isinstance(analysis, list) else analysis
    return float(analysis["flops"])
