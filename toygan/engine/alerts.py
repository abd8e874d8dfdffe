"""Warnings a watcher should not miss: modes lost, a discriminator saturated for long, NaN or inf."""

from __future__ import annotations

import math

import numpy as np

SATURATED_REAL = 0.95  # mean D(x) above this ...
SATURATED_FAKE = 0.05  # ... and mean D(G(z)) below this ...
SATURATED_STEPS = 500  # ... for this many steps in a row is a saturated discriminator
HELD_FRAMES = 3  # a mode counts as lost only after it was captured this many frames in a row


class Watchdog:
    """Fed each frame's records in order; returns the warnings that frame raises."""

    def __init__(self, frame_every: int, unit: str = "mode", probability: bool = True):
        self._unit = unit  # what is lost: a mixture's "mode", or a "digit"
        self._probability = probability  # D's output is a probability; a critic's values cannot saturate
        self._saturated_frames_needed = max(1, math.ceil(SATURATED_STEPS / frame_every))
        self._held_K: np.ndarray | None = None
        self._saturated_frames = 0
        self.diverged_at: int | None = None  # the first step with NaN or inf

    @property
    def diverged(self) -> bool:
        return self.diverged_at is not None

    def state(self) -> dict:
        """What a checkpoint keeps, so that a resumed run warns exactly as an uninterrupted one."""
        held = [] if self._held_K is None else self._held_K.tolist()
        return {"held": held, "saturated_frames": self._saturated_frames}

    def load_state(self, state: dict) -> None:
        self._held_K = np.asarray(state["held"], int) if len(state["held"]) else None
        self._saturated_frames = int(state["saturated_frames"])

    def check(self, step: int, captured_K: np.ndarray, finite: bool, d_real: float, d_fake: float) -> list[str]:
        warnings = []
        if (not finite or not (math.isfinite(d_real) and math.isfinite(d_fake))) and not self.diverged:
            self.diverged_at = step
            warnings.append(f"step {step}: losses or parameters are NaN or infinite: training diverged")
        if self._held_K is None:
            self._held_K = np.zeros(captured_K.shape, int)
        lost = np.flatnonzero((self._held_K >= HELD_FRAMES) & ~captured_K)
        if lost.size:
            names = ", ".join(str(k) for k in lost)
            warnings.append(f"step {step}: {self._unit}{'s' if lost.size > 1 else ''} {names} lost")
        self._held_K = np.where(captured_K, self._held_K + 1, 0)
        if self._probability and d_real > SATURATED_REAL and d_fake < SATURATED_FAKE:
            self._saturated_frames += 1
            if self._saturated_frames == self._saturated_frames_needed:
                warnings.append(
                    f"step {step}: discriminator saturated for {SATURATED_STEPS}+ steps "
                    f"(D(x) {d_real:.3f}, D(G(z)) {d_fake:.3f}): the generator gets little signal"
                )
        else:
            self._saturated_frames = 0
        return warnings
