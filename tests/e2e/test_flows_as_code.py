"""Flows as code: what template.yaml makes of each environment's configuration, read the way
CloudFormation reads it (Fn::ForEach expanded, the lookups evaluated), and local mode following.

AppFlow itself is not emulated (moto has no AppFlow): the flows are checked as resources with
resolved properties; `make sam-validate-flows` has cfn-lint check the same flows against AWS's schema.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from appflow_local.configuration import load_configuration, stack_parameters
from appflow_local.emulator.server import Emulator
from appflow_local.stack.description import function_environment, load_stack
from appflow_local.stack.template import Resolver, Template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = Template.load(ROOT / "template.yaml")
APPFLOW_DESTINATION_ACTIONS = [  # AWS's "Amazon S3 bucket policies for Amazon AppFlow", destination
    "s3:PutObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
    "s3:ListBucketMultipartUploads",
    "s3:GetBucketAcl",
    "s3:PutObjectAcl",
]


def _deployed(config: str | None, stack: str = "appflow-ingest-dev") -> tuple[Template, Resolver]:
    """The template with this environment's parameters, and a resolver that names resources by logical id."""
    overrides = stack_parameters(load_configuration(ROOT / "config" / config), stack) if config else {}
    values = TEMPLATE.parameter_values(overrides)
    template = TEMPLATE.with_parameters(values)

    def resource(logical_id: str, attribute: str | None) -> Any:
        return f"<{logical_id}{'.' + attribute if attribute else ''}>"

    return template, Resolver(template, values, resource, stack_name=stack)


def _created(template: Template, resolver: Resolver, kind: str) -> dict[str, dict[str, Any]]:
    """Resources of a type CloudFormation would create (condition true), properties resolved."""
    return {
        logical_id: resolver.resolve(resource.get("Properties", {}))
        for logical_id, resource in template.resources.items()
        if resource.get("Type") == kind and ("Condition" not in resource or resolver.condition(resource["Condition"]))
    }


def test_without_flows_declared_the_stack_creates_no_flow_and_nothing_new_but_the_daily_wallet_run():
    template, resolver = _deployed(None)
    assert _created(template, resolver, "AWS::AppFlow::Flow") == {}
    # The loops still produce one conditioned-out resource each (a CommaDelimitedList "" is one empty item).
    assert {lid for lid, r in template.resources.items() if r["Type"] == "AWS::AppFlow::Flow"} == {"Flow", "EventFlow"}
    assert _created(template, resolver, "AWS::IAM::Policy") == {}  # no configuration path: FlowObjects as before


def test_each_declared_scheduled_flow_is_created_active_with_the_settings_the_backend_expects():
    template, resolver = _deployed("dev.yaml")
    flows = _created(template, resolver, "AWS::AppFlow::Flow")
    assert sorted(flows) == ["Flowdevsfaccount", "Flowdevsfopportunity", "Flowdevsfpromotion"]
    flow = flows["Flowdevsfpromotion"]
    assert flow["FlowName"] == "dev-sf-promotion"
    assert flow["FlowStatus"] == "Active"  # active on deploy: no custom resource calling StartFlow
    assert flow["TriggerConfig"] == {
        "TriggerType": "Scheduled",
        "TriggerProperties": {"ScheduleExpression": "rate(1days)", "DataPullMode": "Incremental"},
    }
    source = flow["SourceFlowConfig"]
    assert source["ConnectorProfileName"] == "salesforce-dev"  # the console-made connection, by name
    assert source["SourceConnectorProperties"]["Salesforce"]["Object"] == "Promotion__c"
    assert source["SourceConnectorProperties"]["Salesforce"]["DataTransferApi"] == "BULKV2"  # pinned
    assert source["IncrementalPullConfig"] == {"DatetimeTypeFieldName": "LastModifiedDate"}
    [destination] = flow["DestinationFlowConfigList"]
    s3 = destination["DestinationConnectorProperties"]["S3"]
    assert s3["BucketName"] == "<LandingBucket>"
    assert s3["S3OutputFormatConfig"]["FileType"] == "JSON"
    assert s3["S3OutputFormatConfig"]["PrefixConfig"]["PathPrefixHierarchy"] == ["EXECUTION_ID"]
    assert s3["S3OutputFormatConfig"]["AggregationConfig"] == {"AggregationType": "SingleFile", "TargetFileSize": "128"}
    assert [task["TaskType"] for task in flow["Tasks"]] == ["Map_all"]


