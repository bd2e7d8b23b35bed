"""Read + parse + rules: our ingest path against three ways of reading the same JSON Lines from S3.

Every contender reads the same object from the same moto server over HTTP:

- ``floor``: the issue's floor: block reads (8 MiB ranged GETs, the next one in flight while this
  one is parsed), ``bytes.split`` into lines, ``orjson.loads`` per line, and nothing else.
- ``floor_streamed``: the same with our S3 adapter's reads (streamed ranged GETs of 16 MiB
  segments, 1 MiB a block, read ahead): a stricter floor, as it reads the whole file as one
  stream where ours starts a new GET at each chunk.
- ``naive``: the Lambda everyone writes first: the whole object into memory with one GET, then
  ``json.loads`` per line.
- ``powertools``: Powertools' streaming ``S3Object``, iterated line by line, ``json.loads`` per line.
- ``ours``: the real ``FilePlanner`` and ``ChunkIngester`` (streamed ranged reads, line alignment,
  decoding, id/version/tombstone rules, in-batch newest-wins) with writes sent to a counting
  store, so this measures everything but DynamoDB.
- ``ours + rule set``: the same with the catalog's ``account-member`` rule set bound to Account
  (domain/rules): every declared field coerced and checked, new fields tracked. An extra row: what
  a flow with business rules costs; the comparisons with the floor are about ``ours``.

The baselines do *less* than ours (no id, version or object checks): if ours beats them, it does
so while doing its job.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson
from aws_lambda_powertools.utilities.streaming import S3Object

from appflow_ingest.adapters.landing_objects import S3LandingObjects
from appflow_ingest.domain.landing.chunks import Chunk, LandedObject
from appflow_ingest.domain.records.versions import ObjectConfig
from appflow_ingest.domain.rules import RULE_SETS, ObjectRules
from appflow_ingest.services.ingest_chunk import ChunkIngester
from appflow_ingest.services.plan_file import FilePlanner
from bench.sinks import CollectingQueue, CountingQuarantine, CountingStore

FLOW = "bench-accounts"
OBJECTS_BY_FLOW = {FLOW: ObjectConfig(object="Account")}
ACCOUNT_RULES = ObjectRules({"Account": RULE_SETS["account-member"]}, masking_key=b"bench masking key")


@dataclass
class Landed:
    bucket: str
    key: str
    size: int
    records: int


def land(s3: Any, bucket: str, data: bytes, records: int) -> Landed:
    key = f"{FLOW}/{uuid.uuid4()}/part-00000"
    s3.put_object(Bucket=bucket, Key=key, Body=data)
    return Landed(bucket, key, len(data), records)


# ------------------------------------------------------------------------------------ contenders


def parse_lines(blocks: Iterable[bytes]) -> int:
    """Split consecutive blocks into lines and ``orjson.loads`` each one, nothing else; the count."""
    loads = orjson.loads
    count = 0
    pending = b""
    for block in blocks:
        lines = (pending + block).split(b"\n") if pending else block.split(b"\n")
        pending = lines.pop()
        for line in lines:
            loads(line)
        count += len(lines)
    if pending:
        loads(pending)
        count += 1
    return count


def ranged_blocks(s3: Any, landed: Landed, block_size: int) -> Iterator[bytes]:
    """Ranged GETs of ``block_size`` bytes, the next one in flight while this one is consumed."""
    ranges = [(start, min(start + block_size, landed.size)) for start in range(0, landed.size, block_size)]

    def get(start: int, stop: int) -> bytes:
        response = s3.get_object(Bucket=landed.bucket, Key=landed.key, Range=f"bytes={start}-{stop - 1}")
        return response["Body"].read()

    with ThreadPoolExecutor(max_workers=1) as prefetcher:
        reading = prefetcher.submit(get, *ranges[0])
        for following in [*ranges[1:], None]:
            block = reading.result()
            if following:
                reading = prefetcher.submit(get, *following)
            yield block


def read_floor(s3: Any, landed: Landed, block_size: int) -> int:
    return parse_lines(ranged_blocks(s3, landed, block_size))


def read_floor_streamed(s3: Any, landed: Landed, reads: dict[str, int]) -> int:
    """The whole object through our S3 adapter's streamed reads, split and parsed, nothing else."""
    objects = S3LandingObjects(s3, **reads)
    return parse_lines(objects.blocks(LandedObject(landed.bucket, landed.key, landed.size), 0))


def read_naive(s3: Any, landed: Landed) -> int:
    body = s3.get_object(Bucket=landed.bucket, Key=landed.key)["Body"].read()
    count = 0
    for line in body.splitlines():
        if line:
            json.loads(line)
            count += 1
    return count


def read_powertools(s3: Any, landed: Landed) -> int:
    # readline() is S3Object's documented line API (iterating it yields 1 KiB chunks, not lines).
    count = 0
    lines = S3Object(bucket=landed.bucket, key=landed.key, boto3_client=s3)
    while line := lines.readline():
        if line.strip():
            json.loads(line)
            count += 1
    return count


