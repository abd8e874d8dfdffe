"""`toygan draw`: a Gaussian mixture drawn by hand in a window, written as a scenario file that `toygan run` takes.

`Drawing` is the mixture being drawn (modes placed, spread, weighted, removed) and its `[mixture]` table;
`DrawWindow` is the window that edits it with the mouse and keys; `draw` checks the file, opens the
window and writes the file when the window closes."""

from __future__ import annotations

import math
import os
import sys
import textwrap
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import tomli_w

from toygan.errors import ToyganError

EXTENT = 4.0  # the plane shown is [-EXTENT, EXTENT]^2 unless the modes need more
SCALE_STEP = 1.2  # one notch of the scroll wheel multiplies a spread by this
POINTS = 600  # points sampled from the mixture drawn, to show its shape
PICK_PX = 10  # a click this close to a mode's centre selects it rather than placing a new one
HEADER = "# Drawn with `toygan draw`; train on it with `toygan run {name}`.\n"
LEGEND = (
    "click       place a mode (on one: select; drag: move)\n"
    "scroll      its spread (hold x / y: one axis)\n"
    "1-9, + / -  its weight       tab  select the next\n"
    "right click, delete  remove  h    hide this help\n"
    "q or close the window: write {name}"
)


class NotWritten(ToyganError):
    """The window closed but no file was written: no modes were placed, or the write failed."""

    exit_code = 1
    label = "nothing written"


@dataclass(frozen=True)
class Mode:
    """One Gaussian: its centre, its standard deviation along each axis, and its weight before normalising."""

    x: float
    y: float
    sx: float
    sy: float
    weight: float = 1.0


def _significant(value: float, digits: int) -> float:
    return float(f"{value:.{digits}g}")


