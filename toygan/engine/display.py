"""Where a run's figure is shown: a window, a Jupyter output cell, or nowhere (headless, files only)."""

from __future__ import annotations

import io
import os
import sys
import time
from collections.abc import Callable

import numpy as np
from matplotlib.backend_bases import KeyEvent
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

FIGSIZE = (6.0, 6.0)
DPI = 100


# The live window's keys and what they ask the run for; `h` (the legend) is the window's own business.
KEYS = {
    " ": "pause",
    "n": "step",
    "right": "step",
    "d": "d_update",
    "g": "g_update",
    "[": "lr_halve",
    "]": "lr_double",
    "v": "panels",
    "s": "save",
    "q": "stop",
}
LEGEND = (
    "space  pause / resume\n"
    "n, →  one frame (paused)\n"
    "d / g  one D / G update\n"
    "[ / ]  halve / double rates\n"
    "v  panels    s  save PNG\n"
    "q  stop (resumable)    h  hide"
)


def drawing_canvas(figure: Figure):
    """The figure's canvas if it can draw pixels; else (its window was closed, leaving matplotlib's base
    canvas) a new Agg canvas, so that frames go on being drawn headless."""
    canvas = figure.canvas
    return canvas if hasattr(canvas, "buffer_rgba") else FigureCanvasAgg(figure)


def in_notebook() -> bool:
    """Whether this runs in a Jupyter (IPython) kernel."""
    shell = sys.modules.get("IPython")
    ip = shell.get_ipython() if shell else None
    return ip is not None and "IPKernelApp" in getattr(ip, "config", {})


def window_backend() -> str | None:
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
    stop_control = "q in the window"  # what asked for a stop through `take_actions`, as its message names it
    progress_bar = True  # the console's progress bar goes with it

    def __init__(self):
        self.figure = Figure(figsize=FIGSIZE, dpi=DPI)
        FigureCanvasAgg(self.figure)

    def refresh(self, frame_HxWx3: np.ndarray) -> None:
        """Nothing to show headless: frames go to files only."""

    def take_actions(self) -> list[str]:
        """What the keys pressed since the last call ask for (`KEYS`' values, and "closed" once when the
        window was closed); none without a window."""
        return []

    def wait(self, seconds: float) -> None:
        """Let `seconds` pass, keeping a window responsive."""
        time.sleep(seconds)

    def show_state(self, step: int, paused: bool, rates: tuple[float, float]) -> None:
        """Whether the run is paused at `step`, and its learning rates (G's, D's); nothing to show headless."""

    def close(self) -> None:
        """Nothing to release."""