def plan_chunks(s3: Any, landed: Landed, chunk_size: int) -> list[Chunk]:
    """The real planner's chunks for the file (planning is another function's work: not timed)."""
    queue = CollectingQueue()
    FilePlanner(S3LandingObjects(s3), queue, chunk_size=chunk_size).plan(
        LandedObject(landed.bucket, landed.key, landed.size)
    )
    return queue.chunks


def ingest_ours(s3: Any, chunks: list[Chunk], reads: dict[str, int], rules: ObjectRules | None = None) -> int:
    """Each chunk as one ingest invocation would run it, one after another in this process."""
    objects = S3LandingObjects(s3, **reads)
    store, quarantine = CountingStore(), CountingQuarantine()
    ingester = ChunkIngester(objects, store, quarantine, CollectingQueue(), OBJECTS_BY_FLOW, rules=rules)
    read = 0
    for chunk in chunks:
        report = ingester.ingest(chunk)
        read += report.read
    if quarantine.entries or store.versions != read:
        raise AssertionError(f"ours: {read} read, {store.versions} written, {quarantine.entries} quarantined")
    return read


@dataclass
class Measurement:
    name: str
    records: int
    wall_s: float
    cpu_s: float

    @property
    def records_per_s(self) -> float:
        return self.records / self.wall_s

    @property
    def cpu_us_per_record(self) -> float:
        return self.cpu_s / self.records * 1e6


def measure(name: str, run: Callable[[], int]) -> Measurement:
    """Wall time and this process's CPU time (user + sys, all threads) of one run."""
    before_cpu, before = os.times(), time.perf_counter()
    records = run()
    wall = time.perf_counter() - before
    after_cpu = os.times()
    cpu = (after_cpu.user - before_cpu.user) + (after_cpu.system - before_cpu.system)
    return Measurement(name, records, wall, cpu)


def head_lines(data: bytes, count: int) -> bytes:
    """The first ``count`` lines of a JSON Lines file."""
    cut = 0
    for _ in range(count):
        cut = data.index(b"\n", cut) + 1
    return data[:cut]


def run_read_benchmark(
    s3: Any,
    bucket: str,
    data: bytes,
    records: int,
    *,
    rounds: int,
    block_size: int,
    chunk_size: int,
    powertools_records: int,
    reads: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Each contender ``rounds`` times, interleaved; the median run of each counts.

    ``block_size`` is the floor's ranged GET; ``reads`` sizes our S3 adapter (its defaults, the
    ingest function's, unless given: the smoke run shrinks them so its small file crosses edges).

    Powertools' ``readline`` reads the body a byte at a time (io.IOBase's default over botocore's
    stream), about a millisecond a record: it reads only the first ``powertools_records`` lines of
    the same file, so its rate is measured without making the run minutes long.
    """
    landed = land(s3, bucket, data, records)
    chunks = plan_chunks(s3, landed, chunk_size)
    powertools_records = min(records, powertools_records)
    landed_head = land(s3, bucket, head_lines(data, powertools_records), powertools_records)
    contenders: dict[str, tuple[Callable[[], int], int]] = {
        "floor": (lambda: read_floor(s3, landed, block_size), records),
        "floor_streamed": (lambda: read_floor_streamed(s3, landed, reads or {}), records),
        "ours": (lambda: ingest_ours(s3, chunks, reads or {}), records),
        "ours + rule set": (lambda: ingest_ours(s3, chunks, reads or {}, ACCOUNT_RULES), records),
        "naive": (lambda: read_naive(s3, landed), records),
        "powertools": (lambda: read_powertools(s3, landed_head), powertools_records),
    }
    runs: dict[str, list[Measurement]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, (run, expected) in contenders.items():
            measurement = measure(name, run)
            if measurement.records != expected:
                raise AssertionError(f"{name} read {measurement.records} records, expected {expected}")
            runs[name].append(measurement)
    medians = {name: sorted(found, key=lambda m: m.wall_s)[len(found) // 2] for name, found in runs.items()}
    floor = medians["floor"]
    return {
        "object_bytes": len(data),
        "records": records,
        "rounds": rounds,
        "block_size": block_size,
        "chunk_size": chunk_size,
        "contenders": {
            name: {
                "records": m.records,
                "records_per_s": round(m.records_per_s),
                "ratio_to_floor": round(m.records_per_s / floor.records_per_s, 3),
                "cpu_us_per_record": round(m.cpu_us_per_record, 3),
                "cpu_ratio_to_floor": round(m.cpu_us_per_record / floor.cpu_us_per_record, 3),
                "wall_s_per_round": [round(r.wall_s, 4) for r in runs[name]],
            }
            for name, m in medians.items()
        },
    }
