"""toygan against a PyTorch eager reference and against the machine's own limit.

    pip install -e ".[bench]"
    python -m benchmarks [--quick] [--json benchmarks/latest.json] [--data ../shared/data/mnist/mnist.npz]

1. toy training steps/s, toygan vs PyTorch, at the See_GANs setting (batch 512, noise 256, 2x128) and
   at the `two-gaussians` default, alternating rounds in one process;
2. the fraction of the machine's float32 matrix-multiply FLOP/s that toygan's training reaches
   (FLOPs per step from XLA's cost analysis);
3. the `mnist-cgan` model at batch 32 and 64, toygan vs PyTorch;
4. end to end: `toygan run ring-8 --steps 10000` at the See_GANs setting (frame every 50, GIF) against
   PyTorch + a matplotlib redraw per frame + an imageio GIF, wall time and peak memory; frames/s of
   toygan's views, plain and all panels;
5. peak memory of a 100,000-step run against a 10,000-step run.

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
import numpy as np
import psutil
import torch

from benchmarks.reference import MnistCGAN, ToyGAN
from benchmarks.views import frames_per_second
from toygan.config import load_scenario
from toygan.mnist import load_mnist
from toygan.train import advance, make_trainer, start

ROOT = Path(__file__).resolve().parent.parent
SEE_GANS = {"model.noise_dim": 256, "train.batch_size": 512, "model.hidden": [128, 128]}
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "mnist" / "mnist.npz"


def matmul_flops(size: int = 2048, repeats: int = 10) -> float:
    """FLOP/s of a large float32 matrix product compiled by XLA: the machine's practical limit."""
    a = jax.random.normal(jax.random.key(0), (size, size))
    product = jax.jit(lambda a: a @ a)
    product(a).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        product(a).block_until_ready()
        best = min(best, time.perf_counter() - t)
    return 2 * size**3 / best


def step_flops(trainer, state) -> float:
    """FLOPs of one training step, from XLA's cost analysis of the compiled step."""
    compiled = jax.jit(trainer.train_step).lower(state, trainer.source.arrays()).compile()
    analysis = compiled.cost_analysis()
    analysis = analysis[0] if isinstance(analysis, list) else analysis
    return float(analysis["flops"])


