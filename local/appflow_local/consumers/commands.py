"""The consumer-facing verbs of ``appflow-ingest``: ``snapshot`` and ``replay-events``.

    appflow-ingest snapshot      --object Account [--to-bus BUS | --to-s3 s3://BUCKET/PREFIX] (--endpoint-url URL | --stack NAME)
    appflow-ingest replay-events --since 6h [--until ...] [--detail-type T ...] --to RULE (--endpoint-url URL | --stack NAME)

The stack is found as every operations verb finds it (:mod:`appflow_local.operations.target`:
``--stack``, ``--endpoint-url``, ``--region``, ``--template``). The logic lives in
:mod:`appflow_local.consumers.snapshot` and :mod:`appflow_local.consumers.event_replay`; this module only reads
arguments and prints results. Their mistakes become :class:`UserError` (one line, exit 2).
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from appflow_ingest.adapters.record_bodies import S3RecordBodies
from appflow_ingest.domain.bus_events.snapshots import InvalidSnapshotId, check_snapshot_id
from appflow_ingest.ports.bus import PublishError
from appflow_local.consumers.downstream import downstream_resources
from appflow_local.consumers.event_replay import ReplayError, ReplayRequest, parse_instant, replay_events
from appflow_local.consumers.snapshot import (
    DEFAULT_PAGE_SIZE,
    DEFAULT_READ_UNITS_PER_SECOND,
    DEFAULT_SEGMENTS,
    MAX_SEGMENTS,
    MEMBER_PASS,
    BusTarget,
    CheckpointFile,
    ReadPacer,
    S3Target,
    SnapshotError,
    SnapshotInterrupted,
    SnapshotSource,
    default_checkpoint_path,
    default_snapshot_id,
    resumable_checkpoint,
    take_snapshot,
)
from appflow_local.operations.commands import add_target_flags, target_of
from appflow_local.operations.errors import OperationFailed, UserError


def _as_user_errors(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """The domain modules' own mistakes (they know no CLI) as the CLI's UserError: one line, exit 2."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except SnapshotInterrupted as stopped:  # Ctrl-C: the checkpoint is saved, say how to resume
            print(f"appflow-ingest: {stopped}", file=sys.stderr)
            return 130
        except (ReplayError, SnapshotError, InvalidSnapshotId) as error:
            raise UserError(str(error)) from None

    return run


def add_consumer_commands(commands: Any) -> None:
    """Add ``snapshot`` and ``replay-events`` to the top-level subcommands."""
    p = commands.add_parser("snapshot", help="publish the current state of an object as snapshot events")
    add_target_flags(p)
    p.add_argument("--object", required=True, help=f"a stored object (Account, ...) or {MEMBER_PASS} for wallet passes")
    to = p.add_mutually_exclusive_group()
    to.add_argument("--to-bus", default=None, help="an event bus name or ARN (default: the stack's downstream bus)")
    to.add_argument("--to-s3", default=None, metavar="s3://BUCKET/PREFIX", help="write JSON Lines there instead")
    p.add_argument("--snapshot-id", default=None, help="default: <object>-<UTC time>; give an earlier one to resume it")
    p.add_argument(
        "--segments", type=int, default=DEFAULT_SEGMENTS, help="parallel scan segments (default: %(default)s)"
    )
    p.add_argument(
        "--read-units-per-second",
        type=float,
        default=DEFAULT_READ_UNITS_PER_SECOND,
        help="the most read capacity the scan may use, all segments together (default: %(default)s)",
    )
    p.add_argument(
        "--page-size", type=int, default=DEFAULT_PAGE_SIZE, help="items per scan page (default: %(default)s)"
    )
    p.add_argument(
        "--checkpoint", type=Path, default=None, help="default: .appflow-ingest/snapshots/<snapshot id>.json"
    )
    p.set_defaults(handler=cmd_snapshot)

    p = commands.add_parser("replay-events", help="replay archived downstream events to one consumer's rule")
    add_target_flags(p)
    p.add_argument("--since", required=True, help="ISO-8601 time or a time ago (90m, 6h, 2d, 1w)")
    p.add_argument("--until", default=None, help="ISO-8601 time or a time ago (default: now)")
    p.add_argument("--detail-type", action="append", default=[], help="only these detail-types (repeatable)")
    p.add_argument(
        "--to", required=True, metavar="RULE", help="the consumer's rule (name or ARN) on the downstream bus"
    )
    p.add_argument("--timeout", type=float, default=3600.0, help="cancel the replay after this many seconds")
    p.add_argument("--poll-seconds", type=float, default=5.0, help=argparse.SUPPRESS)
    p.add_argument("--grace-seconds", type=float, default=30.0, help=argparse.SUPPRESS)
    p.set_defaults(handler=cmd_replay_events)


