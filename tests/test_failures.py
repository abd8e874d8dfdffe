"""Failure paths, on the installed `toygan` command in subprocesses: writes that fail under a real file-size
limit, damaged run folders, a second process on a live run folder, SIGTERM and a second Ctrl-C, bad input,
and a sweep run that diverges. Each case checks the exit code, a last line of stderr that says what
happened without a traceback, and the files left behind."""

import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import SMALL_CLI
from conftest import TOYGAN as TOYGAN_SCRIPT

from toygan.engine import rundir

TOYGAN = [TOYGAN_SCRIPT]

# Small and fast. With a constant learning rate the compiled program does not depend on --steps, so all
# runs here share one compiled trainer through the compilation cache of the `cli` fixture.
SETTINGS = [*SMALL_CLI, "-s", "train.checkpoint_every=100"]
SMALL = ["--no-live", "--views", "none", *SETTINGS]
LONG = "100000"  # the steps of a run that is stopped long before its end


class Commands:
    """Starts `toygan` commands without a display, sharing one compilation cache; ends any left running."""

    def __init__(self, cache: Path):
        self.env = {
            **os.environ,
            "MPLBACKEND": "Agg",
            "JAX_COMPILATION_CACHE_DIR": str(cache),
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
            "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
        }
        self.env.pop("DISPLAY", None)
        self.started: list[subprocess.Popen] = []

    def start(self, *args, stderr_file=None, file_limit=None) -> subprocess.Popen:
        """`toygan ARGS` in the background; `file_limit` caps the size of every file it writes (RLIMIT_FSIZE,
        set by util-linux's `prlimit`, not a pre-exec hook: forking this JAX process would warn), so that a
        write past it fails with EFBIG, as on a full disk (Python ignores SIGXFSZ)."""
        limit = ["prlimit", f"--fsize={file_limit}"] if file_limit else []
        process = subprocess.Popen(
            limit + TOYGAN + [str(a) for a in args],
            env=self.env,
            text=True,
            stdout=subprocess.DEVNULL,
            stderr=stderr_file or subprocess.PIPE,
        )
        self.started.append(process)
        return process

    def end_all(self) -> None:
        for process in self.started:
            if process.returncode is None:  # not waited for: a test failed on the way
                if process.poll() is None:
                    process.kill()
                process.communicate()


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    commands = Commands(tmp_path_factory.mktemp("jax-cache"))
    yield commands
    commands.end_all()


def finish(process, timeout=180) -> tuple[int, str]:
    _, stderr = process.communicate(timeout=timeout)
    return process.returncode, stderr


def last_line(stderr: str) -> str:
    """The message a command ends with (a run prints its progress to stderr before it)."""
    assert "Traceback" not in stderr, stderr
    return stderr.strip().splitlines()[-1]


def wait_for(condition, process, timeout=120):
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the run ended or stalled first: {process.communicate()[1]}")
        time.sleep(0.02)


def locked(run_dir) -> bool:
    """Whether a process holds the run folder's lock."""
    with open(run_dir / ".lock") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
    return False


def steps_in(path) -> list[int]:
    return [int(r["step"]) for r in rundir.read_csv_rows(path)]


def assert_whole_records(run_dir, last_step):
    """Every frame's rows once, in order, up to `last_step`: nothing mixed in, nothing cut short."""
    frames = list(range(0, last_step + 1, 50))
    assert steps_in(run_dir / "metrics.csv") == frames
    assert steps_in(run_dir / "losses.csv") == frames[1:]
    for name in ("metrics.csv", "losses.csv"):
        assert (run_dir / name).read_bytes().endswith(b"\n"), name


def copy_of(run_dir, to):
    shutil.copytree(run_dir, to)
    return to


@pytest.fixture(scope="module", autouse=True)
def diverging_sweep(cli, tmp_path_factory):
    """A sweep in which one run diverges, started before the first test so that its compilation (a program
    of its own) overlaps the runs of the other tests; `test_a_diverging_sweep_run...` reads its result."""
    out = tmp_path_factory.mktemp("sweep") / "sweep"
    process = cli.start(
        "sweep",
        "two-gaussians",
        "--seeds",
        "1",
        "--vary",
        "train.lr_generator=2e-4,1e30",
        "--steps",
        "200",
        *SETTINGS,
        "--out",
        out,
    )
    return SimpleNamespace(out=out, process=process)


# --- writes that fail: a file-size limit makes the checkpoint, a CSV row or the GIF fail ------------------


@pytest.fixture(scope="module")
def finished(cli, tmp_path_factory):
    """A finished 600-step run whose GIF holds two frames (the first and the last)."""
    out = tmp_path_factory.mktemp("finished") / "run"
    code, stderr = finish(cli.start("run", "two-gaussians", "--steps", "600", *SMALL, "-s", "view.gif_max_frames=1", "--out", out))
    assert code == 0, stderr
    return out