def toygan_timer(scenario, chunk: int):
    """A function that trains `n` steps in chunks of `chunk` (as a run does between frames) and returns steps/s."""
    trainer = make_trainer(scenario)
    state = start(trainer, scenario)
    state = jax.block_until_ready(advance(trainer, state, chunk)[0])  # compile

    def timed(n: int) -> float:
        nonlocal state
        t = time.perf_counter()
        for _ in range(n // chunk):
            state, logs = advance(trainer, state, chunk)
        jax.block_until_ready(state)
        return n / (time.perf_counter() - t)

    return timed, trainer, state


def torch_timer(model):
    model.steps(20)  # warm-up

    def timed(n: int) -> float:
        t = time.perf_counter()
        model.steps(n)
        return n / (time.perf_counter() - t)

    return timed


def alternate(timers: dict, n: int, rounds: int) -> dict[str, float]:
    """Median steps/s of each timer over `rounds` alternating rounds, so drift in the machine's speed hits all."""
    rates: dict[str, list[float]] = {name: [] for name in timers}
    for _ in range(rounds):
        for name, timed in timers.items():
            rates[name].append(timed(n))
    return {name: statistics.median(values) for name, values in rates.items()}


def toy_training(rounds: int, n: int, limit: float) -> dict:
    results = {}
    settings = {
        "See_GANs setting (ring-8, batch 512, noise 256, 2x128)": ("ring-8", SEE_GANS, 256, 512),
        "two-gaussians default (batch 256, noise 2, 2x128)": ("two-gaussians", {}, 2, 256),
    }
    for label, (name, overrides, noise, batch) in settings.items():
        scenario = load_scenario(name, overrides)
        timed, trainer, state = toygan_timer(scenario, scenario.view.frame_every)
        mixture = trainer.mixture
        torch.manual_seed(0)
        reference = ToyGAN(mixture.means_KxD, float(np.sqrt(mixture.variances_KxD[0, 0])), noise, [128, 128], batch)
        rates = alternate({"toygan": timed, "pytorch": torch_timer(reference)}, n, rounds)
        flops = step_flops(trainer, state)
        results[label] = {
            **rates,
            "speedup": rates["toygan"] / rates["pytorch"],
            "flops_per_step": flops,
            "fraction_of_matmul": flops * rates["toygan"] / limit,
        }
        print(f"{label}: toygan {rates['toygan']:,.0f} steps/s, PyTorch {rates['pytorch']:,.0f} steps/s, "
              f"{rates['toygan'] / rates['pytorch']:.2f}x; {flops / 1e6:.1f} MFLOP/step = "
              f"{100 * flops * rates['toygan'] / limit:.0f}% of matmul FLOP/s", flush=True)
    return results


def mnist_training(data_path: Path, rounds: int, n: int) -> dict:
    data = load_mnist(data_path)
    results = {}
    for batch in (32, 64):
        scenario = load_scenario("mnist-cgan", {"mnist.path": str(data_path), "train.batch_size": batch})
        timed, _, _ = toygan_timer(scenario, scenario.view.frame_every)
        torch.manual_seed(0)
        reference = MnistCGAN(data.train.images_NxHxW, data.train.labels_N, batch)
        rates = alternate({"toygan": timed, "pytorch": torch_timer(reference)}, n, rounds)
        results[f"batch {batch}"] = {**rates, "speedup": rates["toygan"] / rates["pytorch"]}
        print(f"mnist-cgan batch {batch}: toygan {rates['toygan']:,.0f} steps/s, PyTorch {rates['pytorch']:,.0f} "
              f"steps/s, {rates['toygan'] / rates['pytorch']:.2f}x", flush=True)
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
            walls["reference"].append(measure([sys.executable, "-m", "benchmarks.reference_run", str(Path(tmp) / f"r{k}.gif"),
                                               "--steps", str(steps)]))
    result = {
        name: {"wall_s": statistics.median(r["wall_s"] for r in runs), "peak_rss_mb": max(r["peak_rss_mb"] for r in runs)}
        for name, runs in walls.items()
    }
    result["reference"]["draw_fps"] = json.loads(walls["reference"][-1]["output"].splitlines()[-1])["draw_fps"]
    result["speedup"] = result["reference"]["wall_s"] / result["toygan"]["wall_s"]
    result["frames_per_s"] = {name: frames_per_second("ring-8", panels)["frames_per_s"] for name, panels in
                              (("plain", []), ("default", None), ("all views", ["all"]))}
    print(f"end to end, ring-8 {steps} steps at the See_GANs setting: toygan {result['toygan']['wall_s']:.1f} s "
          f"({result['toygan']['peak_rss_mb']:.0f} MB), reference {result['reference']['wall_s']:.1f} s "
          f"({result['reference']['peak_rss_mb']:.0f} MB): {result['speedup']:.2f}x", flush=True)
    return result


def memory(long_steps: int, short_steps: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        short = measure(toygan_command("two-gaussians", short_steps, Path(tmp) / "short"))
        long = measure(toygan_command("two-gaussians", long_steps, Path(tmp) / "long"))
    result = {"short": {"steps": short_steps, **_drop_output(short)}, "long": {"steps": long_steps, **_drop_output(long)},
              "ratio": long["peak_rss_mb"] / short["peak_rss_mb"]}
    print(f"memory: {long_steps:,} steps {long['peak_rss_mb']:.0f} MB vs {short_steps:,} steps "
          f"{short['peak_rss_mb']:.0f} MB: {result['ratio']:.2f}x", flush=True)
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
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    }


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
        lines.append(f"| {label} | {r['toygan']:,.0f} steps/s ({100 * r['fraction_of_matmul']:.0f}% of matmul FLOP/s, "
                     f"{r['flops_per_step'] / 1e6:.1f} MFLOP/step) | {r['pytorch']:,.0f} steps/s | {r['speedup']:.2f}x | {next(targets)} |")
    for label, r in results.get("mnist", {}).items():
        target = "≥ 3x" if label == "batch 32" else ""
        lines.append(f"| mnist-cgan, {label} | {r['toygan']:,.0f} steps/s | {r['pytorch']:,.0f} steps/s | {r['speedup']:.2f}x | {target} |")
    if "end_to_end" in results:
        e = results["end_to_end"]
        lines.append(f"| end to end, ring-8 10,000 steps, See_GANs setting, frame every 50 + GIF | "
                     f"{e['toygan']['wall_s']:.1f} s, peak {e['toygan']['peak_rss_mb']:.0f} MB | "
                     f"{e['reference']['wall_s']:.1f} s, peak {e['reference']['peak_rss_mb']:.0f} MB | "
                     f"{e['speedup']:.2f}x | ≥ 3x, less memory |")
        f = e["frames_per_s"]
        lines.append(f"| frames/s (draw + GIF) | plain {f['plain']:.0f}, default {f['default']:.0f}, all views "
                     f"{f['all views']:.0f} | {e['reference']['draw_fps']:.0f} (draw + PNG) | | |")
    if "memory" in results:
        r = results["memory"]
        lines.append(f"| peak memory, two-gaussians {r['long']['steps']:,} vs {r['short']['steps']:,} steps | "
                     f"{r['long']['peak_rss_mb']:.0f} MB vs {r['short']['peak_rss_mb']:.0f} MB | | {r['ratio']:.2f}x | ≤ 1.2x |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Fewer steps and rounds, no 100,000-step run.")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "latest.json")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="MNIST for the CGAN benchmark.")
    parser.add_argument("--skip", default="", help="Comma-separated sections to skip: toy,mnist,e2e,memory.")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    rounds, n = (2, 500) if args.quick else (3, 2000)
    results: dict = {"machine": machine()}
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
