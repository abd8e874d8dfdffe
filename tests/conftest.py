import os

os.environ.setdefault("MPLBACKEND", "Agg")

import jax  # noqa: E402
import pytest  # noqa: E402

# Catch the (n,) vs (n, 1) broadcasting slips that GAN code is famous for.
jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def tiny_overrides():
    """A scenario small enough to train in a second or two."""
    return {"model.hidden": [32, 32], "train.batch_size": 64, "view.points": 200, "view.eval_samples": 200}
