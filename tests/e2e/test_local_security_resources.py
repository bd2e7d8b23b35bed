"""Local mode provisions the template's security resources: key, masking-key secret, log groups, policies."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from appflow_local.clients import Emulator
from appflow_local.emulator.runtime import LocalRuntime
from appflow_local.stack.description import landing_bucket
from appflow_local.stack.provision import provision
from appflow_local.stack.readback import stored_records
from appflow_local.stack.template import Template

pytestmark = pytest.mark.integration
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def test_a_stack_with_its_own_key_is_provisioned_and_ingests(moto_endpoint, stack_name):
    # Given a stack that creates its customer-managed key
    emulator, template = Emulator(moto_endpoint), Template.load(TEMPLATE)
    overrides = {"EncryptionKeyArn": "create", "LogRetentionDays": "14"}
    stack = provision(template, emulator, stack_name=stack_name, parameter_overrides=overrides)

    # Then the key exists, rotates, and every bucket, queue and log group names it
    key_arn = stack.attribute("EncryptionKey", "Arn")
    assert emulator.kms.get_key_rotation_status(KeyId=key_arn)["KeyRotationEnabled"] is True
    for bucket in ("LandingBucket", "QuarantineBucket", "RawQuarantineBucket"):
        (rule,) = emulator.s3.get_bucket_encryption(Bucket=stack.attribute(bucket))[
            "ServerSideEncryptionConfiguration"
        ]["Rules"]
        assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}
    queue = emulator.sqs.get_queue_attributes(QueueUrl=stack.attribute("ChunkQueue"), AttributeNames=["All"])
    assert queue["Attributes"]["KmsMasterKeyId"] == key_arn
    group = stack.attribute("IngestFunctionLogGroup")
    (described,) = emulator.logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert described["retentionInDays"] == 14 and described["kmsKeyId"] == key_arn
    # ... the masking key is a generated secret, encrypted with the key too
    secret = emulator.secretsmanager.describe_secret(SecretId=stack.attribute("MaskingKeySecret"))
    assert secret["KmsKeyId"] == key_arn
    value = emulator.secretsmanager.get_secret_value(SecretId=secret["ARN"])["SecretString"]
    assert len(value) == 64 and value.isalnum()

    # When it is provisioned again, the same key and the same masking key are kept
    again = provision(template, emulator, stack_name=stack_name, parameter_overrides=overrides)
    assert again.attribute("EncryptionKey", "Arn") == key_arn
    assert emulator.secretsmanager.get_secret_value(SecretId=secret["ARN"])["SecretString"] == value

    # ... and a file lands and is stored as on any stack
    record = {"Id": "001000000000000AAA", "Name": "Acme", "LastModifiedDate": "2024-04-16T19:00:00.000Z"}
    emulator.s3.put_object(
        Bucket=landing_bucket(stack, template), Key="sf-accounts/exec-1/part-0", Body=json.dumps(record).encode()
    )
    summary = LocalRuntime(emulator, again, template, log_sink=io.StringIO()).run_until_drained()
    assert summary.ok and [r["id"] for r in stored_records(emulator, again)] == [record["Id"]]


def test_local_policies_keep_what_moto_can_judge(moto_endpoint, stack_name):
    # The TLS-only and named-reader statements need conditions moto denies on (the emulator is
    # plain HTTP): they are left out locally, the rest of each policy is put.
    emulator, template = Emulator(moto_endpoint), Template.load(TEMPLATE)
    stack = provision(template, emulator, stack_name=stack_name)
    rule_dlq = emulator.sqs.get_queue_attributes(
        QueueUrl=stack.attribute("PlanDeadLetterQueue"), AttributeNames=["Policy"]
    )
    (statement,) = json.loads(rule_dlq["Attributes"]["Policy"])["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"} and "ArnEquals" in statement["Condition"]
    raw = stack.attribute("RawQuarantineBucket")
    emulator.s3.put_object(Bucket=raw, Key="k", Body=b"x")
    assert emulator.s3.get_object(Bucket=raw, Key="k")["Body"].read() == b"x"
