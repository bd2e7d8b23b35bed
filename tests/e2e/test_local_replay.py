"""End to end through `local replay`: real handlers, moto's server, template wiring.

A generated AppFlow run (out-of-order files, duplicates, equal instants in both timestamp forms,
a tombstone, malformed lines) is replayed file group by file group; what `local dump` and
`local events` show must be what the newest-wins model predicts for that order. Replaying the
same files again must change nothing and publish nothing.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from itertools import groupby
from pathlib import Path
from typing import Any

import pytest

from appflow_local.cli import main
from appflow_local.clients import Emulator
from appflow_local.sample_run.generator import NEW_ACCOUNT_FIELD, LandedFile, end_flow_run_report, generate_run
from appflow_local.sample_run.oracle import differences, expected_outcome
from appflow_local.stack.description import landing_bucket, load_stack

pytestmark = pytest.mark.integration
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def _cli(capsys, *argv: str) -> tuple[int, list[str]]:
    code = main(list(argv))
    return code, [line for line in capsys.readouterr().out.splitlines() if line.strip()]


def _replay_groups(files: list[LandedFile], directory: Path) -> list[tuple[str, str, list[Path]]]:
    """Consecutive files of one flow run become one `replay` call: (flow, execution id, paths)."""
    groups = []
    for (flow, execution), members in groupby(files, key=lambda f: (f.flow, _execution_id(f))):
        paths = []
        for landed in members:
            path = directory / execution / landed.key.rsplit("/", 1)[-1]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(landed.body)
            paths.append(path)
        groups.append((flow, execution, paths))
    return groups


def _execution_id(landed: LandedFile) -> str:
    # The execution id is the folder after the flow name and any yyyy/mm/dd folders.
    folders = landed.key.split("/")[1:-1]
    return next(part for part in folders if len(part) == 36 and part.count("-") == 4)


def _replay_all(capsys, endpoint: str, stack_name: str, groups, *, new_execution: str = "") -> list[dict[str, Any]]:
    summaries = []
    for flow, execution, paths in groups:
        code, out = _cli(
            capsys,
            "local",
            "replay",
            "--endpoint-url",
            endpoint,
            "--stack-name",
            stack_name,
            "--flow",
            flow,
            "--execution-id",
            execution + new_execution,
            *map(str, paths),
        )
        summary = json.loads(out[-1])  # the last line printed is the JSON summary
        assert code == 0, summary
        summaries.append(summary)
    return summaries


def _total(summaries: list[dict[str, Any]], key: str) -> int:
    return sum(s[key] for s in summaries)


def test_replay_matches_the_newest_wins_model_and_replaying_again_changes_nothing(
    moto_endpoint, stack_name, tmp_path, capsys
):
    # Given a provisioned stack that knows both flows, and a generated run in landing order
    run = generate_run(accounts=30, opportunities=40, seed=11)
    assert (
        main(
            [
                "local",
                "provision",
                "--endpoint-url",
                moto_endpoint,
                "--stack-name",
                stack_name,
                "--template",
                str(TEMPLATE),
                "--parameter-overrides",
                f"FlowObjects={json.dumps(run.flow_objects)}",
                "ChunkSizeBytes=2048",
            ]
        )
        == 0
    )
    groups = _replay_groups(run.files, tmp_path)
    # replay lands each group under <flow>/<execution-id>/<name>, in this order: the model follows it
    replayed_order = [f for _, _, paths in groups for f in _by_name(run.files, paths)]
    expected = expected_outcome(replayed_order, run.flow_objects, run.rule_breaking)
    assert expected.stale and expected.quarantined and any(c.change == "DELETE" for c in expected.changes)

    # When every group is replayed
    summaries = _replay_all(capsys, moto_endpoint, stack_name, groups)

    # Then the functions' own counts are the model's
    assert _total(summaries, "read") == expected.read
    assert _total(summaries, "written") == expected.written
    assert _total(summaries, "stale") == expected.stale
    assert _total(summaries, "quarantined") == expected.quarantined
    # one Record Changed per change, and one Schema Changed for the field the account rules do not know
    new_fields = 1 if any(NEW_ACCOUNT_FIELD.encode() in f.body for f in run.files) else 0
    assert _total(summaries, "events_published") == len(expected.changes) + new_fields
    assert _total(summaries, "chunks_planned") > len(run.files)  # 2 KiB chunks: files were split

    # When AppFlow's End Flow Run Reports arrive, as the demo sends them (the last one claiming two
    # records more than its run's files hold)
    runs = _send_end_reports(capsys, moto_endpoint, stack_name, groups, run.files, tmp_path)

    # Then every run settles, and reconciles exactly when AppFlow's count is what was read
    *clean, short = runs
    assert [r["outcome"] for r in clean] == ["COMPLETED"] * len(clean)
    assert all(r["read"] == r["records_processed"] and r["status"] == "SUCCEEDED" for r in clean)
    assert short["outcome"] == "INCOMPLETE" and short["records_processed"] == short["read"] + 2
    assert "2 of the" in short["reasons"][0]

    # ... and so are the stored records and the events a consumer received
    stored, events = _dump_and_events(capsys, moto_endpoint, stack_name)
    assert differences(expected, stored, events) == []
    assert len({e["detail"]["event_id"] for e in events}) == len(events)
    settled = Counter(e["detail-type"] for e in events if e["detail-type"].startswith("FlowRun"))
    assert settled == {"FlowRun Completed": len(clean), "FlowRun Incomplete": 1}
    assert next(e for e in events if e["detail-type"] == "FlowRun Incomplete")["detail"]["missing"] == 2

    # When the same files are replayed again as new runs
    again = _replay_all(capsys, moto_endpoint, stack_name, groups, new_execution="-again")

    # Then nothing is written and nothing is published; the state is unchanged
    assert _total(again, "read") == expected.read
    assert _total(again, "written") == 0
    assert _total(again, "events_published") == 0
    assert _total(again, "stale") == expected.read - expected.quarantined
    assert _dump_and_events(capsys, moto_endpoint, stack_name) == (stored, events)


def _send_end_reports(capsys, endpoint: str, stack_name: str, groups, files, directory: Path) -> list[dict]:
    """`local send` each run's End report (counts from the run's files), then read `local runs`."""
    stack = load_stack(Emulator(endpoint), stack_name)
    bucket = landing_bucket(stack, stack.load_template())
    executions = list(dict.fromkeys(execution for _, execution, _ in groups))
    for position, execution in enumerate(executions):
        # replay lands every file of a group under <flow>/<execution>/<name>: the report counts them all
        run_files = [f for _, e, paths in groups if e == execution for f in _by_name(files, paths)]
        short_by = 2 if position == len(executions) - 1 else 0
        report = end_flow_run_report(
            run_files, bucket, ended=datetime(2024, 4, 16, 7, 0, tzinfo=UTC), short_by=short_by
        )
        path = directory / f"end-{execution}.json"
        path.write_text(json.dumps(report))
        code, _ = _cli(
            capsys, "local", "send", "--endpoint-url", endpoint, "--stack-name", stack_name, "--event", str(path)
        )
        assert code == 0
    code, out = _cli(capsys, "local", "runs", "--endpoint-url", endpoint, "--stack-name", stack_name)
    assert code == 0
    by_id = {run["execution_id"]: run for run in map(json.loads, out)}
    return [by_id[execution] for execution in executions]


def _by_name(files: list[LandedFile], paths: list[Path]) -> list[LandedFile]:
    by_name = {f.key.rsplit("/", 1)[-1]: f for f in files}
    return [by_name[p.name] for p in paths]


def _dump_and_events(capsys, endpoint: str, stack_name: str) -> tuple[list[dict], list[dict]]:
    code, dump = _cli(capsys, "local", "dump", "--endpoint-url", endpoint, "--stack-name", stack_name)
    assert code == 0
    code, events = _cli(capsys, "local", "events", "--endpoint-url", endpoint, "--stack-name", stack_name)
    assert code == 0
    return [json.loads(line) for line in dump], [json.loads(line) for line in events]