@dataclass
class Drawing:
    """The mixture being drawn. A mode's centre is rounded to the plane's pixel precision when placed, its
    spread to 3 significant digits when changed; a loaded mode keeps its values until it is edited."""

    extent: float = EXTENT
    modes: list[Mode] = field(default_factory=list)
    selected: int | None = None  # the mode the weight keys and `delete` act on: the last placed or picked

    @property
    def default_std(self) -> float:
        return self.extent / 16

    @property
    def resolution(self) -> float:
        """A power of ten below the size of a pixel: clicked centres are rounded to it."""
        return 10.0 ** math.floor(math.log10(self.extent / 1000))

    def _rounded(self, value: float) -> float:
        step = self.resolution
        return round(round(value / step) * step, max(0, -round(math.log10(step))))

    def place(self, x: float, y: float) -> int:
        """A new mode at (x, y) with the default spread and weight 1; it becomes the selected one."""
        self.modes.append(Mode(self._rounded(x), self._rounded(y), self.default_std, self.default_std))
        self.selected = len(self.modes) - 1
        return self.selected

    def move(self, index: int, x: float, y: float) -> None:
        self.modes[index] = replace(self.modes[index], x=self._rounded(x), y=self._rounded(y))
        self.selected = index

    def scale(self, index: int, factor: float, axis: str | None = None) -> None:
        """Multiply mode `index`'s spread by `factor` along `axis` ("x" or "y"), or along both; the
        spread stays between a 400th of the plane's half-width and the half-width."""
        mode = self.modes[index]
        low, high = self.extent / 400, self.extent
        sx = _significant(min(max(mode.sx * factor, low), high), 3) if axis != "y" else mode.sx
        sy = _significant(min(max(mode.sy * factor, low), high), 3) if axis != "x" else mode.sy
        self.modes[index] = replace(mode, sx=sx, sy=sy)
        self.selected = index

    def set_weight(self, index: int, weight: float) -> None:
        """Mode `index`'s weight before normalising, at least 1 (remove a mode rather than weigh it 0)."""
        self.modes[index] = replace(self.modes[index], weight=max(1.0, float(weight)))
        self.selected = index

    def remove(self, index: int) -> None:
        del self.modes[index]
        self.selected = len(self.modes) - 1 if self.modes else None

    def select_next(self) -> None:
        if self.modes:
            self.selected = 0 if self.selected is None else (self.selected + 1) % len(self.modes)

    def pick(self, x: float, y: float, reach: float | None = None) -> int | None:
        """The mode at (x, y): among those whose 2-sd ellipse holds it, the one it is deepest in (in sds);
        else the one with the nearest centre, if within `reach` (None: any distance)."""
        depth = [math.hypot((x - m.x) / m.sx, (y - m.y) / m.sy) for m in self.modes]
        inside = [k for k in range(len(self.modes)) if depth[k] <= 2.0]
        return min(inside, key=depth.__getitem__) if inside else self.centre_at(x, y, reach)

    def centre_at(self, x: float, y: float, reach: float | None = None) -> int | None:
        """The mode whose centre is nearest (x, y), if within `reach` (None: any distance)."""
        distance = [math.hypot(x - m.x, y - m.y) for m in self.modes]
        nearest = min(range(len(self.modes)), key=distance.__getitem__, default=None)
        return nearest if nearest is not None and (reach is None or distance[nearest] <= reach) else None

    def weights(self) -> list[float]:
        """The normalised weights, 6 significant digits each, summing to 1 (the largest takes the rest)."""
        raw = np.array([m.weight for m in self.modes], dtype=np.float64)
        weights = [_significant(w, 6) for w in raw / raw.sum()]
        largest = int(np.argmax(raw))
        weights[largest] = _significant(1.0 - math.fsum(w for k, w in enumerate(weights) if k != largest), 6)
        return weights

    def table(self) -> dict:
        """The `[mixture]` table of a scenario: weights, means and diagonal variances, mode by mode."""
        return {
            "weights": self.weights(),
            "means": [[m.x, m.y] for m in self.modes],
            "variances": [[_significant(m.sx**2, 6), _significant(m.sy**2, 6)] for m in self.modes],
        }

    def to_toml(self, name: str, rest: dict | None = None) -> str:
        """A scenario file: the `[mixture]` table, one mode per line, after the top-level keys of `rest`
        and before its other tables (the settings of a file being edited; their comments are not kept)."""
        rest = rest or {}
        top = {k: v for k, v in rest.items() if not isinstance(v, dict)}
        tables = {k: v for k, v in rest.items() if isinstance(v, dict)}
        table = self.table()

        def inline(values) -> str:
            return "[" + ", ".join(repr(float(v)) for v in values) + "]"

        def rows(key: str) -> str:
            return f"{key} = [\n" + "".join(f"    {inline(row)},\n" for row in table[key]) + "]\n"

        mixture = f"[mixture]\nweights = {inline(table['weights'])}\n" + rows("means") + rows("variances")
        parts = [HEADER.format(name=name), tomli_w.dumps(top), mixture, tomli_w.dumps(tables)]
        return "\n".join(part for part in parts if part)

    @classmethod
    def from_mixture(cls, weights, means, variances, extent: float | None = None) -> Drawing:
        """A drawing of a mixture read from a file, on a plane wide enough for every mode's 3-sd ellipse
        (at least `extent`); the smallest weight becomes 1, so that the weight keys act in its units."""
        means, variances = np.asarray(means, dtype=np.float64), np.asarray(variances, dtype=np.float64)
        if means.ndim != 2 or means.shape[1] != 2:
            raise ToyganError(f"toygan draw edits 2-D mixtures, and this one's means have {means.shape[-1]} coordinates")
        stds = np.sqrt(variances)
        reach = float(np.max(np.abs(means) + 3 * stds))
        drawing = cls(extent=max(extent or EXTENT, float(math.ceil(reach))))
        smallest = min(w for w in weights if w > 0) if any(w > 0 for w in weights) else 1.0
        for w, (x, y), (sx, sy) in zip(weights, means.tolist(), stds.tolist()):
            if w > 0:  # a mode of weight 0 is not in the mixture
                drawing.modes.append(Mode(x, y, sx, sy, w / smallest))
        drawing.selected = len(drawing.modes) - 1 if drawing.modes else None
        return drawing

    def sample(self, n: int = POINTS) -> np.ndarray:
        """`n` points of the mixture (n x 2), the same for the same modes: its shape, shown behind the ellipses."""
        if not self.modes:
            return np.zeros((0, 2))
        rng = np.random.default_rng(0)
        weights = np.array([m.weight for m in self.modes], dtype=np.float64)
        which = rng.choice(len(self.modes), size=n, p=weights / weights.sum())
        centres = np.array([[m.x, m.y] for m in self.modes])[which]
        return centres + np.array([[m.sx, m.sy] for m in self.modes])[which] * rng.standard_normal((n, 2))

    def summary(self) -> str:
        """The title: each mode's number, centre, spread and normalised weight, three to a line."""
        if not self.modes:
            return "click to place a mode"
        entries = []
        for k, (m, w) in enumerate(zip(self.modes, self.weights())):
            spread = f"{m.sx:.2g}" if m.sx == m.sy else f"{m.sx:.2g}x{m.sy:.2g}"
            mark = "*" if k == self.selected else ""
            entries.append(f"{mark}{k + 1}: ({m.x:.2f}, {m.y:.2f}) sd {spread} w {w:.2f}")
        shown = entries[:12] + ([f"... {len(entries) - 12} more"] if len(entries) > 12 else [])
        return "\n".join("   ".join(shown[i : i + 3]) for i in range(0, len(shown), 3))


