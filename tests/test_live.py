"""The live window, for real: training under a virtual X display with an interactive backend, steered by
real key presses (xdotool, through the X server as a keyboard's) and closed as a person would close it.

Without Xvfb (or xdotool and openbox, for the keys) these tests skip; with TOYGAN_REQUIRE_WINDOW=1 (set by
.ci/run) they fail instead, so that CI cannot pass without having tested the window."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SMALL_CLI, find_window, rows, wait_for, xdotool
from conftest import TOYGAN as TOYGAN_SCRIPT

TOYGAN = [TOYGAN_SCRIPT]

CHILD = r"""
import hashlib, json, sys
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from PIL import ImageGrab
import toygan

xdisplay = sys.argv[1]
blank = np.asarray(ImageGrab.grab(xdisplay=xdisplay))
shots = []

def on_frame(step, frame):
    plt.pause(0.2)  # let the window manager-less X server paint, as a person's eye would wait
    shot = np.asarray(ImageGrab.grab(xdisplay=xdisplay))
    shots.append({"step": step, "hash": hashlib.sha1(shot.tobytes()).hexdigest(),
                  "differs_from_blank": bool((shot != blank).any()),
                  "blue_pixels": int(((shot[..., 2] > 150) & (shot[..., 0] < 100)).sum())})

toygan.run("two-gaussians", steps=200, out=sys.argv[2], live=None, quiet=True, on_frame=on_frame,
           overrides={"model.hidden": [32, 32], "train.batch_size": 64, "view.points": 300, "view.eval_samples": 300})
print(json.dumps({"backend": matplotlib.get_backend(), "shots": shots}))
toygan.run("two-gaussians", steps=200, out=sys.argv[3], live=False, quiet=True,
           overrides={"model.hidden": [32, 32], "train.batch_size": 64, "view.points": 300, "view.eval_samples": 300})