@_as_user_errors
def cmd_snapshot(args: argparse.Namespace) -> int:
    """Publish (or write to S3) the current state of one object; resumable with the same --snapshot-id."""
    # The arguments are checked before the stack is looked up: a mistake costs no AWS call.
    snapshot_id = check_snapshot_id(args.snapshot_id or default_snapshot_id(args.object))
    if not 1 <= args.segments <= MAX_SEGMENTS or args.page_size < 1:
        raise SnapshotError(
            f"--segments {args.segments} --page-size {args.page_size}: expected 1-{MAX_SEGMENTS} and 1 or more"
        )
    pacer = ReadPacer(args.read_units_per_second)
    stack = target_of(args)
    resources = downstream_resources(stack)
    table = resources.require_derived_table() if args.object == MEMBER_PASS else resources.entity_table
    destination: BusTarget | S3Target
    if args.to_s3:
        destination = S3Target(stack.client("s3"), args.to_s3, snapshot_id, resources.event_source)
    else:
        destination = BusTarget(stack.client("events"), args.to_bus or resources.bus_name, resources.event_source)
    checkpoints = CheckpointFile(args.checkpoint or default_checkpoint_path(snapshot_id))
    source = SnapshotSource(table=table, object_name=args.object)
    resumable_checkpoint(checkpoints, source, destination, snapshot_id)  # another's: one line, before any output
    print(
        f"snapshot {snapshot_id}: {args.object} from {table} to {destination.description}; "
        f"progress in {checkpoints.path} (run again with --snapshot-id {snapshot_id} to resume)",
        file=sys.stderr,
    )
    try:
        summary = take_snapshot(
            stack.client("dynamodb"),
            source,
            destination,
            snapshot_id=snapshot_id,
            checkpoints=checkpoints,
            segments=args.segments,
            page_size=args.page_size,
            pacer=pacer,
            # Bodies of records too large for one item, read for changed_fields (the bucket is in each record_ref).
            read_body=S3RecordBodies(stack.client("s3"), "").read,
        )
    except (PublishError, ClientError, BotoCoreError) as error:
        raise OperationFailed(
            f"AWS refused: {error} (the checkpoint is saved: run the same command again to resume)"
        ) from None
    print(json.dumps(summary), flush=True)
    return 0


@_as_user_errors
def cmd_replay_events(args: argparse.Namespace) -> int:
    """Start an archive replay to one rule, wait for it, print what was replayed (exit 1 unless COMPLETED)."""
    now = datetime.now(UTC)
    since = parse_instant(args.since, now=now, option="--since")
    until = parse_instant(args.until, now=now, option="--until") if args.until else now
    if until > now:
        raise ReplayError(f"--until {args.until}: is in the future; events not yet published cannot be replayed")
    stack = target_of(args)
    request = ReplayRequest(
        archive_name=downstream_resources(stack).require_archive(),
        rule=args.to,
        since=since,
        until=until,
        detail_types=tuple(args.detail_type),
    )
    result = replay_events(
        stack.client("events"),
        request,
        poll_seconds=args.poll_seconds,
        timeout_seconds=args.timeout,
        grace_seconds=args.grace_seconds,
    )
    print(json.dumps(result), flush=True)
    return 0 if result["state"] == "COMPLETED" else 1
