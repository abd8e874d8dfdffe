import math

import numpy as np
import pytest

from toygan.config import builtin_names, list_scenarios, load_scenario, parse_override, scenario_from_table
from toygan.errors import ToyganError


def test_builtin_scenarios_hold_the_specified_mixtures():
    assert {"two-gaussians", "ring-8", "grid-25"} <= set(builtin_names())
    two = load_scenario("two-gaussians").data.build()
    np.testing.assert_allclose(two.weights_K, [0.5, 0.5])
    np.testing.assert_allclose(two.means_KxD, [[0, 0], [1, 1]])
    np.testing.assert_allclose(two.variances_KxD, 0.1)

    ring = load_scenario("ring-8").data.build()
    assert ring.n_modes == 8
    np.testing.assert_allclose(np.linalg.norm(ring.means_KxD, axis=1), 2.0, rtol=1e-6)
    angles = np.sort(np.mod(np.arctan2(ring.means_KxD[:, 1], ring.means_KxD[:, 0]), 2 * math.pi))
    np.testing.assert_allclose(angles, 2 * math.pi * np.arange(8) / 8, atol=1e-6)
    np.testing.assert_allclose(np.sqrt(ring.variances_KxD), 0.02, rtol=1e-6)

    grid = load_scenario("grid-25").data.build()
    assert grid.n_modes == 25
    assert {tuple(m) for m in grid.means_KxD.tolist()} == {(x, y) for x in range(-4, 5, 2) for y in range(-4, 5, 2)}
    np.testing.assert_allclose(np.sqrt(grid.variances_KxD), 0.05, rtol=1e-6)
    np.testing.assert_allclose(grid.weights_K, 1 / 25)


@pytest.mark.parametrize("protocol, quick", [("protocol-ring-8", "ring-8"), ("protocol-grid-25", "grid-25")])
def test_protocol_scenarios_keep_the_published_setting(protocol, quick):
    """What the published tables ran: the quick scenario's data, MLPs of 2 x 128, noise 256, batch 512,
    25,000 steps, 2,500 evaluation samples (tuning may change rates and options, not these)."""
    scenario = load_scenario(protocol)
    assert scenario.data == load_scenario(quick).data
    assert scenario.published == quick
    assert scenario.model.hidden == (128, 128) and scenario.model.discriminator_hidden in ((), (128, 128))
    assert (scenario.model.noise_dim, scenario.train.batch_size, scenario.train.steps) == (256, 512, 25_000)
    assert scenario.view.eval_samples == 2500
    assert scenario.train.generator_loss == "non-saturating"


def test_list_scenarios_describes_each():
    entries = dict(list_scenarios())
    assert all(entries[name] for name in ("two-gaussians", "ring-8", "grid-25"))


def test_user_file_and_overrides(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(
        "[mixture]\nweights = [0.25, 0.75]\nmeans = [[0, 0], [3, 0]]\nvariances = [[0.2, 0.2], [0.1, 0.4]]\n[train]\nsteps = 300\n"
    )
    scenario = load_scenario(path, {"train.lr_generator": 2e-4, "seed": 7, "model.hidden": [64]})
    assert scenario.name == "mine"
    assert scenario.train.steps == 300 and scenario.train.lr_generator == 2e-4
    assert scenario.seed == 7 and scenario.model.hidden == (64,)
    assert scenario.train.beta1 == 0.5


def test_resolved_scenario_round_trips_through_toml(tmp_path):
    scenario = load_scenario("ring-8", {"train.steps": 123})
    path = tmp_path / "resolved.toml"
    path.write_text(scenario.to_toml())
    assert load_scenario(path) == scenario


def test_override_values_are_read_as_toml():
    assert parse_override("train.steps=2000") == ("train.steps", 2000)
    assert parse_override("train.lr_generator=2e-4") == ("train.lr_generator", 2e-4)
    assert parse_override("train.generator_loss=minimax") == ("train.generator_loss", "minimax")
    assert parse_override("model.hidden=[64, 64]") == ("model.hidden", [64, 64])
    with pytest.raises(ToyganError, match="section.key=value"):
        parse_override("train.steps")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"train.steps": 0}, "train.steps must be positive"),
        ({"train.batch_size": -4}, "train.batch_size must be positive"),
        ({"train.lr_generator": 0.0}, "train.lr_generator must be positive"),
        ({"train.lr_discriminator": -1e-3}, "train.lr_discriminator must be positive"),
        ({"view.frame_every": 0}, "view.frame_every must be positive"),
        ({"train.steps": 2.5}, "train.steps must be a whole number"),
        ({"train.generator_loss": "wasserstein"}, "choose one of non-saturating, minimax"),
        ({"train.stepz": 10}, "did you mean 'steps'"),
        ({"mixture.weights": [0.5, 0.6]}, "sum to 1.1"),
        ({"mixture.variances": [[0.1, 0.1], [0.1, 0.0]]}, "non-positive"),
    ],
)
def test_bad_settings_are_named_with_their_file(override, message):
    with pytest.raises(ToyganError, match=message) as info:
        load_scenario("two-gaussians", override)
    assert "two-gaussians.toml" in str(info.value)


def test_unknown_scenario_suggests_the_closest_name():
    with pytest.raises(ToyganError, match="did you mean 'two-gaussians'"):
        load_scenario("two-gausians")


def test_malformed_toml_is_reported(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[mixture\nweights = [1.0]")
    with pytest.raises(ToyganError, match="not valid TOML"):
        load_scenario(path)


def test_missing_file_and_missing_mixture(tmp_path):
    with pytest.raises(ToyganError, match="does not exist"):
        load_scenario(tmp_path / "nope.toml")
    with pytest.raises(ToyganError, match=r"no data table: a scenario needs exactly one of \[mixture\]"):
        scenario_from_table({"name": "x"})


@pytest.mark.parametrize("name", ["two-gaussians", "moons"])
def test_a_conditional_gan_needs_labelled_data(name):
    with pytest.raises(ToyganError, match=r"model.conditioning needs labelled data: use it with \[mnist\]") as error:
        load_scenario(name, {"model.conditioning": "embedding"})
    assert "\n" not in str(error.value)
    assert load_scenario("mnist-cgan").model.conditioning == "embedding"  # MNIST's labels allow it
