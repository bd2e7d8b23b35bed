"""``reingest``: plan a run, a file, or the chunks behind quarantine entries again, after a fix.

The files are planned as the plan function plans them (same chunk size, formats, key layout), the
chunks stamped with a re-ingestion id and queued for the ingest function. Newest-wins makes this
safe: a record that did not change is counted stale and publishes nothing; one the fix let through
is written and published. The run ledger records the re-ingestion on the run (its id) and counts
its chunks on an item of its own, so AppFlow's run is not counted twice, and each re-ingested
range's quarantine entries are replaced by what the re-ingestion quarantined (nothing, once fixed).
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from appflow_ingest.adapters.chunk_queue import SqsChunkQueue
from appflow_ingest.adapters.landing_objects import S3LandingObjects
from appflow_ingest.domain.landing.chunks import Chunk, LandedObject
from appflow_ingest.domain.landing.keys import parse_landing_key
from appflow_ingest.services.plan_file import FilePlanner
from appflow_ingest.settings import ConfigurationError, parse_flow_objects
from appflow_local.operations.errors import OperationFailed, UserError
from appflow_local.operations.functions import StackFunctions
from appflow_local.operations.quarantine import CHANGE_EVENT, QuarantineFilter, entries
from appflow_local.operations.runs import LEDGER_TABLE, ledger
from appflow_local.operations.target import Target

LANDING_BUCKET = "LandingBucket"
CHUNK_QUEUE = "ChunkQueue"
DEFAULT_CHUNK_SIZE = 16 * 1024 * 1024


@dataclass
class ReingestScope:
    """What to plan again: files by (bucket, key), each whole (None) or only the chunks holding these offsets."""

    kind: str  # execution | file | quarantine
    files: dict[tuple[str, str], set[int] | None] = field(default_factory=dict)


def _parse_s3_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise UserError(f"--file {uri!r}: expected s3://bucket/key of a landed file")
    bucket, key = uri[5:].split("/", 1)
    return bucket, key


def _execution_files(target: Target, execution_id: str) -> list[tuple[str, str]]:
    """The run's files: from the ledger's file markers, else (markers expire) by listing the landing bucket."""
    found: set[tuple[str, str]] = set()
    marker = f"file#{execution_id}#"
    for page in (
        target.client("dynamodb")
        .get_paginator("scan")
        .paginate(
            TableName=target.physical(LEDGER_TABLE),
            FilterExpression="begins_with(pk, :marker)",
            ExpressionAttributeValues={":marker": {"S": marker}},
        )
    ):
        for item in page["Items"]:
            found.add(_parse_s3_uri(item["pk"]["S"][len(marker) :].rsplit("@", 1)[0]))
    if found:
        return sorted(found)
    bucket = target.physical(LANDING_BUCKET)
    flows = list(_flow_settings(target)[0])
    for page in target.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for summary in page.get("Contents", []):
            if parse_landing_key(summary["Key"], flows).execution_id == execution_id:
                found.add((bucket, summary["Key"]))
    return sorted(found)


def reingest_scope(
    target: Target,
    *,
    execution_id: str | None = None,
    file: str | None = None,
    from_quarantine: bool = False,
    flow: str | None = None,
    field: str | None = None,
    reason: str | None = None,
    of_run: str | None = None,
) -> ReingestScope:
    """What the flags select; a UserError when it selects nothing."""
    if execution_id:
        files = _execution_files(target, execution_id)
        if not files:
            raise UserError(f"no files of run {execution_id!r} in the ledger or the landing bucket: see `runs`")
        return ReingestScope("execution", dict.fromkeys(files))
    if file:
        bucket, key = _parse_s3_uri(file)
        if bucket != target.physical(LANDING_BUCKET):
            raise UserError(f"--file {file}: not in the stack's landing bucket {target.physical(LANDING_BUCKET)}")
        return ReingestScope("file", {(bucket, key): None})
    if not from_quarantine:
        raise UserError("say what to re-ingest: --execution-id ID, --file S3_URI or --from-quarantine")
    scope = ReingestScope("quarantine")
    selection = QuarantineFilter(flow=flow, execution_id=of_run, field=field, reason=reason)
    for entry in entries(target, selection):
        if entry.get("kind") == CHANGE_EVENT or not str(entry.get("source", "")).startswith("s3://"):
            continue  # a change event is not a file: it is applied again by sending it (`local send`)
        offsets = scope.files.setdefault(_parse_s3_uri(entry["source"]), set())
        if offsets is not None and entry.get("offset") is not None:
            offsets.add(int(entry["offset"]))
    if not scope.files:
        raise UserError("no quarantine entries of landed files match: see `quarantine` (with the same filters)")
    return scope


def _flow_settings(target: Target) -> tuple[dict[str, Any], dict[str, str]]:
    """The flows as the functions read them: the configuration pushed to SSM, else FlowObjects."""
    raw = target.parameters.get("FlowObjects") or "{}"
    path = target.parameters.get("ConfigParameterPath")
    if path:
        from appflow_ingest.adapters.configuration_store import SsmConfigurationStore

        document = SsmConfigurationStore(target.client("ssm"), path, max_age_seconds=0).read()
        if document is None:
            raise OperationFailed(f"no configuration under SSM path {path}: run `appflow-ingest config push` first")
        raw = json.dumps(document.get("flows") or {})
    try:
        return parse_flow_objects(raw)
    except ConfigurationError as error:
        raise OperationFailed(f"the stack's flows cannot be read: {error}") from None


class _CollectedChunks:
    """The planner's queue, kept in memory: the ledger records the re-ingestion before anything is queued."""

    def __init__(self) -> None:
        self.chunks: list[Chunk] = []

    def send(self, chunks: list[Chunk]) -> None:
        self.chunks.extend(chunks)