# Where the plane sits in the figure: fixed, so that it does not move as the title grows.
FIGSIZE = (6.4, 6.8)
AXES_RECT = (0.1, 0.05, 0.86, 0.81)


class DrawWindow:
    """The window that edits a `Drawing`: a click places a mode, the wheel spreads it, keys weigh it."""

    def __init__(self, drawing: Drawing, name: str):
        from toygan.engine.display import open_window

        self.drawing, self.name = drawing, name
        self.figure = open_window(f"toygan draw: {name}", FIGSIZE, self._on_key, toolbar=False)
        self.axes = self.figure.add_axes(AXES_RECT)
        self._dragging = False
        canvas = self.figure.canvas
        canvas.mpl_connect("button_press_event", self._on_press)
        canvas.mpl_connect("button_release_event", self._on_release)
        canvas.mpl_connect("motion_notify_event", self._on_motion)
        canvas.mpl_connect("scroll_event", self._on_scroll)
        self._legend = self.figure.text(
            0.955,
            0.06,
            LEGEND.format(name=name),
            ha="right",
            va="bottom",
            multialignment="left",
            fontsize=7,
            family="monospace",
            zorder=10,
            bbox=dict(facecolor="white", alpha=0.85, edgecolor="0.7"),
        )
        self._render()

    def show(self) -> None:
        """Hand the window to the user until it is closed."""
        import matplotlib.pyplot as plt

        plt.show(block=True)
        try:
            plt.close(self.figure)  # a window destroyed from outside leaves its figure behind, for matplotlib to close at exit
        except Exception:  # (Tk's TclError) and to fail: it is gone already
            pass

    def _pixel(self) -> float:
        """The size of a screen pixel in data units."""
        return 2 * self.drawing.extent / self.axes.bbox.width

    def _on_press(self, event) -> None:
        if event.inaxes is not self.axes or event.xdata is None:
            return
        drawing = self.drawing
        if event.button == 1:
            near = drawing.centre_at(event.xdata, event.ydata, reach=PICK_PX * self._pixel())
            if near is not None:
                drawing.selected, self._dragging = near, True
            else:
                drawing.place(event.xdata, event.ydata)
        elif event.button == 3:
            under = drawing.pick(event.xdata, event.ydata, reach=2 * PICK_PX * self._pixel())
            if under is not None:
                drawing.remove(under)
        self._render()

    def _on_release(self, event) -> None:
        self._dragging = False

    def _on_motion(self, event) -> None:
        if self._dragging and event.inaxes is self.axes and event.xdata is not None and self.drawing.selected is not None:
            self.drawing.move(self.drawing.selected, event.xdata, event.ydata)
            self._render()

    def _on_scroll(self, event) -> None:
        if event.inaxes is not self.axes or event.xdata is None:
            return
        index = self.drawing.pick(event.xdata, event.ydata)
        if index is not None:
            axis = event.key if event.key in ("x", "y") else None
            self.drawing.scale(index, SCALE_STEP**event.step, axis)
            self._render()

    def _on_key(self, event) -> bool:
        """Take the drawing's keys, and the axis-scale keys (the plane stays linear); the others keep
        matplotlib's defaults (`q`, `ctrl+w` close the window, `s` saves a picture)."""
        import matplotlib as mpl

        key, drawing = event.key, self.drawing
        index = drawing.selected
        if key == "h":
            self._legend.set_visible(not self._legend.get_visible())
        elif key == "tab":
            drawing.select_next()
        elif key in ("delete", "backspace"):
            if index is not None:
                drawing.remove(index)
        elif key in tuple("123456789"):
            if index is not None:
                drawing.set_weight(index, int(key))
        elif key in ("+", "=", "-"):
            if index is not None:
                drawing.set_weight(index, drawing.modes[index].weight + (-1 if key == "-" else 1))
        else:  # x and y are held with the wheel; the plane stays linear
            return key in ("x", "y") or key in mpl.rcParams["keymap.xscale"] + mpl.rcParams["keymap.yscale"]
        self._render()
        return True

    def _render(self) -> None:
        from matplotlib.patches import Ellipse

        axes, drawing = self.axes, self.drawing
        axes.clear()
        axes.set_xlim(-drawing.extent, drawing.extent)
        axes.set_ylim(-drawing.extent, drawing.extent)
        axes.set_aspect("equal", adjustable="box")
        axes.grid(True, color="0.9", linewidth=0.6)
        axes.set_axisbelow(True)
        points = drawing.sample()
        axes.scatter(points[:, 0], points[:, 1], s=3, color="tab:red", alpha=0.35, linewidths=0)
        for k, mode in enumerate(drawing.modes):
            colour = "tab:blue" if k == drawing.selected else "0.3"
            for sds, style in ((1, "-"), (2, "--")):
                ellipse = Ellipse((mode.x, mode.y), 2 * sds * mode.sx, 2 * sds * mode.sy, fill=False, edgecolor=colour, linestyle=style)
                axes.add_patch(ellipse)
            axes.plot([mode.x], [mode.y], "+", color=colour, markersize=8)
            axes.annotate(str(k + 1), (mode.x, mode.y), xytext=(4, 4), textcoords="offset points", color=colour, fontsize=8)
        self.figure.suptitle(drawing.summary(), fontsize=8, y=0.985, va="top")
        self.figure.canvas.draw_idle()


