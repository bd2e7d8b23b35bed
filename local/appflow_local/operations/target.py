"""Find a stack and its resources: deployed (CloudFormation) or in the emulator, the same way for every verb.

    resolve_target(stack="prod-ingest")                                   # AWS: normal credentials and region
    resolve_target(endpoint_url="http://127.0.0.1:5000")                  # the emulator's provisioned stack
    resolve_target(stack="t1", endpoint_url="http://127.0.0.1:5000")     # a CloudFormation stack at that endpoint

With an endpoint URL, the emulator's own stack description (``local provision``) is used when it holds
one under that name; otherwise the endpoint's CloudFormation is asked, as on AWS. The application's
shape (which queue holds what, which function a rule feeds) comes from the template the stack was
provisioned from, or the one shipped with this CLI (``--template``).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from appflow_local.clients import DUMMY_CREDENTIALS, Emulator
from appflow_local.operations.errors import OperationFailed, UserError
from appflow_local.stack.description import StackDescription, StackNotProvisioned, load_stack
from appflow_local.stack.template import DEFAULT_STACK_NAME, Template, TemplateError, default_template_path


def check_endpoint_url(url: str) -> str:
    """The URL as given if it has a scheme and a host; else a UserError saying how to write it."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UserError(
            f"--endpoint-url {url!r} is not a URL: write it with its scheme and port, e.g. http://127.0.0.1:5000"
        )
    return url.rstrip("/")


def check_reachable(url: str, timeout: float = 2.0) -> None:
    """Fail at once, in one line, when nothing listens at the endpoint (botocore would retry for a minute)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", port), timeout=timeout):
            return
    except OSError:
        raise UserError(
            f"nothing is listening at {url}: start the emulator (.venv/bin/moto_server -p {port}, or "
            "`appflow-ingest demo --keep`) or fix --endpoint-url"
        ) from None


@dataclass(frozen=True)
class Resource:
    logical_id: str
    type: str
    physical_id: str


@dataclass
class Target:
    """One stack: its physical resources by logical id, the application's template, and clients."""

    stack_name: str
    region: str
    endpoint_url: str | None
    resources: dict[str, Resource]
    template: Template
    parameters: dict[str, str] = field(default_factory=dict)
    session: Any = None
    emulated: StackDescription | None = None  # the emulator's description: functions run in-process

    @property
    def where(self) -> str:
        """How to name the stack in messages and in commands to copy."""
        if self.emulated is not None:
            return f"--endpoint-url {self.endpoint_url}" + (
                f" --stack {self.stack_name}" if self.stack_name != DEFAULT_STACK_NAME else ""
            )
        return f"--stack {self.stack_name}" + (f" --endpoint-url {self.endpoint_url}" if self.endpoint_url else "")

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._client(service)
        return self._clients[service]

    @cached_property
    def _clients(self) -> dict[str, Any]:
        return {}

    def _client(self, service: str) -> Any:
        config = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=120)
        return self.session.client(service, endpoint_url=self.endpoint_url, config=config)

    def has(self, logical_id: str) -> bool:
        return logical_id in self.resources

    def physical(self, logical_id: str) -> str:
        """The physical id (queue URL, table, bucket or function name) of a resource of the stack."""
        if logical_id not in self.resources:
            raise OperationFailed(f"stack {self.stack_name} has no {logical_id}: was it deployed from this template?")
        return self.resources[logical_id].physical_id

    def of_type(self, resource_type: str) -> list[Resource]:
        return [r for r in self.resources.values() if r.type == resource_type]

    @cached_property
    def emulator(self) -> Emulator:
        """The emulator's clients (emulated stacks only)."""
        if self.emulated is None or self.endpoint_url is None:
            raise OperationFailed("this needs the emulator: the stack is deployed")
        return Emulator(self.endpoint_url, self.region)

    def stream_arn(self, table_logical_id: str) -> str | None:
        if self.emulated is not None:
            return self.emulated.resources.get(table_logical_id, {}).get("StreamArn")
        table = self.client("dynamodb").describe_table(TableName=self.physical(table_logical_id))["Table"]
        return table.get("LatestStreamArn")

    def queue_arn(self, logical_id: str) -> str:
        attributes = self.client("sqs").get_queue_attributes(
            QueueUrl=self.physical(logical_id), AttributeNames=["QueueArn"]
        )["Attributes"]
        return str(attributes["QueueArn"])


