"""The run ledger in DynamoDB: one ``run#<execution id>`` item, counted exactly once per file and chunk.

Counting a file or a chunk is one ``TransactWriteItems``: a marker item created only if absent
(``file#<execution id>#<uri>@<etag>`` / ``chunk#<execution id>#<chunk id>``) and ``ADD`` to the
run's counters. A retried or duplicated chunk finds its marker: the transaction is cancelled as
a whole and nothing is counted twice. Report fields are ``SET`` on the same run item, so the
report and the files can arrive in any order.

A hand-over is counted the same way, before its remainder is queued: a
``handover#<execution id>#<chunk id>`` marker holding the offset (and Parquet row) and one more
planned chunk. The first writer wins; any later invocation of the chunk reads the marker
(``ReturnValuesOnConditionCheckFailure=ALL_OLD``) and hands over from the same offset, so the
remainder has the same id and is counted once. A re-ingested chunk (``appflow-ingest reingest``)
counts on its re-ingestion's ``reingest#`` item instead, under markers of its own
(``chunk#<execution id>#<reingestion>#<chunk id>``, ``handover#<execution id>#<reingestion>#<chunk id>``):
the run's counts stay as AppFlow's files first gave them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from appflow_ingest.domain.runs.ledger import RunState
from appflow_ingest.domain.runs.reports import FlowRunReport

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

RUN = "run#"
REINGESTION = "reingest#"
# Markers outlive any retry of what they count: SQS keeps a chunk message at most 14 days.
MARKER_TTL_SECONDS = 30 * 24 * 3600


def run_key(execution_id: str) -> str:
    """The ledger key of a flow run."""
    return f"{RUN}{execution_id}"


def reingestion_key(execution_id: str, reingestion: str) -> str:
    """A re-ingestion of a run (``appflow-ingest reingest``): its request and its own counts."""
    return f"{REINGESTION}{execution_id}#{reingestion}"


def _handover_marker(execution_id: str, chunk_id: str, reingestion: str | None) -> str:
    scope = f"{execution_id}#{reingestion}" if reingestion else execution_id
    return f"handover#{scope}#{chunk_id}"


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _s(value: str) -> dict[str, str]:
    return {"S": value}


class DynamoRunLedger:
    """The run ledger in DynamoDB: per-run counts of files, chunks and records, each counted once."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self._dynamodb = dynamodb
        self._table = table

    # ------------------------------------------------------------------ the files side
    def file_planned(self, execution_id: str, flow_name: str | None, file_id: str, chunks: int) -> bool:
        """Count a planned file and its chunks once; False if this file was counted before."""
        return not self._count_once(
            f"file#{execution_id}#{file_id}",
            execution_id,
            flow_name,
            {"files_seen": 1, "chunks_planned": chunks},
        )

    def chunk_finished(
        self, execution_id: str, flow_name: str | None, chunk_id: str, counts: Mapping[str, int]
    ) -> bool:
        """Count a finished chunk and its records once; False if this chunk was counted before."""
        return not self._count_once(f"chunk#{execution_id}#{chunk_id}", execution_id, flow_name, counts)

    def hand_over(
        self,
        execution_id: str,
        flow_name: str | None,
        chunk_id: str,
        offset: int,
        row: int,
        reingestion: str | None = None,
    ) -> tuple[int, int]:
        """Record a chunk's hand-over and count its remainder as planned, once; return the first writer's (offset, row).

        A re-ingested chunk's hand-over is its re-ingestion's: its own marker (the chunk ids repeat
        the run's), and the remainder planned on the re-ingestion's item, not the run's.
        """
        old = self._count_once(
            _handover_marker(execution_id, chunk_id, reingestion),
            execution_id,
            flow_name if reingestion is None else None,
            {"chunks_planned": 1},
            {"offset": _n(offset), "row": _n(row)},
            item_key=reingestion_key(execution_id, reingestion) if reingestion else None,
        )
        if old is None:
            return offset, row
        return int(old["offset"]["N"]), int(old.get("row", {"N": "0"})["N"])

    def hand_over_of(self, execution_id: str, chunk_id: str, reingestion: str | None = None) -> tuple[int, int] | None:
        """The (offset, row) a chunk handed over at, if an invocation of it recorded one."""
        item = self._dynamodb.get_item(
            TableName=self._table,
            Key={"pk": _s(_handover_marker(execution_id, chunk_id, reingestion))},
            ConsistentRead=True,
        ).get("Item")
        if not item:
            return None
        return int(item["offset"]["N"]), int(item.get("row", {"N": "0"})["N"])

    def _count_once(
        self,
        marker: str,
        execution_id: str,
        flow_name: str | None,
        counts: Mapping[str, int],
        attributes: Mapping[str, Any] | None = None,
        item_key: str | None = None,
    ) -> Any:
        """Create the marker and add the counts (to the run's item, else ``item_key``), once.

        Falsy (None) when counted now, else the marker found (its attributes: a hand-over's offset).
        """
        names = {f"#c{i}": name for i, name in enumerate(counts)}
        values: dict[str, Any] = {f":c{i}": _n(value) for i, value in enumerate(counts.values())}
        update = "ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(counts)))
        if flow_name:
            update = "SET flow_name = if_not_exists(flow_name, :flow) " + update
            values[":flow"] = _s(flow_name)
        try:
            self._dynamodb.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": {
                                "pk": _s(marker),
                                "execution_id": _s(execution_id),
                                "expires_at": _n(int(time.time()) + MARKER_TTL_SECONDS),
                                **(attributes or {}),
                            },
                            "ConditionExpression": "attribute_not_exists(pk)",
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": {"pk": _s(item_key or run_key(execution_id))},
                            "UpdateExpression": update,
                            "ExpressionAttributeNames": names,
                            "ExpressionAttributeValues": values,
                        }
                    },
                ]
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = error.response.get("CancellationReasons") or []
            if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                return reasons[0].get("Item") or {"pk": _s(marker)}  # the marker exists: counted before
            raise
        return None

    # ------------------------------------------------------------------ re-ingestions (operations)
    def reingestion_requested(
        self, execution_id: str, reingestion: str, *, scope: str, files: list[str], chunks: int, note: str | None
    ) -> None:
        """Record a re-ingestion before its chunks are queued: on the run (its ids) and as its own item."""
        self._dynamodb.update_item(
            TableName=self._table,
            Key={"pk": _s(reingestion_key(execution_id, reingestion))},
            # if_not_exists: a hand-over may already have added its remainder to the count.
            UpdateExpression="SET requested_at = :at, #scope = :scope, files = :files, note = :note, "
            "chunks_planned = if_not_exists(chunks_planned, :zero) + :chunks",
            ExpressionAttributeNames={"#scope": "scope"},
            ExpressionAttributeValues={
                ":at": _n(int(time.time() * 1000)),
                ":scope": _s(scope),
                ":files": {"L": [_s(f) for f in files]},
                ":note": _s(note or ""),
                ":chunks": _n(chunks),
                ":zero": _n(0),
            },
        )
        self._append_reingestion(execution_id, reingestion)

    def _append_reingestion(self, execution_id: str, reingestion: str) -> None:
        """Add the id to the run's list once (a retried request finds it there)."""
        try:
            self._dynamodb.update_item(
                TableName=self._table,
                Key={"pk": _s(run_key(execution_id))},
                UpdateExpression="SET reingestions = list_append(if_not_exists(reingestions, :none), :id)",
                ConditionExpression="attribute_not_exists(reingestions) OR NOT contains(reingestions, :reingestion)",
                ExpressionAttributeValues={
                    ":none": {"L": []},
                    ":id": {"L": [_s(reingestion)]},
                    ":reingestion": _s(reingestion),
                },
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise  # else: listed already (a retried request)

    def reingested_chunk_finished(
        self, execution_id: str, reingestion: str, chunk_id: str, counts: Mapping[str, int]
    ) -> bool:
        """Count a re-ingested chunk once, on its re-ingestion's item (the run's own counts stay)."""
        found = self._count_once(
            f"chunk#{execution_id}#{reingestion}#{chunk_id}",
            execution_id,
            None,
            counts,
            item_key=reingestion_key(execution_id, reingestion),
        )
        return found is None

    def reingestion(self, execution_id: str, reingestion: str) -> dict[str, Any]:
        """A re-ingestion as recorded: when, why, which files, and its counts."""
        item = (
            self._dynamodb.get_item(
                TableName=self._table, Key={"pk": _s(reingestion_key(execution_id, reingestion))}, ConsistentRead=True
            ).get("Item")
            or {}
        )

        def number(name: str) -> int:
            return int(item[name]["N"]) if name in item else 0

        return {
            "reingestion": reingestion,
            "requested_at": number("requested_at") or None,
            "scope": item.get("scope", {}).get("S"),
            "note": item.get("note", {}).get("S") or None,
            "files": [f["S"] for f in item.get("files", {}).get("L", [])],
            **{
                name: number(name)
                for name in ("chunks_planned", "chunks_finished", "read", "written", "stale", "quarantined")
            },
        }

    # ------------------------------------------------------------------ AppFlow's side
    def record_report(self, report: FlowRunReport) -> None:
        """Set what a Start or End report says; an End report is never overwritten by a late Start."""
        values: dict[str, Any] = {":flow": _s(report.flow_name), ":event": {"SS": [report.event_id or "no-id"]}}
        sets = ["flow_name = :flow"]

        def put(attribute: str, value: Any, *, keep_first: bool = False) -> None:
            if value is None:
                return
            placeholder = f":{attribute}"
            values[placeholder] = (
                _n(value) if isinstance(value, int) and not isinstance(value, bool) else _s(str(value))
            )
            sets.append(
                f"{attribute} = if_not_exists({attribute}, {placeholder})"
                if keep_first
                else f"{attribute} = {placeholder}"
            )

        put("trigger_type", report.trigger_type)
        put("start_time", report.start_time, keep_first=report.kind == "START")
        put("landing_prefix", report.landing_prefix)
        if report.destination_bucket:
            put("destination_bucket", report.destination_bucket)
        if report.kind == "START":
            values[":true"] = {"BOOL": True}
            sets.append("started = :true")
        else:
            values[":true"] = {"BOOL": True}
            sets.append("reported = :true")
            put("appflow_status", report.status)
            put("appflow_outcome", report.outcome)
            put("appflow_error", report.error)
            put("end_time", report.end_time)
            put("records_processed", report.records_processed)
            put("records_filtered", report.records_filtered)
            put("record_failures", report.record_failures)
            put("documents_processed", report.documents_processed)
            put("bytes_processed", report.bytes_processed)
        self._dynamodb.update_item(
            TableName=self._table,
            Key={"pk": _s(run_key(report.execution_id))},
            UpdateExpression=f"SET {', '.join(sets)} ADD report_events :event",
            ExpressionAttributeValues=values,
        )

    # ------------------------------------------------------------------ reading and settling
    def read(self, execution_id: str) -> RunState:
        """The run's state as the ledger holds it now (strongly consistent read)."""
        item = self._dynamodb.get_item(
            TableName=self._table, Key={"pk": _s(run_key(execution_id))}, ConsistentRead=True
        ).get("Item")
        return run_state(execution_id, item or {})

    def mark_published(self, execution_id: str, signature: str, outcome: str, reasons: list[str]) -> None:
        """Record the settlement last published for the run, so the same one is not published twice."""
        self._dynamodb.update_item(
            TableName=self._table,
            Key={"pk": _s(run_key(execution_id))},
            UpdateExpression="SET published_signature = :sig, outcome = :outcome, reasons = :reasons",
            ExpressionAttributeValues={
                ":sig": _s(signature),
                ":outcome": _s(outcome),
                ":reasons": {"L": [_s(r) for r in reasons]},
            },
        )

    def runs(self) -> list[RunState]:
        """Every run in the ledger (for operators and local mode; a scan, not for the hot path)."""
        states: list[RunState] = []
        for page in self._dynamodb.get_paginator("scan").paginate(
            TableName=self._table,
            FilterExpression="begins_with(pk, :run)",
            ExpressionAttributeValues={":run": _s(RUN)},
        ):
            states.extend(run_state(item["pk"]["S"][len(RUN) :], item) for item in page["Items"])
        return sorted(states, key=lambda s: (s.start_time or 0, s.execution_id))


def run_state(execution_id: str, item: Mapping[str, Any]) -> RunState:
    """A RunState from a ledger item (an empty item: a run the ledger has not seen)."""

    def text(name: str) -> str | None:
        return item[name]["S"] if name in item else None

    def number(name: str) -> int | None:
        return int(item[name]["N"]) if name in item else None

    return RunState(
        execution_id=execution_id,
        flow_name=text("flow_name"),
        trigger_type=text("trigger_type"),
        started=bool(item.get("started", {}).get("BOOL")),
        reported=bool(item.get("reported", {}).get("BOOL")),
        appflow_status=text("appflow_status"),
        appflow_outcome=text("appflow_outcome"),
        appflow_error=text("appflow_error"),
        records_processed=number("records_processed"),
        records_filtered=number("records_filtered"),
        record_failures=number("record_failures"),
        start_time=number("start_time"),
        end_time=number("end_time"),
        files_seen=number("files_seen") or 0,
        chunks_planned=number("chunks_planned") or 0,
        chunks_finished=number("chunks_finished") or 0,
        read=number("read") or 0,
        written=number("written") or 0,
        stale=number("stale") or 0,
        quarantined=number("quarantined") or 0,
        published_signature=text("published_signature"),
        outcome=text("outcome"),
        reasons=[r["S"] for r in item.get("reasons", {}).get("L", [])],
        reingestions=[r["S"] for r in item.get("reingestions", {}).get("L", [])],
    )