def _no_window_reason(path: Path) -> str:
    """Why no window can be opened here, and what to do, for the error that says so."""
    backend = os.environ.get("MPLBACKEND")
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return f"there is no display here (DISPLAY is not set): run it on a desktop, or under a virtual one: xvfb-run toygan draw {path}"
    if backend:
        return f"MPLBACKEND={backend} has no windows: unset MPLBACKEND, or set an interactive backend such as TkAgg"
    return f"matplotlib cannot open one on display {os.environ.get('DISPLAY', '')!r}: run it on a desktop, or under xvfb-run"


def start(path: Path, force: bool, extent: float | None) -> tuple[Drawing, dict]:
    """The drawing to edit, and the rest of the file it came from: a new drawing, or with `force` the
    mixture of an existing scenario file. Every problem with `path` is found here, before the window opens."""
    if path.suffix != ".toml":
        raise ToyganError(f"{path}: a scenario file's name ends in .toml, as toygan run expects: e.g. {path.with_suffix('.toml').name}")
    if extent is not None and not (extent > 0 and math.isfinite(extent)):
        raise ToyganError(f"--extent must be a positive number, got {extent}")
    if not path.parent.is_dir():
        raise ToyganError(f"{path}: its folder {path.parent} does not exist: create it first, or choose another path")
    if not os.access(path.parent, os.W_OK):
        raise ToyganError(f"{path}: its folder {path.parent} is not writable: choose another path")
    if not path.exists():
        return Drawing(extent=extent or EXTENT), {}
    if not force:
        raise ToyganError(f"{path} already exists: pass --force to edit it (written back when the window closes), or choose a new name")
    if not path.is_file():
        raise ToyganError(f"{path} is not a file: choose a file name ending in .toml")
    from toygan.config import load_scenario

    try:
        rest = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        rest = {"mixture": None}  # load_scenario says what is wrong with the file
    if "mixture" not in rest:
        raise ToyganError(f"{path} has no [mixture] table: toygan draw edits mixtures only; choose a new name to draw one")
    mixture = load_scenario(path).data  # every problem of the file, as `toygan run` reports it
    rest.pop("mixture")
    drawing = Drawing.from_mixture(mixture.weights, mixture.means, mixture.variances, extent)
    return drawing, rest


def draw(path: Path, force: bool = False, extent: float | None = None) -> int:
    """Open the drawing window on `path` (a new file, or with `force` an existing one to edit) and, when
    it closes, write the mixture drawn there atomically; returns the number of modes written."""
    from toygan.engine.display import window_backend
    from toygan.engine.rundir import write_atomic

    path = Path(path).expanduser()
    drawing, rest = start(path, force, extent)
    if window_backend() is None:
        raise ToyganError(f"toygan draw needs a window: {_no_window_reason(path)}")
    try:
        window = DrawWindow(drawing, path.name)
    except Exception as error:  # no window after all: Tk cannot reach the display, say
        why = textwrap.shorten(str(error), 120)
        raise ToyganError(f"toygan draw needs a window, and none opened ({why}): {_no_window_reason(path)}") from None
    window.show()
    if not drawing.modes:
        raise NotWritten(f"no modes were placed; {path} {'is left as it was' if path.exists() else 'was not created'}")
    text = drawing.to_toml(path.name, rest)
    try:
        write_atomic(path, text.encode())
    except OSError as error:
        sys.stdout.write(text)
        raise NotWritten(f"cannot write {path} ({error.strerror}): the mixture is printed above: save it by hand") from None
    return len(drawing.modes)
