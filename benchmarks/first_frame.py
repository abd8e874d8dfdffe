"""Time to the first frame: from the command to its first frame, a first run (cold) and a second (warm).

    python -m benchmarks.first_frame [--scenario two-gaussians] [--repeats 5] [--window] [--json out.json]

Every run is a fresh process that imports what `toygan run` imports and calls `toygan.run` with an
`on_frame` callback, then exits at frame 0. The time runs from just before the process starts to that
callback, which comes once the frame is drawn, written into the GIF and shown. Each repeat gives a new,
empty cache folder (`TOYGAN_COMPILE_CACHE`): its first run fills it (cold), the second loads from it
(warm); a run with the cache off follows. `--window` draws into a live window (a virtual X display
when there is none) instead of headless. The machine's load average is printed beside the table:
timings on a shared machine are only comparable at similar load. Beside each median, when each
step of a 2-D run ends (the imports, the trainer, the initial state, the probe with its reference
figures, the frame's view, the first observation), to show where the time goes. It measures the toygan it imports:
`PYTHONPATH=../other-checkout python benchmarks/first_frame.py` measures another checkout's (a
checkout from before the compile cache has none: its three rows are alike).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

# The measured process: what `toygan run` imports, then a run that stops at its first frame. Beside it,
# when each step before that frame ends (the 2-D probe's, where the scenario has one).
CHILD = """
import json, os, sys, time
started = float(sys.argv[1])
ends = {}
import toygan.cli
import toygan.engine.runner as runner
ends["imports"] = time.time() - started

import jax
from toygan.twod import probe

def timed(owner, name, step):
    original = getattr(owner, name)
    def wrapper(*args, **kwargs):
        result = original(*args, **kwargs)
        if step not in ends:
            jax.block_until_ready(result)
            ends[step] = time.time() - started
        return result
    setattr(owner, name, wrapper)

timed(runner, "make_trainer", "trainer")
timed(runner, "start", "state")
timed(probe.MixtureProbe, "__init__", "probe")
timed(probe.MixtureProbe, "view", "view")
timed(probe.MixtureProbe, "observe", "observed")

def first_frame(step, frame):
    ends["frame"] = time.time() - started
    print("first-frame", json.dumps(ends), flush=True)
    os._exit(0)

runner.run(sys.argv[2], out=sys.argv[3], live=None if sys.argv[4] == "window" else False, quiet=True, on_frame=first_frame)
"""
STEPS = ("imports", "trainer", "state", "probe", "view", "observed", "frame")


def checkout() -> Path:
    """The folder of the toygan this process imports (a checkout, or PYTHONPATH's): the one measured."""
    return Path(importlib.util.find_spec("toygan").origin).resolve().parent.parent


def time_to_first_frame(scenario: str, cache: str, out: Path, window: bool) -> dict[str, float]:
    """Seconds from the start of a fresh process to the end of each step, to the first frame."""
    env = {k: v for k, v in os.environ.items() if k not in ("JAX_COMPILATION_CACHE_DIR", "TOYGAN_COMPILE_CACHE")}
    env.update(TOYGAN_COMPILE_CACHE=cache, PYTHONPATH=os.pathsep.join(filter(None, [str(checkout()), env.get("PYTHONPATH")])))
    mode = "window" if window else "headless"
    done = subprocess.run(
        [sys.executable, "-c", CHILD, f"{time.time():.6f}", scenario, str(out), mode],
        env=env,
        capture_output=True,
        text=True,
        cwd=out.parent,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("first-frame ")]
    if not lines:
        raise SystemExit(f"the run ended without a frame (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(lines[0].split(" ", 1)[1])


@contextmanager
def display(window: bool):
    """A virtual X display for `--window` when the session has none."""
    if not window or os.environ.get("DISPLAY"):
        yield
        return
    if shutil.which("Xvfb") is None:
        raise SystemExit("--window needs a display or Xvfb (apt-get install xvfb)")
    server = subprocess.Popen(["Xvfb", ":97", "-screen", "0", "1024x768x24", "-nolisten", "tcp"], stderr=subprocess.DEVNULL)
    os.environ["DISPLAY"] = ":97"
    time.sleep(1.0)
    try:
        yield
    finally:
        os.environ.pop("DISPLAY")
        server.terminate()
        server.wait()


def commit() -> str:
    """The commit of the checkout measured (with a + when it has changes)."""
    where = checkout()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=where, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=where, capture_output=True, text=True).stdout
    return (head or "unknown") + ("+" if dirty.strip() else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="two-gaussians")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--window", action="store_true", help="draw into a live window (Xvfb when there is no display)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    runs: dict[str, list[dict[str, float]]] = {"cold": [], "warm": [], "cache off": []}
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp, display(args.window):
        for repeat in range(args.repeats):
            cache = Path(tmp) / f"cache-{repeat}"
            for label, folder in (("cold", str(cache)), ("warm", str(cache)), ("cache off", "off")):
                runs[label].append(time_to_first_frame(args.scenario, folder, Path(tmp) / f"run-{repeat}-{label}", args.window))
    load_after = os.getloadavg()

    mode = "a live window" if args.window else "headless"
    print(f"{args.scenario}, {mode}, commit {commit()}, {args.repeats} repeats: seconds from the command to the first frame")
    print(f"{'run':<11}{'median':>8}{'min':>7}{'max':>7}   median end of each step: {', '.join(STEPS[:-1])}")
    for label, ends in runs.items():
        frames = [end["frame"] for end in ends]
        steps = "  ".join(f"{statistics.median(e[step] for e in ends):.2f}" if all(step in e for e in ends) else "-" for step in STEPS[:-1])
        print(f"{label:<11}{statistics.median(frames):>8.2f}{min(frames):>7.2f}{max(frames):>7.2f}   {steps}")
    loads = [" ".join(f"{x:.2f}" for x in load) for load in (load_before, load_after)]
    print(f"load average (1, 5, 15 min): {loads[0]} before, {loads[1]} after")
    if args.json:
        results = {"scenario": args.scenario, "window": args.window, "commit": commit(), "load": [load_before, load_after], "runs": runs}
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
