"""What DynamoDB would bill for the requests a client sends, from the items' sizes and DynamoDB's rules.

moto does not bill, and its ``ConsumedCapacity`` is not size-based, so the benchmark meters the
requests itself with botocore event hooks (before-call: what was asked; after-call: what came
of it), applying DynamoDB's published rules (Developer Guide, "DynamoDB item sizes and formats"
and "DynamoDB read and write operations"):

- item size: attribute names (UTF-8) plus values: strings in UTF-8, binary in raw bytes, numbers
  ~1 byte per 2 significant digits + 1, booleans and nulls 1, lists and maps 3 + 1 per element;
- a standard write costs 1 unit per started KB of the larger of the item before and after it, and
  a write whose condition fails still costs that (the existing item, or the new one if larger);
- a read costs 1 unit per started 4 KB of the whole item (a projection does not lower it), half
  that eventually consistent, and the same for a key that holds no item.

The meter keeps the size of every item it has seen written (a shadow of the table), so it knows
"the item before" without reading it. Counts are per call to ``reset()``; the shadow is kept.

The hooks only keep what was sent (the request body as bytes) and the answer's error codes; the
rules run in ``settle()`` (called by every figure), so a caller that times the client's CPU
settles after the timed section and the meter's own parsing is not billed to the writer.
"""

from __future__ import annotations

import base64
import math
import re
import threading
from collections import Counter
from typing import Any

import orjson

_INSERT_NAMES = re.compile(r"'((?:[^']|'')*)'\s*:\s*\?")
_UPDATE_SETS = re.compile(r'SET\s+"((?:[^"]|"")*)"\s*=\s*\?')


def value_size(value: dict[str, Any]) -> int:
    ((kind, content),) = value.items()
    if kind == "S":
        return len(content.encode())
    if kind == "B":
        return len(base64.b64decode(content)) if isinstance(content, str) else len(content)
    if kind == "N":
        digits = content.lstrip("-").replace(".", "").strip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind in {"BOOL", "NULL"}:
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + 1 + value_size(v) for k, v in content.items())
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in content)
    return len(orjson.dumps(content))  # sets: not used by this project


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def read_units(size: int, *, consistent: bool) -> float:
    units = max(1, math.ceil(size / 4096))
    return units if consistent else units / 2


class CapacityMeter:
    """Counts requests, write units and read units of one DynamoDB client's calls."""

    def __init__(self, client: Any, key: str = "pk") -> None:
        self._key = key
        self._lock = threading.Lock()
        self.sizes: dict[str, int] = {}  # pk -> size of the stored item, as far as this meter saw
        self._pending: list[tuple[str, bytes, str | None, Any]] = []  # sent and answered, not yet billed
        self.reset()
        client.meta.events.register("before-call.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb", self._after)
        self.enabled = True

    def reset(self) -> None:
        self.settle()  # what was sent before the reset still shapes the shadow of the table
        self._calls: Counter[str] = Counter()
        self._write_units = 0
        self._read_units = 0.0

    def seed(self, sizes: dict[str, int]) -> None:
        self.settle()
        self.sizes.update(sizes)

    @property
    def calls(self) -> Counter[str]:
        """Requests per operation since the last reset."""
        self.settle()
        return self._calls

    @property
    def write_units(self) -> int:
        """Write units DynamoDB would bill for the requests since the last reset."""
        self.settle()
        return self._write_units

    @property
    def read_units(self) -> float:
        """Read units DynamoDB would bill for the requests since the last reset."""
        self.settle()
        return self._read_units

    def settle(self) -> None:
        """Apply the billing rules to the requests recorded so far, in the order they were answered."""
        with self._lock:
            pending, self._pending = self._pending, []
            for operation, body, code, answer in pending:
                request = orjson.loads(body) if body else {}
                self._calls[operation] += 1
                if operation in {"PutItem", "UpdateItem"}:
                    self._single_write(operation, request, code)
                elif operation == "BatchGetItem":
                    self._batch_read(request, answer)
                elif operation == "BatchExecuteStatement":
                    self._statements(request, answer)

    # ------------------------------------------------------------------ hooks
    def _before(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if not self.enabled:
            return
        context["capacity_meter"] = (model.name, params.get("body"))  # bytes: parsed in settle()

    def _after(self, http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        asked = context.pop("capacity_meter", None)
        if asked is None or not self.enabled:
            return
        operation, body = asked
        code = parsed.get("Error", {}).get("Code") if http_response.status_code >= 300 else None
        # Only what the rules need from the answer, so the parsed response is not kept alive.
        answer: Any = None
        if operation == "BatchGetItem":
            answer = parsed.get("UnprocessedKeys") or {}
        elif operation == "BatchExecuteStatement":
            answer = [response.get("Error", {}).get("Code") for response in parsed.get("Responses", [])]
        with self._lock:
            self._pending.append((operation, body if isinstance(body, bytes) else (body or "").encode(), code, answer))

    # ------------------------------------------------------------------ rules
    def _charge_write(self, key: str, new_size: int, applied: bool) -> None:
        before = self.sizes.get(key, 0)
        self._write_units += write_units(max(before, new_size))
        if applied:
            self.sizes[key] = new_size

    def _single_write(self, operation: str, request: dict[str, Any], code: str | None) -> None:
        if code not in {None, "ConditionalCheckFailedException"}:
            return  # refused (validation, throttling): no write happened
        if operation == "PutItem":
            item = request["Item"]
        else:  # the naive UpdateItem sets every attribute of the item
            names, values = request.get("ExpressionAttributeNames", {}), request.get("ExpressionAttributeValues", {})
            item = dict(request["Key"])
            for placeholder, name in names.items():
                value = values.get(":" + placeholder.lstrip("#"))
                if value is not None:
                    item[name] = value
        key = (request.get("Key") or item)[self._key]["S"]
        self._charge_write(key, item_size(item), applied=code is None)

    def _batch_read(self, request: dict[str, Any], unprocessed: dict[str, Any]) -> None:
        for table, asked in request["RequestItems"].items():
            left = {orjson.dumps(k) for k in unprocessed.get(table, {}).get("Keys", [])}
            consistent = bool(asked.get("ConsistentRead"))
            for key in asked["Keys"]:
                if orjson.dumps(key) in left:
                    continue
                self._read_units += read_units(self.sizes.get(key[self._key]["S"], 0), consistent=consistent)

    def _statements(self, request: dict[str, Any], codes: list[str | None]) -> None:
        for statement, code in zip(request["Statements"], codes, strict=False):
            text, parameters = statement["Statement"], statement.get("Parameters", [])
            if code not in {None, "ConditionalCheckFailed", "DuplicateItem"}:
                continue
            if text.lstrip().upper().startswith("INSERT"):
                names = [name.replace("''", "'") for name in _INSERT_NAMES.findall(text)]
                item = dict(zip(names, parameters, strict=False))
            elif text.lstrip().upper().startswith("UPDATE"):
                names = [name.replace('""', '"') for name in _UPDATE_SETS.findall(text)]
                item = dict(zip(names, parameters, strict=False))
                item[self._key] = parameters[len(names)]  # WHERE "pk" = ? follows the SET values
            else:
                continue
            self._charge_write(item[self._key]["S"], item_size(item), applied=code is None)
