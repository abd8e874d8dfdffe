import math

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.quiver import Quiver

from toygan.dirac import game as dirac
from toygan.engine.objectives import OBJECTIVES

START, LR, STEPS = (1.0, 1.0), 0.1, 500


def distances(objective, scheme, gamma=0.0, steps=STEPS, **kw):
    traj = dirac.trajectory(objective, scheme, *START, LR, steps, gamma, **kw)
    assert traj.shape == (steps + 1, 2)
    return np.asarray(dirac.distance_to_equilibrium(traj))


def sigmoid(t: float) -> float:
    return 1 / (1 + math.exp(-t))


def test_the_field_is_zero_at_the_equilibrium_for_every_objective():
    for objective in OBJECTIVES:
        for gamma in (0.0, 1.0):
            d_theta, d_psi = dirac.vector_field(objective, 0.0, 0.0, gamma)
            assert (float(d_theta), float(d_psi)) == (0.0, 0.0), objective
    assert [float(v) for v in dirac.vector_field("log", 0.0, 0.0, form="minimax")] == [0.0, 0.0]
    assert [float(v) for v in dirac.vector_field("log", 0.0, 0.0, unroll=3)] == [0.0, 0.0]


def test_the_field_is_the_papers_with_psi_mirrored():
    # Mescheder et al. score fakes high; toygan scores reals high: their psi is our -psi. Their fields, with
    # f'(t) = sigmoid(-t), in our psi: standard GAN (d theta, d psi) = (psi f'(-psi theta), -theta f'(-psi theta)),
    # non-saturating d theta = psi f'(psi theta), WGAN (psi, -theta), and the R1 penalty adds -gamma psi to d psi.
    theta, psi, gamma = 0.5, -0.3, 0.7
    cases = {
        ("log", "minimax"): (psi * sigmoid(psi * theta), -theta * sigmoid(psi * theta)),
        ("log", "non-saturating"): (psi * sigmoid(-psi * theta), -theta * sigmoid(psi * theta)),
        ("wgan", None): (psi, -theta),
        ("hinge", None): (psi, -theta),  # 1 + D(fake) = 1 + psi theta > 0: inside the margin, the WGAN field
        ("least-squares", None): (-(psi**2) * theta, -theta * (psi * theta + 1)),  # G: (psi theta)^2 / 2; D: (psi theta + 1)^2 / 2
    }
    for (objective, form), (d_theta, d_psi) in cases.items():
        got = [float(v) for v in dirac.vector_field(objective, theta, psi, form=form)]
        assert got == pytest.approx([d_theta, d_psi], abs=1e-6), objective
        got = [float(v) for v in dirac.vector_field(objective, theta, psi, gamma, form=form)]
        assert got == pytest.approx([d_theta, d_psi - gamma * psi], abs=1e-6), objective
    # WGAN-GP: gamma * (|psi| - 1)^2 adds -2 gamma (|psi| - 1) sign(psi) = -2 * 0.7 * (0.3 - 1) * (-1) = -0.98.
    got = [float(v) for v in dirac.vector_field("wgan-gp", theta, psi, gamma)]
    assert got == pytest.approx([psi, -theta - 0.98], abs=1e-6)


def test_unregularised_simultaneous_gradient_descent_does_not_converge():
    # Minimax log loss: spirals out.
    d = distances("log", "simultaneous", form="minimax")
    assert d[-1] > 1.4 * d[0]
    # Non-saturating log loss: its curvature pulls inwards, the discrete steps push out (by a factor
    # sqrt(1 + lr^2 / 4) near 0), and it ends on a cycle of radius sqrt(2 lr) = 0.447, not at the equilibrium.
    d = distances("log", "simultaneous")
    assert d[-100:].min() > 0.4
    d = distances("log", "simultaneous", steps=3000)
    assert d[-200:] == pytest.approx(np.full(200, math.sqrt(2 * LR)), abs=0.01)
    # WGAN without clipping: a rotation, each step multiplies the distance by sqrt(1 + lr^2) exactly.
    d = distances("wgan", "simultaneous")
    assert d[-1] == pytest.approx(math.sqrt(2) * (1 + LR**2) ** (STEPS / 2), rel=1e-3)
    assert d[-1] > 10 * d[0]


def test_unregularised_alternating_wgan_circles():
    d = distances("wgan", "alternating")
    assert d.min() > 0.9 * d[0] and d.max() < 1.1 * d[0]


@pytest.mark.parametrize("scheme", dirac.SCHEMES)
@pytest.mark.parametrize("objective, form", [("log", None), ("log", "minimax"), ("wgan", None)])
def test_r1_makes_both_schemes_converge(objective, form, scheme):
    d = distances(objective, scheme, gamma=1.0, form=form)
    assert d[-1] < 0.05
    assert distances(objective, scheme, form=form)[-1] > 0.3  # and without it, they do not


def test_options_clip_d_steps_and_unroll():
    traj = np.asarray(dirac.trajectory("wgan", "simultaneous", 1.0, 1.0, LR, 300, clip=0.3))
    assert np.abs(traj[:, 1]).max() <= 0.3 + 1e-7 and np.abs(traj[-1]).max() > 0.05  # clipped, still not converged
    more_d = dirac.trajectory("log", "alternating", 1.0, 1.0, (0.05, 0.1), 400, 1.0, d_steps=5)
    assert more_d.shape == (401, 2) and float(dirac.distance_to_equilibrium(more_d)[-1]) < 0.05
    # Unrolling D's steps into G's update (Metz et al. 2017) damps the rotation of the unregularised game.
    assert distances("log", "alternating", unroll=5)[-1] < 0.01 < distances("log", "alternating")[-1]
    with pytest.raises(ValueError, match="scheme"):
        dirac.trajectory("log", "extragradient", 1.0, 1.0, LR, 10)


def test_draw_puts_the_field_and_the_trajectory_on_the_axes():
    traj = dirac.trajectory("log", "simultaneous", *START, LR, 100, 1.0)
    ax = Figure().add_subplot()
    assert dirac.draw(ax, "log", "simultaneous", traj, gamma=1.0, n=9) is ax
    quivers = [c for c in ax.collections if isinstance(c, Quiver)]
    assert len(quivers) == 1 and quivers[0].N == 81
    (line,) = ax.lines
    np.testing.assert_allclose(line.get_xdata(), np.asarray(traj[:, 0]))
    np.testing.assert_allclose(line.get_ydata(), np.asarray(traj[:, 1]))
    assert ax.get_xlim() == (-2.0, 2.0) and "log" in ax.get_title()
