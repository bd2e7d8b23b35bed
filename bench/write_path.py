"""Newest-wins writes: our write strategies against one conditional UpdateItem at a time.

The input is two extracts of the same records landed in reverse order: the newer one first,
then the older one, so half the writes must lose their condition (stale) and the table must end
with every record at its newer version. Every contender writes to its own fresh table on the
same moto server over HTTP; requests are counted with botocore event hooks (each API call and
each HTTP attempt), never assumed.

Write units follow DynamoDB's pricing rule from the measured item sizes: a standard write costs
ceil(size / 1 KB) units, a transactional write twice that; a write whose condition fails still
consumes them. A cancelled transaction is counted as consuming units for every item it held
(an upper bound), so the transact figures do not flatter it.
"""

from __future__ import annotations

import math
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import boto3
import orjson
from botocore.config import Config
from botocore.exceptions import ClientError

from appflow_ingest.adapters.entity_store import DynamoEntityStore, to_item
from appflow_ingest.domain.records.versions import ObjectConfig, RecordVersion, newest_per_key, to_record_versions
from appflow_ingest.ports.entities import CONDITIONAL_PUT, TRANSACT
from bench.read_path import measure
from bench.tables import entity_table_definition

SOURCE = "s3://bench-landing/bench-accounts/run/part-00000"
BATCH = 1000  # the ingester's batch size


