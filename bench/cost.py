"""Dollars per million records on AWS at the rates a benchmark run measured (docs/cost.md).

Public on-demand prices, region us-east-1, as taken on 2026-11-23 (free tiers ignored):

- Lambda, x86: $0.0000166667 per GB-second, $0.20 per million requests (aws.amazon.com/lambda/pricing).
- DynamoDB on-demand, Standard table class: $0.625 per million write request units since the
  November 2024 reduction (aws.amazon.com/dynamodb/pricing/on-demand). A standard write of an item
  up to 1 KB is 1 unit; a transactional write is 2 units per KB.
- SQS standard: $0.40 per million requests (aws.amazon.com/sqs/pricing).
- EventBridge custom events: $1.00 per million PutEvents entries of up to 64 KB (aws.amazon.com/eventbridge/pricing).
- S3 Standard: $0.0004 per 1,000 GET requests (aws.amazon.com/s3/pricing).
- AppFlow: $0.001 per flow run, $0.02 per GB of data processed (aws.amazon.com/appflow/pricing).

Assumptions (each stated where it is used): the ingest function runs at its configured 1769 MB,
where Lambda gives one full vCPU, and is CPU-bound, so its billed duration per record is the
client CPU time per record measured here (read + parse + rules, plus the write strategy's own
client CPU); one chunk message per 16 MiB; one downstream event per changed record; the
publish function's own duration is not included (it was not measured).
"""

from __future__ import annotations

from typing import Any

PRICES_TAKEN = "2026-11-23"
REGION = "us-east-1"
LAMBDA_GB_SECOND = 0.0000166667
LAMBDA_REQUEST = 0.20 / 1e6
DYNAMODB_WRITE_UNIT = 0.625 / 1e6
SQS_REQUEST = 0.40 / 1e6
EVENTBRIDGE_EVENT = 1.00 / 1e6
S3_GET = 0.0004 / 1000
APPFLOW_RUN = 0.001
APPFLOW_GB = 0.02

INGEST_MEMORY_GB = 1769 / 1024  # template.yaml, IngestFunction MemorySize
CHUNK_BYTES = 16 * 1024 * 1024  # template.yaml, ChunkSizeBytes default
MILLION = 1_000_000


def cost_per_million(results: dict[str, Any]) -> dict[str, Any]:
    """The cost table for each write strategy, from one run's figures."""
    read = results["read"]
    record_bytes = read["object_bytes"] / read["records"]
    read_cpu_s = read["contenders"]["ours"]["cpu_us_per_record"] / 1e6
    data_gb = record_bytes * MILLION / 1e9
    chunks = record_bytes * MILLION / CHUNK_BYTES
    table: dict[str, Any] = {
        "record_bytes": round(record_bytes),
        "prices_taken": PRICES_TAKEN,
        "region": REGION,
        "appflow": round(APPFLOW_RUN + data_gb * APPFLOW_GB, 4),
        "strategies": {},
    }
    for strategy in ("conditional-put", "transact"):
        write = results["write"]["contenders"][strategy]
        cpu_s = read_cpu_s + write["cpu_us_per_record"] / 1e6
        lines = {
            "lambda_ingest": MILLION * cpu_s * INGEST_MEMORY_GB * LAMBDA_GB_SECOND + chunks * LAMBDA_REQUEST,
            "dynamodb_writes": MILLION * write["write_units_per_record"] * DYNAMODB_WRITE_UNIT,
            # send, receive and delete per chunk message
            "sqs": chunks * 3 * SQS_REQUEST,
            "s3_gets": (chunks + 2) * S3_GET,  # one streamed ranged GET per chunk, head + sniff per file
            "eventbridge": MILLION * EVENTBRIDGE_EVENT,
        }
        lines["total"] = sum(lines.values())
        table["strategies"][strategy] = {
            "lambda_seconds_per_million": round(MILLION * cpu_s),
            "write_units_per_record": write["write_units_per_record"],
            **{name: round(value, 4) for name, value in lines.items()},
        }
    return table


def cost_table(cost: dict[str, Any]) -> str:
    rows = ["lambda_ingest", "dynamodb_writes", "sqs", "s3_gets", "eventbridge", "total"]
    strategies = list(cost["strategies"])
    out = [
        f"$ per million records ({cost['record_bytes']} B each), {cost['region']}, prices of {cost['prices_taken']}",
        f"{'':<18}" + "".join(f"{name:>17}" for name in strategies),
    ]
    for row in rows:
        out.append(f"{row:<18}" + "".join(f"{cost['strategies'][name][row]:>17.4f}" for name in strategies))
    out.append(f"{'AppFlow itself':<18}{cost['appflow']:>17.4f}  (one run moving the same data)")
    return "\n".join(out)
