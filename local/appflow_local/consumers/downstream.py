"""The resources `snapshot` and `replay-events` act on, read from a resolved stack (operations' Target)."""

from __future__ import annotations

from dataclasses import dataclass

from appflow_local.operations.errors import OperationFailed
from appflow_local.operations.target import Target

BUS = "DownstreamBus"
ARCHIVE = "DownstreamArchive"
ENTITY_TABLE = "EntityTable"
DERIVED_TABLE = "DerivedTable"
DEFAULT_EVENT_SOURCE = "appflow-ingest"


@dataclass(frozen=True)
class DownstreamResources:
    """Physical names of what serves the consumers: the bus, its archive, the tables behind the events."""

    bus_name: str
    archive_name: str | None
    entity_table: str
    derived_table: str | None
    event_source: str

    def require_archive(self) -> str:
        if not self.archive_name:
            raise OperationFailed(f"the stack has no {ARCHIVE}: deploy the current template.yaml first")
        return self.archive_name

    def require_derived_table(self) -> str:
        if not self.derived_table:
            raise OperationFailed(f"the stack has no {DERIVED_TABLE}: it keeps no wallet passes")
        return self.derived_table


def downstream_resources(target: Target) -> DownstreamResources:
    """The bus, archive and tables of the stack, and the event source its publisher writes."""
    if not (target.has(BUS) and target.has(ENTITY_TABLE)):
        raise OperationFailed(
            f"stack {target.stack_name} has no {BUS} or {ENTITY_TABLE}: is it an appflow-ingest stack?"
        )
    return DownstreamResources(
        bus_name=target.physical(BUS),
        archive_name=target.physical(ARCHIVE) if target.has(ARCHIVE) else None,
        entity_table=target.physical(ENTITY_TABLE),
        derived_table=target.physical(DERIVED_TABLE) if target.has(DERIVED_TABLE) else None,
        event_source=target.parameters.get("EventSourceName") or DEFAULT_EVENT_SOURCE,
    )
