"""Adversarial AppFlow runs through the real local pipeline (template wiring, handlers, moto's server).

Each case lands what AppFlow can really write (docs/appflow.md §1-§3) in an unfriendly shape: every
format and value form, byte order marks, CRLF, files twice or out of order, malformed records
among good ones, End reports before the files. For every case the stored state must be the
newest-wins model's, every bad record quarantined with its file, offset, field and expectation
and counted, the rest of the file ingested, one event per real change, and the run ledger's
counts consistent with what was read.

One stack serves the module; each case uses its own execution ids and record ids, and only
looks at those. The cases run in lock step (see ``landed_together``), so the whole module drains
the pipeline a handful of times, not once per case. Inputs are generated in code and small.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from appflow_ingest.domain.records.salesforce_ids import to_18_character_id
from appflow_local.emulator.runtime import LocalRuntime, RunSummary
from appflow_local.emulator.server import Emulator
from appflow_local.sample_run.generator import LandedFile, end_flow_run_report
from appflow_local.sample_run.oracle import differences, expected_outcome
from appflow_local.stack.description import landing_bucket
from appflow_local.stack.provision import provision
from appflow_local.stack.readback import published_events, run_ledger, stored_records
from appflow_local.stack.samples import put_envelope
from appflow_local.stack.template import Template

pytestmark = pytest.mark.integration
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"

ACCOUNTS = "sf-accounts"  # configured: Account
PROMOTIONS = "sf-promotions"  # configured: a custom object
UNCONFIGURED = "sf-unlisted"  # not configured: the object comes from attributes.type or the id prefix
FLOW_OBJECTS = {ACCOUNTS: {"object": "Account"}, PROMOTIONS: {"object": "Promotion__c"}}


@dataclass
class Landed:
    """What one case put in the landing bucket, in landing order, and the records it meant."""

    flow: str
    key: str
    records: list[dict[str, Any]]  # the logical records, as JSON Lines would carry them


class SharedRun:
    """The module's stack and warm functions, and what it holds, read back once per drain."""

    def __init__(self, emulator: Emulator, stack: Any, template: Template) -> None:
        self.emulator, self.stack, self.template = emulator, stack, template
        self.bucket = landing_bucket(stack, template)
        self.runtime = LocalRuntime(emulator, stack, template, log_sink=io.StringIO())  # warm, like Lambda
        self._read: dict[str, list[dict[str, Any]]] = {}

    def drain(self) -> None:
        self.runtime.summary = RunSummary()
        summary = self.runtime.run_until_drained()
        # Nothing failed for good, nothing dead-lettered, nothing left undelivered, in any case.
        assert summary.ok, summary.as_dict()
        self._read.clear()

    def read(self, what: str) -> list[dict[str, Any]]:
        if what not in self._read:
            self._read[what] = {
                "stored": lambda: stored_records(self.emulator, self.stack),
                "events": lambda: published_events(self.emulator, self.stack),
                "ledger": lambda: run_ledger(self.emulator, self.stack),
                "quarantine": lambda: self._quarantined("QuarantineBucket"),
                "raw": lambda: self._quarantined("RawQuarantineBucket"),
            }[what]()
        return self._read[what]

    def _quarantined(self, logical_id: str) -> list[dict[str, Any]]:
        bucket, s3, entries = str(self.stack.attribute(logical_id)), self.emulator.s3, []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                entries += map(json.loads, s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().splitlines())
        return entries