class WindowDisplay(Display):
    """A live window through pyplot's interactive backend, steered by the keys of `KEYS`. Closing it
    (its close button, the window manager, `ctrl+w`) lets training go on headless."""

    kind = "window"

    def __init__(self, legend: str = LEGEND):
        import matplotlib.pyplot as plt

        self._plt = plt
        self._legend_text = legend  # the keys that this kind of run acts on
        self.figure = open_window("toygan", FIGSIZE, self._on_key)
        self._canvas = self.figure.canvas  # the window's; matplotlib swaps in its base canvas when the window closes
        self._actions: list[str] = []
        self._status = ""
        self.closed = self._gone = False
        self._legend = self.figure.text(
            0.995,
            0.005,
            legend,
            ha="right",
            va="bottom",
            multialignment="left",
            fontsize=7,
            family="monospace",
            zorder=10,
            bbox=dict(facecolor="white", alpha=0.85, edgecolor="0.7"),
            animated=True,  # drawn over each frame in the window only: never in the GIF
        )
        plt.show(block=False)

    def _on_key(self, event) -> bool:
        """Take toygan's keys; the others keep matplotlib's defaults (ctrl+w closes the window: training goes on headless)."""
        if event.key == "h":
            self._legend.set_visible(not self._legend.get_visible())
            self._redraw()
        elif event.key in KEYS:
            self._actions.append(KEYS[event.key])
        return event.key == "h" or event.key in KEYS

    def _flush(self) -> None:
        """Let the window handle its events; a window destroyed from outside (not through the window
        manager: `xdotool windowclose`, a crashed X client) counts as closed."""
        try:
            self.figure.canvas.flush_events()
        except Exception:  # (Tk's TclError: its widgets are gone)
            self._gone = True

    def _is_open(self) -> bool:
        if not self.closed and (self._gone or not (self._plt.fignum_exists(self.figure.number) and self.figure.canvas is self._canvas)):
            if self._gone:
                try:
                    self._plt.close(self.figure)
                except Exception:
                    pass
            self.closed = True
            self._actions.append("closed")
            drawing_canvas(self.figure)  # headless from here on
        return not self.closed

    def _overlay(self) -> None:
        """The legend over the frame in the window (after the frame was copied for the files)."""
        canvas = self.figure.canvas
        if self._legend.get_visible():
            self._legend.set_text(self._legend_text + (f"\n{self._status}" if self._status else ""))
            self.figure.draw_artist(self._legend)
        canvas.blit(self.figure.bbox)

    def _redraw(self) -> None:
        if self._is_open():
            self.figure.canvas.draw()
            self._overlay()

    def refresh(self, frame_HxWx3: np.ndarray) -> None:
        if self._is_open():
            self._overlay()
            self._flush()
            self._is_open()

    def take_actions(self) -> list[str]:
        if self._is_open():
            self._flush()
            self._is_open()
        actions, self._actions = self._actions, []
        return actions

    def wait(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while self._is_open() and time.monotonic() < end:
            self._flush()
            time.sleep(0.01)
        if self.closed:
            time.sleep(max(0.0, end - time.monotonic()))

    def show_state(self, step: int, paused: bool, rates: tuple[float, float]) -> None:
        text = f"paused at step {step}: space resumes" if paused else ""  # a line of the legend
        if text != self._status:
            self._status = text
            self._redraw()

    def close(self) -> None:
        if self._is_open():
            self._flush()  # a close already asked for (window manager, ctrl+w) goes first
        if self._is_open():
            try:
                self._plt.close(self.figure)
            except Exception:  # (Tk's TclError) the window went away meanwhile: nothing left to close
                pass


def open_window(title: str, figsize: tuple[float, float], on_key: Callable[[KeyEvent], bool], toolbar: bool = True) -> Figure:
    """A pyplot figure in a window of its own, titled `title`, shown at the next `plt.show`. Its key presses
    go to `on_key` first: the keys it takes (returns True for) replace matplotlib's defaults in this window
    only, and the others keep them (`q` and `ctrl+w` close it). A window destroyed from outside does not
    end the process (`survive_destroyed_windows`)."""
    import matplotlib.pyplot as plt
    from matplotlib.backend_bases import key_press_handler

    with plt.rc_context({} if toolbar else {"toolbar": "None"}):
        figure = plt.figure(figsize=figsize, dpi=DPI)
    manager = figure.canvas.manager
    manager.set_window_title(title)
    if getattr(manager, "key_press_handler_id", None) is not None:
        figure.canvas.mpl_disconnect(manager.key_press_handler_id)

    def on_key_press(event: KeyEvent) -> None:
        if not on_key(event):
            key_press_handler(event, event.canvas, getattr(event.canvas.manager, "toolbar", None))

    figure.canvas.mpl_connect("key_press_event", on_key_press)
    survive_destroyed_windows()
    return figure


_X_ERROR_HANDLER = []  # the installed handler, kept alive


def survive_destroyed_windows() -> None:
    """Ignore X's BadWindow and BadDrawable errors, which Xlib's default handler answers by ending the
    process: they come when a window is destroyed from outside while Tk still acts on it or draws into it.
    Other errors go to the handler that was installed before (Tk's). Only on X11 with libX11 found;
    elsewhere nothing changes."""
    if _X_ERROR_HANDLER or not sys.platform.startswith("linux"):
        return
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("X11")
    if name is None:
        return
    try:
        xlib = ctypes.CDLL(name)
    except OSError:
        return

    class XErrorEvent(ctypes.Structure):
        _fields_ = [
            ("type", ctypes.c_int),
            ("display", ctypes.c_void_p),
            ("resourceid", ctypes.c_ulong),
            ("serial", ctypes.c_ulong),
            ("error_code", ctypes.c_ubyte),
            ("request_code", ctypes.c_ubyte),
            ("minor_code", ctypes.c_ubyte),
        ]

    handler_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(XErrorEvent))
    xlib.XSetErrorHandler.restype = ctypes.c_void_p
    xlib.XSetErrorHandler.argtypes = [handler_type]
    gone = (3, 9)  # BadWindow, BadDrawable

    def handler(display, event):
        if event.contents.error_code in gone:
            return 0
        return handler_type(previous)(display, event) if previous else 0

    callback = handler_type(handler)
    previous = xlib.XSetErrorHandler(callback)
    _X_ERROR_HANDLER.append(callback)


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


def open_display(live: bool | None, legend: str = LEGEND) -> Display:
    """`live=None` picks a notebook cell or a window when one can be shown; `False` is always headless. A
    window shows `legend`: the keys the run acts on."""
    if live is False:
        return Display()
    if in_notebook():
        return NotebookDisplay()
    if window_backend() is not None:
        return WindowDisplay(legend)
    return Display()