def test_an_event_flow_sends_change_events_to_the_partner_source_whose_bus_feeds_the_changes_function():
    template, resolver = _deployed("prod.yaml", "appflow-ingest-prod")
    flows = _created(template, resolver, "AWS::AppFlow::Flow")
    event = flows["EventFlowprodsfaccountchanges"]
    assert (event["FlowStatus"], event["TriggerConfig"]) == ("Active", {"TriggerType": "Event"})
    assert event["SourceFlowConfig"]["SourceConnectorProperties"]["Salesforce"]["Object"] == "AccountChangeEvent"
    partner = "aws.partner/appflow/salesforce.com/123456789012/appflow-ingest-prod"
    assert event["DestinationFlowConfigList"][0]["DestinationConnectorProperties"]["EventBridge"]["Object"] == partner
    assert (
        flows["Flowprodsfaccount"]["DestinationFlowConfigList"][0]["DestinationConnectorProperties"]["S3"][
            "S3OutputFormatConfig"
        ]["FileType"]
        == "PARQUET"
    )
    # The partner bus is the source's, and the changes function's rule sits on it.
    buses = _created(template, resolver, "AWS::Events::EventBus")
    assert buses["SalesforceEventBus"] == {"Name": partner, "EventSourceName": partner}
    [rule] = [e for e in template.function("changes").events if e.type == "EventBridgeRule"]
    assert resolver.resolve(rule.properties["EventBusName"]) == "<SalesforceEventBus>"


def test_the_landing_bucket_admits_appflow_only_for_this_account_and_the_configured_flows():
    template, resolver = _deployed("dev.yaml")
    policy = _created(template, resolver, "AWS::S3::BucketPolicy")["LandingBucketPolicy"]
    assert policy["Bucket"] == "<LandingBucket>"
    # The bucket's one policy: the TLS-only statement (docs/security.md) and the AppFlow grant, the only Allow.
    [statement] = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert {s["Sid"] for s in policy["PolicyDocument"]["Statement"]} == {
        "DenyInsecureTransport",
        "AllowAppFlowDestinationActions",
    }
    assert statement["Principal"] == {"Service": "appflow.amazonaws.com"}
    assert statement["Action"] == APPFLOW_DESTINATION_ACTIONS
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}
    assert statement["Condition"]["ArnLike"]["aws:SourceArn"] == [
        f"arn:*:appflow:*:*:flow/dev-sf-{name}" for name in ("account", "opportunity", "promotion")
    ]


def test_every_function_may_read_the_configuration_it_parses_at_cold_start():
    # Each function's own role (<Function>Role, docs/security.md) reads the configuration's path:
    # every function, none forgotten; tests/e2e/test_least_privilege.py checks it is used.
    for config, granted in (("dev.yaml", True), (None, False)):
        template, resolver = _deployed(config)
        for function in template.functions():
            role = template.resources[f"{function.logical_id}Role"]["Properties"]
            statements = [
                s for policy in resolver.resolve(role["Policies"]) for s in policy["PolicyDocument"]["Statement"]
            ]
            reads = [s for s in statements if s["Sid"] == "ReadConfiguration"]
            if not granted:
                assert reads == [], function.logical_id  # no path: FlowObjects and WalletConfig instead
                continue
            [statement] = reads
            assert statement["Action"] == "ssm:GetParametersByPath"
            assert statement["Resource"].endswith(":parameter/appflow-ingest-dev/configuration"), statement


def test_no_custom_resource_activates_anything():
    kinds = {
        resource.get("Type", "") for resource in TEMPLATE.source["Resources"].values() if isinstance(resource, dict)
    }
    assert not [kind for kind in kinds if kind.startswith("Custom::") or kind == "AWS::CloudFormation::CustomResource"]
    # Nor does any function: no code calls StartFlow, no role may.
    assert "appflow:StartFlow" not in (ROOT / "template.yaml").read_text()
    assert not [p for p in (ROOT / "layers").rglob("*.py") if "start_flow" in p.read_text()]


# ------------------------------------------------------------------------------------ local mode
pytestmark = pytest.mark.integration


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "appflow_local.cli", *args], capture_output=True, text=True, cwd=ROOT, timeout=300
    )


