"""toygan against a PyTorch eager reference and against the machine's own limit.

    pip install -e ".[bench]"
    python -m benchmarks [--quick] [--json benchmarks/latest.json] [--data ../shared/data/mnist/mnist.npz]

1. toy training steps/s, toygan vs PyTorch, at the See_GANs setting (batch 512, noise 256, 2x128) and
   at the `two-gaussians` default, in alternating rounds, each side in a fresh process of its own
   (`benchmarks/worker.py`: loading PyTorch beside XLA slows XLA's threads by about 15% here);
2. the fraction of the machine's float32 matrix-multiply FLOP/s that toygan's training reaches
   (FLOPs per step from XLA's cost analysis);
3. the `mnist-cgan` model at batch 32 and 64, toygan vs PyTorch;
4. end to end: `toygan run ring-8 --steps 10000` at the See_GANs setting (frame every 50, GIF) against
   PyTorch + a matplotlib redraw per frame + an imageio GIF, wall time and peak memory; frames/s of
   toygan's views, plain and all panels;
5. peak memory of a 100,000-step run against a 10,000-step run;
6. where toygan's training time goes: compile time, how many cores XLA keeps busy, and the share of
   a step that draws its latent noise (the same threefry normals, compiled alone).

Prints a table and saves JSON (and the same table as Markdown beside it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import psutil

from benchmarks.flops import matmul_flops
from benchmarks.views import frames_per_second
from benchmarks.worker import SEE_GANS

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "mnist" / "mnist.npz"


def rate(side: str, setting: str, steps: int, data: Path | None) -> dict:
    """Steps/s of one side in a fresh process (`benchmarks.worker`)."""
    command = [sys.executable, "-m", "benchmarks.worker", side, setting, str(steps)]
    command += ["--data", str(data)] if data is not None else []
    output = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def compare(setting: str, steps: int, rounds: int, data: Path | None = None) -> dict:
    """Median steps/s of toygan and PyTorch over `rounds` alternating rounds, so drift in the machine's
    speed hits both sides alike."""
    runs: dict[str, list[dict]] = {"toygan": [], "pytorch": []}
    for _ in range(rounds):
        for side in runs:
            runs[side].append(rate(side, setting, steps, data))
    result = {side: statistics.median(r["steps_per_s"] for r in rs) for side, rs in runs.items()}
    result["speedup"] = result["toygan"] / result["pytorch"]
    result["flops_per_step"] = runs["toygan"][0]["flops_per_step"]
    for part in ("compile_s", "cores_busy", "noise_share"):  # where toygan's time goes
        result[part] = statistics.median(r[part] for r in runs["toygan"])
    return result


def toy_training(rounds: int, n: int, limit: float) -> dict:
    results = {}
    labels = {
        "see-gans": "See_GANs setting (ring-8, batch 512, noise 256, 2x128)",
        "two-gaussians": "two-gaussians default (batch 256, noise 2, 2x128)",
    }
    for setting, label in labels.items():
        r = compare(setting, n, rounds)
        r["fraction_of_matmul"] = r["flops_per_step"] * r["toygan"] / limit
        results[label] = r
        print(
            f"{label}: toygan {r['toygan']:,.0f} steps/s, PyTorch {r['pytorch']:,.0f} steps/s, "
            f"{r['speedup']:.2f}x; {r['flops_per_step'] / 1e6:.1f} MFLOP/step = "
            f"{100 * r['fraction_of_matmul']:.0f}% of matmul FLOP/s",
            flush=True,
        )
        print(f"  where the time goes: {where(r)}", flush=True)
    return results


def where(r: dict) -> str:
    return (
        f"{100 * r['noise_share']:.0f}% of a step draws its noise, {r['cores_busy']:.1f} of "
        f"{os.cpu_count()} cores busy, compiled in {r['compile_s']:.1f} s"
    )


def mnist_training(data_path: Path, rounds: int, n: int) -> dict:
    results = {}
    for batch in (32, 64):
        r = compare(f"mnist-cgan-{batch}", n, rounds, data_path)
        results[f"batch {batch}"] = r
        print(
            f"mnist-cgan batch {batch}: toygan {r['toygan']:,.0f} steps/s, PyTorch {r['pytorch']:,.0f} "
            f"steps/s, {r['speedup']:.2f}x; {where(r)}",
            flush=True,
        )
    return results


def measure(command: list[str]) -> dict:
    """Wall time and peak resident memory (process and children, polled every 20 ms) of a command."""
    started = time.perf_counter()
    process = psutil.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
    peak = 0
    while process.poll() is None:
        try:
            tree = [process, *process.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree))
        except psutil.Error:
            pass
        time.sleep(0.02)
    wall = time.perf_counter() - started
    output = process.stdout.read().decode()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed with exit code {process.returncode}")
    return {"wall_s": wall, "peak_rss_mb": peak / 2**20, "output": output.strip()}


def toygan_command(scenario: str, steps: int, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "toygan", "run", scenario, "--steps", str(steps), "--no-live", "--out", str(out), *extra]


def see_gans_args() -> list[str]:
    return [arg for key, value in SEE_GANS.items() for arg in ("-s", f"{key}={json.dumps(value)}")]


def end_to_end(steps: int, rounds: int) -> dict:
    walls: dict[str, list[dict]] = {"toygan": [], "reference": []}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(rounds):
            walls["toygan"].append(measure(toygan_command("ring-8", steps, Path(tmp) / f"t{k}", *see_gans_args())))
            walls["reference"].append(
                measure([sys.executable, "-m", "benchmarks.reference_run", str(Path(tmp) / f"r{k}.gif"), "--steps", str(steps)])
            )
    result = {
        name: {"wall_s": statistics.median(r["wall_s"] for r in runs), "peak_rss_mb": max(r["peak_rss_mb"] for r in runs)}
        for name, runs in walls.items()
    }
    result["reference"]["draw_fps"] = json.loads(walls["reference"][-1]["output"].splitlines()[-1])["draw_fps"]
    result["speedup"] = result["reference"]["wall_s"] / result["toygan"]["wall_s"]
    result["frames_per_s"] = {
        name: frames_per_second("ring-8", panels)["frames_per_s"]
        for name, panels in (("plain", []), ("default", None), ("all views", ["all"]))
    }
    print(
        f"end to end, ring-8 {steps} steps at the See_GANs setting: toygan {result['toygan']['wall_s']:.1f} s "
        f"({result['toygan']['peak_rss_mb']:.0f} MB), reference {result['reference']['wall_s']:.1f} s "
        f"({result['reference']['peak_rss_mb']:.0f} MB): {result['speedup']:.2f}x",
        flush=True,
    )
    return result


def memory(long_steps: int, short_steps: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        short = measure(toygan_command("two-gaussians", short_steps, Path(tmp) / "short"))
        long = measure(toygan_command("two-gaussians", long_steps, Path(tmp) / "long"))
    result = {
        "short": {"steps": short_steps, **_drop_output(short)},
        "long": {"steps": long_steps, **_drop_output(long)},
        "ratio": long["peak_rss_mb"] / short["peak_rss_mb"],
    }
    print(
        f"memory: {long_steps:,} steps {long['peak_rss_mb']:.0f} MB vs {short_steps:,} steps "
        f"{short['peak_rss_mb']:.0f} MB: {result['ratio']:.2f}x",
        flush=True,
    )
    return result


def _drop_output(measured: dict) -> dict:
    return {k: v for k, v in measured.items() if k != "output"}


def machine() -> dict:
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "jax": jax.__version__,
        **_torch_info(),
    }


def _torch_info() -> dict:
    """PyTorch's version and thread count, asked in a process of its own (it is never loaded here)."""
    code = "import json, torch; print(json.dumps({'torch': torch.__version__, 'torch_threads': torch.get_num_threads()}))"
    return json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def markdown(results: dict) -> str:
    """The table for the README."""
    m = results["machine"]
    lines = [
        f"Measured on {m['cores']} CPU cores ({m['cpu']}), {m['memory_gb']} GB, Python {m['python']}, "
        f"JAX {m['jax']}, PyTorch {m['torch']} ({m['torch_threads']} threads); "
        f"float32 matmul {results['matmul_gflops']:.0f} GFLOP/s.",
        "",
        "| benchmark | toygan | PyTorch reference | ratio | target |",
        "| --- | --- | --- | --- | --- |",
    ]
    targets = iter(["≥ 2.5x, ≥ 60% of matmul", "≥ 6x"])
    for label, r in results["toy"].items():
        lines.append(
            f"| {label} | {r['toygan']:,.0f} steps/s ({100 * r['fraction_of_matmul']:.0f}% of matmul FLOP/s, "
            f"{r['flops_per_step'] / 1e6:.1f} MFLOP/step) | {r['pytorch']:,.0f} steps/s | {r['speedup']:.2f}x | {next(targets)} |"
        )
    for label, r in results.get("mnist", {}).items():
        target = "≥ 3x" if label == "batch 32" else ""
        lines.append(f"| mnist-cgan, {label} | {r['toygan']:,.0f} steps/s | {r['pytorch']:,.0f} steps/s | {r['speedup']:.2f}x | {target} |")
    if "end_to_end" in results:
        e = results["end_to_end"]
        lines.append(
            f"| end to end, ring-8 10,000 steps, See_GANs setting, frame every 50 + GIF | "
            f"{e['toygan']['wall_s']:.1f} s, peak {e['toygan']['peak_rss_mb']:.0f} MB | "
            f"{e['reference']['wall_s']:.1f} s, peak {e['reference']['peak_rss_mb']:.0f} MB | "
            f"{e['speedup']:.2f}x | ≥ 3x, less memory |"
        )
        f = e["frames_per_s"]
        lines.append(
            f"| frames/s (draw + GIF) | plain {f['plain']:.0f}, default {f['default']:.0f}, all views "
            f"{f['all views']:.0f} | {e['reference']['draw_fps']:.0f} (draw + PNG) | | |"
        )
    if "memory" in results:
        r = results["memory"]
        lines.append(
            f"| peak memory, two-gaussians {r['long']['steps']:,} vs {r['short']['steps']:,} steps | "
            f"{r['long']['peak_rss_mb']:.0f} MB vs {r['short']['peak_rss_mb']:.0f} MB | | {r['ratio']:.2f}x | ≤ 1.2x |"
        )
    profiled = {**results.get("toy", {}), **{f"mnist-cgan, {k}": v for k, v in results.get("mnist", {}).items()}}
    if profiled and all("noise_share" in r for r in profiled.values()):
        lines += ["", "Where toygan's time goes (from the same runs):", ""]
        lines += [f"- {label}: {where(r)}" for label, r in profiled.items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Fewer steps and rounds, no 100,000-step run.")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "latest.json")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="MNIST for the CGAN benchmark.")
    parser.add_argument("--skip", default="", help="Comma-separated sections to skip: toy,mnist,e2e,memory.")
    parser.add_argument("--update", action="store_true", help="Keep the skipped sections' figures from the --json file.")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    rounds, n = (2, 500) if args.quick else (3, 2000)
    results: dict = json.loads(args.json.read_text()) if args.update and args.json.exists() else {}
    results["machine"] = machine()
    results["matmul_gflops"] = matmul_flops() / 1e9
    print(f"float32 matmul: {results['matmul_gflops']:.0f} GFLOP/s", flush=True)
    if "toy" not in skip:
        results["toy"] = toy_training(rounds, n, results["matmul_gflops"] * 1e9)
    if "mnist" not in skip:
        if args.data.exists():
            results["mnist"] = mnist_training(args.data, rounds, 400 if args.quick else 1000)
        else:
            print(f"mnist-cgan: skipped, no MNIST at {args.data} (pass --data)")
    if "e2e" not in skip:
        results["end_to_end"] = end_to_end(2000 if args.quick else 10_000, 1 if args.quick else 2)
    if "memory" not in skip:
        results["memory"] = memory(20_000 if args.quick else 100_000, 2_000 if args.quick else 10_000)
    table = markdown({**results, "toy": results.get("toy", {})})
    print("\n" + table)
    args.json.write_text(json.dumps(results, indent=2))
    args.json.with_suffix(".md").write_text(table)
    print(f"saved {args.json} and {args.json.with_suffix('.md')}")


if __name__ == "__main__":
    main()
