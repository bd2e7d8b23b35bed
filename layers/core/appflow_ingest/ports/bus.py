"""Port of the event bus: events published downstream."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from appflow_ingest.domain.bus_events.envelope import BusEvent


class PublishError(Exception):
    """EventBridge kept rejecting events; everything from ``first_unpublished`` on must be retried."""

    def __init__(self, first_unpublished: int, reasons: list[str]) -> None:
        self.first_unpublished = first_unpublished
        super().__init__(
            f"events from position {first_unpublished} not accepted by EventBridge: {sorted(set(reasons))[:5]}"
        )


class EventPublisher(Protocol):
    """The downstream bus."""

    def publish(self, events: Sequence[BusEvent], source: str) -> None:
        """Publish the events in order; raises ``PublishError`` naming the first one not published."""
        ...
