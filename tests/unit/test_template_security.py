"""template.yaml read as a security reviewer reads it (docs/security.md): what checkov cannot see.

checkov cannot evaluate an ``!If``, and it knows nothing of this stack's intent (which functions may
read the masking key, which queue policy covers which queue). These tests hold the template to it,
so a resource added later without a TLS-only policy, a log group or its own role fails here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from appflow_local.stack.template import Template

TEMPLATE = Template.load(Path(__file__).resolve().parents[2] / "template.yaml")
RESOURCES = TEMPLATE.resources
KEY = {"Fn::If": ["CreateEncryptionKey", {"Fn::GetAtt": ["EncryptionKey", "Arn"]}, {"Ref": "EncryptionKeyArn"}]}
KEY_OR_NOTHING = {"Fn::If": ["UseEncryptionKey", KEY, {"Ref": "AWS::NoValue"}]}
# The functions that mask fields (rules with "hash"), and so the only ones given the masking key.
MASKING_FUNCTIONS = {"IngestFunction", "ChangesFunction"}


def of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {lid: r.get("Properties", {}) for lid, r in RESOURCES.items() if r.get("Type") == kind}


def refers_to(value: Any, logical_id: str) -> bool:
    """Whether ``value`` names the resource (Ref, GetAtt or ${...} in a Sub)."""
    text = json.dumps(value)
    return (
        f'{{"Ref": "{logical_id}"}}' in text
        or f'["{logical_id}", ' in text
        or f"${{{logical_id}." in text
        or f"${{{logical_id}}}" in text
    )


def denies_plain_http(statement: dict[str, Any]) -> bool:
    return (
        statement.get("Effect") == "Deny"
        and statement.get("Principal") == "*"
        and statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    )


BUCKETS = of_type("AWS::S3::Bucket")
QUEUES = of_type("AWS::SQS::Queue")
FUNCTIONS = {spec.logical_id: spec for spec in TEMPLATE.functions()}


@pytest.mark.parametrize("bucket", sorted(BUCKETS))
def test_every_bucket_is_encrypted_private_and_refuses_plain_http(bucket):
    props = BUCKETS[bucket]
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    default = rule["ServerSideEncryptionByDefault"]
    assert default["SSEAlgorithm"] == {"Fn::If": ["UseEncryptionKey", "aws:kms", "AES256"]}
    assert default["KMSMasterKeyID"] == KEY_OR_NOTHING
    assert all(props["PublicAccessBlockConfiguration"][k] is True for k in ("BlockPublicAcls", "BlockPublicPolicy",
                                                                           "IgnorePublicAcls", "RestrictPublicBuckets"))  # fmt: skip
    policies = [p for p in of_type("AWS::S3::BucketPolicy").values() if p["Bucket"] == {"Ref": bucket}]
    assert len(policies) == 1, f"{bucket}: one bucket policy (a second would replace the first)"
    tls = [s for s in policies[0]["PolicyDocument"]["Statement"] if denies_plain_http(s)]
    assert tls and tls[0]["Action"] == "s3:*"
    covered = json.dumps(tls[0]["Resource"])
    assert refers_to(tls[0]["Resource"], bucket) and "/*" in covered, "the bucket and its objects"


@pytest.mark.parametrize("queue", sorted(QUEUES))
def test_every_queue_is_encrypted_and_refuses_plain_http(queue):
    props = QUEUES[queue]
    assert props["KmsMasterKeyId"] == KEY_OR_NOTHING
    assert props["SqsManagedSseEnabled"] == {"Fn::If": ["UseEncryptionKey", {"Ref": "AWS::NoValue"}, True]}
    policies = [p for p in of_type("AWS::SQS::QueuePolicy").values() if {"Ref": queue} in p["Queues"]]
    assert len(policies) == 1, f"{queue}: one queue policy (a second would replace the first)"
    tls = [s for s in policies[0]["PolicyDocument"]["Statement"] if denies_plain_http(s)]
    assert tls and {"Fn::GetAtt": [queue, "Arn"]} in tls[0]["Resource"]


@pytest.mark.parametrize("kind", ["AWS::DynamoDB::Table", "AWS::Logs::LogGroup"])
def test_tables_and_log_groups_use_the_stack_key_when_there_is_one(kind):
    for logical_id, props in of_type(kind).items():
        key = props["SSESpecification"]["KMSMasterKeyId"] if kind == "AWS::DynamoDB::Table" else props["KmsKeyId"]
        assert key == KEY_OR_NOTHING, logical_id


def test_the_downstream_bus_its_archive_the_secret_and_the_function_environments_use_the_stack_key():
    assert RESOURCES["DownstreamBus"]["Properties"]["KmsKeyIdentifier"] == KEY_OR_NOTHING
    assert RESOURCES["DownstreamArchive"]["Properties"]["KmsKeyIdentifier"] == KEY_OR_NOTHING
    assert RESOURCES["MaskingKeySecret"]["Properties"]["KmsKeyId"] == KEY_OR_NOTHING
    assert TEMPLATE.document["Globals"]["Function"]["KmsKeyArn"] == KEY_OR_NOTHING
    # checkov cannot apply Globals here (Fn::ForEach; .checkov.yaml skips CKV_AWS_173): none may override it.
    assert [f for f in FUNCTIONS if "KmsKeyArn" in RESOURCES[f]["Properties"]] == []
    assert RESOURCES["EncryptionKey"]["Properties"]["EnableKeyRotation"] is True


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_every_function_logs_to_its_own_group_with_a_retention(function):
    spec = FUNCTIONS[function]
    group = spec.properties["LoggingConfig"]["LogGroup"]["Ref"]
    props = RESOURCES[group]["Properties"]
    assert RESOURCES[group]["Type"] == "AWS::Logs::LogGroup"
    assert props["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    others = [
        f for f, s in FUNCTIONS.items() if f != function and s.properties["LoggingConfig"]["LogGroup"]["Ref"] == group
    ]
    assert not others


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_every_function_has_its_own_role_and_no_account_wide_managed_policy(function):
    # Policies on a function would make SAM generate a role, with the managed policies of its
    # event sources (every queue and stream of the account): grants go in the function's role.
    spec = FUNCTIONS[function]
    assert "Policies" not in spec.properties, f"{function}: add grants to {function}Role, not Policies"
    role = spec.properties["Role"]["Fn::GetAtt"][0]
    assert role == f"{function}Role" and RESOURCES[role]["Type"] == "AWS::IAM::Role"
    assert "ManagedPolicyArns" not in RESOURCES[role]["Properties"]
    statements = RESOURCES[role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    starred = [s for s in statements if isinstance(s, dict) and s.get("Resource") == "*"]
    assert [s["Sid"] for s in starred] == ["Tracing"], "only X-Ray's write actions take no resource"
    log_group = spec.properties["LoggingConfig"]["LogGroup"]["Ref"]
    (logs,) = [s for s in statements if isinstance(s, dict) and s.get("Sid") == "OwnLogGroup"]
    assert logs["Resource"] == {"Fn::GetAtt": [log_group, "Arn"]}


def test_only_the_masking_functions_are_given_the_masking_key():
    assert "MASKING_KEY" not in json.dumps(TEMPLATE.document["Globals"])
    given = {f for f, spec in FUNCTIONS.items() if "MASKING_KEY_SECRET" in spec.environment}
    assert given == MASKING_FUNCTIONS
    may_read = set()
    for function, spec in FUNCTIONS.items():
        role = RESOURCES[spec.properties["Role"]["Fn::GetAtt"][0]]["Properties"]
        if "secretsmanager:" in json.dumps(role):
            may_read.add(function)
    assert may_read == MASKING_FUNCTIONS


def test_the_quarantines_expire_and_the_raw_one_is_read_only_by_named_readers():
    quarantine = BUCKETS["QuarantineBucket"]["LifecycleConfiguration"]["Rules"][0]
    raw = BUCKETS["RawQuarantineBucket"]["LifecycleConfiguration"]["Rules"][0]
    assert quarantine["ExpirationInDays"] == {"Ref": "QuarantineRetentionDays"}
    assert raw["ExpirationInDays"] == {"Ref": "RawQuarantineRetentionDays"}
    assert int(TEMPLATE.parameters["RawQuarantineRetentionDays"]["Default"]) < int(
        TEMPLATE.parameters["QuarantineRetentionDays"]["Default"]
    )
    statements = RESOURCES["RawQuarantineBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    (readers,) = [s for s in statements if s.get("Sid") == "OnlyNamedReaders"]
    assert readers["Effect"] == "Deny" and "s3:GetObject" in readers["Action"]
    assert "aws:PrincipalArn" in readers["Condition"]["ArnNotLike"]


def test_the_rule_dead_letter_queues_admit_only_this_stacks_rules():
    (allow,) = [
        s
        for s in RESOURCES["RuleDeadLetterQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Allow"
    ]
    arns = json.dumps(allow["Condition"])
    assert "ArnEquals" in allow["Condition"] and "rule/*" not in arns
    named = {
        event.properties["RuleName"]["Fn::Sub"]
        for spec in FUNCTIONS.values()
        for event in spec.events
        if event.type == "EventBridgeRule" and "DeadLetterConfig" in event.properties
    }
    assert named and all(name.replace("${AWS::StackName}", "") in arns for name in named)


def test_the_chunk_event_source_bounds_concurrency():
    (chunks,) = [e for e in FUNCTIONS["IngestFunction"].events if e.type == "SQS"]
    assert chunks.properties["ScalingConfig"]["MaximumConcurrency"] == {"Ref": "ChunkMaxConcurrency"}
    for function in ("IngestFunction", "ChangesFunction"):
        reserved = FUNCTIONS[function].properties["ReservedConcurrentExecutions"]
        assert reserved["Fn::If"][0].startswith("Has") and reserved["Fn::If"][2] == {"Ref": "AWS::NoValue"}
