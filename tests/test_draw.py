"""`toygan draw`: a mixture drawn by hand is written as a scenario file that `toygan run` trains on.

The window tests click, scroll and type into a real window under Xvfb with xdotool, as a user's mouse
and keyboard would, and skip without them (fail with TOYGAN_REQUIRE_WINDOW=1, as in CI)."""

import os
import subprocess
import time
import tomllib

import numpy as np
import pytest
from conftest import SMALL_CLI, TOYGAN, focus_window, wait_for, xdotool

from toygan.config import load_scenario
from toygan.errors import ToyganError
from toygan.twod.draw import Drawing, start

EDITED = """\
description = "two modes to edit"  # a comment

[mixture]
weights = [0.75, 0.25]
means = [[-1.0, 0.5], [2.0, -1.5]]
variances = [[0.04, 0.09], [0.25, 0.25]]

[train]
steps = 321
"""


def test_a_drawing_round_trips_through_the_file_toygan_run_reads(tmp_path):
    drawing = Drawing()
    drawing.place(-2.00049, 1.23456)  # to the plane's pixel precision: 3 decimals on [-4, 4]
    drawing.place(1.5, -1.0)
    drawing.place(2.0, 2.5)
    drawing.scale(1, 1.2**3)
    drawing.scale(2, 1 / 1.2, "y")
    drawing.set_weight(0, 3)
    drawing.set_weight(2, 4)
    path = tmp_path / "drawn.toml"
    path.write_text(drawing.to_toml(path.name))
    mixture = load_scenario(path).data
    assert mixture.means == ((-2.0, 1.235), (1.5, -1.0), (2.0, 2.5))
    assert mixture.weights == (0.375, 0.125, 0.5)
    assert np.allclose(np.sqrt(mixture.variances), [[0.25, 0.25], [0.432, 0.432], [0.25, 0.208]])
    again = Drawing.from_mixture(mixture.weights, mixture.means, mixture.variances)
    assert again.table() == drawing.table()


def test_any_weights_drawn_sum_to_one_as_the_mixture_requires(tmp_path):
    drawing = Drawing()
    for k in range(9):
        drawing.place(k - 4, 0)
        drawing.set_weight(k, 1 + k % 7)
    drawing.set_weight(3, drawing.modes[3].weight - 1)
    drawing.set_weight(7, drawing.modes[7].weight - 1)  # never below 1: a mode is removed, not weighed 0
    assert [m.weight for m in drawing.modes] == [1, 2, 3, 3, 5, 6, 7, 1, 2]
    path = tmp_path / "nine.toml"
    path.write_text(drawing.to_toml(path.name))
    weights = load_scenario(path).data.build().weights_K
    assert len(weights) == 9 and np.allclose(weights, np.array([1, 2, 3, 3, 5, 6, 7, 1, 2]) / 30, atol=1e-6)


def test_the_wheel_acts_on_the_mode_under_the_pointer_else_the_nearest():
    drawing = Drawing()
    drawing.place(0, 0)
    drawing.place(1, 0)
    drawing.scale(0, 4)  # sd 1: its 2-sd ellipse covers the second mode's centre too
    assert drawing.pick(0.95, 0.0) == 1  # deeper in the small mode than in the big one
    assert drawing.pick(-1.5, 0.0) == 0
    assert drawing.pick(3.5, 3.5) == 1  # outside every ellipse: the nearest centre
    assert drawing.pick(3.5, 3.5, reach=0.5) is None  # a right click there removes nothing
    drawing.remove(0)
    assert [(m.x, m.y) for m in drawing.modes] == [(1, 0)] and drawing.selected == 0


