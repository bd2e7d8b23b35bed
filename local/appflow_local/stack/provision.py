"""Create the stack's resources in the emulator from template.yaml, as CloudFormation would.

Nothing here lists the stack's resources: every bucket, queue, table and bus the template
declares is created with the properties the template gives it (dead-letter redrive, stream view
type, EventBridge notifications ...). Each function's EventBridgeRule event becomes the same rule
on the same bus, targeting a delivery queue the local runtime polls, so moto matches the patterns
exactly as EventBridge would. Provisioning twice is harmless: existing resources are kept and
updated, and the stored description is rewritten.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from appflow_local.clients import Emulator
from appflow_local.configuration import load_configuration, push
from appflow_local.stack.description import (
    Delivery,
    StackDescription,
    Tap,
    function_environment,
    save_stack,
    state_bucket_name,
)
from appflow_local.stack.template import (
    ACCOUNT_ID,
    DEFAULT_STACK_NAME,
    FUNCTION_TYPE,
    Resolver,
    Template,
    TemplateError,
)

EVENTBRIDGE_EVENT_TYPES = ("EventBridgeRule", "CloudWatchEvent")
RULE_TYPE = "AWS::Events::Rule"
_QUEUE_ATTRIBUTES = (
    "VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "MaximumMessageSize",
    "ReceiveMessageWaitTimeSeconds", "FifoQueue", "ContentBasedDeduplication", "DeduplicationScope",
    "FifoThroughputLimit", "SqsManagedSseEnabled", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds",
)  # fmt: skip


_PASSWORD_OPTIONS = (
    "PasswordLength", "ExcludeCharacters", "ExcludeNumbers", "ExcludePunctuation", "ExcludeUppercase",
    "ExcludeLowercase", "IncludeSpace", "RequireEachIncludedType",
)  # fmt: skip


# Condition keys moto cannot judge: it denies whenever a Deny statement names them. The emulator
# is reached over plain HTTP by one user, so the TLS-only and named-reader statements would refuse
# every local request; they are checked in the template instead (tests/unit/test_template_security.py).
_UNJUDGED_CONDITION_KEYS = ("aws:SecureTransport", "aws:PrincipalArn")


def _emulated_policy(policy: Mapping[str, Any]) -> dict[str, Any]:
    """The policy less the statements whose conditions moto cannot judge."""
    statements = policy.get("Statement", [])
    statements = [statements] if isinstance(statements, Mapping) else statements
    kept = [
        s for s in statements if not any(key in json.dumps(s.get("Condition", {})) for key in _UNJUDGED_CONDITION_KEYS)
    ]
    return {**policy, "Statement": kept}


def _password_options(spec: Mapping[str, Any]) -> dict[str, Any]:
    """GenerateSecretString's options as GetRandomPassword takes them (CloudFormation gives strings)."""
    options: dict[str, Any] = {}
    for key in _PASSWORD_OPTIONS:
        if key in spec:
            value = spec[key]
            if key == "PasswordLength":
                options[key] = int(value)
            elif key == "ExcludeCharacters":
                options[key] = str(value)
            else:
                options[key] = _text(value) == "true"
    return options


def local_bus_name(name: str) -> str:
    """The name a bus gets in the emulator (see Provisioner._event_bus)."""
    return name.replace("/", "_")


