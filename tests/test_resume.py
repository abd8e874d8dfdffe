"""Nothing lost: checkpoints, resume, Ctrl-C and kill -9 on the real CLI, bounded GIFs, bad run folders."""

import os
import random
import shutil
import signal
import subprocess
import sys
import time

import imageio.v3 as iio
import pytest

import toygan
from toygan.engine.runner import RunInterrupted, resume
from toygan.errors import ToyganError

STEPS = 1200
SETTINGS = {
    "model.hidden": [32, 32],
    "train.batch_size": 64,
    "view.points": 200,
    "view.eval_samples": 200,
    "train.checkpoint_every": 200,
    "view.discriminator": False,
}
CLI_SETTINGS = [arg for key, value in SETTINGS.items() for arg in ("-s", f"{key}={value}".replace("False", "false"))]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "run"
    toygan.run("ring-8", steps=STEPS, out=out, live=False, quiet=True, overrides=SETTINGS)
    return out


def _same_records(run_dir, reference):
    for name in ("losses.csv", "metrics.csv"):
        assert (run_dir / name).read_text() == (reference / name).read_text(), name


def _gif_frames(path):
    return iio.imread(path, index=None).shape[0]


def test_interrupted_at_a_random_frame_and_resumed_matches_the_uninterrupted_run(tmp_path, uninterrupted):
    seed = 0
    # The next chunk is already under way when a frame is drawn, so a stop lands one frame later:
    # press Ctrl-C at least two frames before the end, at a frame drawn from a fixed seed.
    stop_at = random.Random(seed).randrange(1, STEPS // 50 - 1) * 50
    out = tmp_path / "run"

    def press_ctrl_c(step, frame):
        if step == stop_at:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(RunInterrupted, match="toygan resume"):
        toygan.run("ring-8", steps=STEPS, out=out, live=False, quiet=True, overrides=SETTINGS, on_frame=press_ctrl_c)
    assert (out / "checkpoint.msgpack").is_file() and (out / "training.gif").is_file()
    stopped = int((out / "metrics.csv").read_text().splitlines()[-1].split(",")[0])
    assert stop_at <= stopped < STEPS, f"stop asked at {stop_at}"
    assert _gif_frames(out / "training.gif") == stopped // 50 + 1

    resume(out, live=False, quiet=True)
    _same_records(out, uninterrupted)
    assert _gif_frames(out / "training.gif") == STEPS // 50 + 1
    assert not list(out.glob("training.gif.*"))


def _start_cli(out):
    env = {**os.environ, "MPLBACKEND": "Agg"}
    env.pop("DISPLAY", None)
    command = [sys.executable, "-m", "toygan", "run", "ring-8", "--steps", str(STEPS), "--no-live", "--out", str(out)]
    return subprocess.Popen(command + CLI_SETTINGS, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(condition, process, timeout=120):
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the run ended or stalled before the signal: {process.communicate()[1][-2000:]}")
        time.sleep(0.05)


def _metric_rows(out):
    path = out / "metrics.csv"
    return len(path.read_text().splitlines()) - 1 if path.exists() else 0


def test_ctrl_c_on_the_cli_checkpoints_and_says_how_to_resume(tmp_path, uninterrupted):
    out = tmp_path / "run"
    process = _start_cli(out)
    _wait_for(lambda: _metric_rows(out) >= 6, process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    last_line = stderr.strip().splitlines()[-1]
    assert last_line.startswith("interrupted:") and f"toygan resume {out}" in last_line
    assert "Traceback" not in stderr
    assert (out / "checkpoint.msgpack").is_file() and _gif_frames(out / "training.gif") == _metric_rows(out)

    done = subprocess.run(
        [sys.executable, "-m", "toygan", "resume", str(out), "--no-live"],
        capture_output=True,
        text=True,
        env={**os.environ, "MPLBACKEND": "Agg"},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    _same_records(out, uninterrupted)


def test_after_kill_9_the_folder_is_readable_and_the_run_resumes(tmp_path, uninterrupted):
    out = tmp_path / "run"
    process = _start_cli(out)
    _wait_for(lambda: (out / "checkpoint.msgpack").exists() and _metric_rows(out) >= 7, process)
    process.kill()
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert toygan.load_scenario(out / "scenario.toml").train.steps == STEPS
    resume(out, live=False, quiet=True)
    _same_records(out, uninterrupted)
    assert _gif_frames(out / "training.gif") == STEPS // 50 + 1
    assert not list(out.glob(".*.tmp"))


def test_a_finished_run_can_be_trained_longer(tmp_path, uninterrupted):
    out = tmp_path / "run"
    shutil.copytree(uninterrupted, out)
    with pytest.raises(ToyganError, match="already finished its 1200 steps"):
        resume(out, live=False, quiet=True)
    with pytest.raises(ToyganError, match="not beyond the checkpoint's step 1200"):
        resume(out, steps=1000, live=False, quiet=True)
    resume(out, steps=STEPS + 100, live=False, quiet=True)
    steps = [int(line.split(",")[0]) for line in (out / "metrics.csv").read_text().splitlines()[1:]]
    assert steps[-3:] == [1200, 1250, 1300] and len(steps) == len(set(steps))
    assert toygan.load_scenario(out / "scenario.toml").train.steps == 1300


def test_resume_rejects_folders_that_are_not_resumable_runs(tmp_path):
    with pytest.raises(ToyganError, match="not a toygan run folder"):
        resume(tmp_path)
    run = tmp_path / "run"
    toygan.run("two-gaussians", steps=50, out=run, live=False, quiet=True, overrides=SETTINGS)
    (run / "checkpoint.msgpack").write_bytes(b"\x00garbage")
    with pytest.raises(ToyganError, match="checkpoint.msgpack is corrupt"):
        resume(run, steps=100)
    (run / "checkpoint.msgpack").unlink()
    with pytest.raises(ToyganError, match="no checkpoint.msgpack"):
        resume(run, steps=100)
    (run / "params.msgpack").write_bytes(b"nonsense")
    with pytest.raises(ToyganError, match="params.msgpack is corrupt"):
        toygan.load_run(run)


def test_the_gif_is_bounded_by_its_maximum_frame_count(tmp_path):
    out = tmp_path / "run"
    toygan.run(
        "two-gaussians",
        steps=400,
        out=out,
        live=False,
        quiet=True,
        overrides={**SETTINGS, "view.frame_every": 10, "view.gif_max_frames": 10},
    )
    assert _metric_rows(out) == 41
    frames = iio.imread(out / "training.gif", index=None)
    assert 2 <= frames.shape[0] <= 10
    final = iio.imread(out / "final.png")
    assert (frames[-1].astype(int) - final[..., :3].astype(int)).__abs__().mean() < 8  # the last frame is the end


def test_unwritable_output_folder_is_a_one_line_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ToyganError, match="cannot write to output folder") as info:
        toygan.run("two-gaussians", steps=50, out=blocker / "run", live=False, quiet=True)
    assert "\n" not in str(info.value)
