"""`toygan run dirac-gan` on the installed command: what its run folder says of the Dirac-GAN game of Mescheder
et al. 2018 (unregularised simultaneous updates circle, the R1 penalty converges), its GIF, the live window,
and the one-line refusals. The game itself (fields, trajectories) is tested in test_dirac.py."""

import csv
import json
import math
import os
import subprocess
import sys
import time
from collections import defaultdict

import imageio.v3 as iio
import numpy as np
import pytest
from test_failures import Commands, finish, last_line

import toygan
from toygan.engine.compare import compare
from toygan.engine.sweep import sweep
from toygan.errors import ToyganError

# The built-in scenario as it is (500 steps), with a frame every 100 steps: 6 frames.
FAST = ["--no-live", "-s", "view.frame_every=100"]
# A scenario file with only its [dirac] table: the game's own defaults for steps and rates apply.
MINIMAL = """\
[dirac]
objectives = ["least-squares"]
schemes = ["simultaneous"]
penalties = ["none", "gp"]
"""


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    commands = Commands(tmp_path_factory.mktemp("jax-cache"))
    yield commands
    commands.end_all()


@pytest.fixture(scope="module")
def played(cli, tmp_path_factory):
    """The built-in dirac-gan, played by the installed command."""
    out = tmp_path_factory.mktemp("dirac") / "builtin"
    code, stderr = finish(cli.start("run", "dirac-gan", *FAST, "--out", out))
    assert code == 0, stderr
    return out


def read(run_dir):
    """summary.json's panels by (objective, scheme, penalty), and trajectories.csv's distances by the same."""
    summary = json.loads((run_dir / "summary.json").read_text())
    panels = {(p["objective"], p["scheme"], p["penalty"]): p for p in summary["panels"]}
    distances = defaultdict(list)
    with open(run_dir / "trajectories.csv", newline="") as f:
        for row in csv.DictReader(f):
            distances[row["objective"], row["scheme"], row["penalty"]].append(float(row["distance"]))
    return summary, panels, distances


def test_unregularised_simultaneous_updates_circle_and_the_r1_penalty_converges(played):
    summary, panels, distances = read(played)
    shown = [(o, s, p) for o in ("log", "wgan") for s in ("simultaneous", "alternating") for p in ("none", "r1")]
    assert sorted(panels) == sorted(distances) == sorted(shown)
    assert summary["tolerance"] == 0.05 and "below 0.05" in summary["verdict_rule"]
    for key, d in distances.items():
        assert len(d) == 501 and d[0] == pytest.approx(math.sqrt(2)), key  # from (1, 1), every step
        assert panels[key]["final_distance"] == pytest.approx(d[-1], rel=1e-6), key
    for objective in ("log", "wgan"):
        # Mescheder et al. 2018, Section 2.2: simultaneous gradient descent on the unregularised game never
        # closes in on the equilibrium; the R1 penalty makes it converge.
        circling = distances[objective, "simultaneous", "none"]
        assert min(circling[100:]) > 0.5, objective
        for scheme in ("simultaneous", "alternating"):
            assert panels[objective, scheme, "none"]["verdict"] == "does not converge", (objective, scheme)
            assert panels[objective, scheme, "r1"]["final_distance"] < 0.05, (objective, scheme)
            assert panels[objective, scheme, "r1"]["verdict"] == "converges", (objective, scheme)


def test_the_gif_has_a_frame_every_frame_every_steps_ending_with_the_final_png(played):
    builtin = iio.improps(played / "training.gif").shape
    assert builtin[0] == 6  # steps 0, 100, ..., 500
    final = iio.imread(played / "final.png")
    assert final.shape[:2] == builtin[1:3]
    first, last = (iio.imread(played / "training.gif", index=i)[..., :3] for i in (0, 5))
    assert (first != last).any()
    assert np.abs(last.astype(int) - final[..., :3]).mean() < 2  # the last frame, up to the GIF's palette


def test_a_file_with_only_its_dirac_table_plays_at_the_games_own_defaults(tmp_path):
    (tmp_path / "mine.toml").write_text(MINIMAL)
    played = toygan.run(tmp_path / "mine.toml", steps=50, overrides={"view.frame_every": 20}, out=tmp_path / "run", live=False, quiet=True)
    summary, panels, distances = read(played.run_dir)
    assert sorted(panels) == [("least-squares", "simultaneous", "gp"), ("least-squares", "simultaneous", "none")]
    assert all(len(d) == 51 for d in distances.values()) and summary["step"] == 50
    assert iio.improps(played.run_dir / "training.gif").shape[0] == 4  # steps 0, 20, 40 and the last, 50
    saved = (played.run_dir / "scenario.toml").read_text()
    assert "lr_generator = 0.2" in saved and "steps = 50" in saved and 'lr_schedule = "constant"' in saved


