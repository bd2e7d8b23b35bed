"""Make moto's DynamoDB behave like DynamoDB where the wallet's exactly-once writes depend on it.

Four departures of moto's (5.x) in-process backend, all measured here:

1. Atomicity. moto's server handles requests on threads without locking its DynamoDB backend.
   A conditional write checks and writes in separate Python steps, and a cancelled transaction
   restores a deep copy of the whole table taken when it began, erasing what other threads
   wrote meanwhile. With 8 threads on one member, moto lost deltas whatever the client did
   (tests/integration/test_wallet_aggregation.py). DynamoDB serializes writes per item.
2. Cost. That deep copy (items and stream records of the whole table) is taken for every
   transaction, so a transaction costs time proportional to everything the table ever held:
   the demo's aggregation slowed from seconds to a minute per stream batch as the table grew.
3. Validation. moto validates a Put's item (key size, item size) only while it applies it, so a
   transaction with one oversized item wrote the items before it and then failed: DynamoDB
   refuses the whole transaction with a ValidationException and writes nothing.
4. PartiQL. ``BatchExecuteStatement`` copies every table into a document store per statement
   and answered with a 500 when measured; ``appflow_local/emulator/moto_partiql.py`` runs the statements
   the batched write strategy sends one item each, with DynamoDB's per-statement errors.

``install()`` serializes the write and read paths with one lock, and replaces
``transact_write_items`` by one with DynamoDB's semantics that needs no copy: every condition
is checked first, and the writes are applied only if all hold (under the lock nothing can
change in between), so a cancelled transaction has written nothing and left no stream record.
Local mode and tests only; nothing here runs in Lambda.
"""

from __future__ import annotations

import threading
from typing import Any

from appflow_local.emulator import moto_partiql

_LOCK = threading.RLock()
_INSTALLED = False
_LOCKED = ("put_item", "update_item", "delete_item", "get_item", "batch_get_item", "query", "scan")


def install() -> None:
    """Patch the in-process moto DynamoDB backend (idempotent)."""
    global _INSTALLED
    if _INSTALLED:
        return
    from moto.dynamodb.models import DynamoDBBackend

    for name in _LOCKED:
        setattr(DynamoDBBackend, name, _locked(getattr(DynamoDBBackend, name)))
    DynamoDBBackend.transact_write_items = _locked(_transact_write_items)  # type: ignore[method-assign]
    original_batch = DynamoDBBackend.batch_execute_statement

    def batch_execute_statement(self: Any, statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # One lock for the whole batch: each statement's check and write are atomic, as on DynamoDB.
        return moto_partiql.batch_execute_statement(self, statements, fallback=original_batch)

    DynamoDBBackend.batch_execute_statement = _locked(batch_execute_statement)  # type: ignore[method-assign]
    batch_execute_statement.moto_original = original_batch  # type: ignore[attr-defined]  # what the tests compare with
    _INSTALLED = True


def _locked(method: Any) -> Any:
    def locked(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return method(self, *args, **kwargs)

    locked.__wrapped__ = method  # type: ignore[attr-defined]
    return locked


def _transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    """TransactWriteItems as DynamoDB does it: all conditions checked, then all writes, or none."""
    from moto.dynamodb.exceptions import (
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )
    from moto.dynamodb.models import get_filter_expression
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    planned: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    targets: set[tuple[str, str]] = set()
    errors: list[tuple[str | None, str | None, Any]] = []
    for entry in transact_items:
        if len(entry) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(entry.items()))
        if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
            raise ValueError("Unsupported transaction operation")
        table_name = op["TableName"]
        table = self.get_table(table_name)
        if op_type == "Put":
            # Every item validated before anything is written (see the module docstring, 3.).
            table._validate_key_sizes(op["Item"])
            Item(DynamoType(op["Item"][table.hash_key_attr]), None, op["Item"])
            key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = op["Item"][table.range_key_attr]
        else:
            key = op["Key"]
        target = (str(table_name), str(dict(sorted(key.items()))))
        if target in targets:
            raise MultipleTransactionsException()
        targets.add(target)
        current = self.get_item(table_name, key)
        condition = op.get("ConditionExpression")
        if condition is not None and not get_filter_expression(
            condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
        ).expr(current):
            old = (
                current.to_json()["Attributes"]
                if current and op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
                else None
            )
            errors.append(("ConditionalCheckFailed", "The conditional request failed", old))
        else:
            errors.append((None, None, None))
        planned.append((op_type, op, key))
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)
    for op_type, op, key in planned:
        names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
        if op_type == "Put":
            self.put_item(
                op["TableName"], op["Item"], expression_attribute_names=names, expression_attribute_values=values
            )
        elif op_type == "Delete":
            self.delete_item(op["TableName"], key, expression_attribute_names=names, expression_attribute_values=values)
        elif op_type == "Update":
            self.update_item(
                op["TableName"],
                key,
                update_expression=op["UpdateExpression"],
                expression_attribute_names=names,
                expression_attribute_values=values,
            )
