"""How close single matrix products of a training step's shapes come to a large one:

    python -m benchmarks.shapes

Each product runs alone in a compiled loop of 2,000; the FLOP/s are printed against those of a
2048 x 2048 by 2048 x 2048 product, measured as `python -m benchmarks` measures its limit.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp

from benchmarks.flops import matmul_flops

# (rows, inner, columns): the See_GANs and two-gaussians MLPs' forward products and backward ones,
# then mnist-cgan's at batch 32, with a weight gradient's product over the batch.
SHAPES = [
    (512, 256, 128),
    (512, 128, 128),
    (1024, 128, 128),
    (256, 128, 128),
    (128, 512, 256),
    (32, 1024, 784),
    (32, 784, 512),
    (512, 32, 512),
]


def gflops(m: int, k: int, n: int, repeats: int = 2000) -> float:
    a_MxK, b_KxN = jnp.full((m, k), 0.01), jnp.full((k, n), 0.01)
    # Each product depends on the last (through one element), so none can be skipped or hoisted.
    body = lambda i, acc_MxN: acc_MxN + (a_MxK + acc_MxN[0, 0] * 1e-9) @ b_KxN
    loop = jax.jit(lambda: jax.lax.fori_loop(0, repeats, body, jnp.zeros((m, n))))
    loop().block_until_ready()
    start = time.perf_counter()
    loop().block_until_ready()
    return 2 * m * k * n * repeats / (time.perf_counter() - start) / 1e9


def main() -> None:
    limit = matmul_flops() / 1e9
    print(f"2048 x 2048 x 2048: {limit:.0f} GFLOP/s")
    for shape in SHAPES:
        rate = gflops(*shape)
        print(f"{' x '.join(map(str, shape))}: {rate:.0f} GFLOP/s, {100 * rate / limit:.0f}% of the large product")


if __name__ == "__main__":
    main()
