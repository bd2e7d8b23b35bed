"""``appflow-ingest demo``: a whole AppFlow run through the whole pipeline, on an embedded emulator.

Starts moto's server in-process, provisions the stack from template.yaml, generates a realistic
run (see sample_run), lands it the way AppFlow would, puts AppFlow's End Flow Run Report of each
run on the default bus, drives every function until all queues and streams are drained, and
checks the result against the newest-wins model and every run against the run ledger. Progress
goes to stderr, the functions' logs to a file, the summary to stdout.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from appflow_local.clients import Emulator
from appflow_local.emulator.runtime import LocalRuntime, RunSummary
from appflow_local.emulator.server import embedded_emulator
from appflow_local.operations.target import emulated_target
from appflow_local.runs.progress import ProgressLine
from appflow_local.sample_run.generator import FLOW_OBJECTS, AppFlowRun, end_flow_run_report, generate_run
from appflow_local.sample_run.oracle import differences, expected_outcome, wallet_differences
from appflow_local.stack.description import StackDescription, landing_bucket
from appflow_local.stack.provision import provision_with_config
from appflow_local.stack.readback import member_passes, published_events, run_ledger, stored_records
from appflow_local.stack.samples import put_envelope
from appflow_local.stack.template import DEFAULT_STACK_NAME, Template, default_template_path

# The demo's configuration: the flows below (sample_run.FLOW_OBJECTS), their rule sets, the wallet.
DEMO_CONFIG = Path(__file__).resolve().parents[3] / "config" / "demo.yaml"


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_demo(
    *,
    accounts: int = 600,
    opportunities: int = 900,
    seed: int = 7,
    chunk_size: int = 64 * 1024,
    template_path: Path | None = None,
    config_path: Path | None = None,
    keep: bool = False,
    port: int = 0,
) -> int:
    """Run the demo; return 0 when the pipeline drained cleanly and matches the model.

    The stack is configured by a configuration file (config/demo.yaml unless told), checked and
    pushed as on AWS; its flows are the ones the generated run lands. ``keep``: leave the emulator
    running afterwards (until Ctrl-C), its endpoint printed, so every operations verb can be tried
    on the demo's data.
    """
    config_path = config_path or DEMO_CONFIG
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
    with embedded_emulator(port=port) as endpoint_url, log_path.open("w", encoding="utf-8") as log:
        _say(f"started the AWS emulator (moto) at {endpoint_url}")
        emulator = Emulator(endpoint_url)
        template = Template.load(template_path or default_template_path())
        stack = provision_with_config(
            template,
            emulator,
            DEFAULT_STACK_NAME,
            config_path,
            {"ChunkSizeBytes": str(chunk_size)},
        )
        flows = ", ".join(f"{flow} -> {spec['object']}" for flow, spec in FLOW_OBJECTS.items())
        _say(
            f"provisioned {len(stack.resources)} resources from {template.path} with {config_path} "
            f"(flows: {flows}; chunks of {chunk_size:,} bytes)"
        )

        runtime = LocalRuntime(emulator, stack, template, log_sink=log)
        bucket = landing_bucket(stack, template)
        reports = _end_reports(run, bucket)
        # AppFlow's reports are best effort and race the files' notifications: the first run's
        # report goes on the bus before its files land, the others once everything is ingested.
        early, *late = reports
        started = time.monotonic()
        _send_report(emulator, stack, template, early, "before its files")
        for landed in run.files:
            emulator.s3.put_object(Bucket=bucket, Key=landed.key, Body=landed.body)
            _say(f"  landed s3://{bucket}/{landed.key}  ({landed.lines:,} lines)")
        _say("running plan -> ingest -> publish until every queue and stream is drained ...")
        progress = ProgressLine(interval=2.0)
        runtime.progress = progress
        runtime.run_until_drained()
        for report in late:
            _send_report(emulator, stack, template, report, "after its files")
        summary = runtime.run_until_drained()
        progress.finish(summary)
        elapsed = time.monotonic() - started

        stored = stored_records(emulator, stack)
        events = published_events(emulator, stack)
        expected = expected_outcome(run.files, rule_breaking=run.rule_breaking)
        passes = member_passes(emulator, stack)
        problems = differences(expected, stored, events) + wallet_differences(expected, passes)
        runs = run_ledger(emulator, stack)
        problems += run_differences(reports, runs)
        quarantine = stack.attribute("QuarantineBucket") if "QuarantineBucket" in stack.resources else None
        reasons = quarantine_summary(emulated_target(endpoint_url, stack, template))

        _print_summary(summary, elapsed, len(run.files), len(stored), len(events), problems, quarantine, log_path)
        _print_quarantine(reasons, endpoint_url, keep)
        _print_runs(runs)
        _print_passes(passes, events)
        if keep:
            _keep_running(endpoint_url)
    return 0 if summary.ok and not problems else 1


def quarantine_summary(target: Any) -> list[dict[str, Any]]:
    """The demo's quarantine entries grouped by flow, field and reason (as `quarantine --summary` shows them)."""
    from appflow_local.operations.quarantine import entries, summary

    return summary(entries(target))


