"""Ports of the wallet's state: contributions per source record, aggregate and pass per member, committed together."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple, Protocol

from appflow_ingest.domain.wallet import Aggregate, Contribution


class StoredContribution(NamedTuple):
    """A source record's contribution as counted, and the version it was computed from."""

    version: int
    contribution: Contribution


class StoredPass(NamedTuple):
    """A member's aggregate, its pass as derived, and the revision both were written at."""

    aggregate: Aggregate
    revision: int
    derived: dict[str, Any] | None
    next_change: str | None = None  # ISO date the pass may change on by the calendar alone


@dataclass(frozen=True)
class ContributionWrite:
    """A contribution to store, conditioned on the version it was read at."""

    source_key: str
    version: int
    contribution: Contribution
    read_version: int | None  # None: the item did not exist when read


@dataclass(frozen=True)
class PassWrite:
    """A member's aggregate and pass to store, conditioned on the revision they were read at."""

    member: str
    aggregate: Aggregate
    derived: dict[str, Any]
    read_revision: int  # 0: the item did not exist when read
    next_change: date | None = None  # the day the pass must be derived again (domain/wallet.next_change)

    @property
    def revision(self) -> int:
        """The revision this write stores."""
        return self.read_revision + 1


class WalletStore(Protocol):
    """The aggregation's side of the wallet's state (adapters/wallet_store.py)."""

    def read_contributions(self, source_keys: Iterable[str]) -> dict[str, StoredContribution]:
        """The contributions stored for these source records (absent: never counted)."""
        ...

    def read_passes(self, members: Iterable[str]) -> dict[str, StoredPass]:
        """The aggregates and passes stored for these members (absent: none yet)."""
        ...

    def commit(self, contributions: Sequence[ContributionWrite], passes: Sequence[PassWrite]) -> bool:
        """Write all of it or none of it; False when another writer changed an item since it was read."""
        ...


class DuePassStore(Protocol):
    """The re-derivation's side of the wallet's state: passes the calendar alone changes."""

    def due_members(self, today: date) -> Iterator[str]:
        """The members whose pass may change by date alone on or before ``today``."""
        ...

    def read_passes(self, members: list[str]) -> dict[str, StoredPass]:
        """The aggregates and passes stored for these members."""
        ...

    def commit(self, contributions: Sequence[ContributionWrite], passes: Sequence[PassWrite]) -> bool:
        """Write all of it or none of it; False when another writer changed an item since it was read."""
        ...
