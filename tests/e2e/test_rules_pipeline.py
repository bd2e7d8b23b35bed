"""Rules per object through the deployed wiring (template -> ingest -> stream -> publish) on moto's server."""

from __future__ import annotations

import io
import json
from pathlib import Path

import jsonschema

from appflow_local.clients import Emulator
from appflow_local.emulator.runtime import LocalRuntime
from appflow_local.stack.description import landing_bucket
from appflow_local.stack.provision import provision
from appflow_local.stack.readback import published_events, stored_records
from appflow_local.stack.template import Template

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
FLOW = "sf-contacts"


def _contact(number: int, modified: str, **fields):
    return {
        "Id": f"0035g00000Ab{number:03d}AAB",  # a real checksum: "AAB" encodes the upper-case A of "Ab00n"
        "LastName": f"Member {number}",
        "Email": f"member{number}@example.com",
        "LastModifiedDate": modified,
        **fields,
    }


def _lines(records) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


def test_rules_coerce_mask_quarantine_and_report_a_new_field_once(moto_endpoint, stack_name):
    # Given a stack whose Contact flow uses the shipped contact-member rules
    emulator = Emulator(moto_endpoint)
    template = Template.load(TEMPLATE)
    stack = provision(
        template,
        emulator,
        stack_name=stack_name,
        parameter_overrides={
            "FlowObjects": json.dumps({FLOW: {"object": "Contact", "rules": "contact-member"}}),
        },
    )
    runtime = LocalRuntime(emulator, stack, template, log_sink=io.StringIO())
    bucket = landing_bucket(stack, template)

    # When two files land: Bulk-formatted values, a record without its required LastName, and a
    # field the rules do not know (Loyalty_Nickname__c) in several records of both files
    emulator.s3.put_object(
        Bucket=bucket,
        Key=f"{FLOW}/exec-1/part-1",
        Body=_lines(
            [
                _contact(1, "2024-04-16T19:00:00.000+0000", Loyalty_Nickname__c="Ace", Phone="555-0100"),
                _contact(2, "2024-04-16T19:00:00.000Z", Loyalty_Nickname__c="", Birthdate="1990-01-02"),
                {**_contact(3, "2024-04-16T19:00:00.000Z"), "LastName": ""},
            ]
        ),
    )
    emulator.s3.put_object(
        Bucket=bucket,
        Key=f"{FLOW}/exec-2/part-1",
        Body=_lines([_contact(4, "2024-04-17T08:00:00.000Z", Loyalty_Nickname__c="Dee")]),
    )
    summary = runtime.run_until_drained()

    # Then the valid records are stored coerced and masked, unknown fields kept
    assert summary.ok
    stored = {r["id"]: r["record"] for r in stored_records(emulator, stack)}
    assert sorted(stored) == ["0035g00000Ab001AAB", "0035g00000Ab002AAB", "0035g00000Ab004AAB"]
    first = stored["0035g00000Ab001AAB"]
    assert first["LastModifiedDate"] == "2024-04-16T19:00:00.000Z"
    assert first["Email"].startswith("hmac-sha256:") and first["Phone"] == "****"
    assert first["Loyalty_Nickname__c"] == "Ace"
    assert stored["0035g00000Ab002AAB"]["Birthdate"] == "****"

    # ... the broken one is quarantined naming the rule and the field
    quarantine = stack.attribute("QuarantineBucket")
    keys = [o["Key"] for o in emulator.s3.list_objects_v2(Bucket=quarantine).get("Contents", [])]
    entries = [
        json.loads(line)
        for key in keys
        for line in emulator.s3.get_object(Bucket=quarantine, Key=key)["Body"].read().splitlines()
    ]
    assert [(e["field"], e["expected"]) for e in entries] == [("LastName", "required: a value")]
    assert "part-1 offset" in entries[0]["reason"]

    # ... and the new field is announced exactly once, however many records and files carried it
    events = published_events(emulator, stack)
    schema_events = [e["detail"] for e in events if e["detail-type"] == "Schema Changed"]
    contract = json.loads((TEMPLATE.parent / "schemas" / "schema-changed.schema.json").read_text())
    for event in events:
        if event["detail-type"] == "Schema Changed":
            jsonschema.validate(event, contract)
    assert [(d["object"], d["field"]) for d in schema_events] == [("Contact", "Loyalty_Nickname__c")]
    assert sum(e["detail-type"] == "Record Changed" for e in events) == 3
