"""Replaying sample events locally: seed the objects they refer to, put envelopes on their bus.

``events/`` holds a sample event for every function and trigger; some name objects (a landed
file, an oversized change event) that must exist for the handler to find them. The manifest in
``events/data/manifest.json`` says which file goes to which of the stack's buckets, under which
key, so ``local seed`` makes the emulator match the samples.

``local send`` puts an EventBridge event on the bus it would arrive on (a partner bus for a
partner event source, the default bus for ``aws.*`` sources), so the template's rules match it
as they would on AWS, and the pipeline is driven from there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from appflow_local.clients import Emulator
from appflow_local.stack.description import StackDescription
from appflow_local.stack.template import Template, TemplateError

MANIFEST = "data/manifest.json"


class NotAnEnvelope(ValueError):
    """The event is not an EventBridge envelope (source, detail-type, detail) that can go on a bus."""


def default_events_dir(template: Template) -> Path:
    return Path(template.path).resolve().parent / "events"


def seed_sample_objects(emulator: Emulator, stack: StackDescription, events_dir: Path) -> list[str]:
    """Put every object of the samples' manifest in its bucket; return their s3:// URIs."""
    manifest = json.loads((events_dir / MANIFEST).read_text())
    uris = []
    for entry in manifest["objects"]:
        bucket = str(stack.attribute(entry["bucket"]))
        body = (events_dir / "data" / entry["file"]).read_bytes()
        emulator.s3.put_object(Bucket=bucket, Key=entry["key"], Body=body)
        uris.append(f"s3://{bucket}/{entry['key']}")
    return uris


def bus_for_source(stack: StackDescription, template: Template, source: str) -> str:
    """The bus an event from ``source`` arrives on: the partner bus of its event source, else default."""
    if not source.startswith("aws.partner/"):
        return "default"
    resolver = stack.resolver(template)
    for logical_id, props in template.resources_of_type("AWS::Events::EventBus"):
        if logical_id in stack.resources and resolver.resolve(props.get("EventSourceName")) == source:
            return str(stack.attribute(logical_id))
    raise TemplateError(
        f"no partner event bus for {source} in this stack: provision it with "
        f"--parameter-overrides SalesforceEventSourceName={source}"
    )


def put_envelope(emulator: Emulator, stack: StackDescription, template: Template, event: Mapping[str, Any]) -> str:
    """Put an EventBridge envelope (as in events/) on its bus; return the bus name."""
    if not isinstance(event, Mapping):
        raise NotAnEnvelope("not an EventBridge event (a JSON object with source, detail-type, detail)")
    missing = [k for k in ("source", "detail-type", "detail") if k not in event]
    if missing:
        raise NotAnEnvelope(
            f"not an EventBridge event (no {', '.join(missing)}): send it with `local invoke FUNCTION --event ...`"
        )
    bus = bus_for_source(stack, template, str(event["source"]))
    entry: dict[str, Any] = {
        "Source": event["source"],
        "DetailType": event["detail-type"],
        "Detail": json.dumps(event["detail"]),
        "Resources": list(event.get("resources") or []),
        "EventBusName": bus,
    }
    if event.get("time"):
        try:
            entry["Time"] = datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00"))
        except ValueError:
            raise NotAnEnvelope(f"its time {event['time']!r} is not an ISO-8601 time") from None
    response = emulator.events.put_events(Entries=[entry])
    if response.get("FailedEntryCount"):
        raise RuntimeError(f"the emulator refused the event: {response['Entries']}")
    return bus
