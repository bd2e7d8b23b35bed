"""Every sample in events/ invoked the Docker-free way, against a stack provisioned from template.yaml.

The samples name the default stack's resources (``appflow-ingest-*``), as events/env.local.json
does for `sam local invoke`, so they run against their own emulator with the default stack name.
`local invoke` calls one handler once (like `sam local invoke`); `local send` puts an EventBridge
sample on its bus so the template's rules route it, and drains the pipeline.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from appflow_local.cli import main
from appflow_local.emulator.server import Emulator, embedded_emulator
from appflow_local.stack.description import load_stack
from appflow_local.stack.provision import sam_env_vars
from appflow_local.stack.readback import member_passes, published_events, run_ledger, stored_records
from appflow_local.stack.template import DEFAULT_STACK_NAME, Template

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"
PARTNER_SOURCE = "aws.partner/appflow/salesforce.com/123456789012/sf-cdc"
NEW_ACCOUNT = "0015g00000XyZaBAAV"
# The wallet sample: Ada joins, buys, and a purchase rung up on Grace is moved to her
ADA, GRACE = "0015g00000PaXyZAAV", "0015g00000PbQrSAAV"

# Every sample, in the order a story would deliver them, with the function that receives it.
SAMPLES = [
    ("appflow-start-flow-run-report.json", "RunsFunction"),
    ("s3-object-created.json", "PlanFunction"),
    ("s3-put-classic.json", "PlanFunction"),
    ("sqs-chunk-batch.json", "IngestFunction"),
    ("dynamodb-stream-batch.json", "PublishFunction"),
    ("aggregate-stream-batch.json", "AggregateFunction"),
    ("appflow-end-flow-run-report.json", "RunsFunction"),
    ("appflow-end-flow-run-report-failed.json", "RunsFunction"),
    ("change-event-create.json", "ChangesFunction"),
    ("change-event-update-nulled.json", "ChangesFunction"),
    ("change-event-delete.json", "ChangesFunction"),
    ("change-event-gap.json", "ChangesFunction"),
    ("change-event-pointer.json", "ChangesFunction"),
    ("scheduled-rederive.json", "RederiveFunction"),
]


def _cli(capsys, *argv: str) -> tuple[int, Any]:
    code = main(list(argv))
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    try:
        return code, json.loads(lines[-1])  # the JSON summary or result is the last line
    except (IndexError, json.JSONDecodeError):
        return code, lines


@pytest.fixture(scope="module")
def emulator_url():
    with embedded_emulator() as url:
        yield url


def _provision(capsys, url: str) -> Emulator:
    code, _ = _cli(capsys, "local", "provision", "--endpoint-url", url, "--template", str(REPO / "template.yaml"),
                   "--parameter-overrides", f"SalesforceEventSourceName={PARTNER_SOURCE}")  # fmt: skip
    assert code == 0
    code, _ = _cli(capsys, "local", "seed", "--endpoint-url", url)
    assert code == 0
    return Emulator(url)


def test_every_sample_is_covered_here():
    samples = {p.name for p in EVENTS.glob("*.json")} - {"env.local.json"}
    assert samples == {name for name, _ in SAMPLES}


def test_env_local_json_is_what_provisioning_writes(emulator_url, capsys):
    # The file `sam local invoke --env-vars` reads must not drift from the template.
    emulator = _provision(capsys, emulator_url)
    template = Template.load(REPO / "template.yaml")
    stack = load_stack(emulator, DEFAULT_STACK_NAME)
    expected = sam_env_vars(stack, template, emulator_url, "http://host.docker.internal:5000")
    committed = json.loads((EVENTS / "env.local.json").read_text())
    # Every function has its entry and no value is stale. A variable added to the template since
    # is not an error here (SAM keeps the template's value); regenerate with the command in the
    # docs/local-mode.md to add it.
    assert set(committed) == set(expected)
    stale = {
        (function, name): (value, expected[function].get(name))
        for function, variables in committed.items()
        for name, value in variables.items()
        if expected[function].get(name) != value
    }
    assert not stale, f"events/env.local.json is stale, regenerate it: {stale}"


def test_every_sample_invoked_like_sam_local_invoke(emulator_url, capsys):
    emulator = _provision(capsys, emulator_url)
    stack = load_stack(emulator, DEFAULT_STACK_NAME)
    results = {}
    for name, function in SAMPLES:
        code, result = _cli(
            capsys, "local", "invoke", function, "--event", str(EVENTS / name), "--endpoint-url", emulator_url
        )
        assert code == 0, (name, result)
        results[name] = result

    # Object Created, both forms: the sample file is planned (the classic key decoded: spaces, "=")
    for name in ("s3-object-created.json", "s3-put-classic.json"):
        (plan,) = results[name]["planned"]
        assert plan["skipped"] is None and plan["chunks"] == 1, name
    assert "Account Rating=Warm/part 00000" in results["s3-put-classic.json"]["planned"][0]["uri"]
    # The chunk batch ingests the sample file: 4 records, one a tombstone
    assert results["sqs-chunk-batch.json"] == {"batchItemFailures": []}
    stored = {r["id"]: r for r in stored_records(emulator, stack)}
    assert (
        stored["0015g00000AbCdHAAV"]["deleted"] is True and stored["0015g00000AbCdGAAV"]["record"]["Name"] == "Initech"
    )
    # The stream batch publishes its two real changes (the third record moves no version)
    assert results["dynamodb-stream-batch.json"] == {"batchItemFailures": []}
    # The default stack keeps no wallet (WalletConfig empty): the aggregate sample derives no pass
    assert results["aggregate-stream-batch.json"] == {"batchItemFailures": []}
    # ... and its daily re-derivation has nothing to do
    assert results["scheduled-rederive.json"] == {"due": 0, "rederived": 0}
    assert ADA not in member_passes(emulator, stack)
    # The reports: the successful run reconciles (its one file, 4 records), the failed one does not
    assert results["appflow-end-flow-run-report.json"]["settled"] == "COMPLETED"
    runs = {r["execution_id"]: r for r in run_ledger(emulator, stack)}
    ok, failed = runs["9aa00099-9943-449a-9c7a-488dbc801242"], runs["3c1f6a52-7d0e-4b8e-9f2a-5e7b1c0d4a19"]
    assert (ok["status"], ok["read"], ok["records_processed"], ok["outcome"], ok["started"]) == (
        "SUCCEEDED",
        4,
        4,
        "COMPLETED",
        True,
    )
    assert (failed["status"], failed["chunks_pending"], failed["outcome"]) == (
        "FAILED",
        1,
        None,
    )  # its file not ingested yet
    # Change events: created, updated (Phone nulled), deleted; gap marks two records; pointer read from S3
    assert results["change-event-create.json"]["written"] == 1
    assert results["change-event-update-nulled.json"]["written"] == 1
    assert results["change-event-delete.json"]["written"] == 1
    assert results["change-event-gap.json"]["resync"] == 2
    pointer = results["change-event-pointer.json"]
    assert pointer["written"] == 1 and pointer["from_pointer"].startswith("s3://appflow-ingest-largeeventbucket/")
    stored = {r["id"]: r for r in stored_records(emulator, stack)}
    new = stored[NEW_ACCOUNT]
    assert new["deleted"] is True and new["record"]["Phone"] is None and new["record"]["Rating"] == "Warm"
    assert len(stored["0015g00000AbCdEAAV"]["record"]["Description"]) > 256 * 1024

    events = published_events(emulator, stack)
    by_type: dict[str, list[dict]] = {}
    for event in events:
        by_type.setdefault(event["detail-type"], []).append(event)
    assert len(by_type["Record Changed"]) == 2  # from the stream sample (no drain: nothing else streamed)
    assert [e["detail"]["outcome"] for e in by_type["FlowRun Completed"]] == ["COMPLETED"]
    assert sorted(e["detail"]["id"] for e in by_type["Resync Required"]) == ["0015g00000AbCdEAAV", "0015g00000AbCdFAAV"]
    for detail_type, schema_name in (("Record Changed", "record-changed"), ("FlowRun Completed", "flow-run-completed"),
                                     ("Resync Required", "resync-required")):  # fmt: skip
        schema = json.loads((REPO / "schemas" / f"{schema_name}.schema.json").read_text())
        for event in by_type[detail_type]:
            jsonschema.validate(event, schema)


def test_eventbridge_samples_sent_through_the_template_rules(emulator_url, capsys):
    # Given a fresh default stack (its own emulator state is shared: the ledger and table accumulate)
    emulator = _provision(capsys, emulator_url)
    stack = load_stack(emulator, DEFAULT_STACK_NAME)

    # When the change events and a run's notification and report are put on their buses
    for name in ("change-event-create.json", "change-event-update-nulled.json", "s3-object-created.json",
                 "appflow-end-flow-run-report.json", "appflow-end-flow-run-report-failed.json"):  # fmt: skip
        code, summary = _cli(capsys, "local", "send", "--endpoint-url", emulator_url, "--event", str(EVENTS / name))
        # Then each is routed by its rule and the pipeline drains cleanly
        assert code == 0 and summary["ok"], (name, summary)

    assert summary["invocations"].get("RunsFunction") == 1
    runs = {r["execution_id"]: r for r in run_ledger(emulator, stack)}
    # The seeded files landed with EventBridge notifications on: both runs' files were ingested
    assert runs["3c1f6a52-7d0e-4b8e-9f2a-5e7b1c0d4a19"]["chunks_pending"] == 0
    assert runs["3c1f6a52-7d0e-4b8e-9f2a-5e7b1c0d4a19"]["outcome"] == "INCOMPLETE"
    assert runs["9aa00099-9943-449a-9c7a-488dbc801242"]["outcome"] == "COMPLETED"
    code, _ = _cli(capsys, "local", "runs", "--endpoint-url", emulator_url)
    assert code == 0


def test_aggregate_sample_against_a_stack_with_the_wallet(emulator_url, capsys, tmp_path):
    # Given the default stack with the wallet on, its defaults: won Opportunity by AccountId, Silver from 500, Gold from 2000
    code, _ = _cli(capsys, "local", "provision", "--endpoint-url", emulator_url, "--template",
                   str(REPO / "template.yaml"), "--parameter-overrides", "WalletConfig={}")  # fmt: skip
    assert code == 0
    emulator = Emulator(emulator_url)
    stack = load_stack(emulator, DEFAULT_STACK_NAME)
    sample = EVENTS / "aggregate-stream-batch.json"
    # and the state the sample's MODIFY comes from: its old image (the purchase on Grace) already counted
    (moved,) = [r for r in json.loads(sample.read_text())["Records"] if r["eventName"] == "MODIFY"]
    before = {
        **moved,
        "eventName": "INSERT",
        "dynamodb": {**moved["dynamodb"], "NewImage": moved["dynamodb"]["OldImage"]},
    }
    del before["dynamodb"]["OldImage"]
    (tmp_path / "before.json").write_text(json.dumps({"Records": [before]}))

    def invoke(path: Path) -> dict[str, dict]:
        code, result = _cli(capsys, "local", "invoke", "AggregateFunction", "--event", str(path),
                            "--endpoint-url", emulator_url)  # fmt: skip
        assert (code, result) == (0, {"batchItemFailures": []})
        passes = member_passes(emulator, stack)
        return {m: {k: passes[m][k] for k in ("status", "lifetime_spend", "purchases", "tier")} for m in (ADA, GRACE)
                if m in passes}  # fmt: skip

    assert invoke(tmp_path / "before.json") == {
        GRACE: {"status": "inactive", "lifetime_spend": "1500", "purchases": 1, "tier": "Silver"}
    }
    # When the sample is invoked: Ada's member record, her 650.00 purchase, and the 1500.00 one moved to her
    after = invoke(sample)
    # Then Ada holds both purchases (amounts given as strings), and Grace's pass loses exactly the moved one
    assert after == {
        ADA: {"status": "active", "lifetime_spend": "2150", "purchases": 2, "tier": "Gold"},
        GRACE: {"status": "inactive", "lifetime_spend": "0", "purchases": 0, "tier": "Bronze"},
    }
    # and a replay of the same batch (a Lambda retry) counts nothing twice
    assert invoke(sample) == after
