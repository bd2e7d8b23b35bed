"""The provisioned stack's description, kept inside the emulator itself.

``provision``, ``replay``, ``dump`` and ``events`` run as separate processes: the physical names,
parameter values and local wiring that provisioning produced are stored as a small S3 object in
the emulator (as CloudFormation keeps a stack's state on the AWS side), so every later command
finds them with nothing but the endpoint URL and the stack name.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from appflow_local.clients import Emulator
from appflow_local.stack.template import FunctionSpec, Resolver, Template, TemplateError

STACK_OBJECT_KEY = "stack.json"


class StackNotProvisioned(LookupError):
    """The emulator holds no description of this stack: run ``local provision`` first."""


def state_bucket_name(stack_name: str) -> str:
    """The emulator-only bucket that holds the stack description and stream checkpoints."""
    return f"{stack_name.lower()}-local-state"[:63]


@dataclass(frozen=True)
class Delivery:
    """A function's EventBridgeRule event, emulated as rule -> SQS queue that the runtime polls.

    moto then does the pattern matching, as EventBridge does on AWS.
    """

    function: str
    event: str
    bus: str
    rule: str
    queue_url: str
    queue_arn: str


@dataclass(frozen=True)
class Tap:
    """A rule on a downstream bus that copies every event to a log group, for ``local events``."""

    bus: str
    rule: str
    log_group: str


@dataclass
class StackDescription:
    """What provisioning created: physical resources by logical id, and the local wiring."""

    stack_name: str
    region: str
    template: str
    parameters: dict[str, str]
    resources: dict[str, dict[str, Any]]
    deliveries: list[Delivery] = field(default_factory=list)
    taps: list[Tap] = field(default_factory=list)
    failure_queues: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def state_bucket(self) -> str:
        return state_bucket_name(self.stack_name)

    def attribute(self, logical_id: str, attribute: str | None = None) -> Any:
        """``!Ref`` (attribute None) or ``!GetAtt`` of a provisioned resource."""
        if logical_id not in self.resources:
            kind = self.skipped.get(logical_id, "unknown")
            raise TemplateError(f"{logical_id} ({kind}) has no local equivalent")
        attributes = self.resources[logical_id]
        key = attribute or "Ref"
        if key not in attributes:
            raise TemplateError(f"{logical_id}: attribute {key} is not available locally")
        return attributes[key]

    def logical_id_of_arn(self, arn: str) -> str | None:
        return next((logical for logical, attrs in self.resources.items() if attrs.get("Arn") == arn), None)

    def resolver(self, template: Template) -> Resolver:
        """A resolver that reads resources from this description (creates nothing)."""
        return Resolver(template, self.parameters, self.attribute, stack_name=self.stack_name, region=self.region)

    def function_name(self, function: FunctionSpec) -> str:
        return str(self.attribute(function.logical_id))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> StackDescription:
        data = json.loads(text)
        data["deliveries"] = [Delivery(**d) for d in data.get("deliveries", [])]
        data["taps"] = [Tap(**t) for t in data.get("taps", [])]
        return cls(**data)

    def load_template(self, override: str | Path | None = None) -> Template:
        """The template this stack was provisioned from (or an explicitly given one), its loops
        expanded over the parameter values it was provisioned with."""
        return Template.load(override or self.template).with_parameters(self.parameters)


def save_stack(emulator: Emulator, stack: StackDescription) -> None:
    emulator.s3.put_object(
        Bucket=stack.state_bucket, Key=STACK_OBJECT_KEY, Body=stack.to_json().encode(), ContentType="application/json"
    )


def load_stack(emulator: Emulator, stack_name: str) -> StackDescription:
    """Read the description ``local provision`` stored; raise StackNotProvisioned if there is none."""
    try:
        body = emulator.s3.get_object(Bucket=state_bucket_name(stack_name), Key=STACK_OBJECT_KEY)["Body"].read()
    except ClientError as error:
        if error.response["Error"]["Code"] in ("NoSuchBucket", "NoSuchKey", "404"):
            raise StackNotProvisioned(
                f"stack {stack_name!r} is not provisioned in {emulator.endpoint_url}: run "
                f"`appflow-ingest local provision --endpoint-url {emulator.endpoint_url}` first"
            ) from None
        raise
    return StackDescription.from_json(body.decode())


def function_environment(function: FunctionSpec, stack: StackDescription, template: Template) -> dict[str, str]:
    """The function's ``Environment.Variables`` (Globals merged), resolved against the provisioned stack."""
    resolved = stack.resolver(template).resolve(function.environment) or {}
    return {name: _env_string(value) for name, value in resolved.items()}


def _env_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return "" if value is None else str(value)


def landing_bucket(stack: StackDescription, template: Template) -> str:
    """The bucket AppFlow lands in: the one whose notifications go to EventBridge (``LandingBucket`` if several)."""
    candidates = [
        logical_id
        for logical_id, props in template.resources_of_type("AWS::S3::Bucket")
        if (props.get("NotificationConfiguration") or {}).get("EventBridgeConfiguration")
        and logical_id in stack.resources
    ]
    if len(candidates) != 1:
        candidates = [c for c in candidates if c == "LandingBucket"] or candidates
    if not candidates:
        raise TemplateError("the template declares no bucket with EventBridge notifications to land files in")
    return str(stack.attribute(candidates[0]))
