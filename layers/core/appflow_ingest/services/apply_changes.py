"""Apply Salesforce change events (AppFlow event-triggered flows) to the entity table, newest wins.

Each record id of an event is merged into its stored record with a guarded write (read, merge,
write only if the stored version is still the one read, else read again), so a concurrent file
chunk or change event is never overwritten blindly. The write lands in the entity table like a
file record's, so the table's stream publishes it exactly like one: one event per real change.

GAP events (and changes that cannot be applied in full) mark the records for a resync and
publish ``Resync Required``; nothing is guessed. An event too large for EventBridge arrives as a
pointer to S3 and is read from there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from appflow_ingest.domain.bus_events.resync_required import resync_required_event
from appflow_ingest.domain.records.quarantine_entries import rejected_event
from appflow_ingest.domain.records.versions import ObjectConfig, RecordRejected
from appflow_ingest.domain.salesforce.change_events import (
    CREATE,
    DELETE,
    ChangeEventRejected,
    SalesforceChange,
    parse_change_event,
    s3_pointer,
    unwrap_pointed_event,
)
from appflow_ingest.domain.salesforce.merge import merge_change
from appflow_ingest.observability import correlate, emit_counts, logger, metrics
from appflow_ingest.ports.bus import EventPublisher
from appflow_ingest.ports.entities import EntityMerger, ResyncMarks
from appflow_ingest.ports.quarantine import Quarantine
from appflow_ingest.ports.rules import ChangeRules

MAX_ATTEMPTS = 25
WHOLE_OBJECT = "*"


def _diff_reason(change: SalesforceChange) -> str | None:
    """The resync a change needs whatever was stored before it (fields sent as diffs)."""
    if change.diff_fields:
        return f"fields sent as diffs cannot be applied: {', '.join(change.diff_fields)}"
    return None


class ConcurrentUpdates(RuntimeError):
    """The record kept changing between read and write; the invocation fails and is retried."""


@dataclass
class ChangeReport:
    """What became of one change event: its records written, stale, marked for resync or quarantined."""

    event_id: str
    object: str | None = None
    change_type: str | None = None
    records: int = 0
    written: int = 0
    stale: int = 0
    resync: int = 0
    conflicts: int = 0  # guarded writes that lost to a concurrent writer and were redone
    from_pointer: str | None = None
    quarantined: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The report as a JSON-ready dict (the handler's response, the log line)."""
        return asdict(self)


