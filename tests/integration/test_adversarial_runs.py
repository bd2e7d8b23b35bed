"""Adversarial AppFlow runs through the real local pipeline (template wiring, handlers, moto's server).

Each case lands what AppFlow can really write (APPFLOW.md §1-§3) in an unfriendly shape: every
format and value form, byte order marks, CRLF, files twice or out of order, malformed records
among good ones, End reports before the files. For every case the stored state must be the
newest-wins model's, every bad record quarantined with its file, offset, field and expectation
and counted, the rest of the file ingested, one event per real change, and the run ledger's
counts consistent with what was read.

One stack serves the module; each case uses its own execution ids and record ids, and only
looks at those. Inputs are generated in code and small: the module takes a few seconds.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from appflow_ingest.domain.salesforce_ids import to_18_character_id
from appflow_local.emulator import Emulator
from appflow_local.provision import provision
from appflow_local.readback import published_events, run_ledger, stored_records
from appflow_local.runtime import LocalRuntime, RunSummary
from appflow_local.sample_run import LandedFile, differences, end_flow_run_report, expected_outcome
from appflow_local.samples import put_envelope
from appflow_local.stack import landing_bucket
from appflow_local.template import Template

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


@dataclass
class Case:
    """One adversarial case against the shared stack: lands files, drains, reads back only its own."""

    emulator: Emulator
    stack: Any
    template: Template
    runtime: LocalRuntime
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    landed: list[Landed] = field(default_factory=list)
    summaries: list[dict[str, Any]] = field(default_factory=list)

    @property
    def bucket(self) -> str:
        return landing_bucket(self.stack, self.template)

    def id(self, n: int, prefix: str = "001") -> str:
        """An 18-character Salesforce-like id unique to this case."""
        return f"{prefix}{self.tag}{n:09d}"[:18]

    def execution(self, n: int = 0) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_OID, f"{self.tag}-{n}"))

    def key(self, flow: str, name: str, execution: int = 0, *, folders: str = "") -> str:
        return f"{flow}/{folders}{self.execution(execution)}/{name}"

    def land(self, key: str, body: bytes, records: Sequence[dict[str, Any]] = ()) -> None:
        self.emulator.s3.put_object(Bucket=self.bucket, Key=key, Body=body)
        self.landed.append(Landed(key.split("/")[0], key, list(records)))

    def drain(self) -> dict[str, Any]:
        self.runtime.summary = RunSummary()  # this drain's counts only
        summary = self.runtime.run_until_drained()
        result = summary.as_dict()
        assert summary.ok, result
        self.summaries.append(result)
        return result

    def total(self, name: str) -> int:
        return sum(s[name] for s in self.summaries)

    # ---------------------------------------------------------------- reading back this case's state
    def stored(self) -> list[dict[str, Any]]:
        return [r for r in stored_records(self.emulator, self.stack) if self.tag in (r["id"] or "")]

    def record_events(self) -> list[dict[str, Any]]:
        return [
            e
            for e in published_events(self.emulator, self.stack)
            if e["detail-type"] == "Record Changed" and self.tag in e["detail"]["id"]
        ]

    def quarantined(self) -> list[dict[str, Any]]:
        bucket = str(self.stack.attribute("QuarantineBucket"))
        mine, entries = {f"s3://{self.bucket}/{landed.key}" for landed in self.landed}, []
        for page in self.emulator.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                body = self.emulator.s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                entries += [e for e in map(json.loads, body.splitlines()) if e["source"] in mine]
        return sorted(entries, key=lambda e: (e["source"], e["offset"]))

    def runs(self) -> dict[str, dict[str, Any]]:
        mine = {self.execution(n) for n in range(10)}
        return {r["execution_id"]: r for r in run_ledger(self.emulator, self.stack) if r["execution_id"] in mine}

    def expected(self):
        """The newest-wins model over the logical records, in landing order."""
        files = [
            LandedFile(landed.flow, landed.key, b"".join(orjson.dumps(r) + b"\n" for r in landed.records))
            for landed in self.landed
        ]
        return expected_outcome(files, FLOW_OBJECTS)

    def assert_newest_wins(self) -> None:
        """Stored records and Record Changed events are exactly the model's."""
        assert differences(self.expected(), self.stored(), self.record_events()) == []

    def report_end(self, execution: int, records: int, status: str = "Execution Successful") -> dict[str, Any]:
        """Put AppFlow's End Flow Run Report for one of this case's runs on the default bus (as AppFlow words it)."""
        key = self.key(ACCOUNTS, "-", execution)
        run_file = LandedFile(ACCOUNTS, key, b"\n" * records)  # the report counts the records AppFlow wrote
        report = end_flow_run_report([run_file], self.bucket, ended=datetime(2024, 4, 16, 19, 5, tzinfo=UTC))
        report["detail"]["status"] = status
        put_envelope(self.emulator, self.stack, self.template, report)
        return report

    def run_events(self, execution: int) -> list[str]:
        """The FlowRun outcomes published for one of this case's runs, in order."""
        return [
            e["detail-type"]
            for e in published_events(self.emulator, self.stack)
            if e["detail-type"].startswith("FlowRun") and e["detail"]["execution_id"] == self.execution(execution)
        ]


