"""The wallet pass's pure parts: contributions, derivation, configuration, and the events of derived items."""

from datetime import date, timedelta
from decimal import Decimal

import orjson
import pytest

from appflow_ingest.domain.bus_events.derived_items import derived_item_event
from appflow_ingest.domain.wallet import (
    NOTHING,
    Aggregate,
    Contribution,
    Tier,
    WalletConfig,
    contribution_of,
    derive_pass,
    next_change,
)

CONFIG = WalletConfig()
MEMBER = "0015g00000AbcDEAAZ"


def purchase(**fields):
    return {"Id": "0065g00000AbcDEAAZ", "AccountId": MEMBER, "StageName": "Closed Won", "Amount": 100, **fields}


@pytest.mark.parametrize("amount", [100, 100.0, "100", "100.0"])
def test_a_won_purchase_contributes_its_amount_in_any_form(amount):
    contribution = contribution_of(CONFIG, "Opportunity", "006", purchase(Amount=amount), deleted=False)
    assert contribution == Contribution(MEMBER, {"spend": Decimal(100), "purchases": Decimal(1)})


@pytest.mark.parametrize(
    ("record", "deleted"),
    [
        (purchase(StageName="Closed Lost"), False),
        (purchase(AccountId=None), False),
        (purchase(AccountId=""), False),
        (purchase(), True),
    ],
)
def test_lost_unlinked_or_deleted_purchases_contribute_nothing(record, deleted):
    assert contribution_of(CONFIG, "Opportunity", "006", record, deleted) == NOTHING


def test_an_unreadable_amount_counts_zero_instead_of_blocking_the_stream():
    assert contribution_of(CONFIG, "Opportunity", "006", purchase(Amount="n/a"), False).sums["spend"] == 0


def test_objects_outside_the_wallet_are_ignored():
    assert contribution_of(CONFIG, "Case", "500", {"Id": "500"}, False) is None


def test_the_member_link_is_configurable():
    config = WalletConfig(member_object="Contact", purchase_member_field="ContactId")
    record = purchase(ContactId="0035g00000AbcDEAAZ")
    assert contribution_of(config, "Opportunity", "006", record, False).member == "0035g00000AbcDEAAZ"
    assert contribution_of(config, "Contact", "0035g00000AbcDEAAZ", {}, False).facts == {
        "member": {"id": "0035g00000AbcDEAAZ"}
    }


def test_a_promotion_is_a_fact_of_its_member():
    record = {"Name": "Summer", "Member__c": MEMBER, "Start_Date__c": "2024-06-01", "Expiry_Date__c": "2024-06-30"}
    contribution = contribution_of(CONFIG, "Promotion__c", "a0P1", record, False)
    assert contribution.member == MEMBER
    assert contribution.facts == {
        "promotion:a0P1": {"id": "a0P1", "name": "Summer", "starts": "2024-06-01", "expires": "2024-06-30"}
    }


def aggregate(spend, *facts):
    result = Aggregate(MEMBER, {"spend": Decimal(spend)} if spend else {}, {"member": {"id": MEMBER}})
    for fact in facts:
        result.facts[f"promotion:{fact['id']}"] = fact
    return result


@pytest.mark.parametrize(
    ("spend", "tier", "next_tier", "to_next"),
    [
        ("0", "Bronze", "Silver", "500"),
        ("499.99", "Bronze", "Silver", "0.01"),
        ("500", "Silver", "Gold", "1500"),
        ("2000", "Gold", None, None),
        ("123456.78", "Gold", None, None),
    ],
)
def test_tier_and_amount_to_the_next_tier(spend, tier, next_tier, to_next):
    derived = derive_pass(aggregate(spend), CONFIG, date(2024, 6, 15))
    assert (derived["tier"], derived["next_tier"], derived["to_next_tier"]) == (tier, next_tier, to_next)
    assert Decimal(derived["lifetime_spend"]) == Decimal(spend) and derived["status"] == "active"
    assert "." not in derived["lifetime_spend"] or not derived["lifetime_spend"].endswith("0")


def test_money_is_exact_decimal_arithmetic():
    total = Aggregate(MEMBER)
    for _ in range(10):
        total.add(Contribution(MEMBER, {"spend": Decimal("0.1")}))
    assert total.sums["spend"] == Decimal("1.0")  # 0.1 summed ten times as floats is 0.9999999999999999


def test_removing_what_was_added_leaves_the_empty_aggregate():
    total = Aggregate(MEMBER)
    contribution = Contribution(MEMBER, {"spend": Decimal("12.5")}, {"promotion:x": {"id": "x"}})
    total.add(contribution)
    total.add(contribution, sign=-1)
    assert total == Aggregate(MEMBER)


def test_active_and_upcoming_promotions_as_of_a_date_inclusive():
    promotions = [
        {"id": "a", "name": "Past", "starts": "2024-05-01", "expires": "2024-06-14"},
        {"id": "b", "name": "Today only", "starts": "2024-06-15", "expires": "2024-06-15"},
        {"id": "c", "name": "Next month", "starts": "2024-07-01", "expires": "2024-07-31"},
    ]
    derived = derive_pass(aggregate("0", *promotions), CONFIG, date(2024, 6, 15))
    assert derived["active_promotions"] == [{"id": "b", "name": "Today only", "expires": "2024-06-15"}]
    assert derived["upcoming_promotions"] == [{"id": "c", "name": "Next month", "starts": "2024-07-01"}]


