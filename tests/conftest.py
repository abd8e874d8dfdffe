import os
import shutil
import sys
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
