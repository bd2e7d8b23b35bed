"""Per-flow counts go out as one EMF document with the flow and object as dimensions."""

from __future__ import annotations

import json

from appflow_ingest.observability import correlate, emit_counts, logger


def test_counts_carry_flow_and_object_dimensions(capsys):
    emit_counts({"RecordsRead": 5, "RecordsQuarantined": 2}, flow="sf-accounts", object="Account")
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    document = json.loads(line)
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert sorted(directive["Dimensions"][0]) == ["flow", "object", "service"]
    assert (document["flow"], document["object"], document["RecordsRead"], document["RecordsQuarantined"]) == (
        "sf-accounts", "Account", [5.0], [2.0],
    )  # fmt: skip


def test_an_unknown_flow_is_a_dimension_value_too(capsys):
    emit_counts({"RunsIncomplete": 1}, flow=None)
    document = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert document["flow"] == "none"


def test_correlation_keys_skip_what_is_unknown():
    correlate(flow="f", execution_id=None, chunk_id="c")
    keys = logger.get_current_keys()
    assert keys["flow"] == "f" and keys["chunk_id"] == "c" and "execution_id" not in keys
    logger.remove_keys(["flow", "chunk_id"])
