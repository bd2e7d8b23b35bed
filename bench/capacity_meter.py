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
        self.reset()
        client.meta.events.register("before-call.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb", self._after)
        self.enabled = True

    def reset(self) -> None:
        self.calls: Counter[str] = Counter()
        self.write_units = 0
        self.read_units = 0.0

    def seed(self, sizes: dict[str, int]) -> None:
        self.sizes.update(sizes)

    # ------------------------------------------------------------------ hooks
    def _before(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if not self.enabled:
            return
        body = params.get("body")
        context["capacity_meter"] = (model.name, orjson.loads(body) if body else {})

    def _after(self, http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        asked = context.pop("capacity_meter", None)
        if asked is None or not self.enabled:
            return
        operation, request = asked
        code = parsed.get("Error", {}).get("Code") if http_response.status_code >= 300 else None
        with self._lock:
            self.calls[operation] += 1
            if operation in {"PutItem", "UpdateItem"}:
                self._single_write(operation, request, code)
            elif operation == "BatchGetItem":
                self._batch_read(request, parsed)
            elif operation == "BatchExecuteStatement":
                self._statements(request, parsed)

    # ------------------------------------------------------------------ rules
    def _charge_write(self, key: str, new_size: int, applied: bool) -> None:
        before = self.sizes.get(key, 0)
        self.write_units += write_units(max(before, new_size))
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

    def _batch_read(self, request: dict[str, Any], parsed: dict[str, Any]) -> None:
        unprocessed = parsed.get("UnprocessedKeys") or {}
        for table, asked in request["RequestItems"].items():
            left = {orjson.dumps(k) for k in unprocessed.get(table, {}).get("Keys", [])}
            consistent = bool(asked.get("ConsistentRead"))
            for key in asked["Keys"]:
                if orjson.dumps(key) in left:
                    continue
                self.read_units += read_units(self.sizes.get(key[self._key]["S"], 0), consistent=consistent)

    def _statements(self, request: dict[str, Any], parsed: dict[str, Any]) -> None:
        for statement, answer in zip(request["Statements"], parsed.get("Responses", []), strict=False):
            text, parameters = statement["Statement"], statement.get("Parameters", [])
            code = answer.get("Error", {}).get("Code")
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
