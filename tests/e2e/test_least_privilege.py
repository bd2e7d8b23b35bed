"""Least privilege, verified: each function's role grants exactly what its code and wiring call.

A run that exercises every function's paths (files of three flows with rejects and a hand-over,
AppFlow's run reports, every kind of change event, the wallet and its daily re-derivation), on a
stack configured by a configuration file pushed to SSM (config/demo.yaml), goes through local
mode while every AWS call a function makes is recorded against moto. Then, per function:

- every recorded call is granted by the function's role in template.yaml (else: grants too little);
- every grant of the role is used: by a recorded call, or by the function's wiring, which Lambda
  calls with the role (its log group, X-Ray, event-source polling, dead-letter and on-failure
  queues; read from the template here). Else: grants too much.

Which function needs which action and why: the ``Sid`` of each statement in the role, and the
call mapping in ``iam_requests`` below. A new kind of call fails here until it is mapped.
"""

from __future__ import annotations

import fnmatch
import io
import json
import os
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.client
import pytest

from appflow_ingest.adapters.entity_merge import DynamoEntityMerger
from appflow_ingest.adapters.entity_store import ABSENT, DynamoEntityStore, StoredVersion, to_item
from appflow_ingest.domain.records.versions import RecordVersion
from appflow_ingest.domain.timestamps import to_epoch_millis
from appflow_local.emulator.runtime import LocalRuntime
from appflow_local.emulator.server import Emulator
from appflow_local.runs.demo import DEMO_CONFIG
from appflow_local.sample_run.generator import FLOW_OBJECTS, end_flow_run_report, generate_run, salesforce_id
from appflow_local.stack.description import StackDescription, landing_bucket
from appflow_local.stack.provision import provision, provision_with_config
from appflow_local.stack.samples import put_envelope, seed_sample_objects
from appflow_local.stack.template import ACCOUNT_ID, FunctionSpec, Template

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"
PARTNER_SOURCE = "aws.partner/appflow/salesforce.com/123456789012/sf-cdc"
REGION = "us-east-1"


@dataclass(frozen=True)
class Request:
    """One IAM authorization a call needs: the action on the resource's ARN."""

    action: str
    resource: str


