"""MNIST digits, written as a scenario's `[mnist]` table: an unconditional or a conditional GAN."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from toygan.errors import ToyganError
from toygan.kinds import DataKind, absolute_path
from toygan.mnist.source import DigitSource, load_digits, to_unit


@dataclass(frozen=True)
class MnistConfig:
    """MNIST as the data: `path` to an .npz, IDX file or folder, or .csv; "" downloads it into the cache."""

    table: ClassVar[str] = "mnist"

    path: str = ""


def check(scenario) -> None:
    if scenario.model.data_init:
        raise ToyganError("model.data_init is for [mixture] scenarios: set model.data_init = false")


def preview(path):
    """`toygan data mnist`: image counts per digit, and a figure of real images and the label histogram."""
    import numpy as np

    from toygan.mnist.data import load_mnist
    from toygan.mnist.view import preview_figure

    loaded = load_mnist(path)
    lines = []
    for name, digits in (("train", loaded.train), ("test", loaded.test)):
        if digits is not None:
            counts = np.bincount(digits.labels_N, minlength=10)
            lines.append(f"{name:>5} {len(digits):>6} images  " + "  ".join(f"{d}:{c}" for d, c in enumerate(counts)))
    return lines, preview_figure(loaded)


def make_probe(trainer, scenario, announce=None):
    from toygan.mnist.probe import DigitProbe

    return DigitProbe(trainer, scenario, announce)


KIND = DataKind(
    table="mnist",
    config=MnistConfig,
    make_source=lambda config: DigitSource(load_digits(config)),
    make_probe=make_probe,
    check=check,
    to_samples=to_unit,
    sample_noun="images",
    with_data=lambda config, path: dataclasses.replace(config, path=str(path)),
    resolve=absolute_path,
    labelled=True,
    preview=preview,
    sweep_refusal="sweeps run on 2-D scenarios: for MNIST, use `toygan run --seed N` per seed, or `toygan compare`",
)
