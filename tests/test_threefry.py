"""The unrolled threefry that toygan installs on the CPU: the same numbers as JAX's own loop, no loop."""

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

threefry2x32 = pytest.importorskip(
    "jax._src.random.threefry2x32", reason="this JAX keeps threefry elsewhere: toygan draws at JAX's own speed"
)

import toygan  # noqa: E402, F401  (installs the lowering)
from toygan.engine.threefry import rolled, unroll_on_cpu  # noqa: E402


def test_unrolled_threefry_draws_the_same_bits_as_jax_rolled_loop():
    assert unroll_on_cpu()
    keys = jnp.array([0x12345678, 0x9ABCDEF0], dtype=jnp.uint32)
    counts = jnp.arange(4096, dtype=jnp.uint32)
    rolled = jax.jit(lambda k, c: threefry2x32._threefry2x32_lowering(k[0], k[1], c, c[::-1], use_rolled_loops=True))
    fast = jax.jit(lambda k, c: threefry2x32.threefry2x32_p.bind(k[0], k[1], c, c[::-1]))
    for want, got in zip(rolled(keys, counts), fast(keys, counts)):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_compiled_draws_have_no_loop():
    hlo = jax.jit(lambda key: jax.random.normal(key, (512, 256))).lower(jax.random.key(0)).compile().as_text()
    assert " while(" not in hlo


def test_importing_toygan_changes_nothing_until_a_trainer_is_made():
    code = """
import subprocess
import sys

import jax
has_loop = lambda: " while(" in jax.jit(lambda k: jax.random.normal(k, (8, 8))).lower(jax.random.key(0)).compile().as_text()
import toygan
from toygan.engine.train import make_trainer
before = has_loop()
make_trainer(toygan.load_scenario("two-gaussians"))
print(before, has_loop())
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["True", "False"], done.stderr


def test_programs_compiled_for_one_call_keep_jax_loop_and_draw_the_same_numbers():
    assert unroll_on_cpu()
    key = jax.random.key(3)
    with rolled():
        looped = jax.jit(lambda k: jax.random.normal(k, (64, 8))).lower(key).compile()
    unrolled = jax.jit(lambda k: jax.random.normal(k, (64, 8))).lower(key).compile()
    assert " while(" in looped.as_text() and " while(" not in unrolled.as_text()
    np.testing.assert_array_equal(np.asarray(looped(key)), np.asarray(unrolled(key)))
