"""The live window, for real: training under a virtual X display with an interactive backend."""

import json
import os
import shutil
import subprocess
import sys

import pytest

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
"""


@pytest.fixture
def xvfb():
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb); the live window cannot be tested here")
    server = subprocess.Popen(
        ["Xvfb", "-displayfd", "1", "-screen", "0", "800x700x24", "-nolisten", "tcp"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    number = server.stdout.readline().strip()
    try:
        if not number:
            pytest.skip("Xvfb did not start")
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=10)
        server.stdout.close()


def test_live_window_shows_each_frame(xvfb, tmp_path):
    env = {**os.environ, "DISPLAY": xvfb, "MPLBACKEND": "TkAgg"}
    done = subprocess.run([sys.executable, "-c", CHILD, xvfb, str(tmp_path / "run")], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["backend"].lower() == "tkagg"
    shots = report["shots"]
    assert [s["step"] for s in shots] == [0, 50, 100, 150, 200]
    assert all(s["differs_from_blank"] for s in shots)
    assert all(s["blue_pixels"] > 100 for s in shots), "the generated points are not visible in the window"
    assert len({s["hash"] for s in shots}) == len(shots), "the window did not change between frames"
