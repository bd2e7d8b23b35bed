"""The configuration file: checked against its schema and itself, every mistake named by line and field."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from appflow_ingest.domain.rules import RULE_SETS, Field
from appflow_ingest.domain.rules.catalog import DeclarationError, rule_set_from_declaration, shipped_declarations
from appflow_ingest.settings import parse_flow_objects
from appflow_local.configuration import (
    SCHEMA_PATH,
    ConfigurationFileError,
    change_event_channel,
    load_configuration,
    parameter_parts,
    render_samconfig,
    runtime_document,
    stack_parameters,
)

ROOT = Path(__file__).resolve().parents[2]
VALID = """\
objects:
  Account: {rules: account-member}
  Opportunity: {rules: purchase}
flows:
  sf-accounts:
    object: Account
    format: json
    appflow: {trigger: scheduled, schedule: rate(1hours)}
  sf-opportunities: {object: Opportunity, format: csv}
appflow:
  connector_profile: salesforce-dev
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "env.yaml"
    path.write_text(textwrap.dedent(text))
    return path


# ------------------------------------------------------------------------------------ what ships
@pytest.mark.parametrize("path", sorted((ROOT / "config").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_configuration_file_checks(path):
    assert load_configuration(path).flows


def test_the_shipped_rule_sets_are_declarations_the_schema_accepts():
    schema = json.loads(SCHEMA_PATH.read_text())
    validator = Draft202012Validator({**schema["$defs"]["ruleSet"], "$defs": schema["$defs"]})
    for name, declaration in shipped_declarations().items():
        assert not list(validator.iter_errors(declaration)), name
    # The catalog is the loader of those declarations: Salesforce's system fields come first.
    assert list(RULE_SETS["purchase"].fields)[:6] == [
        "Id", "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp", "OwnerId",
    ]  # fmt: skip
    assert RULE_SETS["purchase"].fields["StageName"].allowed[-1] == "Closed Lost"


def test_a_declaration_becomes_a_rule_set_and_a_broken_one_is_named():
    rules = rule_set_from_declaration(
        "lead",
        {"object": "Lead", "fields": {"Email": {"type": "string", "mask": "hash"}, "Status": {"allowed": ["Open"]}}},
    )
    assert rules.fields == {"Email": Field("string", mask="hash"), "Status": Field(allowed=("Open",))}
    with pytest.raises(DeclarationError, match="rule set 'lead', field Email: unknown field type 'text'"):
        rule_set_from_declaration("lead", {"object": "Lead", "fields": {"Email": {"type": "text"}}})


# ------------------------------------------------------------------------------------ mistakes
@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("format: json", "formt: json"), ":7: flows.sf-accounts.formt: unknown key"),
        (("format: csv", "format: xml"), ":9: flows.sf-opportunities.format: 'xml' is not one of"),
        (
            ("schedule: rate(1hours)", "schedule: hourly"),
            ":8: flows.sf-accounts.appflow.schedule: 'hourly' does not match",
        ),
        (
            ("{trigger: scheduled, schedule: rate(1hours)}", "{trigger: scheduled}"),
            ":8: flows.sf-accounts.appflow.schedule: required, missing",
        ),
        (
            ("{trigger: scheduled, schedule: rate(1hours)}", "{trigger: event, schedule: rate(1hours)}"),
            ":8: flows.sf-accounts.appflow.schedule: only a scheduled flow",
        ),
        (("{rules: purchase}", "{rules: purchases}"), ":3: objects.Opportunity.rules: unknown rule set 'purchases'"),
        (
            ("{rules: purchase}", "{rules: promotion}"),
            ":3: objects.Opportunity.rules: rule set 'promotion' is for Promotion__c, not Opportunity",
        ),
        (
            ("{object: Opportunity, format: csv}", "{object: Lead}"),
            ":9: flows.sf-opportunities.object: Lead is not declared under objects",
        ),
        (
            ("  connector_profile: salesforce-dev\n", "  aggregation: None\n"),
            ":10: appflow.connector_profile: required, missing",
        ),
        (("flows:", "flows: {"), ":6: not valid YAML"),
    ],
)
def test_a_mistake_is_named_by_line_and_field(tmp_path, change, expected):
    path = _write(tmp_path, VALID.replace(*change))
    with pytest.raises(ConfigurationFileError) as refused:
        load_configuration(path)
    assert any(line.startswith(str(path) + expected) for line in refused.value.lines()), refused.value.lines()


def test_event_flows_need_a_partner_event_source_and_the_wallet_its_objects(tmp_path):
    text = VALID.replace("{trigger: scheduled, schedule: rate(1hours)}", "{trigger: event}") + "wallet: {}\n"
    with pytest.raises(ConfigurationFileError) as refused:
        load_configuration(_write(tmp_path, text))
    assert [p.field for p in refused.value.problems] == ["appflow", "wallet.promotion_object"]


