"""Derive again, on the day, the wallet passes that the calendar alone changes.

A pass shows the promotions active today: one that starts or expires while nothing else about its
member changes must still show on (or leave) the pass that day. Every pass item records the next
day it may change by date alone (``next_change``, domain/wallet.py); a daily schedule re-derives
exactly the passes whose day has come, nothing else, through the same conditional commit as the
aggregation (adapters/wallet_store.py). The publisher then sends ``MemberPass Changed`` only if
the pass did change, so the event fires on the day a promotion starts or ends and never otherwise.

Why this is exact whatever the scheduler and Lambda do:

- a duplicate or retried run of the same day finds nothing due (each pass re-derived carries its
  next day), and re-deriving the same aggregate for the same day gives the same pass;
- a member whose records change meanwhile: the pass is written conditioned on the revision it was
  read at, so one of the two writers loses, reads again and recomputes;
- a missed day: everything due up to the run's day is due, however late the run.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from appflow_ingest.domain.wallet import WalletConfig, derive_pass, next_change
from appflow_ingest.observability import logger, metrics
from appflow_ingest.ports.wallet import DuePassStore, PassWrite


class RederiveUnfinished(RuntimeError):
    """Time ran out before every due pass was derived again; the scheduler's retry does the rest."""


@dataclass
class RederiveReport:
    """What one scheduled run did: passes due, derived again, no longer due, and retries."""

    day: str
    due: int = 0  # passes the index named as due
    rederived: int = 0  # passes written for the day (the pass itself changed or not)
    not_due: int = 0  # already re-derived (a duplicate run) or changed meanwhile
    retries: int = 0
    members: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The report as a JSON-ready dict (without the member ids)."""
        return {
            "day": self.day,
            "due": self.due,
            "rederived": self.rederived,
            "not_due": self.not_due,
            "retries": self.retries,
        }


def run_day(event: Mapping[str, Any] | None, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> date:
    """The day a run is for: the schedule's own time (``scheduled_time``, UTC), else the clock's.

    So a late retry or a replayed event derives the day it was meant for.
    """
    text = (event or {}).get("scheduled_time")
    if not text:
        return now().date()
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"scheduled_time: expected an ISO-8601 time, got {text!r}") from None
    return (moment.astimezone(UTC) if moment.tzinfo else moment).date()


class PassRederiver:
    """Derives again the wallet passes whose next change (a promotion starting or ending) is due."""

    def __init__(
        self,
        store: DuePassStore,
        config: WalletConfig,
        *,
        max_attempts: int = 12,
        backoff_seconds: float = 0.02,
        batch: int = 100,
    ) -> None:
        self._store = store
        self.config = config
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._batch = batch

    def rederive(self, day: date, *, remaining_ms: Callable[[], int] | None = None) -> RederiveReport:
        """Derive again, for ``day``, every pass whose next change is due on or before it."""
        report = RederiveReport(day.isoformat())
        members = list(dict.fromkeys(self._store.due_members(day)))
        report.due = len(members)
        for start in range(0, len(members), self._batch):
            if remaining_ms is not None and remaining_ms() < 10_000:
                raise RederiveUnfinished(f"{len(members) - start} due pass(es) left for the retry")
            self._rederive_batch(members[start : start + self._batch], day, report)
        return report

    def _rederive_batch(self, members: list[str], day: date, report: RederiveReport) -> None:
        pending = members
        for attempt in range(self._max_attempts):
            if not pending:
                return
            if attempt:
                report.retries += 1
                time.sleep(random.uniform(0, self._backoff * 2**attempt))
            lost = []
            for member, stored in self._store.read_passes(pending).items():
                if stored.next_change is None or stored.next_change > day.isoformat():
                    report.not_due += 1  # done by an earlier run of this day, or by the aggregation
                    continue
                write = PassWrite(
                    member,
                    stored.aggregate,
                    derive_pass(stored.aggregate, self.config, day),
                    stored.revision,
                    next_change(stored.aggregate, day),
                )
                if self._store.commit([], [write]):
                    report.rederived += 1
                    report.members.append(member)
                else:
                    lost.append(member)
            pending = lost
        if pending:
            raise RederiveUnfinished(f"{len(pending)} pass(es) still contended after {self._max_attempts} attempts")


def rederive_passes(
    event: Mapping[str, Any], *, rederiver: PassRederiver, remaining_ms: Callable[[], int] | None = None
) -> dict[str, Any]:
    """The scheduled run: derive again the passes due on the scheduled day; raise when unfinished.

    The scheduler retries, and the retry finds only what is still due.
    """
    day = run_day(event)
    report = rederiver.rederive(day, remaining_ms=remaining_ms)
    metrics.add_metric(name="PassesDue", unit=MetricUnit.Count, value=report.due)
    metrics.add_metric(name="PassesRederived", unit=MetricUnit.Count, value=report.rederived)
    logger.info("wallet passes derived again", extra=report.as_dict())
    return report.as_dict()
