"""Pictures of MNIST itself: a grid of real digits with their labels, and the label histogram."""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from toygan.mnist import MnistData


def preview_figure(data: MnistData, rows: int = 5, cols: int = 8) -> Figure:
    """The first rows x cols training images titled by label, beside the label counts of each split."""
    figure = Figure(figsize=(cols * 0.9 + 5, rows * 1.0 + 0.6), dpi=100)
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(rows, cols + 6)
    train = data.train
    for i in range(min(rows * cols, len(train))):
        ax = figure.add_subplot(grid[i // cols, i % cols])
        ax.imshow(train.images_NxHxW[i], cmap="gray_r", vmin=0, vmax=255)
        ax.set_title(str(train.labels_N[i]), fontsize=9, pad=2)
        ax.set_axis_off()
    hist_ax = figure.add_subplot(grid[:, cols + 1 :])
    splits = [("train", train)] + ([("test", data.test)] if data.test is not None else [])
    width = 0.8 / len(splits)
    for k, (name, digits) in enumerate(splits):
        counts = np.bincount(digits.labels_N, minlength=10)
        hist_ax.bar(np.arange(10) + (k - (len(splits) - 1) / 2) * width, counts, width, label=f"{name} ({len(digits):,})")
    hist_ax.set_xticks(range(10))
    hist_ax.set_xlabel("label")
    hist_ax.set_ylabel("images")
    hist_ax.legend(fontsize=8)
    hist_ax.set_title("label histogram", fontsize=10)
    figure.suptitle(f"MNIST from {data.source}", fontsize=10)
    return figure
