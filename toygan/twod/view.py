"""Frames of a 2-D run: real points (red +) against generated points (blue x) on fixed axes, with the
panels the scenario turns on.

Frames are blitted: axes, ticks and the real points are drawn once into a cached background, and each
frame redraws only the artists that move. A full redraw happens only when a curve outgrows its axis
limits or the window is resized.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from toygan.config import ViewConfig
from toygan.engine import objectives
from toygan.engine.display import drawing_canvas
from toygan.twod.fidelity import SW_LIMIT
from toygan.twod.observe import FIELD_SIZE, Observation

PANEL_INCHES = 4.6
CURVES_INCHES = 4.2
HEATMAP = dict(cmap="RdBu_r", vmin=0.0, vmax=1.0, origin="lower", interpolation="nearest", zorder=0)


class FrameView:
    """Draws into a figure it is given; `update` moves everything, `render` returns the RGB image."""

    def __init__(
        self,
        figure: Figure,
        bounds: tuple[np.ndarray, np.ndarray],
        real_Nx2: np.ndarray,
        title: str,
        view: ViewConfig,
        total_steps: int,
        curves: tuple = (),
        headline: Callable[[Observation], str] | None = None,
        objective: str = "log",
    ):
        """`curves` are (history key, label, colour, on the right-hand axis); `headline(obs)` is the
        title's verdict line; `objective` (`train.loss`) says what D's output and the loss curves mean."""
        self.figure, self.title, self.view = figure, title, view
        self._probability = objectives.HAS_PROBABILITY[objective]
        self._headline = headline
        self._low, self._high = bounds
        self._extent = (self._low[0], self._high[0], self._low[1], self._high[1])
        widths = [PANEL_INCHES] + [PANEL_INCHES] * view.optimal_discriminator + [CURVES_INCHES] * view.curves
        figure.set_size_inches(sum(widths), PANEL_INCHES + 0.5)
        grid = figure.add_gridspec(2, len(widths), width_ratios=widths, height_ratios=[1, 1])

        ax = self._ax = figure.add_subplot(grid[:, 0])
        self._square(ax)
        self._d_image = ax.imshow(np.zeros((2, 2)), extent=self._extent, alpha=0.45, **HEATMAP) if view.discriminator else None
        self._manifold = ax.add_collection(LineCollection([], colors="0.35", linewidths=0.6, zorder=1)) if view.manifold else None
        real = ax.scatter(real_Nx2[:, 0], real_Nx2[:, 1], s=14, c="tab:red", marker="+", linewidths=0.8, label="real", zorder=2)
        self._fake = ax.scatter([], [], s=12, c="tab:blue", marker="x", linewidths=0.8, label="generated", zorder=3)
        self._field = self._arrows = None
        if view.gradient_field:
            fx, fy = np.meshgrid(*self._axes(FIELD_SIZE))
            self._field = ax.quiver(
                fx,
                fy,
                np.zeros_like(fx),
                np.zeros_like(fy),
                color="0.3",
                alpha=0.6,
                angles="xy",
                scale_units="xy",
                scale=1.0,
                width=0.003,
                zorder=4,
            )
        if view.gradients:
            zeros = np.zeros(view.arrows)
            self._arrows = ax.quiver(
                zeros, zeros, zeros, zeros, color="tab:green", angles="xy", scale_units="xy", scale=1.0, width=0.004, zorder=5
            )
        # Below the axes, the legend stays in the static background instead of being redrawn.
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.06), ncols=2, fontsize=8, frameon=False)
        self._warning = ax.text(
            0.02,
            0.02,
            "",
            transform=ax.transAxes,
            color="darkred",
            fontsize=8,
            va="bottom",
            zorder=6,
            bbox=dict(facecolor="white", alpha=0.8, edgecolor="none"),
        )

        self._optimal_image = None
        if view.optimal_discriminator:
            optimal_ax = figure.add_subplot(grid[:, 1])
            self._square(optimal_ax)
            optimal_ax.set_title("optimal D* = p_data / (p_data + p_g)", fontsize=9)
            self._optimal_image = optimal_ax.imshow(np.zeros((2, 2)), extent=self._extent, **HEATMAP)
            optimal_real = optimal_ax.scatter(real_Nx2[:, 0], real_Nx2[:, 1], s=6, c="tab:red", marker="+", linewidths=0.5, zorder=2)

        self._curves = None
        if view.curves:
            loss_ax, metric_ax = figure.add_subplot(grid[0, -1]), figure.add_subplot(grid[1, -1])
            right_ax = metric_ax.twinx()
            for a in (loss_ax, metric_ax):
                a.set_xlim(0, total_steps)
                a.grid(alpha=0.3)
                a.tick_params(labelsize=7)
            right_ax.tick_params(labelsize=7, colors="tab:purple")
            # The distance ratio spans decades, from the first frame's tens to about 1 at the end.
            right_ax.set_yscale("log")
            right_ax.axhline(SW_LIMIT, color="tab:purple", lw=0.8, ls="--", alpha=0.6)
            loss_ax.set_title(f"losses: {objectives.CURVE_LINE[objective]}", fontsize=8)
            metric_ax.set_title("metrics", fontsize=9)
            metric_ax.set_ylim(0, 1.05)
            metric_ax.set_xlabel("step", fontsize=8)
            self._curves = {
                "axes": (loss_ax, right_ax),
                "d_loss": loss_ax.plot([], [], c="tab:red", lw=1, label="D loss")[0],
                "g_loss": loss_ax.plot([], [], c="tab:blue", lw=1, label="G loss")[0],
            }
            for name, label, colour, right in curves:
                self._curves[name] = (right_ax if right else metric_ax).plot([], [], c=colour, lw=1, label=label)[0]
            loss_ax.legend(fontsize=7, loc="upper right")
            metric_ax.legend(handles=[self._curves[name] for name, *_ in curves], fontsize=7, loc="center right")
        self._background = None
        # Whatever lies above a heatmap is redrawn with it, or the heatmap would cover it.
        over_heatmap = [real] if view.discriminator else []
        if view.optimal_discriminator:
            over_heatmap.append(optimal_real)
        self._dynamic = [
            a
            for a in (
                self._d_image,
                self._manifold,
                self._fake,
                self._field,
                self._arrows,
                self._warning,
                self._optimal_image,
                self._ax.title,
                *over_heatmap,
            )
            if a is not None
        ]
        if self._curves is not None:
            loss_ax, right_ax = self._curves["axes"]
            loss_ax.set_ylim(0, 2)
            right_ax.set_ylim(0.5, 50)
            self._dynamic += [line for key, line in self._curves.items() if key != "axes"]
        self._dynamic.sort(key=lambda artist: artist.get_zorder())
        for artist in self._dynamic:
            artist.set_animated(True)
        # The layout leaves room for the title's three lines (name and step, losses, verdict), which the
        # first frame does not have yet: otherwise later titles are cut off at the top.
        self._ax.set_title("\n\n", fontsize=9)
        figure.tight_layout()
        self.update(0, None, {}, [])
        figure.canvas.mpl_connect("draw_event", self._on_draw)

    def cycle_panels(self) -> str:
        """The live window's `v`: show the data panel's layers (D's heatmap, G's manifold, the gradient
        field and arrows, as the scenario has them) all, then each alone, in turn. Returns what is shown."""
        layers = {
            name: artist
            for name, artist in (
                ("discriminator", self._d_image),
                ("manifold", self._manifold),
                ("gradient_field", self._field),
                ("gradients", self._arrows),
            )
            if artist is not None
        }
        choices = ["all", *layers] if len(layers) > 1 else ["all", "points"] if layers else ["all"]
        self._shown = choices[(choices.index(getattr(self, "_shown", "all")) + 1) % len(choices)]
        for name, artist in layers.items():
            artist.set_visible(self._shown in ("all", name))
        return self._shown

    def _axes(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        return np.linspace(self._low[0], self._high[0], size), np.linspace(self._low[1], self._high[1], size)

    def _square(self, ax) -> None:
        ax.set_xlim(self._low[0], self._high[0])
        ax.set_ylim(self._low[1], self._high[1])
        ax.set_aspect("equal")
        ax.tick_params(labelsize=8)

    def _arrow_scale(self, vectors_NxD: np.ndarray) -> float:
        """Longest arrow drawn at 8% of the view's width, so that the field's shape stays readable."""
        longest = float(np.max(np.linalg.norm(vectors_NxD, axis=-1), initial=0.0))
        return 0.08 * (self._high[0] - self._low[0]) / longest if longest > 0 else 0.0

    def update(self, step: int, obs: Observation | None, history: dict[str, list], warnings: list[str]) -> None:
        """Show the observation at `step`; `history` holds the curves so far, `warnings` the latest alerts."""
        losses = ""
        if history.get("d_loss"):
            losses = f"   D loss {history['d_loss'][-1]:.3f}   G loss {history['g_loss'][-1]:.3f}"
        if obs is not None:
            if self._headline is not None:
                losses += f"\n{self._headline(obs)}"
            self._fake.set_offsets(obs.fake_ExD[: self.view.points])
            if self._d_image is not None:
                self._d_image.set_data(obs.d_grid_GxG)
                if not self._probability:  # a critic's value, unbounded: a symmetric scale around 0 each frame
                    largest = float(np.max(np.abs(obs.d_grid_GxG), initial=0.0)) or 1.0
                    self._d_image.set_clim(-largest, largest)
            if self._optimal_image is not None:
                self._optimal_image.set_data(obs.optimal_d_GxG)
            if self._manifold is not None:
                self._manifold.set_segments(unbroken_pieces(obs.manifold_LxMxD))
            if self._arrows is not None:
                shown = obs.fake_ExD[: self.view.arrows]
                vectors = obs.arrows_PxD * self._arrow_scale(obs.arrows_PxD)
                self._arrows.set_offsets(shown)
                self._arrows.set_UVC(vectors[:, 0], vectors[:, 1])
            if self._field is not None:
                vectors = obs.field_FxFxD * self._arrow_scale(obs.field_FxFxD.reshape(-1, 2))
                self._field.set_UVC(vectors[..., 0], vectors[..., 1])
        self._ax.set_title(f"{self.title}   step {step}{losses}", fontsize=9)
        self._warning.set_text("\n".join(warnings[-2:]))
        self._warning.set_visible(bool(warnings))
        if self._curves is not None and history.get("step"):
            steps = history["step"]
            for name, line in self._curves.items():
                if name != "axes":
                    values = history.get(name, [])
                    line.set_data(steps[-len(values) :] if values else [], values)
            self._grow_ylim(self._curves["axes"][0], history["d_loss"] + history["g_loss"])

    def _grow_ylim(self, axis, values: list[float]) -> None:
        """Widen a curve's axis by half when a value leaves it; that costs one full redraw."""
        finite = [v for v in values if np.isfinite(v)]
        low, high = min(finite, default=0.0), max(finite, default=0.0)
        bottom, top = axis.get_ylim()
        if low < bottom or high > top:
            axis.set_ylim(min(bottom, low * 1.5), max(top, high * 1.5))
            self._background = None

    def _on_draw(self, event) -> None:
        """After any full draw (ours, or the window's on resize): cache the static background."""
        canvas = self.figure.canvas
        self._background = (canvas, canvas.copy_from_bbox(self.figure.bbox))
        self._draw_dynamic()

    def _draw_dynamic(self) -> None:
        for artist in self._dynamic:
            artist.axes.draw_artist(artist)

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


def unbroken_pieces(lines_LxMxD: np.ndarray) -> list[np.ndarray]:
    """Each line cut at its NaN points (where the generator jumps) into the pieces between them."""
    pieces = []
    for line_MxD in np.asarray(lines_LxMxD):
        for piece in np.split(line_MxD, np.flatnonzero(np.isnan(line_MxD[:, 0]))):
            piece = piece[~np.isnan(piece[:, 0])]
            if len(piece) > 1:
                pieces.append(piece)
    return pieces