def test_editing_a_file_starts_from_its_mixture_on_a_plane_that_holds_it(tmp_path):
    path = tmp_path / "wide.toml"
    path.write_text(EDITED.replace("[2.0, -1.5]", "[9.0, -1.5]"))
    drawing, rest = start(path, force=True, extent=None)
    assert drawing.extent == 11  # |9| + 3 sd of 0.5, rounded up
    assert [(m.x, m.y, m.weight) for m in drawing.modes] == [(-1.0, 0.5, 3.0), (9.0, -1.5, 1.0)]
    assert rest == {"description": "two modes to edit", "train": {"steps": 321}}
    points = tmp_path / "points.toml"
    points.write_text('[points]\ntoy = "moons"\n')
    for bad, message in [
        (tmp_path / "drawn.txt", "ends in .toml"),
        (tmp_path / "missing" / "drawn.toml", "does not exist"),
        (points, r"has no \[mixture\] table: toygan draw edits mixtures only"),
    ]:
        with pytest.raises(ToyganError, match=message):
            start(bad, force=True, extent=None)


def draw_command(path, env, *options):
    return subprocess.run([TOYGAN, "draw", str(path), *options], env=env, capture_output=True, text=True, timeout=120)


def test_draw_refuses_what_it_cannot_do_in_one_line(tmp_path):
    existing = tmp_path / "mine.toml"
    existing.write_text(EDITED)
    headless = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    cases = [
        (existing, [], f"error: {existing} already exists: pass --force to edit it"),
        (
            tmp_path / "new.toml",
            [],
            "error: toygan draw needs a window: there is no display here (DISPLAY is not set): "
            "run it on a desktop, or under a virtual one: xvfb-run toygan draw",
        ),
    ]
    for path, options, message in cases:
        done = draw_command(path, headless, *options)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith(message) and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert existing.read_text() == EDITED and not (tmp_path / "new.toml").exists()


