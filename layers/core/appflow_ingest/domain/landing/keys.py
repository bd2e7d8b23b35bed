"""AppFlow's S3 key layout, read from the right.

``<prefix>/<flow-name>/[schemaVersion_<N>/][<yyyy>/<mm>/<dd>[/<HH>[/<MM>]]/]<execution-id>/[<field>=<value>/...]<file>``
(docs/appflow.md §1). The bucket prefix may itself contain slashes, so without more knowledge the
layout is parsed from the file name backwards; partition values may contain spaces or the literal
``null``. When the configured flow names are known and one of them is in the key, the key is read
forwards from it instead, which also copes with a flow that writes no execution-id folder.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

_SCHEMA_VERSION = re.compile(r"^schemaVersion_(\d+)$")
_DATE_PART = re.compile(r"^\d{2}(\d{2})?$")  # yyyy, mm, dd, HH, MM


@dataclass(frozen=True)
class LandingKey:
    """Where a file sits in AppFlow's layout; every part is optional for keys laid out by hand."""

    prefix: str = ""
    flow_name: str | None = None
    schema_version: int | None = None
    date_path: str | None = None  # "2024/04/16[/19[/05]]", UTC
    execution_id: str | None = None
    partitions: dict[str, str | None] = field(default_factory=dict)
    file_name: str = ""


def decode_notification_key(key: str) -> str:
    """Classic S3 notifications URL-encode keys (spaces as ``+``); EventBridge ones do not."""
    return unquote_plus(key)


def is_data_object_key(key: str) -> bool:
    """Folder markers are not data files."""
    return bool(key) and not key.endswith("/")


def parse_landing_key(key: str, known_flows: Collection[str] = ()) -> LandingKey:
    """Where a key sits in AppFlow's layout (flow, schema version, date path, execution id, partitions)."""
    parts = key.split("/")
    file_name = parts.pop()
    anchor = next((i for i, folder in enumerate(parts) if folder in known_flows), None)
    if anchor is not None:
        return _parse_forwards(parts, anchor, file_name)
    partitions: dict[str, str | None] = {}
    while parts and "=" in parts[-1]:
        name, value = _partition(parts.pop())
        partitions[name] = value
    partitions = dict(reversed(list(partitions.items())))
    execution_id = parts.pop() if parts else None
    date_parts: list[str] = []
    while parts and len(date_parts) < 5 and _DATE_PART.match(parts[-1]):
        date_parts.insert(0, parts.pop())
    if date_parts and len(date_parts[0]) != 4:
        # Not a yyyy-first date path after all: put the numeric folders back.
        parts.extend(date_parts)
        date_parts = []
    schema_version = None
    if parts and (match := _SCHEMA_VERSION.match(parts[-1])):
        schema_version = int(match.group(1))
        parts.pop()
    flow_name = parts.pop() if parts else None
    return LandingKey(
        prefix="/".join(parts),
        flow_name=flow_name,
        schema_version=schema_version,
        date_path="/".join(date_parts) or None,
        execution_id=execution_id,
        partitions=partitions,
        file_name=file_name,
    )


def _parse_forwards(parts: list[str], flow_at: int, file_name: str) -> LandingKey:
    rest = parts[flow_at + 1 :]
    schema_version = None
    if rest and (match := _SCHEMA_VERSION.match(rest[0])):
        schema_version = int(match.group(1))
        rest.pop(0)
    date_parts: list[str] = []
    if rest and len(rest[0]) == 4 and rest[0].isdigit():
        date_parts.append(rest.pop(0))
        while rest and len(date_parts) < 5 and len(rest[0]) == 2 and rest[0].isdigit():
            date_parts.append(rest.pop(0))
    folders = [part for part in rest if "=" not in part]
    partitions = dict(_partition(part) for part in rest if "=" in part)
    return LandingKey(
        prefix="/".join(parts[:flow_at]),
        flow_name=parts[flow_at],
        schema_version=schema_version,
        date_path="/".join(date_parts) or None,
        execution_id=folders[-1] if folders else None,
        partitions=partitions,
        file_name=file_name,
    )


def _partition(folder: str) -> tuple[str, str | None]:
    name, _, value = folder.partition("=")
    return name, None if value == "null" else value


def is_run_metadata(landing: LandingKey) -> bool:
    """AppFlow may write an object named after the execution id next to the data files."""
    return bool(landing.execution_id) and landing.file_name == landing.execution_id
