"""End to end through `local replay` (real handlers, template wiring): the same records in every format.

The same Account versions landed as JSON Lines, CSV, typed Parquet and all-string Parquet, in
files with no extension, must store one and the same record each: the first file writes them,
every other format finds them already at that version (stale) and publishes nothing.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from appflow_local.cli import main

pytestmark = pytest.mark.integration
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
FLOW = "sf-accounts"
COUNT = 30


def accounts() -> list[dict[str, Any]]:
    return [
        {
            "Id": f"001{i:015d}",
            "Name": f'Account {i}, "the" company',
            "Description": "first line\nsecond, line" if i % 3 == 0 else None,
            "AnnualRevenue": 1000.5 * i,
            "NumberOfEmployees": i,
            "IsDeleted": i == 7,
            "LastModifiedDate": f"2024-04-16T19:00:{i:02d}.000+0000",
        }
        for i in range(COUNT)
    ]


def as_json_lines(records: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


def as_csv(records: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(records[0]), lineterminator="\r\n")
    writer.writeheader()
    for record in records:
        writer.writerow(
            {k: "" if v is None else str(v).lower() if isinstance(v, bool) else v for k, v in record.items()}
        )
    return out.getvalue().encode()


def as_parquet(records: list[dict[str, Any]], *, typed: bool) -> bytes:
    if typed:
        rows = [{**r, "LastModifiedDate": datetime.fromisoformat(r["LastModifiedDate"])} for r in records]
        table = pa.Table.from_pylist(rows)
    else:  # preserveSourceDataTyping=false: every value a string
        table = pa.Table.from_pylist(
            [
                {k: None if v is None else str(v).lower() if isinstance(v, bool) else str(v) for k, v in r.items()}
                for r in records
            ]
        )
    out = io.BytesIO()
    pq.write_table(table, out, row_group_size=7)
    return out.getvalue()


def _cli(capsys, *argv: str) -> tuple[int, list[str]]:
    code = main(list(argv))
    return code, [line for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_every_format_stores_the_same_records(moto_endpoint, stack_name, tmp_path, capsys):
    flow_objects = {FLOW: {"object": "Account", "rules": "account-member"}}
    code, _ = _cli(
        capsys, "local", "provision", "--endpoint-url", moto_endpoint, "--stack-name", stack_name,
        "--template", str(TEMPLATE), "--parameter-overrides", f"FlowObjects={json.dumps(flow_objects)}",
        "ChunkSizeBytes=1024",
    )  # fmt: skip
    assert code == 0
    records = accounts()
    files = {
        "jsonl": as_json_lines(records),
        "csv": as_csv(records),
        "typed-parquet": as_parquet(records, typed=True),
        "string-parquet": as_parquet(records, typed=False),
    }
    dumps = {}
    for execution, (name, body) in enumerate(files.items()):
        path = tmp_path / name / "part-00000"  # AppFlow's names carry no extension
        path.parent.mkdir()
        path.write_bytes(body)
        code, out = _cli(
            capsys, "local", "replay", "--endpoint-url", moto_endpoint, "--stack-name", stack_name,
            "--flow", FLOW, "--execution-id", f"00000000-0000-4000-8000-00000000000{execution}", str(path),
        )  # fmt: skip
        summary = json.loads(out[-1])
        assert code == 0, summary
        first = execution == 0
        assert (summary["read"], summary["written"], summary["stale"], summary["quarantined"]) == (
            (COUNT, COUNT if first else 0, 0 if first else COUNT, 0)
        ), name
        if not first:
            assert summary["events_published"] == 0, name
        code, out = _cli(capsys, "local", "dump", "--endpoint-url", moto_endpoint, "--stack-name", stack_name)
        dumps[name] = sorted(out)

    assert dumps["csv"] == dumps["typed-parquet"] == dumps["string-parquet"] == dumps["jsonl"]
    stored = {json.loads(line)["id"]: json.loads(line) for line in dumps["jsonl"]}
    assert len(stored) == COUNT and stored["001000000000000007"]["deleted"] is True
    assert stored["001000000000000003"]["record"]["Description"] == "first line\nsecond, line"