def resolve_target(
    *,
    stack: str | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
    template: Path | None = None,
) -> Target:
    """The stack named (default: the emulator's ``appflow-ingest``), resolved as described in the module."""
    if endpoint_url:
        endpoint_url = check_endpoint_url(endpoint_url)
        check_reachable(endpoint_url)
        described = _emulated(endpoint_url, stack or DEFAULT_STACK_NAME, region, template)
        if described is not None:
            return described
        if stack is None:
            raise UserError(
                f"no stack {DEFAULT_STACK_NAME!r} in the emulator at {endpoint_url}: run `appflow-ingest local "
                f"provision --endpoint-url {endpoint_url}` first, or name one with --stack"
            )
    elif stack is None:
        raise UserError(
            "which stack? pass --stack NAME (a deployed stack) or --endpoint-url URL (the emulator), "
            "or set APPFLOW_LOCAL_ENDPOINT_URL"
        )
    return _deployed(stack, endpoint_url, region, template)


def _emulated(endpoint_url: str, name: str, region: str | None, template: Path | None) -> Target | None:
    emulator = Emulator(endpoint_url, region or "us-east-1")
    try:
        description = load_stack(emulator, name)
    except StackNotProvisioned:
        return None
    if region and region != description.region:
        raise UserError(
            f"stack {name!r} was provisioned in {description.region}, not {region}: pass --region "
            f"{description.region} (or leave --region out)"
        )
    return emulated_target(endpoint_url, description, _template(description.load_template, template))


def emulated_target(endpoint_url: str, description: StackDescription, template: Template) -> Target:
    """The Target of a stack the emulator holds (for local commands that already loaded it)."""
    resources = {
        logical_id: Resource(logical_id, str(attributes.get("Type", "")), str(attributes["Ref"]))
        for logical_id, attributes in description.resources.items()
    }
    return Target(
        stack_name=description.stack_name,
        region=description.region,
        endpoint_url=endpoint_url,
        resources=resources,
        template=template,
        parameters=dict(description.parameters),
        session=boto3.session.Session(region_name=description.region, **DUMMY_CREDENTIALS),
        emulated=description,
    )


def _template(load: Any, override: Path | None) -> Template:
    try:
        return load(override)
    except TemplateError as error:
        raise UserError(f"{error}: pass --template path/to/template.yaml") from None


def _deployed(name: str, endpoint_url: str | None, region: str | None, template: Path | None) -> Target:
    session = boto3.session.Session(region_name=region) if region else boto3.session.Session()
    if not session.region_name:
        raise UserError("no AWS region: pass --region or set AWS_REGION (or a region in your AWS profile)")
    cloudformation = session.client("cloudformation", endpoint_url=endpoint_url)
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
        resources: dict[str, Resource] = {}
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=name):
            for summary in page["StackResourceSummaries"]:
                if summary.get("PhysicalResourceId"):
                    resources[summary["LogicalResourceId"]] = Resource(
                        summary["LogicalResourceId"], summary["ResourceType"], summary["PhysicalResourceId"]
                    )
    except NoCredentialsError:
        raise UserError(
            "no AWS credentials: configure them (aws configure, AWS_PROFILE, SSO) or use --endpoint-url for the emulator"
        ) from None
    except NoRegionError:
        raise UserError("no AWS region: pass --region or set AWS_REGION") from None
    except ClientError as error:
        message = error.response.get("Error", {}).get("Message", "")
        if "does not exist" in message:
            raise UserError(
                f"no stack {name!r} in {session.region_name}: check the name (aws cloudformation list-stacks) "
                "and the region (--region)"
            ) from None
        raise OperationFailed(f"CloudFormation refused to describe stack {name!r}: {message}") from None
    except BotoCoreError as error:
        raise OperationFailed(f"cannot reach CloudFormation in {session.region_name}: {error}") from None
    parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in stacks[0].get("Parameters", [])}
    return Target(
        stack_name=name,
        region=session.region_name,
        endpoint_url=endpoint_url,
        resources=resources,
        template=_template(lambda override: Template.load(override or default_template_path()), template),
        parameters=parameters,
        session=session,
    )


def flow_objects(target: Target) -> Mapping[str, Any]:
    """The stack's FlowObjects parameter as a mapping (empty when unset or unreadable)."""
    try:
        document = json.loads(target.parameters.get("FlowObjects") or "{}")
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}
