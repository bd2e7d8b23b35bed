"""awswrangler (AWS SDK for pandas) against our pipeline on the same out-of-order deliveries.

Three extracts of overlapping Account ids at increasing versions land in reverse order (newest
file first), as retries and parallel flow runs deliver them. awswrangler's documented path,
``wr.s3.read_json(path, lines=True)`` then ``wr.dynamodb.put_df`` (``put_items`` for a DataFrame:
the same batch writer), writes whatever comes last;
ours (the real planner, ingester and conditional writes) keeps the newest. Both are counted
against the model: how many records the table holds at an older version than the newest landed.
"""

from __future__ import annotations

import uuid
from typing import Any

import boto3

from appflow_ingest.adapters.entity_store import DynamoEntityStore
from appflow_ingest.adapters.landing_objects import S3LandingObjects
from appflow_ingest.domain.landing.chunks import LandedObject
from appflow_ingest.domain.records.versions import entity_key
from appflow_ingest.domain.timestamps import to_epoch_millis
from appflow_ingest.services.ingest_chunk import ChunkIngester
from appflow_ingest.services.plan_file import FilePlanner
from bench.read_path import FLOW, OBJECTS_BY_FLOW, measure
from bench.salesforce_data import accounts, json_lines
from bench.sinks import CollectingQueue, CountingQuarantine
from bench.tables import entity_table_definition
from bench.write_path import stored_versions

VERSION_STEP_S = 86_400  # each later extract is a day newer


def extracts(records: int) -> list[list[dict[str, Any]]]:
    """Three extracts of ``records`` each, every next one shifted by a third of the ids and a day."""
    shift = max(1, records // 3)
    return [list(accounts(records, first_id=k * shift, version_offset=k * VERSION_STEP_S)) for k in range(3)]


def newest_model(files: list[list[dict[str, Any]]]) -> dict[str, int]:
    model: dict[str, int] = {}
    for records in files:
        for record in records:
            millis = to_epoch_millis(record["LastModifiedDate"])
            model[record["Id"]] = max(model.get(record["Id"], 0), millis)
    return model


def land_in_reverse(s3: Any, bucket: str, files: list[list[dict[str, Any]]]) -> list[tuple[str, int]]:
    """Put the files newest first; return (key, size) in landing order."""
    landed = []
    run = uuid.uuid4()
    for index in reversed(range(len(files))):
        key = f"{FLOW}/{run}/part-{index:05d}"
        body = json_lines(iter(files[index]))
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        landed.append((key, len(body)))
    return landed


def wrangler_ingest(endpoint: str, bucket: str, landed: list[tuple[str, int]], table: str) -> int:
    import awswrangler as wr

    wr.config.s3_endpoint_url = endpoint
    wr.config.dynamodb_endpoint_url = endpoint
    session = boto3.session.Session(region_name="us-east-1")
    count = 0
    for key, _ in landed:
        frame = wr.s3.read_json(f"s3://{bucket}/{key}", lines=True, boto3_session=session)
        wr.dynamodb.put_df(df=frame, table_name=table, boto3_session=session)  # put_items for a DataFrame
        count += len(frame)
    return count


def ours_ingest(s3: Any, ddb: Any, bucket: str, landed: list[tuple[str, int]], table: str, chunk_size: int) -> int:
    objects = S3LandingObjects(s3)
    store = DynamoEntityStore(ddb, table)
    ingester = ChunkIngester(objects, store, CountingQuarantine(), CollectingQueue(), OBJECTS_BY_FLOW)
    read = 0
    for key, size in landed:
        queue = CollectingQueue()
        FilePlanner(objects, queue, chunk_size=chunk_size).plan(LandedObject(bucket, key, size))
        for chunk in queue.chunks:
            read += ingester.ingest(chunk).read
    return read


def run_wrangler_benchmark(endpoint: str, bucket: str, records: int, chunk_size: int) -> dict[str, Any]:
    try:
        import awswrangler
    except ImportError as missing:
        return {"skipped": f"awswrangler is not installed ({missing}); pip install -e '.[bench]'"}
    session = boto3.session.Session(region_name="us-east-1")
    s3 = session.client("s3", endpoint_url=endpoint)
    ddb = session.client("dynamodb", endpoint_url=endpoint)
    files = extracts(records)
    model = newest_model(files)
    landed = land_in_reverse(s3, bucket, files)

    # awswrangler writes each DataFrame row as an item keyed by the record's own Id.
    wrangler_table = f"bench-wrangler-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=wrangler_table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "Id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "Id", "KeyType": "HASH"}],
    )
    theirs = measure("awswrangler", lambda: wrangler_ingest(endpoint, bucket, landed, wrangler_table))
    stored = {}
    for page in ddb.get_paginator("scan").paginate(
        TableName=wrangler_table, ProjectionExpression="Id, LastModifiedDate"
    ):
        for item in page["Items"]:
            stored[item["Id"]["S"]] = to_epoch_millis(item["LastModifiedDate"]["S"])
    wrangler_older = sum(1 for record_id, newest in model.items() if stored.get(record_id) != newest)

    our_table = f"bench-ours-{uuid.uuid4().hex[:8]}"
    ddb.create_table(TableName=our_table, **entity_table_definition())
    ours = measure("ours", lambda: ours_ingest(s3, ddb, bucket, landed, our_table, chunk_size))
    ours_stored = stored_versions(ddb, our_table)
    ours_older = sum(
        1 for record_id, newest in model.items() if ours_stored.get(entity_key("Account", record_id)) != newest
    )
    for table in (wrangler_table, our_table):
        ddb.delete_table(TableName=table)
    return {
        "awswrangler_version": awswrangler.__version__,
        "files": len(files),
        "records_delivered": theirs.records,
        "distinct_records": len(model),
        "contenders": {
            "awswrangler": {
                "records_per_s": round(theirs.records_per_s),
                "cpu_us_per_record": round(theirs.cpu_us_per_record, 1),
                "records_left_older": wrangler_older,
            },
            "ours": {
                "records_per_s": round(ours.records_per_s),
                "ratio_to_awswrangler": round(ours.records_per_s / theirs.records_per_s, 2),
                "cpu_us_per_record": round(ours.cpu_us_per_record, 1),
                "records_left_older": ours_older,
            },
        },
    }
