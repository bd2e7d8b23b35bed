"""The consumer-facing verbs of ``appflow-ingest``: ``snapshot`` and ``replay-events``.

    appflow-ingest snapshot      --object Account [--to-bus BUS | --to-s3 s3://BUCKET/PREFIX] (--endpoint-url URL | --stack NAME)
    appflow-ingest replay-events --since 6h [--until ...] [--detail-type T ...] --to RULE (--endpoint-url URL | --stack NAME)

Resources come from the local stack description (``--endpoint-url``, ``--stack-name``) or from a
deployed CloudFormation stack (``--stack``). The logic lives in :mod:`appflow_local.snapshot` and
:mod:`appflow_local.event_replay`; this module only reads arguments and prints results.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from appflow_ingest.adapters.event_bus import PublishError
from appflow_ingest.domain.snapshot_events import InvalidSnapshotId, check_snapshot_id
from appflow_local.downstream import DownstreamResources, StackResourceMissing, from_cloudformation, from_local_stack
from appflow_local.event_replay import ReplayError, ReplayRequest, parse_instant, replay_events
from appflow_local.snapshot import (
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
    take_snapshot,
)
from appflow_local.stack import StackNotProvisioned
from appflow_local.template import DEFAULT_REGION, DEFAULT_STACK_NAME, TemplateError

USER_ERRORS = (ReplayError, SnapshotError, InvalidSnapshotId, StackResourceMissing, StackNotProvisioned, TemplateError)


def _target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--endpoint-url",
        default=os.environ.get("APPFLOW_LOCAL_ENDPOINT_URL"),
        help="an emulator holding a stack made by `local provision` (default: $APPFLOW_LOCAL_ENDPOINT_URL)",
    )
    parser.add_argument("--stack-name", default=DEFAULT_STACK_NAME, help="the local stack (default: %(default)s)")
    parser.add_argument("--stack", default=None, help="a deployed CloudFormation stack instead of a local one")
    parser.add_argument("--region", default=os.environ.get("AWS_DEFAULT_REGION", DEFAULT_REGION))


def add_consumer_commands(commands: Any) -> None:
    """Add ``snapshot`` and ``replay-events`` to the top-level subcommands."""
    p = commands.add_parser("snapshot", help="publish the current state of an object as snapshot events")
    _target_options(p)
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

    p = commands.add_parser("replay-events", help="replay archived downstream events to one consumer's rule")
    _target_options(p)
    p.add_argument("--since", required=True, help="ISO-8601 time or a time ago (90m, 6h, 2d, 1w)")
    p.add_argument("--until", default=None, help="ISO-8601 time or a time ago (default: now)")
    p.add_argument("--detail-type", action="append", default=[], help="only these detail-types (repeatable)")
    p.add_argument(
        "--to", required=True, metavar="RULE", help="the consumer's rule (name or ARN) on the downstream bus"
    )
    p.add_argument("--timeout", type=float, default=3600.0, help="cancel the replay after this many seconds")
    p.add_argument("--poll-seconds", type=float, default=5.0, help=argparse.SUPPRESS)
    p.add_argument("--grace-seconds", type=float, default=30.0, help=argparse.SUPPRESS)


class _Clients:
    """boto3 clients for the emulator (local stack) or for AWS (CloudFormation stack)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        if args.stack:
            import boto3

            self._session = boto3.session.Session(region_name=args.region)
            self._endpoint = args.endpoint_url
        else:
            if not args.endpoint_url:
                raise StackResourceMissing("give --endpoint-url URL (a local stack) or --stack NAME (a deployed one)")
            from appflow_local.emulator import Emulator

            self._emulator = Emulator(args.endpoint_url, args.region)

    def client(self, service: str) -> Any:
        if self.args.stack:
            return self._session.client(service, endpoint_url=self._endpoint)  # type: ignore[call-overload]
        return self._emulator.client(service)

    def resources(self) -> DownstreamResources:
        if self.args.stack:
            try:
                return from_cloudformation(self.client("cloudformation"), self.args.stack)
            except ClientError as error:
                if error.response["Error"]["Code"] == "ValidationError":
                    raise StackResourceMissing(
                        f"--stack {self.args.stack}: {error.response['Error']['Message']}"
                    ) from None
                raise
        from appflow_local.stack import load_stack

        return from_local_stack(load_stack(self._emulator, self.args.stack_name))


