"""``appflow-ingest demo``: a whole AppFlow run through the whole pipeline, on an embedded emulator.

Starts moto's server in-process, provisions the stack from template.yaml, generates a realistic
run (see sample_run), lands it the way AppFlow would, drives every function until all queues and
streams are drained, and checks the result against the newest-wins model. Progress goes to
stderr, the functions' logs to a file, the summary to stdout.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

from appflow_local.emulator import Emulator, embedded_emulator
from appflow_local.progress import ProgressLine
from appflow_local.provision import provision
from appflow_local.readback import member_passes, published_events, stored_records
from appflow_local.runtime import LocalRuntime, RunSummary
from appflow_local.sample_run import FLOW_OBJECTS, differences, expected_outcome, generate_run, wallet_differences
from appflow_local.stack import landing_bucket
from appflow_local.template import Template, default_template_path


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_demo(
    *,
    accounts: int = 600,
    opportunities: int = 900,
    seed: int = 7,
    chunk_size: int = 64 * 1024,
    template_path: Path | None = None,
) -> int:
    """Run the demo; return 0 when the pipeline drained cleanly and matches the model."""
    workdir = Path(tempfile.mkdtemp(prefix="appflow-demo-"))
    run = generate_run(accounts, opportunities, seed=seed)
    for landed in run.files:
        target = workdir / "landing" / landed.key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(landed.body)
    _say(
        f"generated an AppFlow run: {len(run.files)} files, {run.total_lines:,} lines, "
        f"{run.total_bytes / 1e6:.1f} MB  ({workdir / 'landing'})"
    )

    log_path = workdir / "functions.log"
    with embedded_emulator() as endpoint_url, log_path.open("w", encoding="utf-8") as log:
        _say(f"started the AWS emulator (moto) at {endpoint_url}")
        emulator = Emulator(endpoint_url)
        template = Template.load(template_path or default_template_path())
        stack = provision(
            template,
            emulator,
            parameter_overrides={
                "FlowObjects": json.dumps(FLOW_OBJECTS),
                "ChunkSizeBytes": str(chunk_size),
                "WalletConfig": "{}",  # members: Account; purchases: won Opportunity by AccountId; Promotion__c
                "MaskingKey": "demo-masking-key",
            },
        )
        flows = ", ".join(f"{flow} -> {spec['object']}" for flow, spec in FLOW_OBJECTS.items())
        _say(
            f"provisioned {len(stack.resources)} resources from {template.path} "
            f"(FlowObjects: {flows}; "
            f"chunks of {chunk_size:,} bytes)"
        )

        runtime = LocalRuntime(emulator, stack, template, log_sink=log)
        bucket = landing_bucket(stack, template)
        started = time.monotonic()
        for landed in run.files:
            emulator.s3.put_object(Bucket=bucket, Key=landed.key, Body=landed.body)
            _say(f"  landed s3://{bucket}/{landed.key}  ({landed.lines:,} lines)")
        _say("running plan -> ingest -> publish until every queue and stream is drained ...")
        progress = ProgressLine(interval=2.0)
        runtime.progress = progress
        summary = runtime.run_until_drained()
        progress.finish(summary)
        elapsed = time.monotonic() - started

        stored = stored_records(emulator, stack)
        events = published_events(emulator, stack)
        expected = expected_outcome(run.files, rule_breaking=run.rule_breaking)
        passes = member_passes(emulator, stack)
        problems = differences(expected, stored, events) + wallet_differences(expected, passes)
        quarantine = stack.attribute("QuarantineBucket") if "QuarantineBucket" in stack.resources else None

    _print_summary(summary, elapsed, len(run.files), len(stored), len(events), problems, quarantine, log_path)
    _print_passes(passes, events)
    return 0 if summary.ok and not problems else 1


def _print_summary(
    summary: RunSummary,
    elapsed: float,
    files: int,
    stored: int,
    events: int,
    problems: list[str],
    quarantine: str | None,
    log_path: Path,
) -> None:
    counts = summary.as_dict()
    read = counts["read"]
    rows = [
        ("files landed", f"{files:,}"),
        ("files planned", f"{counts.get('files_planned', 0):,}  in {counts.get('chunks_planned', 0):,} chunks"),
        ("records read", f"{read:,}"),
        ("written", f"{counts['written']:,}  (newer than what was stored)"),
        ("stale", f"{counts['stale']:,}  (duplicates, older or equal versions)"),
        ("quarantined", f"{counts['quarantined']:,}" + (f"  (s3://{quarantine}/)" if quarantine else "")),
        ("events published", f"{counts['events_published']:,}  ({events:,} received by the bus's consumer)"),
        ("stored records", f"{stored:,}"),
        ("time taken", f"{elapsed:.1f} s"),
        (
            "throughput",
            f"{read / elapsed if elapsed else 0:,.0f} records/s  "
            "(moto's server sets the pace locally: conditional PutItem ~400/s)",
        ),
        ("invocations", ", ".join(f"{k} {v}" for k, v in counts["invocations"].items())),
        ("function logs", str(log_path)),
    ]
    print()
    print("AppFlow demo run")
    for label, value in rows:
        print(f"  {label:<18}{value}")
    if not summary.ok:
        print(
            f"  NOT CLEAN: failed invocations {counts['failed_invocations']}, dead-letter queues "
            f"{counts['dead_letter_queues']}, undelivered {counts['undelivered']}, dropped {counts['dropped']}"
        )
    if problems:
        print("  does NOT match the newest-wins model:")
        for problem in problems:
            print(f"    - {problem}")
    else:
        print("  check             stored records, published events and member passes match the model")


def _print_passes(passes: dict[str, dict], events: list[dict]) -> None:
    """A few wallet passes, and the events about them and about the schema."""
    kinds = Counter(event.get("detail-type") for event in events)
    tiers = Counter(p["tier"] for p in passes.values() if p["status"] == "active")
    fields = sorted(
        f"{e['detail']['object']}.{e['detail']['field']}" for e in events if e.get("detail-type") == "Schema Changed"
    )
    print()
    print("Wallet passes")
    print(f"  {'passes':<18}{len(passes):,}  ({', '.join(f'{t} {n}' for t, n in sorted(tiers.items()))} active)")
    print(f"  {'pass events':<18}{kinds.get('MemberPass Changed', 0):,}  MemberPass Changed")
    print(f"  {'schema events':<18}{len(fields)}  Schema Changed: {', '.join(fields) or '-'}")
    shown = sorted(
        (p for p in passes.values() if p["status"] == "active"),
        key=lambda p: (not p["active_promotions"], -Decimal(p["lifetime_spend"])),
    )[:3]
    for p in shown:
        to_next = f", {p['to_next_tier']} to {p['next_tier']}" if p["next_tier"] else ""
        promotions = ", ".join(f"{x['name']} (until {x['expires']})" for x in p["active_promotions"]) or "none"
        print(
            f"  {p['member_id']}  {p['tier']:<6} spend {p['lifetime_spend']:>9} in {p['purchases']} purchase(s){to_next}"
        )
        print(f"  {'':<18}  active promotions: {promotions}")
