import numpy as np

from toygan.engine.alerts import HELD_FRAMES, SATURATED_STEPS, Watchdog

ALL = np.array([True, True, True])


def test_a_mode_held_then_lost_is_reported_once_and_flicker_is_not():
    dog = Watchdog(frame_every=50)
    flicker = np.array([True, False, True])
    assert dog.check(0, flicker, True, 0.5, 0.5) == []
    assert dog.check(50, ALL, True, 0.5, 0.5) == []  # mode 1 seen once: not yet held
    assert dog.check(100, flicker, True, 0.5, 0.5) == []
    for step in range(150, 150 + 50 * HELD_FRAMES, 50):
        assert dog.check(step, ALL, True, 0.5, 0.5) == []
    warnings = dog.check(1000, np.array([True, False, False]), True, 0.5, 0.5)
    assert warnings == ["step 1000: modes 1, 2 lost"]
    assert dog.check(1050, np.array([True, False, False]), True, 0.5, 0.5) == []


def test_saturation_is_reported_after_enough_steps():
    dog = Watchdog(frame_every=100)
    frames_needed = SATURATED_STEPS // 100
    reports = [dog.check(100 * i, ALL, True, 0.99, 0.01) for i in range(frames_needed + 3)]
    assert [bool(r) for r in reports] == [False] * (frames_needed - 1) + [True] + [False] * 3
    assert "saturated" in reports[frames_needed - 1][0]
    assert dog.check(10_000, ALL, True, 0.6, 0.4) == []


def test_nan_marks_the_run_diverged():
    dog = Watchdog(frame_every=50)
    assert not dog.diverged
    warnings = dog.check(50, ALL, True, float("nan"), 0.5)
    assert dog.diverged and "NaN or infinite" in warnings[0]
    assert Watchdog(50).check(50, ALL, False, 0.5, 0.5)[0].endswith("training diverged")
