"""Publishing change events to the downstream EventBridge bus."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from appflow_ingest.domain.bus_events.envelope import BusEvent
from appflow_ingest.ports.bus import PublishError

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

_PUT_EVENTS_MAX = 10


class EventBridgePublisher:
    """Puts events on the EventBridge bus, resending what it rejects, in order."""

    def __init__(
        self, events: EventBridgeClient, bus_name: str, *, attempts: int = 4, backoff_seconds: float = 0.2
    ) -> None:
        self._events = events
        self._bus_name = bus_name
        self._attempts = attempts
        self._backoff = backoff_seconds

    def publish(self, events: Sequence[BusEvent], source: str) -> None:
        """PutEvents in groups of 10, resending only the entries EventBridge reports as failed.

        Stops at the first group that keeps failing, so the caller can report the stream batch as
        failed from there and nothing after it is skipped.
        """
        for first in range(0, len(events), _PUT_EVENTS_MAX):
            pending = list(events[first : first + _PUT_EVENTS_MAX])
            reasons: list[str] = []
            for attempt in range(self._attempts):
                if attempt:
                    time.sleep(self._backoff * 2 ** (attempt - 1))
                response = self._events.put_events(Entries=[self._entry(e, source) for e in pending])
                if not response.get("FailedEntryCount"):
                    pending = []
                    break
                results = response["Entries"]
                reasons = [r.get("ErrorCode", "?") for r in results if r.get("ErrorCode")]
                pending = [event for event, result in zip(pending, results, strict=True) if result.get("ErrorCode")]
            if pending:
                raise PublishError(first, reasons)

    def _entry(self, event: BusEvent, source: str) -> PutEventsRequestEntryTypeDef:
        return {
            "EventBusName": self._bus_name,
            "Source": source,
            "DetailType": event.detail_type,
            "Detail": event.detail_json(),
        }
