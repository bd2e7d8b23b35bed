"""The membership wallet pass: what each member's purchases and promotions add up to, and the pass it shows.

Every source record (a member, a purchase, a promotion) makes one ``Contribution`` to one member:
numbers that are summed (``sums``: spend, purchase count) and facts that are kept by key
(``facts``: the member record is live; promotion X runs from/to). A member's ``Aggregate`` is
the sum of the contributions of the latest version of every record, and the ``pass`` is derived
from the aggregate and a date. Keeping contributions per record is what makes the aggregate
exact under any delivery order (see services/aggregate_wallet.py).

Extending it: a new summed value is one more entry in a contribution's ``sums`` and one line in
``derive_pass``; a new object is one more branch in ``contribution_of``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import orjson

from appflow_ingest.domain.rules.coercion import CoercionError, to_date, to_decimal

ZERO = Decimal(0)


@dataclass(frozen=True)
class Tier:
    """A tier of the wallet pass and the lifetime spend it starts at."""

    name: str
    threshold: Decimal  # lifetime spend from which a member holds this tier


@dataclass(frozen=True)
class WalletConfig:
    """Which objects and fields make up the wallet; parsed from WALLET_CONFIG (JSON, same keys)."""

    member_object: str = "Account"  # Person Accounts; "Contact" works the same
    purchase_object: str = "Opportunity"
    purchase_member_field: str = "AccountId"  # or ContactId
    purchase_amount_field: str = "Amount"
    won_stages: tuple[str, ...] = ("Closed Won",)
    promotion_object: str = "Promotion__c"
    promotion_member_field: str = "Member__c"  # a lookup to the member record
    promotion_start_field: str = "Start_Date__c"
    promotion_expiry_field: str = "Expiry_Date__c"
    tiers: tuple[Tier, ...] = (Tier("Bronze", ZERO), Tier("Silver", Decimal(500)), Tier("Gold", Decimal(2000)))

    @property
    def objects(self) -> frozenset[str]:
        """The Salesforce objects the wallet reads."""
        return frozenset((self.member_object, self.purchase_object, self.promotion_object))

    @classmethod
    def from_json(cls, raw: str) -> WalletConfig:
        """The configuration from WALLET_CONFIG's JSON; ValueError naming an unknown key or a bad value."""
        document = orjson.loads(raw or "{}")
        if not isinstance(document, dict):
            raise ValueError("WALLET_CONFIG: expected a JSON object")
        unknown = set(document) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(
                f"WALLET_CONFIG: unknown keys {sorted(unknown)}, expected some of {sorted(cls.__dataclass_fields__)}"
            )
        values: dict[str, Any] = dict(document)
        if "won_stages" in values:
            values["won_stages"] = tuple(values["won_stages"])
        if "tiers" in values:
            tiers = values["tiers"]  # {"Bronze": 0, "Silver": 500, "Gold": 2000}
            values["tiers"] = tuple(
                sorted(
                    (Tier(name, Decimal(str(threshold))) for name, threshold in tiers.items()),
                    key=lambda t: t.threshold,
                )
            )
            if not values["tiers"] or values["tiers"][0].threshold != 0:
                raise ValueError('WALLET_CONFIG.tiers: expected a tier from 0, e.g. {"Bronze": 0, "Silver": 500}')
        return cls(**values)


