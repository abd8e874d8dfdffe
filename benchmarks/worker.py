"""One side of a speed comparison, in a process of its own (toygan never shares a process with PyTorch,
whose OpenMP threads slow XLA's down when both are loaded):

    python -m benchmarks.worker toygan|pytorch SETTING STEPS [--data PATH]

Warms up (compiles), trains STEPS steps, and prints the steps/s as JSON.
"""

from __future__ import annotations

import argparse
import json
import time

# The plain GAN of See_GANs, as the PyTorch reference trains it (the ring-8 scenario itself packs).
SEE_GANS = {
    "model.noise_dim": 256,
    "train.batch_size": 512,
    "model.hidden": [128, 128],
    "model.pack": 1,
    "train.lr_generator": 2e-4,
    "train.lr_discriminator": 2e-4,
}
# The Keras CGAN as the PyTorch reference trains it: one Adam rate, one batch for both networks, no
# moving average of G, no R1.
KERAS_CGAN = {
    "train.lr_discriminator": 2e-4,
    "train.generator_batch_size": 0,
    "train.generator_ema": 0.0,
    "train.r1_gamma": 0.0,
}
SETTINGS = {  # name -> (scenario, overrides, noise size, batch)
    "see-gans": ("ring-8", SEE_GANS, 256, 512),
    "two-gaussians": ("two-gaussians", {}, 2, 256),
    "mnist-cgan-32": ("mnist-cgan", {**KERAS_CGAN, "train.batch_size": 32}, 100, 32),
    "mnist-cgan-64": ("mnist-cgan", {**KERAS_CGAN, "train.batch_size": 64}, 100, 64),
}


def toygan_rate(setting: str, steps: int, data: str | None) -> dict:
    """Steps/s, and where the time goes: compile time, cores kept busy, and the share of a step spent
    drawing its latent noise (threefry normals)."""
    import jax

    from benchmarks.flops import step_flops
    from toygan.config import load_scenario
    from toygan.engine.train import advance, make_trainer, start

    name, overrides, _, _ = SETTINGS[setting]
    scenario = load_scenario(name, {**overrides, **({"mnist.path": data} if name.startswith("mnist") else {})})
    trainer = make_trainer(scenario)
    chunk = scenario.view.frame_every  # as a run does: one compiled call per frame
    t = time.perf_counter()
    state = jax.block_until_ready(advance(trainer, start(trainer, scenario), chunk)[0])
    first_call = time.perf_counter() - t
    cpu, t = time.process_time(), time.perf_counter()
    for _ in range(steps // chunk):
        state, _ = advance(trainer, state, chunk)
    jax.block_until_ready(state)
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    step_s = wall / ((steps // chunk) * chunk)
    return {
        "steps_per_s": 1 / step_s,
        "flops_per_step": step_flops(trainer, state),
        "compile_s": first_call - chunk * step_s,
        "cores_busy": cpu / wall,
        "noise_share": noise_seconds_per_step(scenario, chunk) / step_s,
    }


def noise_seconds_per_step(scenario, chunk: int) -> float:
    """Seconds per step to draw a step's latent noise alone ((d_steps + 1) normal batches of
    (batch, noise_dim)), compiled as a scan of `chunk` steps like the training loop. The draws are
    summed so that the compiler cannot drop any: a slight overestimate."""
    import jax
    import jax.numpy as jnp

    shape = (scenario.train.d_steps + 1, scenario.train.batch_size, scenario.model.noise_dim)

    @jax.jit
    def draws(key):
        body = lambda total, step: (total + jnp.sum(jax.random.normal(jax.random.fold_in(key, step), shape)), None)
        return jax.lax.scan(body, 0.0, jnp.arange(chunk))[0]

    key = jax.random.key(0)
    draws(key).block_until_ready()
    t = time.perf_counter()
    for _ in range(10):
        draws(key).block_until_ready()
    return (time.perf_counter() - t) / (10 * chunk)


def pytorch_rate(setting: str, steps: int, data: str | None) -> dict:
    import numpy as np
    import torch

    from benchmarks.reference import MnistCGAN, ToyGAN
    from toygan.config import load_scenario

    torch.manual_seed(0)
    name, overrides, noise, batch = SETTINGS[setting]
    if name.startswith("mnist"):
        from toygan.mnist.data import load_mnist

        train = load_mnist(data).train
        model = MnistCGAN(train.images_NxHxW, train.labels_N, batch)
    else:
        mixture = load_scenario(name, overrides).data.build()
        model = ToyGAN(mixture.means_KxD, float(np.sqrt(mixture.variances_KxD[0, 0])), noise, [128, 128], batch)
    model.steps(20)
    t = time.perf_counter()
    model.steps(steps)
    return {"steps_per_s": steps / (time.perf_counter() - t), "threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("side", choices=["toygan", "pytorch"])
    parser.add_argument("setting", choices=list(SETTINGS))
    parser.add_argument("steps", type=int)
    parser.add_argument("--data")
    args = parser.parse_args()
    rate = toygan_rate if args.side == "toygan" else pytorch_rate
    print(json.dumps(rate(args.setting, args.steps, args.data)))


if __name__ == "__main__":
    main()
