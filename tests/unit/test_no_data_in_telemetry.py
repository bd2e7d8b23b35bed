"""No record value reaches a metric dimension or a key on every log line (docs/security.md).

A call that adds dimensions, metadata or keys for every later line would put data where nobody
reviews it line by line. Only appflow_ingest/observability.py makes such calls (``emit_counts``,
``correlate``), and only under names on its allow-lists (the pipeline's own ids: flow, object,
execution id, chunk id, ...): this fails when any other module makes one, when a list admits a
name that could carry a record's values, and when the choke point lets an unlisted name through.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCES = sorted([*(REPO / "layers" / "core").rglob("*.py"), *(REPO / "functions").rglob("*.py")])
# Powertools calls that attach data to every metric or log line after them.
STICKY = {"add_dimension", "add_metadata", "set_default_dimensions", "append_keys", "append_context_keys"}


# Where sticky calls may be made: the choke point that checks names against its allow-lists.
CHOKE_POINT = REPO / "layers" / "core" / "appflow_ingest" / "observability.py"
# Names that identify the pipeline's units of work, never a record's content.
PIPELINE_IDS = {
    "flow",
    "object",
    "execution_id",
    "chunk_id",
    "reingestion",
    "event_id",
    "file",
    "first_sequence_number",
    "last_sequence_number",
}


def test_the_choke_point_admits_only_pipeline_ids(capsys, caplog):
    from appflow_ingest import observability

    assert observability.CORRELATION_KEYS <= PIPELINE_IDS
    assert observability.METRIC_DIMENSIONS <= PIPELINE_IDS
    try:
        observability.correlate(flow="sf-contacts", Email="a@example.com")
        observability.logger.info("a later line")
        observability.emit_counts({"RecordsRead": 1}, flow="sf-contacts", Email="b@example.com")
        out = capsys.readouterr().out + caplog.text
    finally:
        observability.logger.remove_keys(["flow", "Email"])
    # The unlisted name is dropped (telemetry never fails a chunk) and named, its value nowhere.
    assert "a@example.com" not in out and "b@example.com" not in out
    assert '"flow":"sf-contacts"' in out.replace(" ", "")  # the metric's dimension
    assert [r.dropped_names for r in caplog.records if hasattr(r, "dropped_names")] == [["Email"], ["Email"]]


@pytest.mark.parametrize("path", [p for p in SOURCES if p != CHOKE_POINT], ids=lambda p: str(p.relative_to(REPO)))
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
