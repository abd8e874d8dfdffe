"""Compiled GAN training: a run is a pure function of a key, advanced a frame's worth of steps per call."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from functools import partial
from typing import NamedTuple, Protocol

import jax
import jax.numpy as jnp
import optax
from flax import nnx, struct

from toygan.config import Scenario
from toygan.engine import cache, objectives, threefry
from toygan.engine.models import make_discriminator, make_generator

PRECISE_BN_BATCHES = 64  # batches behind the averaged generator's batch-norm statistics at each frame
FINAL_BN_BATCHES = 4096  # ... and at the end of a run (`settle`)


class TrainState(struct.PyTreeNode):
    """Everything that changes during training; `step` and `train_key` fix every later batch.

    `*_stats` hold the networks' non-trained variables (batch-norm running averages; empty for
    networks without batch norm). `g_avg_*` are the moving average of the generator's weights and
    its re-estimated batch statistics when `train.generator_ema` > 0, and empty otherwise.
    """

    step: jax.Array
    train_key: jax.Array
    g_params: nnx.State
    d_params: nnx.State
    g_opt: optax.OptState
    d_opt: optax.OptState
    g_stats: nnx.State
    d_stats: nnx.State
    g_avg_params: nnx.State | dict
    g_avg_stats: nnx.State | dict


class Salt:
    """Where a key is folded with a constant (`jax.random.fold_in(key, Salt.X)`) to draw something
    independent of what the key itself draws. Named in one place; the values fix every run's numbers."""

    DATA_INIT = 0xDA7A  # the real points D's first layer starts through (`model.data_init`)
    VIEW_NOISE = 0x51E7  # the fixed noise every frame shows
    DROPOUT = 0xD0  # D's dropout masks in an update
    LABELS = 0x1AB  # the labels asked of a conditional G
    PRECISE_BN = 0xB17  # the batches behind the averaged G's batch-norm statistics
    INTERPOLATES = 0x6E9  # WGAN-GP's interpolation weights
    UNROLL = 0x0A2  # the batches of an unrolled D's look-ahead
    CONTROL = 0xC7A  # a single D or G update asked for from the live window (`d` / `g`)


class StepLog(NamedTuple):
    """Per-step scalars (stacked to (n,) over a chunk): losses (the discriminator's without the R1
    penalty), mean D(x) and mean D(G(z))."""

    d_loss: jax.Array
    g_loss: jax.Array
    d_real: jax.Array
    d_fake: jax.Array


class Source(Protocol):
    """Training batches of one kind of data (`toygan.kinds`), drawn inside the compiled program.

    `arrays()` are the data's device arrays, passed to the compiled program as an argument rather
    than baked into it as constants (which would copy a data set into every compilation); `draw`
    gives a batch (x_NxD in the networks' coordinates, labels y_N), `to_model` / `to_data` map
    between the data's coordinates and the networks'."""

    dim: int
    n_classes: int

    def arrays(self) -> tuple: ...
    def draw(self, arrays: tuple, key: jax.Array, n: int, group: int = 1) -> tuple[jax.Array, jax.Array]: ...
    def to_model(self, x_NxD: jax.Array) -> jax.Array: ...
    def to_data(self, x_NxD: jax.Array) -> jax.Array: ...


def _apply(graph: nnx.GraphDef, params: nnx.State, stats: nnx.State, *inputs, train: bool, key=None):
    """Run a network as a pure function: (output, its non-trained variables after the call)."""
    model = nnx.merge(graph, params, stats, copy=True)
    output = model(*inputs, train=train, key=key)
    return output, nnx.split(model, nnx.Param, ...)[2]