def test_local_provision_refuses_a_wrong_configuration_naming_line_and_field(moto_endpoint, stack_name, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "config" / "dev.yaml").read_text().replace("format: json", "format: jsonl", 1))
    result = _cli(
        "local", "provision", "--endpoint-url", moto_endpoint, "--stack-name", stack_name, "--config", str(bad)
    )
    assert result.returncode == 2
    line = bad.read_text().splitlines().index("    format: jsonl") + 1
    assert (
        f"{bad}:{line}: flows.dev-sf-account.format: 'jsonl' is not one of ['json', 'csv', 'parquet']" in result.stderr
    )
    assert "Traceback" not in result.stderr
    with pytest.raises(Exception, match="not provisioned"):  # refused before anything was created
        load_stack(Emulator(moto_endpoint), stack_name)


def test_local_provision_with_a_configuration_pushes_it_where_the_functions_read_it(moto_endpoint, stack_name):
    result = _cli(
        "local", "provision", "--endpoint-url", moto_endpoint, "--stack-name", stack_name,
        "--config", "config/dev.yaml",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    # The flows are AppFlow resources, which the emulator has no equivalent for: listed, not created.
    assert {k: v for k, v in summary["not_emulated"].items() if v == "AWS::AppFlow::Flow"} == {
        "Flowdevsfaccount": "AWS::AppFlow::Flow",
        "Flowdevsfopportunity": "AWS::AppFlow::Flow",
        "Flowdevsfpromotion": "AWS::AppFlow::Flow",
        "EventFlow": "AWS::AppFlow::Flow",
    }
    emulator = Emulator(moto_endpoint)
    stack = load_stack(emulator, stack_name)
    template = stack.load_template()
    env = function_environment(template.function("ingest"), stack, template)
    assert env["CONFIG_PARAMETER_PATH"] == f"/{stack_name}/configuration"
    # What a function builds from it (Powertools Parameters against the emulator's SSM).
    from appflow_ingest.settings import AggregateSettings, IngestSettings
    from appflow_ingest.wiring import load_settings

    env = {**env, "AWS_ENDPOINT_OVERRIDE": moto_endpoint}
    settings = load_settings(IngestSettings, env)
    assert settings.flows.objects["dev-sf-promotion"].object == "Promotion__c"
    assert settings.flows.object_rule_sets()["Opportunity"].fields["StageName"].required
    wallet = load_settings(AggregateSettings, env).wallet
    assert wallet is not None and [t.name for t in wallet.tiers] == ["Bronze", "Silver", "Gold"]


def test_a_push_replaces_what_the_configuration_no_longer_declares(moto_endpoint, stack_name, tmp_path):
    from appflow_local.configuration import push

    ssm = Emulator(moto_endpoint).ssm
    path = f"/{stack_name}/configuration"
    first = push(load_configuration(ROOT / "config" / "demo.yaml"), ssm, path)
    assert first["written"][-1] == "flows"  # the flows last: the rule sets they name exist before them
    smaller = tmp_path / "smaller.yaml"
    smaller.write_text("objects:\n  Account: {rules: account-member}\nflows:\n  members: {object: Account}\n")
    second = push(load_configuration(smaller), ssm, path)
    assert second["removed"] == ["rule-sets/promotion", "rule-sets/purchase"]
    names = {p["Name"] for p in ssm.get_parameters_by_path(Path=path, Recursive=True)["Parameters"]}
    assert names == {f"{path}/flows", f"{path}/wallet", f"{path}/rule-sets/account-member"}
    assert push(load_configuration(smaller), ssm, path)["written"] == []  # unchanged: nothing rewritten


def test_functions_fail_closed_when_the_configuration_was_never_pushed(moto_endpoint, stack_name):
    from appflow_ingest.settings import ConfigurationError, IngestSettings
    from appflow_ingest.wiring import load_settings

    env = {
        "ENTITY_TABLE": "t", "CHUNK_QUEUE_URL": "q", "QUARANTINE_BUCKET": "b", "EVENT_BUS_NAME": "e",
        "CONFIG_PARAMETER_PATH": f"/{stack_name}/nothing-here", "AWS_ENDPOINT_OVERRIDE": moto_endpoint,
    }  # fmt: skip
    with pytest.raises(ConfigurationError, match="appflow-ingest config push"):
        load_settings(IngestSettings, env)
