"""What each write strategy costs on the loads AppFlow users actually run (docs/cost.md).

Records: Accounts as a full field mapping delivers them (bench/wide_accounts.py: 66 fields,
REST form, ~2.6 KB of JSON). Four scenarios run in order on one table per contender, each
load's file decoded and ingested as the ingest function does (``to_record_versions``, batches of
1,000, newest per key), timed and metered on its own:

- ``first_load``: every record new;
- ``full_reload``: every record again, 5% changed (a day newer, data edited), the rest byte-identical;
- ``overlapping_incremental``: an incremental window of which 30% repeats the previous run
  byte for byte and 70% is new: half edits of stored records, half records never seen;
- ``touched_unchanged``: an incremental window of which 20% carry a newer LastModifiedDate and
  SystemModstamp with identical mapped fields (a field the flow does not map changed) and 80%
  are edits.

Contenders: ``naive`` (one conditional UpdateItem at a time, the item as JSON text: the bill
before this work), ``conditional-put`` (one conditional PutItem per record, 32 in flight) and
``default`` (the template's default strategy, read-first). Both of ours store bodies over 800
bytes gzip-compressed (CompressBodiesOver's default).

What is measured, and on which side:
- client CPU per record (this process's user + sys time, all threads; decode + version + write):
  what Lambda would bill, measured here (the meter below only keeps each request's bytes while
  timed, and bills them after);
- requests, write and read units: counted from the requests sent and the items' sizes by
  DynamoDB's published rules (bench/capacity_meter.py), which is what DynamoDB would bill; moto's
  own rates are not used for anything;
- events: the table's real stream (moto's), each record turned into its event by the publisher's
  own ``record_changed_event``, billed by EventBridge per started 64 KB of an entry;
- left older: the table scanned after each scenario against the model (newest version landed
  per key, and that version's record exactly).
"""

from __future__ import annotations

import base64
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
import orjson
from aws_lambda_powertools.shared.dynamodb_deserializer import TypeDeserializer

from appflow_ingest.adapters.aws_clients import AwsClients
from appflow_ingest.adapters.entity_store import DynamoEntityStore, to_item
from appflow_ingest.domain.bus_events.record_changed import record_changed_event
from appflow_ingest.domain.records.body_codec import DEFAULT_COMPRESS_OVER, body_attributes, record_of_item
from appflow_ingest.domain.records.versions import ObjectConfig, RecordVersion, newest_per_key, to_record_versions
from appflow_ingest.ports.entities import CONDITIONAL_PUT, READ_FIRST
from bench.capacity_meter import CapacityMeter, item_size, write_units
from bench.read_path import measure
from bench.wide_accounts import wide_account
from bench.write_path import create_table, update_if_newer

SCENARIOS = ("first_load", "full_reload", "overlapping_incremental", "touched_unchanged")
CONTENDERS = ("naive", "conditional-put", "default")
BATCH = 1000  # the ingester's batch size
CONCURRENCY = 32  # the template's WriteConcurrency default
SOURCE = "s3://bench-landing/sf-accounts/{run}/part-00000"
EVENT_SOURCE, DETAIL_TYPE = "appflow-ingest", "Record Changed"
EVENTBRIDGE_CHUNK = 64 * 1024
EVENT_TIME_BYTES = 14  # EventBridge counts the Time field as 14 bytes of an entry

# Public on-demand prices, us-east-1, as in bench/cost.py (taken 2026-11-23).
DYNAMODB_READ_UNIT = 0.125 / 1e6
DYNAMODB_WRITE_UNIT = 0.625 / 1e6
EVENTBRIDGE_EVENT = 1.00 / 1e6
LAMBDA_GB_SECOND = 0.0000166667
LAMBDA_REQUEST = 0.20 / 1e6
SQS_REQUEST = 0.40 / 1e6
S3_GET = 0.0004 / 1000
INGEST_MEMORY_GB = 1769 / 1024
CHUNK_BYTES = 16 * 1024 * 1024


@dataclass
class Load:
    """One scenario's file and what it must leave: the model after it, and the records whose data changed."""

    name: str
    records: list[dict[str, Any]]
    changed_keys: set[str] = field(default_factory=set)


def _key(n: int) -> str:
    return f"Account#{wide_account(n)['Id']}"