@dataclass(frozen=True, eq=False)
class Trainer:
    """Static setup of a scenario; its methods are pure functions of arrays, safe to jit and vmap.

    Hashed by identity, so that it can be a static argument of `jax.jit`. Methods that draw batches
    take the source's arrays (`source.arrays()`) as an argument.
    """

    scenario: Scenario
    source: Source
    g_graph: nnx.GraphDef
    d_graph: nnx.GraphDef
    g_optimizer: optax.GradientTransformation
    d_optimizer: optax.GradientTransformation

    @property
    def conditional(self) -> bool:
        return self.scenario.model.conditioning != "none"

    def init(self, key: jax.Array, lr_generator: float | jax.Array, lr_discriminator: float | jax.Array) -> TrainState:
        """Fresh networks and optimisers from one key; the learning rates live in the optimiser states,
        so that runs with different rates share one compiled program (and can be vmapped together)."""
        g_key, d_key, train_key = jax.random.split(key, 3)
        generator, discriminator = self._networks(g_key, d_key)
        if self.scenario.model.data_init:
            units, pack = discriminator.first_units, self.scenario.model.pack
            real_UPxD, _ = self.source.draw(self.source.arrays(), jax.random.fold_in(d_key, Salt.DATA_INIT), units * pack)
            discriminator.start_at(real_UPxD.reshape(units, -1))
        _, g_params, g_stats = nnx.split(generator, nnx.Param, ...)
        _, d_params, d_stats = nnx.split(discriminator, nnx.Param, ...)
        return TrainState(
            step=jnp.zeros((), jnp.int32),
            train_key=train_key,
            g_params=g_params,
            d_params=d_params,
            g_opt=_with_learning_rate(self.g_optimizer.init(g_params), lr_generator),
            d_opt=_with_learning_rate(self.d_optimizer.init(d_params), lr_discriminator),
            g_stats=g_stats,
            d_stats=d_stats,
            g_avg_params=g_params if self.averaged else {},
            g_avg_stats=g_stats if self.averaged else {},
        )

    @property
    def averaged(self) -> bool:
        """Whether frames, metrics and samples come from the moving average of the generator."""
        return self.scenario.train.generator_ema > 0

    def has_average_stats(self, state: TrainState) -> bool:
        """Whether the shown generator is the average and has batch-norm statistics, re-estimated for
        its weights at every frame (`precise_batch_stats`) and at the run's end (`settle`)."""
        return self.averaged and bool(state.g_avg_stats)

    def shown_generator(self, state: TrainState) -> tuple[nnx.State, nnx.State]:
        """The generator's weights and statistics that frames, metrics, `sample` and `eval` use."""
        return (state.g_avg_params, state.g_avg_stats) if self.averaged else (state.g_params, state.g_stats)

    def _networks(self, g_key: jax.Array, d_key: jax.Array):
        model, dim, classes = self.scenario.model, self.source.dim, self.source.n_classes
        return make_generator(model, dim, g_key, classes), make_discriminator(model, dim, d_key, classes)

    def view_noise(self, key: jax.Array) -> jax.Array:
        """The fixed latent points every frame shows, so the same points are seen moving."""
        view_key = jax.random.fold_in(key, Salt.VIEW_NOISE)
        return jax.random.normal(view_key, (self.scenario.view.eval_samples, self.scenario.model.noise_dim))

    def generate(self, state: TrainState, z_NxZ: jax.Array, y_N: jax.Array | None = None) -> jax.Array:
        """Samples for noise `z_NxZ` (and labels `y_N`, for conditional models), in inference mode."""
        y_N = jnp.zeros(z_NxZ.shape[:1], jnp.int32) if y_N is None else y_N
        return self.source.to_data(_apply(self.g_graph, *self.shown_generator(state), z_NxZ, y_N, train=False)[0])

    def logits(self, state: TrainState, x_NxD: jax.Array, y_N: jax.Array | None = None) -> jax.Array:
        """Discriminator logits in inference mode (no dropout); D(x) = sigmoid(logit)."""
        y_N = jnp.zeros(x_NxD.shape[:1], jnp.int32) if y_N is None else y_N
        # A packed discriminator (PacGAN) judges sets of `pack` points: here, `pack` copies of each point.
        x_NxP = jnp.tile(self.source.to_model(x_NxD), (1, self.scenario.model.pack))
        return _apply(self.d_graph, state.d_params, state.d_stats, x_NxP, y_N, train=False)[0][:, 0]

    # --- one training step, as named pure functions -------------------------------------------------------

    def d_outputs(self, d_params, d_stats, x_NxD: jax.Array, y_N: jax.Array, key) -> tuple[jax.Array, nnx.State]:
        """D's raw outputs (logits, or critic values) on N / pack sets: consecutive runs of `pack` rows,
        concatenated (PacGAN), in training mode (dropout from `key`)."""
        pack = self.scenario.model.pack
        x_MxP, y_M = x_NxD.reshape(x_NxD.shape[0] // pack, -1), y_N[::pack]
        out_Mx1, d_stats = _apply(self.d_graph, d_params, d_stats, x_MxP, y_M, train=True, key=key)
        return out_Mx1[:, 0], d_stats

    def fake_labels(self, key: jax.Array, n: int) -> jax.Array:
        """Uniform labels for `n` generated samples (zeros for unconditional models), shared by runs of
        `label_run` samples: a packed D gets one label per pack, and the mode-seeking term's pairs one."""
        if not self.conditional:
            return jnp.zeros((n,), jnp.int32)
        run = self.scenario.label_run
        return jnp.repeat(jax.random.randint(jax.random.fold_in(key, Salt.LABELS), (n // run,), 0, self.source.n_classes), run)

    def d_penalties(self, d_params, d_stats, real, fake, key, r1_weight: float) -> jax.Array | float:
        """The discriminator's penalties: R1 on real data (Mescheder et al. 2018), r1_gamma / 2 * E |grad_x D|^2
        (weighted by `r1_weight` for lazy R1), and for "wgan-gp" the gradient penalty on interpolates
        (Gulrajani et al. 2017)."""
        train, pack = self.scenario.train, self.scenario.model.pack
        penalty = 0.0
        if train.r1_gamma > 0 and r1_weight > 0:  # (a Python number: lazy R1's other branch skips the work)
            real_outputs = lambda x_NxD: jnp.sum(self.d_outputs(d_params, d_stats, x_NxD, real[1], key)[0])
            grad_NxD = jax.grad(real_outputs)(real[0])
            penalty = r1_weight * (train.r1_gamma / 2 * jnp.sum(grad_NxD**2) * pack / train.batch_size)
        if train.loss == "wgan-gp":
            critic = lambda x_MxP: self.d_outputs(d_params, d_stats, x_MxP.reshape(-1, self.source.dim), real[1], key)[0]
            pack_rows = lambda x_NxD: x_NxD.reshape(x_NxD.shape[0] // pack, -1)  # the penalty is on D's inputs: whole packs
            gp_key = jax.random.fold_in(key, Salt.INTERPOLATES)
            penalty += objectives.gradient_penalty(critic, pack_rows(real[0]), pack_rows(fake[0]), gp_key, train.gp_lambda)
        return penalty

    def d_objective(self, d_params, d_stats, real, fake, key, r1_weight: float):
        """D's loss under `train.loss`, plus its penalties; aux: D's new statistics, the loss without
        penalties, and the mean shown output (D(x) for "log", the critic's value otherwise) on reals and fakes."""
        train, half = self.scenario.train, self.scenario.train.batch_size // self.scenario.model.pack
        # Real and fake batches in one pass: fewer, larger matrix products (the discriminator has no batch
        # norm, so this is the same function as two passes). Packs never mix the two: the batch is a multiple of `pack`.
        both = (jnp.concatenate([real[0], fake[0]]), jnp.concatenate([real[1], fake[1]]))
        out_2M, new_d_stats = self.d_outputs(d_params, d_stats, *both, key)
        real_M, fake_M = out_2M[:half], out_2M[half:]
        loss = objectives.discriminator_loss(train.loss, real_M, fake_M)
        penalty = self.d_penalties(d_params, d_stats, real, fake, key, r1_weight)
        shown = lambda out: jnp.mean(objectives.shown_output(train.loss, out))
        return loss + penalty, (new_d_stats, loss, shown(real_M), shown(fake_M))

    def d_update(self, g_params, g_stats, data, step, carry, key):
        """One discriminator update on a fresh real batch and fakes from the generator (`g_params`)."""
        d_params, d_stats, d_opt = carry
        train, model = self.scenario.train, self.scenario.model
        real_key, noise_key = jax.random.split(key)
        dropout_key = jax.random.fold_in(key, Salt.DROPOUT)
        real = self.source.draw(data, real_key, train.batch_size, group=model.pack)
        fake_y_N = self.fake_labels(noise_key, train.batch_size)
        z_NxZ = jax.random.normal(noise_key, (train.batch_size, model.noise_dim))
        fake_x_NxD, _ = _apply(self.g_graph, g_params, g_stats, z_NxZ, fake_y_N, train=True)

        def gradients(r1_weight: float):
            objective = lambda p: self.d_objective(p, d_stats, real, (fake_x_NxD, fake_y_N), dropout_key, r1_weight)
            return jax.value_and_grad(objective, has_aux=True)(d_params)

        if train.r1_gamma > 0 and train.r1_every > 1:
            # Lazy R1 (Karras et al. 2020): the penalty, k times over, in every k-th step only (one branch runs).
            (_, aux), grads = jax.lax.cond(step % train.r1_every == 0, lambda: gradients(float(train.r1_every)), lambda: gradients(0.0))
        else:
            (_, aux), grads = gradients(1.0)
        d_stats, loss, d_real, d_fake = aux
        updates, d_opt = self.d_optimizer.update(grads, d_opt, d_params)
        d_params = optax.apply_updates(d_params, updates)
        if train.loss == "wgan":
            d_params = objectives.clip_weights(d_params, train.clip)  # Arjovsky et al. 2017, Algorithm 1
        return (d_params, d_stats, d_opt), (loss, d_real, d_fake)

    def g_objective(self, g_params, g_stats, d_carry, data, step, z_NxZ, y_N, key):
        """G's loss under `train.loss` against the discriminator `d_carry` (params, statistics, optimiser),
        plus MSGAN's mode-seeking term; aux: G's new statistics and the loss without the term.

        With `train.unroll` = k > 0, D is first taken k more updates ahead, differentiably, with G's
        current samples, and G's loss is against that D (unrolled GANs, Metz et al. 2017): G sees how D
        would answer its move."""
        train = self.scenario.train
        if train.unroll > 0:
            ahead = lambda carry, k: self.d_update(g_params, g_stats, data, step, carry, k)
            unroll_keys = jax.random.split(jax.random.fold_in(key, Salt.UNROLL), train.unroll)
            d_carry, _ = jax.lax.scan(ahead, d_carry, unroll_keys)
        d_params, d_stats, _ = d_carry
        fake_NxD, g_stats = _apply(self.g_graph, g_params, g_stats, z_NxZ, y_N, train=True)
        out_N, _ = self.d_outputs(d_params, d_stats, fake_NxD, y_N, key)
        form = train.generator_loss if train.loss == "log" else None
        loss = objectives.generator_loss(train.loss, out_N, form)
        seeking = train.mode_seeking * objectives.mode_seeking_term(fake_NxD, z_NxZ) if train.mode_seeking > 0 else 0.0
        return loss + seeking, (g_stats, loss)

    def g_update(self, state: TrainState, d_carry, data, key):
        """One generator update on fresh noise against the discriminator `d_carry`."""
        train, noise_dim = self.scenario.train, self.scenario.model.noise_dim
        g_batch = train.generator_batch_size or train.batch_size  # G's update may draw another number of fakes
        z_NxZ, y_N = jax.random.normal(key, (g_batch, noise_dim)), self.fake_labels(key, g_batch)
        objective = lambda p: self.g_objective(
            p, state.g_stats, d_carry, data, state.step, z_NxZ, y_N, jax.random.fold_in(key, Salt.DROPOUT)
        )
        (_, (g_stats, loss)), grads = jax.value_and_grad(objective, has_aux=True)(state.g_params)
        updates, g_opt = self.g_optimizer.update(grads, state.g_opt, state.g_params)
        return optax.apply_updates(state.g_params, updates), g_stats, g_opt, loss

    def average(self, step: jax.Array, g_params, g_avg_params):
        """The moving average of G's weights after `step`. Warmed up, so that early frames do not lag behind
        G: the decay grows as (1 + step) / (power + 2 + step) up to generator_ema (power 8 is TensorFlow's
        ExponentialMovingAverage with num_updates); meanwhile step t's weights count about as t^power."""
        train = self.scenario.train
        if not self.averaged:
            return g_avg_params
        decay = jnp.minimum(train.generator_ema, (1.0 + step) / (train.generator_ema_power + 2.0 + step))
        return optax.incremental_update(g_params, g_avg_params, 1 - decay)

    def train_step(self, state: TrainState, data) -> tuple[TrainState, StepLog]:
        """`d_steps` discriminator updates, then one generator update, each on fresh batches. With
        `train.updates = "alternating"` G's update is against the updated D; with "simultaneous" both
        updates start from the same parameters (G against the D of the step's start)."""
        train = self.scenario.train
        d_key, g_key = jax.random.split(jax.random.fold_in(state.train_key, state.step))
        d_start = (state.d_params, state.d_stats, state.d_opt)
        d_step = lambda carry, key: self.d_update(state.g_params, state.g_stats, data, state.step, carry, key)
        d_carry, (d_losses, d_reals, d_fakes) = jax.lax.scan(d_step, d_start, jax.random.split(d_key, train.d_steps))
        g_params, g_stats, g_opt, g_loss = self.g_update(state, d_carry if train.updates == "alternating" else d_start, data, g_key)
        d_params, d_stats, d_opt = d_carry
        new_state = state.replace(
            step=state.step + 1,
            g_params=g_params,
            g_avg_params=self.average(state.step, g_params, state.g_avg_params),
            d_params=d_params,
            g_opt=g_opt,
            d_opt=d_opt,
            g_stats=g_stats,
            d_stats=d_stats,
        )
        return new_state, StepLog(d_losses[-1], g_loss, d_reals[-1], d_fakes[-1])

    def single_update(self, state: TrainState, data, network: str, count: jax.Array) -> tuple[TrainState, jax.Array]:
        """One update of `network` ("d" or "g") alone, as the live window's `d` / `g` keys ask: `step` stays
        (it counts training steps), and the batch comes from a key of its own, `count` (the run's number of
        such updates so far) folded into the step's key, so that no training step's batch is drawn twice.
        Returns the new state and the update's loss."""
        key = jax.random.fold_in(jax.random.fold_in(jax.random.fold_in(state.train_key, state.step), Salt.CONTROL), count)
        d_carry = (state.d_params, state.d_stats, state.d_opt)
        if network == "d":
            (d_params, d_stats, d_opt), (loss, _, _) = self.d_update(state.g_params, state.g_stats, data, state.step, d_carry, key)
            return state.replace(d_params=d_params, d_stats=d_stats, d_opt=d_opt), loss
        g_params, g_stats, g_opt, loss = self.g_update(state, d_carry, data, key)
        g_avg_params = self.average(state.step, g_params, state.g_avg_params)
        state = state.replace(g_params=g_params, g_stats=g_stats, g_opt=g_opt, g_avg_params=g_avg_params)
        if self.has_average_stats(state):
            state = state.replace(g_avg_stats=self.precise_batch_stats(state))
        return state, loss

    def advance(self, state: TrainState, data, n_steps: int) -> tuple[TrainState, StepLog]:
        """`n_steps` training steps fused by `lax.scan`; the logs come stacked, shape (n_steps,)."""
        state, logs = jax.lax.scan(lambda s, _: self.train_step(s, data), state, length=n_steps)
        if self.has_average_stats(state):
            state = state.replace(g_avg_stats=self.precise_batch_stats(state))
        return state, logs

    def precise_batch_stats(self, state: TrainState, n_batches: int = PRECISE_BN_BATCHES) -> nnx.State:
        """Batch-norm statistics of the averaged generator: the mean over `n_batches` training-mode
        batches of each layer's batch mean and variance (precise BN, Wu & Johnson 2021). A function
        of the state alone, so chunking does not change it."""
        batch, noise_dim = self.scenario.train.batch_size, self.scenario.model.noise_dim
        model = nnx.merge(self.g_graph, state.g_avg_params, state.g_avg_stats, copy=True)
        for norm in model.norms:
            norm.momentum = 0.0  # the running statistics become the batch's own
        graph, params, stats = nnx.split(model, nnx.Param, ...)

        def one_batch(key):
            z_NxZ = jax.random.normal(key, (batch, noise_dim))
            y_N = jax.random.randint(jax.random.fold_in(key, 1), (batch,), 0, max(self.source.n_classes, 1))
            return _apply(graph, params, stats, z_NxZ, y_N, train=True)[1]

        keys = jax.random.split(jax.random.fold_in(jax.random.fold_in(state.train_key, state.step), Salt.PRECISE_BN), n_batches)
        # In groups of 64 batches at a time: memory stays that of the frames' 64 however many there are.
        per_batch = jax.lax.map(one_batch, keys, batch_size=PRECISE_BN_BATCHES)
        return jax.tree.map(lambda leaf: jnp.mean(leaf, axis=0), per_batch)


def make_trainer(scenario: Scenario) -> Trainer:
    """Static setup: data source, network structure and the two Adam optimisers.

    The compiled programs do not depend on the seed, the names or the learning rates (which are
    part of the training state), so runs that differ only in those share one trainer.
    """
    rates_as_state = dataclasses.replace(scenario.train, lr_generator=1.0, lr_discriminator=1.0)
    return _make_trainer(dataclasses.replace(scenario, name="", description="", seed=0, train=rates_as_state))


@functools.lru_cache(maxsize=16)
def _make_trainer(scenario: Scenario) -> Trainer:
    # The same random numbers, drawn 3 to 7 times faster on the CPU (`toygan.engine.threefry`), and the
    # compiled programs of earlier runs (`toygan.engine.cache`): process-wide settings, made here, where
    # toygan first compiles, rather than on import.
    threefry.unroll_on_cpu()
    cache.enable()
    source = scenario.kind.make_source(scenario.data)
    model, train = scenario.model, scenario.train
    abstract_key = jax.random.key(0)

    def graph(make) -> nnx.GraphDef:
        return nnx.split(nnx.eval_shape(lambda: make(model, source.dim, abstract_key, source.n_classes)), nnx.Param, ...)[0]

    g_graph, d_graph = graph(make_generator), graph(make_discriminator)
    return Trainer(
        scenario=scenario,
        source=source,
        g_graph=g_graph,
        d_graph=d_graph,
        g_optimizer=_optimizer(train, updates_per_step=1),
        d_optimizer=_optimizer(train, updates_per_step=train.d_steps),
    )


def _optimizer(train, updates_per_step: int) -> optax.GradientTransformation:
    """Adam or RMSprop, then the cosine decay if `train.lr_schedule` asks for it, then minus the learning rate
    kept in the state. The decay runs over the run's `train.steps` training steps, each of which makes
    `updates_per_step` updates of this network (D's `d_steps`), so that both rates reach zero at the end."""
    if train.optimizer == "rmsprop":
        # PyTorch's RMSprop (alpha 0.99, eps added after the square root), which WGAN's reference code uses;
        # an unrolled D takes eps inside the root, where sqrt's derivative is finite.
        parts = [optax.scale_by_rms(decay=0.99, eps=1e-8, eps_in_sqrt=bool(train.unroll))]
    else:
        # An unrolled D differentiates through Adam's steps: eps_root keeps sqrt's derivative finite where the
        # second moment is 0 (optax's own advice for differentiating through Adam).
        parts = [optax.scale_by_adam(b1=train.beta1, b2=train.beta2, eps_root=1e-8 if train.unroll else 0.0)]
    if train.lr_schedule == "cosine":
        parts.append(optax.scale_by_schedule(optax.cosine_decay_schedule(1.0, train.steps * updates_per_step)))
    parts.append(optax.inject_hyperparams(optax.scale)(step_size=-1.0))
    return optax.chain(*parts)


def _with_learning_rate(opt_state: tuple, learning_rate) -> tuple:
    injected = opt_state[-1]
    hyperparams = {**injected.hyperparams, "step_size": -jnp.asarray(learning_rate, jnp.float32)}
    return (*opt_state[:-1], injected._replace(hyperparams=hyperparams))


def learning_rates(state: TrainState) -> tuple[float, float]:
    """The generator's and the discriminator's learning rates, as kept in the optimiser states."""
    rates = jax.device_get((state.g_opt[-1].hyperparams["step_size"], state.d_opt[-1].hyperparams["step_size"]))
    return -float(rates[0]), -float(rates[1])


def with_learning_rates(state: TrainState, lr_generator: float, lr_discriminator: float) -> TrainState:
    """`state` with new learning rates: the same shapes and types, so the compiled chunks are reused."""
    return state.replace(g_opt=_with_learning_rate(state.g_opt, lr_generator), d_opt=_with_learning_rate(state.d_opt, lr_discriminator))


def single_update(trainer: Trainer, state: TrainState, network: str, count: int) -> tuple[TrainState, float]:
    """Jitted `Trainer.single_update`: one update of network "d" or "g" alone, its loss as a float."""
    state, loss = _single_update(trainer, state, trainer.source.arrays(), network, jnp.asarray(count, jnp.int32))
    return state, float(loss)


@partial(jax.jit, static_argnums=(0, 3))
def _single_update(trainer: Trainer, state: TrainState, data, network: str, count: jax.Array):
    return trainer.single_update(state, data, network, count)


def advance(trainer: Trainer, state: TrainState, n_steps: int) -> tuple[TrainState, StepLog]:
    """Jitted `Trainer.advance`; compiled once per (trainer, chunk length)."""
    return _advance(trainer, state, trainer.source.arrays(), n_steps)


@partial(jax.jit, static_argnums=(0, 3))
def _advance(trainer: Trainer, state: TrainState, data, n_steps: int) -> tuple[TrainState, StepLog]:
    return trainer.advance(state, data, n_steps)


@partial(jax.jit, static_argnums=0)
def init_state(trainer: Trainer, key: jax.Array, lr_generator, lr_discriminator) -> TrainState:
    """Jitted `Trainer.init`: one compiled call instead of many small eager ones."""
    return trainer.init(key, lr_generator, lr_discriminator)


def settle(trainer: Trainer, state: TrainState) -> TrainState:
    """The state a run keeps at its end (parameters, final score, `sample`, `eval`): as trained, with
    the averaged generator's batch-norm statistics re-estimated from `FINAL_BN_BATCHES` batches
    instead of the frames' 64. Fewer batches leave noise in the statistics that shows in the samples:
    on mnist-cgan's default, `toygan eval`'s Fréchet distance moved by up to 0.3 from one draw of 64
    batches to another, and over five seeds it read 4.23 with 64 against 4.13 with 4,096."""
    if not trainer.has_average_stats(state):
        return state
    return _settle(trainer, state)


@partial(jax.jit, static_argnums=0)
def _settle(trainer: Trainer, state: TrainState) -> TrainState:
    return state.replace(g_avg_stats=trainer.precise_batch_stats(state, FINAL_BN_BATCHES))


def start(trainer: Trainer, scenario: Scenario) -> TrainState:
    """The initial state of `scenario`'s run: its seed and its learning rates (remembered, `toygan.engine.cache`)."""
    return cache.remembered(init_state, trainer, *_start_inputs(scenario))


def state_shapes(trainer: Trainer, scenario: Scenario) -> TrainState:
    """The shapes and types of `start`'s state, without computing it."""
    return jax.eval_shape(init_state, trainer, *_start_inputs(scenario))


def _start_inputs(scenario: Scenario) -> tuple:
    return jax.random.key(scenario.seed), scenario.train.lr_generator, scenario.train.lr_discriminator