@dataclass
class Case:
    """One adversarial case against the shared run: lands files, reads back only its own."""

    shared: SharedRun
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    landed: list[Landed] = field(default_factory=list)

    @property
    def bucket(self) -> str:
        return self.shared.bucket

    def id(self, n: int, prefix: str = "001") -> str:
        """An 18-character Salesforce-like id unique to this case."""
        return f"{prefix}{self.tag}{n:09d}"[:18]

    def execution(self, n: int = 0) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_OID, f"{self.tag}-{n}"))

    def key(self, flow: str, name: str, execution: int = 0) -> str:
        return f"{flow}/{self.execution(execution)}/{name}"

    def land(self, key: str, body: bytes, records: Sequence[dict[str, Any]] = ()) -> None:
        self.shared.emulator.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        self.landed.append(Landed(key.split("/")[0], key, list(records)))

    # ---------------------------------------------------------------- reading back this case's state
    def stored(self) -> list[dict[str, Any]]:
        return [r for r in self.shared.read("stored") if self.tag in (r["id"] or "")]

    def record_events(self) -> list[dict[str, Any]]:
        return [
            e
            for e in self.shared.read("events")
            if e["detail-type"] == "Record Changed" and self.tag in e["detail"]["id"]
        ]

    def quarantined(self) -> list[dict[str, Any]]:
        mine = {f"s3://{self.bucket}/{landed.key}" for landed in self.landed}
        entries = [e for e in self.shared.read("quarantine") if e["source"] in mine]
        return sorted(entries, key=lambda e: (e["source"], e["offset"]))

    def raw(self, key: str, offset: int) -> dict[str, Any]:
        """What the raw quarantine keeps, as it arrived, of the unparsable line at ``offset`` of ``key``."""
        source = f"s3://{self.bucket}/{key}"
        (entry,) = [e for e in self.shared.read("raw") if e["source"] == source and e["offset"] == offset]
        return entry

    def runs(self) -> dict[str, dict[str, Any]]:
        mine = {self.execution(n) for n in range(10)}
        return {r["execution_id"]: r for r in self.shared.read("ledger") if r["execution_id"] in mine}

    def counts(self) -> tuple[int, int, int, int]:
        """(read, written, stale, quarantined) over this case's runs, as the run ledger counted them.

        The ledger counts each file and chunk once however often it is delivered, and every
        record read is written, stale or quarantined: the four must add up.
        """
        runs = self.runs().values()
        read, written, stale, quarantined = (
            sum(r[k] for r in runs) for k in ("read", "written", "stale", "quarantined")
        )
        assert read == written + stale + quarantined, (read, written, stale, quarantined)
        return read, written, stale, quarantined

    def expected(self):
        """The newest-wins model over the logical records, in landing order."""
        files = [
            LandedFile(landed.flow, landed.key, b"".join(orjson.dumps(r) + b"\n" for r in landed.records))
            for landed in self.landed
        ]
        # The stack's default clock sanity: a version more than a day ahead of ingest time is quarantined.
        return expected_outcome(files, FLOW_OBJECTS, not_after_ms=int(time.time() * 1000) + 86_400_000)

    def assert_newest_wins(self) -> None:
        """Stored records and Record Changed events are exactly the model's."""
        assert differences(self.expected(), self.stored(), self.record_events()) == []

    def report_end(self, execution: int, records: int, status: str = "Execution Successful") -> dict[str, Any]:
        """Put AppFlow's End Flow Run Report for one of this case's runs on the default bus (as AppFlow words it)."""
        key = self.key(ACCOUNTS, "-", execution)
        run_file = LandedFile(ACCOUNTS, key, b"\n" * records)  # the report counts the records AppFlow wrote
        report = end_flow_run_report([run_file], self.bucket, ended=datetime(2024, 4, 16, 19, 5, tzinfo=UTC))
        report["detail"]["status"] = status
        put_envelope(self.shared.emulator, self.shared.stack, self.shared.template, report)
        return report

    def run_events(self, execution: int) -> list[str]:
        """The FlowRun outcomes published for one of this case's runs, in order."""
        return [
            e["detail-type"]
            for e in self.shared.read("events")
            if e["detail-type"].startswith("FlowRun") and e["detail"]["execution_id"] == self.execution(execution)
        ]


CaseSteps = Callable[[Case], Iterator[None]]
TOGETHER: dict[str, CaseSteps] = {}


def landed_together(steps: CaseSteps) -> Callable[..., None]:
    """Register a case as a generator that ``yield``s whenever it needs the pipeline drained.

    The module runs every case up to its next ``yield``, drains the pipeline once for all of
    them, and repeats until every case has finished (cases are independent: own ids, runs and
    keys). A case's assertions run in that loop; its test raises whatever the case raised.
    """
    TOGETHER[steps.__name__] = steps

    def test(outcomes: dict[str, BaseException | None]) -> None:
        if (error := outcomes[steps.__name__]) is not None:
            raise error

    test.__name__, test.__doc__ = steps.__name__, steps.__doc__
    return test


@pytest.fixture(scope="module")
def outcomes(moto_endpoint) -> dict[str, BaseException | None]:
    emulator, template = Emulator(moto_endpoint), Template.load(TEMPLATE)
    stack = provision(
        template,
        emulator,
        stack_name=f"adv{uuid.uuid4().hex[:8]}",
        parameter_overrides={"FlowObjects": json.dumps(FLOW_OBJECTS), "ChunkSizeBytes": "2048"},
    )
    shared = SharedRun(emulator, stack, template)
    running = {name: steps(Case(shared)) for name, steps in TOGETHER.items()}
    results: dict[str, BaseException | None] = {}
    while running:
        for name, steps in list(running.items()):
            try:
                next(steps)
            except StopIteration:
                results[name] = None
                running.pop(name)
            except Exception as error:  # noqa: BLE001 - reported by the case's own test
                results[name] = error
                running.pop(name)
        if running:
            shared.drain()
    return results


# ------------------------------------------------------------------------------------------ encoders
def account(record_id: str, modified: str, **fields: Any) -> dict[str, Any]:
    return {"Id": record_id, "Name": f"Account {record_id}", "LastModifiedDate": modified, **fields}


def json_lines(records: Sequence[Any], *, newline: bytes = b"\n") -> bytes:
    return b"".join((r if isinstance(r, bytes) else orjson.dumps(r)) + newline for r in records)


def csv_text(records: Sequence[dict[str, Any]], *, newline: str = "\r\n") -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(records[0]), lineterminator=newline)
    writer.writeheader()
    for record in records:
        writer.writerow(
            {k: "" if v is None else str(v).lower() if isinstance(v, bool) else v for k, v in record.items()}
        )
    return out.getvalue().encode()


