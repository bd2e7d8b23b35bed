"""Masked means masked everywhere: a run of Contacts, some rejected, searched for personal data in clear.

The records go through the template's wiring in local mode under the shipped ``contact-member``
rules (Email hashed; Phone, MobilePhone and Birthdate redacted), on the file path and on the
change-event path. Every quarantine object and every line the functions logged (metrics included)
is then searched for each masked value as it was sent (docs/security.md).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appflow_local.clients import Emulator
from appflow_local.emulator.runtime import LocalRuntime
from appflow_local.stack.description import landing_bucket
from appflow_local.stack.provision import provision
from appflow_local.stack.readback import stored_records
from appflow_local.stack.template import Template

pytestmark = pytest.mark.integration
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
FLOW = "sf-contacts"
SOURCE = "aws.partner/appflow/salesforce.com/123456789012/sf-cdc"


def contact(n: int, **fields: Any) -> dict[str, Any]:
    # Canonical 18-character ids (the suffix AAA: no capital in the first 15), stored as they are sent.
    return {"Id": f"0035g00000pd{n:03d}AAA", "LastModifiedDate": "2024-04-16T19:00:00.000Z", **fields}


def objects(emulator: Emulator, bucket: str) -> dict[str, str]:
    keys = [o["Key"] for o in emulator.s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {key: emulator.s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode() for key in keys}


def entries(emulator: Emulator, bucket: str) -> list[dict[str, Any]]:
    return [json.loads(line) for body in objects(emulator, bucket).values() for line in body.splitlines()]


@pytest.fixture
def function_logs() -> Iterator[io.StringIO]:
    """Every line the functions log, formatted as CloudWatch gets it (Powertools' JSON formatter).

    The local runtime's log sink gets them only when Powertools' Logger was created inside an
    invocation; in a whole test session another test may have created it first.
    """
    from appflow_ingest.observability import logger

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    python_logger = logging.getLogger(logger.service)
    python_logger.addHandler(handler)
    try:
        yield stream
    finally:
        python_logger.removeHandler(handler)


def test_no_masked_value_leaves_the_table_in_clear(moto_endpoint, stack_name, function_logs):
    # Given the stack, its Contact flow under the contact-member rules
    emulator = Emulator(moto_endpoint)
    template = Template.load(TEMPLATE)
    stack = provision(
        template,
        emulator,
        stack_name=stack_name,
        parameter_overrides={"FlowObjects": json.dumps({FLOW: {"object": "Contact", "rules": "contact-member"}})},
    )
    log = io.StringIO()
    runtime = LocalRuntime(emulator, stack, template, log_sink=log)

    # When a file lands with a good record and rejected ones carrying personal data ...
    good = contact(1, LastName="Ann", Email="ann@example.com", Phone="555-0101", Birthdate="1990-01-02")
    lines = [
        json.dumps(good).encode(),
        # no LastName (required)
        json.dumps(contact(2, Email="bob@example.com", Phone="555-0102", MobilePhone="555-0199",
                           Birthdate="1985-05-06")).encode(),
        # a masked field that breaks its own rule (not a date)
        json.dumps(contact(3, LastName="Carol", Email="carol@example.com", Birthdate="born 1990-01-02 in Paris")).encode(),
        # the same e-mail as the good record: rejected, its hash must be the stored one
        json.dumps(contact(4, Email="ann@example.com")).encode(),
        # no id at all
        json.dumps({"LastName": "Erin", "Email": "erin@example.com", "LastModifiedDate": "2024-04-16T19:00:00Z"}).encode(),
        # a line that does not parse: nothing can be masked in it
        b'{"Id": "0035g00000pd005AAA", "Email": "dave@example.com", "Phone": "555-0105"',
    ]  # fmt: skip
    emulator.s3.put_object(Bucket=landing_bucket(stack, template), Key=f"{FLOW}/exec-1/part-1", Body=b"\n".join(lines))
    # ... and two change events: one breaking a masked field's rule, one with no readable header
    bad_birthdate = {
        "ChangeEventHeader": {"entityName": "Contact", "changeType": "CREATE", "recordIds": ["0035g00000pd006AAA"],
                              "commitTimestamp": 1713295500000, "changedFields": []},
        "Id": "0035g00000pd006AAA", "LastName": "Frank", "Email": "frank@example.com", "Birthdate": "born in Paris",
        "LastModifiedDate": "2024-04-16T19:25:00.000Z",
    }  # fmt: skip
    no_header = {"Email": "gina@example.com", "Phone": "555-0107"}
    for detail in (bad_birthdate, no_header):
        entry = {"Source": SOURCE, "DetailType": "ContactChangeEvent", "Detail": json.dumps(detail)}
        assert emulator.events.put_events(Entries=[entry])["FailedEntryCount"] == 0
    summary = runtime.run_until_drained()
    assert summary.ok
    logged = log.getvalue() + function_logs.getvalue()

    # Then no masked value is in clear in the quarantine, nor in any log line or metric
    in_clear = ["bob@example.com", "555-0102", "555-0199", "1985-05-06", "carol@example.com", "born 1990-01-02",
                "ann@example.com", "erin@example.com", "frank@example.com", "born in Paris"]  # fmt: skip
    quarantine = objects(emulator, str(stack.attribute("QuarantineBucket")))
    assert quarantine
    for value in in_clear:
        assert not [key for key, body in quarantine.items() if value in body], value
        assert value not in logged, value
    # ... not even what could not be masked: that is kept only in the raw quarantine
    for value in ("dave@example.com", "gina@example.com"):
        assert not [key for key, body in quarantine.items() if value in body], value
        assert value not in logged, value
    assert "records quarantined" in logged and "change event quarantined" in logged  # the logs were read

    # ... each masked field shows exactly what the table stores for it: hashed or redacted
    key = emulator.secretsmanager.get_secret_value(SecretId=stack.attribute("MaskingKeySecret"))["SecretString"]

    def hashed(field: str, value: str) -> str:
        digest = hmac.new(key.encode(), f"Contact.{field}".encode() + b"\x00" + value.encode(), hashlib.sha256)
        return "hmac-sha256:" + digest.hexdigest()[:32]

    stored = {r["id"]: r["record"] for r in stored_records(emulator, stack)}
    assert stored[good["Id"]]["Email"] == hashed("Email", "ann@example.com") and stored[good["Id"]]["Phone"] == "****"
    found = entries(emulator, str(stack.attribute("QuarantineBucket")))
    by_id = {e["record"].get("Id"): e for e in found if "record" in e}
    bob = by_id["0035g00000pd002AAA"]
    assert bob["field"] == "LastName"
    assert bob["record"] == contact(
        2, Email=hashed("Email", "bob@example.com"), Phone="****", MobilePhone="****", Birthdate="****"
    )
    assert by_id["0035g00000pd004AAA"]["record"]["Email"] == stored[good["Id"]]["Email"]  # as the table would
    carol = by_id["0035g00000pd003AAA"]
    assert carol["field"] == "Birthdate" and carol["record"]["Birthdate"] == "****"
    assert "Birthdate" in carol["reason"] and "a date like" in carol["reason"] and "not shown" in carol["reason"]
    (erin,) = [e for e in found if "record" in e and e["record"].get("LastName") == "Erin"]
    assert erin["record"]["Email"] == hashed("Email", "erin@example.com")
    (frank,) = [e for e in found if "event" in e]
    assert frank["field"] == "Birthdate" and frank["event"]["detail"]["Birthdate"] == "****"
    assert frank["event"]["detail"]["Email"] == hashed("Email", "frank@example.com")

    # ... and the line and event that could not be parsed are kept as they came, in the raw
    # quarantine only, each named by its quarantine entry
    raw_bucket = str(stack.attribute("RawQuarantineBucket"))
    raw = entries(emulator, raw_bucket)
    assert sorted("line" in r or "unmasked_event" in r for r in raw) == [True, True]
    assert any("dave@example.com" in r.get("line", "") for r in raw)
    assert any(r.get("unmasked_event", {}).get("detail") == no_header for r in raw)
    pointing = [e for e in found if "raw_location" in e]
    assert len(pointing) == 2 and all(e["raw_location"].startswith(f"s3://{raw_bucket}/") for e in pointing)
