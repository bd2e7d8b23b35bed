"""Local mode's PartiQL BatchExecuteStatement behaves as DynamoDB documents it.

DynamoDB's documentation (BatchExecuteStatement, BatchStatementError, PartiQL INSERT/UPDATE):
each statement succeeds or fails alone, with its error in its own response entry; an INSERT on an
existing key fails with DuplicateItem; an UPDATE whose WHERE matches no item (missing, or its
condition false) fails with ConditionalCheckFailed, carrying the stored item when asked ALL_OLD;
at most 25 statements, all reads or all writes. Over HTTP against the session's moto server,
which local mode patches (appflow_local/emulator/moto_dynamodb.py, moto_partiql.py).
"""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError


@pytest.fixture
def table(moto_endpoint: str) -> tuple[Any, str]:
    ddb = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1")
    name = f"partiql-{uuid.uuid4().hex[:8]}"
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    return ddb, name


def insert(name: str, pk: str, version: int, **extra: Any) -> dict[str, Any]:
    return {
        "Statement": f"INSERT INTO \"{name}\" VALUE {{'pk': ?, 'version': ?, 'body': ?}}",
        "Parameters": [{"S": pk}, {"N": str(version)}, extra.get("body", {"S": f"body of {pk} v{version}"})],
    }


def update_if_older(name: str, pk: str, version: int, *, all_old: bool = False) -> dict[str, Any]:
    statement = {
        "Statement": f'UPDATE "{name}" SET "version" = ? SET "body" = ? REMOVE "codec" WHERE "pk" = ? AND "version" < ?',
        "Parameters": [{"N": str(version)}, {"S": f"body of {pk} v{version}"}, {"S": pk}, {"N": str(version)}],
    }
    if all_old:
        statement["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return statement


def stored(ddb: Any, name: str, pk: str) -> dict[str, Any] | None:
    return ddb.get_item(TableName=name, Key={"pk": {"S": pk}}, ConsistentRead=True).get("Item")


def stream_records(ddb: Any, moto_endpoint: str, name: str) -> list[dict[str, Any]]:
    streams = boto3.client("dynamodbstreams", endpoint_url=moto_endpoint, region_name="us-east-1")
    arn = ddb.describe_table(TableName=name)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
    return streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]


def test_each_statement_fails_alone_and_the_others_are_applied(table) -> None:
    # Given an item "b" already stored
    ddb, name = table
    ddb.put_item(TableName=name, Item={"pk": {"S": "b"}, "version": {"N": "5"}})
    # When one batch inserts a, b (exists) and c
    responses = ddb.batch_execute_statement(
        Statements=[insert(name, "a", 1), insert(name, "b", 9), insert(name, "c", 1)]
    )["Responses"]
    # Then b alone fails with DuplicateItem; a and c are written (no atomicity across statements)
    assert [r.get("Error", {}).get("Code") for r in responses] == [None, "DuplicateItem", None]
    assert stored(ddb, name, "a")["version"] == {"N": "1"} and stored(ddb, name, "c")["version"] == {"N": "1"}
    assert stored(ddb, name, "b")["version"] == {"N": "5"}


def test_a_conditional_update_of_a_missing_item_fails(table) -> None:
    ddb, name = table
    (response,) = ddb.batch_execute_statement(Statements=[update_if_older(name, "nobody", 3, all_old=True)])[
        "Responses"
    ]
    assert response["Error"]["Code"] == "ConditionalCheckFailed"
    assert "Item" not in response["Error"]  # nothing stored, nothing to return
    assert stored(ddb, name, "nobody") is None  # an UPDATE never creates an item


def test_a_conditional_update_applies_only_when_its_condition_holds(table) -> None:
    # Given a at version 5 (with a codec attribute) and b at version 1
    ddb, name = table
    ddb.put_item(TableName=name, Item={"pk": {"S": "a"}, "version": {"N": "5"}, "codec": {"S": "gzip"}})
    ddb.put_item(TableName=name, Item={"pk": {"S": "b"}, "version": {"N": "1"}, "codec": {"S": "gzip"}})
    # When both are updated "if older than 3", asking for the stored item on failure
    responses = ddb.batch_execute_statement(
        Statements=[update_if_older(name, "a", 3, all_old=True), update_if_older(name, "b", 3, all_old=True)]
    )["Responses"]
    # Then a fails with its stored item returned, b is updated (SET and REMOVE applied)
    assert responses[0]["Error"]["Code"] == "ConditionalCheckFailed"
    assert responses[0]["Error"]["Item"]["version"] == {"N": "5"}
    assert "Error" not in responses[1]
    assert stored(ddb, name, "a") == {"pk": {"S": "a"}, "version": {"N": "5"}, "codec": {"S": "gzip"}}
    assert stored(ddb, name, "b") == {"pk": {"S": "b"}, "version": {"N": "3"}, "body": {"S": "body of b v3"}}


def test_an_item_over_the_limit_is_refused_alone(table) -> None:
    ddb, name = table
    too_large = {"S": "x" * (400 * 1024 + 1)}
    responses = ddb.batch_execute_statement(
        Statements=[insert(name, "big", 1, body=too_large), insert(name, "small", 1)]
    )["Responses"]
    assert responses[0]["Error"]["Code"] == "ValidationError"
    assert "Error" not in responses[1] and stored(ddb, name, "small") is not None
    assert stored(ddb, name, "big") is None


