"""A frame of a dirac-gan run: one panel of the (theta, psi) plane per objective x scheme x penalty, titled with
them, each with the game's vector field (drawn once), its trajectory up to the frame's step and the distance
to the equilibrium (0, 0) there."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from toygan.dirac import game
from toygan.engine.display import drawing_canvas

PANEL_INCHES = (2.7, 3.0)  # width, height of one panel (the height leaves room for its two-line title)
CONVERGED, NOT_CONVERGED = "tab:green", "tab:red"


class GameView:
    """Draws the panels of `panels` (`toygan.dirac.run.Panel`) on `figure`; `update(step)` moves every
    trajectory to `step`, `render()` returns the frame's pixels. The fields and axes are drawn once and
    cached; a frame redraws only the trajectories and titles."""

    def __init__(self, figure: Figure, title: str, panels, paths_PxTx2: np.ndarray, lr_d: float, extent: float, tolerance: float):
        self.figure, self.title, self.panels = figure, title, panels
        self.paths_PxTx2, self.tolerance = paths_PxTx2, tolerance
        self.steps = paths_PxTx2.shape[1] - 1
        rows = len({p.objective for p in panels})
        cols = len(panels) // rows
        figure.clear()
        figure.set_size_inches(cols * PANEL_INCHES[0], rows * PANEL_INCHES[1] + 0.4, forward=True)
        axes = figure.subplots(rows, cols, squeeze=False).ravel()
        self._lines, self._heads, self._distances = [], [], []
        for ax, panel, path_Tx2 in zip(axes, panels, paths_PxTx2):
            game.draw(ax, panel.objective, panel.scheme, path_Tx2[:1], lr=lr_d, lim=extent, n=13, **panel.game_options())
            ax.tick_params(labelsize=7)
            ax.xaxis.label.set_fontsize(8)
            ax.yaxis.label.set_fontsize(8)
            ax.label_outer()
            ax.locator_params(nbins=5)
            ax.set_title(panel.label.replace(", ", "\n", 1), fontsize=8)
            self._lines.append(ax.lines[0])
            self._heads.append(ax.plot([], [], "o", color=ax.lines[0].get_color(), markersize=4, zorder=4)[0])
            # The distance, under the title and short: text is what a frame costs most to draw.
            box = dict(facecolor="white", alpha=0.85, edgecolor="none", pad=1.5)
            self._distances.append(ax.text(0.03, 0.97, "", transform=ax.transAxes, va="top", fontsize=8, bbox=box, zorder=5))
        self._suptitle = figure.suptitle(title, fontsize=10)
        self._dynamic = [*self._lines, *self._heads, *self._distances, self._suptitle]
        for artist in self._dynamic:
            artist.set_animated(True)
        figure.tight_layout()
        self._background = None
        figure.canvas.mpl_connect("draw_event", self._on_draw)
        self.update(0)

    def update(self, step: int) -> None:
        """Show every trajectory from the start to `step`, and its distance to (0, 0); at the last step, the verdict in colour."""
        last = step == self.steps
        for path_Tx2, line, head, text in zip(self.paths_PxTx2, self._lines, self._heads, self._distances):
            shown_Sx2 = path_Tx2[: step + 1]
            line.set_data(shown_Sx2[:, 0], shown_Sx2[:, 1])
            head.set_data(shown_Sx2[-1:, 0], shown_Sx2[-1:, 1])
            distance = float(np.hypot(*shown_Sx2[-1]))
            converged = distance < self.tolerance
            verdict = ("\nconverges" if converged else "\ndoes not converge") if last else ""
            text.set_text(f"distance {distance:.3g}{verdict}")
            text.set_color((CONVERGED if converged else NOT_CONVERGED) if last else "black")
        self._suptitle.set_text(f"{self.title}   step {step} of {self.steps}")

    def _on_draw(self, event) -> None:
        """After any full draw (ours, or the window's on resize): cache the static background."""
        canvas = self.figure.canvas
        self._background = (canvas, canvas.copy_from_bbox(self.figure.bbox))
        self._draw_dynamic()

    def _draw_dynamic(self) -> None:
        for artist in self._dynamic:
            (artist.axes or self.figure).draw_artist(artist)

    def render(self) -> np.ndarray:
        """Draw the frame and return a copy of its pixels, (H, W, 3) uint8."""
        canvas = drawing_canvas(self.figure)  # a closed window's figure goes on drawing headless
        if self._background is None or self._background[0] is not canvas:
            canvas.draw()
        else:
            canvas.restore_region(self._background[1])
            self._draw_dynamic()
        canvas.blit(self.figure.bbox)
        return np.asarray(canvas.buffer_rgba())[..., :3].copy()