def iam_requests(service: str, operation: str, params: dict[str, Any]) -> Iterator[Request]:
    """The IAM action(s) and resource(s) an API call is authorized against (the service's own rules)."""
    arn = f"arn:aws:{{}}:{REGION}:{ACCOUNT_ID}:{{}}"
    if service == "s3" and operation in ("HeadObject", "GetObject"):
        # HeadObject is authorized as s3:GetObject; a version id needs s3:GetObjectVersion.
        action = "s3:GetObjectVersion" if params.get("VersionId") else "s3:GetObject"
        yield Request(action, f"arn:aws:s3:::{params['Bucket']}/{params['Key']}")
    elif service == "s3" and operation in ("PutObject", "PutObjectTagging"):
        yield Request(f"s3:{operation}", f"arn:aws:s3:::{params['Bucket']}/{params['Key']}")
    elif service == "sqs" and operation in ("SendMessage", "SendMessageBatch"):
        queue = params["QueueUrl"].rstrip("/").rsplit("/", 1)[1]
        yield Request("sqs:SendMessage", arn.format("sqs", queue))
    elif service == "dynamodb" and operation in ("Query", "Scan") and params.get("IndexName"):
        index = f"table/{params['TableName']}/index/{params['IndexName']}"
        yield Request(f"dynamodb:{operation}", arn.format("dynamodb", index))
    elif service == "dynamodb" and operation in ("PutItem", "GetItem", "UpdateItem", "DeleteItem", "Query", "Scan"):
        yield Request(f"dynamodb:{operation}", arn.format("dynamodb", f"table/{params['TableName']}"))
    elif service == "dynamodb" and operation == "BatchGetItem":
        for table in params["RequestItems"]:
            yield Request("dynamodb:BatchGetItem", arn.format("dynamodb", f"table/{table}"))
    elif service == "dynamodb" and operation == "TransactWriteItems":
        # Each action of a transaction is authorized as its single-item operation.
        actions = {
            "Put": "PutItem",
            "Update": "UpdateItem",
            "Delete": "DeleteItem",
            "ConditionCheck": "ConditionCheckItem",
        }
        for item in params["TransactItems"]:
            ((kind, spec),) = item.items()
            yield Request(f"dynamodb:{actions[kind]}", arn.format("dynamodb", f"table/{spec['TableName']}"))
    elif service == "dynamodb" and operation == "BatchExecuteStatement":
        # Each statement is authorized as its PartiQL action on the table it names.
        for statement in params["Statements"]:
            verb, table = re.match(r'^(INSERT INTO|UPDATE) "((?:[^"]|"")+)"', statement["Statement"]).groups()
            action = "dynamodb:PartiQLInsert" if verb == "INSERT INTO" else "dynamodb:PartiQLUpdate"
            name = table.replace('""', '"')
            yield Request(action, arn.format("dynamodb", f"table/{name}"))
    elif service == "events" and operation == "PutEvents":
        for entry in params["Entries"]:
            bus = entry.get("EventBusName") or "default"
            yield Request(
                "events:PutEvents", bus if bus.startswith("arn:") else arn.format("events", f"event-bus/{bus}")
            )
    elif service == "secretsmanager" and operation == "GetSecretValue":
        yield Request("secretsmanager:GetSecretValue", params["SecretId"])
    elif service == "ssm" and operation == "GetParametersByPath":
        # Authorized against the path asked for, not the parameters returned (Parameter Store's rule).
        yield Request("ssm:GetParametersByPath", arn.format("ssm", f"parameter{params['Path']}"))
    else:
        raise AssertionError(f"{service}:{operation} is not mapped to IAM here: add it to iam_requests")


class CallRecorder:
    """Records the AWS calls made inside local invocations, by the function making them."""

    def __init__(self, function_names: dict[str, str]) -> None:
        self._functions = function_names  # physical name -> logical id
        self.calls: dict[str, list[tuple[str, str, dict[str, Any]]]] = defaultdict(list)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        original = botocore.client.BaseClient._make_api_call
        recorder = self

        def recording(client: Any, operation: str, params: dict[str, Any]) -> Any:
            # The local runtime sets the function's name in the environment for each invocation,
            # as Lambda does; calls outside one (the harness polling queues and streams) are not counted.
            function = recorder._functions.get(os.environ.get("AWS_LAMBDA_FUNCTION_NAME", ""))
            if function:
                recorder.calls[function].append((client.meta.service_model.endpoint_prefix, operation, params))
            return original(client, operation, params)

        monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", recording)

    def requests(self, function: str) -> set[Request]:
        service_names = {"streams.dynamodb": "dynamodb"}
        return {
            request
            for service, operation, params in self.calls[function]
            for request in iam_requests(service_names.get(service, service), operation, params)
        }


@dataclass(frozen=True)
class Grant:
    sid: str
    action: str
    resource: str

    def allows(self, request: Request) -> bool:
        return fnmatch.fnmatchcase(request.action, self.action) and fnmatch.fnmatchcase(request.resource, self.resource)