def parquet(records: Sequence[dict[str, Any]], *, typed: bool, row_group_size: int = 3) -> bytes:
    if typed:
        rows = [{**r, "LastModifiedDate": datetime.fromisoformat(r["LastModifiedDate"])} for r in records]
    else:
        rows = [{k: None if v is None else str(v).lower() if isinstance(v, bool) else str(v) for k, v in r.items()}
                for r in records]  # fmt: skip
    out = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), out, row_group_size=row_group_size)
    return out.getvalue()


def quarantine_entry(case: Case, key: str, offset: int, field: str | None) -> dict[str, Any]:
    """The quarantine entry for the record at ``offset`` of ``key``; it must name all of file, offset and field."""
    source = f"s3://{case.bucket}/{key}"
    matches = [e for e in case.quarantined() if e["source"] == source and e["offset"] == offset]
    assert len(matches) == 1, (offset, [(e["offset"], e["field"], e["reason"]) for e in case.quarantined()])
    entry = matches[0]
    assert entry["field"] == field, entry
    assert entry["reason"].startswith(f"{source} offset {offset}: ") and "expected" in entry["reason"], entry
    return entry


# ------------------------------------------------------------------------------------------ JSON
@landed_together
def test_json_lines_with_bom_crlf_blank_lines_unicode_and_no_final_newline(case):
    records = [
        account(
            case.id(1),
            "2024-04-16T19:00:00.000+0000",
            Name="Zürich ✓ 株式会社",
            attributes={"type": "Account", "url": "/x"},
        ),
        account(case.id(2), "2024-04-16T19:00:00.000Z", BillingCity=None, Description="line1\nline2 \u2028"),
        account(case.id(3), "2024-04-16T19:00:00Z", IsDeleted=True),
    ]
    body = b"\xef\xbb\xbf" + json_lines(records[:2], newline=b"\r\n") + b"\r\n   \r\n" + orjson.dumps(records[2])
    case.land(case.key(ACCOUNTS, "part-00000"), body, records)
    yield

    assert case.counts() == (3, 3, 0, 0)  # read, written, stale, quarantined
    case.assert_newest_wins()
    assert case.stored()[0]["record"]["Name"] == "Zürich ✓ 株式会社"
    assert "attributes" not in case.stored()[0]["record"]


@landed_together
def test_a_json_array_file_with_a_byte_order_mark_is_read(case):
    records = [account(case.id(1), "2024-04-16T19:00:00.000Z"), account(case.id(2), "2024-04-16T19:00:00.000Z")]
    case.land(
        case.key(ACCOUNTS, "part-0"), b"\xef\xbb\xbf" + orjson.dumps(records, option=orjson.OPT_INDENT_2), records
    )
    yield
    assert case.counts() == (2, 2, 0, 0)  # read, written, stale, quarantined
    case.assert_newest_wins()


@landed_together
def test_malformed_lines_are_quarantined_one_by_one_and_the_rest_of_the_file_is_ingested(case):
    good = [account(case.id(n), "2024-04-16T19:00:00.000Z") for n in range(4)]
    lines: list[Any] = [
        good[0],
        b'{"Id": "' + case.id(9).encode() + b'", "LastModifiedDate": ',  # cut short
        b'{"Id": "\xff\xfe", "LastModifiedDate": "2024-04-16T19:00:00Z"}',  # not UTF-8
        b"null",
        b"42",
        good[1],
        {"Id": "", "LastModifiedDate": "2024-04-16T19:00:00Z"},
        {"Id": case.id(10), "LastModifiedDate": ""},
        {"Id": case.id(11), "LastModifiedDate": "2024-04-16"},
        {"Id": case.id(12), "LastModifiedDate": "yesterday"},
        {"Id": case.id(13), "LastModifiedDate": "2024-04-16T19:00:00Z", "IsDeleted": "maybe"},
        good[2],
        good[3],
    ]
    body = json_lines(lines)
    key = case.key(ACCOUNTS, "part-0")
    case.land(key, body, good)
    yield

    assert case.counts() == (13, 4, 0, 9)  # read, written, stale, quarantined
    case.assert_newest_wins()
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line if isinstance(line, bytes) else orjson.dumps(line)) + 1)
    assert "raw_location" in quarantine_entry(case, key, offsets[1], None)
    assert case.raw(key, offsets[1])["line"].startswith('{"Id"')  # unparsable: kept as is, apart
    assert "line_base64" in case.raw(key, offsets[2]) and "line_base64" not in quarantine_entry(
        case, key, offsets[2], None
    )
    quarantine_entry(case, key, offsets[3], None)
    quarantine_entry(case, key, offsets[4], None)
    quarantine_entry(case, key, offsets[6], "Id")
    quarantine_entry(case, key, offsets[7], "LastModifiedDate")
    quarantine_entry(case, key, offsets[8], "LastModifiedDate")
    quarantine_entry(case, key, offsets[9], "LastModifiedDate")
    quarantine_entry(case, key, offsets[10], "IsDeleted")
    assert len(case.quarantined()) == 9