def _already_exists(error: ClientError, *codes: str) -> bool:
    return error.response["Error"]["Code"] in codes


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Provisioner:
    """Creates each resource on first reference, so dependencies (a queue's DLQ) come first."""

    def __init__(
        self,
        template: Template,
        emulator: Emulator,
        *,
        stack_name: str = DEFAULT_STACK_NAME,
        parameter_overrides: Mapping[str, str] | None = None,
    ) -> None:
        self.emulator = emulator
        self.stack_name = stack_name
        self.parameters = template.parameter_values(parameter_overrides)
        self.template = template = template.with_parameters(self.parameters)
        self.resolver = Resolver(template, self.parameters, self._lookup, stack_name=stack_name, region=emulator.region)
        self.resources: dict[str, dict[str, Any]] = {}
        self.skipped: dict[str, str] = {}
        self._in_progress: set[str] = set()
        self._creators: dict[str, Callable[[str, dict[str, Any]], dict[str, Any]]] = {
            "AWS::S3::Bucket": self._bucket,
            "AWS::SQS::Queue": self._queue,
            "AWS::DynamoDB::Table": self._table,
            "AWS::Events::EventBus": self._event_bus,
            "AWS::Events::Archive": self._archive,
            RULE_TYPE: self._rule,
            FUNCTION_TYPE: self._function,
            # Security resources (docs/security.md). moto does not enforce policies: they are put
            # where they go, so the emulator holds what the account would.
            "AWS::KMS::Key": self._kms_key,
            "AWS::SecretsManager::Secret": self._secret,
            "AWS::Logs::LogGroup": self._log_group,
            "AWS::S3::BucketPolicy": self._bucket_policy,
            "AWS::SQS::QueuePolicy": self._queue_policy,
            "AWS::IAM::Role": self._role,
        }

    # ------------------------------------------------------------------ entry point
    def provision(self) -> StackDescription:
        """Create everything and store the stack description in the emulator."""
        self._ensure_state_bucket()
        for logical_id, resource in self.template.resources.items():
            kind = resource.get("Type", "")
            if kind not in self._creators or not self._condition_holds(resource):
                self.skipped[logical_id] = kind
                continue
            self.ensure(logical_id)
        stack = StackDescription(
            stack_name=self.stack_name,
            region=self.emulator.region,
            template=str(self.template.path),
            parameters=self.parameters,
            resources=self.resources,
            deliveries=[
                self._delivery(f.logical_id, e.name, e.properties, f.timeout_seconds)
                for f in self.template.functions()
                for e in f.events
                if e.type in EVENTBRIDGE_EVENT_TYPES
            ],
            taps=[
                self._tap(logical_id)
                for logical_id, props in self.template.resources_of_type("AWS::Events::EventBus")
                # Partner buses carry what AppFlow sends in, not what this stack publishes.
                if logical_id in self.resources and not props.get("EventSourceName")
            ],
            skipped=self.skipped,
        )
        stack.failure_queues = self._failure_queues(stack)
        save_stack(self.emulator, stack)
        return stack

    def ensure(self, logical_id: str) -> dict[str, Any]:
        """The resource's attributes (``Ref`` and ``GetAtt`` values), creating it if needed."""
        if logical_id in self.resources:
            return self.resources[logical_id]
        resource = self.template.resources[logical_id]
        kind = resource.get("Type", "")
        if kind not in self._creators:
            raise TemplateError(f"{logical_id} ({kind}) is referenced but has no local equivalent")
        if logical_id in self._in_progress:
            raise TemplateError(f"{logical_id}: circular reference between resources")
        self._in_progress.add(logical_id)
        try:
            raw = resource.get("Properties", {})
            if kind == FUNCTION_TYPE:
                properties = {}
            elif kind == RULE_TYPE:  # its targets are resolved one by one: one without a local equivalent is left out
                properties = {
                    **self.resolver.resolve({k: v for k, v in raw.items() if k != "Targets"}),
                    "Targets": raw.get("Targets", []),
                }
            else:
                properties = self.resolver.resolve(raw)
            attributes = self._creators[kind](logical_id, properties or {})
        finally:
            self._in_progress.discard(logical_id)
        self.resources[logical_id] = {"Type": kind, **attributes}
        return self.resources[logical_id]

    def _lookup(self, logical_id: str, attribute: str | None) -> Any:
        attributes = self.ensure(logical_id)
        key = attribute or "Ref"
        if key not in attributes:
            raise TemplateError(f"{logical_id}: attribute {key} is not available locally")
        return attributes[key]

    def _condition_holds(self, resource: Mapping[str, Any]) -> bool:
        return "Condition" not in resource or self.resolver.condition(resource["Condition"])

    def _physical_name(self, logical_id: str, limit: int) -> str:
        # CloudFormation would append a random suffix; a stable name keeps provisioning idempotent.
        return f"{self.stack_name}-{logical_id}"[:limit]

    # ------------------------------------------------------------------ resource types
    def _bucket(self, logical_id: str, props: dict[str, Any]) -> dict[str, Any]:
        s3 = self.emulator.s3
        name = props.get("BucketName") or self._physical_name(logical_id, 63).lower()
        self._create_bucket(name)
        if props.get("VersioningConfiguration"):
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=props["VersioningConfiguration"])
        encryption = props.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration")
        if encryption:
            # CloudFormation says ServerSideEncryptionByDefault where the S3 API says Apply...
            rules = [
                {
                    ("ApplyServerSideEncryptionByDefault" if k == "ServerSideEncryptionByDefault" else k): v
                    for k, v in rule.items()
                }
                for rule in encryption
            ]
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
        lifecycle = _lifecycle_rules(props.get("LifecycleConfiguration") or {})
        if lifecycle:
            s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": lifecycle})
        notifications = props.get("NotificationConfiguration") or {}
        config: dict[str, Any] = {}
        if notifications.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled") in (True, "true"):
            config["EventBridgeConfiguration"] = {}
        queues = [
            {"QueueArn": q["Queue"], "Events": [q["Event"]], **({"Filter": q["Filter"]} if "Filter" in q else {})}
            for q in notifications.get("QueueConfigurations", [])
        ]
        if queues:
            config["QueueConfigurations"] = queues
        if config:
            s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration=config)
        return {
            "Ref": name,
            "Arn": f"arn:aws:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{self.emulator.region}.amazonaws.com",
        }

    def _create_bucket(self, name: str) -> None:
        extra = (
            {}
            if self.emulator.region == "us-east-1"
            else {"CreateBucketConfiguration": {"LocationConstraint": self.emulator.region}}
        )
        try:
            self.emulator.s3.create_bucket(Bucket=name, **extra)
        except ClientError as error:
            if not _already_exists(error, "BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise

    def _queue(self, logical_id: str, props: dict[str, Any]) -> dict[str, Any]:
        sqs = self.emulator.sqs
        fifo = _text(props.get("FifoQueue", "false")) == "true"
        name = props.get("QueueName") or (
            self._physical_name(logical_id, 75) + ".fifo" if fifo else self._physical_name(logical_id, 80)
        )
        attributes = {key: _text(props[key]) for key in _QUEUE_ATTRIBUTES if key in props}
        for key in ("RedrivePolicy", "RedriveAllowPolicy"):
            if key in props:
                attributes[key] = json.dumps(props[key]) if isinstance(props[key], dict) else props[key]
        try:
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        except ClientError as error:
            if not _already_exists(error, "QueueAlreadyExists", "QueueNameExists"):
                raise
            # Provisioned before with other settings (say, new parameter values): update in place.
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            mutable = {k: v for k, v in attributes.items() if k != "FifoQueue"}
            if mutable:
                sqs.set_queue_attributes(QueueUrl=url, Attributes=mutable)
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return {"Ref": url, "QueueUrl": url, "Arn": arn, "QueueName": name}

    def _table(self, logical_id: str, props: dict[str, Any]) -> dict[str, Any]:
        dynamodb = self.emulator.dynamodb
        name = props.get("TableName") or self._physical_name(logical_id, 255)
        request: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PROVISIONED"),
        }
        if request["BillingMode"] == "PROVISIONED":
            request["ProvisionedThroughput"] = {k: int(v) for k, v in props["ProvisionedThroughput"].items()}
        if props.get("StreamSpecification"):
            request["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": props["StreamSpecification"]["StreamViewType"],
            }
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if props.get(key):
                request[key] = [
                    {k: v for k, v in index.items() if k != "ContributorInsightsSpecification"} for index in props[key]
                ]
        try:
            dynamodb.create_table(**request)
        except ClientError as error:
            if not _already_exists(error, "ResourceInUseException"):
                raise
        ttl = props.get("TimeToLiveSpecification")
        if ttl and _text(ttl.get("Enabled")) == "true":
            try:
                dynamodb.update_time_to_live(
                    TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]}
                )
            except ClientError as error:
                if "already enabled" not in str(error).lower():
                    raise
        table = dynamodb.describe_table(TableName=name)["Table"]
        attributes = {"Ref": name, "Arn": table["TableArn"]}
        if table.get("LatestStreamArn"):
            attributes["StreamArn"] = table["LatestStreamArn"]
        return attributes

    def _event_bus(self, logical_id: str, props: dict[str, Any]) -> dict[str, Any]:
        name = props["Name"]
        extra: dict[str, str] = {}
        if props.get("EventSourceName"):
            # A partner event bus: on AWS the partner (AppFlow) created the event source; here the
            # emulator stands in for it, so the bus can be associated and receive its events.
            self.emulator.events.create_partner_event_source(Name=props["EventSourceName"], Account=ACCOUNT_ID)
            extra["EventSourceName"] = props["EventSourceName"]
            # moto quirk: PutRule keeps only what follows the last "/" of a bus name, so a partner
            # bus (named like its source, slashes and all) could hold no rule. Locally it is named
            # with "_" instead; its Ref is that name, so rules and `local send` use it consistently.
            name = local_bus_name(name)
        try:
            arn = self.emulator.events.create_event_bus(Name=name, **extra)["EventBusArn"]
        except ClientError as error:
            if not _already_exists(error, "ResourceAlreadyExistsException"):
                raise
            arn = self.emulator.events.describe_event_bus(Name=name)["Arn"]
        return {"Ref": name, "Name": name, "Arn": arn}

    def _archive(self, logical_id: str, props: dict[str, Any]) -> dict[str, Any]:
        # moto archives what its managed rule matches and replays it (see docs/consuming.md for
        # what its replay does not emulate); EventBridge limits archive names to 48 characters.
        # KmsKeyIdentifier is not passed: moto's CreateArchive does not take one (moto 5).
        name = props.get("ArchiveName") or self._physical_name(logical_id, 48)
        pattern = props.get("EventPattern")
        request = {
            "Description": props.get("Description", ""),
            "EventPattern": json.dumps(pattern) if isinstance(pattern, dict) else (pattern or ""),
            "RetentionDays": int(props.get("RetentionDays", 0)),
        }
        events = self.emulator.events
        try:
            arn = events.create_archive(ArchiveName=name, EventSourceArn=props["SourceArn"], **request)["ArchiveArn"]
        except ClientError as error:
            if not _already_exists(error, "ResourceAlreadyExistsException"):
                raise
            arn = events.update_archive(ArchiveName=name, **{k: v for k, v in request.items() if v})["ArchiveArn"]
        return {"Ref": name, "ArchiveName": name, "Arn": arn}

    def _rule(self, logical_id: str, props: dict[str, Any]) -> dict[str, Any]:
        # A rule of its own (not a function's EventBridgeRule event): created as declared. Only the
        # targets moto can deliver to are attached (SQS, log groups, buses); another target kind
        # would make moto fail every PutEvents on the bus, so it is left out and said so.
        name = props.get("Name") or self._physical_name(logical_id, 64)
        bus = str(props.get("EventBusName") or "default")
        bus = bus.split(":event-bus/", 1)[1] if bus.startswith("arn:") else bus
        request: dict[str, Any] = {"Name": name, "EventBusName": bus, "State": props.get("State", "ENABLED")}
        if props.get("EventPattern"):
            pattern = props["EventPattern"]
            request["EventPattern"] = json.dumps(pattern) if isinstance(pattern, dict) else pattern
        if props.get("ScheduleExpression"):
            request["ScheduleExpression"] = props["ScheduleExpression"]
        if props.get("Description"):
            request["Description"] = props["Description"]
        arn = self.emulator.events.put_rule(**request)["RuleArn"]
        deliverable = []
        for declared in props.get("Targets", []):
            where = f"{logical_id}.Targets.{declared.get('Id')}"
            try:
                target = self.resolver.resolve(declared)
            except TemplateError as error:  # e.g. the operations topic: SNS is not provisioned locally
                self.skipped[where] = f"not created locally: {error}"
                continue
            if target["Arn"].split(":")[2] in ("sqs", "logs", "events"):
                deliverable.append(target)
            else:
                self.skipped[where] = f"target {target['Arn']} (moto delivers only to SQS, logs, buses)"
        if deliverable:
            self.emulator.events.put_targets(Rule=name, EventBusName=bus, Targets=deliverable)
        return {"Ref": name, "Arn": arn}

    def _function(self, logical_id: str, props: dict[str, Any]) -> dict[str, Any]:
        # Functions are not created in the emulator (the local runtime runs them in-process); they
        # only need names so that references to them resolve.
        name = self._physical_name(logical_id, 64)
        return {"Ref": name, "Arn": f"arn:aws:lambda:{self.emulator.region}:{ACCOUNT_ID}:function:{name}"}

    def _kms_key(self, logical_id: str, props: dict[str, Any]) -> dict[str, Any]:
        # Found again by an alias of the stack's choosing, so provisioning twice makes one key.
        kms, alias = self.emulator.kms, f"alias/{self._physical_name(logical_id, 200)}"
        try:
            key = kms.describe_key(KeyId=alias)["KeyMetadata"]
        except ClientError as error:
            if not _already_exists(error, "NotFoundException"):
                raise
            request: dict[str, Any] = {"Description": str(props.get("Description", ""))}
            if props.get("KeyPolicy"):
                request["Policy"] = json.dumps(props["KeyPolicy"])
            key = kms.create_key(**request)["KeyMetadata"]
            kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
            if _text(props.get("EnableKeyRotation", "false")) == "true":
                kms.enable_key_rotation(KeyId=key["KeyId"])
        return {"Ref": key["KeyId"], "KeyId": key["KeyId"], "Arn": key["Arn"]}

    def _secret(self, logical_id: str, props: dict[str, Any]) -> dict[str, Any]:
        secrets = self.emulator.secretsmanager
        name = props.get("Name") or self._physical_name(logical_id, 512)
        try:
            arn = secrets.describe_secret(SecretId=name)["ARN"]  # kept: its value is already in use
        except ClientError as error:
            if not _already_exists(error, "ResourceNotFoundException"):
                raise
            value = props.get("SecretString")
            if value is None:
                # GenerateSecretString, as CloudFormation does it: Secrets Manager's own generator.
                spec = props.get("GenerateSecretString") or {}
                value = secrets.get_random_password(**_password_options(spec))["RandomPassword"]
            request = {"Name": name, "SecretString": value}
            if props.get("KmsKeyId"):
                request["KmsKeyId"] = props["KmsKeyId"]
            arn = secrets.create_secret(**request)["ARN"]
        return {"Ref": arn, "Id": arn, "Name": name}

    def _log_group(self, logical_id: str, props: dict[str, Any]) -> dict[str, Any]:
        logs = self.emulator.logs
        name = props.get("LogGroupName") or self._physical_name(logical_id, 512)
        try:
            logs.create_log_group(
                logGroupName=name, **({"kmsKeyId": props["KmsKeyId"]} if props.get("KmsKeyId") else {})
            )
        except ClientError as error:
            if not _already_exists(error, "ResourceAlreadyExistsException"):
                raise
        if props.get("RetentionInDays"):
            logs.put_retention_policy(logGroupName=name, retentionInDays=int(props["RetentionInDays"]))
        arn = f"arn:aws:logs:{self.emulator.region}:{ACCOUNT_ID}:log-group:{name}:*"
        return {"Ref": name, "Arn": arn}

    def _bucket_policy(self, logical_id: str, props: dict[str, Any]) -> dict[str, Any]:
        policy = _emulated_policy(props["PolicyDocument"])
        if policy["Statement"]:
            self.emulator.s3.put_bucket_policy(Bucket=props["Bucket"], Policy=json.dumps(policy))
        return {"Ref": props["Bucket"]}

    def _queue_policy(self, logical_id: str, props: dict[str, Any]) -> dict[str, Any]:
        policy = _emulated_policy(props["PolicyDocument"])
        if policy["Statement"]:
            for url in props["Queues"]:
                self.emulator.sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
        return {"Ref": self._physical_name(logical_id, 255)}

    def _role(self, logical_id: str, props: dict[str, Any]) -> dict[str, Any]:
        # Like functions, roles are not created in the emulator (moto enforces no IAM); their
        # statements stay in the template, where tests/e2e/test_least_privilege.py reads them.
        name = self._physical_name(logical_id, 64)
        return {"Ref": name, "Arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{name}", "RoleId": name}

    # ------------------------------------------------------------------ local wiring
    def _delivery(self, function: str, event: str, raw: Mapping[str, Any], timeout_seconds: int) -> Delivery:
        """EventBridgeRule event -> the same rule and pattern, targeting a queue the runtime polls."""
        props = self.resolver.resolve(dict(raw)) or {}
        bus = str(props.get("EventBusName") or "default")
        # An ARN names the bus after "event-bus/"; a partner bus's own name contains slashes.
        bus = bus.split(":event-bus/", 1)[1] if bus.startswith("arn:") else bus
        rule = f"{self.stack_name}-{function}-{event}"[:64]
        queue = self._queue(
            f"{function}-{event}-delivery",
            {
                "QueueName": f"{self.stack_name}-{function}-{event}-delivery"[:80],
                # Long enough that a slow invocation (with its in-process retries) keeps the message hidden.
                "VisibilityTimeout": min(43200, timeout_seconds * 4 + 30),
            },
        )
        state = "DISABLED" if props.get("State") == "DISABLED" or props.get("Enabled") is False else "ENABLED"
        self.emulator.events.put_rule(
            Name=rule, EventBusName=bus, EventPattern=json.dumps(props["Pattern"]), State=state
        )
        target: dict[str, Any] = {"Id": "local-delivery", "Arn": queue["Arn"]}
        for key in ("Input", "InputPath", "InputTransformer"):
            if key in props:
                target[key] = props[key]
        self.emulator.events.put_targets(Rule=rule, EventBusName=bus, Targets=[target])
        return Delivery(
            function=function, event=event, bus=bus, rule=rule, queue_url=queue["Ref"], queue_arn=queue["Arn"]
        )

    def _tap(self, bus_logical_id: str) -> Tap:
        """Copy what consumers of a bus would receive into a log group, without consuming it."""
        bus = self.resources[bus_logical_id]["Name"]
        log_group = f"/appflow-local/{self.stack_name}/{bus_logical_id}"
        try:
            self.emulator.logs.create_log_group(logGroupName=log_group)
        except ClientError as error:
            if not _already_exists(error, "ResourceAlreadyExistsException"):
                raise
        source = self.parameters.get("EventSourceName")
        pattern = {"source": [source]} if source else {"account": [ACCOUNT_ID]}
        rule = f"{self.stack_name}-local-tap"[:64]
        self.emulator.events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps(pattern), State="ENABLED")
        arn = f"arn:aws:logs:{self.emulator.region}:{ACCOUNT_ID}:log-group:{log_group}"
        self.emulator.events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "local-tap", "Arn": arn}])
        return Tap(bus=bus, rule=rule, log_group=log_group)

    def _failure_queues(self, stack: StackDescription) -> dict[str, str]:
        """Every queue the template uses as a dead-letter or on-failure destination: ``{logical id: url}``."""
        arns = set(_failure_destinations(self.template, self.resolver))
        return {
            logical: attrs["Ref"]
            for logical, attrs in stack.resources.items()
            if attrs.get("Type") == "AWS::SQS::Queue" and attrs.get("Arn") in arns
        }

    def _ensure_state_bucket(self) -> None:
        self._create_bucket(state_bucket_name(self.stack_name))


