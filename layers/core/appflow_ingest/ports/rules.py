"""Ports of the business rules: per object, applied to file records and to change events; the masking key."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from appflow_ingest.domain.records.quarantine_entries import Masking
from appflow_ingest.domain.records.versions import RecordVersion


class RecordRules(Protocol):
    """Business rules per object: coerce, derive, validate; raise RecordRejected to quarantine."""

    def apply(self, version: RecordVersion) -> RecordVersion:
        """The version as stored: coerced, derived and masked (raises RecordRejected)."""
        ...

    def masking_for(self, object_name: str | None) -> Masking | None:
        """How quarantine shows a rejected record of the object (None: it cannot be masked)."""
        ...

    def masks(self, object_name: str | None, field: str | None) -> bool:
        """Whether the object's rule set masks the field (its value never goes into a reason)."""
        ...


class ChangeRules(Protocol):
    """The per-object rules, applied to the fields a change event delivers (domain/rules)."""

    def apply_to_change(
        self, object_name: str, values: Mapping[str, Any], nulled: Iterable[str], *, whole: bool, deleted: bool
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        """The delivered values and nulled fields as stored (raises RecordRejected)."""
        ...

    def masking_for(self, object_name: str | None) -> Masking | None:
        """How quarantine shows a rejected event's fields (None: they cannot be masked)."""
        ...

    def masks(self, object_name: str | None, field: str | None) -> bool:
        """Whether the object's rule set masks the field (its value never goes into a reason)."""
        ...


class MaskingKey(Protocol):
    """The HMAC key of the "hash" masks, as it is now (rotations included)."""

    def current(self) -> bytes:
        """The key in force."""
        ...
