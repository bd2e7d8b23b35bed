"""The benchmarks run end to end at tiny sizes (``make bench-smoke``): every figure is produced.

Not a timed test: the figures of a smoke run mean nothing; that they exist and that newest-wins
held in every contender of ours does. The full run is ``make bench`` (docs/benchmarks.md).
"""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> tuple[dict, str]:
    """One smoke run shared by the tests of this module: (its JSON, its printed tables)."""
    out = tmp_path_factory.mktemp("bench") / "smoke.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text()), done.stdout


def test_the_smoke_run_produces_every_figure(smoke_run):
    results, stdout = smoke_run

    read = results["read"]["contenders"]
    assert set(read) == {"floor", "floor_streamed", "ours", "ours + rule set", "naive", "powertools"}
    for figures in read.values():
        assert figures["records"] > 0 and figures["records_per_s"] > 0
        assert {"ratio_to_floor", "cpu_us_per_record", "cpu_ratio_to_floor"} <= set(figures)

    write = results["write"]["contenders"]
    assert set(write) == {"naive_update_item", "conditional-put", "transact"}
    for figures in write.values():
        assert figures["records_per_s"] > 0 and figures["http_requests_per_record"] > 0
        assert figures["write_units_per_record"] > 0
        assert figures["records_left_older"] == 0  # newest-wins held, whatever the strategy
    assert write["transact"]["api_calls_per_record"] < write["conditional-put"]["api_calls_per_record"]

    wrangler = results["awswrangler"]
    if importlib.util.find_spec("awswrangler") is None:
        assert "not installed" in wrangler["skipped"]
    else:
        assert wrangler["contenders"]["ours"]["records_left_older"] == 0
        assert wrangler["contenders"]["awswrangler"]["records_left_older"] > 0  # last write wins, not newest
        assert wrangler["contenders"]["awswrangler"]["records_per_s"] > 0

    for strategy in ("conditional-put", "transact"):
        cost = results["cost"]["strategies"][strategy]
        assert cost["total"] > cost["dynamodb_writes"] > 0 and cost["lambda_ingest"] > 0
    assert results["cost"]["appflow"] > 0

    for heading in ("read + parse + rules", "newest-wins writes", "x floor", "left older"):
        assert heading in stdout


def test_the_cost_scenarios_have_the_documented_shape_and_keep_newest_wins(smoke_run):
    """The issue's shape: scenario -> contender -> figures; newest-wins and one event per change, per scenario."""
    results, stdout = smoke_run
    scenarios = results["cost_scenarios"]
    assert list(scenarios) == ["first_load", "full_reload", "overlapping_incremental", "touched_unchanged"]
    keys = {"dollars_per_million", "cpu_us_per_record", "write_units_per_record", "read_units_per_record",
            "events_per_record", "left_older"}  # fmt: skip
    for name, contenders in scenarios.items():
        assert list(contenders) == ["naive", "conditional-put", "default"]
        for contender, figures in contenders.items():
            assert keys <= set(figures)
            assert figures["left_older"] == 0, (name, contender)
            assert figures["dollars_per_million"] > 0 and figures["write_units_per_record"] >= 0
            check = results["cost_scenario_details"]["checks"][name][contender]
            assert check["events_exact"] and check["wrong_data"] == 0, (name, contender, check)
    # What does not depend on timing holds even at smoke size: a re-load reads and skips, never rewrites
    reload = scenarios["full_reload"]
    assert reload["default"]["write_units_per_record"] < reload["conditional-put"]["write_units_per_record"] / 5
    assert reload["default"]["read_units_per_record"] == 0.5
    assert (
        scenarios["first_load"]["default"]["write_units_per_record"]
        < scenarios["first_load"]["naive"]["write_units_per_record"]
    )
    assert "cost scenarios" in stdout
