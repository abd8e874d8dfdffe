"""The end-to-end reference a user would write: PyTorch training, a matplotlib redraw per frame
(clear, scatter, save) and an imageio GIF of all frames at the end.

    python -m benchmarks.reference_run OUT.gif [--steps 10000] [--frame-every 50]

Prints one JSON line: wall time, frames, frames/s of the drawing part.
"""

from __future__ import annotations

import argparse
import io
import json
import time

import imageio.v3 as iio
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from benchmarks.reference import ToyGAN, ring  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--frame-every", type=int, default=50)
    args = parser.parse_args()
    started = time.perf_counter()
    torch.manual_seed(0)
    gan = ToyGAN(ring(), std=0.02, noise_dim=256, hidden=[128, 128], batch=512)
    real = gan.real().numpy()
    figure, ax = plt.subplots(figsize=(4.6, 5.1), dpi=100)
    frames, drawing = [], 0.0

    def frame(step: int) -> None:
        nonlocal drawing
        t = time.perf_counter()
        fake = gan.sample(1000)
        ax.clear()
        ax.scatter(real[:, 0], real[:, 1], s=14, c="tab:red", marker="+", label="real")
        ax.scatter(fake[:, 0], fake[:, 1], s=12, c="tab:blue", marker="x", label="generated")
        ax.set_xlim(-3, 3)
        ax.set_ylim(-3, 3)
        ax.set_title(f"step {step}")
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        frames.append(iio.imread(buffer.getvalue())[..., :3])
        drawing += time.perf_counter() - t

    frame(0)
    for step in range(args.frame_every, args.steps + 1, args.frame_every):
        gan.steps(args.frame_every)
        frame(step)
    t = time.perf_counter()
    iio.imwrite(args.out, np.stack(frames), duration=100, loop=0)
    encoding = time.perf_counter() - t
    wall = time.perf_counter() - started
    print(json.dumps({"wall_s": wall, "frames": len(frames), "draw_fps": len(frames) / drawing, "encode_s": encoding}))


if __name__ == "__main__":
    main()
