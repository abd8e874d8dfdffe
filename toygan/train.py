"""Compiled GAN training: a run is a pure function of a key, advanced a frame's worth of steps per call."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx, struct

from toygan.config import Scenario
from toygan.losses import discriminator_loss, generator_loss
from toygan.mixture import GaussianMixture
from toygan.models import make_discriminator, make_generator


class TrainState(struct.PyTreeNode):
    """Everything that changes during training; `step` and `train_key` fix every later batch."""

    step: jax.Array
    train_key: jax.Array
    g_params: nnx.State
    d_params: nnx.State
    g_opt: optax.OptState
    d_opt: optax.OptState


class StepLog(NamedTuple):
    """Per-step scalars (stacked to (n,) over a chunk): losses, mean D(x) and mean D(G(z))."""

    d_loss: jax.Array
    g_loss: jax.Array
    d_real: jax.Array
    d_fake: jax.Array


@dataclass(frozen=True, eq=False)
class Trainer:
    """Static setup of a scenario; its methods are pure functions of arrays, safe to jit and vmap.

    Hashed by identity, so that it can be a static argument of `jax.jit`.
    """

    scenario: Scenario
    mixture: GaussianMixture
    g_graph: nnx.GraphDef
    d_graph: nnx.GraphDef
    g_optimizer: optax.GradientTransformation
    d_optimizer: optax.GradientTransformation

    def init(self, key: jax.Array, lr_generator: float | jax.Array, lr_discriminator: float | jax.Array) -> TrainState:
        """Fresh networks and optimisers from one key; the learning rates live in the optimiser states,
        so that runs with different rates share one compiled program (and can be vmapped together)."""
        g_key, d_key, train_key = jax.random.split(key, 3)
        dim = self.mixture.dim
        _, g_params = nnx.split(make_generator(self.scenario.model, dim, g_key))
        _, d_params = nnx.split(make_discriminator(self.scenario.model, dim, d_key))
        return TrainState(
            step=jnp.zeros((), jnp.int32),
            train_key=train_key,
            g_params=g_params,
            d_params=d_params,
            g_opt=_with_learning_rate(self.g_optimizer.init(g_params), lr_generator),
            d_opt=_with_learning_rate(self.d_optimizer.init(d_params), lr_discriminator),
        )

    def view_noise(self, key: jax.Array) -> jax.Array:
        """The fixed latent points every frame shows, so the same points are seen moving."""
        view_key = jax.random.fold_in(key, 0x51E7)
        return jax.random.normal(view_key, (self.scenario.view.eval_samples, self.scenario.model.noise_dim))

    def generate(self, g_params: nnx.State, z_NxZ: jax.Array) -> jax.Array:
        return nnx.merge(self.g_graph, g_params)(z_NxZ)

    def logits(self, d_params: nnx.State, x_NxD: jax.Array) -> jax.Array:
        return nnx.merge(self.d_graph, d_params)(x_NxD)[:, 0]

    def train_step(self, state: TrainState) -> tuple[TrainState, StepLog]:
        """`d_steps` discriminator updates, then one generator update, each on fresh batches."""
        train = self.scenario.train
        noise_shape = (train.batch_size, self.scenario.model.noise_dim)
        step_key = jax.random.fold_in(state.train_key, state.step)
        d_key, g_key = jax.random.split(step_key)

        def d_objective(d_params, real_NxD, fake_NxD):
            real_N, fake_N = self.logits(d_params, real_NxD), self.logits(d_params, fake_NxD)
            aux = (jnp.mean(jax.nn.sigmoid(real_N)), jnp.mean(jax.nn.sigmoid(fake_N)))
            return discriminator_loss(real_N, fake_N), aux

        def d_update(carry, key):
            d_params, d_opt = carry
            real_key, noise_key = jax.random.split(key)
            real_NxD = self.mixture.sample(real_key, train.batch_size)
            fake_NxD = self.generate(state.g_params, jax.random.normal(noise_key, noise_shape))
            (loss, (d_real, d_fake)), grads = jax.value_and_grad(d_objective, has_aux=True)(
                d_params, real_NxD, fake_NxD
            )
            updates, d_opt = self.d_optimizer.update(grads, d_opt, d_params)
            return (optax.apply_updates(d_params, updates), d_opt), (loss, d_real, d_fake)

        (d_params, d_opt), (d_losses, d_reals, d_fakes) = jax.lax.scan(
            d_update, (state.d_params, state.d_opt), jax.random.split(d_key, train.d_steps)
        )

        def g_objective(g_params, z_NxZ):
            return generator_loss(self.logits(d_params, self.generate(g_params, z_NxZ)), train.generator_loss)

        g_loss, grads = jax.value_and_grad(g_objective)(state.g_params, jax.random.normal(g_key, noise_shape))
        updates, g_opt = self.g_optimizer.update(grads, state.g_opt, state.g_params)
        new_state = state.replace(
            step=state.step + 1,
            g_params=optax.apply_updates(state.g_params, updates),
            d_params=d_params,
            g_opt=g_opt,
            d_opt=d_opt,
        )
        return new_state, StepLog(d_losses[-1], g_loss, d_reals[-1], d_fakes[-1])

    def advance(self, state: TrainState, n_steps: int) -> tuple[TrainState, StepLog]:
        """`n_steps` training steps fused by `lax.scan`; the logs come stacked, shape (n_steps,)."""
        return jax.lax.scan(lambda s, _: self.train_step(s), state, length=n_steps)


def make_trainer(scenario: Scenario) -> Trainer:
    """Static setup: validated mixture, network structure and the two Adam optimisers.

    The compiled programs do not depend on the seed, the names or the learning rates (which are
    part of the training state), so runs that differ only in those share one trainer.
    """
    rates_as_state = dataclasses.replace(scenario.train, lr_generator=1.0, lr_discriminator=1.0)
    return _make_trainer(dataclasses.replace(scenario, name="", description="", seed=0, train=rates_as_state))


@functools.lru_cache(maxsize=16)
def _make_trainer(scenario: Scenario) -> Trainer:
    mixture = scenario.mixture.build()
    model, train = scenario.model, scenario.train
    abstract_key = jax.random.key(0)
    g_graph, _ = nnx.split(nnx.eval_shape(lambda: make_generator(model, mixture.dim, abstract_key)))
    d_graph, _ = nnx.split(nnx.eval_shape(lambda: make_discriminator(model, mixture.dim, abstract_key)))
    return Trainer(
        scenario=scenario,
        mixture=mixture,
        g_graph=g_graph,
        d_graph=d_graph,
        g_optimizer=_adam(train),
        d_optimizer=_adam(train),
    )


def _adam(train) -> optax.GradientTransformation:
    """Adam, then the cosine decay if asked for, then minus the learning rate kept in the state."""
    parts = [optax.scale_by_adam(b1=train.beta1, b2=train.beta2)]
    if train.lr_schedule == "cosine":
        parts.append(optax.scale_by_schedule(optax.cosine_decay_schedule(1.0, train.steps)))
    parts.append(optax.inject_hyperparams(optax.scale)(step_size=-1.0))
    return optax.chain(*parts)


def _with_learning_rate(opt_state: tuple, learning_rate) -> tuple:
    injected = opt_state[-1]
    hyperparams = {**injected.hyperparams, "step_size": -jnp.asarray(learning_rate, jnp.float32)}
    return (*opt_state[:-1], injected._replace(hyperparams=hyperparams))


@partial(jax.jit, static_argnums=(0, 2))
def advance(trainer: Trainer, state: TrainState, n_steps: int) -> tuple[TrainState, StepLog]:
    """Jitted `Trainer.advance`; compiled once per (trainer, chunk length)."""
    return trainer.advance(state, n_steps)


@partial(jax.jit, static_argnums=0)
def init_state(trainer: Trainer, key: jax.Array, lr_generator, lr_discriminator) -> TrainState:
    """Jitted `Trainer.init`: one compiled call instead of many small eager ones."""
    return trainer.init(key, lr_generator, lr_discriminator)


def start(trainer: Trainer, scenario: Scenario) -> TrainState:
    """The initial state of `scenario`'s run: its seed and its learning rates."""
    train = scenario.train
    return init_state(trainer, jax.random.key(scenario.seed), train.lr_generator, train.lr_discriminator)
