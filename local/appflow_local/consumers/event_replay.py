"""``appflow-ingest replay-events``: send archived downstream events again, to one consumer's rule.

EventBridge replays an archive's events of a time window back onto their bus, to the rules named
in ``FilterArns`` only, so other consumers see nothing. It cannot filter a replay by detail-type:
with ``--detail-type`` a temporary rule is put beside the consumer's, with the consumer's pattern
narrowed to those detail-types *and* to this replay's name (a replayed event carries
``replay-name``; live events never match it), and the consumer's own targets; the replay goes to
that rule, which is deleted after the replay. The targets must accept the temporary rule as a
sender (a queue policy conditioned on the rule's ARN must allow ``<rule>-replay-*``).
"""

from __future__ import annotations

import json
import re
import secrets
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

from botocore.exceptions import ClientError

from appflow_local.operations.errors import UserError
from appflow_local.operations.timefilter import instant

FINAL_STATES = ("COMPLETED", "FAILED", "CANCELLED")
_NAME_LIMIT = 64  # rule and replay names
# AWS: "There may be a delay between an event being received on an event bus and the event arriving
# in the archive. We recommend you delay replaying archived events for 10 minutes."
ARCHIVE_DELAY = timedelta(minutes=10)


class ReplayError(Exception):
    """The replay cannot be started as asked: the message says what is wrong and what to do."""


def parse_instant(text: str, *, now: datetime | None = None, option: str = "--since") -> datetime:
    """ISO-8601 (``2026-11-30T10:00:00Z``, ``2026-11-30``) or a time ago (``90m``, ``6h``, ``2d``, ``1w``), in UTC."""
    try:
        return instant(text, option, now)
    except UserError:
        raise ReplayError(
            f"{option} {text!r}: expected an ISO-8601 time (2026-11-30T10:00:00Z) or a time ago (90m, 6h, 2d, 1w)"
        ) from None


@dataclass(frozen=True)
class ReplayRequest:
    """What to replay: an archive's events of ``[since, until)`` to one rule of the archive's bus."""

    archive_name: str
    rule: str  # a rule name or ARN on the archive's bus
    since: datetime
    until: datetime
    detail_types: tuple[str, ...] = ()


