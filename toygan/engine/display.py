"""Where a run's figure is shown: a window, a Jupyter output cell, or nowhere (headless, files only)."""

from __future__ import annotations

import io
import os
import sys

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

FIGSIZE = (6.0, 6.0)
DPI = 100


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    ip = shell.get_ipython() if shell else None
    return ip is not None and "IPKernelApp" in getattr(ip, "config", {})


def _window_backend() -> str | None:
    """The interactive matplotlib backend a window would use here, or None when there is no screen."""
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return None
    import matplotlib
    from matplotlib.backends import BackendFilter, backend_registry

    backend = matplotlib.get_backend().lower()
    return backend if backend in backend_registry.list_builtin(BackendFilter.INTERACTIVE) else None


class Display:
    """Owns the figure; `refresh` shows the latest drawn frame without blocking training."""

    kind = "headless"

    def __init__(self):
        self.figure = Figure(figsize=FIGSIZE, dpi=DPI)
        FigureCanvasAgg(self.figure)

    def refresh(self, frame_HxWx3: np.ndarray) -> None:
        """Nothing to show headless: frames go to files only."""

    def close(self) -> None:
        """Nothing to release."""


class WindowDisplay(Display):
    """A live window through pyplot's interactive backend; closing it lets training go on headless."""

    kind = "window"

    def __init__(self):
        import matplotlib.pyplot as plt

        self._plt = plt
        self.figure = plt.figure(figsize=FIGSIZE, dpi=DPI)
        self.figure.canvas.manager.set_window_title("toygan")
        plt.show(block=False)

    def refresh(self, frame_HxWx3: np.ndarray) -> None:
        if self._plt.fignum_exists(self.figure.number):
            self.figure.canvas.flush_events()

    def close(self) -> None:
        self._plt.close(self.figure)


class NotebookDisplay(Display):
    """An output cell updated in place with each frame."""

    kind = "notebook"

    def __init__(self):
        super().__init__()
        self._handle = None

    def refresh(self, frame_HxWx3: np.ndarray) -> None:
        from IPython.display import Image, display
        from PIL import Image as PILImage

        buffer = io.BytesIO()
        PILImage.fromarray(frame_HxWx3).save(buffer, format="PNG")
        image = Image(data=buffer.getvalue(), format="png")
        if self._handle is None:
            self._handle = display(image, display_id=True)
        else:
            self._handle.update(image)


def open_display(live: bool | None) -> Display:
    """`live=None` picks a notebook cell or a window when one can be shown; `False` is always headless."""
    if live is False:
        return Display()
    if _in_notebook():
        return NotebookDisplay()
    if _window_backend() is not None:
        return WindowDisplay()
    return Display()
