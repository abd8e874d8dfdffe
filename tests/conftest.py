import csv
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

# Catch the (n,) vs (n, 1) broadcasting slips that GAN code is famous for.
jax.config.update("jax_numpy_rank_promotion", "raise")

# The installed `toygan` console script, as a user runs it (tests of the command import these two).
_SCRIPT = Path(sys.executable).with_name("toygan")
TOYGAN = str(_SCRIPT if _SCRIPT.is_file() else shutil.which("toygan"))
# `-s` settings of a run small enough to train in seconds, at a constant rate (so that the compiled
# program does not depend on --steps and runs of any length share it).
SMALL_CLI = [
    *("-s", "model.hidden=[32, 32]"),
    *("-s", "train.batch_size=64"),
    *("-s", "view.points=200"),
    *("-s", "view.eval_samples=200"),
    *("-s", "view.frame_every=50"),
    *("-s", "train.lr_schedule=constant"),
]


@pytest.fixture
def tiny_overrides():
    """A scenario small enough to train in a second or two."""
    return {"model.hidden": [32, 32], "train.batch_size": 64, "view.points": 200, "view.eval_samples": 200}


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """Downloads, the cached MNIST evaluator and what runs compile (`toygan.engine.cache`) go to folders
    of this test session, never ~/.cache."""
    settings = {"TOYGAN_DATA": "toygan-cache", "TOYGAN_COMPILE_CACHE": "toygan-compiled"}
    previous = {name: os.environ.get(name) for name in settings}
    for name, folder in settings.items():
        os.environ[name] = str(tmp_path_factory.mktemp(folder))
    yield
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name)
        else:
            os.environ[name] = value


def bar_digits(n: int, seed: int):
    """Synthetic labelled 28 x 28 images: digit k is a bright bar on rows 2k+3 and 2k+4, with noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    images = rng.integers(0, 40, (n, 28, 28))
    for i, k in enumerate(labels):
        images[i, 2 * k + 3 : 2 * k + 5, 4 + rng.integers(0, 3) : 22 + rng.integers(0, 3)] = 255
    return images.astype(np.uint8), labels


@pytest.fixture(scope="session")
def bar_mnist(tmp_path_factory):
    """An .npz in the Keras MNIST layout holding `bar_digits`: a labelled data set that small GANs learn fast."""
    path = tmp_path_factory.mktemp("bars") / "bars.npz"
    (x_train, y_train), (x_test, y_test) = bar_digits(1200, 0), bar_digits(300, 1)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


# Window tests: a virtual X display (Xvfb), and for real keys and clicks xdotool and a small window
# manager (openbox). Without them these tests skip; with TOYGAN_REQUIRE_WINDOW=1 (set by .ci/run) they
# fail instead, so that CI cannot pass without having tested the windows.


def unavailable(reason: str):
    """Skip, or fail where the window must be tested (TOYGAN_REQUIRE_WINDOW=1, as in CI)."""
    if os.environ.get("TOYGAN_REQUIRE_WINDOW") == "1":
        pytest.fail(f"{reason}, and TOYGAN_REQUIRE_WINDOW=1 asks for the window to be tested")
    pytest.skip(reason)


def start_xvfb(size: str):
    if shutil.which("Xvfb") is None:
        unavailable("Xvfb is not installed (apt-get install xvfb); no window can be tested here")
    return subprocess.Popen(
        ["Xvfb", "-displayfd", "1", "-screen", "0", size, "-nolisten", "tcp"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def xdotool(env: dict, *args: str) -> None:
    """Type, click or move the mouse on the display of `env`, through the X server as a user's devices do."""
    subprocess.run(["xdotool", *args], env=env, check=True, timeout=30)


def find_window(env: dict, title: str) -> str:
    """The id of the window whose title matches the regular expression `title`, once it exists."""
    found = subprocess.run(["xdotool", "search", "--sync", "--name", title], env=env, capture_output=True, text=True, timeout=120)
    return found.stdout.split()[0]


def focus_window(env: dict, title: str) -> str:
    """`find_window`, made the window that takes the keys."""
    window = find_window(env, title)
    xdotool(env, "windowactivate", "--sync", window)
    return window


@contextmanager
def x_server(size: str):
    server = start_xvfb(size)
    number = server.stdout.readline().strip()
    try:
        if not number:
            unavailable("Xvfb did not start")
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=10)
        server.stdout.close()


@pytest.fixture
def xvfb():
    with x_server("800x700x24") as display:
        yield display


@pytest.fixture(scope="session")
def compile_cache(tmp_path_factory) -> dict:
    """Environment variables that give a child process (a `toygan` command, a Jupyter kernel) one JAX
    compilation cache shared with the other children of this test session: runs of the same settings
    compile once."""
    return {
        "JAX_COMPILATION_CACHE_DIR": str(tmp_path_factory.mktemp("jax-cache")),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }


@pytest.fixture
def desktop(compile_cache):
    """An X display with a small window manager (openbox) and xdotool to type and click into it: the
    environment of a process that opens its windows there."""
    missing = [tool for tool in ("xdotool", "openbox") if shutil.which(tool) is None]
    if missing:
        unavailable(f"{' and '.join(missing)} not installed (apt-get install xdotool openbox): the window's keys cannot be tested here")
    with x_server("1400x1000x24") as display:
        env = {
            **os.environ,
            "DISPLAY": display,
            "MPLBACKEND": "TkAgg",
            **compile_cache,
        }
        manager = subprocess.Popen(["openbox"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            yield env
        finally:
            manager.terminate()
            manager.wait(timeout=10)


def rows(path: Path) -> list[dict]:
    """A run folder's CSV file as rows; none before it is written."""
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def wait_for(what, timeout: float = 60.0, process=None):
    """Poll `what()` until it is true; fails after `timeout` s or when `process` ended first."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = what()
        if value:
            return value
        if process is not None and process.poll() is not None:
            raise AssertionError(f"toygan ended ({process.returncode}) while waiting: {process.communicate()[1][-3000:]}")
        time.sleep(0.05)
    raise AssertionError("timed out waiting")