class DrawWindow:
    """A `toygan draw` in a real window, and a mouse and keyboard for it: `at(x, y)` is the screen pixel
    of the plane's point (x, y), read from a screenshot of the plane's frame."""

    def __init__(self, env: dict, path, *options: str, extent: float = 4.0):
        self.env, self.extent = env, extent
        self.process = subprocess.Popen(
            [TOYGAN, "draw", str(path), *options], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.id = focus_window(env, f"^toygan draw: {path.name}$")
        self.frame = wait_for(self._settled_frame, process=self.process)

    def _settled_frame(self):
        """The plane's frame once it has stayed put for a moment (the window manager may move a new window)."""
        first = self._plane_frame()
        time.sleep(0.3)
        return first if first is not None and first == self._plane_frame() else None

    def _plane_frame(self):
        """(left, right, top, bottom): the screen columns and rows of the plane's frame: the long dark lines
        in the figure (the white part of the screen) that make a square, as the plane is."""
        from PIL import ImageGrab

        grey = np.asarray(ImageGrab.grab(xdisplay=self.env["DISPLAY"]).convert("L")).astype(int)
        white_columns, white_rows = np.flatnonzero((grey > 245).sum(axis=0) > 300), np.flatnonzero((grey > 245).sum(axis=1) > 300)
        if len(white_columns) < 2 or len(white_rows) < 2:
            return None
        x0, y0 = white_columns[0], white_rows[0]
        figure = grey[y0 : white_rows[-1] + 1, x0 : white_columns[-1] + 1] < 100
        columns = np.flatnonzero(figure.sum(axis=0) > 0.6 * figure.shape[0])
        rows = np.flatnonzero(figure.sum(axis=1) > 0.6 * figure.shape[1])
        if len(columns) < 2 or len(rows) < 2:
            return None
        left, right, top = x0 + columns[0], x0 + columns[-1], y0 + rows[0]
        bottom = y0 + rows[np.argmin(np.abs(rows - rows[0] - (right - left)))]
        return (left, right, top, bottom) if abs(bottom - top - (right - left)) <= 2 else None

    def at(self, x: float, y: float) -> list[str]:
        left, right, top, bottom = self.frame
        e = self.extent
        return [str(round(left + (x + e) / (2 * e) * (right - left))), str(round(bottom - (y + e) / (2 * e) * (bottom - top)))]

    def xdotool(self, *args: str) -> None:
        xdotool(self.env, *args)

    def click(self, x: float, y: float, button: int = 1) -> None:
        self.xdotool("mousemove", "--sync", *self.at(x, y), "click", str(button))

    def finish(self) -> tuple[int, str, str]:
        try:
            stdout, stderr = self.process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            stdout, stderr = self.process.communicate()
            raise AssertionError(f"the window did not close: {stderr[-3000:]}") from None
        return self.process.returncode, stdout, stderr


def test_a_mixture_drawn_with_mouse_and_keys_is_written_and_trains(desktop, tmp_path):
    path = tmp_path / "drawn.toml"
    window = DrawWindow(desktop, path)
    window.click(-2.0, 1.0)  # A
    window.click(1.5, -1.0)  # B
    window.click(2.0, 2.5)  # C
    window.click(-1.0, -2.5)  # D, removed by a right click
    window.click(-1.0, -2.5, button=3)
    window.click(0.0, 3.0)  # E, removed by the delete key
    window.xdotool("key", "Delete")
    # B: three notches up, each spread x 1.2; C: one down with y held, its y spread / 1.2; the weights: C 5 - 1.
    window.xdotool("mousemove", "--sync", *window.at(1.6, -1.1), "click", "4", "click", "4", "click", "4")
    window.xdotool("mousemove", "--sync", *window.at(2.0, 2.5), "keydown", "y", "click", "5", "keyup", "y", "key", "5", "minus")
    # A dragged from its centre to (-2.5, 0.5), then weighed 3.
    window.xdotool("mousemove", "--sync", *window.at(-2.0, 1.0), "mousedown", "1")
    window.xdotool("mousemove", "--sync", *window.at(-2.25, 0.75), "mousemove", "--sync", *window.at(-2.5, 0.5), "mouseup", "1", "key", "3")
    window.xdotool("key", "alt+F4")  # closed through the window manager
    code, stdout, stderr = window.finish()
    assert code == 0, stderr
    assert stdout.strip() == f"wrote {path}: 3 modes; train on it with: toygan run {path}"
    mixture = tomllib.loads(path.read_text())["mixture"]
    assert set(mixture) == {"weights", "means", "variances"}
    assert np.allclose(mixture["means"], [[-2.5, 0.5], [1.5, -1.0], [2.0, 2.5]], atol=0.05)  # a pixel is 0.015
    assert mixture["weights"] == [0.375, 0.125, 0.5]
    assert np.allclose(np.sqrt(mixture["variances"]), [[0.25, 0.25], [0.432, 0.432], [0.25, 0.208]])

    out = tmp_path / "run"
    env = {**desktop, "MPLBACKEND": "Agg"}
    done = subprocess.run(
        [TOYGAN, "run", str(path), "--steps", "50", "--no-live", "--out", str(out), *SMALL_CLI],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert len((out / "metrics.csv").read_text().splitlines()) == 3  # the header, steps 0 and 50
    assert "mass_2" in (out / "metrics.csv").read_text().splitlines()[0]  # scored against the three modes drawn


def test_editing_a_file_with_force_keeps_its_settings(desktop, tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(EDITED)
    window = DrawWindow(desktop, path, "--force")
    window.xdotool("key", "Delete")  # the last mode loaded is the one selected
    window.click(0.0, -3.0)
    window.xdotool("windowclose", window.id)  # destroyed by another X client, not through the window manager
    code, stdout, stderr = window.finish()
    assert code == 0 and stderr == "", stderr
    scenario = tomllib.loads(path.read_text())
    assert scenario["description"] == "two modes to edit" and scenario["train"] == {"steps": 321}
    assert scenario["mixture"]["means"][0] == [-1.0, 0.5] and scenario["mixture"]["variances"][0] == [0.04, 0.09]
    assert np.allclose(scenario["mixture"]["means"][1], [0.0, -3.0], atol=0.05)
    assert scenario["mixture"]["weights"] == [0.75, 0.25]  # the loaded mode weighs 3 times the smallest, 1
    assert not list(tmp_path.glob(".*.tmp"))


def test_closing_an_empty_drawing_writes_nothing(desktop, tmp_path):
    path = tmp_path / "empty.toml"
    window = DrawWindow(desktop, path)
    window.click(1.0, 1.0, button=3)  # nothing there to remove
    window.xdotool("key", "q")  # matplotlib's close key
    code, stdout, stderr = window.finish()
    assert code == 1
    assert stderr.strip() == f"nothing written: no modes were placed; {path} was not created"
    assert not path.exists()
