"""The stack's EventBridge schema registry, generated from ``schemas/*.schema.json`` (the one source).

EventBridge registries hold OpenAPI 3 or JSON Schema *Draft 4* documents; the contract's files are
Draft 2020-12. Each file is rendered to Draft 4 by the few rewrites the files need (``const`` ->
one-value ``enum``, ``$defs`` -> ``definitions``, ``$id`` -> ``id``); a keyword this module does
not know stops the rendering, so a new keyword cannot slip into the registry with another meaning.

The rendered block sits in template.yaml between two marker lines; ``python -m
appflow_local.consumers.event_schemas --write`` (``make event-schemas``) rewrites it, and the tests fail when
the template and the files disagree. A schema's ``x-contract-version`` is in its content and its
description: each new contract version is a change of content, which EventBridge records as the
schema's next version.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

DRAFT4 = "http://json-schema.org/draft-04/schema#"
BEGIN_MARKER = "  # >>> event schema registry: generated from schemas/ by `make event-schemas`; do not edit by hand"
END_MARKER = "  # <<< event schema registry"
REGISTRY_LOGICAL_ID = "EventSchemaRegistry"
VERSION_KEY = "x-contract-version"

# Keywords whose value is one schema, a list of schemas, or a map of name -> schema.
_SCHEMA_VALUED = {"items", "not", "additionalProperties"}
_SCHEMA_LISTS = {"oneOf", "anyOf", "allOf"}
_SCHEMA_MAPS = {"properties", "$defs", "definitions", "patternProperties"}
# Keywords that mean the same in Draft 4 and Draft 2020-12 (as the files use them).
_SAME_IN_DRAFT4 = {
    "type", "description", "title", "required", "enum", "pattern", "minLength", "maxLength", "minimum",
    "maximum", "minItems", "maxItems", "uniqueItems", "format", "default", "$ref", VERSION_KEY,
}  # fmt: skip


class SchemaRenderError(ValueError):
    """A schema file uses something the Draft 4 rendering does not handle."""


def schema_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.schema.json"))


def to_draft4(schema: dict[str, Any], *, where: str = "") -> dict[str, Any]:
    """The Draft 4 form of a Draft 2020-12 schema document (the subset the contract uses)."""
    rendered: dict[str, Any] = {}
    for key, value in schema.items():
        path = f"{where}/{key}"
        if key == "$schema":
            rendered[key] = DRAFT4
        elif key == "$id":
            rendered["id"] = value
        elif key == "const":
            rendered["enum"] = [value]
        elif key in _SCHEMA_MAPS:
            target = "definitions" if key == "$defs" else key
            rendered[target] = {name: to_draft4(sub, where=f"{path}/{name}") for name, sub in value.items()}
        elif key in _SCHEMA_LISTS:
            rendered[key] = [to_draft4(sub, where=f"{path}/{i}") for i, sub in enumerate(value)]
        elif key in _SCHEMA_VALUED and isinstance(value, dict):
            rendered[key] = to_draft4(value, where=path)
        elif key == "$ref":
            rendered[key] = value.replace("#/$defs/", "#/definitions/")
        elif key in _SAME_IN_DRAFT4:
            rendered[key] = value
        else:
            raise SchemaRenderError(f"{path}: keyword {key!r} has no Draft 4 rendering here (event_schemas.py)")
    return rendered


def schema_logical_id(detail_type: str) -> str:
    """``Record Changed`` -> ``RecordChangedEventSchema``."""
    return "".join(word[:1].upper() + word[1:] for word in re.split(r"[^A-Za-z0-9]+", detail_type)) + "EventSchema"


def detail_type_of(schema: dict[str, Any], path: Path) -> str:
    try:
        return str(schema["properties"]["detail-type"]["const"])
    except (KeyError, TypeError):
        raise SchemaRenderError(f"{path}: no properties.detail-type.const to name the event by") from None


def registry_resources(directory: Path) -> dict[str, dict[str, Any]]:
    """The registry and one ``AWS::EventSchemas::Schema`` per file, as template resources (long form)."""
    resources: dict[str, dict[str, Any]] = {
        REGISTRY_LOGICAL_ID: {
            "Type": "AWS::EventSchemas::Registry",
            "Properties": {
                "RegistryName": {"Fn::Sub": "${AWS::StackName}-events"},
                "Description": "Every event appflow-ingest publishes on its downstream bus (schemas/ in its repository).",
            },
        }
    }
    for path in schema_files(directory):
        schema = json.loads(path.read_text())
        detail_type = detail_type_of(schema, path)
        version = schema.get(VERSION_KEY)
        if not version:
            raise SchemaRenderError(f"{path}: no {VERSION_KEY!r}; every event schema states its contract version")
        resources[schema_logical_id(detail_type)] = {
            "Type": "AWS::EventSchemas::Schema",
            "Properties": {
                "RegistryName": {"Fn::GetAtt": [REGISTRY_LOGICAL_ID, "RegistryName"]},
                "SchemaName": {"Fn::Sub": "${EventSourceName}@" + detail_type.replace(" ", "")},
                "Type": "JSONSchemaDraft4",
                "Description": f"{detail_type}, contract version {version} (schemas/{path.name})",
                "Content": json.dumps(to_draft4(schema, where=path.name), separators=(",", ":"), ensure_ascii=False),
            },
        }
    return resources


def render_block(directory: Path) -> str:
    """The template.yaml text between (and including) the markers."""
    lines = [BEGIN_MARKER]
    for logical_id, resource in registry_resources(directory).items():
        props = resource["Properties"]
        lines += [f"  {logical_id}:", f"    Type: {resource['Type']}", "    Properties:"]
        for key, value in props.items():
            if key == "Content":
                lines += ["      Content: |-", f"        {value}"]
            elif isinstance(value, dict) and "Fn::Sub" in value:
                lines.append(f"      {key}: !Sub {json.dumps(value['Fn::Sub'])}")
            elif isinstance(value, dict) and "Fn::GetAtt" in value:
                lines.append(f"      {key}: !GetAtt {'.'.join(value['Fn::GetAtt'])}")
            else:
                lines.append(f"      {key}: {json.dumps(value, ensure_ascii=False)}")
    lines.append(END_MARKER)
    return "\n".join(lines) + "\n"


def template_block(template_text: str) -> str | None:
    """The generated block as it is in the template, or None when the markers are missing."""
    start = template_text.find(BEGIN_MARKER)
    end = template_text.find(END_MARKER)
    if start < 0 or end < start:
        return None
    return template_text[start : end + len(END_MARKER)] + "\n"


def write_block(template: Path, directory: Path) -> bool:
    """Replace the block in ``template`` with the one rendered from ``directory``; True if it changed."""
    text = template.read_text()
    current = template_block(text)
    if current is None:
        raise SchemaRenderError(f"{template}: the marker lines of the event schema registry are missing")
    fresh = render_block(directory)
    if current == fresh:
        return False
    template.write_text(text.replace(current, fresh))
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Render the EventBridge schema registry of template.yaml from schemas/."
    )
    parser.add_argument("--template", type=Path, default=Path("template.yaml"))
    parser.add_argument("--schemas", type=Path, default=Path("schemas"))
    parser.add_argument("--write", action="store_true", help="rewrite the block (default: only check it)")
    args = parser.parse_args(argv)
    try:
        if args.write:
            changed = write_block(args.template, args.schemas)
            print(f"{args.template}: {'updated' if changed else 'already up to date'}", file=sys.stderr)
            return 0
        if template_block(args.template.read_text()) != render_block(args.schemas):
            print(
                f"{args.template}: the schema registry differs from {args.schemas}/: run `make event-schemas`",
                file=sys.stderr,
            )
            return 1
    except (SchemaRenderError, OSError) as error:
        print(f"event-schemas: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
