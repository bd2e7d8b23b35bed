"""AppFlow's S3 key layout, read from the right.

``<prefix>/<flow-name>/[schemaVersion_<N>/][<yyyy>/<mm>/<dd>[/<HH>[/<MM>]]/]<execution-id>/[<field>=<value>/...]<file>``
(APPFLOW.md §1). The bucket prefix may itself contain slashes, so the layout is parsed from the
file name backwards; partition values may contain spaces or the literal ``null``.
"""

from __future__ import annotations

import re
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


def parse_landing_key(key: str) -> LandingKey:
    parts = key.split("/")
    file_name = parts.pop()
    partitions: dict[str, str | None] = {}
    while parts and "=" in parts[-1]:
        name, _, value = parts.pop().partition("=")
        partitions[name] = None if value == "null" else value
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


def is_run_metadata(landing: LandingKey) -> bool:
    """AppFlow may write an object named after the execution id next to the data files."""
    return bool(landing.execution_id) and landing.file_name == landing.execution_id
