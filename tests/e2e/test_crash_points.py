"""Crash points: kill an invocation where a Lambda can die, let it be retried, and find a failure-free run.

For each point of issue 10 (point 7) the same AppFlow input goes through the template's wiring
twice, each on its own stack: once with no failure (the baseline, one per stack configuration),
once with the invocation killed at that point. The killed invocation is retried the way its
trigger retries it (SQS redelivers the chunk message, the stream redelivers the batch, EventBridge
invokes again), and then duplicates are delivered on top (a chunk message, an S3 notification,
AppFlow's End report). The stored records, the set of published ``event_id``s, the wallet passes
and the run ledger (status, outcome and every count) must then equal the baseline's.

``MemberPass Changed`` events are compared by their last one per member (its pass digest), not by
every id: their ids carry the pass's revision, which counts the commits that touched it, and how
many there are depends on how the table's stream was cut into batches (a member whose account and
purchase fall in one batch gets one commit, in two batches two), which differs from run to run
with or without a failure. Every other event id, the final passes and the last pass event of each
member are compared exactly.

How a Lambda is killed: every botocore call of the process goes through ``_make_api_call``; the
fault plan makes one chosen call raise ``LambdaDied`` (a ``ConnectionError``, so no code path
takes it for bad input), either before the request is sent or after its response came back.
"""

from __future__ import annotations

import io
import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.client
import pytest

from appflow_ingest.adapters.chunk_queue import SqsChunkQueue
from appflow_ingest.adapters.run_ledger import DynamoRunLedger
from appflow_ingest.services.ingest_chunk import ChunkIngester
from appflow_local.clients import Emulator
from appflow_local.emulator.runtime import LocalRuntime
from appflow_local.operations.reingest import plan_chunks, reingest, reingest_scope
from appflow_local.operations.target import resolve_target
from appflow_local.sample_run.generator import LandedFile, end_flow_run_report, salesforce_id
from appflow_local.stack.description import landing_bucket
from appflow_local.stack.provision import provision
from appflow_local.stack.readback import member_passes, published_events, run_ledger, stored_records
from appflow_local.stack.samples import put_envelope
from appflow_local.stack.template import Template

pytestmark = pytest.mark.integration
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
FLOWS = {"sf-accounts": {"object": "Account"}, "sf-opportunities": {"object": "Opportunity"}}
ACCOUNTS_RUN = "0b4c4e6c-0000-4000-8000-00000000a001"
OPPORTUNITIES_RUN = "0b4c4e6c-0000-4000-8000-00000000b002"
MEMBERS = 60


class LambdaDied(ConnectionError):
    """The invocation is killed here (a Lambda timeout, an out-of-memory, a lost host)."""


# ------------------------------------------------------------------------------------------ the input
def _lines(records: list[Any]) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in records)


