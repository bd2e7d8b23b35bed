"""The operations verbs on the command line: flags, and handlers that call one function each.

    appflow-ingest runs          [--flow F] [--since T] [--until T] [--outcome O] [--execution-id ID]
    appflow-ingest quarantine    [--flow F] [--execution-id ID] [--field F] [--reason TEXT] [--summary]
    appflow-ingest dead-letters
    appflow-ingest redrive QUEUE [--dry-run]
    appflow-ingest reingest      (--execution-id ID | --file S3_URI | --from-quarantine [filters]) [--dry-run]
    appflow-ingest report        --execution-id ID [--html FILE]

Each takes --stack NAME (a deployed stack: normal AWS credentials and region) or --endpoint-url URL
(the emulator), and prints JSON, one object per line, on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from appflow_local.operations.errors import UserError
from appflow_local.operations.target import Target, resolve_target
from appflow_local.operations.timefilter import epoch_millis


def add_target_flags(parser: argparse.ArgumentParser) -> None:
    """--stack / --endpoint-url / --region / --template, shared by every operations verb."""
    parser.add_argument(
        "--stack",
        metavar="NAME",
        help="a deployed stack, its resources found through CloudFormation (normal AWS credentials and region); "
        "with --endpoint-url, the emulator's stack of that name (default: appflow-ingest)",
    )
    parser.add_argument(
        "--endpoint-url",
        metavar="URL",
        default=os.environ.get("APPFLOW_LOCAL_ENDPOINT_URL"),
        help="the emulator, e.g. http://127.0.0.1:5000 (default: $APPFLOW_LOCAL_ENDPOINT_URL)",
    )
    parser.add_argument("--region", help="AWS region (default: your AWS configuration; the emulator: its stack's)")
    parser.add_argument(
        "--template", type=Path, help="the application's template.yaml (default: the stack's, else the shipped one)"
    )


def target_of(args: argparse.Namespace) -> Target:
    return resolve_target(stack=args.stack, endpoint_url=args.endpoint_url, region=args.region, template=args.template)


def print_lines(rows: Iterable[dict[str, Any]]) -> int:
    for row in rows:
        print(json.dumps(row, separators=(",", ":"), default=str))
    return 0


def _quarantine_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--flow", help="only this AppFlow flow's entries")
    parser.add_argument("--execution-id", help="only this AppFlow run's entries")
    parser.add_argument("--field", help="only entries about this field")
    parser.add_argument("--reason", help="only entries whose reason contains this text (any case)")
    parser.add_argument(
        "--kind",
        choices=["undecodable", "invalid", "change-event", "unreadable-message"],
        help="only this kind of entry (unreadable-message: a chunk message that does not parse)",
    )
    parser.add_argument("--source", metavar="S3_URI", help="only entries from this landed file")


def add_commands(commands: Any) -> None:
    """Register the operations verbs on the top-level subparsers."""
    p = commands.add_parser("runs", help="the run ledger: one JSON object per AppFlow run, AppFlow's counts vs ours")
    add_target_flags(p)
    p.add_argument("--flow", help="only this AppFlow flow's runs")
    p.add_argument("--execution-id", help="only this run")
    p.add_argument("--since", metavar="TIME", help="runs started at or after: 2026-11-30, 2026-11-30T08:00Z, 24h, 7d")
    p.add_argument("--until", metavar="TIME", help="runs started at or before (same forms as --since)")
    p.add_argument(
        "--outcome", choices=["COMPLETED", "INCOMPLETE", "UNSETTLED"], type=str.upper, help="only runs settled so"
    )
    p.set_defaults(handler=cmd_runs)

    p = commands.add_parser(
        "quarantine", help="quarantined lines, records and change events: one JSON object per entry, or --summary"
    )
    add_target_flags(p)
    _quarantine_filters(p)
    p.add_argument("--summary", action="store_true", help="counts grouped by flow, field and reason instead")
    p.add_argument(
        "--with-record", action="store_true", help="include the record or line as stored (masked fields stay masked)"
    )
    p.set_defaults(handler=cmd_quarantine)

    p = commands.add_parser(
        "dead-letters", help="per failure queue: what kind of thing it holds, how many, the oldest, a sample"
    )
    add_target_flags(p)
    p.set_defaults(handler=cmd_dead_letters)

    p = commands.add_parser("redrive", help="send what a failure queue holds back where it belongs")
    add_target_flags(p)
    p.add_argument("queue", metavar="QUEUE", help="a failure queue, e.g. ChunkDeadLetterQueue (see `dead-letters`)")
    p.add_argument("--dry-run", action="store_true", help="say what would be sent where, change nothing")
    p.add_argument("--no-drain", action="store_true", help="emulator: do not run the functions afterwards")
    p.set_defaults(handler=cmd_redrive)

    p = commands.add_parser(
        "reingest", help="re-plan a run, a file, or the files behind quarantine entries (after a rule or data fix)"
    )
    add_target_flags(p)
    scope = p.add_mutually_exclusive_group(required=True)
    scope.add_argument("--execution-id", help="every file of this AppFlow run")
    scope.add_argument("--file", metavar="S3_URI", help="one landed file, s3://bucket/key")
    scope.add_argument(
        "--from-quarantine", action="store_true", help="the chunks behind the entries the filters below select"
    )
    p.add_argument("--flow", help="with --from-quarantine: only this flow's entries")
    p.add_argument("--field", help="with --from-quarantine: only entries about this field")
    p.add_argument("--reason", help="with --from-quarantine: only entries whose reason contains this text")
    p.add_argument("--of-run", metavar="EXECUTION_ID", help="with --from-quarantine: only this run's entries")
    p.add_argument("--note", help="why, recorded in the run ledger with the re-ingestion")
    p.add_argument("--dry-run", action="store_true", help="say which chunks would be queued, change nothing")
    p.add_argument("--no-drain", action="store_true", help="emulator: do not run the functions afterwards")
    p.set_defaults(handler=cmd_reingest)

    p = commands.add_parser("report", help="one run told at a glance; --html writes it as a page with a chart")
    add_target_flags(p)
    p.add_argument("--execution-id", required=True, help="the AppFlow run (see `runs`)")
    p.add_argument("--html", type=Path, metavar="FILE", help="also write a self-contained HTML page here")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object instead of text")
    p.set_defaults(handler=cmd_report)


# ------------------------------------------------------------------------------------------ handlers
def cmd_runs(args: argparse.Namespace) -> int:
    from appflow_local.operations.runs import list_runs

    rows = list_runs(
        target_of(args),
        flow=args.flow,
        since=epoch_millis(args.since, "--since") if args.since else None,
        until=epoch_millis(args.until, "--until") if args.until else None,
        outcome=args.outcome,
    )
    return print_lines(r for r in rows if not args.execution_id or r["execution_id"] == args.execution_id)


def cmd_quarantine(args: argparse.Namespace) -> int:
    from appflow_local.operations.quarantine import QuarantineFilter, entries, summary

    selection = QuarantineFilter(args.flow, args.execution_id, args.field, args.reason, args.kind, args.source)
    found = entries(target_of(args), selection, with_content=args.with_record)
    return print_lines(summary(found) if args.summary else found)


def cmd_dead_letters(args: argparse.Namespace) -> int:
    from appflow_local.operations.dead_letters import dead_letters

    return print_lines(dead_letters(target_of(args)))


def cmd_redrive(args: argparse.Namespace) -> int:
    from appflow_local.operations.dead_letters import find_queue, redrive
    from appflow_local.operations.functions import StackFunctions

    target = target_of(args)
    queue = find_queue(target, args.queue)
    functions = StackFunctions(target)
    outcome = redrive(target, queue, functions, dry_run=args.dry_run)
    for action in outcome.actions:
        print(("would send " if args.dry_run else "sent ") + action, file=sys.stderr)
    result = outcome.as_dict()
    if not args.dry_run and not args.no_drain and outcome.redriven:
        drained = functions.drain()
        if drained is not None:
            result["drained"] = drained.as_dict()
    print(json.dumps(result, default=str))
    return 1 if outcome.failed else 0


def cmd_reingest(args: argparse.Namespace) -> int:
    from appflow_local.operations.reingest import reingest, reingest_scope

    if not args.from_quarantine and (args.flow or args.field or args.reason or args.of_run):
        raise UserError("--flow, --field, --reason and --of-run select quarantine entries: add --from-quarantine")
    target = target_of(args)
    scope = reingest_scope(
        target,
        execution_id=args.execution_id,
        file=args.file,
        from_quarantine=args.from_quarantine,
        flow=args.flow,
        field=args.field,
        reason=args.reason,
        of_run=args.of_run,
    )
    result = reingest(target, scope, note=args.note, dry_run=args.dry_run, drain=not args.no_drain)
    print(json.dumps(result, default=str))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from appflow_local.operations.report import build_report, render_html, render_text

    report = build_report(target_of(args), args.execution_id)
    print(json.dumps(report, default=str) if args.json else render_text(report))
    if args.html:
        try:
            args.html.write_text(render_html(report), encoding="utf-8")
        except OSError as error:
            raise UserError(f"--html {args.html}: cannot write it ({error.strerror})") from None
        print(f"wrote {args.html}", file=sys.stderr)
    return 0
