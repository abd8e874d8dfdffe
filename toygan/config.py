"""Scenarios: frozen dataclass configs read from TOML files, with command-line overrides and validation."""

from __future__ import annotations

import dataclasses
import difflib
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import tomli_w

from toygan.errors import ToyganError
from toygan.mixture import GaussianMixture

GENERATOR_LOSSES = ("non-saturating", "minimax")
FAKE_LABELS = ("uniform", "data")
LR_SCHEDULES = ("constant", "cosine")
ACTIVATIONS = ("relu", "leaky_relu", "tanh", "elu")
OUTPUTS = ("linear", "tanh")
CONDITIONINGS = ("none", "embedding", "one-hot")


@dataclass(frozen=True)
class MixtureConfig:
    """Mode weights, means and diagonal variances, listed mode by mode."""

    weights: tuple[float, ...]
    means: tuple[tuple[float, ...], ...]
    variances: tuple[tuple[float, ...], ...]

    def build(self) -> GaussianMixture:
        return GaussianMixture.create(self.weights, self.means, self.variances)


@dataclass(frozen=True)
class MnistConfig:
    """MNIST as the data: `path` to an .npz, IDX file or folder, or .csv; "" downloads it into the cache."""

    path: str = ""


@dataclass(frozen=True)
class ModelConfig:
    """Generator and discriminator MLPs.

    `hidden` are the generator's hidden widths, and the discriminator's too unless
    `discriminator_hidden` is given. `leaky_relu` has slope 0.2. `batch_norm` puts batch norm
    (Keras' momentum convention) after each hidden activation of the generator;
    `discriminator_dropout` gives a dropout rate per hidden layer of the discriminator.
    `conditioning` feeds the label to both networks: "embedding" multiplies a learned embedding
    into the input (Keras CGAN), "one-hot" concatenates a one-hot vector (TensorFlow CGAN).

    Options against mode collapse, each off by default but `noise_bins`:
    - `pack` (PacGAN): the discriminator judges `pack` samples at once, concatenated into one input,
      all real or all generated, so it can see a lack of variety that no single sample shows. In a
      conditional model the samples of a pack share one label.
    - `spectral_norm` (SN-GAN): every discriminator weight matrix is divided by its largest
      singular value (one power-iteration step per call), which bounds D's Lipschitz constant.
    - `data_init`: the discriminator's first-layer units start with their boundaries through real
      points (bias_j = -w_j . x_j for a real sample x_j per unit) instead of all through the origin,
      so D can tell sharp modes from a spread-out generator from the first step.
    - `noise_bins` = K > 0: the generator's first noise coordinate is cut into K equal-probability
      bins of N(0, 1), and the bin's one-hot code (scaled by sqrt(noise_dim), so that it moves the
      first layer as much as the noise does) is appended to the generator's input. The latent space
      becomes K disconnected slabs: a continuous generator must spread mass over the bridges between
      separate modes, one with a discrete code need not (as with InfoGAN's categorical code, without
      its mutual-information term). The noise itself is unchanged: N(0, I) of `noise_dim`. The
      default, 1,000 bins, is what a mixture file with only its [mixture] table trains with: on the
      fidelity benchmark's 30 random mixtures it matched 12 against 8 without bins, and lost no mode
      against 5 lost (docs/experiments/fidelity.md); the MNIST scenarios, two-gaussians, ring-8,
      grid-25 and protocol-ring-8 set 0.
    """

    noise_dim: int = 8
    hidden: tuple[int, ...] = (128, 128)
    activation: str = "relu"
    discriminator_hidden: tuple[int, ...] = ()
    output: str = "linear"
    batch_norm: bool = False
    batch_norm_momentum: float = 0.8
    discriminator_dropout: tuple[float, ...] = ()
    conditioning: str = "none"
    pack: int = 1
    spectral_norm: bool = False
    data_init: bool = False
    noise_bins: int = 1000

    def __post_init__(self):
        _require_positive("model", self, "noise_dim", "pack")
        if self.noise_bins < 0:
            raise ToyganError(f"model.noise_bins must be >= 0 (0 turns the binned noise code off), got {self.noise_bins}")
        for name in ("hidden", "discriminator_hidden"):
            widths = getattr(self, name)
            if (name == "hidden" and not widths) or any(width <= 0 for width in widths):
                raise ToyganError(f"model.{name} must be a non-empty list of positive widths, got {list(widths)}")
        _require_choice("model", self, "activation", ACTIVATIONS)
        _require_choice("model", self, "output", OUTPUTS)
        _require_choice("model", self, "conditioning", CONDITIONINGS)
        if not 0 <= self.batch_norm_momentum < 1:
            raise ToyganError(f"model.batch_norm_momentum must be in [0, 1), got {self.batch_norm_momentum}")
        d_layers = len(self.discriminator_hidden or self.hidden)
        if len(self.discriminator_dropout) > d_layers or any(not 0 <= r < 1 for r in self.discriminator_dropout):
            raise ToyganError(
                f"model.discriminator_dropout must give at most {d_layers} rates in [0, 1) (one per hidden layer), "
                f"got {list(self.discriminator_dropout)}"
            )


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation: steps, batch, Adam settings per network, discriminator steps, generator loss.

    The defaults (Adam 5e-4 for both networks over 20,000 steps with cosine decay, frames and samples
    from G's moving average at 0.999, with `model.noise_dim` 8 and `model.noise_bins` 1,000) are those under which a mixture file
    with only its [mixture] table came closest to its mixture (`python -m benchmarks.fidelity`,
    docs/experiments/two-d.md).

    `batch_size` is the discriminator's batch: each of its updates sees that many real samples and
    as many fakes. `generator_batch_size` is the number of fakes behind each generator update (0:
    `batch_size`, as in the classic GAN). On mnist-cgan the two halves of a step cost about the
    same per sample, so moving samples from G's update to D's keeps a step's cost while giving D a
    better view of the data (see the README).
    `lr_schedule = "cosine"` decays both learning rates to zero over `steps`, which settles the
    end-of-run oscillation of GAN training; "constant" keeps them fixed. `discriminator_lr_schedule`
    gives the discriminator a schedule of its own ("same" follows `lr_schedule`): a cosine-decayed
    generator against a constant-rate discriminator ends the run with the discriminator relatively
    strong (on grid-25 it sharpened the modes; see the README). `r1_gamma` adds the R1 gradient
    penalty on real data (Mescheder et al. 2018), r1_gamma / 2 * E ||grad_x logit D(x)||^2, to the
    discriminator's loss: D stays flat on the data, which damps the oscillation around it.
    `r1_every` = k > 1 applies it lazily (Karras et al. 2020, StyleGAN2): only in every k-th step's
    discriminator updates, weighted by k, the same penalty on average for a k-th of its cost (the
    gradient of a gradient, about a fifth of mnist-cgan's step when taken every step).
    `generator_ema` > 0 keeps an exponential moving average of the generator's weights with that
    decay (e.g. 0.999, about the last 1,000 steps); the average is what frames, metrics, `sample`
    and `eval` use. The decay is warmed up as min(generator_ema, (1 + step) / (p + 2 + step)), p =
    `generator_ema_power`, so that early frames keep up: until the cap binds, the average weighs
    step t's weights about in proportion to t^p (a power-function average, Karras et al. 2024),
    centred on step * (p + 1) / (p + 2). The default p = 8 is TensorFlow's warm-up, (1 + step) /
    (10 + step); a lower p averages over a longer stretch of the run.
    Its batch-norm statistics are re-estimated after every frame's chunk of steps from 64 fresh
    training-mode batches ("precise BN"), since running averages of the live generator's statistics
    do not fit averaged weights; at the end of the run, from 4,096 batches, for the kept generator
    (`toygan.train.settle`). A checkpoint is written at the first frame at or after every
    `checkpoint_every` steps, and at the end.
    `top_k` < 1 turns on top-k generator updates (Sinha et al. 2020): the generator's loss keeps only
    the fakes the discriminator scores most real, a share that starts at 1 and shrinks by the factor
    `top_k_decay` every 1,000 steps down to `top_k` (the logged G loss is over the kept fakes). The
    paper's case: the worst-scored fakes' gradients can push points away from their nearest mode. On
    grid-25 it did harm: those fakes sit on bridges between modes, and nothing pulls them off (README).
    `mode_seeking` = lambda > 0 adds MSGAN's mode-seeking term (Mao et al. 2019) to the generator's
    loss: lambda / (mean |G(z1) - G(z2)| / mean |z1 - z2| + 1e-5), over pairs of the batch that share
    a label, so that different noise must give different samples (the logged G loss is without it).
    `generator_step_dropout = false` shows the generator's step the discriminator without its dropout
    (D still trains with it, as set by `model.discriminator_dropout`): G then follows the whole D,
    not a randomly thinned copy of it that changes every step.
    `fake_labels` picks the labels a conditional generator is asked for in training: "uniform" (each
    digit equally often, as the Keras CGAN does) or "data" (in the training set's proportions: in D's
    step the fakes take the real batch's own labels, in G's step labels are drawn from the training
    set's). With "data", D cannot tell real from fake by the label alone; with "uniform" it can, a
    little, where the training set's digits are not evenly spread (MNIST's: 8.9% fives to 11.4% ones).
    """

    steps: int = 20000
    batch_size: int = 256
    generator_batch_size: int = 0
    lr_generator: float = 5e-4
    lr_discriminator: float = 5e-4
    beta1: float = 0.5
    beta2: float = 0.999
    d_steps: int = 1
    generator_loss: str = "non-saturating"
    lr_schedule: str = "cosine"
    discriminator_lr_schedule: str = "same"
    checkpoint_every: int = 1000
    r1_gamma: float = 0.0
    r1_every: int = 1
    generator_ema: float = 0.999
    generator_ema_power: float = 8.0
    top_k: float = 1.0
    top_k_decay: float = 0.975
    mode_seeking: float = 0.0
    generator_step_dropout: bool = True
    fake_labels: str = "uniform"

    def __post_init__(self):
        _require_positive(
            "train", self, "steps", "batch_size", "lr_generator", "lr_discriminator", "d_steps", "checkpoint_every", "r1_every"
        )
        for name in ("beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise ToyganError(f"train.{name} must be in [0, 1), got {getattr(self, name)}")
        _require_choice("train", self, "generator_loss", GENERATOR_LOSSES)
        _require_choice("train", self, "fake_labels", FAKE_LABELS)
        _require_choice("train", self, "lr_schedule", LR_SCHEDULES)
        _require_choice("train", self, "discriminator_lr_schedule", ("same", *LR_SCHEDULES))
        if not 0 <= self.generator_ema < 1:
            raise ToyganError(f"train.generator_ema must be in [0, 1) (0 turns the average off), got {self.generator_ema}")
        if not self.generator_ema_power >= 0:
            raise ToyganError(
                f"train.generator_ema_power must be >= 0 (the average weighs step t as t^power), got {self.generator_ema_power}"
            )
        if not self.generator_batch_size >= 0:
            raise ToyganError(
                f"train.generator_batch_size must be >= 0 (0 draws train.batch_size fakes for G's update), got {self.generator_batch_size}"
            )
        if not self.r1_gamma >= 0:
            raise ToyganError(f"train.r1_gamma must be >= 0 (0 turns the gradient penalty off), got {self.r1_gamma}")
        if not 0 < self.top_k <= 1:
            raise ToyganError(
                f"train.top_k must be in (0, 1] (the share of fakes the generator learns from; 1 turns top-k off), got {self.top_k}"
            )
        if not 0 < self.top_k_decay <= 1:
            raise ToyganError(f"train.top_k_decay must be in (0, 1] (the kept share's factor per 1,000 steps), got {self.top_k_decay}")
        if not self.mode_seeking >= 0:
            raise ToyganError(f"train.mode_seeking must be >= 0 (0 turns the mode-seeking term off), got {self.mode_seeking}")

    @property
    def discriminator_schedule(self) -> str:
        """The discriminator's learning-rate schedule, with "same" resolved to `lr_schedule`."""
        return self.lr_schedule if self.discriminator_lr_schedule == "same" else self.discriminator_lr_schedule


VIEW_PANELS = ("discriminator", "gradients", "gradient_field", "manifold", "optimal_discriminator", "curves")


@dataclass(frozen=True)
class ViewConfig:
    """What is drawn and when: frame interval, console log interval, GIF rate, point counts, panels.

    Panels, each on or off: `discriminator` (D(x) heatmap behind the points), `gradients` (arrows on
    generated points: where the generator loss pushes them), `gradient_field` (the same over the
    plane), `manifold` (a grid in noise space as the generator warps it), `optimal_discriminator`
    (p_data / (p_data + p_g) beside the learned D), `curves` (losses and metrics so far).
    The GIF keeps every k-th frame (and the last) so that it holds at most `gif_max_frames`.
    MNIST frames show `sample_rows` rows of digits 0..9 from fixed noise, or of one `digit` only.
    """

    frame_every: int = 50
    log_every: int = 200
    fps: int = 10
    points: int = 1000
    eval_samples: int = 2500
    discriminator: bool = True
    gradients: bool = False
    gradient_field: bool = False
    manifold: bool = False
    optimal_discriminator: bool = False
    curves: bool = False
    grid_size: int = 80
    arrows: int = 150
    gif_max_frames: int = 1000
    digit: int = -1
    sample_rows: int = 4

    def __post_init__(self):
        _require_positive(
            "view",
            self,
            "frame_every",
            "log_every",
            "fps",
            "points",
            "eval_samples",
            "grid_size",
            "arrows",
            "gif_max_frames",
            "sample_rows",
        )
        if not -1 <= self.digit <= 9:
            raise ToyganError(f"view.digit must be a digit 0..9, or -1 for all ten, got {self.digit}")
        if self.points > self.eval_samples:
            raise ToyganError(
                f"view.points ({self.points}) exceeds view.eval_samples ({self.eval_samples}): "
                "the drawn points are a subset of the evaluation sample"
            )
        if self.gradients and self.arrows > self.points:
            raise ToyganError(f"view.arrows ({self.arrows}) exceeds view.points ({self.points}): arrows are drawn on shown points")

    def with_panels(self, panels: list[str]) -> ViewConfig:
        """This config with exactly `panels` on; "all" turns every panel on."""
        if panels == ["all"]:
            panels = list(VIEW_PANELS)
        unknown = [p for p in panels if p not in VIEW_PANELS]
        if unknown:
            raise ToyganError(f"unknown view panel '{unknown[0]}': choose from all, none, {', '.join(VIEW_PANELS)}")
        return dataclasses.replace(self, **{p: p in panels for p in VIEW_PANELS})


@dataclass(frozen=True)
class Scenario:
    """Everything a run needs, saved resolved as `scenario.toml` in every run folder."""

    name: str
    mixture: MixtureConfig | None = None  # the data: a Gaussian mixture ...
    mnist: MnistConfig | None = None  # ... or MNIST
    description: str = ""
    seed: int = 0
    published: str = ""  # a key of toygan.published.PUBLISHED: sweeps print those results beside theirs
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    view: ViewConfig = field(default_factory=ViewConfig)

    def __post_init__(self):
        if (self.mixture is None) == (self.mnist is None):
            raise ToyganError("a scenario needs exactly one data table: [mixture] or [mnist]")
        if self.mixture is not None:
            self.mixture.build()
            if self.model.conditioning != "none":
                raise ToyganError('model.conditioning needs labelled data: use it with [mnist], or set it to "none"')
        if self.train.fake_labels == "data" and self.model.conditioning == "none":
            raise ToyganError(
                'train.fake_labels = "data" is for conditional runs: set model.conditioning, or leave train.fake_labels "uniform"'
            )
        if self.model.data_init and self.mixture is None:
            raise ToyganError("model.data_init is for [mixture] scenarios: set model.data_init = false")
        for name in ("batch_size", "generator_batch_size"):
            if getattr(self.train, name) % self.label_run:
                pairs = " times 2 (train.mode_seeking pairs samples)" if self.train.mode_seeking > 0 else ""
                raise ToyganError(f"train.{name} ({getattr(self.train, name)}) must be a multiple of model.pack ({self.model.pack}){pairs}")

    @property
    def label_run(self) -> int:
        """How many consecutive samples of a batch share one label: a pack's (PacGAN), times 2 for the
        mode-seeking term's pairs."""
        return self.model.pack * (2 if self.train.mode_seeking > 0 else 1)

    def to_toml(self) -> str:
        return tomli_w.dumps(dataclasses.asdict(self, dict_factory=lambda items: {k: v for k, v in items if v is not None}))


def builtin_dir() -> Path:
    """Built-in scenario files: inside the installed package, or the repository's `scenarios/` folder."""
    packaged = Path(str(resources.files("toygan") / "scenarios"))
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent / "scenarios"


def builtin_names() -> list[str]:
    return sorted(path.stem for path in builtin_dir().glob("*.toml"))


def list_scenarios() -> list[tuple[str, str]]:
    """(name, description) of every built-in scenario."""
    return [(name, load_scenario(name).description) for name in builtin_names()]


def load_scenario(name_or_path: str | Path, overrides: dict[str, object] | None = None) -> Scenario:
    """Read a built-in scenario by name, or a user's TOML file by path, then apply `section.key` overrides."""
    path = _resolve_path(str(name_or_path))
    try:
        table = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ToyganError(f"{path}: not valid TOML ({error}): fix the file's syntax") from None
    except OSError as error:
        raise ToyganError(f"{path}: cannot read it ({error.strerror})") from None
    table.setdefault("name", path.stem)
    for dotted, value in (overrides or {}).items():
        _set_dotted(table, dotted, value)
    try:
        return scenario_from_table(table)
    except ToyganError as error:
        raise ToyganError(f"{path}: {error}") from None


def scenario_from_table(table: dict) -> Scenario:
    """Build and validate a scenario from a parsed TOML table."""
    table = dict(table)
    if "mixture" not in table and "mnist" not in table:
        raise ToyganError("no data table: a scenario needs [mixture] (weights, means, variances) or [mnist]")
    if "mixture" in table:
        table["mixture"] = _expand_mixture(table["mixture"])
    return _build(Scenario, table, "")


def parse_override(text: str) -> tuple[str, object]:
    """`train.steps=2000` -> ("train.steps", 2000); values are read as TOML, else kept as strings."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ToyganError(f"override {text!r} is not of the form section.key=value, e.g. train.steps=2000")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key.strip(), value


def _resolve_path(name: str) -> Path:
    path = Path(name).expanduser()
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise ToyganError(f"scenario file {path} does not exist: check the path")
        return path
    builtins = builtin_names()
    if name in builtins:
        return builtin_dir() / f"{name}.toml"
    close = difflib.get_close_matches(name, builtins, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise ToyganError(f"unknown scenario '{name}': {hint}`toygan scenarios` lists them, or pass a .toml file")


def _set_dotted(table: dict, dotted: str, value: object) -> None:
    *sections, key = dotted.split(".")
    for section in sections:
        table = table.setdefault(section, {})
        if not isinstance(table, dict):
            raise ToyganError(f"override {dotted}: '{section}' is not a table")
    table[key] = value


def _expand_mixture(table) -> dict:
    """Turn the `kind = "ring"` and `kind = "grid"` shorthands into explicit weights, means and variances."""
    if not isinstance(table, dict):
        raise ToyganError("[mixture] must be a table")
    table = dict(table)
    kind = table.pop("kind", "explicit")
    if kind == "explicit":
        return table
    std = _number(table.pop("std", None), "mixture.std")
    if kind == "ring":
        modes = table.pop("modes", None)
        radius = _number(table.pop("radius", None), "mixture.radius")
        if not isinstance(modes, int) or isinstance(modes, bool) or modes <= 0:
            raise ToyganError(f"mixture.modes must be a positive integer, got {modes!r}")
        means = [(radius * math.cos(2 * math.pi * k / modes), radius * math.sin(2 * math.pi * k / modes)) for k in range(modes)]
    elif kind == "grid":
        coords = table.pop("coords", None)
        if not isinstance(coords, list) or not coords:
            raise ToyganError('mixture.coords must be a non-empty list of numbers for kind = "grid"')
        coords = [_number(c, "mixture.coords") for c in coords]
        means = [(x, y) for x in coords for y in coords]
    else:
        raise ToyganError(f'mixture.kind \'{kind}\' is unknown: use "explicit", "ring" or "grid"')
    if table:
        raise ToyganError(f'mixture has unexpected keys {sorted(table)} for kind = "{kind}"')
    return {
        "weights": [1.0 / len(means)] * len(means),
        "means": [list(m) for m in means],
        "variances": [[std**2, std**2] for _ in means],
    }


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ToyganError(f"{where} must be a number, got {value!r}")
    return float(value)


def _build(cls, table, section: str):
    """Make dataclass `cls` from a TOML table, rejecting unknown keys and values of the wrong type."""
    where = section or "scenario"
    if not isinstance(table, dict):
        raise ToyganError(f"[{section}] must be a table, got {table!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in table:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f": did you mean '{close[0]}'?" if close else f": known keys are {', '.join(names)}"
            raise ToyganError(f"unknown key '{key}' in {where}{hint}")
    kwargs = {}
    for name in names:
        if name in table:
            dotted = f"{section}.{name}" if section else name
            kwargs[name] = _coerce(table[name], hints[name], dotted)
    missing = [f.name for f in dataclasses.fields(cls) if f.name not in kwargs and _is_required(f)]
    if missing:
        raise ToyganError(f"{where} is missing {', '.join(missing)}")
    return cls(**kwargs)


def _is_required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _coerce(value, hint, where: str):
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):  # `Config | None`: an optional table
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
        origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if origin is tuple:
        if not isinstance(value, list):
            raise ToyganError(f"{where} must be a list, got {value!r}")
        item_hint = typing.get_args(hint)[0]
        return tuple(_coerce(item, item_hint, where) for item in value)
    if hint is float:
        return _number(value, where)
    if hint is bool:
        if not isinstance(value, bool):
            raise ToyganError(f"{where} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ToyganError(f"{where} must be a whole number, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ToyganError(f"{where} must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {hint} at {where}")


def _require_positive(section: str, config, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if not value > 0 or not math.isfinite(value):
            raise ToyganError(f"{section}.{name} must be positive, got {value}")


def _require_choice(section: str, config, name: str, choices: tuple[str, ...]) -> None:
    value = getattr(config, name)
    if value not in choices:
        raise ToyganError(f"{section}.{name} '{value}' is unknown: choose one of {', '.join(choices)}")
