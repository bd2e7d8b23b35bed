"""Change events through the template's wiring in local mode: partner bus or default bus, rule, function."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appflow_local.clients import Emulator
from appflow_local.emulator.runtime import LocalRuntime
from appflow_local.stack.provision import local_bus_name, provision
from appflow_local.stack.readback import published_events, stored_records
from appflow_local.stack.template import Template

pytestmark = pytest.mark.integration
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def _create(record_id: str) -> str:
    return json.dumps(
        {
            "ChangeEventHeader": {"entityName": "Account", "changeType": "CREATE", "recordIds": [record_id],
                                  "commitTimestamp": 1597947935000, "changedFields": []},
            "Name": "Acme",
            "LastModifiedDate": "2020-08-20T18:25:35.000Z",
        }
    )  # fmt: skip


@pytest.mark.parametrize("partner_bus", [True, False], ids=["partner-bus", "default-bus"])
def test_a_change_event_on_the_partner_source_reaches_the_table_and_publishes(moto_endpoint, stack_name, partner_bus):
    # Given the stack, with the partner event source configured or not
    source = f"aws.partner/appflow/salesforce.com/123456789012/{stack_name}"
    emulator = Emulator(moto_endpoint)
    template = Template.load(TEMPLATE)
    overrides = {"SalesforceEventSourceName": source} if partner_bus else {}
    stack = provision(template, emulator, stack_name=stack_name, parameter_overrides=overrides)

    # When AppFlow sends a change event from that source
    bus = local_bus_name(source) if partner_bus else "default"
    record_id = f"001{stack_name}"
    entry = {"Source": source, "DetailType": "AccountChangeEvent", "Detail": _create(record_id), "EventBusName": bus}
    assert emulator.events.put_events(Entries=[entry])["FailedEntryCount"] == 0
    summary = LocalRuntime(emulator, stack, template).run_until_drained()

    # Then the rule matched, the record is stored and its change published
    assert summary.ok and summary.invocations["ChangesFunction"] == 1
    stored = {r["id"]: r for r in stored_records(emulator, stack)}
    assert stored[record_id]["record"]["Name"] == "Acme"
    assert [e["detail"]["id"] for e in published_events(emulator, stack)] == [record_id]
