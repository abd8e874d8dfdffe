import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from toygan.engine import objectives
from toygan.engine.objectives import (
    CURVE_MEANING,
    HAS_PROBABILITY,
    LSGAN_CODINGS,
    OBJECTIVES,
    PAPER_DEFAULTS,
    clip_weights,
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    r1_penalty,
    shown_output,
)

REAL = jnp.array([1.0, -2.0])
FAKE = jnp.array([0.0, 2.0])


def softplus(t: float) -> float:
    return math.log1p(math.exp(t))


def test_log_losses_by_hand():
    # -log sigmoid(l) = softplus(-l), -log(1 - sigmoid(l)) = softplus(l).
    # real [1, -2]: softplus(-1) = 0.313262, softplus(2) = 2.126928 -> mean 1.220095
    # fake [0, 2]:  softplus(0) = ln 2 = 0.693147, softplus(2) = 2.126928 -> mean 1.410038
    # D loss = 1.220095 + 1.410038 = 2.630132
    assert float(discriminator_loss("log", REAL, FAKE)) == pytest.approx(2.630132, abs=1e-5)
    assert (softplus(-1) + softplus(2)) / 2 + (softplus(0) + softplus(2)) / 2 == pytest.approx(2.630132, abs=1e-6)
    # Chance: all logits 0 -> ln 2 + ln 2 = 1.386294
    assert float(discriminator_loss("log", jnp.zeros(3), jnp.zeros(3))) == pytest.approx(2 * math.log(2), abs=1e-6)
    # Non-saturating G: -log sigmoid(fake) = softplus(-fake): (ln 2 + softplus(-2)) / 2 = (0.693147 + 0.126928) / 2 = 0.410038
    assert float(generator_loss("log", FAKE)) == pytest.approx(0.410038, abs=1e-5)
    assert float(generator_loss("log", FAKE, "non-saturating")) == pytest.approx(0.410038, abs=1e-5)
    # Minimax G: log(1 - sigmoid(fake)) = -softplus(fake): -(0.693147 + 2.126928) / 2 = -1.410038
    assert float(generator_loss("log", FAKE, "minimax")) == pytest.approx(-1.410038, abs=1e-5)
    with pytest.raises(ValueError, match="form"):
        generator_loss("log", FAKE, "saturating")


def test_wasserstein_losses_by_hand():
    real, fake = jnp.array([1.0, -2.0]), jnp.array([0.5, 3.0])
    # critic: mean(fake) - mean(real) = 1.75 - (-0.5) = 2.25; generator: -mean(fake) = -1.75
    for name in ("wgan", "wgan-gp"):
        assert float(discriminator_loss(name, real, fake)) == pytest.approx(2.25)
        assert float(generator_loss(name, fake)) == pytest.approx(-1.75)
    assert float(discriminator_loss("wgan", jnp.zeros(2), jnp.zeros(2))) == 0.0


def test_hinge_losses_by_hand():
    real, fake = jnp.array([1.0, -2.0, 0.5]), jnp.array([0.0, 2.0, -3.0])
    # reals: relu(1 - 1) = 0, relu(1 + 2) = 3, relu(1 - 0.5) = 0.5 -> mean 3.5 / 3 = 1.166667
    # fakes: relu(1 + 0) = 1, relu(1 + 2) = 3, relu(1 - 3) = 0 -> mean 4 / 3 = 1.333333
    # D loss = 2.5; G loss = -mean(fake) = -(-1 / 3) = 0.333333
    assert float(discriminator_loss("hinge", real, fake)) == pytest.approx(2.5, abs=1e-6)
    assert float(generator_loss("hinge", fake)) == pytest.approx(1 / 3, abs=1e-6)
    # Chance (D = 0): 1 + 1 = 2; margins met (reals >= 1, fakes <= -1): 0.
    assert float(discriminator_loss("hinge", jnp.zeros(2), jnp.zeros(2))) == pytest.approx(2.0)
    assert float(discriminator_loss("hinge", jnp.array([1.0, 5.0]), jnp.array([-1.0, -7.0]))) == 0.0


