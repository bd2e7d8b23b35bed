"""``local replay``: land files as one AppFlow run, drive the pipeline, and report that run alone.

What earlier commands left behind (messages still queued, stream records not yet delivered) is
drained first and reported apart as leftovers, so the summary counts only this run's work; what
the failure queues held before is reported too, and only what this run adds to them fails it.
The summary names where this run's quarantine entries are and the first few reasons.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from appflow_local.clients import Emulator
from appflow_local.emulator.runtime import LocalRuntime, RunSummary
from appflow_local.operations.quarantine import QuarantineFilter, entries, reason_class
from appflow_local.operations.target import emulated_target
from appflow_local.runs.progress import ProgressLine
from appflow_local.stack.description import StackDescription, landing_bucket
from appflow_local.stack.template import Template

FIRST_REASONS = 3
LEFTOVER_COUNTS = ("read", "written", "stale", "quarantined", "events_published", "failed_invocations")


def _say(text: str) -> None:
    print(f"appflow-ingest: {text}", file=sys.stderr, flush=True)


def _drain(runtime: LocalRuntime) -> RunSummary:
    runtime.summary = RunSummary()
    progress = ProgressLine()
    runtime.progress = progress
    summary = runtime.run_until_drained()
    progress.finish(summary)
    return summary


def land_run(
    emulator: Emulator,
    stack: StackDescription,
    template: Template,
    flow: str,
    execution_id: str,
    files: Sequence[Path],
    prefix: str = "",
) -> list[str]:
    """Put the files in the landing bucket as one AppFlow run: ``[<prefix>/]<flow>/<execution-id>/<name>``."""
    bucket = landing_bucket(stack, template)
    base = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    keys = []
    for path in files:
        key = f"{base}{flow}/{execution_id}/{path.name}"
        emulator.s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        keys.append(key)
    return keys


def replay_run(
    emulator: Emulator,
    stack: StackDescription,
    template: Template,
    *,
    flow: str,
    execution_id: str,
    files: Sequence[Path],
    prefix: str,
    strict: bool,
    land: Callable[..., list[str]],
) -> int:
    """Replay; print the JSON summary last on stdout; 0 when this run went through (and, strict, quarantined nothing)."""
    runtime = LocalRuntime(emulator, stack, template)
    leftovers: dict[str, Any] | None = None
    pending = {source.name: n for source in runtime.sources if (n := source.pending())}
    if pending:
        _say(f"found work left by earlier commands ({json.dumps(pending)}); draining it first, counted apart")
        earlier = _drain(runtime).as_dict()
        leftovers = {"pending": pending, **{k: earlier[k] for k in LEFTOVER_COUNTS}}
    before = runtime.failure_queue_depths()
    if any(before.values()):
        held = {q: n for q, n in before.items() if n}
        _say(
            f"failure queues already hold messages from before ({json.dumps(held)}): see `appflow-ingest dead-letters`"
        )

    keys = land(emulator, stack, template, flow, execution_id, files, prefix)
    _say(f"landed {len(keys)} file(s) under {flow}/{execution_id}/")
    runtime.summary = RunSummary(failure_queue_depths_before=before)
    progress = ProgressLine()
    runtime.progress = progress
    summary = runtime.run_until_drained()
    progress.finish(summary)

    result: dict[str, Any] = {"flow": flow, "execution_id": execution_id, "files": len(keys), **summary.as_dict()}
    result["quarantine"] = _quarantine(emulator, stack, template, execution_id, keys, int(result["quarantined"]))
    result["leftovers"] = leftovers
    if not summary.ok:
        problems = {
            k: result[k]
            for k in ("failed_invocations_by_function", "dead_lettered", "dropped", "undelivered")
            if result[k]
        }
        added = {q: n - before.get(q, 0) for q, n in summary.failure_queue_depths.items() if n > before.get(q, 0)}
        if added:
            problems["new_dead_letters"] = added
        _say(f"the run did not go through cleanly: {json.dumps(problems)}")
    quarantine = result["quarantine"]
    if quarantine["entries"]:
        every = " (every record read)" if result["quarantined"] == result["read"] else ""
        _say(
            f"quarantined {result['quarantined']} of {result['read']} records{every} in {quarantine['location']}; "
            f"first reasons: {' | '.join(quarantine['first_reasons'])}; list them: {quarantine['list']}"
        )
    print(json.dumps(result), flush=True)
    if not summary.ok:
        return 1
    if strict and result["quarantined"]:
        _say(f"--strict: {result['quarantined']} record(s) quarantined")
        return 1
    return 0


def _quarantine(
    emulator: Emulator, stack: StackDescription, template: Template, execution_id: str, keys: list[str], count: int
) -> dict[str, Any]:
    """Where this run's entries are, and the first few reasons (read back from the quarantine bucket)."""
    target = emulated_target(emulator.endpoint_url, stack, template)
    run_prefix = keys[0].rsplit("/", 1)[0] + "/" if keys else ""
    found = list(entries(target, QuarantineFilter(execution_id=execution_id), key_prefix=run_prefix)) if count else []
    reasons: list[str] = []
    for entry in found:
        reason = f"{entry.get('field') or entry.get('kind')}: {reason_class(entry)}"
        if reason not in reasons:
            reasons.append(reason)
    where = f"--endpoint-url {emulator.endpoint_url}" + (
        f" --stack {stack.stack_name}" if stack.stack_name != "appflow-ingest" else ""
    )
    return {
        "entries": len(found),
        "location": f"s3://{target.physical('QuarantineBucket')}/quarantine/{run_prefix}",
        "first_reasons": reasons[:FIRST_REASONS],
        "list": f"appflow-ingest quarantine {where} --execution-id {execution_id}",
    }
