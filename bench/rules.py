"""What the business rules cost on the hot path: decode + identify, with and without a rule set.

Same records, same process, same run: JSON Lines of Opportunities (half REST-formatted, half
Bulk API 2.0: numbers as strings, ``Z`` timestamps) decoded with orjson and identified/versioned
by ``to_record_version`` (the baseline), then the same plus the shipped ``purchase`` rule set
(types coerced, stage checked against its allowed values). Prints microseconds per record and
the ratio. ``python bench/rules.py [records]``
"""

from __future__ import annotations

import random
import sys
import time

import orjson

from appflow_ingest.domain.records import ObjectConfig, to_record_version
from appflow_ingest.domain.rules import RULE_SETS, ObjectRules
from appflow_ingest.domain.rules.catalog import OPPORTUNITY_STAGES

CONFIG = ObjectConfig("Opportunity")


def lines(count: int, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for n in range(count):
        bulk = n % 2
        amount = rng.randrange(500, 150_000) / 100
        record = {
            "Id": f"0065g00000{n:08d}",
            "IsDeleted": False,
            "Name": f"Order {n}",
            "AccountId": f"0015g00000{rng.randrange(10**8):08d}",
            "Amount": str(amount) if bulk else amount,
            "StageName": rng.choice(OPPORTUNITY_STAGES),
            "Probability": "20.0" if bulk else 20,
            "CloseDate": "2024-05-01",
            "OwnerId": "0055g00000AbCdEAAZ",
            "CreatedDate": "2024-04-01T10:00:00.000Z" if bulk else "2024-04-01T10:00:00.000+0000",
            "LastModifiedDate": "2024-04-16T19:00:00.000Z" if bulk else "2024-04-16T19:00:00.000+0000",
            "SystemModstamp": "2024-04-16T19:00:00.000Z" if bulk else "2024-04-16T19:00:00.000+0000",
        }
        out.append(orjson.dumps(record))
    return out


def run(data: list[bytes], rules: ObjectRules | None) -> float:
    started = time.perf_counter()
    for line in data:
        version = to_record_version(orjson.loads(line), CONFIG)
        if rules is not None:
            rules.apply(version)
    return time.perf_counter() - started


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    data = lines(count)
    rules = ObjectRules({"Opportunity": RULE_SETS["purchase"]})
    baseline = min(run(data, None) for _ in range(3))
    with_rules = min(run(data, rules) for _ in range(3))
    print(f"records                 {count:,}")
    print(f"decode + identify       {baseline / count * 1e6:.2f} µs/record")
    print(f"  + purchase rule set   {with_rules / count * 1e6:.2f} µs/record")
    print(
        f"ratio                   {with_rules / baseline:.2f}x  (rules alone {(with_rules - baseline) / count * 1e6:.2f} µs/record)"
    )


if __name__ == "__main__":
    main()
