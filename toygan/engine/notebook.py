"""In Jupyter with ipywidgets: the frame beside buttons that ask for what the live window's keys ask for.

Training runs in a background thread of the kernel, and the cell returns at once: a widget's callback
runs only when the kernel's own thread is free to handle the frontend's message, which a cell training
in that thread never is. The callbacks put their actions on a queue that the training loop takes at each
frame boundary, through the same `take_actions` as the window's keys, so a click is steered, recorded
and checkpointed exactly as a key press is. Interrupting the kernel does not reach the thread: the stop
button stops the run as Ctrl-C does.
"""

from __future__ import annotations

import atexit
import contextvars
import html
import io
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from toygan.engine.display import DPI, FIGSIZE, Display, in_notebook

if TYPE_CHECKING:
    from toygan.engine.runner import Run

# The buttons beside the frame (a slider for each learning rate goes below it): action (as in
# `display.KEYS`), label, and the key that does the same in the window.
BUTTONS = [
    ("step", "step", "n: one frame's worth of steps while paused"),
    ("d_update", "D step", "d: one discriminator update alone"),
    ("g_update", "G step", "g: one generator update alone"),
    ("lr_halve", "lr ÷ 2", "[: halve both learning rates"),
    ("lr_double", "lr × 2", "]: double both learning rates"),
    ("panels", "panels", "v: cycle the panels"),
    ("save", "save PNG", "s: save the frame as a PNG in the run folder"),
    ("stop", "stop", "q: stop as Ctrl-C does; toygan.resume(run_dir) continues"),
]


def widgets_here(live: bool | None) -> bool:
    """Whether a run shows its controls as widgets: asked to be live (or not asked), in a Jupyter kernel,
    with ipywidgets installed (the `notebook` extra)."""
    if live is False or not in_notebook():
        return False
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


class WidgetDisplay(Display):
    """The frame as an ipywidgets Image beside the buttons of `BUTTONS`, a pause toggle and a status line.

    The widgets' callbacks (in the kernel's thread) only queue actions; the training thread takes them, and
    waits on the queue while paused, waking at the next click instead of polling."""

    kind = "widgets"
    stop_control = "the stop button"
    # Its status line stands for the bar: rich's live bar in Jupyter takes over the process's stdout, which
    # would swallow what other cells print while the run trains in the background.
    progress_bar = False

    def __init__(self):
        super().__init__()
        import ipywidgets as widgets

        self._queue: queue.SimpleQueue[str | tuple[str, float]] = queue.SimpleQueue()
        self._held: list[str | tuple[str, float]] = []  # what `wait` took off the queue, for the next `take_actions`
        width, height = (int(side * DPI) for side in FIGSIZE)
        self.image = widgets.Image(format="png", width=width, height=height)
        self.pause = widgets.ToggleButton(description="pause", tooltip="space: pause and resume")
        self.pause.observe(lambda _change: self.ask("pause"), names="value")
        self.buttons = {}
        for action, label, tooltip in BUTTONS:
            button = widgets.Button(description=label, tooltip=tooltip)
            button.on_click(lambda _button, action=action: self.ask(action))
            self.buttons[action] = button
        self.buttons["step"].disabled = True  # only while paused: running, the next frame comes anyway
        # Each network's learning rate on a log scale, as GAN Lab's; set to the run's rates at its first frame.
        self.rates = {}
        for name, label in (("lr_generator", "G lr"), ("lr_discriminator", "D lr")):
            slider = widgets.FloatLogSlider(
                base=10, min=-6, max=-0.5, step=0.05, description=label, readout_format=".2g", continuous_update=False, disabled=True
            )
            slider.observe(lambda change, name=name: self._slid(name, change["new"]), names="value")
            self.rates[name] = slider
        self._syncing = False  # True while `show_state` moves the sliders to the run's rates: not a user's change
        self.status = widgets.HTML("starting")
        buttons = widgets.VBox([self.pause, *self.buttons.values()], layout=widgets.Layout(width="9em"))
        self.panel = widgets.VBox([widgets.HBox([self.image, buttons]), widgets.HBox(list(self.rates.values())), self.status])
        self._state = None
        self.started = threading.Event()  # the training loop took over (past its checks): set by `show_state`

    def ask(self, action: str | tuple[str, float]) -> None:
        """Queue `action` (a value of `display.KEYS`, or a rate's name and its new value) for the training
        loop's next frame boundary."""
        self._queue.put(action)

    def _slid(self, name: str, value: float) -> None:
        if not self._syncing:
            self.ask((name, float(value)))

    def refresh(self, frame_HxWx3: np.ndarray) -> None:
        buffer = io.BytesIO()
        Image.fromarray(frame_HxWx3).save(buffer, format="PNG")
        self.image.value = buffer.getvalue()

    def take_actions(self) -> list[str | tuple[str, float]]:
        actions, self._held = self._held, []
        while True:
            try:
                actions.append(self._queue.get_nowait())
            except queue.Empty:
                return actions

    def wait(self, seconds: float) -> None:
        try:
            self._held.append(self._queue.get(timeout=seconds))
        except queue.Empty:
            pass

    def show_state(self, step: int, paused: bool, rates: tuple[float, float]) -> None:
        self.started.set()
        if (step, paused, rates) == self._state:
            return
        self._state = step, paused, rates
        where = f"paused at step {step}" if paused else "training"
        self.status.value = f"{where} · learning rates: G {rates[0]:.3g}, D {rates[1]:.3g}"
        self.pause.description = "resume" if paused else "pause"
        self.buttons["step"].disabled = not paused
        self._syncing = True
        try:
            for slider, rate in zip(self.rates.values(), rates, strict=True):
                slider.value, slider.disabled = rate, False
        finally:
            self._syncing = False

    def finish(self, text: str) -> None:
        """The run ended (`text` says how): no control asks for anything any more."""
        for control in (self.pause, *self.buttons.values(), *self.rates.values()):
            control.disabled = True
        self.status.value = html.escape(text)