@pytest.fixture(scope="module")
def failed_writes(cli, finished, tmp_path_factory):
    """Three runs stopped by a write that fails, each under a file-size limit that one file passes first;
    then two of them resumed with room again."""
    tmp = tmp_path_factory.mktemp("failed-writes")
    checkpoint_size = (finished / "checkpoint.msgpack").stat().st_size
    metrics_size = (finished / "metrics.csv").stat().st_size
    # Each limit is above every file written before the one meant to fail: the CSVs, scenario.toml and,
    # on a resume, the GIF (two frames, which stay in the GIF muxer's buffer).
    assert max(metrics_size, (finished / "training.gif").stat().st_size) < checkpoint_size - 1000
    assert (finished / "scenario.toml").stat().st_size < metrics_size
    folders = {"gif": tmp / "gif", "checkpoint": copy_of(finished, tmp / "checkpoint"), "csv": copy_of(finished, tmp / "csv")}
    processes = {
        # A new run: its GIF grows by a frame every 50 steps and soon passes 1.5 times a checkpoint's size.
        "gif": cli.start("run", "two-gaussians", "--steps", "300", *SMALL, "--out", folders["gif"], file_limit=checkpoint_size * 3 // 2),
        # Resumed runs: their first checkpoint, at step 700, is larger than the limit ...
        "checkpoint": cli.start("resume", folders["checkpoint"], "--steps", "800", "--no-live", file_limit=checkpoint_size - 1000),
        # ... or their first row, at step 650, takes metrics.csv past it.
        "csv": cli.start("resume", folders["csv"], "--steps", "800", "--no-live", file_limit=metrics_size + 10),
    }
    failed = {name: finish(p) for name, p in processes.items()}
    kept = {name: rundir.checkpoint_step(folder) for name, folder in folders.items()}
    left = {name: sorted(p.name for p in folder.iterdir()) for name, folder in folders.items()}
    checkpoints = {name: (folder / "checkpoint.msgpack").read_bytes() for name, folder in folders.items()}
    resumed = {name: cli.start("resume", folders[name], "--no-live") for name in ("gif", "csv")}
    resumed = {name: finish(p) for name, p in resumed.items()}
    return SimpleNamespace(folders=folders, failed=failed, kept=kept, left=left, checkpoints=checkpoints, resumed=resumed)


def assert_write_failed(failed_writes, name, file):
    code, stderr = failed_writes.failed[name]
    run_dir = failed_writes.folders[name]
    assert code == 1, stderr
    assert last_line(stderr) == (
        f"error: cannot write {run_dir / file} (File too large); the checkpoint at step {failed_writes.kept[name]} "
        f"is kept: continue with `toygan resume {run_dir}` once there is room"
    )
    assert not [f for f in failed_writes.left[name] if f.endswith(".tmp")]


def test_a_failed_checkpoint_write_keeps_the_previous_checkpoint(failed_writes, finished):
    assert_write_failed(failed_writes, "checkpoint", "checkpoint.msgpack")
    assert failed_writes.kept["checkpoint"] == 600
    assert failed_writes.checkpoints["checkpoint"] == (finished / "checkpoint.msgpack").read_bytes()


def test_a_failed_csv_row_is_cut_off_when_the_run_resumes(failed_writes, finished):
    assert_write_failed(failed_writes, "csv", "metrics.csv")
    assert failed_writes.checkpoints["csv"] == (finished / "checkpoint.msgpack").read_bytes()
    code, stderr = failed_writes.resumed["csv"]
    assert code == 0, stderr
    assert_whole_records(failed_writes.folders["csv"], 800)
    assert rundir.checkpoint_step(failed_writes.folders["csv"]) == 800


def test_a_failed_gif_write_is_finished_by_resume(failed_writes):
    assert_write_failed(failed_writes, "gif", "training.gif.part")
    assert "summary.json" not in failed_writes.left["gif"]
    code, stderr = failed_writes.resumed["gif"]
    run_dir = failed_writes.folders["gif"]
    assert code == 0, stderr
    assert json.loads((run_dir / "summary.json").read_text())["step"] == 300
    assert (run_dir / "training.gif").stat().st_size > 0 and not list(run_dir.glob("training.gif.*"))
    assert_whole_records(run_dir, 300)


# --- resume on damaged state --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def damaged(cli, finished, tmp_path_factory):
    """`toygan resume --steps 800` on copies of a finished run, each damaged in one way."""
    tmp = tmp_path_factory.mktemp("damaged")
    shapes = copy_of(finished, tmp / "shapes")
    scenario = shapes / "scenario.toml"
    scenario.write_text(re.sub(r"noise_dim = \d+", "noise_dim = 3", scenario.read_text()))
    truncated = copy_of(finished, tmp / "truncated")
    checkpoint = (truncated / "checkpoint.msgpack").read_bytes()
    (truncated / "checkpoint.msgpack").write_bytes(checkpoint[: len(checkpoint) // 2])
    cut_past = copy_of(finished, tmp / "cut_past")  # as a kill while writing the next frame's rows leaves it
    for name, row in (("losses.csv", "650,0.69"), ("metrics.csv", "650,3.1,0.9")):
        with open(cut_past / name, "a") as f:
            f.write(row)
    cut_at = copy_of(finished, tmp / "cut_at")  # the checkpoint's own row cut short: nothing safe to resume
    metrics = (cut_at / "metrics.csv").read_bytes()
    (cut_at / "metrics.csv").write_bytes(metrics[: metrics.rstrip(b"\r\n").rfind(b"\n") + 12])
    folders = {"shapes": shapes, "truncated": truncated, "cut_past": cut_past, "cut_at": cut_at}
    processes = {name: cli.start("resume", folder, "--steps", "800", "--no-live") for name, folder in folders.items()}
    return SimpleNamespace(folders=folders, results={name: finish(p) for name, p in processes.items()})


REFUSED = {
    "shapes": "checkpoint.msgpack does not match its scenario.toml (at ",
    "truncated": "checkpoint.msgpack is corrupt: it is not a toygan checkpoint file",
    "cut_at": "metrics.csv stops at step 550, short of the checkpoint's step 600: the run folder was altered",
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_resume_refuses_damaged_state_in_one_line(damaged, finished, case):
    code, stderr = damaged.results[case]
    run_dir = damaged.folders[case]
    assert code == 2 and stderr.count("\n") == 1, stderr
    assert last_line(stderr).startswith(f"error: {run_dir}/{REFUSED[case]}")
    assert (run_dir / "losses.csv").read_bytes() == (finished / "losses.csv").read_bytes()


def test_resume_cuts_off_last_rows_cut_short_after_the_checkpoint(damaged):
    code, stderr = damaged.results["cut_past"]
    assert code == 0, stderr
    assert_whole_records(damaged.folders["cut_past"], 800)


# --- two processes, one folder; SIGTERM; a second Ctrl-C -------------------------------------------------


@pytest.fixture(scope="module")
def signalled(cli, tmp_path_factory):
    """Two long runs. The first, paused (it holds its folder all the same), is tried by a `resume` and a
    `run --force`, then trains on and gets SIGTERM. The second gets Ctrl-C and, paused while it stops, a
    second Ctrl-C."""
    tmp = tmp_path_factory.mktemp("signalled")
    out, aborted, log = tmp / "run", tmp / "aborted", tmp / "aborted.txt"
    first = cli.start("run", "two-gaussians", "--steps", LONG, *SMALL, "--out", out)
    with open(log, "w") as stderr_file:
        second = cli.start("run", "two-gaussians", "--steps", LONG, *SMALL, "--out", aborted, stderr_file=stderr_file)
    wait_for(lambda: rundir.checkpoint_step(out) is not None, first)
    first.send_signal(signal.SIGSTOP)

    wait_for(lambda: rundir.checkpoint_step(aborted) is not None, second)
    second.send_signal(signal.SIGINT)
    wait_for(lambda: "press Ctrl-C again" in log.read_text(), second)
    second.send_signal(signal.SIGSTOP)  # so that the second Ctrl-C finds it stopping, not stopped
    assert locked(aborted), "the run finished stopping before the second Ctrl-C could be sent"
    second.send_signal(signal.SIGINT)
    second.send_signal(signal.SIGCONT)

    paused_at = steps_in(out / "metrics.csv")[-1]
    intruders = [
        cli.start("resume", out, "--no-live"),
        cli.start("run", "two-gaussians", "--steps", "400", "--force", *SMALL, "--out", out),
    ]
    refused = [finish(p) for p in intruders]
    first.send_signal(signal.SIGCONT)
    wait_for(lambda: steps_in(out / "metrics.csv")[-1] > paused_at, first)
    first.send_signal(signal.SIGTERM)
    return SimpleNamespace(
        out=out,
        pid=first.pid,
        refused=refused,
        stopped=finish(first),
        aborted=aborted,
        aborted_code=finish(second)[0],
        aborted_stderr=log.read_text(),
    )


def test_a_second_process_is_refused_while_a_run_holds_its_folder(signalled):
    for code, stderr in signalled.refused:
        assert code == 2 and stderr.count("\n") == 1, stderr
        assert last_line(stderr) == (
            f"error: {signalled.out} is in use by toygan process {signalled.pid}: wait for it to end, or stop it, first"
        )
    # The first run trained on undisturbed: its scenario, records and checkpoint are its own.
    assert rundir.load_run_scenario(signalled.out).train.steps == int(LONG)
    assert_whole_records(signalled.out, rundir.checkpoint_step(signalled.out))


def test_sigterm_stops_the_run_like_ctrl_c_with_exit_code_143(signalled):
    code, stderr = signalled.stopped
    out = signalled.out
    step = rundir.checkpoint_step(out)
    assert code == 143, stderr
    assert "SIGTERM: stopping at the next frame" in stderr
    assert last_line(stderr) == (
        f"interrupted: stopped by SIGTERM at step {step} of {LONG}; checkpoint, GIF and records are saved: "
        f"continue with `toygan resume {out}`"
    )
    assert_whole_records(out, step)
    assert json.loads((out / "summary.json").read_text())["step"] == step
    assert (out / "training.gif").stat().st_size > 0 and (out / "report.png").is_file()
    assert not list(out.glob("training.gif.*")) and not list(out.glob(".*.tmp"))


def test_a_second_ctrl_c_aborts_at_once_and_names_the_checkpoint_kept(signalled):
    out, stderr = signalled.aborted, signalled.aborted_stderr
    kept = rundir.checkpoint_step(out)
    assert signalled.aborted_code == 130, stderr
    assert last_line(stderr) == (
        f"aborted: a second Ctrl-C stopped the run at once; the checkpoint at step {kept} is kept: continue with `toygan resume {out}`"
    )
    assert "nothing to resume" not in stderr
    assert steps_in(out / "metrics.csv")[: kept // 50 + 1] == list(range(0, kept + 1, 50))


# --- bad input -----------------------------------------------------------------------------------------------


def test_bad_input_is_one_line_with_exit_code_2(cli, tmp_path):
    out = tmp_path / "out"
    cases = {
        (
            "run",
            "two-gaussians",
            "-s",
            "train.steps",
            "--out",
            out,
        ): "override 'train.steps' is not of the form section.key=value",
        ("run", "two-gaussians", "-s", "training.steps=5", "--out", out): "unknown key 'training' in scenario",
        (
            "run",
            "two-gaussians",
            "-s",
            "train.lr_generator=fast",
            "--out",
            out,
        ): "train.lr_generator must be a number, got 'fast'",
        ("run", "two-gaussians", "--views", "heatmap", "--out", out): "unknown view panel 'heatmap'",
        (
            "compare",
            "two-gaussians",
            "--vary",
            "train.lr_generator",
            "--out",
            out,
        ): "--vary 'train.lr_generator' is not of the form",
        ("sample", tmp_path, "-n", "0", "-o", out): "-n must be positive, got 0",
        ("sample", tmp_path, "-n", "-3", "-o", out): "-n must be positive, got -3",
        ("eval", tmp_path, "--per-digit", "0"): "--per-digit must be positive, got 0",
    }
    processes = {args: cli.start(*args) for args in cases}
    for args, process in processes.items():
        code, stderr = finish(process)
        assert code == 2 and stderr.count("\n") == 1, (args, stderr)
        assert last_line(stderr).startswith("error: ") and cases[args] in stderr, (args, stderr)
    assert not out.exists()


# --- a sweep run that diverges --------------------------------------------------------------------------------


def test_a_diverging_sweep_run_is_marked_and_the_others_finish(diverging_sweep):
    out = diverging_sweep.out
    code, stderr = finish(diverging_sweep.process)
    assert code == 0, stderr
    assert "Traceback" not in stderr and "lr_generator=1e_30_seed=0 diverged at step 50" in stderr
    rows = {r["setting"]: r for r in rundir.read_csv_rows(out / "sweep.csv")}
    assert [rows[s]["diverged"] for s in ("lr_generator=0.0002", "lr_generator=1e+30")] == ["0", "1"]
    assert rows["lr_generator=1e+30"]["coverage_mean"] == "nan" and rows["lr_generator=0.0002"]["coverage_mean"] != "nan"
    blown = json.loads((out / "lr_generator=1e_30_seed=0" / "summary.json").read_text())
    assert blown["diverged_at_step"] == 50 and blown["step"] == 0
    # The divergence, then what keeps the kept generator (step 0's) from matching, as in a single run's summary.
    assert blown["warnings"][0] == "step 50: losses or parameters are NaN or infinite: training diverged"
    assert blown["warnings"][1:] == [f"step 0: {problem}" for problem in blown["problems"]] and blown["problems"]
    fine = json.loads((out / "lr_generator=0.0002_seed=0" / "summary.json").read_text())
    assert fine["diverged_at_step"] is None and fine["step"] == 200
    assert fine["warnings"] == [f"step 200: {problem}" for problem in fine["problems"]]  # no divergence, only the verdict's
    assert steps_in(out / "lr_generator=0.0002_seed=0" / "metrics.csv") == [0, 50, 100, 150, 200]
    assert (out / "small-multiples.gif").is_file()
