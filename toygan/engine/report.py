"""`report.png`: loss curves, metric curves and the final frame of a run, on one page."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def write_report(path: Path, history: dict[str, list], curves, final_frame_HxWx3: np.ndarray, title: str) -> None:
    """Draw the report with the Agg backend (never a window) and save it as PNG; `curves` lists the
    metric curves as (history key, label, colour, on the right-hand axis)."""
    height, width = final_frame_HxWx3.shape[:2]
    figure = Figure(figsize=(5 + 6 * width / height, 6), dpi=100)
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(2, 2, width_ratios=[5, 6 * width / height])
    loss_ax, metric_ax = figure.add_subplot(grid[0, 0]), figure.add_subplot(grid[1, 0])
    steps = history["step"]
    loss_steps = steps[-len(history["d_loss"]) :] if history["d_loss"] else []
    loss_ax.plot(loss_steps, history["d_loss"], c="tab:red", lw=1, label="D loss")
    loss_ax.plot(loss_steps, history["g_loss"], c="tab:blue", lw=1, label="G loss")
    loss_ax.set_title("losses (mean per frame)", fontsize=10)
    right_ax = metric_ax.twinx()
    for name, label, color, right in curves:
        (right_ax if right else metric_ax).plot(steps, history[name], c=color, lw=1, label=label)
    if any(right and name == "sw_ratio" for name, *_, right in curves):
        right_ax.set_yscale("log")  # the distance ratio spans decades
    metric_ax.set_ylim(0, 1.05)
    metric_ax.set_title("metrics", fontsize=10)
    metric_ax.set_xlabel("step")
    for ax in (loss_ax, metric_ax):
        ax.grid(alpha=0.3)
    loss_ax.legend(fontsize=8)
    metric_ax.legend(handles=metric_ax.lines + right_ax.lines, fontsize=8, loc="center right")
    image_ax = figure.add_subplot(grid[:, 1])
    image_ax.imshow(final_frame_HxWx3)
    image_ax.set_axis_off()
    figure.suptitle(f"{title}: report", fontsize=12)
    figure.tight_layout()
    figure.savefig(path.with_name(f".{path.name}.tmp"), format="png")
    path.with_name(f".{path.name}.tmp").replace(path)
