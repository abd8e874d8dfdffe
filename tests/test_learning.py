"""The shipped first scenario learns its mixture: the installed `toygan` command, run as a user runs it."""

import csv
import json
import subprocess

from conftest import TOYGAN

from toygan.config import load_scenario
from toygan.twod.fidelity import COVERAGE_SLACK, MASS_TOLERANCE, SPREAD_RANGE, SW_LIMIT


def test_two_gaussians_goes_from_far_to_matching_its_mixture(tmp_path):
    out = tmp_path / "run"
    done = subprocess.run(
        [TOYGAN, "run", "two-gaussians", "--no-live", "--views", "none", "--out", str(out)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    with (out / "metrics.csv").open() as file:
        rows = list(csv.DictReader(file))
    first, last = rows[0], rows[-1]
    summary = json.loads((out / "summary.json").read_text())
    weights = load_scenario("two-gaussians").data.weights
    coverage_truth = summary["reference"]["coverage_mean"]

    # The untrained generator is far from the mixture, whatever its points' quality reads.
    assert first["matches"] == "0" and float(first["sw_ratio"]) > 3 * SW_LIMIT

    # The trained one meets every criterion.
    assert int(last["modes_captured"]) == len(weights)
    assert all(abs(float(last[f"mass_{k}"]) - w) <= MASS_TOLERANCE for k, w in enumerate(weights))
    spreads = [float(v) for key, v in last.items() if key.startswith("spread_")]
    assert len(spreads) == 2 * len(weights) and all(SPREAD_RANGE[0] <= s <= SPREAD_RANGE[1] for s in spreads)
    assert float(last["sw_ratio"]) <= SW_LIMIT
    assert float(last["coverage"]) >= coverage_truth - COVERAGE_SLACK
    assert last["matches"] == "1" and summary["verdict"].startswith("matches the mixture")
    assert summary["matched_from_step"] is not None and 0 < summary["matched_from_step"] < int(last["step"])
    assert "matched the mixture from step" in done.stderr


def _rows(out):
    with (out / "metrics.csv").open() as file:
        return list(csv.DictReader(file))


def _short_run(tmp_path, scenario, steps):
    out = tmp_path / "run"
    command = [TOYGAN, "run", scenario, "--steps", str(steps), "--no-live", "--views", "none", "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = _rows(out)
    return rows[0], rows[-1], load_scenario(scenario).data.weights


def _mass_errors(row, weights):
    return [abs(float(row[f"mass_{k}"]) - w) for k, w in enumerate(weights)]


# The mode-collapse scenarios, shortened to 3,000 of their 10,000 steps. Their modes stay too wide
# (sd 0.02 and 0.05, against a generator that starts about 100 times wider), so the spread, distance
# and coverage criteria are not asserted: docs/experiments/objectives.md records how far they are.
def test_ring_8_finds_every_mode_at_its_weight(tmp_path):
    first, last, weights = _short_run(tmp_path, "ring-8", 3000)
    # From a generator that misses most modes to one that places points on every mode, at its weight.
    assert int(first["modes_captured"]) < 4 and float(first["high_quality"]) < 0.05
    assert int(last["modes_captured"]) == len(weights)
    assert max(_mass_errors(last, weights)) <= MASS_TOLERANCE
    assert float(last["high_quality"]) >= 0.5
    assert float(last["sw_ratio"]) <= float(first["sw_ratio"]) / 5


def test_grid_25_spreads_over_most_modes(tmp_path):
    first, last, weights = _short_run(tmp_path, "grid-25", 3000)
    # After 3,000 steps a 10-seed sweep holds 15-22 of the 25 modes, the rest coming by step 10,000.
    assert int(first["modes_captured"]) <= 10
    assert int(last["modes_captured"]) >= 15
    assert max(_mass_errors(last, weights)) <= 0.1  # a collapsed generator puts 0.5 or more on a few modes
    assert float(last["sw_ratio"]) <= float(first["sw_ratio"]) / 4