class ChangeApplier:
    """Applies Salesforce change events to the entity table, newest wins, through guarded read-merge-writes."""

    def __init__(
        self,
        merger: EntityMerger,
        marks: ResyncMarks,
        publisher: EventPublisher,
        rejected: Quarantine,
        read_json: Callable[[str, str], Any],
        *,
        event_source: str,
        objects_by_flow: Mapping[str, ObjectConfig] | None = None,
        rules: ChangeRules | None = None,
        max_version_skew_ms: int | None = 86_400_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._merger = merger
        self._marks = marks
        self._publisher = publisher
        self._rejected = rejected
        self._read_json = read_json
        self._event_source = event_source
        # A change event names its object, not its flow: the version field is the object's.
        self._version_fields = {c.object: c.version_field for c in (objects_by_flow or {}).values()}
        # The same rules as the file path, applied to the delivered fields only: the stored record
        # they are merged into was ruled when it was written.
        self._rules = rules
        self._max_version_skew_ms = max_version_skew_ms
        self._clock = clock

    def apply(self, event: Mapping[str, Any]) -> ChangeReport:
        """Apply one change event (or the event its S3 pointer names); one that cannot be applied is quarantined."""
        event_id = str(event.get("id") or "")
        report = ChangeReport(event_id=event_id)
        correlate(event_id=event_id)
        # Every event, whatever becomes of it, at service level (the per-object counts follow in _emit).
        metrics.add_metric(name="ChangeEventsReceived", unit=MetricUnit.Count, value=1)
        detail = event.get("detail")
        if not isinstance(detail, Mapping):
            return self._reject(event, report, "detail", f"event {event_id}: field 'detail': expected an object")
        if pointer := s3_pointer(detail):
            report.from_pointer = f"s3://{pointer[0]}/{pointer[1]}"
            detail = unwrap_pointed_event(self._read_json(*pointer))
        try:
            change = self._parse(detail, event_id, str(event.get("detail-type") or ""))
        except ChangeEventRejected as error:
            if self._rules is not None and self._rules.masks(_object_of(event), error.field):
                error = error.without_value()  # a version field the rules mask (clock sanity, its form)
            return self._reject(event, report, error.field, str(error))
        report.object, report.change_type = change.object, change.change_type
        correlate(object=change.object)
        record_ids = change.record_ids or (WHOLE_OBJECT,)
        report.records = len(record_ids)
        resync: list[tuple[str, str]] = []
        if change.is_gap:
            resync = [
                (record_id, f"{change.change_type}: the change's values were not delivered") for record_id in record_ids
            ]
        else:
            try:
                change = self._ruled(change)
            except RecordRejected as error:
                return self._reject(
                    event, report, error.field or "", f"change event {event_id}: {change.object}: {error}"
                )
            for record_id in record_ids:
                try:
                    reason = self._apply_one(change, record_id, report)
                except RecordRejected as error:  # DynamoDB refused the item for its own sake
                    return self._reject(
                        event,
                        report,
                        error.field or "",
                        f"change event {event_id}: {change.object} {record_id}: {error}",
                    )
                if reason:
                    resync.append((record_id, reason))
        self._request_resync(change, resync)
        report.resync = len(resync)
        self._emit(report)
        return report

    def _ruled(self, change: SalesforceChange) -> SalesforceChange:
        if self._rules is None:
            return change
        values, nulled = self._rules.apply_to_change(
            change.object,
            change.values,
            change.nulled_fields,
            whole=change.change_type == CREATE,
            deleted=change.change_type == DELETE,
        )
        return replace(change, values=values, nulled_fields=nulled)

    def _parse(self, detail: Mapping[str, Any], event_id: str, channel: str) -> SalesforceChange:
        header = detail.get("ChangeEventHeader")
        entity = header.get("entityName") if isinstance(header, Mapping) else None
        version_field = self._version_fields.get(str(entity), "LastModifiedDate")
        not_after = (
            int(self._clock() * 1000) + self._max_version_skew_ms if self._max_version_skew_ms is not None else None
        )
        return parse_change_event(
            detail, event_id=event_id, channel=channel, version_field=version_field, not_after=not_after
        )

    def _apply_one(self, change: SalesforceChange, record_id: str, report: ChangeReport) -> str | None:
        """Merge and write one record, redoing the merge when another writer got there first."""
        for _attempt in range(MAX_ATTEMPTS):
            stored = self._merger.read(change.object, record_id)
            merged = merge_change(stored, change, record_id)
            if merged is None:
                if stored is not None and stored.version == change.version and stored.source == change.source:
                    # This event's own earlier write (a retry after a crash): written, as the first time.
                    report.written += 1
                    return _diff_reason(change)
                report.stale += 1
                return None
            read_version = stored.version if stored is not None else None
            if self._merger.write_if_unchanged(merged.version, change.source, read_version):
                report.written += 1
                return merged.resync_reason
            report.conflicts += 1
        raise ConcurrentUpdates(
            f"change event {change.event_id}: {change.object} {record_id} changed under {MAX_ATTEMPTS} "
            "consecutive merges; retrying the event"
        )

    def _request_resync(self, change: SalesforceChange, records: list[tuple[str, str]]) -> None:
        """Mark first, then publish: a failure in between is retried and both steps are idempotent."""
        events = []
        for record_id, reason in records:
            self._marks.mark(
                change.object,
                record_id,
                reason=reason,
                change_type=change.change_type,
                commit_timestamp=change.commit_timestamp,
                event_id=change.event_id,
            )
            events.append(
                resync_required_event(
                    change.object,
                    None if record_id == WHOLE_OBJECT else record_id,
                    reason=reason,
                    change_type=change.change_type,
                    commit_timestamp=change.commit_timestamp,
                    source=change.source,
                )
            )
        if events:
            self._publisher.publish(events, self._event_source)
            logger.warning(
                "records need a resync",
                extra={"object": change.object, "count": len(events), "change_type": change.change_type},
            )

    def _reject(self, event: Mapping[str, Any], report: ChangeReport, field: str, reason: str) -> ChangeReport:
        """An event that cannot be applied goes to quarantine with the reason; the invocation succeeds."""
        name = f"{event.get('detail-type') or 'unknown'}/{report.event_id or 'no-id'}"
        masking = dict if self._rules is None else self._rules.masking_for(_object_of(event))
        report.quarantined = self._rejected.put_event(name, rejected_event(event, field, reason, masking))
        emit_counts({"ChangeEventsQuarantined": 1}, object=report.object)  # per object: its alarm groups by it
        logger.warning("change event quarantined", extra={"reason": reason, "location": report.quarantined})
        return report

    @staticmethod
    def _emit(report: ChangeReport) -> None:
        emit_counts(
            {
                "ChangeEventsApplied": 1,
                "ChangeRecordsWritten": report.written,
                "ChangeRecordsStale": report.stale,
                "RecordsNeedingResync": report.resync,
                "ChangeWriteConflicts": report.conflicts,
            },
            object=report.object,
        )
        logger.info("change event applied", extra=report.as_dict())


def _object_of(event: Mapping[str, Any]) -> str | None:
    """The Salesforce object a change event names (its header's entityName), if it names one."""
    detail = event.get("detail")
    header = detail.get("ChangeEventHeader") if isinstance(detail, Mapping) else None
    entity = header.get("entityName") if isinstance(header, Mapping) else None
    return entity if isinstance(entity, str) and entity else None
