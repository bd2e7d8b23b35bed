"""What the business rules cost on the hot path: decode + identify, with and without each rule set.

For every rule set in the catalog (``RULE_SETS``), the same generated records of its object,
half in the REST form AppFlow writes (JSON numbers and booleans, ``+0000`` timestamps, ``null``)
and half in the Bulk API 2.0 / CSV form (numbers and booleans as strings, ``Z`` timestamps,
``""``), every declared field present, optional ones empty one time in ten, hashed fields keyed.
Each round decodes them with orjson and identifies/versions them with ``to_record_version`` (the
baseline), then does the same plus the rule set; the rounds are interleaved and the medians
count. Times are this process's CPU time (``time.process_time``: what Lambda bills, and steadier
than wall time on a shared machine). Prints microseconds per record, the rules' own cost (with
minus without) and the ratio.

``python bench/rules.py [records] [--rounds N]``

``--against REF`` measures the rules of git revision REF (its ``layers/core``, extracted to a
temporary directory) against the working tree's, in alternating child processes of this same
script, ``--repeats`` times each, and prints the median of each side and their ratio: a
before/after in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from appflow_ingest.domain.records.versions import ObjectConfig, to_record_version
from appflow_ingest.domain.rules import RULE_SETS, ObjectRules, RuleSet

REPO = Path(__file__).resolve().parents[1]
MASKING_KEY = b"bench masking key"
_EPOCH = datetime(2019, 1, 1, tzinfo=UTC)


def _value(
    field_name: str, type_name: str, allowed: tuple[Any, ...] | None, n: int, rng: random.Random, bulk: bool
) -> Any:
    """One value of a declared field in the REST (``bulk=False``) or Bulk/CSV form."""
    if allowed:
        return rng.choice(allowed)
    if type_name == "id":
        return f"0{rng.randrange(10**16):016d}Z"[:15] + "AAZ"
    if type_name == "boolean":
        flag = rng.random() < 0.5
        return ("true" if flag else "false") if bulk else flag
    if type_name == "currency":
        cents = rng.randrange(500, 15_000_000)
        return str(cents / 100) if bulk else cents / 100
    if type_name == "number":
        whole = rng.randrange(0, 101)
        return f"{whole}.0" if bulk else whole
    if type_name == "integer":
        whole = rng.randrange(1, 50_000)
        return str(whole) if bulk else whole
    if type_name == "datetime":
        text = (_EPOCH + timedelta(seconds=rng.randrange(150_000_000))).strftime("%Y-%m-%dT%H:%M:%S.000")
        return text + ("Z" if bulk else "+0000")
    if type_name == "date":
        return (_EPOCH + timedelta(days=rng.randrange(2_000))).date().isoformat()
    if "Email" in field_name:
        return f"member{n}@example.com"
    if "Phone" in field_name:
        return f"+1 415 555 {n % 10_000:04d}"
    return f"{field_name} {n}"


def lines(rules: RuleSet, count: int, seed: int = 7) -> list[bytes]:
    """``count`` JSON Lines of the rule set's object: every declared field, half REST, half Bulk."""
    rng = random.Random(seed)
    out = []
    for n in range(count):
        bulk = n % 2 == 1
        record: dict[str, Any] = {}
        for name, spec in rules.fields.items():
            if name == "IsDeleted":
                record[name] = "false" if bulk else False  # live records: tombstones skip the checks
            elif not spec.required and rng.random() < 0.1:
                record[name] = "" if bulk else None
            else:
                record[name] = _value(name, spec.type, spec.allowed, n, rng, bulk)
        record["Id"] = f"0{n:014d}AAZ"  # distinct, 18 characters
        out.append(orjson.dumps(record))
    return out


def timed(data: list[bytes], config: ObjectConfig, rules: ObjectRules | None) -> float:
    started = time.process_time()
    if rules is None:
        for line in data:
            to_record_version(orjson.loads(line), config)
    else:
        apply = rules.apply
        for line in data:
            apply(to_record_version(orjson.loads(line), config))
    return time.process_time() - started