@dataclass(frozen=True)
class Contribution:
    """What one version of one source record adds to one member (``member`` None: to nobody)."""

    member: str | None = None
    sums: Mapping[str, Decimal] = field(default_factory=dict)
    facts: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The contribution as stored (JSON-ready: sums as decimal strings)."""
        return {"member": self.member, "sums": {k: str(v) for k, v in self.sums.items()}, "facts": dict(self.facts)}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Contribution:
        """A contribution from its stored JSON form."""
        return cls(
            document.get("member"),
            {k: Decimal(v) for k, v in (document.get("sums") or {}).items()},
            dict(document.get("facts") or {}),
        )


NOTHING = Contribution()


def contribution_of(
    config: WalletConfig, object_name: str, record_id: str, record: Mapping[str, Any] | None, deleted: bool
) -> Contribution | None:
    """The contribution of one record version; None when the object is not part of the wallet."""
    if object_name not in config.objects:
        return None
    if deleted or record is None:
        return NOTHING
    if object_name == config.member_object:
        return Contribution(record_id, facts={"member": {"id": record_id}})
    if object_name == config.purchase_object:
        member = _text(record.get(config.purchase_member_field))
        if member is None or record.get("StageName") not in config.won_stages:
            return NOTHING
        amount = _money(record.get(config.purchase_amount_field))
        return Contribution(member, sums={"spend": amount, "purchases": Decimal(1)})
    member = _text(record.get(config.promotion_member_field))
    if member is None:
        return NOTHING
    promotion = {
        "id": record_id,
        "name": _text(record.get("Name")),
        "starts": _date(record.get(config.promotion_start_field)),
        "expires": _date(record.get(config.promotion_expiry_field)),
    }
    return Contribution(member, facts={f"promotion:{record_id}": promotion})


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _money(value: Any) -> Decimal:
    # Rules quarantine a malformed Amount; without rules on the flow, an unreadable amount counts 0
    # rather than failing the stream forever on one record.
    try:
        return to_decimal(value) or ZERO
    except CoercionError:
        return ZERO


def _date(value: Any) -> str | None:
    try:
        return to_date(value)
    except CoercionError:
        return None


# ------------------------------------------------------------------------------------ aggregates
@dataclass
class Aggregate:
    """One member's contributions summed: what the pass is derived from."""

    member: str
    sums: dict[str, Decimal] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)

    def add(self, contribution: Contribution, sign: int = 1) -> None:
        """Add a contribution to the sums and facts, or take it away with sign -1."""
        for name, value in contribution.sums.items():
            total = self.sums.get(name, ZERO) + sign * value
            if total:
                self.sums[name] = total
            else:
                self.sums.pop(name, None)  # zero and absent are the same aggregate
        for name, value in contribution.facts.items():
            if sign > 0:
                self.facts[name] = value
            else:
                self.facts.pop(name, None)


def derive_pass(aggregate: Aggregate, config: WalletConfig, today: date) -> dict[str, Any]:
    """The pass a member's phone shows, as of ``today`` (promotion dates are inclusive, in UTC).

    The date itself is not part of the pass: re-deriving on another day changes the pass only if
    a promotion started or expired in between, so "nothing changed" publishes nothing.
    """
    spend = aggregate.sums.get("spend", ZERO)
    reached = [tier for tier in config.tiers if spend >= tier.threshold]
    tier = reached[-1] if reached else config.tiers[0]
    above = [t for t in config.tiers if t.threshold > spend]
    next_tier = above[0] if above else None
    day = today.isoformat()
    promotions = sorted(
        (fact for name, fact in aggregate.facts.items() if name.startswith("promotion:")), key=lambda p: p["id"]
    )
    return {
        "member_id": aggregate.member,
        "status": "active" if "member" in aggregate.facts else "inactive",
        "lifetime_spend": _money_text(spend),
        "purchases": int(aggregate.sums.get("purchases", ZERO)),
        "tier": tier.name,
        "next_tier": next_tier.name if next_tier else None,
        "to_next_tier": _money_text(next_tier.threshold - spend) if next_tier else None,
        "active_promotions": [
            {"id": p["id"], "name": p["name"], "expires": p["expires"]}
            for p in promotions
            if p["starts"] and p["expires"] and p["starts"] <= day <= p["expires"]
        ],
        "upcoming_promotions": [
            {"id": p["id"], "name": p["name"], "starts": p["starts"]}
            for p in promotions
            if p["starts"] and p["starts"] > day and (not p["expires"] or p["expires"] >= p["starts"])
        ],
    }


def next_change(aggregate: Aggregate, today: date) -> date | None:
    """The first day after ``today`` on which ``derive_pass`` may give another pass; None: no such day.

    Only promotions depend on the date: a pass may change on the day one starts and on the day
    after one expires (dates are inclusive). Re-deriving the passes whose day has come, and only
    those (services/rederive_passes.py), keeps every pass true every day.
    """
    days = []
    for name, fact in aggregate.facts.items():
        if not name.startswith("promotion:"):
            continue
        for text, shift in ((fact.get("starts"), 0), (fact.get("expires"), 1)):
            try:
                day = date.fromisoformat(text) + timedelta(days=shift) if text else None
            except ValueError:
                day = None  # the rules give ISO dates; a bad one has no day to wait for
            if day is not None and day > today:
                days.append(day)
    return min(days, default=None)


def _money_text(amount: Decimal) -> str:
    """Exact, canonical, never in exponent form: ``2000``, ``1234.5``.

    Canonical so that the same amount reached two ways (``550.5 - 250.5`` is ``300.0``) is the
    same pass, and publishes nothing.
    """
    return f"{amount.normalize():f}"