def _print_quarantine(reasons: list[dict[str, Any]], endpoint_url: str, keep: bool) -> None:
    print()
    print("Quarantine (why records were set aside)")
    if not reasons:
        print("  nothing was quarantined")
    for group in reasons:
        print(f"  {group['count']:>4}  {group['flow_name'] or '-':<24}{group['field'] or '-'}: {group['reason']}")
    if reasons and keep:
        print(f"  each entry: appflow-ingest quarantine --endpoint-url {endpoint_url}")
    elif reasons:
        print(
            "  each entry, with its file and byte offset: `appflow-ingest demo --keep`, then `appflow-ingest quarantine`"
        )


def _keep_running(endpoint_url: str) -> None:
    """Block until Ctrl-C with the emulator up, saying how to reach it."""
    print()
    print(f"The emulator keeps running at {endpoint_url} (Ctrl-C stops it). Try:")
    for verb in ("runs", "quarantine --summary", "dead-letters", "report --execution-id <an id from runs>"):
        print(f"  appflow-ingest {verb} --endpoint-url {endpoint_url}")
    print(f"  export APPFLOW_LOCAL_ENDPOINT_URL={endpoint_url}   # then leave --endpoint-url out", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("stopping the emulator", file=sys.stderr)


def _end_reports(run: AppFlowRun, bucket: str) -> list[dict]:
    """One End Flow Run Report per flow run, in the order the runs' first files land."""
    ended = datetime.now(UTC).replace(microsecond=0)
    return [end_flow_run_report(files, bucket, ended=ended) for files in run.flow_runs().values()]


def _send_report(emulator: Emulator, stack: StackDescription, template: Template, report: dict, when: str) -> None:
    bus = put_envelope(emulator, stack, template, report)  # as `local send` does: the rule routes it
    detail = report["detail"]
    _say(
        f"  put {report['detail-type']} for {detail['flow-name']} {detail['execution-id']} on bus {bus} ({when}: "
        f"{detail['num-of-records-processed']} records processed)"
    )


def run_differences(reports: list[dict], runs: list[dict]) -> list[str]:
    """Where the ledger departs from AppFlow's reports: the demo's runs all land every record
    AppFlow wrote, so each reported run must be in the ledger, settled and reconciled."""
    problems = []
    by_id = {r["execution_id"]: r for r in runs}
    for report in reports:
        execution_id = report["detail"]["execution-id"]
        state = by_id.pop(execution_id, None)
        if state is None:
            problems.append(f"run {execution_id} is not in the run ledger")
        elif state["outcome"] != "COMPLETED":
            why = "; ".join(state["reasons"]) or "not settled"
            problems.append(f"run {execution_id}: {state['outcome'] or 'UNSETTLED'}, expected COMPLETED ({why})")
    problems += [f"run {execution_id} is in the ledger without a report" for execution_id in by_id]
    return problems


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


def _print_runs(runs: list[dict]) -> None:
    """The run ledger: each AppFlow run, AppFlow's status, whether it reconciled, and the counts."""
    print()
    print("Flow runs (the run ledger)")
    for run in sorted(runs, key=lambda r: (r["flow_name"] or "", r["start_time"] or 0)):
        processed = run["records_processed"]
        line = (
            f"  {run['flow_name'] or '-':<24}{run['execution_id']}  {run['status']:<10}{run['outcome'] or 'UNSETTLED':<11}"
            f"AppFlow {processed if processed is not None else '-':>5} / read {run['read']:>5}"
        )
        if run["outcome"] != "COMPLETED" and run["reasons"]:
            line += f"  ({'; '.join(run['reasons'])})"
        print(line)


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
