"""The wallet pass end to end through the template's wiring: ingest -> entity stream -> aggregate -> derived stream -> publish."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema

from appflow_local.clients import Emulator
from appflow_local.emulator.runtime import LocalRuntime
from appflow_local.stack.description import landing_bucket
from appflow_local.stack.provision import provision
from appflow_local.stack.readback import published_events
from appflow_local.stack.template import Template

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
PASS_SCHEMA = json.loads((TEMPLATE.parent / "schemas" / "member-pass-changed.schema.json").read_text())
FLOWS = {
    "members": {"object": "Account", "rules": "account-member"},
    "purchases": {"object": "Opportunity", "rules": "purchase"},
    "promotions": {"object": "Promotion__c", "rules": "promotion"},
}
ADA, BOB = "0015g00000AdaAAAAZ", "0015g00000BobAAAAZ"
TODAY = datetime.now(UTC).date()


def _purchase(number: int, member: str, amount, modified: str, stage: str = "Closed Won") -> dict:
    return {
        "Id": f"0065g00000Pur{number:02d}AAA",
        "Name": f"Order {number}",
        "AccountId": member,
        "Amount": amount,
        "StageName": stage,
        "LastModifiedDate": modified,
    }


def _member(member: str, modified: str, **fields) -> dict:
    return {"Id": member, "Name": member[-6:], "LastModifiedDate": modified, **fields}


def _lines(records) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


class Stack:
    def __init__(self, moto_endpoint: str, stack_name: str) -> None:
        self.emulator = Emulator(moto_endpoint)
        template = Template.load(TEMPLATE)
        self.stack = provision(
            template,
            self.emulator,
            stack_name=stack_name,
            parameter_overrides={"FlowObjects": json.dumps(FLOWS), "WalletConfig": "{}"},
        )
        self.runtime = LocalRuntime(self.emulator, self.stack, template, log_sink=io.StringIO())
        self.bucket = landing_bucket(self.stack, template)
        self.seen = 0
        self.files = 0

    def land(self, flow: str, records: list[dict]) -> list[dict]:
        """Land one file, run everything until drained; return the MemberPass events it caused."""
        self.files += 1
        self.emulator.s3.put_object(Bucket=self.bucket, Key=f"{flow}/exec-{self.files}/part", Body=_lines(records))
        assert self.runtime.run_until_drained().ok
        events = published_events(self.emulator, self.stack)
        new, self.seen = events[self.seen :], len(events)
        passes = [e for e in new if e["detail-type"] == "MemberPass Changed"]
        for event in passes:
            jsonschema.validate(event, PASS_SCHEMA)  # the documented contract
        return [e["detail"] for e in passes]


def test_member_passes_follow_purchases_promotions_and_members_and_only_real_changes_publish(moto_endpoint, stack_name):
    stack = Stack(moto_endpoint, stack_name)

    # A purchase that arrives before its member: counted, but nobody holds the pass yet
    assert stack.land("purchases", [_purchase(1, ADA, "300.0", "2024-04-16T10:00:00.000Z")]) == []

    # The members arrive: one event each, Ada's purchase already counted
    events = stack.land(
        "members", [_member(ADA, "2024-04-16T09:00:00.000+0000"), _member(BOB, "2024-04-16T09:00:00.000Z")]
    )
    assert sorted((e["member_id"], e["lifetime_spend"], e["tier"], e["to_next_tier"]) for e in events) == [
        (ADA, "300", "Bronze", "200"),
        (BOB, "0", "Bronze", "500"),
    ]

    # Two more purchases, Bulk-formatted, one of them lost: Silver
    events = stack.land(
        "purchases",
        [
            _purchase(2, ADA, "250.5", "2024-04-16T11:00:00.000Z"),
            _purchase(3, ADA, 9999, "2024-04-16T11:00:00.000Z", "Closed Lost"),
        ],
    )
    assert [(e["lifetime_spend"], e["tier"], e["next_tier"], e["to_next_tier"]) for e in events] == [
        ("550.5", "Silver", "Gold", "1449.5")
    ]

    # The same file again, and an older version of purchase 1: nothing changes, nothing is published
    assert stack.land("purchases", [_purchase(2, ADA, 250.5, "2024-04-16T11:00:00.000+0000")]) == []
    assert stack.land("purchases", [_purchase(1, ADA, "5000", "2024-04-15T00:00:00.000Z")]) == []

    # Purchase 2 moves to Bob: both passes change, each once
    events = stack.land("purchases", [_purchase(2, BOB, "250.5", "2024-04-17T08:00:00.000Z")])
    assert sorted((e["member_id"], e["lifetime_spend"], e["tier"]) for e in events) == [
        (ADA, "300", "Bronze"),
        (BOB, "250.5", "Bronze"),
    ]

    # A promotion for Ada running today and one that starts next week
    week = timedelta(days=7)
    promotions = [
        {"Id": "a0P5g00000Pro01EAB", "Name": "Double points", "Member__c": ADA, "Start_Date__c": (TODAY - week).isoformat(),
         "Expiry_Date__c": (TODAY + week).isoformat(), "LastModifiedDate": "2024-04-17T09:00:00.000Z"},
        {"Id": "a0P5g00000Pro02EAB", "Name": "Next week", "Member__c": ADA, "Start_Date__c": (TODAY + week).isoformat(),
         "Expiry_Date__c": (TODAY + 2 * week).isoformat(), "LastModifiedDate": "2024-04-17T09:00:00.000Z"},
    ]  # fmt: skip
    (event,) = stack.land("promotions", promotions)
    assert [p["name"] for p in event["active_promotions"]] == ["Double points"]
    assert [p["name"] for p in event["upcoming_promotions"]] == ["Next week"]

    # Ada is deleted: her pass is revoked once; her purchases stay counted should she come back
    (event,) = stack.land("members", [_member(ADA, "2024-04-18T09:00:00.000Z", IsDeleted=True)])
    assert (event["status"], event["lifetime_spend"], event["previous"]["status"]) == ("inactive", "300", "active")
    (event,) = stack.land("members", [_member(ADA, "2024-04-19T09:00:00.000Z")])
    assert event["status"] == "active"
