"""Frames of a 2-D run: real points (red +) against generated points (blue x) on fixed axes."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from toygan.mixture import GaussianMixture


class ScatterView:
    """Draws into a figure it is given; `update` moves the points, `render` returns the RGB image."""

    def __init__(self, figure: Figure, mixture: GaussianMixture, real_Nx2: np.ndarray, title: str):
        self.figure = figure
        self.title = title
        ax = figure.add_subplot(1, 1, 1)
        low, high = mixture.bounds()
        ax.set_xlim(low[0], high[0])
        ax.set_ylim(low[1], high[1])
        ax.set_aspect("equal")
        ax.grid(alpha=0.3)
        ax.scatter(real_Nx2[:, 0], real_Nx2[:, 1], s=14, c="tab:red", marker="+", linewidths=0.8, label="real")
        self._fake = ax.scatter([], [], s=12, c="tab:blue", marker="x", linewidths=0.8, label="generated")
        ax.legend(loc="upper right", fontsize=8)
        self._ax = ax
        self.update(0, np.empty((0, 2)), 0.0, 0.0)
        figure.tight_layout()

    def update(self, step: int, fake_Nx2: np.ndarray, d_loss: float | None, g_loss: float | None) -> None:
        self._fake.set_offsets(fake_Nx2)
        losses = "" if d_loss is None else f"\nD loss {d_loss:.3f}   G loss {g_loss:.3f}"
        self._ax.set_title(f"{self.title}   step {step}{losses}", fontsize=10)

    def render(self) -> np.ndarray:
        """Draw the figure and return a copy of its pixels, (H, W, 3) uint8."""
        self.figure.canvas.draw()
        return np.asarray(self.figure.canvas.buffer_rgba())[..., :3].copy()
