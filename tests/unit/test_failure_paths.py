"""The ingest service with in-memory fakes: which errors are retried, which are quarantined once, and
how a hand-over and a retry's own writes are counted."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import orjson
import pytest
from botocore.exceptions import ClientError

from appflow_ingest.domain.landing.chunks import Chunk, HandOver
from appflow_ingest.domain.landing.keys import LandingKey
from appflow_ingest.domain.records.versions import ObjectConfig, RecordVersion
from appflow_ingest.domain.rules import ObjectRules
from appflow_ingest.domain.rules.rule_set import Field, RuleSet
from appflow_ingest.ports.entities import OURS, STALE, WRITTEN, WriteOutcome
from appflow_ingest.services.apply_changes import ChangeApplier
from appflow_ingest.services.ingest_chunk import ChunkIngester

FLOW = "sf-accounts"


def line(n: int, modified: str = "2024-04-16T19:00:00.000Z") -> bytes:
    return orjson.dumps({"Id": f"001{n:015d}", "LastModifiedDate": modified}) + b"\n"


class Bytes:
    """A landed object in memory; ``fail_at``: raise ``error`` once the reader asks past that offset."""

    def __init__(self, body: bytes, fail_at: int | None = None, error: BaseException | None = None) -> None:
        self.body, self.fail_at, self.error = body, fail_at, error

    def blocks(self, obj: Chunk, offset: int, stop: int | None = None) -> Iterator[bytes]:
        for start in range(offset, len(self.body), 64):
            if self.fail_at is not None and start >= self.fail_at:
                raise self.error  # type: ignore[misc]
            yield self.body[start : start + 64]

    def stream(self, obj: Chunk) -> Any:
        raise NotImplementedError

    def read_range(self, obj: Chunk, start: int, stop: int) -> bytes:
        return self.body[start:stop]


class Store:
    """Newest-wins in a dict, with ``written_by`` and an optional script of results."""

    def __init__(self) -> None:
        self.items: dict[str, tuple[int, str]] = {}

    def write_newest(
        self, versions: Sequence[RecordVersion], source: str, *, writer: str | None = None
    ) -> WriteOutcome:
        outcome = WriteOutcome()
        for version in versions:
            stored = self.items.get(version.key)
            if stored is None or stored[0] < version.version:
                self.items[version.key] = (version.version, writer or source)
                outcome.add(version, WRITTEN)
            elif stored == (version.version, writer or source):
                outcome.add(version, OURS)
            else:
                outcome.add(version, STALE)
        return outcome


class Quarantine:
    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.events: dict[str, dict[str, Any]] = {}

    def put(self, chunk: Chunk, entries: list[dict[str, Any]]) -> str:
        self.entries = list(entries)  # one object per chunk, overwritten by a retry
        return f"memory://{chunk.id}"

    def put_event(self, name: str, entry: dict[str, Any]) -> str:
        self.events[name] = entry
        return f"memory://{name}"


class Queue:
    def __init__(self) -> None:
        self.sent: list[Chunk] = []

    def send(self, chunks: list[Chunk]) -> None:
        self.sent.extend(chunks)


class Ledger:
    """The run ledger's chunk side: hand-overs first writer wins, chunks counted once."""

    def __init__(self) -> None:
        self.hand_overs: dict[str, HandOver] = {}
        self.counted: dict[str, tuple[int, int, int, int]] = {}

    def recorded_hand_over(self, chunk: Chunk) -> HandOver | None:
        return self.hand_overs.get(chunk.id)

    def hand_over(self, chunk: Chunk, at: HandOver) -> HandOver:
        return self.hand_overs.setdefault(chunk.id, at)

    def chunk_finished(self, chunk: Chunk, report: Any) -> bool:
        if chunk.id in self.counted:
            return False
        self.counted[chunk.id] = (report.read, report.written, report.stale, report.quarantined)
        return True


def chunk_of(body: bytes, start: int = 0) -> Chunk:
    return Chunk("landing", f"{FLOW}/run/part-0", len(body), start, len(body), "jsonl")


def ingester(source: Bytes, store: Store, quarantine: Quarantine, queue: Queue, ledger: Ledger | None = None, **kw):
    return ChunkIngester(
        source, store, quarantine, queue, {FLOW: ObjectConfig("Account")}, runs=ledger, batch_size=4, **kw
    )


