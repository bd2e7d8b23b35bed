"""Read back what a run left behind: the stored records and the events consumers received."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from appflow_ingest.domain.records.body_codec import record_of_item
from appflow_local.emulator.server import Emulator
from appflow_local.stack.description import StackDescription
from appflow_local.stack.template import ACCOUNT_ID, TemplateError

ENTITY_TABLE = "EntityTable"


def entity_table(stack: StackDescription, logical_id: str | None = None) -> str:
    """The table to read: the one named, else ``EntityTable``, else the stack's only table."""
    tables = [lid for lid, attrs in stack.resources.items() if attrs.get("Type") == "AWS::DynamoDB::Table"]
    chosen = logical_id or (ENTITY_TABLE if ENTITY_TABLE in tables else tables[0] if len(tables) == 1 else None)
    if chosen not in tables:
        raise TemplateError(f"which table? the stack has {', '.join(tables) or 'none'}")
    return str(stack.attribute(chosen))


def _iso_from_millis(value: str) -> str:
    millis = int(value)
    instant = datetime.fromtimestamp(millis / 1000, tz=UTC)
    return instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}Z"


def stored_record(item: dict[str, Any], read_body: Any = None) -> dict[str, Any]:
    """One entity item as ``{"object", "id", "version", "deleted", "record"}`` (version in ISO-8601 UTC).

    A record too large for one item is read from the S3 body its ``record_ref`` names (``read_body``),
    so the full record is shown whatever its size.
    """
    version = item.get("version_iso", {}).get("S") or (
        _iso_from_millis(item["version"]["N"]) if "version" in item else None
    )
    return {
        "object": item.get("object", {}).get("S"),
        "id": item.get("record_id", {}).get("S"),
        "version": version,
        "deleted": item.get("deleted", {}).get("BOOL", False),
        "record": record_of_item(item, read_body),  # inline (JSON text, or gzip), or the S3 body
    }


def stored_records(emulator: Emulator, stack: StackDescription, table: str | None = None) -> list[dict[str, Any]]:
    """Every item of the entity table, sorted by object and id."""
    from appflow_ingest.adapters.record_bodies import S3RecordBodies

    bodies = S3RecordBodies(emulator.s3, "")  # read() takes the bucket from each record_ref
    items: list[dict[str, Any]] = []
    for page in emulator.dynamodb.get_paginator("scan").paginate(TableName=entity_table(stack, table)):
        items.extend(stored_record(item, bodies.read) for item in page["Items"])
    return sorted(items, key=lambda r: (r["object"] or "", r["id"] or ""))


def published_events(emulator: Emulator, stack: StackDescription) -> list[dict[str, Any]]:
    """Every event the stack's buses delivered to a consumer matching the stack's source, in order."""
    entries: list[tuple[int, int, dict[str, Any]]] = []
    for tap in stack.taps:
        for position, (timestamp, message) in enumerate(_log_messages(emulator, tap.log_group)):
            event = json.loads(message)
            # moto's log-group target leaves out the envelope's account; EventBridge always sends it.
            event.setdefault("account", ACCOUNT_ID)
            entries.append((timestamp, position, event))
    # Stable: events of one millisecond keep the order the log group recorded them in.
    return [event for _, _, event in sorted(entries, key=lambda e: (e[0], e[1]))]


def _log_messages(emulator: Emulator, log_group: str) -> Iterator[tuple[int, str]]:
    for page in emulator.logs.get_paginator("filter_log_events").paginate(logGroupName=log_group):
        for event in page["events"]:
            yield event["timestamp"], event["message"]


def run_ledger(emulator: Emulator, stack: StackDescription, table: str = "LedgerTable") -> list[dict[str, Any]]:
    """Every AppFlow run in the ledger: its status (UNREPORTED without an End report), counts and outcome."""
    from dataclasses import asdict

    from appflow_ingest.adapters.run_ledger import DynamoRunLedger

    runs = []
    for state in DynamoRunLedger(emulator.dynamodb, str(stack.attribute(table))).runs():
        runs.append({"status": state.status, "chunks_pending": state.chunks_pending, **asdict(state)})
    return runs


def member_passes(
    emulator: Emulator, stack: StackDescription, table: str = "DerivedTable"
) -> dict[str, dict[str, Any]]:
    """Every member's wallet pass as the aggregate function last derived it, by member id."""
    passes: dict[str, dict[str, Any]] = {}
    for page in emulator.dynamodb.get_paginator("scan").paginate(TableName=str(stack.attribute(table))):
        for item in page["Items"]:
            if item.get("kind", {}).get("S") == "pass" and "pass" in item:
                passes[item["member_id"]["S"]] = json.loads(item["pass"]["S"])
    return passes
