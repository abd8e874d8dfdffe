"""What a run keeps between runs, so that a second run of a scenario starts sooner: JAX's persistent
compilation cache (the compiled programs) and the results of the programs a run computes once before
its first frame (the true sample and its reference figures), in the user's cache folder.

The folder is `$TOYGAN_COMPILE_CACHE`, else `$XDG_CACHE_HOME/toygan/compiled`, else
`~/.cache/toygan/compiled`; `TOYGAN_COMPILE_CACHE=off` (the CLI's `--no-compile-cache`) keeps nothing.
JAX files a program under a hash of the program itself; a result here is filed under a hash of the
program that computes it (its jaxpr and constants), its inputs, the JAX version and the machine. Any
change to them finds no entry and computes afresh, so a cached result is the number the run would
compute. Deleting the folder only costs the next run its compile time.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import platform
import tempfile
import threading
from pathlib import Path

import jax
import jaxlib
import numpy as np

from toygan.errors import ToyganError

ENV = "TOYGAN_COMPILE_CACHE"
OFF = ("off", "0", "no", "false", "none")
RESULTS = "results"  # the results' subfolder; JAX's programs go to "jax"
MAX_BYTES = 4 << 20  # larger results (an MNIST network's initial state) are computed each time

_chosen: list[Path | None] = []  # the folder this process uses, once decided (`enable`)
_deciding = threading.Lock()


def folder() -> Path | None:
    """The cache folder that the environment asks for, or None when it is turned off."""
    value = os.environ.get(ENV, "").strip()
    if value.lower() in OFF:
        return None
    if value:
        return Path(value).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "toygan" / "compiled"


def enable() -> Path | None:
    """Use `folder()` for this process (decided at the first call; `make_trainer` calls it before toygan
    compiles anything): JAX caches every compiled program there, however quick to compile. A cache
    folder set for JAX itself (`JAX_COMPILATION_CACHE_DIR`) is left in charge of JAX's programs."""
    with _deciding:
        if not _chosen:
            chosen = _usable(folder())
            if chosen is not None and not jax.config.jax_compilation_cache_dir:
                from jax.experimental.compilation_cache import compilation_cache

                jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
                jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
                if jax.default_backend() == "cpu":  # JAX's GPU autotuning folder would put the folder's path into every key
                    jax.config.update("jax_persistent_cache_enable_xla_caches", "none")
                compilation_cache.set_cache_dir(str(chosen / "jax"))
                compilation_cache.reset_cache()  # if this process compiled before, JAX decided then that it had no cache
            _chosen.append(chosen)
    return _chosen[0]


def _usable(chosen: Path | None) -> Path | None:
    """`chosen` if it can be written; else None (no cache) for the default folder (a read-only home), and
    a one-line error for a folder the user named."""
    if chosen is None:
        return None
    try:
        chosen.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=chosen).close()
    except OSError as error:
        if os.environ.get(ENV, "").strip():
            raise ToyganError(
                f"cannot write the compile cache folder {chosen} ({error.strerror}): set {ENV} to a writable folder, or to off"
            ) from None
        return None
    return chosen


def remembered(program, *args, op_by_op=None):
    """`program(*args)` for a `jax.jit`-ed `program` (its static arguments among `args`), read from the
    cache folder when this program ran on these inputs before, else computed and stored there (when
    its arrays take at most `MAX_BYTES`). For what a run computes once before its first frame.

    `op_by_op`, a function of no arguments, computes the same without `jax.jit`, for a result that
    must keep the bits it always had as separate calls (a compiled program may fuse a multiply and an
    add into one rounding): `program` then only names the computation."""
    compute = op_by_op or (lambda: program(*args))
    chosen = enable()
    if chosen is None:
        return compute()
    traced = program.trace(*args)
    shapes, tree = jax.tree.flatten(traced.out_info)
    if sum(s.size * (8 if _is_key(s) else s.dtype.itemsize) for s in shapes) > MAX_BYTES:
        return compute()
    path = chosen / RESULTS / f"{_fingerprint(traced, args, 'op by op' if op_by_op else 'compiled')}.npz"
    stored = _load(path, shapes)
    if stored is not None:
        return jax.tree.unflatten(tree, stored)
    result = compute()
    buffer = io.BytesIO()
    np.savez(buffer, **{f"out{i}": np.asarray(_raw(leaf)) for i, leaf in enumerate(jax.tree.leaves(result))})
    _write_atomic(path, buffer.getvalue())
    return result