@pytest.fixture(scope="module")
def shared_stack(moto_endpoint) -> Iterator[tuple[Emulator, Any, Template, LocalRuntime]]:
    emulator = Emulator(moto_endpoint)
    template = Template.load(TEMPLATE)
    stack = provision(
        template,
        emulator,
        stack_name=f"adv{uuid.uuid4().hex[:8]}",
        parameter_overrides={"FlowObjects": json.dumps(FLOW_OBJECTS), "ChunkSizeBytes": "1024"},
    )
    # One runtime for the module: its functions stay loaded between cases, like warm Lambdas.
    yield emulator, stack, template, LocalRuntime(emulator, stack, template, log_sink=io.StringIO())


@pytest.fixture
def case(shared_stack) -> Case:
    return Case(*shared_stack)


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
    summary = case.drain()

    assert (summary["read"], summary["written"], summary["quarantined"]) == (3, 3, 0)
    case.assert_newest_wins()
    assert case.stored()[0]["record"]["Name"] == "Zürich ✓ 株式会社"
    assert "attributes" not in case.stored()[0]["record"]


def test_a_json_array_file_with_a_byte_order_mark_is_read(case):
    records = [account(case.id(1), "2024-04-16T19:00:00.000Z"), account(case.id(2), "2024-04-16T19:00:00.000Z")]
    case.land(
        case.key(ACCOUNTS, "part-0"), b"\xef\xbb\xbf" + orjson.dumps(records, option=orjson.OPT_INDENT_2), records
    )
    summary = case.drain()
    assert (summary["read"], summary["written"], summary["quarantined"]) == (2, 2, 0)
    case.assert_newest_wins()


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
    summary = case.drain()

    assert (summary["read"], summary["written"], summary["quarantined"]) == (13, 4, 9)
    case.assert_newest_wins()
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line if isinstance(line, bytes) else orjson.dumps(line)) + 1)
    assert quarantine_entry(case, key, offsets[1], None)["line"].startswith('{"Id"')
    assert "line_base64" in quarantine_entry(case, key, offsets[2], None)
    quarantine_entry(case, key, offsets[3], None)
    quarantine_entry(case, key, offsets[4], None)
    quarantine_entry(case, key, offsets[6], "Id")
    quarantine_entry(case, key, offsets[7], "LastModifiedDate")
    quarantine_entry(case, key, offsets[8], "LastModifiedDate")
    quarantine_entry(case, key, offsets[9], "LastModifiedDate")
    quarantine_entry(case, key, offsets[10], "IsDeleted")
    assert len(case.quarantined()) == 9


# ------------------------------------------------------------------------------------------ CSV
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
    summary = case.drain()

    assert (summary["read"], summary["written"], summary["quarantined"]) == (5, 4, 1)
    case.assert_newest_wins()
    stored = {r["id"]: r for r in case.stored()}
    assert stored[case.id(0)]["record"]["Description"] == 'multi\r\nline, "quoted"'
    assert stored[case.id(2)]["deleted"] is True
    assert "expected" in quarantine_entry(case, key, cut, None)["reason"]


