"""The tables the benchmarks create, as template.yaml declares them (so a benchmark cannot disagree with it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from appflow_local.stack.template import load_yaml

REPO = Path(__file__).resolve().parents[1]


def entity_table_definition() -> dict[str, Any]:
    """The entity table's key schema, read from template.yaml (so the benchmark cannot disagree with it)."""
    template = load_yaml(REPO / "template.yaml")
    table = template["Resources"]["EntityTable"]["Properties"]
    return {
        "BillingMode": table["BillingMode"],
        "AttributeDefinitions": table["AttributeDefinitions"],
        "KeySchema": table["KeySchema"],
    }