def appflow_input() -> list[LandedFile]:
    """Two runs: members (with a duplicate, an older version and an undecodable line) and won purchases."""
    members = [
        {
            "Id": salesforce_id("001", n),
            "Name": f"Member {n}",
            "Description": "padding " * 12,  # ~190 bytes a line: the file is 12 chunks of 1 KiB, two SQS batches
            "LastModifiedDate": f"2024-04-16T19:{n % 60:02d}:00Z",
        }
        for n in range(MEMBERS)
    ]
    members.insert(7, {**members[3], "LastModifiedDate": "2024-04-16T18:00:00Z", "Name": "older"})  # stale
    members.insert(20, b'{"Id": "broken')  # undecodable: quarantined
    purchases = [
        {
            "Id": salesforce_id("006", n),
            "AccountId": salesforce_id("001", n * 2),
            "StageName": "Closed Won",
            "Amount": 100 + n,
            "LastModifiedDate": "2024-04-16T20:00:00Z",
        }
        for n in range(MEMBERS // 2)
    ]
    return [
        LandedFile("sf-accounts", f"sf-accounts/{ACCOUNTS_RUN}/part-00000", _lines(members)),
        LandedFile("sf-opportunities", f"sf-opportunities/{OPPORTUNITIES_RUN}/part-00000", _lines(purchases)),
    ]


# ------------------------------------------------------------------------------------------ faults
@dataclass
class Fault:
    """Kill the invocation at the ``nth`` call matching ``matches``, before its request or after its response."""

    operation: str
    matches: Callable[[dict[str, Any]], bool]
    nth: int = 1
    after: bool = False
    times: int = 1  # consecutive matching calls that fail (a PutEvents answer with failed entries, each attempt)
    answer: Callable[[Any, dict[str, Any]], dict[str, Any]] | None = None  # instead of dying: this response
    seen: int = 0
    fired: int = 0

    def strike(self, operation: str, params: dict[str, Any]) -> bool:
        if operation != self.operation or not self.matches(params):
            return False
        self.seen += 1
        if self.seen >= self.nth and self.fired < self.times:
            self.fired += 1
            return True
        return False


@dataclass(frozen=True)
class Profile:
    """A stack configuration: its parameters, and how the ingest function is made to hand over."""

    name: str
    parameters: dict[str, str] = field(default_factory=dict)
    hand_over_every: int | None = None  # records per batch; every chunk hands over after its first batch


DEFAULT = Profile("default", {"ChunkSizeBytes": "1024"})  # WriteStrategy read-first
CONDITIONAL_PUT = Profile("conditional-put", {"ChunkSizeBytes": "1024", "WriteStrategy": "conditional-put"})
TRANSACT = Profile("transact", {"ChunkSizeBytes": "1048576", "WriteStrategy": "transact"})
HAND_OVER = Profile("hand-over", {"ChunkSizeBytes": "1048576"}, hand_over_every=25)


def _table(params: dict[str, Any], logical_id: str) -> bool:
    return str(params.get("TableName", "")).endswith(logical_id) or any(
        str(item.get(next(iter(item)), {}).get("TableName", "")).endswith(logical_id)
        for item in params.get("TransactItems", [])
    )


def _statements_on(params: dict[str, Any], logical_id: str) -> bool:
    """A BatchExecuteStatement (read-first's writes) on the table: its statements name it, quoted."""
    return any(f'{logical_id}"' in s["Statement"] for s in params.get("Statements", []))


def _record_changed(params: dict[str, Any]) -> bool:
    return any(entry.get("DetailType") == "Record Changed" for entry in params.get("Entries", []))


def _remainder(params: dict[str, Any]) -> bool:
    return any(json.loads(e["MessageBody"]).get("handed_over_from") is not None for e in params.get("Entries", []))


def _reingested_remainder(params: dict[str, Any]) -> bool:
    return any(
        (body := json.loads(e["MessageBody"])).get("handed_over_from") is not None and body.get("reingestion")
        for e in params.get("Entries", [])
    )


def _planned(params: dict[str, Any]) -> bool:
    return bool(params.get("Entries")) and not _remainder(params) and "MessageBody" in params["Entries"][0]


def _partly_failed(client: Any, params: dict[str, Any]) -> dict[str, Any]:
    """PutEvents accepts the first entry and reports the others failed (FailedEntryCount > 0)."""
    entries = params["Entries"]
    first = client._make_api_call_unpatched("PutEvents", {**params, "Entries": entries[:1]})
    failed = [{"ErrorCode": "InternalFailure", "ErrorMessage": "injected"} for _ in entries[1:]]
    return {"FailedEntryCount": len(failed), "Entries": first["Entries"] + failed}


@dataclass(frozen=True)
class CrashPoint:
    name: str
    fault: Callable[[], Fault]
    profile: Profile = DEFAULT


CRASH_POINTS = [
    # After the write, before the publish: the chunk's records are written, the invocation dies
    # before its ledger transaction; and the publisher dies before its PutEvents.
    CrashPoint(
        "ingest dies after its writes, before the ledger",
        lambda: Fault("TransactWriteItems", lambda p: _table(p, "LedgerTable") and "chunk#" in json.dumps(p), nth=3),
    ),
    CrashPoint("publish dies before PutEvents", lambda: Fault("PutEvents", _record_changed)),
    CrashPoint(
        "in the middle of a batch of conditional puts",
        lambda: Fault("PutItem", lambda p: _table(p, "EntityTable"), nth=12, after=True),
        CONDITIONAL_PUT,
    ),
    # read-first (the default): after the reads, before the statements; and after a batch of
    # statements was applied, before its answer was read.
    CrashPoint(
        "read-first, between the reads and the statements",
        lambda: Fault("BatchExecuteStatement", lambda p: _statements_on(p, "EntityTable"), nth=3),
    ),
    CrashPoint(
        "read-first, in the middle of a batch of statements",
        lambda: Fault("BatchExecuteStatement", lambda p: _statements_on(p, "EntityTable"), nth=3, after=True),
    ),
    CrashPoint(
        "in the middle of a batch of transactions",
        lambda: Fault("TransactWriteItems", lambda p: _table(p, "EntityTable"), nth=1, after=True),
        TRANSACT,
    ),
    CrashPoint("in the middle of PutEvents (an exception)", lambda: Fault("PutEvents", _record_changed, after=True)),
    CrashPoint(
        "in the middle of PutEvents (FailedEntryCount > 0)",
        lambda: Fault("PutEvents", _record_changed, times=4, answer=_partly_failed),
    ),
    CrashPoint(
        "between two aggregate transactions",
        lambda: Fault("TransactWriteItems", lambda p: _table(p, "DerivedTable"), nth=1, after=True),
    ),
    CrashPoint(
        "in the hand-over, before queueing the remainder", lambda: Fault("SendMessageBatch", _remainder), HAND_OVER
    ),
    CrashPoint(
        "in the hand-over, after queueing the remainder",
        lambda: Fault("SendMessageBatch", _remainder, after=True),
        HAND_OVER,
    ),
    CrashPoint(
        "during the quarantine write",
        lambda: Fault("PutObject", lambda p: "quarantinebucket" in str(p.get("Bucket", "")).lower()),
    ),
    CrashPoint(
        "in the planner, in the middle of sending chunk messages",
        lambda: Fault("SendMessageBatch", _planned, nth=1, after=True),
    ),
    CrashPoint(
        "in the runs function, between publishing and marking published",
        lambda: Fault(
            "UpdateItem", lambda p: _table(p, "LedgerTable") and "published_signature" in p.get("UpdateExpression", "")
        ),
    ),
]


@pytest.fixture
def faults(monkeypatch) -> Iterator[list[Fault]]:
    """The fault plan every botocore call of this process consults."""
    plan: list[Fault] = []
    original = botocore.client.BaseClient._make_api_call

    def make_api_call(client: Any, operation: str, params: dict[str, Any]) -> Any:
        fault = next((f for f in plan if f.strike(operation, params)), None)
        if fault is None:
            return original(client, operation, params)
        if fault.answer is not None:
            return fault.answer(client, params)
        if fault.after:
            original(client, operation, params)
        raise LambdaDied(f"killed at {operation} ({'after' if fault.after else 'before'} call {fault.seen})")

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", make_api_call)
    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call_unpatched", original, raising=False)
    yield plan


# ------------------------------------------------------------------------------------------ one run
class Run:
    """One stack fed the input: drives it, delivers duplicates, reads back what counts."""

    def __init__(self, endpoint: str, profile: Profile) -> None:
        self.emulator = Emulator(endpoint)
        self.template = Template.load(TEMPLATE)
        self.stack = provision(
            self.template,
            self.emulator,
            stack_name=f"crash{uuid.uuid4().hex[:8]}",
            parameter_overrides={"FlowObjects": json.dumps(FLOWS), "WalletConfig": "{}", **profile.parameters},
        )
        self.runtime = LocalRuntime(self.emulator, self.stack, self.template, log_sink=io.StringIO())
        self.bucket = landing_bucket(self.stack, self.template)
        self.files = appflow_input()

    def feed(self) -> None:
        for landed in self.files:
            self.emulator.s3.put_object(Bucket=self.bucket, Key=landed.key, Body=landed.body)
        self.drain()
        self.report_ends()
        self.drain()

    def report_ends(self) -> None:
        for landed in self.files:
            report = end_flow_run_report([landed], self.bucket, ended=datetime(2024, 4, 16, 21, tzinfo=UTC))
            put_envelope(self.emulator, self.stack, self.template, report)

    def drain(self) -> None:
        summary = self.runtime.run_until_drained()
        assert not summary.dead_lettered and not summary.dropped and not any(summary.undelivered.values())
        assert not any(summary.failure_queue_depths.values()), summary.as_dict()

    def deliver_duplicates(self) -> None:
        """What SQS, S3 and AppFlow may deliver twice: a chunk message, a file's notification, the End reports."""
        landed = self.files[1]  # the smaller file: each of its chunks is delivered again
        head = self.emulator.s3.head_object(Bucket=self.bucket, Key=landed.key)
        notification = {
            "version": "0", "id": str(uuid.uuid4()), "detail-type": "Object Created", "source": "aws.s3",
            "account": "123456789012", "time": "2024-04-16T21:00:00Z", "region": "us-east-1", "resources": [],
            "detail": {"bucket": {"name": self.bucket}, "reason": "PutObject",
                       "object": {"key": landed.key, "size": head["ContentLength"], "etag": head["ETag"].strip('"')}},
        }  # fmt: skip
        assert not self.runtime.invoke("PlanFunction", notification).failed  # re-plans every chunk: all duplicates
        self.drain()
        self.report_ends()
        self.drain()

    def reingest(self) -> dict[str, Any]:
        """Re-ingest the members' run (``appflow-ingest reingest --execution-id``), deliver each of its
        chunk messages once more, and return the re-ingestion's ledger: its counts and hand-overs."""
        target = resolve_target(stack=self.stack.stack_name, endpoint_url=self.emulator.endpoint_url)
        scope = reingest_scope(target, execution_id=ACCOUNTS_RUN)
        reingestion = reingest(target, scope, note="crash points", drain=False)["reingestion"]
        self.drain()
        chunks = [replace(c, reingestion=reingestion) for c in plan_chunks(target, scope)]
        SqsChunkQueue(self.emulator.sqs, str(self.stack.attribute("ChunkQueue"))).send(chunks)  # duplicates
        self.drain()
        table = str(self.stack.attribute("LedgerTable"))
        counts = DynamoRunLedger(self.emulator.dynamodb, table).reingestion(ACCOUNTS_RUN, reingestion)
        marker = f"handover#{ACCOUNTS_RUN}#{reingestion}#"
        hand_overs = sorted(
            (item["pk"]["S"][len(marker) :], int(item["offset"]["N"]))
            for page in self.emulator.dynamodb.get_paginator("scan").paginate(TableName=table)
            for item in page["Items"]
            if item["pk"]["S"].startswith(marker)
        )
        return {
            "counts": {k: v for k, v in counts.items() if k not in ("reingestion", "requested_at", "files")},
            # chunk ids name the stack's landing bucket: compared by the rest of the id
            "hand_overs": [(chunk.split("/", 3)[-1], offset) for chunk, offset in hand_overs],
        }

    def outcome(self) -> dict[str, Any]:
        events = published_events(self.emulator, self.stack)
        ledger = {
            r["execution_id"]: {
                k: r[k]
                for k in (
                    "status", "outcome", "reasons", "files_seen", "chunks_planned", "chunks_finished", "chunks_pending",
                    "read", "written", "stale", "quarantined", "records_processed", "published_signature",
                )
            }
            for r in run_ledger(self.emulator, self.stack)
        }  # fmt: skip
        last_pass: dict[str, str] = {}
        for event in events:
            if event["detail-type"] == "MemberPass Changed":
                _, member, _, digest = event["detail"]["event_id"].split(":")
                last_pass[member] = digest
        return {
            "records": stored_records(self.emulator, self.stack),
            "event_ids": {e["detail"]["event_id"] for e in events if e["detail-type"] != "MemberPass Changed"},
            "last_pass_events": last_pass,
            "passes": member_passes(self.emulator, self.stack),
            "ledger": ledger,
        }


@pytest.fixture
def hand_over_every(monkeypatch) -> Callable[[Profile], None]:
    """Make the ingest function hand over deterministically, and a retry later than its first attempt.

    Batches of N records; the first attempt of a chunk runs out of time at its second batch, the
    k-th attempt at its (k+1)-th: a retry that ignored the hand-over its first attempt recorded
    would hand over from another offset (what issue 10 saw: more chunks finished than planned).
    """

    def apply(profile: Profile) -> None:
        if profile.hand_over_every is None:
            return
        defaults = dict(ChunkIngester.__init__.__kwdefaults__)
        monkeypatch.setattr(
            ChunkIngester.__init__, "__kwdefaults__", {**defaults, "batch_size": profile.hand_over_every}
        )
        attempts: Counter[str] = Counter()
        ingest = ChunkIngester.ingest

        def ingest_with_a_clock(self: ChunkIngester, chunk: Any, remaining_ms: Any = None) -> Any:
            attempts[chunk.id] += 1
            plenty = iter([10**9] * (attempts[chunk.id] - 1))
            return ingest(self, chunk, lambda: next(plenty, 0))

        monkeypatch.setattr(ChunkIngester, "ingest", ingest_with_a_clock)

    return apply


_BASELINES: dict[str, dict[str, Any]] = {}


def baseline(endpoint: str, profile: Profile) -> dict[str, Any]:
    """The failure-free run of a profile (computed once per profile)."""
    if profile.name not in _BASELINES:
        run = Run(endpoint, profile)
        run.feed()
        _BASELINES[profile.name] = run.outcome()
    return _BASELINES[profile.name]


@pytest.mark.parametrize("point", CRASH_POINTS, ids=lambda p: p.name)
def test_a_killed_invocation_retried_leaves_everything_as_a_run_without_failure(
    moto_endpoint, faults, hand_over_every, point
):
    hand_over_every(point.profile)
    expected = baseline(moto_endpoint, point.profile)
    # The baseline itself is what the issue asks of a run: every run settled and reconciled.
    assert {r["outcome"] for r in expected["ledger"].values()} == {"COMPLETED"}
    assert expected["ledger"][ACCOUNTS_RUN]["quarantined"] == 1 and expected["ledger"][ACCOUNTS_RUN]["stale"] == 1

    # When the invocation dies at this point once, is retried, and duplicates are delivered after
    run = Run(moto_endpoint, point.profile)
    fault = point.fault()
    faults.append(fault)
    run.feed()
    assert fault.fired, f"the crash point was never reached: {point.name}"
    run.deliver_duplicates()

    # Then the records, the events, the passes and the ledger are the failure-free run's
    got = run.outcome()
    assert got["records"] == expected["records"]
    assert got["event_ids"] == expected["event_ids"]
    assert got["passes"] == expected["passes"] and got["last_pass_events"] == expected["last_pass_events"]
    assert got["ledger"] == expected["ledger"]


REINGESTION_POINTS = [
    CrashPoint(
        "a re-ingested chunk's hand-over, before queueing the remainder",
        lambda: Fault("SendMessageBatch", _reingested_remainder),
        HAND_OVER,
    ),
    CrashPoint(
        "a re-ingested chunk's hand-over, after queueing the remainder",
        lambda: Fault("SendMessageBatch", _reingested_remainder, after=True),
        HAND_OVER,
    ),
]


@pytest.mark.parametrize("point", REINGESTION_POINTS, ids=lambda p: p.name)
def test_a_reingested_chunk_killed_in_its_hand_over_hands_over_exactly_and_counts_on_its_reingestion(
    moto_endpoint, faults, hand_over_every, point
):
    # Given a run ingested, then re-ingested (`appflow-ingest reingest`) with no failure: its chunks
    # hand over like the run's did, recorded and counted on the re-ingestion, never on the run
    hand_over_every(point.profile)
    clean = Run(moto_endpoint, point.profile)
    clean.feed()
    expected = clean.reingest()
    assert expected["hand_overs"] and expected["counts"]["chunks_planned"] == expected["counts"]["chunks_finished"]
    assert expected["counts"]["written"] == 0 and expected["counts"]["read"] > 0  # nothing changed: all stale

    # When a re-ingested chunk dies in its hand-over, is retried, and every chunk message comes twice
    run = Run(moto_endpoint, point.profile)
    run.feed()
    fault = point.fault()
    faults.append(fault)
    got = run.reingest()
    assert fault.fired, f"the crash point was never reached: {point.name}"

    # Then it handed over from the same offsets (the same remainder ids), the re-ingestion's counts
    # are the failure-free one's, and the run, its records and its events are untouched
    assert got == expected
    assert run.outcome() == clean.outcome()