def test_a_header_only_csv_and_an_empty_file_store_nothing_and_quarantine_nothing(case):
    case.land(case.key(ACCOUNTS, "part-0"), b"Id,Name,LastModifiedDate\r\n")
    case.land(case.key(ACCOUNTS, "part-1"), b"\xef\xbb\xbfId,Name,LastModifiedDate")  # no newline either
    case.land(case.key(ACCOUNTS, "part-2"), b"")
    summary = case.drain()
    assert (summary["read"], summary["written"], summary["quarantined"], summary["failed_invocations"]) == (0, 0, 0, 0)
    assert case.stored() == [] and case.quarantined() == []


# ------------------------------------------------------------------------------------------ Parquet
@pytest.mark.parametrize("typed", [True, False], ids=["typed", "all-string"])
def test_parquet_in_both_typings_with_nulls_and_a_record_without_a_version(case, typed):
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
    summary = case.drain()

    assert summary["written"] == 7 and summary["quarantined"] == (0 if typed else 1)
    assert summary["read"] == 7 + (0 if typed else 1)
    case.assert_newest_wins()
    if not typed:
        entry = next(iter(case.quarantined()))
        assert entry["field"] == "LastModifiedDate" and entry["record"]["Id"] == case.id(9)


def test_a_truncated_parquet_file_is_quarantined_by_name_and_counted(case):
    body = parquet([account(case.id(1), "2024-04-16T19:00:00.000Z")], typed=True)
    key = case.key(ACCOUNTS, "part-0")
    case.land(key, body[: len(body) // 2] + b"PAR1"[:0])
    summary = case.drain()
    assert (summary["written"], summary["quarantined"]) == (0, 1)
    assert case.stored() == []


# ------------------------------------------------------------------------------------------ order and repeats
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
    case.drain()
    case.land(case.key(ACCOUNTS, "part-0", 2), json_lines(run2), run2)
    case.land(case.key(ACCOUNTS, "part-0", 1), json_lines(run1), run1)
    case.land(case.key(ACCOUNTS, "part-1", 4), json_lines(run2[:1]), run2[:1])
    case.drain()

    case.assert_newest_wins()
    stored = {r["id"]: r for r in case.stored()}
    assert stored[a]["record"]["Name"] == "a2" and stored[c]["deleted"] is True
    assert stored[b]["record"]["Name"] == "b equal instant"  # run1's b, the same instant in +0000, changed nothing
    assert case.total("written") == case.expected().written == 3 and case.total("quarantined") == 0
    assert case.total("stale") == case.total("read") - 3


def test_an_s3_notification_delivered_twice_ingests_the_file_once_in_effect_and_counts_it_once(case):
    records = [account(case.id(n), "2024-04-16T19:00:00.000Z") for n in range(30)]
    key = case.key(ACCOUNTS, "part-0")
    case.land(key, json_lines(records), records)
    head = case.emulator.s3.head_object(Bucket=case.bucket, Key=key)
    notification = {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "Object Created", "source": "aws.s3",
        "account": "123456789012", "time": "2024-04-16T19:05:00Z", "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{case.bucket}"],
        "detail": {"version": "0", "bucket": {"name": case.bucket}, "reason": "PutObject",
                   "object": {"key": key, "size": head["ContentLength"], "etag": head["ETag"].strip('"'),
                              "sequencer": "0062E99A88DC407460"}},
    }  # fmt: skip
    assert not case.runtime.invoke("PlanFunction", notification).failed  # the repeat, before the original
    case.drain()

    case.assert_newest_wins()
    assert case.total("written") == 30 and case.total("stale") == 30
    assert len(case.record_events()) == 30
    run = case.runs()[case.execution()]
    assert (run["files_seen"], run["read"], run["chunks_pending"]) == (1, 30, 0)


# ------------------------------------------------------------------------------------------ where files land
@pytest.mark.parametrize(
    "folders",
    [
        "schemaVersion_3/2024/04/16/19/05/",
        "2024/04/16/",
    ],
)
def test_every_key_layout_is_read_with_partition_folders_with_spaces_and_null(case, folders):
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
    summary = case.drain()
    assert (summary["read"], summary["written"], summary["quarantined"]) == (3, 3, 0)
    for landed in case.landed:
        landed.flow = ACCOUNTS
    case.assert_newest_wins()
    assert case.runs()[execution]["files_seen"] == 3


def test_a_gzipped_csv_file_is_read(case):
    records = [account(case.id(n), "2024-04-16T19:00:00.000Z", Description="a,b\nc") for n in range(5)]
    case.land(case.key(ACCOUNTS, "part-0.csv.gz"), gzip.compress(csv_text(records)), records)
    summary = case.drain()
    assert (summary["read"], summary["written"], summary["quarantined"]) == (5, 5, 0)
    case.assert_newest_wins()


def test_a_line_longer_than_chunks_and_blocks_is_read_once(case):
    records = [
        account(case.id(n), "2024-04-16T19:00:00.000Z", Description="é" * (n * 3000)) for n in range(4)
    ]  # lines up to 18 KB against 1 KiB chunks
    case.land(case.key(ACCOUNTS, "part-0"), json_lines(records), records)
    summary = case.drain()
    assert (summary["read"], summary["written"], summary["stale"]) == (4, 4, 0)
    case.assert_newest_wins()


# ------------------------------------------------------------------------------------------ value forms
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
    case.drain()
    case.assert_newest_wins()
    stored = {r["id"]: r for r in case.stored()}
    assert stored[a]["version"] == "2024-04-16T19:00:00.001Z" and stored[b]["version"] == "2024-04-16T19:00:00.000Z"
    assert len(case.record_events()) == 3


def test_ids_of_15_and_18_characters_name_the_same_record(case):
    # Salesforce's 18-character id is the case-sensitive 15-character one plus a checksum of its
    # letter case; reports and some exports give the 15-character form. Both name one record.
    short = "001" + case.tag + "000001"
    short = short[:15]
    records = [account(short, "2024-04-16T19:00:00.000Z", Name="from a 15-character id")]
    case.land(case.key(ACCOUNTS, "part-0", 1), json_lines(records), records)
    case.drain()
    stored = case.stored()
    assert len(stored) == 1
    long_id = stored[0]["id"]
    assert len(long_id) == 18 and long_id.startswith(short)
    newer = [account(long_id, "2024-04-16T20:00:00.000Z", Name="from the 18-character id")]
    older = [account(short, "2024-04-16T18:00:00.000Z", Name="older, 15 characters")]
    case.land(case.key(ACCOUNTS, "part-0", 2), json_lines(newer), newer)
    case.land(case.key(ACCOUNTS, "part-0", 3), json_lines(older), older)
    case.drain()
    (stored,) = case.stored()
    assert stored["record"]["Name"] == "from the 18-character id" and stored["version"] == "2024-04-16T20:00:00.000Z"


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
    summary = case.drain()
    assert (summary["read"], summary["written"], summary["quarantined"]) == (5, 4, 1)
    stored = {(r["object"], r["id"]): r for r in case.stored()}
    short_lead = to_18_character_id(case.id(5, prefix="00Q")[:15])
    assert set(stored) == {("Promotion__c", promo), ("Lead", lead), ("Thing__c", custom), ("Lead", short_lead)}
    assert stored[("Promotion__c", promo)]["record"]["Owner"]["Name"] == "Ann"
    offset = len(json_lines(unlisted[:3]))
    assert "FLOW_OBJECTS" in quarantine_entry(case, key, offset, "attributes.type")["reason"]


# ------------------------------------------------------------------------------------------ AppFlow's run reports
def test_an_end_report_before_its_files_then_twice_settles_the_run_once_the_files_are_read(case):
    records = [account(case.id(n), "2024-04-16T19:00:00.000Z") for n in range(6)]
    body = csv_text(records)
    broken = body + b'"' + case.id(9).encode() + b'",two fields\r\n'  # AppFlow counted it: it is read, quarantined
    case.report_end(0, records=7)
    case.drain()
    assert case.run_events(0) == ["FlowRun Incomplete"]  # nothing landed yet: 7 missing

    case.land(case.key(ACCOUNTS, "part-00000"), broken, records)
    case.drain()
    case.report_end(0, records=7)  # AppFlow's best-effort event, delivered again
    case.drain()

    run = case.runs()[case.execution()]
    assert (run["outcome"], run["read"], run["written"], run["quarantined"]) == ("COMPLETED", 7, 6, 1)
    assert run["read"] == run["written"] + run["stale"] + run["quarantined"]
    assert case.run_events(0) == ["FlowRun Incomplete", "FlowRun Completed"]
    case.assert_newest_wins()


def test_a_failed_run_keeps_what_it_landed_and_settles_incomplete_with_appflow_s_status(case):
    records = [account(case.id(n), "2024-04-16T19:00:00.000Z") for n in range(3)]
    case.land(case.key(ACCOUNTS, "part-00000"), json_lines(records), records)
    case.drain()
    case.report_end(0, records=3, status="Execution Failed")
    case.drain()
    run = case.runs()[case.execution()]
    assert run["outcome"] == "INCOMPLETE" and "Execution Failed" in run["reasons"][0]
    assert case.run_events(0) == ["FlowRun Incomplete"]
    case.assert_newest_wins()


def test_a_run_of_empty_and_header_only_files_reconciles_with_a_report_of_zero_records(case):
    case.land(case.key(ACCOUNTS, "part-0"), b"Id,Name,LastModifiedDate\r\n")
    case.land(case.key(ACCOUNTS, "part-1"), b"")
    case.report_end(0, records=0)
    case.drain()
    run = case.runs()[case.execution()]
    assert (run["outcome"], run["read"]) == ("COMPLETED", 0)


# ------------------------------------------------------------------------------------------ format sniffing
def test_a_json_lines_file_whose_first_line_is_broken_is_still_read_as_json_lines(case):
    records = [account(case.id(n), "2024-04-16T19:00:00.000Z") for n in range(5)]
    first = b'"Id": "' + case.id(9).encode() + b'", "LastModifiedDate": "2024-04-16T19:00:00.000Z"}'  # lost its "{"
    key = case.key(ACCOUNTS, "part-0")  # ACCOUNTS configures no format: the content decides
    case.land(key, first + b"\n" + json_lines(records), records)
    summary = case.drain()
    assert (summary["read"], summary["written"], summary["quarantined"]) == (6, 5, 1)
    assert quarantine_entry(case, key, 0, None)["line"] == first.decode()


def test_json_lines_whose_first_line_is_an_array_are_read_line_by_line(case):
    records = [account(case.id(n), "2024-04-16T19:00:00.000Z") for n in range(5)]
    key = case.key(ACCOUNTS, "part-0")
    body = orjson.dumps(records[:2]) + b"\n" + json_lines(records[2:3]) + b"{broken\n" + json_lines(records[3:])
    case.land(key, body, records)
    summary = case.drain()
    assert (summary["read"], summary["written"], summary["quarantined"]) == (6, 5, 1)
    case.assert_newest_wins()
    quarantine_entry(case, key, body.index(b"{broken"), None)


# ------------------------------------------------------------------------------------------ sizes
def test_a_record_too_large_for_a_dynamodb_item_is_quarantined_and_the_rest_of_its_file_is_ingested(case):
    records = [account(case.id(n), "2024-04-16T19:00:00.000Z", Description="x" * 50) for n in range(3)]
    huge = account(case.id(9), "2024-04-16T19:00:00.000Z", Description="ü" * 220_000)  # 440 KB of UTF-8
    key = case.key(ACCOUNTS, "part-0")
    body = json_lines(records[:1] + [huge] + records[1:])
    case.land(key, body, records)
    summary = case.drain()
    assert (summary["read"], summary["written"], summary["quarantined"], summary["failed_invocations"]) == (4, 3, 1, 0)
    case.assert_newest_wins()
    entry = quarantine_entry(case, key, len(json_lines(records[:1])), None)
    assert "400 KB" in entry["reason"] and entry["record"]["Id"] == case.id(9)
    run = case.runs()[case.execution()]
    assert (run["read"], run["written"], run["quarantined"]) == (4, 3, 1)