def test_least_squares_losses_by_hand_in_both_codings():
    # Default, Pearson chi^2: a = -1, b = 1, c = 0.
    assert LSGAN_CODINGS["pearson"] == (-1.0, 1.0, 0.0) and PAPER_DEFAULTS["least-squares"] == dict(a=-1.0, b=1.0, c=0.0)
    # reals to b = 1: 0.5 * mean((1 - 1)^2, (-2 - 1)^2) = 0.5 * mean(0, 9) = 2.25
    # fakes to a = -1: 0.5 * mean((0 + 1)^2, (2 + 1)^2) = 0.5 * mean(1, 9) = 2.5   -> D loss 4.75
    assert float(discriminator_loss("least-squares", REAL, FAKE)) == pytest.approx(4.75)
    # G, fakes to c = 0: 0.5 * mean(0^2, 2^2) = 1.0
    assert float(generator_loss("least-squares", FAKE)) == pytest.approx(1.0)
    # Chance (D = 0): 0.5 * 1 + 0.5 * 1 = 1.
    assert float(discriminator_loss("least-squares", jnp.zeros(2), jnp.zeros(2))) == pytest.approx(1.0)

    # 0-1 coding: a = 0, b = 1, c = 1.
    # reals to 1: 2.25 as above; fakes to 0: 0.5 * mean(0^2, 2^2) = 1.0   -> D loss 3.25
    assert float(discriminator_loss("least-squares", REAL, FAKE, coding="0-1")) == pytest.approx(3.25)
    # G, fakes to 1: 0.5 * mean((0 - 1)^2, (2 - 1)^2) = 0.5 * mean(1, 1) = 0.5
    assert float(generator_loss("least-squares", FAKE, coding="0-1")) == pytest.approx(0.5)
    assert float(objectives.least_squares_generator_loss(jnp.array([3.0]), c=1.0)) == pytest.approx(2.0)  # 0.5 * 2^2


def test_gradient_penalty_is_zero_for_a_unit_gradient_critic_and_lambda_k_minus_1_squared_for_norm_k():
    real_key, fake_key, eps_key = jax.random.split(jax.random.key(0), 3)
    real_Nx2 = jax.random.normal(real_key, (64, 2)) + 3.0
    fake_Nx2 = jax.random.normal(fake_key, (64, 2))
    unit_2 = jnp.array([0.6, 0.8])  # |w| = 1
    linear = lambda w_2: lambda x_Nx2: x_Nx2 @ w_2
    assert float(gradient_penalty(linear(unit_2), real_Nx2, fake_Nx2, eps_key, 10.0)) == pytest.approx(0.0, abs=1e-5)
    # |grad| = 3 everywhere: 10 * (3 - 1)^2 = 40; |grad| = 0.5: 2 * (0.5 - 1)^2 = 0.5
    assert float(gradient_penalty(linear(3 * unit_2), real_Nx2, fake_Nx2, eps_key, 10.0)) == pytest.approx(40.0, rel=1e-5)
    assert float(gradient_penalty(linear(0.5 * unit_2), real_Nx2, fake_Nx2, eps_key, 2.0)) == pytest.approx(0.5, rel=1e-5)
    # A critic flat at the interpolates: lambda * (0 - 1)^2, with a finite gradient in its parameters.
    flat = lambda w_2: gradient_penalty(linear(w_2), real_Nx2, fake_Nx2, eps_key, 10.0)
    assert float(flat(jnp.zeros(2))) == pytest.approx(10.0)
    assert np.all(np.isfinite(jax.grad(flat)(jnp.zeros(2))))


def test_gradient_penalty_is_taken_per_sample_at_points_between_real_and_fake():
    # D(x) = |x|^2 / 2 has gradient x: the penalty sees |x_hat| at each interpolate. With real = fake = p,
    # every interpolate is p: 1 * (|p| - 1)^2 = (5 - 1)^2 = 16 for p = (3, 4), and (2 - 1)^2 = 1 for p = (0, 2).
    half_square = lambda x_NxD: 0.5 * jnp.sum(x_NxD**2, axis=1)
    points_Nx2 = jnp.array([[3.0, 4.0], [0.0, 2.0]])
    penalty = gradient_penalty(half_square, points_Nx2, points_Nx2, jax.random.key(1), 1.0)
    assert float(penalty) == pytest.approx((16.0 + 1.0) / 2)
    # Real at +u, fake at -u (|u| = 1): x_hat = (2 eps - 1) u, |x_hat| = |2 eps - 1| <= 1, so each term is in [0, 1].
    u_Nx2 = jnp.tile(jnp.array([[0.6, 0.8]]), (1000, 1))
    spread = gradient_penalty(half_square, u_Nx2, -u_Nx2, jax.random.key(2), 1.0)
    # eps ~ U[0, 1]: E[(|2 eps - 1| - 1)^2] = E[(v - 1)^2] for v ~ U[0, 1] = 1 / 3.
    assert float(spread) == pytest.approx(1 / 3, abs=0.03)


