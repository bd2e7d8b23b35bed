"""A pushed configuration reaches warm functions without a cold start (wiring.Configured).

The stack reads its configuration from SSM with a one-second cache (``ConfigMaxAgeSeconds``). A
Contact lands under a configuration without rules, then the rules that hash its e-mail are pushed,
and the next Contact, ingested by the same execution environment, is stored hashed.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest

from appflow_local.configuration import load_configuration, push
from appflow_local.emulator.runtime import LocalRuntime
from appflow_local.emulator.server import Emulator
from appflow_local.stack.description import landing_bucket
from appflow_local.stack.provision import provision_with_config
from appflow_local.stack.readback import stored_records
from appflow_local.stack.template import Template

pytestmark = pytest.mark.integration
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
FLOW = "sf-contacts"
WITHOUT_RULES = f"objects:\n  Contact: {{}}\nflows:\n  {FLOW}: {{object: Contact}}\n"
WITH_RULES = f"objects:\n  Contact: {{rules: contact-member}}\nflows:\n  {FLOW}: {{object: Contact}}\n"


def contact(n: int, email: str) -> bytes:
    record = {
        "Id": f"0035g00000pd{n:03d}AAA",
        "LastName": "Ann",
        "Email": email,
        "LastModifiedDate": "2024-04-16T19:00:00Z",
    }
    return json.dumps(record).encode()


def test_a_pushed_configuration_reaches_a_warm_function(moto_endpoint, stack_name, tmp_path):
    # Given a stack whose configuration binds no rules to Contact, its functions warm after one file
    (tmp_path / "without.yaml").write_text(WITHOUT_RULES)
    (tmp_path / "with.yaml").write_text(WITH_RULES)
    emulator, template = Emulator(moto_endpoint), Template.load(TEMPLATE)
    stack = provision_with_config(
        template, emulator, stack_name, tmp_path / "without.yaml", {"ConfigMaxAgeSeconds": "1"}
    )
    runtime = LocalRuntime(emulator, stack, template, log_sink=io.StringIO())
    bucket = landing_bucket(stack, template)
    emulator.s3.put_object(Bucket=bucket, Key=f"{FLOW}/exec-1/part-1", Body=contact(1, "ann@example.com"))
    assert runtime.run_until_drained().ok
    ingest = runtime.function("IngestFunction")
    warm = ingest._module
    assert warm is not None and warm.function.built.settings.flows.object_rules == {}

    # When the rules are pushed and the cache has expired
    push(load_configuration(tmp_path / "with.yaml"), emulator.ssm, stack.parameters["ConfigParameterPath"])
    time.sleep(1.1)
    emulator.s3.put_object(Bucket=bucket, Key=f"{FLOW}/exec-2/part-1", Body=contact(2, "bob@example.com"))
    assert runtime.run_until_drained().ok

    # Then the same execution environment (no new import: no cold start) stored the second one hashed
    assert runtime.function("IngestFunction")._module is warm
    assert warm.function.built.settings.flows.object_rules == {"Contact": "contact-member"}
    stored = {r["id"]: r["record"] for r in stored_records(emulator, stack)}
    assert stored["0035g00000pd001AAA"]["Email"] == "ann@example.com"
    assert stored["0035g00000pd002AAA"]["Email"].startswith("hmac-sha256:")


def test_an_unchanged_configuration_keeps_the_warm_function(moto_endpoint, stack_name, tmp_path):
    """A re-read of the same document (the cache expired, nothing pushed) rebuilds nothing."""
    from appflow_ingest import wiring

    (tmp_path / "with.yaml").write_text(WITH_RULES)
    emulator, template = Emulator(moto_endpoint), Template.load(TEMPLATE)
    stack = provision_with_config(template, emulator, stack_name, tmp_path / "with.yaml", {"ConfigMaxAgeSeconds": "1"})
    env = {
        **runtime_environment(LocalRuntime(emulator, stack, template), "PublishFunction"),
        "AWS_ENDPOINT_OVERRIDE": moto_endpoint,
    }
    publish = wiring.publish_function(env)
    built, digest = publish.built, publish.digest
    time.sleep(1.1)
    assert publish.current() is built and publish.digest == digest
    # The same content pushed again (nothing rewritten) is the same document.
    push(load_configuration(tmp_path / "with.yaml"), emulator.ssm, stack.parameters["ConfigParameterPath"])
    time.sleep(1.1)
    assert publish.current() is built


def test_a_pushed_document_that_does_not_parse_fails_like_a_cold_start_until_fixed(moto_endpoint, stack_name, tmp_path):
    from appflow_ingest import wiring
    from appflow_ingest.settings import ConfigurationError

    (tmp_path / "with.yaml").write_text(WITH_RULES)
    emulator, template = Emulator(moto_endpoint), Template.load(TEMPLATE)
    stack = provision_with_config(template, emulator, stack_name, tmp_path / "with.yaml", {"ConfigMaxAgeSeconds": "1"})
    env = {
        **runtime_environment(LocalRuntime(emulator, stack, template), "PublishFunction"),
        "AWS_ENDPOINT_OVERRIDE": moto_endpoint,
    }
    publish = wiring.publish_function(env)
    built = publish.built
    path = stack.parameters["ConfigParameterPath"]
    # A hand-written parameter (not through `config push`, which checks it): a flow without its object.
    emulator.ssm.put_parameter(Name=f"{path}/flows", Value=json.dumps({FLOW: {}}), Type="String", Overwrite=True)
    time.sleep(1.1)
    with pytest.raises(ConfigurationError, match=f"FLOW_OBJECTS\\[{FLOW!r}\\]"):
        publish.current()
    assert publish.built is built  # nothing half-built is kept
    push(load_configuration(tmp_path / "with.yaml"), emulator.ssm, path)  # fixed: the flows rewritten
    time.sleep(1.1)
    assert publish.current() is built  # the same document as before the mistake: nothing to rebuild


def runtime_environment(runtime: LocalRuntime, logical_id: str) -> dict[str, str]:
    """The environment the local runtime gives the function (the template's, resolved)."""
    return dict(runtime.function(logical_id).environment)