def plan_chunks(target: Target, scope: ReingestScope) -> list[Chunk]:
    """Plan every selected file as the plan function would; keep the chunks holding the selected offsets."""
    objects, formats = _flow_settings(target)
    collected = _CollectedChunks()
    planner = FilePlanner(
        objects=S3LandingObjects(target.client("s3")),
        queue=collected,
        chunk_size=int(target.parameters.get("ChunkSizeBytes") or DEFAULT_CHUNK_SIZE),
        formats=formats,
        flows=objects.keys(),
    )
    chosen: list[Chunk] = []
    for (bucket, key), offsets in sorted(scope.files.items()):
        collected.chunks.clear()
        plan = planner.plan(LandedObject(bucket=bucket, key=key, size=0))
        if plan.skipped:
            raise OperationFailed(f"s3://{bucket}/{key}: not planned ({plan.skipped})")
        chosen += [c for c in collected.chunks if offsets is None or any(c.start <= o < c.end for o in offsets)]
    return chosen


def new_reingestion_id() -> str:
    return f"reingest-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def reingest(
    target: Target, scope: ReingestScope, *, note: str | None = None, dry_run: bool = False, drain: bool = True
) -> dict[str, Any]:
    """Record the re-ingestion per run, queue its chunks, and (emulator) run the pipeline; the outcome per run."""
    reingestion = new_reingestion_id()
    chunks = [replace(c, reingestion=reingestion) for c in plan_chunks(target, scope)]
    by_run: dict[str | None, list[Chunk]] = defaultdict(list)
    for chunk in chunks:
        by_run[chunk.landing.execution_id].append(chunk)
    result: dict[str, Any] = {
        "reingestion": reingestion,
        "scope": scope.kind,
        "dry_run": dry_run,
        "files": sorted(f"s3://{b}/{k}" for b, k in scope.files),
        "chunks": [f"{c.uri} [{c.start}, {c.end})" for c in chunks] if dry_run else len(chunks),
    }
    if dry_run:
        return result
    runs = ledger(target)
    for execution_id, run_chunks in by_run.items():
        if execution_id:
            files = sorted({c.uri for c in run_chunks})
            runs.reingestion_requested(
                execution_id, reingestion, scope=scope.kind, files=files, chunks=len(run_chunks), note=note
            )
    SqsChunkQueue(target.client("sqs"), target.physical(CHUNK_QUEUE)).send(chunks)
    if drain:
        summary = StackFunctions(target).drain()
        if summary is not None:
            result["drained"] = summary.as_dict()
    result["runs"] = {
        execution_id: runs.reingestion(execution_id, reingestion) for execution_id in by_run if execution_id
    }
    return result