class RequestCounter:
    """Counts DynamoDB API calls by operation, HTTP attempts, and write units of the items sent."""

    def __init__(self, client: Any) -> None:
        self.calls: Counter[str] = Counter()
        self.http_attempts = 0
        self.standard_write_units = 0
        self.transactional_write_units = 0
        self._lock = threading.Lock()
        self._stopped = False
        client.meta.events.register("before-call.dynamodb", self._on_call)
        client.meta.events.register("before-send.dynamodb", self._on_send)

    def stop(self) -> None:
        """Count nothing more (the checks after a timed run are not its requests)."""
        self._stopped = True

    def _on_call(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        if self._stopped:
            return
        body = params.get("body")
        request = orjson.loads(body) if body else {}
        with self._lock:
            self.calls[model.name] += 1
            if model.name in {"PutItem", "UpdateItem"}:
                self.standard_write_units += write_units(request.get("Item") or _update_item_size(request))
            elif model.name == "TransactWriteItems":
                for action in request.get("TransactItems", []):
                    self.transactional_write_units += 2 * write_units(action["Put"]["Item"])

    def _on_send(self, **_: Any) -> None:
        if self._stopped:
            return
        with self._lock:
            self.http_attempts += 1


def _update_item_size(request: dict[str, Any]) -> dict[str, Any]:
    """The item an UpdateItem leaves: its key and the values it sets."""
    names = request.get("ExpressionAttributeNames", {})
    values = request.get("ExpressionAttributeValues", {})
    item = dict(request.get("Key", {}))
    for placeholder, name in names.items():
        value = values.get(":" + placeholder.lstrip("#"))
        if value is not None:
            item[name] = value
    return item


def item_size(item: dict[str, Any]) -> int:
    """DynamoDB's item size: attribute names plus values (strings in UTF-8, numbers about 1 byte per 2 digits)."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        ((kind, content),) = value.items()
        if kind == "S":
            size += len(content.encode())
        elif kind == "N":
            size += math.ceil(len(content.lstrip("-").replace(".", "")) / 2) + 1
        elif kind == "BOOL":
            size += 1
        else:
            size += len(orjson.dumps(content))
    return size


def write_units(item: dict[str, Any]) -> int:
    return max(1, math.ceil(item_size(item) / 1024))


def create_table(ddb: Any, name: str, *, stream: bool = False) -> None:
    definition = entity_table_definition()
    if stream:  # the template's: new and old images, what the publisher reads
        definition["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    ddb.create_table(TableName=name, **definition)


def stored_versions(ddb: Any, table: str) -> dict[str, int]:
    stored = {}
    for page in ddb.get_paginator("scan").paginate(TableName=table, ProjectionExpression="pk, version"):
        for item in page["Items"]:
            stored[item["pk"]["S"]] = int(item["version"]["N"])
    return stored


def update_if_newer(
    ddb: Any, table: str, version: RecordVersion, *, source: str = SOURCE, compress_over: int = 0
) -> bool:
    """The naive baseline: one conditional UpdateItem, waiting for each answer before the next (the body as JSON text)."""
    item = to_item(version, source, compress_over=compress_over)
    key = item.pop("pk")
    names = {f"#a{i}": name for i, name in enumerate(item)}
    values = {f":a{i}": value for i, value in enumerate(item.values())}
    version_name = next(placeholder for placeholder, name in names.items() if name == "version")
    try:
        ddb.update_item(
            TableName=table,
            Key={"pk": key},
            UpdateExpression="SET " + ", ".join(f"{n} = :{n[1:]}" for n in names),
            ConditionExpression=f"attribute_not_exists(pk) OR {version_name} < :version",  # NEWER_THAN_STORED
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={**values, ":version": item["version"]},
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


def deliveries(older: list[dict[str, Any]], newer: list[dict[str, Any]]) -> list[list[RecordVersion]]:
    """The newer extract's versions first, then the older one's: two files landed in reverse order."""
    config = ObjectConfig("Account")
    return [to_record_versions(newer, config)[0], to_record_versions(older, config)[0]]


def run_write_benchmark(
    endpoint: str, files: list[list[RecordVersion]], *, concurrency: int, rounds: int
) -> dict[str, Any]:
    """Each contender ``rounds`` times on a fresh table each; medians; the table checked against the model.

    Each file is written in the ingester's batches, a file's batches never mixed with another's
    (as separate chunks are), so every version of the older file is a real conditional failure.
    """
    versions = [version for file in files for version in file]
    model: dict[str, int] = {}
    for version in versions:
        model[version.key] = max(model.get(version.key, 0), version.version)

    def client() -> Any:
        config = Config(retries={"mode": "standard", "max_attempts": 8}, max_pool_connections=max(10, concurrency))
        return boto3.session.Session().client("dynamodb", endpoint_url=endpoint, region_name="us-east-1", config=config)

    def ours(strategy: str) -> Callable[[Any, str], int]:
        def write(ddb: Any, table: str) -> int:
            store = DynamoEntityStore(ddb, table, concurrency=concurrency_of[strategy], strategy=strategy)
            for file in files:
                for first in range(0, len(file), BATCH):
                    newest, _ = newest_per_key(file[first : first + BATCH])
                    store.write_newest(newest, SOURCE)
            return len(versions)

        return write

    def naive(ddb: Any, table: str) -> int:
        for version in versions:
            update_if_newer(ddb, table, version)
        return len(versions)

    concurrency_of = {CONDITIONAL_PUT: concurrency, TRANSACT: concurrency}
    contenders: dict[str, Callable[[Any, str], int]] = {
        "naive_update_item": naive,
        CONDITIONAL_PUT: ours(CONDITIONAL_PUT),
        TRANSACT: ours(TRANSACT),
    }
    results: dict[str, Any] = {}
    runs: dict[str, list[Any]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, write in contenders.items():
            ddb = client()
            table = f"bench-{name}-{uuid.uuid4().hex[:8]}"
            create_table(ddb, table)
            counter = RequestCounter(ddb)
            measurement = measure(name, lambda write=write, ddb=ddb, table=table: write(ddb, table))
            counter.stop()
            stored = stored_versions(ddb, table)
            older_left = sum(1 for key, newest in model.items() if stored.get(key) != newest)
            runs[name].append((measurement, counter, older_left))
            ddb.delete_table(TableName=table)
    baseline = None
    for name, found in runs.items():
        measurement, counter, _ = sorted(found, key=lambda run: run[0].wall_s)[len(found) // 2]
        if baseline is None:
            baseline = measurement
        records = measurement.records
        results[name] = {
            "records": records,
            "records_per_s": round(measurement.records_per_s),
            "ratio_to_naive": round(measurement.records_per_s / baseline.records_per_s, 2),
            "cpu_us_per_record": round(measurement.cpu_us_per_record, 1),
            "api_calls_per_record": round(sum(counter.calls.values()) / records, 4),
            "http_requests_per_record": round(counter.http_attempts / records, 4),
            "calls_by_operation": dict(counter.calls),
            "write_units_per_record": round(
                (counter.standard_write_units + counter.transactional_write_units) / records, 3
            ),
            "records_left_older": max(run[2] for run in found),
        }
    return {
        "versions_written": len(versions),
        "distinct_records": len(model),
        "concurrency": {"naive_update_item": 1, **concurrency_of},
        "rounds": rounds,
        "contenders": results,
    }