class LiveRun:
    """A run training in the background of a Jupyter kernel, shown and steered by its widgets.

    It is made once the run is past its checks: a mistake (a locked folder, a resume with too few steps)
    raises in the cell as it would in a script. `wait()` blocks until the run ends and returns its `Run`, or
    raises what ended it (`RunInterrupted` after the stop button: `toygan.resume(run_dir)` continues it).
    A `Run`'s other attributes (`sample`, `evaluate`, `state`, ...) wait the same way, so that code written
    for a script works unchanged."""

    def __init__(self, run_dir: Path, train: Callable[[Display], Run]):
        from IPython.display import display

        self.run_dir = run_dir
        self.display = WidgetDisplay()
        self._result: Run | None = None
        self._error: BaseException | None = None
        display(self.display.panel)
        # In a copy of the cell's context, so that what the thread prints lands in this cell's output.
        context = contextvars.copy_context()
        self._thread = threading.Thread(target=context.run, args=(self._train, train), name=f"toygan {run_dir.name}", daemon=True)
        self._thread.start()
        atexit.register(self.stop)  # a kernel that shuts down leaves a complete, resumable run folder
        try:
            while not (self.display.started.wait(0.1) or self.done):
                pass
        except KeyboardInterrupt:  # the kernel interrupted while the run starts: a stop as Ctrl-C's
            self.stop()
            raise
        if not self.display.started.is_set():
            self.wait()  # raises what stopped the run before it began

    def _train(self, train: Callable[[Display], Run]) -> None:
        try:
            self._result = train(self.display)
            self.display.finish(f"done: {self._result.run_dir}")
        except BaseException as error:
            self._error = error
            self.display.finish(str(error) or type(error).__name__)
        finally:
            atexit.unregister(self.stop)

    def stop(self, timeout: float | None = 60) -> None:
        """Stop as the stop button does, and wait up to `timeout` s for the run folder to be complete."""
        if not self.done:
            self.display.ask("stop")
            self._thread.join(timeout)

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> Run:
        """The finished run; raises what ended the run, or TimeoutError if it is still training after `timeout` s."""
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"{self.run_dir} is still training")
        if self._error is not None:
            raise self._error
        return self._result

    def __getattr__(self, name: str):
        if name.startswith("_"):  # (IPython's display probes, copy, pickle): never wait for those
            raise AttributeError(name)
        return getattr(self.wait(), name)

    def __repr__(self) -> str:
        return f"<toygan run {self.run_dir}: {'finished' if self.done else 'training'}>"