def test_request_level_limits_refuse_the_whole_batch(table) -> None:
    ddb, name = table
    with pytest.raises(ClientError) as too_many:
        ddb.batch_execute_statement(Statements=[insert(name, f"k{i}", 1) for i in range(26)])
    assert too_many.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as mixed:
        ddb.batch_execute_statement(
            Statements=[
                insert(name, "k", 1),
                {"Statement": f'SELECT * FROM "{name}" WHERE "pk" = ?', "Parameters": [{"S": "k"}]},
            ]
        )
    assert mixed.value.response["Error"]["Code"] == "ValidationException"
    assert stored(ddb, name, "k0") is None and stored(ddb, name, "k") is None


def test_where_must_name_the_key(table) -> None:
    ddb, name = table
    (response,) = ddb.batch_execute_statement(
        Statements=[
            {
                "Statement": f'UPDATE "{name}" SET "version" = ? WHERE "version" < ?',
                "Parameters": [{"N": "1"}, {"N": "2"}],
            }
        ]
    )["Responses"]
    assert response["Error"]["Code"] == "ValidationError"


def test_reads_by_key_with_a_projection(table) -> None:
    ddb, name = table
    ddb.put_item(TableName=name, Item={"pk": {"S": "a"}, "version": {"N": "5"}, "body": {"S": "x"}})
    responses = ddb.batch_execute_statement(
        Statements=[
            {"Statement": f'SELECT "version" FROM "{name}" WHERE "pk" = ?', "Parameters": [{"S": "a"}]},
            {"Statement": f'SELECT * FROM "{name}" WHERE "pk" = ?', "Parameters": [{"S": "missing"}]},
        ]
    )["Responses"]
    assert responses[0]["Item"] == {"version": {"N": "5"}}
    assert "Item" not in responses[1] and "Error" not in responses[1]


def test_the_stream_holds_exactly_the_applied_statements(table, moto_endpoint) -> None:
    ddb, name = table
    ddb.batch_execute_statement(Statements=[insert(name, "a", 1), insert(name, "b", 1)])
    ddb.batch_execute_statement(
        Statements=[update_if_older(name, "a", 2), update_if_older(name, "b", 0), insert(name, "a", 7)]
    )
    records = stream_records(ddb, moto_endpoint, name)
    assert [(r["eventName"], r["dynamodb"]["Keys"]["pk"]["S"]) for r in records] == [
        ("INSERT", "a"),
        ("INSERT", "b"),
        ("MODIFY", "a"),
    ]
    modify = records[2]["dynamodb"]
    assert modify["OldImage"]["version"] == {"N": "1"} and modify["NewImage"]["version"] == {"N": "2"}


class _ItemsThatCountScans(dict):  # type: ignore[type-arg]
    """A table's items in moto's backend: a lookup by key is free, each walk over them is counted."""

    walks = 0

    def _walk(name: str) -> Any:  # noqa: N805 (builds the methods below)
        def walk(self: _ItemsThatCountScans, *args: Any, **kwargs: Any) -> Any:
            self.walks += 1
            return getattr(dict, name)(self, *args, **kwargs)

        return walk

    __iter__ = _walk("__iter__")
    values = _walk("values")  # type: ignore[assignment]
    items = _walk("items")  # type: ignore[assignment]
    keys = _walk("keys")  # type: ignore[assignment]


def _backend_table(ddb: Any, name: str) -> tuple[Any, Any]:
    """The session's moto server runs in this process: its DynamoDB backend and the table in it."""
    from moto.dynamodb.models import dynamodb_backends

    account = boto3.client("sts", endpoint_url=ddb.meta.endpoint_url, region_name="us-east-1").get_caller_identity()[
        "Account"
    ]
    backend = dynamodb_backends[account]["us-east-1"]
    return backend, backend.get_table(name)


def test_a_batch_does_not_scan_the_table(table) -> None:
    """moto's own implementation copies every table per statement; this one reads one item."""
    ddb, name = table
    ddb.batch_execute_statement(Statements=[insert(name, f"k{i}", 1) for i in range(25)])
    backend, moto_table = _backend_table(ddb, name)
    moto_table.items = items = _ItemsThatCountScans(moto_table.items)

    inserts = ddb.batch_execute_statement(Statements=[insert(name, f"k{i}", 2) for i in range(20, 45)])
    updates = ddb.batch_execute_statement(Statements=[update_if_older(name, f"k{i}", 3) for i in range(25)])

    assert [entry.get("Error", {}).get("Code") for entry in inserts["Responses"]] == ["DuplicateItem"] * 5 + [None] * 20
    assert all("Error" not in entry for entry in updates["Responses"])
    assert dict.__len__(items) == 45
    assert items.walks == 0
    # The count can fail: moto's own implementation walks the items (and cannot take parameters).
    from moto.dynamodb.models import DynamoDBBackend

    moto_own = DynamoDBBackend.batch_execute_statement.__wrapped__.moto_original
    moto_own(backend, [{"Statement": f"INSERT INTO \"{name}\" VALUE {{'pk': 'k99', 'version': 1}}"}])
    assert items.walks > 0
