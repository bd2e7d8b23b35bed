"""The benchmark's capacity meter bills by DynamoDB's published rules, and bills after the timed section.

bench/cost_scenarios.py times the client's CPU while the meter is on; the meter's own parsing must
not be in that time (it is the benchmark's, not the writer's), so its hooks only keep the bytes
sent and the answers' error codes, and the rules run when a figure is read (``settle``).
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import boto3
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.capacity_meter import CapacityMeter  # noqa: E402

pytestmark = pytest.mark.integration


def test_the_meter_bills_statements_reads_and_puts_by_size_only_when_settled(moto_endpoint):
    ddb = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1")
    table = f"meter-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
    )
    meter = CapacityMeter(ddb)
    big = {"B": b"x" * 1500}  # with its names, an item of 2 started KB
    ddb.batch_execute_statement(
        Statements=[
            {
                "Statement": f"INSERT INTO \"{table}\" VALUE {{'pk': ?, 'version': ?, 'record': ?}}",
                "Parameters": [{"S": f"k{n}"}, {"N": "1"}, big],
            }
            for n in range(3)
        ]
    )
    assert meter._pending and not meter._write_units  # recorded, not yet billed
    assert meter.write_units == 6  # 3 inserts of 2 KB
    meter.reset()
    ddb.batch_execute_statement(
        Statements=[
            {
                "Statement": f'UPDATE "{table}" SET "version" = ? SET "record" = ? WHERE "pk" = ? AND "version" < ?',
                "Parameters": [{"N": "2"}, {"S": "small"}, {"S": "k0"}, {"N": "2"}],
            },
            # A failed condition is billed as well, on the larger of the item before and after.
            {
                "Statement": f'UPDATE "{table}" SET "version" = ? SET "record" = ? WHERE "pk" = ? AND "version" < ?',
                "Parameters": [{"N": "1"}, {"S": "small"}, {"S": "k1"}, {"N": "1"}],
            },
        ]
    )
    ddb.batch_get_item(RequestItems={table: {"Keys": [{"pk": {"S": f"k{n}"}} for n in range(4)]}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "k9"}, "record": {"S": "y" * 2100}})
    assert meter.calls == {"BatchExecuteStatement": 1, "BatchGetItem": 1, "PutItem": 1}
    assert meter.write_units == 2 + 2 + 3  # k0: larger of 2 KB before and ~30 B after; k1 failed: 2; k9: 3
    assert meter.read_units == 4 * 0.5  # eventually consistent, every item under 4 KB, a missing key too
    meter.enabled = False
    ddb.put_item(TableName=table, Item={"pk": {"S": "k8"}})
    assert meter.write_units == 7  # not counted while off