def cmd_snapshot(args: argparse.Namespace) -> int:
    clients = _Clients(args)
    resources = clients.resources()
    table = resources.entity_table
    if args.object == MEMBER_PASS:
        if not resources.derived_table:
            raise StackResourceMissing("the stack has no DerivedTable: it keeps no wallet passes")
        table = resources.derived_table
    snapshot_id = check_snapshot_id(args.snapshot_id or default_snapshot_id(args.object))
    if not 1 <= args.segments <= MAX_SEGMENTS or args.page_size < 1:
        raise SnapshotError(
            f"--segments {args.segments} --page-size {args.page_size}: expected 1-{MAX_SEGMENTS} and 1 or more"
        )
    pacer = ReadPacer(args.read_units_per_second)
    target: BusTarget | S3Target
    if args.to_s3:
        target = S3Target(clients.client("s3"), args.to_s3, snapshot_id, resources.event_source)
    else:
        target = BusTarget(clients.client("events"), args.to_bus or resources.bus_name, resources.event_source)
    checkpoints = CheckpointFile(args.checkpoint or default_checkpoint_path(snapshot_id))
    print(
        f"snapshot {snapshot_id}: {args.object} from {table} to {target.description}; "
        f"progress in {checkpoints.path} (run again with --snapshot-id {snapshot_id} to resume)",
        file=sys.stderr,
    )
    summary = take_snapshot(
        clients.client("dynamodb"),
        SnapshotSource(table=table, object_name=args.object),
        target,
        snapshot_id=snapshot_id,
        checkpoints=checkpoints,
        segments=args.segments,
        page_size=args.page_size,
        pacer=pacer,
    )
    print(json.dumps(summary), flush=True)
    return 0


def cmd_replay_events(args: argparse.Namespace) -> int:
    clients = _Clients(args)
    resources = clients.resources()
    now = datetime.now(UTC)
    request = ReplayRequest(
        archive_name=resources.require_archive(),
        rule=args.to,
        since=parse_instant(args.since, now=now, option="--since"),
        until=parse_instant(args.until, now=now, option="--until") if args.until else now,
        detail_types=tuple(args.detail_type),
    )
    if request.until > now:
        raise ReplayError(f"--until {args.until}: is in the future; events not yet published cannot be replayed")
    result = replay_events(
        clients.client("events"),
        request,
        poll_seconds=args.poll_seconds,
        timeout_seconds=args.timeout,
        grace_seconds=args.grace_seconds,
    )
    print(json.dumps(result), flush=True)
    return 0 if result["state"] == "COMPLETED" else 1


CONSUMER_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "snapshot": cmd_snapshot,
    "replay-events": cmd_replay_events,
}


def run_consumer_command(args: argparse.Namespace) -> int:
    """Run the verb; a user mistake is one line and exit 2, an AWS failure one line and exit 1."""
    try:
        return CONSUMER_COMMANDS[args.command](args)
    except USER_ERRORS as error:
        if isinstance(error, SnapshotInterrupted):
            print(f"appflow-ingest: {error}", file=sys.stderr)
            return 130
        print(f"appflow-ingest {args.command}: {error}", file=sys.stderr)
        return 2
    except (PublishError, ClientError, BotoCoreError) as error:
        again = " (run the same command again to resume)" if args.command == "snapshot" else ""
        print(f"appflow-ingest {args.command}: AWS refused: {error}{again}", file=sys.stderr)
        return 1