# ------------------------------------------------------------------------------------ outputs
def test_the_runtime_document_binds_flows_to_objects_and_carries_only_the_rule_sets_used(tmp_path):
    document = runtime_document(load_configuration(_write(tmp_path, VALID)))
    assert document["flows"]["sf-opportunities"] == {
        "object": "Opportunity", "id_field": "Id", "version_field": "LastModifiedDate", "format": "csv", "rules": "purchase",
    }  # fmt: skip
    assert sorted(document["rule_sets"]) == ["account-member", "purchase"]
    assert document["wallet"] is None
    assert sorted(parameter_parts(load_configuration(_write(tmp_path, VALID)))) == [
        "flows", "rule-sets/account-member", "rule-sets/purchase", "wallet",
    ]  # fmt: skip


def test_an_object_s_volatile_fields_reach_the_functions_settings(tmp_path):
    text = VALID.replace(
        "  Opportunity: {rules: purchase}",
        "  Opportunity: {rules: purchase, volatile_fields: [SystemModstamp, Probability]}",
    )
    assert text != VALID
    document = runtime_document(load_configuration(_write(tmp_path, text)))
    assert document["flows"]["sf-opportunities"]["volatile_fields"] == ["SystemModstamp", "Probability"]
    flows, _ = parse_flow_objects(json.dumps(document["flows"]))
    assert flows["sf-opportunities"].unchanged_if_only == {"SystemModstamp", "Probability", "LastModifiedDate"}


def test_only_flows_with_an_appflow_block_are_created_and_their_settings_are_looked_up_by_name(tmp_path):
    parameters = stack_parameters(load_configuration(_write(tmp_path, VALID)), "stack-dev")
    assert parameters["AppFlowScheduledFlows"] == "sf-accounts"
    assert parameters["AppFlowEventFlows"] == ""
    assert parameters["AppFlowFlowSettings"] == "|sf-accounts=Account;JSON;rate(1hours);LastModifiedDate|"
    assert parameters["ConfigParameterPath"] == "/stack-dev/configuration"
    # Every configured flow, created or not, may write to the landing bucket; no other.
    assert parameters["AppFlowWriterFlowArns"].split(",") == [
        "arn:*:appflow:*:*:flow/sf-accounts", "arn:*:appflow:*:*:flow/sf-opportunities",
    ]  # fmt: skip


def test_without_created_flows_no_appflow_parameter_is_set(tmp_path):
    text = VALID.replace("    appflow: {trigger: scheduled, schedule: rate(1hours)}\n", "")
    parameters = stack_parameters(load_configuration(_write(tmp_path, text)), "stack-dev")
    assert sorted(parameters) == ["AppFlowWriterFlowArns", "ConfigParameterPath"]


def test_a_new_event_flow_deploys_as_draft_without_the_bus_then_active_with_it(tmp_path):
    text = VALID.replace("{trigger: scheduled, schedule: rate(1hours)}", "{trigger: event}") + (
        "  partner_event_source: aws.partner/appflow/salesforce.com/123456789012/cdc\n  event_flows: draft\n"
    )
    draft = stack_parameters(load_configuration(_write(tmp_path, text)), "s")
    assert (draft["AppFlowEventFlowStatus"], draft["SalesforceEventSourceName"]) == ("Draft", "")
    assert draft["AppFlowFlowSettings"] == "|sf-accounts=AccountChangeEvent;JSON;-;LastModifiedDate|"
    active = stack_parameters(load_configuration(_write(tmp_path, text.replace("draft", "active"))), "s")
    assert active["AppFlowEventFlowStatus"] == "Active"
    assert active["SalesforceEventSourceName"] == "aws.partner/appflow/salesforce.com/123456789012/cdc"


def test_change_event_channels_follow_salesforce_naming():
    assert change_event_channel("Account") == "AccountChangeEvent"
    assert change_event_channel("Promotion__c") == "Promotion__ChangeEvent"


def test_rendering_into_samconfig_replaces_the_rendered_lines_and_keeps_the_rest(tmp_path):
    config = load_configuration(_write(tmp_path, VALID))
    samconfig = (
        'version = 0.1\n\n[dev.deploy.parameters]\nstack_name = "s-dev"\nconfirm_changeset = false\n\n'
        '# the next environment\n[prod.deploy.parameters]\nstack_name = "s-prod"\n'
    )
    once = render_samconfig(samconfig, "dev", config, "s-dev")
    assert render_samconfig(once, "dev", config, "s-dev") == once
    assert once.count("parameter_overrides = ") == 1
    assert "confirm_changeset = false\n# --- rendered from" in once
    assert once.endswith(
        '# --- end of rendered parameters ---\n\n# the next environment\n[prod.deploy.parameters]\nstack_name = "s-prod"\n'
    )
    import tomllib

    overrides = tomllib.loads(once)["dev"]["deploy"]["parameters"]["parameter_overrides"]
    assert 'AppFlowScheduledFlows="sf-accounts"' in overrides


def test_the_committed_samconfig_is_what_the_configuration_files_render():
    text = (ROOT / "samconfig.toml").read_text()
    for env, stack in (("dev", "appflow-ingest-dev"), ("prod", "appflow-ingest-prod")):
        config = load_configuration(ROOT / "config" / f"{env}.yaml")
        config = type(config)(Path(f"config/{env}.yaml"), config.document)  # the path as rendered, relative
        assert render_samconfig(text, env, config, stack) == text, (
            f"run appflow-ingest config render config/{env}.yaml --env {env}"
        )