def replay_events(
    events_client: Any,
    request: ReplayRequest,
    *,
    poll_seconds: float = 5.0,
    timeout_seconds: float = 3600.0,
    grace_seconds: float = 30.0,
    log: TextIO | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Start the replay, wait for it to end, and return what was replayed (raises ReplayError on a bad request).

    ``grace_seconds``: how long a temporary rule outlives the replay, for its targets' retries.
    """
    log = log or sys.stderr
    if request.since >= request.until:
        raise ReplayError(
            f"--since {request.since:%Y-%m-%dT%H:%M:%SZ} is not before --until {request.until:%Y-%m-%dT%H:%M:%SZ}"
        )
    archive = _describe_archive(events_client, request.archive_name)
    bus_arn = archive["EventSourceArn"]
    bus_name = bus_arn.rsplit("/", 1)[-1]
    rule = _describe_rule(events_client, request.rule, bus_name)
    replay_name = _name(f"{rule['Name']}-{datetime.now(UTC):%Y%m%d%H%M%S}")
    temporary: str | None = None
    started = time.monotonic()
    try:
        if request.detail_types:
            temporary = _temporary_rule(events_client, rule, bus_name, replay_name, request.detail_types)
            filter_arn = events_client.describe_rule(Name=temporary, EventBusName=bus_name)["Arn"]
        else:
            filter_arn = rule["Arn"]
        # Said once every argument is known good, so that a mistake stays the one line printed.
        if datetime.now(UTC) - request.until < ARCHIVE_DELAY:
            log.write(
                "note: events of the last 10 minutes may not be in the archive yet (AWS advises waiting 10 minutes)\n"
            )
        events_client.start_replay(
            ReplayName=replay_name,
            Description=f"appflow-ingest replay-events to {rule['Name']}",
            EventSourceArn=archive["ArchiveArn"],
            EventStartTime=request.since,
            EventEndTime=request.until,
            Destination={"Arn": bus_arn, "FilterArns": [filter_arn]},
        )
        log.write(
            f"replay {replay_name}: started, {request.since:%Y-%m-%dT%H:%M:%SZ} to {request.until:%Y-%m-%dT%H:%M:%SZ} -> {rule['Name']}\n"
        )
        replay = _wait(events_client, replay_name, poll_seconds, timeout_seconds, log, sleep)
        if temporary and grace_seconds > 0:
            sleep(grace_seconds)
    finally:
        if temporary:
            _delete_rule(events_client, temporary, bus_name)
    return {
        "replay": replay_name,
        "state": replay["State"],
        "state_reason": replay.get("StateReason"),
        "archive": archive["ArchiveName"],
        "archive_event_count": archive.get("EventCount"),
        "bus": bus_name,
        "to": rule["Name"],
        "via_rule": temporary,
        "since": request.since.isoformat().replace("+00:00", "Z"),
        "until": request.until.isoformat().replace("+00:00", "Z"),
        "detail_types": list(request.detail_types) or None,
        "event_last_replayed_time": _iso(replay.get("EventLastReplayedTime")),
        "replay_start_time": _iso(replay.get("ReplayStartTime")),
        "replay_end_time": _iso(replay.get("ReplayEndTime")),
        "elapsed_seconds": round(time.monotonic() - started, 3),
    }


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return None if value is None else str(value)


def _name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "-", text)[:_NAME_LIMIT]


def _describe_archive(events_client: Any, name: str) -> dict[str, Any]:
    try:
        return dict(events_client.describe_archive(ArchiveName=name))
    except ClientError as error:
        if error.response["Error"]["Code"] == "ResourceNotFoundException":
            raise ReplayError(f"no archive {name!r}: is the stack deployed with its DownstreamArchive?") from None
        raise


def _describe_rule(events_client: Any, rule: str, bus_name: str) -> dict[str, Any]:
    name = rule.rsplit("/", 1)[-1] if rule.startswith("arn:") else rule
    try:
        return dict(events_client.describe_rule(Name=name, EventBusName=bus_name))
    except ClientError as error:
        if error.response["Error"]["Code"] == "ResourceNotFoundException":
            raise ReplayError(
                f"--to {rule}: no such rule on bus {bus_name} (see `aws events list-rules --event-bus-name {bus_name}`)"
            ) from None
        raise


def narrowed_pattern(pattern: dict[str, Any], detail_types: Sequence[str], replay_name: str) -> dict[str, Any]:
    """The rule's pattern, matching only ``detail_types`` and only the events of this replay."""
    wanted = list(dict.fromkeys(detail_types))
    current = pattern.get("detail-type")
    if current is not None:
        if not all(isinstance(value, str) for value in current):
            raise ReplayError(
                f"the rule matches detail-type with {json.dumps(current)}, which --detail-type cannot narrow; "
                "replay without --detail-type"
            )
        unreachable = [t for t in wanted if t not in current]
        if unreachable:
            raise ReplayError(f"the rule never receives detail-type {', '.join(unreachable)} (it matches {current})")
    return {**pattern, "detail-type": wanted, "replay-name": [replay_name]}


def _temporary_rule(
    events_client: Any, rule: dict[str, Any], bus_name: str, replay_name: str, detail_types: Sequence[str]
) -> str:
    if not rule.get("EventPattern"):
        raise ReplayError(f"rule {rule['Name']} has no event pattern (a schedule?): nothing to replay to")
    pattern = narrowed_pattern(json.loads(rule["EventPattern"]), detail_types, replay_name)
    name = f"{rule['Name']}-replay-{secrets.token_hex(3)}"
    if len(name) > _NAME_LIMIT:
        raise ReplayError(
            f"rule name {rule['Name']!r} is too long to name a temporary rule after it; replay without --detail-type"
        )
    targets = events_client.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus_name)["Targets"]
    if not targets:
        raise ReplayError(f"rule {rule['Name']} has no targets: nobody would receive the replay")
    events_client.put_rule(
        Name=name,
        EventBusName=bus_name,
        EventPattern=json.dumps(pattern),
        State="ENABLED",
        Description=f"temporary: replay {replay_name} of {','.join(detail_types)} to {rule['Name']}'s targets",
    )
    try:
        response = events_client.put_targets(Rule=name, EventBusName=bus_name, Targets=targets)
        if response.get("FailedEntryCount"):
            raise ReplayError(f"the targets of {rule['Name']} could not be copied: {response['FailedEntries']}")
    except BaseException:
        _delete_rule(events_client, name, bus_name)
        raise
    return name


def _delete_rule(events_client: Any, name: str, bus_name: str) -> None:
    ids = [t["Id"] for t in events_client.list_targets_by_rule(Rule=name, EventBusName=bus_name)["Targets"]]
    if ids:
        events_client.remove_targets(Rule=name, EventBusName=bus_name, Ids=ids)
    events_client.delete_rule(Name=name, EventBusName=bus_name)


def _wait(
    events_client: Any,
    replay_name: str,
    poll_seconds: float,
    timeout_seconds: float,
    log: TextIO,
    sleep: Callable[[float], None],
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_seconds
    cancelled = False
    try:
        while True:
            replay = dict(events_client.describe_replay(ReplayName=replay_name))
            state = replay["State"]
            last = _iso(replay.get("EventLastReplayedTime"))
            log.write(f"replay {replay_name}: {state}" + (f", replayed up to {last}" if last else "") + "\n")
            if state in FINAL_STATES or (cancelled and time.monotonic() >= deadline):
                return replay
            if not cancelled and time.monotonic() >= deadline:
                log.write(f"replay {replay_name}: not done after {timeout_seconds:.0f}s; cancelling it\n")
                events_client.cancel_replay(ReplayName=replay_name)
                cancelled, deadline = True, time.monotonic() + 60.0  # wait for CANCELLED, not for ever
            sleep(poll_seconds)
    except KeyboardInterrupt:
        log.write(f"replay {replay_name}: interrupted; cancelling it\n")
        events_client.cancel_replay(ReplayName=replay_name)
        raise