def scenario_loads(count: int) -> list[Load]:
    """The four files, built so each scenario's shares are exact (20 records at least)."""
    revision = dict.fromkeys(range(count), 0)
    touched = dict.fromkeys(range(count), 0)
    loads = [Load("first_load", [wide_account(n) for n in range(count)], {_key(n) for n in range(count)})]

    changed = [n for n in range(count) if n % 20 == 0]  # 5%
    for n in changed:
        revision[n] += 1
    loads.append(Load("full_reload", [wide_account(n, revision[n]) for n in range(count)], {_key(n) for n in changed}))

    previous = loads[-1].records
    repeated = count * 3 // 10  # 30%: the previous run's records, byte for byte
    repeats = previous[:repeated]
    fresh = count - repeated
    edited = list(range(repeated, repeated + fresh // 2))  # stored records, edited
    new_ids = list(range(count, count + fresh - len(edited)))  # never seen
    for n in edited:
        revision[n] += 1
    for n in new_ids:
        revision[n], touched[n] = 0, 0
    window = repeats + [wide_account(n, revision[n]) for n in edited] + [wide_account(n) for n in new_ids]
    loads.append(Load("overlapping_incremental", window, {_key(n) for n in edited + new_ids}))

    ids = list(range(count))
    touch = ids[: count // 5]  # 20%: newer LastModifiedDate, same data
    edit = ids[count // 5 :]
    for n in touch:
        touched[n] += 1
    for n in edit:
        revision[n] += 1
        touched[n] = 0
    window = [wide_account(n, revision[n], touched=touched[n]) for n in touch]
    window += [wide_account(n, revision[n], touched=touched[n]) for n in edit]
    loads.append(Load("touched_unchanged", window, {_key(n) for n in edit}))
    return loads


# ---------------------------------------------------------------------------------- contenders
def _naive(ddb: Any, table: str) -> Callable[[list[RecordVersion], str], None]:
    def write(versions: list[RecordVersion], source: str) -> None:
        for version in versions:
            update_if_newer(ddb, table, version, source=source, compress_over=0)

    return write


def _ours(strategy: str) -> Callable[[Any, str], Callable[[list[RecordVersion], str], None]]:
    def build(ddb: Any, table: str) -> Callable[[list[RecordVersion], str], None]:
        store = DynamoEntityStore(ddb, table, concurrency=CONCURRENCY, strategy=strategy)

        def write(versions: list[RecordVersion], source: str) -> None:
            store.write_newest(versions, source)

        return write

    return build


BUILDERS: dict[str, Callable[[Any, str], Callable[[list[RecordVersion], str], None]]] = {
    "naive": _naive,
    "conditional-put": _ours(CONDITIONAL_PUT),
    "default": _ours(READ_FIRST),
}


# ---------------------------------------------------------------------------------- one run
class StreamReader:
    """Reads a table's stream from where it last stopped; turns records into the publisher's events."""

    def __init__(self, endpoint: str, ddb: Any, table: str) -> None:
        self._streams = boto3.client("dynamodbstreams", endpoint_url=endpoint, region_name="us-east-1")
        self._arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
        self._after: str | None = None
        self._deserialize = TypeDeserializer().deserialize

    def events(self, table: str) -> tuple[list[Any], int]:
        """The events published since the last call, and how many stream records moved a version."""
        shard = self._streams.describe_stream(StreamArn=self._arn)["StreamDescription"]["Shards"][0]["ShardId"]
        position = (
            {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": self._after}
            if self._after
            else {"ShardIteratorType": "TRIM_HORIZON"}
        )
        iterator = self._streams.get_shard_iterator(StreamArn=self._arn, ShardId=shard, **position)["ShardIterator"]
        events, advanced = [], 0
        while iterator:
            page = self._streams.get_records(ShardIterator=iterator, Limit=1000)
            for record in page["Records"]:
                self._after = record["dynamodb"]["SequenceNumber"]
                old, new = (
                    {k: self._deserialize(v) for k, v in record["dynamodb"].get(image, {}).items()} or None
                    for image in ("OldImage", "NewImage")
                )
                if new is not None and (old is None or int(new["version"]) > int(old["version"])):
                    advanced += 1
                for image in (old, new):  # the Lambda event holds binary as base64 text, as the publisher sees it
                    if image and isinstance(image.get("record"), bytes | bytearray):
                        image["record"] = base64.b64encode(bytes(image["record"])).decode()
                event = record_changed_event(old, new, table=table)
                if event is not None:
                    events.append(event)
            if not page["Records"]:
                break
            iterator = page.get("NextShardIterator")
        return events, advanced


def _billed_events(events: list[Any]) -> int:
    """EventBridge bills each started 64 KB of an entry (Time, Source, DetailType, Detail) as one event."""
    billed = 0
    for event in events:
        size = EVENT_TIME_BYTES + len(EVENT_SOURCE) + len(DETAIL_TYPE) + len(event.detail_json().encode())
        billed += math.ceil(size / EVENTBRIDGE_CHUNK)
    return billed


def _stored(ddb: Any, table: str) -> dict[str, tuple[int, Any]]:
    stored = {}
    for page in ddb.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            stored[item["pk"]["S"]] = (int(item["version"]["N"]), record_of_item(item))
    return stored


def _dollars(figures: dict[str, float], record_bytes: float) -> dict[str, float]:
    chunks_per_record = record_bytes / CHUNK_BYTES
    lines = {
        "lambda_ingest": figures["cpu_us_per_record"] / 1e6 * INGEST_MEMORY_GB * LAMBDA_GB_SECOND
        + chunks_per_record * LAMBDA_REQUEST,
        "dynamodb_writes": figures["write_units_per_record"] * DYNAMODB_WRITE_UNIT,
        "dynamodb_reads": figures["read_units_per_record"] * DYNAMODB_READ_UNIT,
        "eventbridge": figures["events_per_record"] * EVENTBRIDGE_EVENT,
        "sqs_s3": chunks_per_record * (3 * SQS_REQUEST + S3_GET),
    }
    return {name: round(value * 1e6, 4) for name, value in lines.items()}


def run_cost_scenarios(endpoint: str, count: int) -> dict[str, Any]:
    """Every contender through the four scenarios on its own table; figures per scenario and contender."""
    loads = scenario_loads(count)
    config = ObjectConfig("Account")
    files = [b"".join(orjson.dumps(r) + b"\n" for r in load.records) for load in loads]
    results: dict[str, dict[str, Any]] = {name: {} for name in SCENARIOS}
    checks: dict[str, dict[str, Any]] = {name: {} for name in SCENARIOS}
    for contender in CONTENDERS:
        # The ingest function's own client (retries, pool, no client-side parameter validation).
        ddb = AwsClients(endpoint, max_pool_connections=CONCURRENCY).dynamodb
        table = f"cost-{contender}-{uuid.uuid4().hex[:8]}"
        create_table(ddb, table, stream=True)
        meter = CapacityMeter(ddb)
        stream = StreamReader(endpoint, ddb, table)
        write = BUILDERS[contender](ddb, table)
        model: dict[str, tuple[int, Any]] = {}
        for number, (load, body) in enumerate(zip(loads, files, strict=True)):
            source = SOURCE.format(run=f"run-{number}")

            def ingest(body: bytes = body, source: str = source, write: Any = write) -> int:
                records = 0
                lines = body.splitlines()
                for first in range(0, len(lines), BATCH):
                    versions, _ = to_record_versions(list(map(orjson.loads, lines[first : first + BATCH])), config)
                    newest, _ = newest_per_key(versions)
                    write(newest, source)
                    records += len(versions)
                return records

            meter.reset()
            meter.enabled = True
            measurement = measure(contender, ingest)
            meter.enabled = False
            meter.settle()  # the meter's own parsing, after the timed section: not the writer's CPU
            # The model: the newest version landed per key, with that version's record.
            for version in to_record_versions([orjson.loads(line) for line in body.splitlines()], config)[0]:
                if version.key not in model or version.version > model[version.key][0]:
                    model[version.key] = (version.version, version.record)
            events, advanced = stream.events(table)
            stored = _stored(ddb, table)
            left_older = sum(1 for key, (version, _) in model.items() if stored.get(key, (None,))[0] != version)
            wrong_data = sum(1 for key, (_, record) in model.items() if stored.get(key, (None, None))[1] != record)
            records = measurement.records
            figures = {
                "cpu_us_per_record": round(measurement.cpu_us_per_record, 1),
                "write_units_per_record": round(meter.write_units / records, 3),
                "read_units_per_record": round(meter.read_units / records, 3),
                "events_per_record": round(_billed_events(events) / records, 3),
                "left_older": left_older,
            }
            record_bytes = len(body) / records
            dollars = _dollars(figures, record_bytes)
            results[load.name][contender] = {
                "dollars_per_million": round(sum(dollars.values()), 4),
                **figures,
                "dollars_by_component": dollars,
                "requests_per_record": round(sum(meter.calls.values()) / records, 4),
                "requests_by_operation": dict(meter.calls),
                "records": records,
                "records_per_s": round(measurement.records_per_s),
            }
            published = {f"{e.detail['object']}#{e.detail['id']}" for e in events}
            checks[load.name][contender] = {
                "events": len(events),
                "events_expected": len(load.changed_keys),
                "events_exact": published == load.changed_keys and len(events) == len(load.changed_keys),
                "versions_advanced": advanced,
                "wrong_data": wrong_data,
            }
        ddb.delete_table(TableName=table)
    return {
        "records_per_scenario": {load.name: len(load.records) for load in loads},
        "record_bytes": round(len(files[0]) / len(loads[0].records)),
        "fields_per_record": len(loads[0].records[0]) - 1,
        "compression": _compression(loads[0].records),
        "scenarios": results,
        "checks": checks,
    }


def _compression(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Item sizes and write units of the first load's records, as JSON text and as stored (gzip over 800 B)."""
    versions, _ = to_record_versions([orjson.loads(orjson.dumps(r)) for r in records], ObjectConfig("Account"))
    source = SOURCE.format(run="run-0")
    plain = [item_size(to_item(v, source, compress_over=0)) for v in versions]
    stored = [item_size(to_item(v, source, compress_over=DEFAULT_COMPRESS_OVER)) for v in versions]
    started = time.process_time()
    for version in versions:
        body_attributes(version.record, DEFAULT_COMPRESS_OVER)
    cpu = (time.process_time() - started) / len(versions) * 1e6
    return {
        "item_bytes_plain": round(sum(plain) / len(plain)),
        "item_bytes_stored": round(sum(stored) / len(stored)),
        "write_units_plain": round(sum(map(write_units, plain)) / len(plain), 3),
        "write_units_stored": round(sum(map(write_units, stored)) / len(stored), 3),
        "encode_cpu_us_per_record": round(cpu, 1),
    }


def scenario_table(cost: dict[str, Any]) -> str:
    """The scenarios as a text table (what docs/cost.md shows)."""
    out = [
        f"cost scenarios: {cost['fields_per_record']}-field Accounts, {cost['record_bytes']} B of JSON each;"
        f" compression: {cost['compression']['write_units_plain']} -> {cost['compression']['write_units_stored']}"
        " write units per item",
        f"{'scenario':<24} {'contender':<16} {'$/M':>8} {'CPU us/rec':>11} {'WCU/rec':>8} {'RCU/rec':>8}"
        f" {'events/rec':>10} {'req/rec':>8} {'older':>6} {'events exact':>13}",
    ]
    for scenario, contenders in cost["scenarios"].items():
        for contender, figures in contenders.items():
            check = cost["checks"][scenario][contender]
            out.append(
                f"{scenario:<24} {contender:<16} {figures['dollars_per_million']:>8.3f} {figures['cpu_us_per_record']:>11.1f}"
                f" {figures['write_units_per_record']:>8.3f} {figures['read_units_per_record']:>8.3f}"
                f" {figures['events_per_record']:>10.3f} {figures['requests_per_record']:>8.3f}"
                f" {figures['left_older']:>6} {str(check['events_exact']):>13}"
            )
    goals = cost.get("goals")
    if goals:
        out.append("")
        out += [f"goal {name}: {value}" for name, value in goals.items()]
    return "\n".join(out)


def goals(cost: dict[str, Any]) -> dict[str, Any]:
    """The issue's goals as ratios within this run."""
    s = cost["scenarios"]
    reload_ratio = s["full_reload"]["default"]["dollars_per_million"] / s["full_reload"]["naive"]["dollars_per_million"]
    first_cost = s["first_load"]["default"]["dollars_per_million"] / s["first_load"]["naive"]["dollars_per_million"]
    first_cpu = (
        s["first_load"]["default"]["cpu_us_per_record"] / s["first_load"]["conditional-put"]["cpu_us_per_record"]
    )
    exact = all(cost["checks"][name]["default"]["events_exact"] for name in SCENARIOS)
    older = sum(figures["left_older"] for contenders in s.values() for figures in contenders.values())
    return {
        "full_reload_default_over_naive_dollars": round(reload_ratio, 3),
        "full_reload_met (<= 0.2)": reload_ratio <= 0.2,
        "first_load_default_over_naive_dollars": round(first_cost, 3),
        "first_load_cost_met (<= 1.0)": first_cost <= 1.0,
        "first_load_default_over_conditional_put_cpu": round(first_cpu, 3),
        "first_load_cpu_met (<= 0.2)": first_cpu <= 0.2,
        "default_one_event_per_changed_record_every_scenario": exact,
        "records_left_older_all_contenders": older,
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.cost_scenarios [--records N] [--out FILE]``: this section alone (bench/run.py runs it too)."""
    import argparse
    import os
    import sys
    from pathlib import Path

    from bench.moto_process import moto_server

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=2_000, help="records per scenario (default 2,000, make bench's)")
    parser.add_argument("--out", type=Path, help="write the JSON here")
    args = parser.parse_args(argv)
    if args.records < 20:
        print("--records: at least 20 (the scenarios' shares are 5% and 30%)", file=sys.stderr)
        return 2
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    started = time.perf_counter()
    with moto_server() as endpoint:
        cost = run_cost_scenarios(endpoint, args.records)
    cost["goals"] = goals(cost)
    cost["seconds"] = round(time.perf_counter() - started, 1)
    if args.out:
        args.out.write_bytes(orjson.dumps(cost, option=orjson.OPT_INDENT_2) + b"\n")
    print(scenario_table(cost))
    print(f"\n{cost['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