# ------------------------------------------------------------------------------------------ CSV
@landed_together
def test_csv_with_bom_crlf_quoted_newlines_unicode_and_a_broken_row(case):
    records = [
        account(case.id(n), f"2024-04-16T19:00:0{n}.000Z", Description=text, IsDeleted=n == 2, AnnualRevenue="100.0")
        for n, text in enumerate(['multi\r\nline, "quoted"', "Zürich ✓", None, ""])
    ]
    body = b"\xef\xbb\xbf" + csv_text(records)
    broken = b'"' + case.id(7).encode() + b'",only two fields\r\n'
    cut = body.index(case.id(2).encode())  # the broken row goes before the third record
    key = case.key(ACCOUNTS, "part-00000")  # no extension: content decides
    case.land(key, body[:cut] + broken + body[cut:], records)
    yield

    assert case.counts() == (5, 4, 0, 1)  # read, written, stale, quarantined
    case.assert_newest_wins()
    stored = {r["id"]: r for r in case.stored()}
    assert stored[case.id(0)]["record"]["Description"] == 'multi\r\nline, "quoted"'
    assert stored[case.id(2)]["deleted"] is True
    assert "expected" in quarantine_entry(case, key, cut, None)["reason"]


@landed_together
def test_a_header_only_csv_and_an_empty_file_store_nothing_and_quarantine_nothing(case):
    case.land(case.key(ACCOUNTS, "part-0"), b"Id,Name,LastModifiedDate\r\n")
    case.land(case.key(ACCOUNTS, "part-1"), b"\xef\xbb\xbfId,Name,LastModifiedDate")  # no newline either
    case.land(case.key(ACCOUNTS, "part-2"), b"")
    yield
    assert case.counts() == (0, 0, 0, 0)
    assert case.stored() == [] and case.quarantined() == []


# ------------------------------------------------------------------------------------------ Parquet
@landed_together
def test_typed_parquet_with_nulls(case):
    yield from parquet_case(case, typed=True)


@landed_together
def test_all_string_parquet_with_nulls_and_a_record_without_a_version(case):
    yield from parquet_case(case, typed=False)


def parquet_case(case: Case, *, typed: bool) -> Iterator[None]:
    records = [
        account(case.id(n), f"2024-04-16T19:00:0{n}.000+00:00", AnnualRevenue=1000.5 * n, IsDeleted=n == 3,
                BillingCity=None if n % 2 else "Paris")
        for n in range(7)
    ]  # fmt: skip
    key = case.key(ACCOUNTS, "part-00000")
    body = parquet(records, typed=typed)
    if not typed:  # an all-string file with one row whose version is empty: quarantined, its group's rest kept
        bad = {**{k: str(v) for k, v in records[0].items()}, "Id": case.id(9), "LastModifiedDate": ""}
        rows = [{k: None if v is None else str(v).lower() if isinstance(v, bool) else str(v) for k, v in r.items()}
                for r in records]  # fmt: skip
        out = io.BytesIO()
        pq.write_table(pa.Table.from_pylist(rows[:4] + [bad] + rows[4:]), out, row_group_size=3)
        body = out.getvalue()
    case.land(key, body, records)
    yield

    assert case.counts() == ((7, 7, 0, 0) if typed else (8, 7, 0, 1))
    case.assert_newest_wins()
    if not typed:
        entry = next(iter(case.quarantined()))
        assert entry["field"] == "LastModifiedDate" and entry["record"]["Id"] == case.id(9)


