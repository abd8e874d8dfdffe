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