def test_a_bad_table_gets_one_line_from_the_command(cli, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(MINIMAL.replace("least-squares", "wgan-cp"))
    code, stderr = finish(cli.start("run", bad, "--no-live", "--out", tmp_path / "out"))
    assert code == 2 and stderr.count("\n") == 1, stderr
    assert last_line(stderr) == f"error: {bad}: dirac.objectives 'wgan-cp' is unknown: choose from log, wgan, wgan-gp, hinge, least-squares"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"dirac.schemes": ["extragradient"]}, "dirac.schemes 'extragradient' is unknown: choose from simultaneous, alternating"),
        ({"dirac.penalties": ["none", "r2"]}, "dirac.penalties 'r2' is unknown: choose from none, r1, gp"),
        ({"train.lr_discriminator": -0.1}, "train.lr_discriminator must be positive, got -0.1"),
        ({"train.steps": 0}, "train.steps must be positive, got 0"),
        ({"train.loss": "hinge"}, "train.loss does not apply to the Dirac-GAN game (list the objectives to show in dirac.objectives)"),
        ({"seed": 3}, "the Dirac-GAN game is deterministic (no noise, no batches): leave --seed and seed out"),
        ({"train.r1_gamma": 0.0}, 'train.r1_gamma is 0, so the "r1" panels would have no penalty'),
    ],
)
def test_settings_the_game_cannot_use_are_refused_by_name(overrides, message, tmp_path):
    with pytest.raises(ToyganError) as error:
        toygan.run("dirac-gan", overrides=overrides, out=tmp_path / "out", live=False, quiet=True)
    assert message in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "out").exists()


def test_sweep_compare_and_the_commands_of_trained_networks_are_refused(played, tmp_path):
    with pytest.raises(ToyganError, match="^dirac-gan: the Dirac-GAN game is deterministic, so seeds do not vary it"):
        sweep("dirac-gan", 2, out=tmp_path / "out", quiet=True)
    with pytest.raises(ToyganError, match="^dirac-gan: its settings are side by side in one run already"):
        compare("dirac-gan", {"train.lr_generator": [0.1, 0.2]}, out=tmp_path / "out", quiet=True)
    assert not (tmp_path / "out").exists()
    with pytest.raises(ToyganError, match="nothing to resume, sample or evaluate"):
        toygan.load_run(played)


WINDOW_CHILD = r"""
import json, sys
import matplotlib
import numpy as np
from PIL import ImageGrab
import toygan

shots = []

def on_frame(step, frame):
    matplotlib.pyplot.pause(0.2)  # let the X server paint
    shot = np.asarray(ImageGrab.grab(xdisplay=sys.argv[1]))
    orange = (shot[..., 0] > 200) & (shot[..., 1] > 100) & (shot[..., 1] < 160) & (shot[..., 2] < 60)  # the trajectories (C1)
    shots.append({"step": step, "orange": int(orange.sum()), "hash": hash(shot.tobytes())})

result = toygan.run("dirac-gan", steps=40, out=sys.argv[2], live=None, quiet=True, on_frame=on_frame,
                    overrides={"view.frame_every": 10, "dirac.objectives": ["log"], "dirac.schemes": ["simultaneous"]})
print(json.dumps({"backend": matplotlib.get_backend(), "shots": shots, "panels": len(result.panels)}))
"""


def test_the_live_window_draws_the_trajectories_growing(xvfb, tmp_path):  # noqa: F811
    env = {**os.environ, "DISPLAY": xvfb, "MPLBACKEND": "TkAgg"}
    done = subprocess.run(
        [sys.executable, "-c", WINDOW_CHILD, xvfb, str(tmp_path / "run")], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["backend"].lower() == "tkagg" and report["panels"] == 2
    shots = report["shots"]
    assert [s["step"] for s in shots] == [0, 10, 20, 30, 40]
    orange = [s["orange"] for s in shots]
    assert orange[0] > 0 and orange[-1] > 2 * orange[0], "the trajectories do not grow in the window"
    assert len({s["hash"] for s in shots}) == len(shots), "the window did not change between frames"
    assert iio.improps(tmp_path / "run" / "training.gif").shape[0] == 5


def test_the_windows_keys_pause_save_and_go_on_to_the_end(desktop, tmp_path):
    """Real key presses (xdotool) in a dirac-gan window: `s` saves the frame shown, and paused, two saves a
    second apart hold the same frame; `q` goes on to the last frame at once and the run ends complete."""
    from conftest import TOYGAN, focus_window, wait_for, xdotool

    out = tmp_path / "run"
    frames = 301  # 30 s of frames at the window's 10 per second
    command = [TOYGAN, "run", "dirac-gan", "--steps", "3000", "--out", str(out), "-s", "view.frame_every=10"]
    process = subprocess.Popen(command, env=desktop, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        focus_window(desktop, "^toygan$")
        key = lambda name: xdotool(desktop, "key", name)
        saved = lambda: {p.name for p in out.glob("frame-*.png")}

        def save_shown_frame():  # a save needs a frame on show: pressed until the first frame is drawn
            key("s")
            time.sleep(0.3)
            return saved() or None

        wait_for(save_shown_frame, process=process)
        time.sleep(0.5)  # a press still on its way lands before the count
        before = saved()
        key("space")
        time.sleep(1.0)
        key("s")
        time.sleep(1.0)
        key("s")
        paused = wait_for(lambda: saved() - before if len(saved() - before) == 2 else None, process=process)
        assert len({name.split(".")[0].split("-")[1] for name in paused}) == 1, f"paused, two saves show two frames: {paused}"
        started = time.perf_counter()
        key("q")
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr
        assert time.perf_counter() - started < 10, "q did not go on to the end at once"
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert (out / "final.png").is_file() and (out / "summary.json").is_file()
    assert 0 < iio.improps(out / "training.gif").shape[0] < frames  # the frames after q's were skipped
