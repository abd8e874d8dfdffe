"""What a frame of an MNIST run shows and scores, computed on the device in one compiled call: the
grid of digits from fixed noise, and the evaluator's verdict on a batch of generated digits
(predicted class of each, and the feature moments for the Fréchet distance).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from toygan.engine.records import reported
from toygan.engine.train import Trainer, TrainState
from toygan.mnist.classifier import Evaluator, class_spread, feature_moments, frechet_distance
from toygan.mnist.source import N_DIGITS
from toygan.twod.observe import all_finite

CAPTURED_ACCURACY = 0.5  # a conditional run draws digit k when at least half its k's are read as k
CAPTURED_SHARE = 0.02  # an unconditional run draws digit k when at least 2% of its samples are k's


class DigitObservation(NamedTuple):
    shown_SxD: jax.Array  # the grid's digits, pixels in [-1, 1]
    requested_E: jax.Array  # the label asked for with each evaluation sample (0 for unconditional runs)
    predicted_E: jax.Array  # the evaluator's reading of each evaluation sample
    confidence: jax.Array  # mean top softmax probability
    mean_F: jax.Array  # feature moments of the evaluation samples
    cov_FxF: jax.Array
    spread_K: jax.Array  # per digit (asked for, or read as for unconditional runs): the features' spread
    finite: jax.Array


def requested_labels(trainer: Trainer, n: int) -> np.ndarray:
    """Digits 0..9 in turn for a conditional run (n/10 of each when n is a multiple of 10), else 0."""
    return (np.arange(n) % N_DIGITS if trainer.conditional else np.zeros(n)).astype(np.int32)


def shown_labels(trainer: Trainer) -> np.ndarray:
    """The grid's labels, row by row: 0..9 across each row, or the chosen `view.digit` everywhere."""
    view = trainer.scenario.view
    labels = np.tile(np.arange(N_DIGITS), view.sample_rows)
    return np.full_like(labels, view.digit) if view.digit >= 0 else labels.astype(np.int32)


def shown_noise(trainer: Trainer, key: jax.Array) -> jax.Array:
    """One noise vector per grid row, shared across its ten digits: a row shows one style."""
    view, noise_dim = trainer.scenario.view, trainer.scenario.model.noise_dim
    shown_key = jax.random.fold_in(key, 0x6A1D)
    if trainer.conditional and view.digit < 0:
        return jnp.repeat(jax.random.normal(shown_key, (view.sample_rows, noise_dim)), N_DIGITS, axis=0)
    return jax.random.normal(shown_key, (view.sample_rows * N_DIGITS, noise_dim))


@partial(jax.jit, static_argnums=(0, 1))
def observe_digits(
    trainer: Trainer, evaluator: Evaluator, classifier_params, state: TrainState, z_ExZ, y_E, z_SxZ, y_S
) -> DigitObservation:
    fake_ExD = trainer.generate(state, z_ExZ, y_E)
    shown_SxD = trainer.generate(state, z_SxZ, y_S)
    logits_ExK, features_ExF = evaluator.logits_and_features(classifier_params, fake_ExD)
    mean_F, cov_FxF = feature_moments(features_ExF)
    predicted_E = jnp.argmax(logits_ExK, axis=1)
    return DigitObservation(
        shown_SxD=shown_SxD,
        requested_E=y_E,
        predicted_E=predicted_E,
        confidence=jnp.mean(jnp.max(jax.nn.softmax(logits_ExK), axis=1)),
        mean_F=mean_F,
        cov_FxF=cov_FxF,
        spread_K=class_spread(features_ExF, y_E if trainer.conditional else predicted_E, N_DIGITS),
        finite=all_finite(state, fake_ExD, shown_SxD),
    )


def confusion(obs: DigitObservation) -> np.ndarray:
    """counts[requested, predicted], 10 x 10."""
    counts = np.zeros((N_DIGITS, N_DIGITS), np.int64)
    np.add.at(counts, (np.asarray(obs.requested_E), np.asarray(obs.predicted_E)), 1)
    return counts


def metrics_columns(conditional: bool) -> list[str]:
    per_class = [f"acc_{k}" for k in range(N_DIGITS)] if conditional else []
    head = ["frechet_distance", *(["accuracy"] if conditional else []), "confidence", "digits_captured"]
    return [*head, *per_class, *(f"mass_{k}" for k in range(N_DIGITS))]


def digit_metrics(obs: DigitObservation, evaluator: Evaluator, conditional: bool) -> dict[str, float]:
    """The host-side record: Fréchet distance to the real test images, requested-label accuracy (overall
    and per digit, conditional runs), mean confidence, digits drawn, and the share read as each digit."""
    counts = confusion(obs)
    if not np.all(np.isfinite(obs.cov_FxF)):
        distance = float("nan")
    else:
        distance = frechet_distance(obs.mean_F, obs.cov_FxF, evaluator.test_mean_F, evaluator.test_cov_FxF)
    mass_K = counts.sum(axis=0) / max(1, counts.sum())
    row: dict[str, float] = {"frechet_distance": reported(distance)}
    if conditional:
        row["accuracy"] = reported(np.trace(counts) / max(1, counts.sum()))
    row["confidence"] = reported(obs.confidence)
    row["digits_captured"] = 0  # filled in below, from the per-digit columns
    if conditional:
        accuracy_K = np.diag(counts) / np.maximum(counts.sum(axis=1), 1)
        row.update({f"acc_{k}": reported(a) for k, a in enumerate(accuracy_K)})
    row.update({f"mass_{k}": reported(m) for k, m in enumerate(mass_K)})
    row["digits_captured"] = int(np.sum(captured_digits(row, conditional)))
    return row


def digit_variety(obs: DigitObservation, evaluator: Evaluator) -> dict:
    """How varied each digit's samples are, as a share of the real test images of that digit: the
    spread of the evaluator's features within the digit (asked for, or read as for unconditional
    runs) over the real one. 1 is as varied as real digits; a generator that draws each digit in
    too few ways scores below. Also the mean over the digits."""
    share_K = np.asarray(obs.spread_K, np.float64) / evaluator.test_spread_K
    measured = share_K[np.isfinite(share_K)]  # a digit needs two samples for a spread
    mean = np.mean(measured) if measured.size else float("nan")
    return {"variety": reported(mean), "variety_per_digit": [reported(v) for v in share_K]}


def captured_digits(row: dict, conditional: bool) -> np.ndarray:
    """Which digits the run draws, for the watchdog's "digit lost" warning."""
    if conditional:
        return np.array([float(row[f"acc_{k}"]) >= CAPTURED_ACCURACY for k in range(N_DIGITS)])
    return np.array([float(row[f"mass_{k}"]) >= CAPTURED_SHARE for k in range(N_DIGITS)])