def _load(path: Path, shapes: list) -> list | None:
    """The arrays stored at `path`, on the device, if they have these shapes and types; else None (not
    there yet, or unreadable: computed afresh and written anew)."""
    try:
        with np.load(path) as stored:
            arrays = [stored[f"out{i}"] for i in range(len(shapes))]
    except (OSError, KeyError, ValueError, EOFError):
        return None
    if not all(_matches(array, shape) for array, shape in zip(arrays, shapes)):
        return None
    return [jax.random.wrap_key_data(a) if _is_key(s) else jax.device_put(a) for a, s in zip(arrays, shapes)]


def _is_key(leaf) -> bool:
    return jax.dtypes.issubdtype(getattr(leaf, "dtype", None), jax.dtypes.prng_key)


def _raw(array):
    """An array's numbers; a PRNG key's raw data."""
    return jax.random.key_data(array) if _is_key(array) else array


def _matches(stored: np.ndarray, shape) -> bool:
    """Whether a stored array can stand for an output of this shape and type (a key as its raw data)."""
    if _is_key(shape):
        return stored.dtype == np.uint32 and stored.shape[: len(shape.shape)] == shape.shape
    return stored.shape == shape.shape and stored.dtype == shape.dtype


def _fingerprint(traced, args, how: str) -> str:
    """A hash of everything a traced program's result depends on: the program, its constants, its
    inputs, how it is run, and the JAX version and machine that compile and run it."""
    digest = hashlib.sha256()
    machine = (jax.__version__, jaxlib.__version__, jax.default_backend(), platform.machine(), _cpu_features())
    for text in (*machine, os.environ.get("XLA_FLAGS", ""), str(jax.config.jax_default_matmul_precision), how):
        digest.update(text.encode() + b"\0")
    digest.update(str(traced.jaxpr).encode())
    # The inputs: arrays and Python numbers (the static ones, such as a trainer, shaped the jaxpr).
    inputs = [leaf for leaf in jax.tree.leaves(args) if hasattr(leaf, "dtype") or isinstance(leaf, int | float | complex)]
    for value in (*_constants(traced.jaxpr), *inputs):
        array = np.asarray(_raw(value))
        digest.update(f"{type(value).__name__}{array.dtype}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:32]


def _constants(closed) -> list:
    """The constants of a closed jaxpr and of every jaxpr nested in its equations (the printed jaxpr
    names them but does not show their values)."""
    from jax.extend import core

    found = list(closed.consts)
    stack = [closed.jaxpr]
    while stack:
        for eqn in stack.pop().eqns:
            for param in eqn.params.values():
                for inner in param if isinstance(param, tuple | list) else (param,):
                    if isinstance(inner, core.ClosedJaxpr):
                        found.extend(inner.consts)
                        stack.append(inner.jaxpr)
                    elif isinstance(inner, core.Jaxpr):
                        stack.append(inner)
    return found


@functools.cache
def _cpu_features() -> str:
    """The CPU's model and instruction sets where the system tells them (XLA compiles for them, and a
    home folder may be shared by machines that round differently)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor()
    return "".join(sorted({line for line in lines if line.startswith(("model name", "flags"))}))


def _write_atomic(path: Path, data: bytes) -> None:
    """Whole or not at all, even with several runs writing at once; a cache that cannot be written
    (a read-only or full disk) is only slower."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, part = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-")
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(part, path)
    except OSError:
        Path(part).unlink(missing_ok=True)
