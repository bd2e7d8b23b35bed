"""PartiQL ``BatchExecuteStatement`` for moto's DynamoDB, as DynamoDB documents it, without table scans.

moto (5.x) runs every PartiQL statement by copying every item of every table into a document
store and scanning it (``DynamoDBBackend.execute_statement``), so a batch of 25 statements
costs 25 copies of the whole account, and it answered with a 500 when measured. This executes
the statements the write path uses, one item each, through the backend's own ``get_item``,
``put_item``, ``update_item`` and ``delete_item`` (their validation, conditions and stream
records), with DynamoDB's documented batch semantics:

- at most 25 statements, all reads or all writes, else the whole request is refused
  (``ValidationException``);
- every statement succeeds or fails on its own: its error goes in its own response entry
  (``Error.Code``: ``ConditionalCheckFailed``, ``DuplicateItem``, ``ValidationError``,
  ``ResourceNotFound``) and the statements around it are still applied (no atomicity);
- ``INSERT`` fails with ``DuplicateItem`` when the key exists;
- ``UPDATE`` and ``DELETE`` fail with ``ConditionalCheckFailed`` when the item does not exist or
  their ``WHERE`` condition beyond the key is false (with the stored item when the statement asks
  ``ReturnValuesOnConditionCheckFailure=ALL_OLD``);
- ``WHERE`` must name every key attribute by equality.

Supported forms (the rest goes to moto's own implementation, statement by statement):
``INSERT INTO t VALUE {...}``; ``UPDATE t SET a = v [SET ...] [REMOVE a] WHERE ...``;
``DELETE FROM t WHERE ...``; ``SELECT * | a, b FROM t WHERE <key equality>``. Values are ``?``
parameters or literals (strings, numbers, booleans, null, maps, lists); conditions use
comparisons, ``AND``/``OR``/``NOT``, parentheses, ``IS [NOT] MISSING`` and the condition
functions (``begins_with``, ``contains``, ``attribute_type``, ``size``). Hand-written because
moto's parser (py-partiql-parser) is the scanning one. Local mode and tests only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

MAX_STATEMENTS = 25  # DynamoDB's limit per BatchExecuteStatement

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<ident>"(?:[^"]|"")*")          # "quoted identifier"
      | (?P<string>'(?:[^']|'')*')         # 'string literal'
      | (?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
      | (?P<param>\?)
      | (?P<op><>|<=|>=|!=|=|<|>)
      | (?P<punct>[{}\[\](),:.*])
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.X,
)
_CONDITION_FUNCTIONS = {"begins_with", "contains", "attribute_type", "size", "attribute_exists", "attribute_not_exists"}


class Unsupported(Exception):
    """A statement outside the subset handled here: moto's own implementation runs it."""