@landed_together
def test_a_truncated_parquet_file_is_quarantined_by_name_and_counted(case):
    body = parquet([account(case.id(1), "2024-04-16T19:00:00.000Z")], typed=True)
    key = case.key(ACCOUNTS, "part-0")
    case.land(key, body[: len(body) // 2] + b"PAR1"[:0])
    yield
    assert case.counts() == (1, 0, 0, 1)
    assert case.stored() == []


# ------------------------------------------------------------------------------------------ order and repeats
@landed_together
def test_runs_landing_out_of_order_twice_with_duplicates_never_regress_and_publish_once_per_change(case):
    a, b, c = case.id(1), case.id(2), case.id(3)
    run1 = [account(a, "2024-04-16T19:00:00.000+0000", Name="a1"), account(b, "2024-04-16T19:00:00.000+0000")]
    run2 = [
        account(a, "2024-04-16T20:00:00.000Z", Name="a2"),
        account(a, "2024-04-16T20:00:00.000Z", Name="a2 again"),  # the same version twice in one file
        account(a, "2024-04-16T19:30:00.000Z", Name="a1.5"),  # an older one after it
        account(c, "2024-04-16T20:00:00.000Z", IsDeleted=True),
    ]
    run3 = [account(b, "2024-04-16T21:00:00.000+0100", Name="b equal instant"), account(c, "2024-04-16T19:00:00Z")]
    # the newest run lands first, the oldest last; one file is landed twice under the same key, and
    # an overlapping incremental window repeats run2's first record in a later run
    case.land(case.key(ACCOUNTS, "part-0", 2), json_lines(run2), run2)
    case.land(case.key(ACCOUNTS, "part-0", 3), json_lines(run3), run3)
    yield
    case.land(case.key(ACCOUNTS, "part-0", 2), json_lines(run2), run2)
    case.land(case.key(ACCOUNTS, "part-0", 1), json_lines(run1), run1)
    case.land(case.key(ACCOUNTS, "part-1", 4), json_lines(run2[:1]), run2[:1])
    yield

    case.assert_newest_wins()
    stored = {r["id"]: r for r in case.stored()}
    assert stored[a]["record"]["Name"] == "a2" and stored[c]["deleted"] is True
    assert stored[b]["record"]["Name"] == "b equal instant"  # run1's b, the same instant in +0000, changed nothing
    read, written, stale, quarantined = case.counts()
    assert written == case.expected().written == 3 and quarantined == 0 and stale == read - 3


@landed_together
def test_an_s3_notification_delivered_twice_ingests_the_file_once_in_effect_and_counts_it_once(case):
    records = [account(case.id(n), "2024-04-16T19:00:00.000Z") for n in range(60)]  # two 2 KiB chunks
    key = case.key(ACCOUNTS, "part-0")
    case.land(key, json_lines(records), records)
    head = case.shared.emulator.s3.head_object(Bucket=case.bucket, Key=key)
    notification = {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Object Created", "source": "aws.s3",
        "account": "123456789012", "time": "2024-04-16T19:05:00Z", "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{case.bucket}"],
        "detail": {"version": "0", "bucket": {"name": case.bucket}, "reason": "PutObject",
                   "object": {"key": key, "size": head["ContentLength"], "etag": head["ETag"].strip('"'),
                              "sequencer": "0062E99A88DC407460"}},
    }  # fmt: skip
    assert not case.shared.runtime.invoke("PlanFunction", notification).failed  # the repeat, before the original
    yield

    case.assert_newest_wins()
    assert case.counts() == (60, 60, 0, 0)  # the ledger counts the file once, however often it is planned
    assert len(case.record_events()) == 60
    run = case.runs()[case.execution()]
    assert (run["files_seen"], run["read"], run["chunks_pending"]) == (1, 60, 0)


# ------------------------------------------------------------------------------------------ where files land
@landed_together
def test_a_key_layout_with_schema_version_and_minute_folders_and_partitions(case):
    yield from key_layout_case(case, "schemaVersion_3/2024/04/16/19/05/")


@landed_together
def test_a_key_layout_with_day_folders_and_partitions(case):
    yield from key_layout_case(case, "2024/04/16/")


def key_layout_case(case: Case, folders: str) -> Iterator[None]:
    """Partition folders with spaces, the literal null, '+', '%' and non-ASCII; a folder marker."""
    records = [account(case.id(1), "2024-04-16T19:00:00.000Z", Rating="Warm")]
    nulls = [account(case.id(2), "2024-04-16T19:00:00.000Z", Rating=None)]
    execution = case.execution()
    first = f"appflow/out/{ACCOUNTS}/{folders}{execution}/Account Rating=Warm/part-00000"
    second = f"appflow/out/{ACCOUNTS}/{folders}{execution}/Account Rating=null/part-00000"
    # characters notifications URL-encode: a literal "+" and "%", and non-ASCII
    third = f"appflow/out/{ACCOUNTS}/{folders}{execution}/Région=Île+de+France 100%/part-00000"
    unicode = [account(case.id(3), "2024-04-16T19:00:00.000Z", Region__c="Île+de+France 100%")]
    case.land(first, json_lines(records), records)
    case.land(second, json_lines(nulls), nulls)
    case.land(third, json_lines(unicode), unicode)
    case.land(f"appflow/out/{ACCOUNTS}/{folders}{execution}/", b"")  # a folder marker
    yield
    assert case.counts() == (3, 3, 0, 0)  # read, written, stale, quarantined
    for landed in case.landed:
        landed.flow = ACCOUNTS
    case.assert_newest_wins()
    assert case.runs()[execution]["files_seen"] == 3


@landed_together
def test_a_gzipped_csv_file_is_read(case):
    records = [account(case.id(n), "2024-04-16T19:00:00.000Z", Description="a,b\nc") for n in range(5)]
    case.land(case.key(ACCOUNTS, "part-0.csv.gz"), gzip.compress(csv_text(records)), records)
    yield
    assert case.counts() == (5, 5, 0, 0)  # read, written, stale, quarantined
    case.assert_newest_wins()


@landed_together
def test_lines_longer_than_several_chunks_are_read_once(case):
    records = [
        account(case.id(n), "2024-04-16T19:00:00.000Z", Description="é" * (n * 900)) for n in range(4)
    ]  # lines up to 5.5 KB of multi-byte text against 2 KiB chunks
    case.land(case.key(ACCOUNTS, "part-0"), json_lines(records), records)
    yield
    assert case.counts() == (4, 4, 0, 0)
    case.assert_newest_wins()


# ------------------------------------------------------------------------------------------ value forms
@landed_together
def test_rest_and_bulk_value_forms_and_timestamps_in_any_offset_compare_as_instants(case):
    a, b = case.id(1), case.id(2)
    rest = [  # REST: +0000, numbers as numbers, null for empty
        account(a, "2024-04-16T19:00:00.000+0000", AnnualRevenue=100, NumberOfEmployees=23, BillingCity=None),
        account(b, "2024-04-16T19:00:00.000+0000", AnnualRevenue=100, NumberOfEmployees=23, BillingCity=None),
    ]
    bulk = [  # Bulk 2.0: Z, numbers as text, "" for empty; a is newer by one millisecond, b is the same instant
        account(a, "2024-04-16T21:00:00.001+02:00", AnnualRevenue="100.0", NumberOfEmployees="23.0", BillingCity=""),
        account(b, "2024-04-16T12:00:00.000-07:00", AnnualRevenue="100.0", NumberOfEmployees="23.0", BillingCity=""),
    ]
    case.land(case.key(ACCOUNTS, "part-0", 1), json_lines(rest), rest)
    case.land(case.key(ACCOUNTS, "part-0", 2), csv_text(bulk), bulk)
    yield
    case.assert_newest_wins()
    stored = {r["id"]: r for r in case.stored()}
    assert stored[a]["version"] == "2024-04-16T19:00:00.001Z" and stored[b]["version"] == "2024-04-16T19:00:00.000Z"
    assert len(case.record_events()) == 3


@landed_together
def test_ids_of_15_and_18_characters_name_the_same_record(case):
    # Salesforce's 18-character id is the case-sensitive 15-character one plus a checksum of its
    # letter case; reports and some exports give the 15-character form. Both name one record.
    short = "001" + case.tag + "000001"
    short = short[:15]
    records = [account(short, "2024-04-16T19:00:00.000Z", Name="from a 15-character id")]
    case.land(case.key(ACCOUNTS, "part-0", 1), json_lines(records), records)
    yield
    stored = case.stored()
    assert len(stored) == 1
    long_id = stored[0]["id"]
    assert len(long_id) == 18 and long_id.startswith(short)
    newer = [account(long_id, "2024-04-16T20:00:00.000Z", Name="from the 18-character id")]
    older = [account(short, "2024-04-16T18:00:00.000Z", Name="older, 15 characters")]
    case.land(case.key(ACCOUNTS, "part-0", 2), json_lines(newer), newer)
    case.land(case.key(ACCOUNTS, "part-0", 3), json_lines(older), older)
    yield
    (stored,) = case.stored()
    assert stored["record"]["Name"] == "from the 18-character id" and stored["version"] == "2024-04-16T20:00:00.000Z"
    assert [e["detail"]["id"] for e in case.record_events()] == [long_id, long_id]  # two real changes, one record
    assert case.counts() == (3, 2, 1, 0)


@landed_together
def test_custom_objects_nested_attributes_and_null_empty_and_missing_fields(case):
    promo = case.id(1, prefix="a0X")
    lead = case.id(2, prefix="00Q")
    custom = case.id(3, prefix="a1B")
    promotions = [
        {"Id": promo, "LastModifiedDate": "2024-04-16T19:00:00.000Z", "Member__c": None, "Discount__c": "",
         "Owner": {"attributes": {"type": "User", "url": "/u"}, "Name": "Ann"}},
    ]  # fmt: skip
    unlisted = [
        {"attributes": {"type": "Lead", "url": "/l"}, "Id": lead, "LastModifiedDate": "2024-04-16T19:00:00.000Z"},
        {"attributes": {"type": "Thing__c"}, "Id": custom, "LastModifiedDate": "2024-04-16T19:00:00.000Z"},
        {"Id": case.id(5, prefix="00Q")[:15], "LastModifiedDate": "2024-04-16T19:00:00.000Z"},  # a Lead by its prefix
        {"Id": case.id(4, prefix="a2C"), "LastModifiedDate": "2024-04-16T19:00:00.000Z"},  # custom, no attributes
    ]
    case.land(case.key(PROMOTIONS, "part-0"), json_lines(promotions), promotions)
    key = case.key(UNCONFIGURED, "part-0")
    case.land(key, json_lines(unlisted), unlisted[:3])
    yield
    assert case.counts() == (5, 4, 0, 1)  # read, written, stale, quarantined
    stored = {(r["object"], r["id"]): r for r in case.stored()}
    short_lead = to_18_character_id(case.id(5, prefix="00Q")[:15])
    assert set(stored) == {("Promotion__c", promo), ("Lead", lead), ("Thing__c", custom), ("Lead", short_lead)}
    assert stored[("Promotion__c", promo)]["record"]["Owner"]["Name"] == "Ann"
    offset = len(json_lines(unlisted[:3]))
    assert "FLOW_OBJECTS" in quarantine_entry(case, key, offset, "attributes.type")["reason"]


# ------------------------------------------------------------------------------------------ AppFlow's run reports
@landed_together
def test_an_end_report_before_its_files_then_twice_settles_the_run_once_the_files_are_read(case):
    records = [account(case.id(n), "2024-04-16T19:00:00.000Z") for n in range(6)]
    body = csv_text(records)
    broken = body + b'"' + case.id(9).encode() + b'",two fields\r\n'  # AppFlow counted it: it is read, quarantined
    case.report_end(0, records=7)
    yield
    assert case.run_events(0) == ["FlowRun Incomplete"]  # nothing landed yet: 7 missing

    case.land(case.key(ACCOUNTS, "part-00000"), broken, records)
    yield
    case.report_end(0, records=7)  # AppFlow's best-effort event, delivered again
    yield

    run = case.runs()[case.execution()]
    assert (run["outcome"], run["read"], run["written"], run["quarantined"]) == ("COMPLETED", 7, 6, 1)
    assert run["read"] == run["written"] + run["stale"] + run["quarantined"]
    assert case.run_events(0) == ["FlowRun Incomplete", "FlowRun Completed"]
    case.assert_newest_wins()


@landed_together
def test_a_failed_run_keeps_what_it_landed_and_settles_incomplete_with_appflow_s_status(case):
    records = [account(case.id(n), "2024-04-16T19:00:00.000Z") for n in range(3)]
    case.land(case.key(ACCOUNTS, "part-00000"), json_lines(records), records)
    yield
    case.report_end(0, records=3, status="Execution Failed")
    yield
    run = case.runs()[case.execution()]
    assert run["outcome"] == "INCOMPLETE" and "Execution Failed" in run["reasons"][0]
    assert case.run_events(0) == ["FlowRun Incomplete"]
    case.assert_newest_wins()


@landed_together
def test_a_run_of_empty_and_header_only_files_reconciles_with_a_report_of_zero_records(case):
    case.land(case.key(ACCOUNTS, "part-0"), b"Id,Name,LastModifiedDate\r\n")
    case.land(case.key(ACCOUNTS, "part-1"), b"")
    case.report_end(0, records=0)
    yield
    run = case.runs()[case.execution()]
    assert (run["outcome"], run["read"]) == ("COMPLETED", 0)


# ------------------------------------------------------------------------------------------ format sniffing
@landed_together
def test_a_json_lines_file_whose_first_line_is_broken_is_still_read_as_json_lines(case):
    records = [account(case.id(n), "2024-04-16T19:00:00.000Z") for n in range(5)]
    first = b'"Id": "' + case.id(9).encode() + b'", "LastModifiedDate": "2024-04-16T19:00:00.000Z"}'  # lost its "{"
    key = case.key(ACCOUNTS, "part-0")  # ACCOUNTS configures no format: the content decides
    case.land(key, first + b"\n" + json_lines(records), records)
    yield
    assert case.counts() == (6, 5, 0, 1)  # read, written, stale, quarantined
    assert "line" not in quarantine_entry(case, key, 0, None)
    assert case.raw(key, 0)["line"] == first.decode()


@landed_together
def test_json_lines_whose_first_line_is_an_array_are_read_line_by_line(case):
    records = [account(case.id(n), "2024-04-16T19:00:00.000Z") for n in range(5)]
    key = case.key(ACCOUNTS, "part-0")
    body = orjson.dumps(records[:2]) + b"\n" + json_lines(records[2:3]) + b"{broken\n" + json_lines(records[3:])
    case.land(key, body, records)
    yield
    assert case.counts() == (6, 5, 0, 1)  # read, written, stale, quarantined
    case.assert_newest_wins()
    quarantine_entry(case, key, body.index(b"{broken"), None)


# ------------------------------------------------------------------------------------------ sizes
@landed_together
def test_a_record_too_large_for_a_dynamodb_item_is_stored_in_full_with_its_body_in_s3(case):
    records = [account(case.id(n), "2024-04-16T19:00:00.000Z", Description="x" * 50) for n in range(3)]
    # 440 KB of UTF-8: over 240 KB of JSON its body goes to S3, however well it would compress
    huge = account(case.id(9), "2024-04-16T19:00:00.000Z", Description="ü" * 220_000)
    key = case.key(ACCOUNTS, "part-0")
    # CSV: one chunk (a 440 KB JSON line would span hundreds of this stack's 2 KiB chunks)
    body = csv_text(records[:1] + [huge] + records[1:])
    case.land(key, body, records[:1] + [huge] + records[1:])
    yield
    assert case.counts() == (4, 4, 0, 0)  # read, written, stale, quarantined
    case.assert_newest_wins()  # local dump shows the full record: read from its body in S3
    (event,) = [e for e in case.record_events() if e["detail"]["id"] == case.id(9)]
    assert event["detail"]["record"] is None
    jsonschema.validate(event, json.loads((TEMPLATE.parent / "schemas" / "record-changed.schema.json").read_text()))
    ref = event["detail"]["record_ref"]
    body = case.shared.emulator.s3.get_object(Bucket=ref["bucket"], Key=ref["key"])["Body"].read()
    assert json.loads(body)["Description"] == "ü" * 220_000  # the consumer resolves the reference
    run = case.runs()[case.execution()]
    assert (run["read"], run["written"], run["quarantined"]) == (4, 4, 0)


# ------------------------------------------------------------------------------------------ poison records
def real_id(case: Case, n: int) -> str:
    """A real-looking 18-character Salesforce id (its suffix encodes the case of the first 15), unique to the case."""
    return to_18_character_id(f"001{case.tag[:3].upper()}{case.tag[3:]}{n:06d}")


def stored_by_id(case: Case, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    return {r["id"]: r for r in case.shared.read("stored") if r["id"] in ids}


@landed_together
def test_a_key_over_dynamodb_s_limit_is_quarantined_alone_and_the_rest_of_the_file_is_written(case):
    records = [account(case.id(n), "2024-04-16T19:00:00.000Z") for n in range(60)]
    poison = account("0" * 3000, "2024-04-16T19:00:00.000Z")  # DynamoDB's partition key limit is 2,048 bytes
    lines = records[:10] + [poison] + records[10:]
    key = case.key(ACCOUNTS, "part-0")
    case.land(key, json_lines(lines), lines)
    yield
    assert case.counts() == (61, 60, 0, 1)  # read, written, stale, quarantined
    case.assert_newest_wins()
    entry = quarantine_entry(case, key, len(json_lines(lines[:10])), "Id")
    assert "2048 bytes" in entry["reason"] and "partition key" in entry["reason"]


@landed_together
def test_a_far_future_version_is_quarantined_and_later_real_updates_are_not_blocked(case):
    a, b = case.id(1), case.id(2)
    first = [account(a, "9999-12-31T23:59:59.000+0000", Name="corrupt clock"), account(b, "2024-04-16T19:00:00Z")]
    key = case.key(ACCOUNTS, "part-0", 1)
    case.land(key, json_lines(first), first)
    yield
    entry = quarantine_entry(case, key, 0, "LastModifiedDate")
    assert "clock skew" in entry["reason"] and "9999-12-31" in entry["reason"]
    real = [account(a, "2024-04-16T20:00:00.000Z", Name="real update")]
    case.land(case.key(ACCOUNTS, "part-0", 2), json_lines(real), real)
    yield
    case.assert_newest_wins()
    assert {r["id"]: r["record"]["Name"] for r in case.stored()}[a] == "real update"
    assert case.counts() == (3, 2, 0, 1)


GZIPPED = 400


def gzipped(case: Case, damage: Callable[[bytes], bytes]) -> tuple[str, list[dict[str, Any]]]:
    records = [account(case.id(n), "2024-04-16T19:00:00.000Z", Description="d" * (n % 7)) for n in range(GZIPPED)]
    whole = gzip.compress(json_lines(records), compresslevel=1)
    key = case.key(ACCOUNTS, "part-0.jsonl.gz")
    case.land(key, damage(whole))
    return key, records


@landed_together
def test_a_truncated_gzip_file_keeps_what_was_decoded_and_is_one_quarantine_entry(case):
    key, records = gzipped(case, lambda whole: whole[: len(whole) * 3 // 5])
    yield
    (entry,) = case.quarantined()  # the break is one entry: file, offset reached, cause
    stored = sorted(r["id"] for r in case.stored())
    assert 0 < len(stored) < len(records)
    assert stored == sorted(r["Id"] for r in records[: len(stored)])  # every record before the cut
    assert entry["offset"] == len(json_lines(records[: len(stored)]))  # where the first record not read starts
    assert entry["source"] == f"s3://{case.bucket}/{key}" and "expected a complete gzip stream" in entry["reason"]
    run = case.runs()[case.execution()]
    assert (run["read"], run["written"], run["quarantined"], run["chunks_pending"]) == (
        len(stored) + 1,
        len(stored),
        1,
        0,
    )


@landed_together
def test_a_gzip_file_corrupt_in_the_middle_stores_nothing_garbled_and_is_one_quarantine_entry(case):
    # Bytes inserted mid-stream: deflate decodes garbage from there on and gzip notices only at the
    # end (its checksum). Ingested as it streamed, garbled lines parsed as records with ids nobody
    # sent; a corrupt file is now checked first and nothing of it is stored.
    key, _ = gzipped(case, lambda whole: whole[: len(whole) // 2] + b"\x00garbage" * 50 + whole[len(whole) // 2 :])
    yield
    (entry,) = case.quarantined()
    assert case.stored() == [] and entry["offset"] == 0 and "corrupt" in entry["reason"]
    run = case.runs()[case.execution()]
    assert (run["read"], run["quarantined"], run["chunks_pending"]) == (1, 1, 0)


@landed_together
def test_ids_in_another_case_with_whitespace_or_15_characters_name_one_record_stored_canonically(case):
    canonical = real_id(case, 1)
    forms = [canonical.lower(), f"  {canonical.upper()} ", canonical[:15], canonical]
    for n, form in enumerate(forms):  # each a newer version, landed in its own run
        record = [account(form, f"2024-04-16T19:00:0{n}.000Z", Name=f"version {n}")]
        case.land(case.key(ACCOUNTS, "part-0", n), json_lines(record), record)
    yield
    (stored,) = stored_by_id(case, [canonical]).values()
    assert stored["record"]["Id"] == canonical and stored["record"]["Name"] == "version 3"
    assert [r for r in case.shared.read("stored") if r["id"] and r["id"].lower() == canonical.lower()] == [stored]
    events = [e for e in case.shared.read("events") if e.get("detail", {}).get("id") == canonical]
    assert len(events) == 4  # four real changes of one record
    assert differences(case.expected(), [stored], events) == []


@landed_together
def test_an_id_with_a_control_character_is_quarantined_and_the_others_stored(case):
    good = [account(case.id(n), "2024-04-16T19:00:00.000Z") for n in range(3)]
    lines = [good[0], account(case.id(7) + "\x00", "2024-04-16T19:00:00.000Z"), *good[1:]]
    key = case.key(ACCOUNTS, "part-0")
    case.land(key, json_lines(lines), lines)
    yield
    assert case.counts() == (4, 3, 0, 1)
    case.assert_newest_wins()
    assert "control characters" in quarantine_entry(case, key, len(json_lines(lines[:1])), "Id")["reason"]