def _lifecycle_rules(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """CloudFormation's LifecycleConfiguration rules in the S3 API's form (moto stores them; nothing expires locally)."""
    rules = []
    for rule in config.get("Rules") or []:
        tags = [{"Key": t["Key"], "Value": _text(t["Value"])} for t in rule.get("TagFilters") or []]
        prefix = rule.get("Prefix")
        if len(tags) == 1 and prefix is None:
            filter_: dict[str, Any] = {"Tag": tags[0]}
        elif tags:
            filter_ = {"And": {"Tags": tags, **({"Prefix": prefix} if prefix is not None else {})}}
        else:
            filter_ = {"Prefix": prefix or ""}
        converted: dict[str, Any] = {
            "ID": rule.get("Id", f"rule{len(rules)}"),
            "Status": rule["Status"],
            "Filter": filter_,
        }
        if "ExpirationInDays" in rule:
            converted["Expiration"] = {"Days": int(_text(rule["ExpirationInDays"]))}
        if "AbortIncompleteMultipartUpload" in rule:
            days = int(_text(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]))
            converted["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": days}
        rules.append(converted)
    return rules


def _failure_destinations(template: Template, resolver: Resolver) -> Iterator[str]:
    """ARNs of dead-letter queues and on-failure destinations, wherever the template declares them."""
    for _, props in template.resources_of_type("AWS::SQS::Queue"):
        redrive = resolver.resolve(props.get("RedrivePolicy"))
        if isinstance(redrive, str):
            redrive = json.loads(redrive)
        if redrive:
            yield redrive["deadLetterTargetArn"]
    for function in template.functions():
        props = resolver.resolve({k: function.properties.get(k) for k in ("DeadLetterQueue", "EventInvokeConfig")})
        if (props.get("DeadLetterQueue") or {}).get("TargetArn"):
            yield props["DeadLetterQueue"]["TargetArn"]
        on_failure = ((props.get("EventInvokeConfig") or {}).get("DestinationConfig") or {}).get("OnFailure") or {}
        if on_failure.get("Destination"):
            yield on_failure["Destination"]
        for event in function.events:
            event_props = resolver.resolve(event.properties) or {}
            destination = ((event_props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
            if destination:
                yield destination
            dead_letter = event_props.get("DeadLetterConfig") or {}
            if dead_letter.get("Arn") or dead_letter.get("Destination"):
                yield dead_letter.get("Arn") or dead_letter["Destination"]


def provision(
    template: Template,
    emulator: Emulator,
    *,
    stack_name: str = DEFAULT_STACK_NAME,
    parameter_overrides: Mapping[str, str] | None = None,
) -> StackDescription:
    """Create the template's resources and local wiring in the emulator; return the stored description."""
    return Provisioner(template, emulator, stack_name=stack_name, parameter_overrides=parameter_overrides).provision()


def provision_with_config(
    template: Template,
    emulator: Emulator,
    stack_name: str,
    config_path: Path | None,
    overrides: dict[str, str] | None = None,
) -> StackDescription:
    """Provision the stack; with a configuration file, check it first, set the parameters it renders
    (explicit overrides win) and push it where the functions read it, as `config push` does on AWS."""
    if config_path is None:
        return provision(template, emulator, stack_name=stack_name, parameter_overrides=overrides)
    from appflow_local.configuration import stack_parameters

    config = load_configuration(config_path)  # refused before anything is created
    parameters = {**stack_parameters(config, stack_name), **(overrides or {})}
    stack = provision(template, emulator, stack_name=stack_name, parameter_overrides=parameters)
    pushed = push(config, emulator.ssm, parameters["ConfigParameterPath"])
    print(f"pushed {config_path} to {parameters['ConfigParameterPath']}: {json.dumps(pushed)}", file=sys.stderr)
    return stack


def sam_env_vars(
    stack: StackDescription, template: Template, emulator_url: str, container_url: str
) -> dict[str, dict[str, str]]:
    """A ``sam local invoke --env-vars`` document pointing each function at the provisioned stack.

    SAM only overrides variables the template declares, which is why AWS_ENDPOINT_OVERRIDE is one.
    URLs of the emulator (queue URLs) are rewritten to how a Lambda container reaches it, and
    secrets' ARNs to their names (GetSecretValue takes either; moto ends each ARN in random
    characters, and the committed events/env.local.json must come out the same every time).
    """
    secret_names = {
        attrs["Ref"]: attrs["Name"]
        for attrs in stack.resources.values()
        if attrs.get("Type") == "AWS::SecretsManager::Secret" and "Name" in attrs
    }
    document: dict[str, dict[str, str]] = {}
    for function in template.functions():
        env = function_environment(function, stack, template)
        env = {name: value.replace(emulator_url.rstrip("/"), container_url.rstrip("/")) for name, value in env.items()}
        env = {name: secret_names.get(value, value) for name, value in env.items()}
        env["AWS_ENDPOINT_OVERRIDE"] = container_url
        document[function.logical_id] = env
    return document
