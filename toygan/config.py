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
from typing import Any

import tomli_w

from toygan import kinds
from toygan.errors import ToyganError

GENERATOR_LOSSES = ("non-saturating", "minimax")
UPDATE_SCHEMES = ("alternating", "simultaneous")
LR_SCHEDULES = ("constant", "cosine")
OPTIMIZERS = ("adam", "rmsprop")
ACTIVATIONS = ("relu", "leaky_relu", "tanh", "elu")
OUTPUTS = ("linear", "tanh")
CONDITIONINGS = ("none", "embedding", "one-hot")


@dataclass(frozen=True)
class ModelConfig:
    """The generator and discriminator MLPs, and the options against mode collapse that change them."""

    noise_dim: int = 8
    """Size of the generator's Gaussian noise."""
    hidden: tuple[int, ...] = (128, 128)
    """The generator's hidden widths (and the discriminator's, unless `discriminator_hidden` is given)."""
    activation: str = "relu"
    """Hidden activation: relu, leaky_relu (slope 0.2), tanh or elu."""
    discriminator_hidden: tuple[int, ...] = ()
    """The discriminator's own hidden widths; empty: those of `hidden`."""
    output: str = "linear"
    """The generator's output: linear, or tanh (for data in [-1, 1], as MNIST's pixels)."""
    batch_norm: bool = False
    """Batch norm after each hidden activation of the generator (DCGAN; Keras' momentum convention)."""
    batch_norm_momentum: float = 0.8
    """The running statistics' momentum, as Keras counts it."""
    discriminator_dropout: tuple[float, ...] = ()
    """A dropout rate per hidden layer of the discriminator."""
    conditioning: str = "none"
    """How a conditional GAN gets the label: "embedding" (multiplied into the input, Keras CGAN) or "one-hot"
    (concatenated, TensorFlow CGAN)."""
    pack: int = 1
    """PacGAN (Lin et al. 2018): D judges `pack` samples at once, all real or all generated, so it can see a
    lack of variety that no single sample shows."""
    spectral_norm: bool = False
    """SN-GAN (Miyato et al. 2018): D's weight matrices divided by their largest singular value (one
    power-iteration step per call), which bounds D's Lipschitz constant."""
    data_init: bool = False
    """D's first-layer units start with their boundaries through real points instead of the origin, so D tells
    sharp modes from a spread-out generator from the first step (2-D data)."""
    noise_bins: int = 1000
    """K > 0 cuts the first noise coordinate into K equal-probability bins and gives G the bin's one-hot code (as
    InfoGAN's categorical code, without its mutual-information term): G can put whole slabs of noise on separate
    modes instead of bridging them. On by default: with it the fidelity benchmark's random mixtures lose no mode."""

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
    """Optimisation: the objective, steps, batches, Adam per network, and the update scheme.

    The defaults are those under which a mixture file with only its [mixture] table comes closest to its
    mixture (`python -m benchmarks.fidelity`, docs/experiments/fidelity.md)."""

    steps: int = 20000
    """Training steps (generator updates)."""
    batch_size: int = 256
    """Real samples (and as many fakes) in each discriminator update."""
    generator_batch_size: int = 0
    """Fakes behind each generator update; 0: `batch_size`, as in the classic GAN."""
    optimizer: str = "adam"
    """Both networks' optimiser: "adam" (with beta1, beta2), or "rmsprop" (PyTorch's: decay 0.99, eps 1e-8), which
    WGAN's paper prescribes for its clipped critic (Arjovsky et al. 2017, Algorithm 1)."""
    lr_generator: float = 5e-4
    """The generator's learning rate (kept in the optimiser state: runs that differ in it share a program)."""
    lr_discriminator: float = 5e-4
    """The discriminator's learning rate."""
    beta1: float = 0.5
    """Adam's first-moment decay, for both networks (DCGAN's 0.5)."""
    beta2: float = 0.999
    """Adam's second-moment decay, for both networks."""
    lr_schedule: str = "cosine"
    """"cosine" decays both rates to zero over `steps`, which settles the end-of-run oscillation; "constant"."""
    loss: str = "log"
    """The objective (`toygan.engine.objectives`): log (Goodfellow 2014), wgan (Arjovsky 2017, weight clipping),
    wgan-gp (Gulrajani 2017), hinge (Lim & Ye 2017), least-squares (Mao 2017)."""
    generator_loss: str = "non-saturating"
    """The log objective's generator loss: non-saturating, -log D(G(z)), or minimax, log(1 - D(G(z)))."""
    d_steps: int = 1
    """Discriminator updates per generator update (WGAN's n_critic)."""
    updates: str = "alternating"
    """"alternating": G's update is against the updated D; "simultaneous": both start from the same parameters."""
    unroll: int = 0
    """k > 0: G's loss is against D taken k updates ahead, differentiated through (unrolled GANs, Metz et al. 2017)."""
    gp_lambda: float = 10.0
    """The weight of WGAN-GP's gradient penalty (the paper's 10)."""
    clip: float = 0.01
    """WGAN's weight clipping bound (the paper's 0.01)."""
    r1_gamma: float = 0.0
    """R1 (Mescheder et al. 2018): r1_gamma / 2 * E |grad_x D(x)|^2 on real data added to D's loss; 0: off."""
    r1_every: int = 1
    """k > 1 applies R1 lazily (StyleGAN2, Karras et al. 2020): every k-th step, weighted by k."""
    mode_seeking: float = 0.0
    """MSGAN (Mao et al. 2019): lambda / (mean |G(z1) - G(z2)| / mean |z1 - z2| + 1e-5) added to G's loss; 0: off."""
    generator_ema: float = 0.999
    """Decay of the moving average of G's weights that frames, metrics, `sample` and `eval` use; 0: the live G."""
    generator_ema_power: float = 8.0
    """The average's warm-up: decay min(generator_ema, (1 + t) / (p + 2 + t)), TensorFlow's at p = 8 (Karras 2024)."""
    checkpoint_every: int = 1000
    """A checkpoint at the first frame at or after every this many steps, and at the end."""

    def __post_init__(self):
        _require_positive(
            "train", self, "steps", "batch_size", "lr_generator", "lr_discriminator", "d_steps", "checkpoint_every", "r1_every"
        )
        for name in ("beta1", "beta2"):
            if not 0 <= getattr(self, name) < 1:
                raise ToyganError(f"train.{name} must be in [0, 1), got {getattr(self, name)}")
        from toygan.engine.objectives import OBJECTIVES  # (here: reading a scenario's TOML needs no JAX)

        _require_choice("train", self, "loss", OBJECTIVES)
        _require_choice("train", self, "generator_loss", GENERATOR_LOSSES)
        _require_choice("train", self, "lr_schedule", LR_SCHEDULES)
        _require_choice("train", self, "optimizer", OPTIMIZERS)
        _require_choice("train", self, "updates", UPDATE_SCHEMES)
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
        for name, what in (("r1_gamma", "0 turns the gradient penalty off"), ("mode_seeking", "0 turns the mode-seeking term off")):
            if not getattr(self, name) >= 0:
                raise ToyganError(f"train.{name} must be >= 0 ({what}), got {getattr(self, name)}")
        if not 0 <= self.unroll <= 20:
            raise ToyganError(f"train.unroll must be 0 to 20 discriminator steps to look ahead (0 turns it off), got {self.unroll}")
        _require_positive("train", self, "gp_lambda", "clip")


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
    data: Any  # the data's table, built by its kind (`toygan.kinds`): [mixture], [mnist], ...
    description: str = ""
    seed: int = 0
    published: str = ""  # a key of toygan.twod.published.PUBLISHED: sweeps print those results beside theirs
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    view: ViewConfig = field(default_factory=ViewConfig)

    def __post_init__(self):
        if self.model.conditioning != "none" and not self.kind.labelled:
            raise ToyganError('model.conditioning needs labelled data: use it with [mnist], or set it to "none"')
        self.kind.check(self)
        for name in ("batch_size", "generator_batch_size"):
            if getattr(self.train, name) % self.label_run:
                pairs = " times 2 (train.mode_seeking pairs samples)" if self.train.mode_seeking > 0 else ""
                raise ToyganError(f"train.{name} ({getattr(self.train, name)}) must be a multiple of model.pack ({self.model.pack}){pairs}")

    @property
    def kind(self) -> kinds.DataKind:
        return kinds.of(self)

    @property
    def label_run(self) -> int:
        """How many consecutive samples of a batch share one label: a pack's (PacGAN), times 2 for the
        mode-seeking term's pairs."""
        return self.model.pack * (2 if self.train.mode_seeking > 0 else 1)

    def with_data(self, data) -> Scenario:
        """This scenario learning `data`, a config of the same kind (e.g. another MNIST path)."""
        return dataclasses.replace(self, data=data)

    def to_toml(self) -> str:
        table = dataclasses.asdict(self, dict_factory=lambda items: {k: v for k, v in items if v is not None})
        data = table.pop("data")
        head = {k: table.pop(k) for k in ("name", "description", "seed", "published")}
        return tomli_w.dumps({**head, self.data.table: data, **table})


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
    """Read a built-in scenario by name, a user's TOML file by path, or a data file (`kinds.FILE_KINDS`: a
    scenario of its kind with only the path), then apply `section.key` overrides."""
    suffix = Path(str(name_or_path)).suffix.lower()
    if suffix in kinds.FILE_KINDS:
        path = Path(name_or_path).expanduser()
        table, where = {"name": path.stem, kinds.FILE_KINDS[suffix]: {"path": str(path)}}, ""  # its errors name the file
    else:
        path = where = _resolve_path(str(name_or_path))
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
        if not where:
            raise
        raise ToyganError(f"{where}: {error}") from None