"""


def test_live_window_shows_each_frame(xvfb, tmp_path):
    env = {**os.environ, "DISPLAY": xvfb, "MPLBACKEND": "TkAgg"}
    out, headless = tmp_path / "run", tmp_path / "headless"
    done = subprocess.run(
        [sys.executable, "-c", CHILD, xvfb, str(out), str(headless)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["backend"].lower() == "tkagg"
    shots = report["shots"]
    assert [s["step"] for s in shots] == [0, 50, 100, 150, 200]
    assert all(s["differs_from_blank"] for s in shots)
    assert all(s["blue_pixels"] > 100 for s in shots), "the generated points are not visible in the window"
    assert len({s["hash"] for s in shots}) == len(shots), "the window did not change between frames"
    # A window that is only watched changes nothing: the same numbers as without one.
    for name in ("losses.csv", "metrics.csv"):
        assert (out / name).read_text() == (headless / name).read_text(), name
    assert not (out / "controls.csv").exists()
    assert json.loads((out / "summary.json").read_text())["steered"] is False


class Window:
    """A `toygan run` with a live window, and a keyboard for it."""

    def __init__(self, env: dict, out: Path, steps: int):
        self.env, self.out = env, out
        self.process = subprocess.Popen(
            TOYGAN + ["run", "two-gaussians", "--steps", str(steps), "--out", str(out), *SMALL_CLI],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.id = find_window(env, "^toygan$")
        wait_for(lambda: len(rows(out / "losses.csv")) >= 2, process=self.process)  # compiled and training
        xdotool(env, "windowactivate", "--sync", self.id)

    def key(self, *keys: str) -> None:
        xdotool(self.env, "key", *keys)

    def control(self, action: str, n: int = 1) -> dict:
        """The `n`-th row of controls.csv for `action`, once written."""
        return wait_for(
            lambda: ([r for r in rows(self.out / "controls.csv") if r["action"] == action][n - 1 :] or [None])[0], process=self.process
        )

    def finish(self) -> tuple[int, str]:
        try:
            _, stderr = self.process.communicate(timeout=120)
        finally:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGKILL)
        return self.process.returncode, stderr


def test_keys_pause_step_double_the_rates_and_stop_a_run_that_resumes(desktop, tmp_path):
    out = tmp_path / "run"
    window = Window(desktop, out, 100000)
    window.key("space")
    paused_at = int(window.control("pause")["step"])
    last = rows(out / "losses.csv")[-1]
    assert int(last["step"]) == paused_at  # the frame shown is the last recorded
    time.sleep(1.2)
    assert rows(out / "losses.csv")[-1] == last, "a step advanced while paused"
    rate = float(last["lr_generator"])

    window.key("n")
    window.control("step")
    wait_for(lambda: int(rows(out / "losses.csv")[-1]["step"]) > paused_at)
    time.sleep(1.0)
    assert [int(r["step"]) for r in rows(out / "losses.csv")][-2:] == [paused_at, paused_at + 50]  # exactly one frame

    window.key("bracketright")
    doubled = window.control("lr_double")
    assert int(doubled["step"]) == paused_at + 50
    assert doubled["value"] == f"lr_generator={2 * rate:.6g} lr_discriminator={2 * float(last['lr_discriminator']):.6g}"
    window.key("n")
    window.control("step", 2)
    row = wait_for(lambda: [r for r in rows(out / "losses.csv") if int(r["step"]) == paused_at + 100])[0]
    assert float(row["lr_generator"]) == 2 * rate and float(row["lr_discriminator"]) == 2 * float(last["lr_discriminator"])

    # Single updates of one network and a saved frame, at the same step: recorded, the step unchanged.
    window.key("d", "g", "s")
    saved = window.control("save")
    updates = [r for r in rows(out / "controls.csv") if r["action"] in ("d_update", "g_update")]
    assert [(r["action"], int(r["step"])) for r in updates] == [("d_update", paused_at + 100), ("g_update", paused_at + 100)]
    assert all(r["value"].startswith("loss=") for r in updates)
    assert (out / saved["value"]).is_file() and saved["value"].endswith(".png")

    window.key("q")
    code, stderr = window.finish()
    assert code == 130, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith(f"interrupted: stopped by q in the window at step {paused_at + 100} of 100000")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["step"] == paused_at + 100 and summary["steered"] is True
    assert summary["controls"]["lr_double"] == summary["controls"]["d_update"] == summary["controls"]["g_update"] == 1
    assert not list(out.glob("*.part")) and (out / "training.gif").is_file() and (out / "report.png").is_file()

    # `toygan resume` continues at the doubled rates the checkpoint holds, not the scenario's.
    env = {**desktop, "MPLBACKEND": "Agg"}
    resumed = subprocess.run(
        TOYGAN + ["resume", str(out), "--steps", str(paused_at + 200), "--no-live"], env=env, capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    after = [r for r in rows(out / "losses.csv") if int(r["step"]) > paused_at + 100]
    assert [int(r["step"]) for r in after] == [paused_at + 150, paused_at + 200]
    assert all(float(r["lr_generator"]) == 2 * rate for r in after)


@pytest.mark.parametrize(
    "how", ["alt+F4", "ctrl+w", "windowclose"], ids=["by the window manager", "by its close key", "destroyed from outside"]
)
def test_closing_the_window_lets_training_go_on_headless(desktop, tmp_path, how):
    out = tmp_path / "run"
    window = Window(desktop, out, 1500)
    if how == "windowclose":  # XDestroyWindow by another X client: Tk is not asked, its window is just gone
        xdotool(desktop, "windowclose", window.id)
    else:  # openbox closes the active window on alt+F4; ctrl+w is matplotlib's close key
        window.key(how)
        closed = window.control("closed")
        assert int(closed["step"]) < 1500
    wait_for(lambda: subprocess.run(["xdotool", "search", "--name", "^toygan$"], env=desktop, capture_output=True).returncode != 0)
    code, stderr = window.finish()
    assert code == 0, stderr
    assert "Traceback" not in stderr and "X Error" not in stderr
    if how != "windowclose":
        assert "the window was closed: training goes on headless" in stderr
    assert [int(r["step"]) for r in rows(out / "losses.csv")] == list(range(50, 1501, 50))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["step"] == 1500 and summary["steered"] is False
    assert not list(out.glob("*.part"))
    for name in ("training.gif", "final.png", "report.png", "params.msgpack"):
        assert (out / name).is_file(), name
    import imageio.v3 as iio

    assert iio.imread(out / "training.gif", index=None).shape[0] == 31  # steps 0, 50, ..., 1500
