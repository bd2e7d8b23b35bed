"""The daily re-derivation's logic against an in-memory store: what a conflict, a retry or a timeout does."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime

import pytest

from appflow_ingest.domain.wallet import Aggregate, WalletConfig, derive_pass, next_change
from appflow_ingest.ports.wallet import ContributionWrite, PassWrite, StoredPass
from appflow_ingest.services.rederive_passes import PassRederiver, RederiveUnfinished, run_day

CONFIG = WalletConfig()
DAY = date(2024, 6, 10)


class MemoryPasses:
    """Pass items by member, committed conditioned on their revision, as DynamoWalletStore does."""

    def __init__(self) -> None:
        self.passes: dict[str, StoredPass] = {}
        self.lose_next: set[str] = set()  # members whose next commit another writer wins
        self.commits = 0

    def add(self, member: str, starts: str, expires: str, today: date) -> None:
        aggregate = Aggregate(
            member,
            {},
            {"member": {"id": member}, "promotion:P": {"id": "P", "name": "P", "starts": starts, "expires": expires}},
        )
        due = next_change(aggregate, today)
        self.passes[member] = StoredPass(aggregate, 1, derive_pass(aggregate, CONFIG, today), due and due.isoformat())

    def due_members(self, today: date) -> Iterator[str]:
        return iter([m for m, p in self.passes.items() if p.next_change and p.next_change <= today.isoformat()])

    def read_passes(self, members: list[str]) -> dict[str, StoredPass]:
        return {m: self.passes[m] for m in members if m in self.passes}

    def commit(self, contributions: Sequence[ContributionWrite], passes: Sequence[PassWrite]) -> bool:
        [write] = passes
        if write.member in self.lose_next:
            self.lose_next.discard(write.member)
            stored = self.passes[write.member]
            self.passes[write.member] = stored._replace(revision=stored.revision + 1)  # the other writer's commit
            return False
        if self.passes[write.member].revision != write.read_revision:
            return False
        self.commits += 1
        self.passes[write.member] = StoredPass(
            write.aggregate, write.revision, write.derived, write.next_change and write.next_change.isoformat()
        )
        return True


def test_exactly_the_due_passes_are_derived_again_and_a_second_run_of_the_day_does_nothing():
    store = MemoryPasses()
    store.add("due", "2024-06-10", "2024-06-20", date(2024, 6, 1))
    store.add("later", "2024-06-15", "2024-06-20", date(2024, 6, 1))
    report = PassRederiver(store, CONFIG).rederive(DAY)
    assert (report.due, report.rederived, report.members) == (1, 1, ["due"])
    assert store.passes["due"].derived["active_promotions"][0]["id"] == "P"
    assert store.passes["due"].next_change == "2024-06-21"
    assert PassRederiver(store, CONFIG).rederive(DAY).due == 0


def test_a_pass_another_writer_changed_meanwhile_is_read_again_and_derived_once():
    store = MemoryPasses()
    store.add("ada", "2024-06-10", "2024-06-20", date(2024, 6, 1))
    store.lose_next.add("ada")
    report = PassRederiver(store, CONFIG, backoff_seconds=0).rederive(DAY)
    assert (report.rederived, report.retries, store.commits) == (1, 1, 1)


def test_a_run_out_of_time_fails_so_the_retry_does_the_rest_and_only_the_rest():
    store = MemoryPasses()
    for n in range(5):
        store.add(f"m{n}", "2024-06-10", "2024-06-20", date(2024, 6, 1))
    budget = iter([60_000, 5_000])  # enough for the first batch, not for the second
    with pytest.raises(RederiveUnfinished, match="3 due pass"):
        PassRederiver(store, CONFIG, batch=2).rederive(DAY, remaining_ms=lambda: next(budget))
    assert store.commits == 2
    retry = PassRederiver(store, CONFIG, batch=2).rederive(DAY, remaining_ms=lambda: 60_000)
    assert (retry.due, retry.rederived, store.commits) == (3, 3, 5)


def test_the_day_is_the_scheduled_one_whatever_time_the_retry_runs():
    assert run_day({"scheduled_time": "2024-06-10T00:05:00Z"}) == DAY
    assert run_day({"scheduled_time": "2024-06-10T23:30:00-02:00"}) == date(2024, 6, 11)  # UTC
    assert run_day({}, now=lambda: datetime(2024, 6, 10, 12, tzinfo=UTC)) == DAY
    with pytest.raises(ValueError, match="scheduled_time"):
        run_day({"scheduled_time": "yesterday"})