def test_an_error_no_retry_can_fix_keeps_what_was_read_and_is_one_quarantine_entry():
    body = b"".join(line(n) for n in range(12))
    source = Bytes(body, fail_at=320, error=ValueError("a reader met bytes it cannot read"))
    store, quarantine = Store(), Quarantine()
    report = ingester(source, store, quarantine, Queue()).ingest(chunk_of(body))
    (entry,) = quarantine.entries
    assert report.written == len(store.items) > 0 and report.quarantined == 1
    assert report.read == report.written + report.quarantined
    assert entry["kind"] == "undecodable" and "ValueError" in entry["reason"]
    assert entry["offset"] == len(b"".join(line(n) for n in range(report.written)))  # where reading stood


@pytest.mark.parametrize(
    "error",
    [ClientError({"Error": {"Code": "SlowDown", "Message": "throttled"}}, "GetObject"), ConnectionError("reset")],
)
def test_throttling_and_connection_errors_fail_the_chunk_for_a_retry(error):
    body = b"".join(line(n) for n in range(12))
    with pytest.raises(type(error)):
        ingester(Bytes(body, fail_at=320, error=error), Store(), Quarantine(), Queue()).ingest(chunk_of(body))


def test_a_chunk_message_that_does_not_parse_is_quarantined_not_retried():
    quarantine = Quarantine()
    report = ingester(Bytes(b""), Store(), quarantine, Queue()).ingest_message('{"bucket": "b", "key"')
    assert report.quarantined == 1
    ((name, entry),) = quarantine.events.items()
    assert name.startswith("chunk-messages/") and entry["message"] == '{"bucket": "b", "key"'
    assert "expected a JSON chunk message" in entry["reason"]


def test_a_retry_meeting_its_own_writes_counts_them_written_and_a_repeat_within_the_chunk_stale():
    body = line(1) + line(2) + line(3) + line(4) + line(1) + line(5)  # id 1 twice, same version, two batches
    chunk = chunk_of(body)
    store = Store()
    first = ingester(Bytes(body), store, Quarantine(), Queue()).ingest(chunk)
    again = ingester(Bytes(body), store, Quarantine(), Queue()).ingest(chunk)  # a retry after a crash
    assert (first.written, first.stale) == (again.written, again.stale) == (5, 1)


def test_a_hand_over_is_recorded_first_and_every_attempt_hands_over_from_the_same_offset():
    body = b"".join(line(n) for n in range(10))
    chunk = chunk_of(body)
    ledger, store = Ledger(), Store()
    # The first attempt runs out of time after its first batch, hands over, and dies after queueing.
    first_queue = Queue()
    ingester(Bytes(body), store, Quarantine(), first_queue, ledger).ingest(chunk, remaining_ms=lambda: 0)
    # A retry with all the time in the world stops at the recorded offset, under the same remainder id.
    retry_queue = Queue()
    report = ingester(Bytes(body), store, Quarantine(), retry_queue, ledger).ingest(chunk, remaining_ms=lambda: 10**9)
    assert [c.id for c in retry_queue.sent] == [c.id for c in first_queue.sent]
    assert report.handed_over_at == ledger.hand_overs[chunk.id].offset == len(b"".join(line(n) for n in range(4)))
    assert (report.read, report.written) == (4, 4)


def test_a_duplicate_that_reached_further_falls_back_to_the_recorded_offset():
    body = b"".join(line(n) for n in range(12))
    chunk = chunk_of(body)
    ledger = Ledger()
    ledger.hand_overs[chunk.id] = HandOver(len(b"".join(line(n) for n in range(4))))  # another attempt's, first
    clock = iter([10**9, 0])  # this attempt runs out of time only after its second batch
    queue = Queue()
    report = ingester(Bytes(body), Store(), Quarantine(), queue, ledger).ingest(
        chunk, remaining_ms=lambda: next(clock, 0)
    )
    assert report.handed_over_at == ledger.hand_overs[chunk.id].offset and report.read == 4
    assert [c.start for c in queue.sent] == [ledger.hand_overs[chunk.id].offset]