def test_r1_penalty_is_gamma_over_two_times_the_squared_input_gradient():
    # Linear critic w = (3, 4): |grad|^2 = 25 at every real point; gamma = 2: 2 / 2 * 25 = 25.
    real_Nx2 = jax.random.normal(jax.random.key(3), (16, 2))
    assert float(r1_penalty(lambda x_Nx2: x_Nx2 @ jnp.array([3.0, 4.0]), real_Nx2, 2.0)) == pytest.approx(25.0)


def test_clip_weights_bounds_every_leaf_and_keeps_the_tree():
    key_a, key_b = jax.random.split(jax.random.key(4))
    params = {
        "dense": {"kernel": jax.random.normal(key_a, (3, 4)), "bias": jnp.array([0.005, -0.002, 0.5, -0.5])},
        "scale": jax.random.normal(key_b, (2,)) * 10,
        "count": jnp.array(7, jnp.int32),
    }
    clipped = clip_weights(params, 0.01)
    assert jax.tree.structure(clipped) == jax.tree.structure(params)
    for leaf in jax.tree.leaves({"dense": clipped["dense"], "scale": clipped["scale"]}):
        assert float(jnp.max(jnp.abs(leaf))) <= 0.01
    np.testing.assert_array_equal(clipped["dense"]["bias"], jnp.array([0.005, -0.002, 0.01, -0.01]))  # inside: unchanged
    assert int(clipped["count"]) == 7  # not a weight

    # Flax NNX parameter state, as the trainer holds it.
    state = nnx.state(nnx.Linear(2, 3, rngs=nnx.Rngs(0)), nnx.Param)
    for leaf in jax.tree.leaves(clip_weights(state, 0.01)):
        assert float(jnp.max(jnp.abs(leaf))) <= 0.01
    assert PAPER_DEFAULTS["wgan"]["clip"] == 0.01


def test_registry_tables_cover_every_objective():
    assert OBJECTIVES == ("log", "wgan", "wgan-gp", "hinge", "least-squares")
    for table in (CURVE_MEANING, HAS_PROBABILITY, PAPER_DEFAULTS):
        assert set(table) == set(OBJECTIVES)
    assert all(isinstance(CURVE_MEANING[name], str) and CURVE_MEANING[name] for name in OBJECTIVES)
    assert [name for name in OBJECTIVES if HAS_PROBABILITY[name]] == ["log"]
    assert PAPER_DEFAULTS["wgan-gp"] == dict(optimizer="adam", gp_lambda=10.0, d_steps=5, lr=1e-4, beta1=0.0, beta2=0.9)
    assert PAPER_DEFAULTS["wgan"]["optimizer"] == "rmsprop" and PAPER_DEFAULTS["wgan"]["lr"] == 5e-5
    assert PAPER_DEFAULTS["wgan"]["d_steps"] == 5

    out = jnp.array([0.0, 2.0])
    np.testing.assert_allclose(shown_output("log", out), jax.nn.sigmoid(out))
    np.testing.assert_array_equal(shown_output("hinge", out), out)
    with pytest.raises(ValueError, match="unknown objective"):
        discriminator_loss("kl", out, out)
    with pytest.raises(ValueError, match="log"):
        generator_loss("wgan", out, "minimax")


def test_losses_jit_and_differentiate_for_every_objective():
    real, fake = jnp.array([0.3, -1.0]), jnp.array([0.2, 0.7])
    for name in OBJECTIVES:
        d = jax.jit(lambda r, f: discriminator_loss(name, r, f))(real, fake)
        g_grad = jax.grad(lambda f: generator_loss(name, f))(fake)
        assert np.isfinite(float(d)) and g_grad.shape == (2,) and np.all(np.isfinite(g_grad))
