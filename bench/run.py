"""Every benchmark in one run: same generated data, same moto server, figures as ratios.

    python -m bench.run                  # full sizes (make bench), a few minutes
    python -m bench.run --smoke          # tiny sizes, seconds: checks everything works (CI)
    python -m bench.run --out FILE.json  # where the JSON goes (default bench/results/<mode>.json)

Sections: ``read`` (read + parse + rules to a counting sink: ours against the floor, a naive
handler and Powertools' S3Object), ``write`` (newest-wins writes: our two strategies against one
conditional UpdateItem at a time, with requests and write units counted), ``awswrangler`` (the
same out-of-order deliveries through awswrangler and through ours: throughput and records left
at an older version), ``cost`` (dollars per million records on AWS at the measured rates,
bench/cost.py), and ``cost_scenarios`` (every write strategy on first loads, full re-loads,
overlapping and touched incremental runs of ~60-field Accounts: units, events, CPU and dollars
per million records, newest-wins checked; bench/cost_scenarios.py, docs/cost.md).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import orjson

from bench.tables import REPO

SIZES = {
    # records of the read benchmark, versions of the write benchmark, records per awswrangler file
    # Writes are few: moto answers ~50-100 conditional UpdateItem a second; more would measure moto.
    "full": {"read_records": 200_000, "powertools_records": 2_000, "write_records": 500, "wrangler_records": 1_500,
             "rounds": 5, "write_rounds": 3, "cost_records": 2_000},
    "smoke": {"read_records": 2_000, "powertools_records": 100, "write_records": 60, "wrangler_records": 60,
              "rounds": 1, "write_rounds": 1, "cost_records": 40},
}  # fmt: skip
BLOCK_SIZE = 8 * 1024 * 1024  # the floor's ranged GET (ours reads as adapters/landing_objects.py does)
CHUNK_SIZE = 16 * 1024 * 1024  # the template's ChunkSizeBytes default
SMOKE_BLOCK_SIZE = 64 * 1024  # smoke files are ~1 MB: small blocks and chunks still cross edges
SMOKE_CHUNK_SIZE = 256 * 1024
SMOKE_READS = {"block_size": 16 * 1024, "segment_size": 128 * 1024}  # our adapter's, shrunk alike
WRITE_CONCURRENCY = 32  # the template's WriteConcurrency default


def run(mode: str) -> dict[str, Any]:
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "AppFlowIngestBench")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # one log line per chunk would be measured too
    from bench.cost import cost_per_million
    from bench.cost_scenarios import goals as cost_goals
    from bench.cost_scenarios import run_cost_scenarios
    from bench.moto_process import moto_server
    from bench.read_path import run_read_benchmark
    from bench.salesforce_data import accounts, json_lines
    from bench.wrangler_path import run_wrangler_benchmark
    from bench.write_path import deliveries, run_write_benchmark

    sizes = SIZES[mode]
    block_size, chunk_size = (BLOCK_SIZE, CHUNK_SIZE) if mode == "full" else (SMOKE_BLOCK_SIZE, SMOKE_CHUNK_SIZE)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "mode": mode,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "command": "python -m bench.run" + (" --smoke" if mode == "smoke" else ""),
    }
    with moto_server() as endpoint:
        s3 = boto3.session.Session(region_name="us-east-1").client("s3", endpoint_url=endpoint)
        bucket = "bench-landing"
        s3.create_bucket(Bucket=bucket)

        records = sizes["read_records"]
        data = json_lines(accounts(records))
        results["read"] = run_read_benchmark(
            s3,
            bucket,
            data,
            records,
            rounds=sizes["rounds"],
            block_size=block_size,
            chunk_size=chunk_size,
            powertools_records=sizes["powertools_records"],
            reads=SMOKE_READS if mode == "smoke" else None,
        )

        older = list(accounts(sizes["write_records"]))
        newer = list(accounts(sizes["write_records"], version_offset=86_400))
        results["write"] = run_write_benchmark(
            endpoint, deliveries(older, newer), concurrency=WRITE_CONCURRENCY, rounds=sizes["write_rounds"]
        )

        results["awswrangler"] = run_wrangler_benchmark(endpoint, bucket, sizes["wrangler_records"], chunk_size)
        cost = run_cost_scenarios(endpoint, sizes["cost_records"])
    results["cost"] = cost_per_million(results)
    cost["goals"] = cost_goals(cost)
    results["cost_scenarios"] = cost.pop("scenarios")
    results["cost_scenario_details"] = cost
    results["seconds"] = round(time.perf_counter() - started, 1)
    return results


def table(results: dict[str, Any]) -> str:
    """The figures as text tables (what docs/benchmarks.md shows)."""
    read = results["read"]
    out = [
        f"read + parse + rules, {read['records']:,} Account records ({read['object_bytes'] / read['records']:.0f} B each),"
        f" median of {read['rounds']} rounds",
        f"{'contender':<15} {'records/s':>11} {'x floor':>8} {'CPU us/rec':>11} {'CPU x floor':>12}",
    ]
    for name, figures in read["contenders"].items():
        out.append(
            f"{name:<15} {figures['records_per_s']:>11,} {figures['ratio_to_floor']:>8.2f}"
            f" {figures['cpu_us_per_record']:>11.2f} {figures['cpu_ratio_to_floor']:>12.2f}"
        )
    write = results["write"]
    out += [
        "",
        f"newest-wins writes, {write['versions_written']:,} versions of {write['distinct_records']:,} records"
        f" (newer extract landed first), median of {write['rounds']} rounds; in flight: {write['concurrency']}",
        f"{'strategy':<18} {'records/s':>10} {'x naive':>8} {'CPU us/rec':>11} {'requests/rec':>13}"
        f" {'WCU/rec':>8} {'left older':>11}",
    ]
    for name, figures in write["contenders"].items():
        out.append(
            f"{name:<18} {figures['records_per_s']:>10,} {figures['ratio_to_naive']:>8.2f}"
            f" {figures['cpu_us_per_record']:>11.1f} {figures['http_requests_per_record']:>13.3f}"
            f" {figures['write_units_per_record']:>8.2f} {figures['records_left_older']:>11}"
        )
    wrangler = results["awswrangler"]
    out.append("")
    if "skipped" in wrangler:
        out.append(f"awswrangler: skipped: {wrangler['skipped']}")
    else:
        out += [
            f"out-of-order deliveries: {wrangler['files']} files, {wrangler['records_delivered']:,} records,"
            f" {wrangler['distinct_records']:,} distinct, newest file landed first (awswrangler {wrangler['awswrangler_version']})",
            f"{'contender':<12} {'records/s':>10} {'CPU us/rec':>11} {'left older':>11}",
        ]
        for name, figures in wrangler["contenders"].items():
            out.append(
                f"{name:<12} {figures['records_per_s']:>10,} {figures['cpu_us_per_record']:>11.1f}"
                f" {figures['records_left_older']:>11}"
            )
    from bench.cost import cost_table
    from bench.cost_scenarios import scenario_table

    out += ["", cost_table(results["cost"])]
    out += ["", scenario_table({"scenarios": results["cost_scenarios"], **results["cost_scenario_details"]})]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: check that every benchmark works")
    parser.add_argument("--out", type=Path, help="JSON results file (default bench/results/<mode>.json)")
    args = parser.parse_args(argv)
    mode = "smoke" if args.smoke else "full"
    results = run(mode)
    out = args.out or REPO / "bench" / "results" / f"{mode}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
    print(table(results))
    print(f"\n{results['seconds']} s; JSON: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