def test_a_pass_without_its_member_record_is_inactive():
    assert derive_pass(Aggregate(MEMBER, {"spend": Decimal(5)}), CONFIG, date(2024, 6, 15))["status"] == "inactive"


def test_configuration_from_json():
    config = WalletConfig.from_json('{"member_object": "Contact", "tiers": {"Gold": 1000, "Basic": 0}}')
    assert config.member_object == "Contact"
    assert config.tiers == (Tier("Basic", Decimal(0)), Tier("Gold", Decimal(1000)))
    with pytest.raises(ValueError, match="unknown keys"):
        WalletConfig.from_json('{"member": "Contact"}')
    with pytest.raises(ValueError, match="from 0"):
        WalletConfig.from_json('{"tiers": {"Gold": 1000}}')


# ------------------------------------------------------------------------------------ derived events
def pass_image(revision, **derived):
    base = {"member_id": MEMBER, "status": "active", "lifetime_spend": "0", "tier": "Bronze"}
    return {
        "pk": f"pass#{MEMBER}",
        "kind": "pass",
        "member_id": MEMBER,
        "revision": revision,
        "pass": orjson.dumps({**base, **derived}).decode(),
    }


def test_a_changed_pass_is_one_member_pass_event_with_a_deterministic_id():
    event = derived_item_event(pass_image(1, lifetime_spend="0"), pass_image(2, lifetime_spend="100"))
    assert event.detail_type == "MemberPass Changed"
    assert event.detail["lifetime_spend"] == "100" and event.detail["previous"]["lifetime_spend"] == "0"
    again = derived_item_event(pass_image(1, lifetime_spend="0"), pass_image(2, lifetime_spend="100"))
    assert event.event_id == again.event_id and event.event_id.startswith(f"MemberPass:{MEMBER}:2:")


def test_an_unchanged_pass_publishes_nothing():
    assert derived_item_event(pass_image(1), pass_image(2)) is None


def test_a_pass_nobody_holds_yet_publishes_nothing_and_its_revocation_does():
    assert derived_item_event(None, pass_image(1, status="inactive", lifetime_spend="5")) is None
    revoked = derived_item_event(pass_image(1), pass_image(2, status="inactive"))
    assert revoked.detail["status"] == "inactive"


def test_contributions_publish_nothing_and_a_schema_sighting_publishes_once():
    assert derived_item_event(None, {"pk": "contrib#Opportunity#006", "kind": "contribution", "version": 1}) is None
    sighting = {"pk": "schema#Contact#New__c", "kind": "schema", "object": "Contact", "field": "New__c"}
    event = derived_item_event(None, sighting)
    assert (event.detail_type, event.event_id) == ("Schema Changed", "SchemaChanged:Contact:New__c")
    assert derived_item_event(sighting, sighting) is None


# ------------------------------------------------------------------------------------ the calendar
def _with_promotions(*spans: tuple[str | None, str | None]) -> Aggregate:
    facts = {
        f"promotion:P{i}": {"id": f"P{i}", "name": f"P{i}", "starts": starts, "expires": expires}
        for i, (starts, expires) in enumerate(spans)
    }
    return Aggregate(MEMBER, {}, {"member": {"id": MEMBER}, **facts})


@pytest.mark.parametrize(
    ("spans", "today", "expected"),
    [
        ((), date(2024, 6, 1), None),  # no promotion: the calendar never changes the pass
        ((("2024-06-10", "2024-06-20"),), date(2024, 6, 1), date(2024, 6, 10)),  # upcoming: its start
        ((("2024-06-10", "2024-06-20"),), date(2024, 6, 10), date(2024, 6, 21)),  # running: the day after it expires
        ((("2024-06-10", "2024-06-20"),), date(2024, 6, 20), date(2024, 6, 21)),
        ((("2024-06-10", "2024-06-20"),), date(2024, 6, 21), None),  # over
        ((("2024-06-10", "2024-06-20"), ("2024-06-05", "2024-06-07")), date(2024, 6, 1), date(2024, 6, 5)),
        ((("2024-06-10", None),), date(2024, 6, 1), date(2024, 6, 10)),  # leaves "upcoming" on its start
        (((None, "2024-06-20"),), date(2024, 6, 1), date(2024, 6, 21)),
        ((("not a date", "2024-06-20"),), date(2024, 6, 1), date(2024, 6, 21)),
    ],
)
def test_next_change_is_the_first_day_the_calendar_alone_may_change_the_pass(spans, today, expected):
    assert next_change(_with_promotions(*spans), today) == expected


def test_on_every_day_before_next_change_the_pass_is_the_same():
    aggregate = _with_promotions(("2024-06-10", "2024-06-20"), ("2024-06-15", "2024-06-30"))
    day = date(2024, 6, 1)
    while (following := next_change(aggregate, day)) is not None:
        derived = derive_pass(aggregate, CONFIG, day)
        for offset in range(1, (following - day).days):
            assert derive_pass(aggregate, CONFIG, day + timedelta(days=offset)) == derived
        assert derive_pass(aggregate, CONFIG, following) != derived
        day = following
    assert derive_pass(aggregate, CONFIG, day + timedelta(days=365)) == derive_pass(aggregate, CONFIG, day)