def role_grants(stack: StackDescription, template: Template, function: FunctionSpec) -> set[Grant]:
    role = function.properties["Role"]["Fn::GetAtt"][0]
    props = stack.resolver(template).resolve(template.resources[role]["Properties"])
    grants = set()
    for policy in props["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow" and statement.get("Sid"), statement
            actions, resources = statement["Action"], statement["Resource"]
            for action in [actions] if isinstance(actions, str) else actions:
                for resource in [resources] if isinstance(resources, str) else resources:
                    grants.add(Grant(statement["Sid"], action, resource))
    return grants


def wiring_requests(stack: StackDescription, template: Template, function: FunctionSpec) -> set[Request]:
    """What Lambda itself calls with the function's role, from the function's template wiring."""
    resolve = stack.resolver(template).resolve
    props = function.properties
    needed = set()
    log_group = resolve(props["LoggingConfig"])["LogGroup"]
    log_arn = f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{log_group}:*"
    needed |= {Request(a, log_arn) for a in ("logs:CreateLogStream", "logs:PutLogEvents")}
    if props.get("Tracing") == "Active":
        needed |= {Request(a, "*") for a in ("xray:PutTraceSegments", "xray:PutTelemetryRecords")}
    if props.get("DeadLetterQueue"):
        needed.add(Request("sqs:SendMessage", resolve(props["DeadLetterQueue"])["TargetArn"]))
    for event in function.events:
        event_props = resolve(event.properties)
        if event.type == "SQS":
            poll = ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes")
            needed |= {Request(a, event_props["Queue"]) for a in poll}
        if event.type == "DynamoDB":
            stream = event_props["Stream"]
            poll = (
                "dynamodb:DescribeStream",
                "dynamodb:GetRecords",
                "dynamodb:GetShardIterator",
                "dynamodb:ListStreams",
            )
            needed |= {Request(a, stream) for a in poll}
        on_failure = ((event_props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        if on_failure:
            needed.add(Request("sqs:SendMessage", on_failure))
    return needed


# A member whose record is too large for one DynamoDB item (issue 10): its body goes to the record
# body bucket, which ingest and changes write (and tag when their write loses), aggregate reads and
# publish tags once a newer version replaced it.
BIG_MEMBER = salesforce_id("001", 424242)


def big_member(version: str, **fields: Any) -> dict[str, Any]:
    return {"Id": BIG_MEMBER, "Name": "Big member", "LastModifiedDate": version, "Description": "é" * 150_000, **fields}


def race_the_first_merge_of_the_big_member(monkeypatch: pytest.MonkeyPatch, emulator: Emulator, table: str) -> list:
    """A file chunk writes a newer version of the big member between the changes function's read and
    its guarded write (what a concurrent chunk does): the merge's body, already in S3, is tagged
    superseded. Made deterministic here; the write is the test's, not the function's (not recorded)."""
    raced: list[bool] = []
    read = DynamoEntityMerger.read

    def read_then_a_concurrent_write(self: DynamoEntityMerger, object_name: str, record_id: str) -> Any:
        stored = read(self, object_name, record_id)
        if record_id == BIG_MEMBER and not raced:
            raced.append(True)
            version = "2024-04-16T22:00:00.000Z"
            record = {"Id": BIG_MEMBER, "Name": "Big member", "LastModifiedDate": version}
            item = to_item(RecordVersion("Account", BIG_MEMBER, to_epoch_millis(version), False, record), "s3://x/y")
            function = os.environ.pop("AWS_LAMBDA_FUNCTION_NAME")
            try:
                emulator.dynamodb.put_item(TableName=table, Item=item)
            finally:
                os.environ["AWS_LAMBDA_FUNCTION_NAME"] = function
        return stored

    monkeypatch.setattr(DynamoEntityMerger, "read", read_then_a_concurrent_write)
    return raced


def the_late_big_member_reads_as_absent(monkeypatch: pytest.MonkeyPatch) -> list:
    """read-first's read of the late, older big member finds no item (a stale hint, made deterministic)."""
    misread: list[str] = []
    read_hints = DynamoEntityStore.read_hints

    def hints_missing_the_big_member(self: DynamoEntityStore, keys: Any) -> dict[str, Any]:
        hints = read_hints(self, keys)
        for key, hint in hints.items():
            if key.endswith(BIG_MEMBER) and isinstance(hint, StoredVersion) and not misread:
                misread.append(key)
                hints[key] = ABSENT
        return hints

    monkeypatch.setattr(DynamoEntityStore, "read_hints", hints_missing_the_big_member)
    return misread


def _run_every_path(emulator: Emulator, stack: StackDescription, template: Template, runtime: LocalRuntime) -> None:
    bucket = landing_bucket(stack, template)
    # AppFlow runs of three flows (members, purchases, promotions: rules, the wallet, run reports)
    run = generate_run(40, 60, seed=3)
    reports = [
        end_flow_run_report(files, bucket, ended=datetime.now(UTC).replace(microsecond=0))
        for files in run.flow_runs().values()
    ]
    put_envelope(emulator, stack, template, json.loads((EVENTS / "appflow-start-flow-run-report.json").read_text()))
    # One run's report before its files (the ingest of its last chunk settles it), the others after.
    early, *reports = reports
    put_envelope(emulator, stack, template, early)
    for landed in run.files:
        emulator.s3.put_object(Bucket=bucket, Key=landed.key, Body=landed.body)
    # A file large enough to be handed over (the ingest timeout is lowered below), with a line
    # that does not parse (raw quarantine) and a record that breaks a rule (quarantine).
    accounts = [
        {"Id": f"001LP{n:013d}", "Name": f"Account {n}", "LastModifiedDate": "2024-04-16T19:00:00.000Z"}
        for n in range(1001)  # batches of 1000 records: the second batch is handed over
    ]
    accounts[5]["Name"] = ""
    accounts.append(big_member("2024-04-16T20:00:00.000Z"))
    lines = [json.dumps(a).encode() for a in accounts]
    lines.insert(7, b'{"Id": "001LP-broken", ')
    flow = next(iter(FLOW_OBJECTS))
    emulator.s3.put_object(Bucket=bucket, Key=f"{flow}/least-privilege/part-00000", Body=b"\n".join(lines))
    runtime.run_until_drained()
    for report in reports:
        put_envelope(emulator, stack, template, report)
    # An older version of the big member, landed late, that the read-first write reads as absent (an
    # eventually consistent read may): its body is written, its INSERT finds the item there, the
    # conditional put it falls back to loses, the body is tagged. And a newer version of an account:
    # an UPDATE statement.
    late = [
        big_member("2024-04-16T18:00:00.000Z", Name="older"),
        {**accounts[1], "LastModifiedDate": "2024-04-16T20:00:00.000Z"},
    ]
    late_lines = b"\n".join(json.dumps(record).encode() for record in late)
    emulator.s3.put_object(Bucket=bucket, Key=f"{flow}/least-privilege-late/part-00000", Body=late_lines)
    # A change to the big member: its body is read to merge into, the merge's body written.
    big_change = json.loads((EVENTS / "change-event-update-nulled.json").read_text())
    big_change["detail"]["ChangeEventHeader"]["recordIds"] = [BIG_MEMBER]
    big_change["detail"]["LastModifiedDate"] = "2024-04-16T21:00:00.000Z"
    put_envelope(emulator, stack, template, big_change)
    # Change events of every kind, one read from the large-event bucket, and one that cannot be applied.
    seed_sample_objects(emulator, stack, EVENTS)
    for sample in sorted(EVENTS.glob("change-event-*.json")):
        # The samples name the default stack's resources (see events/); this stack's are others.
        text = sample.read_text().replace("appflow-ingest-largeeventbucket", str(stack.attribute("LargeEventBucket")))
        put_envelope(emulator, stack, template, json.loads(text))
    malformed = {"source": PARTNER_SOURCE, "detail-type": "AccountChangeEvent", "detail": {"Name": "no header"}}
    put_envelope(emulator, stack, template, malformed)
    summary = runtime.run_until_drained()
    assert summary.ok, (summary.failed_invocations, summary.as_dict() if hasattr(summary, "as_dict") else summary)
    # The daily re-derivation, as Scheduler invokes it, on the first day a pass is due.
    derived = emulator.dynamodb.scan(TableName=str(stack.attribute("DerivedTable")))["Items"]
    due = sorted(item["next_change"]["S"] for item in derived if "next_change" in item)
    assert due, "the run left no pass with a next change: the re-derivation would have nothing to do"
    invocation = runtime.invoke("rederive", {"scheduled_time": f"{due[0]}T00:05:00Z"})
    assert not invocation.failed, invocation.error
    assert invocation.result["rederived"] >= 1, invocation.result


@pytest.fixture
def fast_handover_template(tmp_path: Path, template_with_handlers) -> Template:
    """template.yaml with a 30 s ingest timeout: under the 30 s hand-over margin, a chunk hands
    its rest over after every batch, so the hand-over is exercised without a slow test."""
    path = template_with_handlers({})
    text = path.read_text()
    assert text.count("      Timeout: 300\n") == 1
    path.write_text(text.replace("      Timeout: 300\n", "      Timeout: 30\n"))
    return Template.load(path)


def test_each_role_grants_exactly_what_its_function_calls(
    moto_endpoint, stack_name, monkeypatch, fast_handover_template
):
    # Given the stack configured by a configuration file (flows, rules and the wallet, pushed to
    # SSM and read there by every function) and a partner event source
    emulator, template = Emulator(moto_endpoint), fast_handover_template
    stack = provision_with_config(
        template, emulator, stack_name, DEMO_CONFIG, {"SalesforceEventSourceName": PARTNER_SOURCE}
    )
    assert stack.parameters["ConfigParameterPath"], "the functions must read their configuration from SSM"

    functions = {spec.logical_id: spec for spec in template.functions()}
    recorder = CallRecorder({stack.function_name(spec): logical_id for logical_id, spec in functions.items()})
    recorder.install(monkeypatch)

    # When every function's paths run (a record too large for one item among them)
    raced = race_the_first_merge_of_the_big_member(monkeypatch, emulator, str(stack.attribute("EntityTable")))
    misread = the_late_big_member_reads_as_absent(monkeypatch)
    log = io.StringIO()
    try:
        _run_every_path(emulator, stack, template, LocalRuntime(emulator, stack, template, log_sink=log))
    except AssertionError:
        print(log.getvalue()[-20000:])
        raise

    assert raced, "the change to the big member was never merged"
    assert misread, "the late big member was never read"
    problems = []
    for logical_id, spec in sorted(functions.items()):
        grants = role_grants(stack, template, spec)
        called = recorder.requests(logical_id)
        assert called, f"{logical_id} made no AWS call: the run does not exercise it"
        # Then every call is granted ...
        for request in sorted(called, key=str):
            if not any(grant.allows(request) for grant in grants):
                problems.append(f"{logical_id} calls {request.action} on {request.resource}: not granted by its role")
        # ... and every grant is used, by the code or by the wiring
        needed = called | wiring_requests(stack, template, spec)
        for grant in sorted(grants, key=str):
            if not any(grant.allows(request) for request in needed):
                problems.append(
                    f"{logical_id} role grants {grant.action} on {grant.resource} ({grant.sid}): never used"
                )
    assert not problems, "\n".join(problems)
    # The hand-over ran (the chunk queue grant above is not granted on faith)
    assert any(op == "SendMessageBatch" for _, op, _ in recorder.calls["IngestFunction"])


def test_the_stream_grant_covers_the_streams_the_poller_reads(moto_endpoint, stack_name):
    # The stream ARN moto gives (table/<name>/stream/<label>) matches the role's <table>/stream/* grant.
    emulator, template = Emulator(moto_endpoint), Template.load(REPO / "template.yaml")
    stack = provision(template, emulator, stack_name=stack_name)
    publish = template.function("PublishFunction")
    grants = role_grants(stack, template, publish)
    for logical_id in ("EntityTable", "DerivedTable"):
        stream = str(stack.attribute(logical_id, "StreamArn"))
        assert re.search(r":table/[^/]+/stream/", stream)
        assert any(g.allows(Request("dynamodb:GetRecords", stream)) for g in grants), stream
