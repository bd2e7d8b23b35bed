"""The resources `snapshot` and `replay-events` act on, found in a local stack or a CloudFormation stack."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from appflow_local.stack import StackDescription

BUS = "DownstreamBus"
ARCHIVE = "DownstreamArchive"
ENTITY_TABLE = "EntityTable"
DERIVED_TABLE = "DerivedTable"
DEFAULT_EVENT_SOURCE = "appflow-ingest"


class StackResourceMissing(LookupError):
    """The stack has no resource the command needs (an older deployment, or another template)."""


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
            raise StackResourceMissing(f"the stack has no {ARCHIVE}: deploy the current template.yaml first")
        return self.archive_name


def from_local_stack(stack: StackDescription) -> DownstreamResources:
    """From the description `local provision` stored in the emulator."""

    def name(logical_id: str) -> str | None:
        attributes = stack.resources.get(logical_id)
        return str(attributes["Ref"]) if attributes else None

    return _resources(name, stack.parameters.get("EventSourceName") or DEFAULT_EVENT_SOURCE, stack.stack_name)


def from_cloudformation(cloudformation: Any, stack_name: str) -> DownstreamResources:
    """From a deployed stack: its resources' physical ids and its EventSourceName parameter."""
    physical: dict[str, str] = {}
    for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_name):
        for summary in page["StackResourceSummaries"]:
            physical[summary["LogicalResourceId"]] = summary.get("PhysicalResourceId", "")
    stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stacks[0].get("Parameters", [])}
    return _resources(physical.get, parameters.get("EventSourceName") or DEFAULT_EVENT_SOURCE, stack_name)


def _resources(name: Any, event_source: str, stack_name: str) -> DownstreamResources:
    bus, entity = name(BUS), name(ENTITY_TABLE)
    if not bus or not entity:
        raise StackResourceMissing(
            f"stack {stack_name!r} has no {BUS} or {ENTITY_TABLE}: is it an appflow-ingest stack?"
        )
    return DownstreamResources(
        bus_name=bus,
        archive_name=name(ARCHIVE) or None,
        entity_table=entity,
        derived_table=name(DERIVED_TABLE) or None,
        event_source=event_source,
    )
