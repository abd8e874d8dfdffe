"""Pictures of MNIST itself: a grid of real digits with their labels, and the label histogram."""

from __future__ import annotations

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from toygan.engine.display import drawing_canvas
from toygan.mnist.data import SIDE, MnistData
from toygan.mnist.source import to_unit


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


class DigitView:
    """Frames of an MNIST run: the grid of generated digits from fixed noise (each column titled by the
    digit asked for), beside the loss curves and the evaluator's curves so far."""

    def __init__(self, figure: Figure, title: str, labels_S: np.ndarray | None, rows: int, total_steps: int, curves):
        self.figure, self.title, self.rows, self.curves = figure, title, rows, curves
        figure.clear()
        figure.set_size_inches(11.5, 5.6)
        grid = figure.add_gridspec(2, 2, width_ratios=[1.35, 1.0], hspace=0.45, wspace=0.22, left=0.02, right=0.93)
        self._ax = figure.add_subplot(grid[:, 0])
        self._image = self._ax.imshow(np.zeros((rows * SIDE, 10 * SIDE)), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        self._ax.set_yticks([])
        if labels_S is not None:
            self._ax.set_xticks(np.arange(10) * SIDE + SIDE / 2 - 0.5, [str(k) for k in labels_S[:10]])
            self._ax.tick_params(axis="x", length=0, labeltop=True, labelbottom=False)
        else:
            self._ax.set_xticks([])
        self._loss_ax = figure.add_subplot(grid[0, 1])
        self._score_ax = figure.add_subplot(grid[1, 1])
        (self._d_line,) = self._loss_ax.plot([], [], c="tab:red", lw=1, label="D loss")
        (self._g_line,) = self._loss_ax.plot([], [], c="tab:blue", lw=1, label="G loss")
        self._loss_ax.legend(fontsize=8, loc="upper right")
        self._loss_ax.set_title("losses (mean per frame)", fontsize=9)
        self._fd_ax = self._score_ax.twinx()
        self._fd_ax.set_yscale("log")  # the distance falls by orders of magnitude
        self._score_lines = {
            name: (self._fd_ax if right else self._score_ax).plot([], [], c=color, lw=1, label=label)[0]
            for name, label, color, right in curves
        }
        self._score_ax.legend(handles=list(self._score_lines.values()), fontsize=7, loc="center right")
        for ax in (self._loss_ax, self._score_ax):
            ax.set_xlim(0, max(1, total_steps))
            ax.grid(alpha=0.3)
        self._score_ax.set_ylim(0, 1.02)
        self._score_ax.set_xlabel("step", fontsize=8)
        self._score_ax.set_title("evaluator", fontsize=9)
        self._warning = figure.text(0.01, 0.01, "", color="darkred", fontsize=8)

    def update(self, step: int, obs, history: dict[str, list], warnings: list[str]) -> None:
        """Show the grid at `step` and the curves so far (the observation's `shown_SxD`, pixels in [-1, 1])."""
        if obs is not None:
            images = to_unit(obs.shown_SxD).reshape(self.rows, 10, SIDE, SIDE)
            self._image.set_data(images.transpose(0, 2, 1, 3).reshape(self.rows * SIDE, 10 * SIDE))
        headline = ""
        if history.get("step"):
            steps = history["step"]
            for name, line in self._score_lines.items():
                line.set_data(steps, history[name])
            distances = [v for v in history["frechet_distance"] if np.isfinite(v) and v > 0]
            if distances:
                self._fd_ax.set_ylim(0.8 * min(distances), 1.25 * max(distances))
            if history.get("accuracy"):
                headline += f"   accuracy {history['accuracy'][-1]:.1%}"
            headline += f"   Fréchet distance {history['frechet_distance'][-1]:.2f}"
        if history.get("d_loss"):
            loss_steps = history["step"][-len(history["d_loss"]) :]
            self._d_line.set_data(loss_steps, history["d_loss"])
            self._g_line.set_data(loss_steps, history["g_loss"])
            values = [v for v in history["d_loss"] + history["g_loss"] if np.isfinite(v)]
            if values:
                self._loss_ax.set_ylim(min(0.0, min(values)), max(values) * 1.1 + 1e-6)
        self._ax.set_title(f"{self.title}   step {step}{headline}", fontsize=9, pad=18)
        self._warning.set_text("\n".join(warnings[-2:]))

    def render(self) -> np.ndarray:
        canvas = drawing_canvas(self.figure)  # a closed window's figure goes on drawing headless
        canvas.draw()
        return np.asarray(canvas.buffer_rgba())[..., :3].copy()