def test_metrics_of_a_chunk_counted_before_are_zero(capsys):
    # The record counts go out as one EMF document per chunk (observability.emit_counts).
    def records_read() -> list[float]:
        documents = [orjson.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
        return [value for doc in documents if "RecordsRead" in doc for value in doc["RecordsRead"]]

    body = b"".join(line(n) for n in range(3))
    ledger = Ledger()
    ingester(Bytes(body), Store(), Quarantine(), Queue(), ledger).ingest(chunk_of(body))
    assert records_read() == [3.0]
    ingester(Bytes(body), Store(), Quarantine(), Queue(), ledger).ingest(chunk_of(body))  # a duplicate
    assert records_read() == [0.0]


# ------------------------------------------------------------------ masked fields in reasons
# A flow keyed by a field its rules mask (leads keyed by e-mail address, versioned by when consent
# was signed): the checks made before the rules (the id's characters, the key's size, clock sanity)
# name the field and the expectation, never the value (docs/security.md).
LEADS = ObjectConfig("Lead", id_field="Email", version_field="Consent_Signed_At__c")
LEAD_RULES = ObjectRules(
    {
        "Lead": RuleSet(
            "leads",
            "Lead",
            {"Email": Field(mask="hash"), "Consent_Signed_At__c": Field(type="datetime", mask="redact")},
        )
    },
    masking_key=b"unit masking key",
)


def test_reasons_about_a_masked_key_or_version_leave_the_value_out():
    leads = [
        {"Email": "ann\x00@example.com", "Consent_Signed_At__c": "2024-04-16T19:00:00Z"},  # a control character
        {"Email": "b" * 3000 + "@example.com", "Consent_Signed_At__c": "2024-04-16T19:00:00Z"},  # key too long
        {"Email": "carol@example.com", "Consent_Signed_At__c": "9999-12-31T00:00:00Z"},  # far in the future
        {"Email": "dave@example.com", "Consent_Signed_At__c": "2024-04-16T19:00:00Z"},
    ]
    body = b"".join(orjson.dumps(lead) + b"\n" for lead in leads)
    quarantine, store = Quarantine(), Store()
    ingester = ChunkIngester(Bytes(body), store, quarantine, Queue(), {FLOW: LEADS}, LEAD_RULES, batch_size=10)
    report = ingester.ingest(replace(chunk_of(body), landing=LandingKey(flow_name=FLOW)))

    assert (report.read, report.written, report.quarantined) == (4, 1, 3)
    assert [entry["field"] for entry in quarantine.entries] == ["Email", "Email", "Consent_Signed_At__c"]
    for entry in quarantine.entries:
        assert "not shown: the field is masked" in entry["reason"]
        assert "example.com" not in entry["reason"] and "9999" not in entry["reason"] and "bbbb" not in entry["reason"]
        assert entry["record"]["Email"].startswith("hmac-sha256:") and entry["record"]["Consent_Signed_At__c"] == "****"
    assert "control characters" in quarantine.entries[0]["reason"]
    assert "2048 bytes" in quarantine.entries[1]["reason"]
    assert "clock skew" in quarantine.entries[2]["reason"]


def test_a_change_event_with_a_masked_version_in_the_future_is_quarantined_without_it():
    event = {
        "id": "e-1",
        "detail-type": "LeadChangeEvent",
        "detail": {
            "ChangeEventHeader": {
                "entityName": "Lead",
                "changeType": "UPDATE",
                "recordIds": ["00Q5g00000AbCdEAAZ"],
                "commitTimestamp": 1713295500000,
                "changedFields": ["Consent_Signed_At__c"],
            },
            "Consent_Signed_At__c": "9999-12-31T00:00:00Z",
        },
    }
    quarantine = Quarantine()
    applier = ChangeApplier(
        merger=None,  # type: ignore[arg-type] - never reached: the event is rejected as it is read
        marks=None,  # type: ignore[arg-type]
        publisher=None,  # type: ignore[arg-type]
        rejected=quarantine,
        read_json=lambda bucket, key: None,
        event_source="test",
        objects_by_flow={"leads": LEADS},
        rules=LEAD_RULES,
    )
    report = applier.apply(event)

    (entry,) = quarantine.events.values()
    assert report.quarantined and entry["field"] == "Consent_Signed_At__c"
    assert "9999" not in entry["reason"] and "not shown: the field is masked" in entry["reason"]
    assert "clock skew" in entry["reason"] and entry["event"]["detail"]["Consent_Signed_At__c"] == "****"
