"""No record value reaches a metric dimension or a key on every log line (docs/security.md).

Metrics carry counts under the service dimension only; log lines carry what each call site passes.
A call that adds dimensions, metadata or keys for every later line would put data where nobody
reviews it line by line: none is made, and this fails when one is.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCES = sorted([*(REPO / "layers" / "core").rglob("*.py"), *(REPO / "functions").rglob("*.py")])
# Powertools calls that attach data to every metric or log line after them.
STICKY = {"add_dimension", "add_metadata", "set_default_dimensions", "append_keys", "append_context_keys"}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_metric_dimension_or_sticky_log_key(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    sticky = [
        f"{path.name}:{node.lineno} {node.func.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in STICKY
    ]
    logged_events = [
        f"{path.name}:{node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.keyword)
        and node.arg == "log_event"
        and not (isinstance(node.value, ast.Constant) and node.value.value is False)
    ]
    assert not sticky and not logged_events, "data in every metric or log line: " + ", ".join(sticky + logged_events)
