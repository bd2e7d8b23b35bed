"""The wallet pass is true every day: the daily re-derivation driven in local mode with a clock we control.

The stack is provisioned from a configuration file (pushed to the emulator's SSM, read by the
functions through Powertools), records land through the whole pipeline, then the scheduled
function is invoked as EventBridge Scheduler would, with ``scheduled_time`` set to the day we
choose. ``MemberPass Changed`` must fire on the day a promotion starts and on the day after it
expires, and on no other day, however often a day's run is delivered.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appflow_local.clients import Emulator
from appflow_local.emulator.runtime import LocalRuntime
from appflow_local.stack.description import landing_bucket
from appflow_local.stack.provision import provision_with_config
from appflow_local.stack.readback import member_passes, published_events
from appflow_local.stack.template import Template

pytestmark = pytest.mark.integration

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
TODAY = datetime.now(UTC).date()
ADA, BOB = "0015g00000AdaAAAAZ", "0015g00000BobAAAAZ"
CONFIG = """
objects:
  Account: {rules: account-member}
  Opportunity: {rules: purchase}
  Promotion__c: {rules: promotion}
flows:
  members: {object: Account}
  purchases: {object: Opportunity}
  promotions: {object: Promotion__c}
wallet:
  tiers: {Bronze: 0, Silver: 500, Gold: 2000}
"""


def _day(offset: int) -> str:
    return (TODAY + timedelta(days=offset)).isoformat()


class Wallet:
    def __init__(self, endpoint: str, stack_name: str, config: Path) -> None:
        self.emulator = Emulator(endpoint)
        template = Template.load(TEMPLATE)
        self.stack = provision_with_config(template, self.emulator, stack_name, config)
        self.runtime = LocalRuntime(self.emulator, self.stack, template, log_sink=io.StringIO())
        self.bucket = landing_bucket(self.stack, template)
        self.seen = 0
        self.files = 0

    def land(self, flow: str, records: list[dict]) -> None:
        self.files += 1
        body = b"".join(json.dumps(r).encode() + b"\n" for r in records)
        self.emulator.s3.put_object(Bucket=self.bucket, Key=f"{flow}/exec-{self.files}/part", Body=body)
        assert self.runtime.run_until_drained().ok

    def run_day(self, offset: int) -> dict:
        """The scheduled run for TODAY + offset, as Scheduler sends it, then the publisher drained."""
        invocation = self.runtime.invoke("rederive", {"scheduled_time": f"{_day(offset)}T00:05:00Z"})
        assert not invocation.failed, invocation.error
        assert self.runtime.run_until_drained().ok
        return invocation.result

    def new_pass_events(self) -> list[dict]:
        events = published_events(self.emulator, self.stack)
        new, self.seen = events[self.seen :], len(events)
        return [e["detail"] for e in new if e["detail-type"] == "MemberPass Changed"]


def test_a_promotion_shows_on_the_day_it_starts_and_leaves_the_day_after_it_expires(
    moto_endpoint, stack_name, tmp_path
):
    config = tmp_path / "wallet.yaml"
    config.write_text(CONFIG)
    wallet = Wallet(moto_endpoint, stack_name, config)
    modified = "2024-05-01T10:00:00.000+0000"
    # Given Ada with a promotion from day 2 to day 4, and Bob with none
    wallet.land("members", [{"Id": m, "Name": m[-6:], "LastModifiedDate": modified} for m in (ADA, BOB)])
    wallet.land(
        "promotions",
        [
            {
                "Id": "a0P5g00000Pro01EAB",
                "Name": "Double points",
                "Member__c": ADA,
                "Start_Date__c": _day(2),
                "Expiry_Date__c": _day(4),
                "LastModifiedDate": modified,
            }
        ],
    )
    initial = {e["member_id"]: e for e in wallet.new_pass_events()}
    assert initial[ADA]["upcoming_promotions"] == [
        {"id": "a0P5g00000Pro01EAB", "name": "Double points", "starts": _day(2)}
    ]
    assert initial[ADA]["active_promotions"] == []

    # Day 1: nothing is due, nothing is derived, nothing is published
    assert wallet.run_day(1)["due"] == 0
    assert wallet.new_pass_events() == []

    # Day 2: the promotion starts; only Ada's pass is due, and it changes
    report = wallet.run_day(2)
    assert (report["due"], report["rederived"]) == (1, 1)
    [started] = wallet.new_pass_events()
    assert started["member_id"] == ADA
    assert started["active_promotions"] == [{"id": "a0P5g00000Pro01EAB", "name": "Double points", "expires": _day(4)}]
    assert started["upcoming_promotions"] == []

    # The same day's run delivered again: nothing is due any more, nothing is published
    assert wallet.run_day(2)["due"] == 0
    assert wallet.new_pass_events() == []

    # Days 3 and 4: still running, no change
    for offset in (3, 4):
        assert wallet.run_day(offset)["due"] == 0
    assert wallet.new_pass_events() == []

    # Day 5: the day after its expiry it leaves the pass
    assert wallet.run_day(5)["rederived"] == 1
    [ended] = wallet.new_pass_events()
    assert (ended["member_id"], ended["active_promotions"], ended["upcoming_promotions"]) == (ADA, [], [])

    # From then on Ada's pass has no calendar change left: never due again
    assert wallet.run_day(6)["due"] == 0
    assert wallet.run_day(40)["due"] == 0
    assert wallet.new_pass_events() == []
    stored = member_passes(wallet.emulator, wallet.stack)
    assert stored[ADA]["active_promotions"] == [] and stored[BOB]["status"] == "active"


def test_a_missed_day_is_caught_up_by_the_next_run(moto_endpoint, stack_name, tmp_path):
    config = tmp_path / "wallet.yaml"
    config.write_text(CONFIG)
    wallet = Wallet(moto_endpoint, stack_name, config)
    modified = "2024-05-01T10:00:00.000+0000"
    wallet.land("members", [{"Id": ADA, "Name": "Ada", "LastModifiedDate": modified}])
    wallet.land(
        "promotions",
        [
            {
                "Id": "a0P5g00000Pro02EAB",
                "Name": "Spring",
                "Member__c": ADA,
                "Start_Date__c": _day(1),
                "Expiry_Date__c": _day(10),
                "LastModifiedDate": modified,
            }
        ],
    )
    wallet.new_pass_events()
    # Given no run on days 1 and 2 (the schedule was off), the run of day 3 derives the pass for day 3
    report = wallet.run_day(3)
    assert (report["due"], report["rederived"]) == (1, 1)
    [caught_up] = wallet.new_pass_events()
    assert caught_up["active_promotions"] == [{"id": "a0P5g00000Pro02EAB", "name": "Spring", "expires": _day(10)}]
