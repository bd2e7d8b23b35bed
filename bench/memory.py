"""Constant memory: peak RSS of the ingest path on a ~20 MB and a ~1 GB JSON Lines file, same chunk size.

    python bench/memory.py            # ~20 MB and ~1 GB files, 16 MiB chunks (the template default)
    python bench/memory.py --smoke    # ~4 MB and ~32 MB files, 1 MiB chunks: checks that it works (CI)
    python bench/memory.py --format csv|parquet   # the same for AppFlow's other formats (all-string)

For each file, in a fresh child process each (so that one measurement cannot inherit another's
heap):

- **plan**: the real ``FilePlanner`` heads the file and sniffs its first bytes; it reports how many
  chunk messages it sent and how many bytes it read.
- **ingest**: the real ``ChunkIngester`` ingests every planned chunk one after the other, as
  consecutive invocations of one warm Lambda instance would; records go through decoding, the
  versioning and the default rules path, and writes go to a counting sink (DynamoDB is not what
  is measured here).

Reads come from a **local file** through the real S3 adapter (``S3LandingObjects``: streamed
ranged GETs read a block at a time, one block ahead), its two S3 calls answered from the file instead of over HTTP; not from moto: every ranged GET makes moto's server load the whole object, which would measure moto,
and a 1 GB object held by the server would inflate nothing of ours. Peak RSS is the child's own
high-water mark (``VmHWM``, read as its last act; ``ru_maxrss`` is reported too, but it survives
``execve`` and so can include the parent's heap at the fork). The ingest child runs with
the allocator settings template.yaml gives IngestFunction (``MALLOC_MMAP_THRESHOLD_``), as on
Lambda; ``--without-template-env`` shows what they are for. The goal: the two peaks within 10% of each other. Files are
generated record by record straight to disk (never held in memory), in a temporary directory
removed afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import csv
import functools
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "layers" / "core"), str(REPO / "local")]

import orjson  # noqa: E402

from appflow_ingest.domain.landing.chunks import Chunk, LandedObject  # noqa: E402
from appflow_ingest.domain.records.versions import ObjectConfig  # noqa: E402
from bench.sinks import CollectingQueue, CountingQuarantine, CountingStore  # noqa: E402

FLOW = "sf-accounts"
KEY_PREFIX = f"{FLOW}/8e3f4b1c-5a2d-4e6f-9b7a-0c1d2e3f4a5b/"
MIB = 1024 * 1024
GOAL = 0.10  # the two peaks within 10% of each other


# ----------------------------------------------------------------------------- data
INDUSTRIES = ("Banking", "Biotechnology", "Construction", "Education", "Energy", "Retail")
CITIES = (("San Francisco", "CA"), ("Austin", "TX"), ("New York", "NY"), ("Chicago", "IL"))
DESCRIPTION = 'Long-standing customer, "key" account;\nrenewal due next quarter.'
# Rows per Parquet row group. AppFlow does not document its writer's row group size; this keeps
# the earlier figures comparable, and the group, not the file, bounds what a reader holds.
PARQUET_ROW_GROUP_ROWS = 20_000


def account_records(count: int, first: int = 0) -> Iterator[dict[str, Any]]:
    """Salesforce-like Account records (REST form), ~450 bytes each as JSON, deterministic.

    Every third description holds a comma, doubled quotes and a newline, as Salesforce text does.
    """
    for n in range(first, first + count):
        city, state = CITIES[n % len(CITIES)]
        seconds = (n * 7919) % 86_400
        yield {
            "attributes": {"type": "Account", "url": f"/services/data/v59.0/sobjects/Account/001{n:015d}"},
            "Id": f"001{n:015d}",
            "IsDeleted": False,
            "Name": f"Company {n} Inc",
            "Type": "Customer - Direct",
            "Industry": INDUSTRIES[n % len(INDUSTRIES)],
            "BillingStreet": f"{n % 9999} Market St",
            "BillingCity": city,
            "BillingState": state,
            "AnnualRevenue": (n % 900) * 1_000_000.0,
            "NumberOfEmployees": n % 50_000,
            "Description": DESCRIPTION if n % 3 == 0 else None,
            "CreatedDate": "2021-03-01T10:00:00.000+0000",
            "LastModifiedDate": f"2024-04-16T{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.000+0000",
        }


def account_string_batch(first: int, count: int) -> Any:
    """``account_records(count, first)`` as AppFlow writes them to Parquet without source typing.

    Every value a string (``str()`` of the record's value) and null for None, built column by
    column with pyarrow compute: a 1 GB Parquet file holds ~30 million records, which a Python
    loop over dicts took minutes to write.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    n = pa.array(range(first, first + count), pa.int64())
    text = pc.cast(n, pa.string())

    def mod(divisor: int, values: Any = n) -> Any:
        return pc.subtract(values, pc.multiply(pc.divide(values, divisor), divisor))  # integer division

    def cycle(values: Sequence[str | None], index: Any = None) -> Any:
        return pc.take(pa.array(values, pa.string()), mod(len(values)) if index is None else index)

    def constant(value: str) -> Any:
        return pa.array([value], pa.string()).take(pa.array([0] * count, pa.int8()))

    return pa.record_batch(
        {
            "Id": pc.binary_join_element_wise("001", pc.utf8_lpad(text, 15, "0"), ""),
            "IsDeleted": constant("False"),
            "Name": pc.binary_join_element_wise("Company ", text, " Inc", ""),
            "Type": constant("Customer - Direct"),
            "Industry": cycle(INDUSTRIES),
            "BillingStreet": pc.binary_join_element_wise(pc.cast(mod(9999), pa.string()), " Market St", ""),
            "BillingCity": cycle([city for city, _ in CITIES]),
            "BillingState": cycle([state for _, state in CITIES]),
            "AnnualRevenue": pc.binary_join_element_wise(
                pc.cast(pc.multiply(mod(900), 1_000_000), pa.string()), ".0", ""
            ),
            "NumberOfEmployees": pc.cast(mod(50_000), pa.string()),
            "Description": cycle([DESCRIPTION, None, None]),
            "CreatedDate": constant("2021-03-01T10:00:00.000+0000"),
            "LastModifiedDate": cycle(_modified_times(), mod(86_400, pc.multiply(n, 7919))),
        }
    )


@functools.cache
def _modified_times() -> list[str]:
    """Every ``LastModifiedDate`` of ``account_records``: the second of the day is ``n * 7919 % 86400``."""
    return [f"2024-04-16T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.000+0000" for s in range(86_400)]


def generate(
    path: Path, target_bytes: int, file_format: str = "jsonl", row_group_rows: int = PARQUET_ROW_GROUP_ROWS
) -> tuple[int, int]:
    """Write records until the file reaches ``target_bytes``, a batch at a time; return (records, bytes).

    CSV and Parquet are written as AppFlow writes them without source typing: every value a
    string (CSV: empty for null; Parquet: null); Parquet in row groups of ``row_group_rows``
    records, built and written by pyarrow a row group at a time.
    """
    if file_format == "parquet":
        return generate_parquet(path, target_bytes, row_group_rows)
    records = written = 0
    source = account_records(2**62)
    with path.open("wb", buffering=MIB) as out:
        while written < target_bytes:
            batch = [next(source) for _ in range(1_000)]
            if file_format == "jsonl":
                data = b"".join(orjson.dumps(record) + b"\n" for record in batch)
                out.write(data)
            else:
                text = io.StringIO()
                rows = csv.DictWriter(
                    text,
                    fieldnames=[k for k in batch[0] if k != "attributes"],
                    lineterminator="\n",
                    extrasaction="ignore",
                )
                if records == 0:
                    rows.writeheader()
                rows.writerows(batch)
                out.write(text.getvalue().encode())
            records += len(batch)
            written = out.tell()
    return records, path.stat().st_size


def generate_parquet(path: Path, target_bytes: int, row_group_rows: int = PARQUET_ROW_GROUP_ROWS) -> tuple[int, int]:
    import pyarrow.parquet as pq

    records = 0
    with path.open("wb", buffering=MIB) as out:
        writer = None
        while out.tell() < target_bytes:
            batch = account_string_batch(records, row_group_rows)
            writer = writer or pq.ParquetWriter(out, batch.schema)
            writer.write_batch(batch, row_group_size=row_group_rows)
            records += batch.num_rows
        if writer is not None:
            writer.close()
    return records, path.stat().st_size


# ----------------------------------------------------------------------------- local stand-ins
class LocalFileS3:
    """The two S3 calls the landing adapter makes, answered from a local file (ranged reads honoured).

    The real ``S3LandingObjects`` runs on top of it, so block sizes, read-ahead and the reads past
    a chunk's end are exactly those of the deployed function; only the network is left out.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._file = path.open("rb")
        self.bytes_read = 0

    def head_object(self, Bucket: str, Key: str, **_: Any) -> dict[str, Any]:  # noqa: N803 (boto3's names)
        return {"ContentLength": self._path.stat().st_size, "ETag": '"local"'}

    def get_object(self, Bucket: str, Key: str, Range: str | None = None, **_: Any) -> dict[str, Any]:  # noqa: N803
        if Range is None:
            return {"Body": self._path.open("rb")}
        first, last = (int(part) for part in Range.removeprefix("bytes=").split("-"))
        return {"Body": _RangeBody(self, first, last + 1 - first)}


class _RangeBody:
    """A ranged GET's body read as it is pulled, like botocore's stream (never the range at once)."""

    def __init__(self, s3: LocalFileS3, first: int, length: int) -> None:
        self._s3, self._position, self._left = s3, first, length

    def read(self, amount: int = -1) -> bytes:
        amount = self._left if amount < 0 else min(amount, self._left)
        self._s3._file.seek(self._position)
        data = self._s3._file.read(amount)
        self._position += len(data)
        self._left -= len(data)
        self._s3.bytes_read += len(data)
        return data

    def close(self) -> None:
        self._left = 0


# ----------------------------------------------------------------------------- children
def child_plan(path: Path, chunk_size: int, chunks_out: Path) -> dict[str, Any]:
    from appflow_ingest.adapters.landing_objects import S3LandingObjects
    from appflow_ingest.services.plan_file import FilePlanner

    s3, queue = LocalFileS3(path), CollectingQueue()
    objects = S3LandingObjects(s3)
    planner = FilePlanner(objects, queue, chunk_size=chunk_size)
    size = path.stat().st_size
    plan = planner.plan(LandedObject("landing", KEY_PREFIX + path.name, size))
    chunks_out.write_text("".join(chunk.to_json() + "\n" for chunk in queue.chunks))
    return {"messages": len(queue.chunks), "planner_bytes_read": s3.bytes_read, "format": plan.format}


def child_ingest(path: Path, chunks_in: Path) -> dict[str, Any]:
    from appflow_ingest.adapters.landing_objects import S3LandingObjects
    from appflow_ingest.services.ingest_chunk import ChunkIngester

    store, quarantine = CountingStore(), CountingQuarantine()
    s3 = LocalFileS3(path)
    ingester = ChunkIngester(
        objects=S3LandingObjects(s3),
        store=store,
        quarantine=quarantine,
        queue=CollectingQueue(),
        objects_by_flow={FLOW: ObjectConfig("Account")},
    )
    read = 0
    started, cpu = time.perf_counter(), time.process_time()
    for line in chunks_in.read_text().splitlines():
        read += ingester.ingest(Chunk.from_json(line)).read
    return {
        "read": read,
        "written": store.versions,
        "quarantined": quarantine.entries,
        "bytes_read": s3.bytes_read,
        "seconds": round(time.perf_counter() - started, 2),
        "cpu_seconds": round(time.process_time() - cpu, 2),
    }


def ingest_process_environment() -> dict[str, str]:
    """The allocator settings template.yaml gives IngestFunction (glibc and pyarrow read them at process start)."""
    from appflow_local.stack.template import Template

    variables = Template.load(REPO / "template.yaml").function("IngestFunction").environment
    return {name: str(value) for name, value in variables.items() if name.startswith(("MALLOC_", "ARROW_"))}


def run_child(*args: str, extra_env: dict[str, str] | None = None) -> tuple[dict[str, Any], int]:
    """Run this script as a child; return its JSON result and its own peak RSS in bytes."""
    env = {
        **os.environ,
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_NAMESPACE": "Bench",
        **(extra_env or {}),
    }
    env.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    process = subprocess.Popen(
        [sys.executable, __file__, "--child", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    stdout, stderr = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"child {args} failed ({process.returncode}): {stderr.decode()[-2000:]}")
    result = json.loads(stdout.decode().strip().splitlines()[-1])
    return result, result.pop("peak_rss_bytes")


# ----------------------------------------------------------------------------- main
def human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,.1f} {unit}"
        size /= 1024
    return str(size)


def measure(path: Path, chunk_size: int, records: int, ingest_env: dict[str, str], file_format: str) -> dict[str, Any]:
    chunks_file = path.with_suffix(".chunks")
    plan, plan_rss = run_child("plan", str(path), str(chunk_size), str(chunks_file))
    ingest, ingest_rss = run_child("ingest", str(path), str(chunks_file), extra_env=ingest_env)
    plan["planner_ru_maxrss_bytes"] = plan.pop("ru_maxrss_bytes")
    ingest["ingest_ru_maxrss_bytes"] = ingest.pop("ru_maxrss_bytes")
    size = path.stat().st_size
    return {
        "file": path.name,
        "bytes": size,
        "records": records,
        # A CSV file is one chunk (read front to back); the others one per ChunkSizeBytes.
        "chunks_expected": 1 if file_format == "csv" else -(-size // chunk_size),
        **plan,
        "planner_peak_rss_bytes": plan_rss,
        **ingest,
        "ingest_peak_rss_bytes": ingest_rss,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--format", choices=("jsonl", "csv", "parquet"), default="jsonl", help="file format (default jsonl)"
    )
    parser.add_argument("--smoke", action="store_true", help="small files (~4 MB and ~32 MB, 1 MiB chunks), for CI")
    parser.add_argument("--small-mb", type=float, default=None, help="size of the small file in MB (default 20)")
    parser.add_argument("--large-mb", type=float, default=None, help="size of the large file in MB (default 1000)")
    parser.add_argument(
        "--row-group-rows",
        type=int,
        default=PARQUET_ROW_GROUP_ROWS,
        help=f"rows per Parquet row group, the same in both files (default {PARQUET_ROW_GROUP_ROWS:,})",
    )
    parser.add_argument("--chunk-size", type=int, default=None, help="bytes per chunk (default 16 MiB)")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the files (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument(
        "--without-template-env",
        action="store_true",
        help="run the ingest child without IngestFunction's MALLOC_*/ARROW_* settings from template.yaml",
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        return _child(args.child)

    small_mb = args.small_mb or (4 if args.smoke else 20)
    large_mb = args.large_mb or (32 if args.smoke else 1000)
    chunk_size = args.chunk_size or (MIB if args.smoke else 16 * MIB)
    ingest_env = {} if args.without_template_env else ingest_process_environment()
    print(f"ingest process environment from template.yaml: {ingest_env or 'none'}")
    directory = Path(tempfile.mkdtemp(prefix="appflow-memory-", dir=args.dir))
    results = []
    try:
        for label, megabytes in (("small", small_mb), ("large", large_mb)):
            path = directory / f"accounts-{label}.{args.format}"
            started = time.perf_counter()
            records, size = generate(path, int(megabytes * 1_000_000), args.format, args.row_group_rows)
            print(f"generated {path.name}: {human(size)}, {records:,} records ({time.perf_counter() - started:.1f} s)")
            result = measure(path, chunk_size, records, ingest_env, args.format)
            results.append(result)
            print(
                f"  plan: {result['messages']} messages for {result['chunks_expected']} chunks, "
                f"{human(result['planner_bytes_read'])} read, peak RSS {human(result['planner_peak_rss_bytes'])}"
            )
            print(
                f"  ingest: {result['read']:,} records read, {result['written']:,} written in {result['seconds']} s "
                f"({result['cpu_seconds']} s CPU), peak RSS {human(result['ingest_peak_rss_bytes'])}"
            )
    finally:
        if not args.keep:
            for leftover in directory.iterdir():
                leftover.unlink()
            directory.rmdir()

    small, large = results
    ratio = large["ingest_peak_rss_bytes"] / small["ingest_peak_rss_bytes"]
    size_ratio = large["bytes"] / small["bytes"]
    complete = all(r["read"] == r["records"] == r["written"] and r["messages"] == r["chunks_expected"] for r in results)
    print()
    print(f"{'file':<22}{'size':>12}{'records':>12}{'chunks':>8}{'messages':>10}{'plan read':>11}{'peak RSS':>13}")
    for r in results:
        print(
            f"{r['file']:<22}{human(r['bytes']):>12}{r['records']:>12,}{r['chunks_expected']:>8}{r['messages']:>10}"
            f"{human(r['planner_bytes_read']):>11}{human(r['ingest_peak_rss_bytes']):>13}"
        )
    print()
    print(f"file size ratio large/small: {size_ratio:.1f}x")
    print(f"peak RSS ratio large/small:  {ratio:.3f} (goal: within {GOAL:.0%}, i.e. <= {1 + GOAL:.2f})")
    print(
        "planner messages per chunk:  "
        + ", ".join(f"{r['messages'] / r['chunks_expected']:.2f}" for r in results)
        + f"; planner bytes read: {', '.join(human(r['planner_bytes_read']) for r in results)}"
    )
    print(f"every record ingested once:  {'yes' if complete else 'NO'}")
    summary = {
        "format": args.format,
        **({"row_group_rows": args.row_group_rows} if args.format == "parquet" else {}),
        "chunk_size": chunk_size,
        "ingest_environment": ingest_env,
        "source": "local file through S3LandingObjects (streamed ranged GETs, one block read ahead)",
        "results": results,
        "peak_rss_ratio": round(ratio, 4),
        "goal_met": ratio <= 1 + GOAL,
        "complete": complete,
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2))
    print(json.dumps({k: summary[k] for k in ("peak_rss_ratio", "goal_met", "complete")}))
    return 0 if complete else 1


def peak_rss_bytes() -> int:
    """This process's own peak RSS: ``VmHWM`` on Linux, else ``ru_maxrss``.

    ``ru_maxrss`` survives ``execve``: a child started by a parent holding a large heap (after
    generating a Parquet file, say) reports at least the parent's RSS at the fork. ``VmHWM`` is
    the high-water mark of the child's own address space, so that is what is compared.
    """
    import resource

    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _child(argv: list[str]) -> int:
    import resource

    mode, *rest = argv
    if mode == "plan":
        result = child_plan(Path(rest[0]), int(rest[1]), Path(rest[2]))
    else:
        result = child_ingest(Path(rest[0]), Path(rest[1]))
    result["peak_rss_bytes"] = peak_rss_bytes()
    result["ru_maxrss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
