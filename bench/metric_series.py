"""Count the CloudWatch metric series a demo run emits: (namespace, metric, dimension values).

    .venv/bin/python bench/metric_series.py [--accounts 200] [--opportunities 300]

Every EMF document the functions print is read as CloudWatch would read it; the distinct series are
what CloudWatch would bill as custom metrics (docs/operating.md, Metrics).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from appflow_local.emulator import handler_output
from appflow_local.runs.demo import run_demo

Series = tuple[str, str, tuple[tuple[str, Any], ...]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=200, help="Accounts in the demo run")
    parser.add_argument("--opportunities", type=int, default=300, help="Opportunities in the demo run")
    args = parser.parse_args()
    series: set[Series] = set()
    original = handler_output.HandlerOutput._line

    def counting(self: handler_output.HandlerOutput, line: str) -> None:
        if line.startswith("{") and '"_aws"' in line:
            document = json.loads(line)
            for directive in document["_aws"]["CloudWatchMetrics"]:
                for dimensions in directive["Dimensions"]:
                    for metric in directive["Metrics"]:
                        values = tuple((name, document[name]) for name in sorted(dimensions))
                        series.add((directive["Namespace"], metric["Name"], values))
        original(self, line)

    handler_output.HandlerOutput._line = counting  # type: ignore[method-assign]
    code = run_demo(accounts=args.accounts, opportunities=args.opportunities)
    by_dimensions: dict[tuple[str, ...], list[Series]] = {}
    for one in series:
        by_dimensions.setdefault(tuple(name for name, _ in one[2]), []).append(one)
    print(f"{len(series)} metric series", file=sys.stderr)
    for dimensions, members in sorted(by_dimensions.items()):
        names = sorted({name for _, name, _ in members})
        print(f"  {', '.join(dimensions)}: {len(members)} series of {len(names)} metrics: {names}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