def scenario_from_table(table: dict) -> Scenario:
    """Build and validate a scenario from a parsed TOML table: exactly one table of a kind of data
    (`toygan.kinds`), and the shared [model], [train] and [view]."""
    table = dict(table)
    found = [name for name in kinds.tables() if name in table]
    if len(found) != 1:
        names = " or ".join(f"[{name}]" for name in kinds.tables())
        what = "no data table" if not found else f"{len(found)} data tables ({', '.join(found)})"
        hint = ""
        for key in table:
            close = difflib.get_close_matches(key, kinds.tables(), n=1)
            if key not in found and close:
                hint = f" (did you mean [{close[0]}] for [{key}]?)"
        raise ToyganError(f"{what}: a scenario needs exactly one of {names}, e.g. [mixture] with weights, means, variances{hint}")
    kind = kinds.get(found[0])
    data = _build(kind.config, kind.prepare(table.pop(found[0])), found[0])
    for section, settings in kind.defaults.items():  # the kind's own defaults, under what the file and -s give
        if isinstance(table.get(section, {}), dict):
            table[section] = {**settings, **table.get(section, {})}
    return _build(Scenario, table, "", data=data)


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


def number(value, where: str) -> float:
    """A TOML number as a float, or a one-line error naming `where`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ToyganError(f"{where} must be a number, got {value!r}")
    return float(value)


def _build(cls, table, section: str, **given):
    """Make dataclass `cls` from a TOML table (plus fields `given` already built), rejecting unknown
    keys and values of the wrong type."""
    where = section or "scenario"
    if not isinstance(table, dict):
        raise ToyganError(f"[{section}] must be a table, got {table!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.name not in given]
    for key in table:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f": did you mean '{close[0]}'?" if close else f": known keys are {', '.join(names)}"
            raise ToyganError(f"unknown key '{key}' in {where}{hint}")
    kwargs = dict(given)
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
        return number(value, where)
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