def measure(count: int, rounds: int) -> dict[str, dict[str, float]]:
    """Per rule set: median µs per record of decode + identify, of the same plus the rules, and their difference."""
    cases = []
    for name, rules in RULE_SETS.items():
        config = ObjectConfig(rules.object)
        data = lines(rules, count)
        object_rules = ObjectRules({rules.object: rules}, masking_key=MASKING_KEY)
        timed(data[:1000], config, object_rules)  # every record of the sample must pass the rules
        cases.append((name, config, data, object_rules))
    runs: dict[str, dict[str, list[float]]] = {name: {"baseline": [], "ruled": []} for name, *_ in cases}
    for _ in range(rounds):
        for name, config, data, object_rules in cases:
            runs[name]["baseline"].append(timed(data, config, None))
            runs[name]["ruled"].append(timed(data, config, object_rules))
    results = {}
    for name, found in runs.items():
        baseline = statistics.median(found["baseline"]) / count * 1e6
        ruled = statistics.median(found["ruled"]) / count * 1e6
        results[name] = {"decode_identify_us": baseline, "with_rules_us": ruled, "rules_us": ruled - baseline}
    return results


def print_table(count: int, rounds: int, results: dict[str, dict[str, float]]) -> None:
    print(f"{count:,} records per rule set, median of {rounds} interleaved rounds, µs per record")
    print(f"{'rule set':16} {'decode+identify':>16} {'+ rules':>9} {'rules alone':>12} {'ratio':>7}")
    for name, figures in results.items():
        print(
            f"{name:16} {figures['decode_identify_us']:16.2f} {figures['with_rules_us']:9.2f}"
            f" {figures['rules_us']:12.2f} {figures['with_rules_us'] / figures['decode_identify_us']:6.2f}x"
        )


def against(ref: str, count: int, rounds: int, repeats: int) -> None:
    """The rules of ``ref`` and of the working tree, in alternating child processes of this script."""
    with tempfile.TemporaryDirectory() as before_dir:
        archive = subprocess.run(["git", "archive", ref, "layers/core"], cwd=REPO, check=True, capture_output=True)
        archive_path = Path(before_dir) / "core.tar"
        archive_path.write_bytes(archive.stdout)
        with tarfile.open(archive_path) as tar:
            tar.extractall(before_dir, filter="data")
        sides = {ref: str(Path(before_dir) / "layers" / "core"), "working tree": str(REPO / "layers" / "core")}
        runs: dict[str, list[dict[str, dict[str, float]]]] = {side: [] for side in sides}
        for repeat in range(repeats):
            for side, core in sides.items():
                env = {**os.environ, "PYTHONPATH": core + os.pathsep + str(REPO)}
                child = subprocess.run(
                    [sys.executable, __file__, str(count), "--rounds", str(rounds), "--json", "--expect-core", core],
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                )
                runs[side].append(json.loads(child.stdout))
                print(f"repeat {repeat + 1}/{repeats}: {side} done", file=sys.stderr)
    print(
        f"{count:,} records per rule set; {repeats} alternating processes per side, each the median of {rounds} rounds"
    )
    print(f"rules alone, µs per record (median over processes); {ref} vs working tree")
    print(f"{'rule set':16} {ref[:12]:>12} {'now':>8} {'now / before':>13}   decode+identify (both)")
    for name in runs["working tree"][0]:
        before = statistics.median(run[name]["rules_us"] for run in runs[ref])
        now = statistics.median(run[name]["rules_us"] for run in runs["working tree"])
        baseline = statistics.median(run[name]["decode_identify_us"] for side in runs.values() for run in side)
        print(f"{name:16} {before:12.2f} {now:8.2f} {now / before:13.2f}   {baseline:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("records", type=int, nargs="?", default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--against", metavar="REF", help="a git revision whose rules to measure against these")
    parser.add_argument("--repeats", type=int, default=3, help="with --against: child processes per side")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--expect-core", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.against:
        against(args.against, args.records, args.rounds, args.repeats)
        return
    if args.expect_core:  # a child of --against: it must measure the code it was given
        import appflow_ingest

        loaded = Path(appflow_ingest.__file__).resolve()
        if not loaded.is_relative_to(Path(args.expect_core).resolve()):
            raise SystemExit(f"measured {loaded}, expected the package under {args.expect_core}")
    results = measure(args.records, args.rounds)
    if args.json:
        print(json.dumps(results))
    else:
        print_table(args.records, args.rounds, results)


if __name__ == "__main__":
    main()