class StatementError(Exception):
    """One statement's error, reported in its own response entry."""

    def __init__(self, code: str, message: str, item: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.item = code, message, item


@dataclass
class _Tokens:
    items: list[tuple[str, str]]
    at: int = 0

    @classmethod
    def of(cls, text: str) -> _Tokens:
        tokens, position = [], 0
        text = text.strip().rstrip(";")
        while position < len(text):
            match = _TOKEN.match(text, position)
            if not match or match.end() == position:
                raise StatementError("ValidationError", f"Statement wasn't well formed, can't be processed: {text!r}")
            kind = match.lastgroup or ""
            tokens.append((kind, match.group(kind)))
            position = match.end()
        return cls(tokens)

    def peek(self, offset: int = 0) -> tuple[str, str]:
        index = self.at + offset
        return self.items[index] if index < len(self.items) else ("end", "")

    def next(self) -> tuple[str, str]:
        token = self.peek()
        self.at += 1
        return token

    def keyword(self, *words: str) -> bool:
        kind, text = self.peek()
        if kind == "word" and text.upper() in words:
            self.at += 1
            return True
        return False

    def expect(self, text: str) -> None:
        kind, got = self.next()
        if got.upper() != text.upper():
            raise StatementError("ValidationError", f"Statement wasn't well formed: expected {text!r}, got {got!r}")

    def done(self) -> bool:
        return self.at >= len(self.items)


@dataclass
class _Values:
    """Turns PartiQL operands into condition-expression placeholders (``#n0``, ``:v0``)."""

    parameters: list[dict[str, Any]]
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    used_parameters: int = 0

    def name(self, attribute: str) -> str:
        for placeholder, known in self.names.items():
            if known == attribute:
                return placeholder
        placeholder = f"#n{len(self.names)}"
        self.names[placeholder] = attribute
        return placeholder

    def value(self, attribute_value: dict[str, Any]) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = attribute_value
        return placeholder

    def parameter(self) -> dict[str, Any]:
        if self.used_parameters >= len(self.parameters):
            raise StatementError("ValidationError", "Number of parameters in request and statement don't match.")
        self.used_parameters += 1
        return self.parameters[self.used_parameters - 1]


def _identifier(tokens: _Tokens) -> str:
    kind, text = tokens.next()
    if kind == "ident":
        return text[1:-1].replace('""', '"')
    if kind == "word":
        return text
    raise StatementError("ValidationError", f"Statement wasn't well formed: expected a name, got {text!r}")


def _path(tokens: _Tokens) -> str:
    """A top-level attribute name; a document path (a.b, a[0]) is left to moto."""
    name = _identifier(tokens)
    if tokens.peek()[1] in {".", "["}:
        raise Unsupported("document paths")
    return name


def _literal(tokens: _Tokens, values: _Values) -> dict[str, Any]:
    kind, text = tokens.next()
    if kind == "param":
        return values.parameter()
    if kind == "string":
        return {"S": text[1:-1].replace("''", "'")}
    if kind == "number":
        return {"N": str(Decimal(text))}
    if kind == "word" and text.upper() in {"TRUE", "FALSE"}:
        return {"BOOL": text.upper() == "TRUE"}
    if kind == "word" and text.upper() == "NULL":
        return {"NULL": True}
    if text == "{":
        document: dict[str, Any] = {}
        while tokens.peek()[1] != "}":
            key_kind, key = tokens.next()
            if key_kind not in {"string", "ident"}:
                raise StatementError("ValidationError", f"Statement wasn't well formed: a map key, got {key!r}")
            tokens.expect(":")
            document[key[1:-1]] = _literal(tokens, values)
            if tokens.peek()[1] == ",":
                tokens.next()
        tokens.expect("}")
        return {"M": document}
    if text == "[":
        elements = []
        while tokens.peek()[1] != "]":
            elements.append(_literal(tokens, values))
            if tokens.peek()[1] == ",":
                tokens.next()
        tokens.expect("]")
        return {"L": elements}
    raise Unsupported(f"value {text!r}")


def _condition(tokens: _Tokens, values: _Values, stop: set[str]) -> list[str]:
    """A WHERE condition as condition-expression text, one element per top-level AND conjunct."""
    conjuncts: list[list[str]] = [[]]
    depth = 0
    while not tokens.done() and not (depth == 0 and tokens.peek()[1].upper() in stop):
        kind, text = tokens.peek()
        upper = text.upper()
        if kind == "word" and upper == "AND" and depth == 0:
            tokens.next()
            conjuncts.append([])
            continue
        current = conjuncts[-1]
        if kind == "word" and upper in {"AND", "OR", "NOT"}:
            tokens.next()
            current.append(upper)
        elif kind == "word" and upper == "IS":
            tokens.next()
            negated = tokens.keyword("NOT")
            if not tokens.keyword("MISSING"):
                raise Unsupported("IS other than MISSING")
            operand = current.pop()
            current.append(f"{'attribute_exists' if negated else 'attribute_not_exists'}({operand})")
        elif kind == "word" and text.lower() in _CONDITION_FUNCTIONS and tokens.peek(1)[1] == "(":
            tokens.next()
            current.append(text.lower())
        elif text in {"(", ")", ","}:
            tokens.next()
            depth += {"(": 1, ")": -1}.get(text, 0)
            current.append(text)
        elif kind == "op":
            tokens.next()
            current.append("<>" if text == "!=" else text)
        elif kind in {"ident", "word"} and not (kind == "word" and upper in {"TRUE", "FALSE", "NULL"}):
            current.append(values.name(_path(tokens)))
        else:
            current.append(values.value(_literal(tokens, values)))
    return [" ".join(conjunct) for conjunct in conjuncts if conjunct]


@dataclass
class _Where:
    key: dict[str, dict[str, Any]]
    condition: str | None  # what remains beyond the key, as a condition expression


def _where(tokens: _Tokens, values: _Values, key_attributes: list[str]) -> _Where:
    if not tokens.keyword("WHERE"):
        raise StatementError(
            "ValidationError", "Where clause does not contain a mandatory equality on all key attributes"
        )
    conjuncts = _condition(tokens, values, stop={"RETURNING"})
    key: dict[str, dict[str, Any]] = {}
    rest = []
    for conjunct in conjuncts:
        match = re.fullmatch(r"(#n\d+) = (:v\d+)", conjunct)
        name = values.names.get(match.group(1)) if match else None
        if match and name in key_attributes and name not in key:
            key[name] = values.values[match.group(2)]
        else:
            rest.append(f"({conjunct})")
    if set(key) != set(key_attributes):
        raise StatementError(
            "ValidationError", "Where clause does not contain a mandatory equality on all key attributes"
        )
    return _Where(key, " AND ".join(rest) or None)


def _table(backend: Any, tokens: _Tokens) -> Any:
    name = _identifier(tokens)
    if tokens.peek()[1] == ".":
        raise Unsupported("index names")
    if name not in backend.tables:
        raise StatementError("ResourceNotFound", f"Requested resource not found: Table: {name} not found")
    return backend.tables[name]


def _key_attributes(table: Any) -> list[str]:
    return [name for name in (table.hash_key_attr, table.range_key_attr) if name]


def _is_write(statement: str) -> bool:
    return statement.lstrip().split(None, 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"}


def execute(backend: Any, statement: dict[str, Any]) -> dict[str, Any]:
    """Run one statement of a batch; its error (if any) is returned in the entry, never raised."""
    from moto.dynamodb.exceptions import ConditionalCheckFailed, DynamodbException

    values = _Values(list(statement.get("Parameters") or []))
    tokens = _Tokens.of(statement["Statement"])
    verb = tokens.next()[1].upper()
    all_old = statement.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
    table = None
    try:
        if verb == "INSERT":
            tokens.expect("INTO")
            table = _table(backend, tokens)
            tokens.expect("VALUE")
            document = _literal(tokens, values)
            if "M" not in document or not tokens.done():
                raise StatementError("ValidationError", "INSERT takes one item: VALUE {...}")
            item = document["M"]
            keys = _key_attributes(table)
            if any(name not in item for name in keys):
                raise StatementError("ValidationError", "One or more parameter values were invalid: Missing the key")
            condition = " AND ".join(f"attribute_not_exists(#k{i})" for i in range(len(keys)))
            try:
                backend.put_item(
                    table.name,
                    item,
                    condition_expression=condition,
                    expression_attribute_names={f"#k{i}": name for i, name in enumerate(keys)},
                )
            except ConditionalCheckFailed:
                raise StatementError("DuplicateItem", "Duplicate primary key exists in table") from None
            return {"TableName": table.name}
        if verb == "UPDATE":
            table = _table(backend, tokens)
            sets: list[str] = []
            removes: list[str] = []
            while clause := "SET" if tokens.keyword("SET") else "REMOVE" if tokens.keyword("REMOVE") else None:
                while True:  # SET a = 1, b = 2 as well as SET a = 1 SET b = 2
                    name = values.name(_path(tokens))
                    if clause == "SET":
                        tokens.expect("=")
                        sets.append(f"{name} = {values.value(_literal(tokens, values))}")
                    else:
                        removes.append(name)
                    if tokens.peek()[1] != ",":
                        break
                    tokens.next()
            if not sets and not removes:
                raise StatementError("ValidationError", "UPDATE needs at least one SET or REMOVE")
            where = _where(tokens, values, _key_attributes(table))
            if any(values.names[s.split(" ")[0]] in where.key for s in sets) or any(
                values.names[r] in where.key for r in removes
            ):
                raise StatementError("ValidationError", "Cannot update attribute: key attributes cannot be updated")
            _guard(backend, table, where, values, all_old)
            update = " ".join(
                part
                for part in (
                    "SET " + ", ".join(sets) if sets else "",
                    "REMOVE " + ", ".join(removes) if removes else "",
                )
                if part
            )
            backend.update_item(table.name, where.key, update, values.names, values.values)
            return {"TableName": table.name}
        if verb == "DELETE":
            tokens.expect("FROM")
            table = _table(backend, tokens)
            where = _where(tokens, values, _key_attributes(table))
            _guard(backend, table, where, values, all_old)
            backend.delete_item(table.name, where.key)
            return {"TableName": table.name}
        if verb == "SELECT":
            projection: list[str] | None = []
            if tokens.peek()[1] == "*":
                tokens.next()
                projection = None
            else:
                while True:
                    projection.append(_path(tokens))  # type: ignore[union-attr]
                    if tokens.peek()[1] != ",":
                        break
                    tokens.next()
            tokens.expect("FROM")
            table = _table(backend, tokens)
            where = _where(tokens, values, _key_attributes(table))
            if where.condition:
                raise Unsupported("SELECT with a filter beyond the key")
            found = backend.get_item(table.name, where.key)
            if found is None:
                return {"TableName": table.name}
            attributes = found.to_json()["Attributes"]
            if projection is not None:
                attributes = {name: value for name, value in attributes.items() if name in projection}
            return {"TableName": table.name, "Item": attributes}
        raise Unsupported(verb)
    except StatementError as error:
        entry = {"Error": {"Code": error.code, "Message": error.message}}
        if error.item is not None:
            entry["Error"]["Item"] = error.item
        if table is not None:
            entry["TableName"] = table.name
        return entry
    except DynamodbException as error:
        code = _error_code(type(error).__name__, getattr(error, "error_type", ""))
        entry = {"Error": {"Code": code, "Message": getattr(error, "message", str(error))}}
        if table is not None:
            entry["TableName"] = table.name
        return entry


def _guard(backend: Any, table: Any, where: _Where, values: _Values, all_old: bool) -> None:
    """UPDATE and DELETE act on an existing item whose condition holds, else ConditionalCheckFailed."""
    from moto.dynamodb.models import get_filter_expression

    current = backend.get_item(table.name, where.key)
    holds = current is not None
    if holds and where.condition:
        holds = get_filter_expression(where.condition, values.names, values.values).expr(current)
    if not holds:
        item = current.to_json()["Attributes"] if current is not None and all_old else None
        raise StatementError("ConditionalCheckFailed", "The conditional request failed", item)


def _error_code(class_name: str, error_type: str) -> str:
    kind = error_type.rsplit("#", 1)[-1] or class_name
    if "ConditionalCheckFailed" in kind:
        return "ConditionalCheckFailed"
    if "ResourceNotFound" in kind:
        return "ResourceNotFound"
    return "ValidationError"


def batch_execute_statement(backend: Any, statements: list[dict[str, Any]], fallback: Any) -> list[dict[str, Any]]:
    """BatchExecuteStatement: request-level checks, then each statement on its own (no atomicity)."""
    from moto.dynamodb.exceptions import MockValidationException

    if not statements or len(statements) > MAX_STATEMENTS:
        raise MockValidationException(
            f"1 validation error detected: Value at 'statements' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_STATEMENTS}"
        )
    kinds = {_is_write(statement["Statement"]) for statement in statements}
    if len(kinds) > 1:
        raise MockValidationException("The entire batch must consist of either read statements or write statements")
    responses = []
    for statement in statements:
        try:
            responses.append(execute(backend, statement))
        except Unsupported:
            responses.extend(fallback(backend, [statement]))
        except StatementError as error:  # a statement that does not even tokenize
            responses.append({"Error": {"Code": error.code, "Message": error.message}})
    return responses
