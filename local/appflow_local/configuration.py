"""The configuration file of an environment (config/<env>.yaml): checked, rendered, pushed.

One YAML file declares the objects, their fields and rules, the flows and the wallet. It is checked
against config/configuration.schema.json and then for what a schema cannot say (a flow's object
is declared, a rule set exists and is for that object ...); every mistake is reported with the
file, line and field. From a checked file come:

- the runtime document the functions read (``runtime_document``), pushed to SSM Parameter Store
  under the stack's path (``push``), one parameter per part;
- the stack parameters that make the flows (``stack_parameters``), written into samconfig.toml
  (``render_samconfig``) so that `sam deploy --config-env <env>` deploys exactly what was checked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from appflow_ingest.adapters.configuration_store import FLOWS, RULE_SETS_PREFIX, WALLET
from appflow_ingest.domain.rules.catalog import DeclarationError, rule_set_from_declaration, shipped_declarations
from appflow_ingest.domain.wallet import WalletConfig

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "config" / "configuration.schema.json"
# CloudFormation's limit on one parameter value: AppFlowFlowSettings holds every created flow's settings.
PARAMETER_LIMIT = 4096

FieldPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One mistake: where (line, field) and what is wrong."""

    line: int
    field: str
    message: str


class ConfigurationFileError(ValueError):
    """The configuration file cannot be used; ``problems`` name each mistake by line and field."""

    def __init__(self, path: Path, problems: Iterable[Problem]) -> None:
        self.path = path
        self.problems = sorted(problems, key=lambda p: (p.line, p.field))
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        return [f"{self.path}:{p.line}: {p.field + ': ' if p.field else ''}{p.message}" for p in self.problems]


@dataclass(frozen=True)
class Configuration:
    """A checked configuration file."""

    path: Path
    document: dict[str, Any]

    @property
    def flows(self) -> dict[str, dict[str, Any]]:
        return self.document["flows"]

    def created_flows(self, trigger: str) -> list[str]:
        """Names of the flows the stack creates with this trigger (``scheduled`` or ``event``)."""
        return [name for name, flow in self.flows.items() if (flow.get("appflow") or {}).get("trigger") == trigger]


# ------------------------------------------------------------------------------------------ reading
def load_configuration(path: str | Path) -> Configuration:
    """Read and check a configuration file; raise ConfigurationFileError naming every mistake."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigurationFileError(path, [Problem(0, "", f"cannot be read: {error.strerror or error}")]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        document = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 0
        raise ConfigurationFileError(path, [Problem(line, "", f"not valid YAML: {error.problem}")]) from None
    lines: dict[FieldPath, int] = {}
    if node is not None:
        _record_lines(node, (), lines)
    problems = [_schema_problem(error, document, lines) for error in _validator().iter_errors(document)]
    if not problems:
        problems = list(_meaning_problems(document, lines))
    if problems:
        raise ConfigurationFileError(path, problems)
    return Configuration(path, document)


@cache
def _validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _record_lines(node: yaml.Node, path: FieldPath, lines: dict[FieldPath, int]) -> None:
    """The line (1-based) of every key and list item, by its path in the document."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # "<<: *anchor": the merged keys are this mapping's
                for merged in value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]:
                    _record_lines(merged, path, lines)
                continue
            key = key_node.value
            lines[(*path, key)] = key_node.start_mark.line + 1
            _record_lines(value_node, (*path, key), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, (*path, index), lines)


def _line(path: FieldPath, lines: Mapping[FieldPath, int]) -> int:
    """The line of ``path``, else of its nearest ancestor present in the file."""
    while path and path not in lines:
        path = path[:-1]
    return lines.get(path, 1)


def _dotted(path: Iterable[str | int]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path).lstrip(".")


def _schema_problem(error: ValidationError, document: Any, lines: Mapping[FieldPath, int]) -> Problem:
    path: FieldPath = tuple(error.absolute_path)
    message = error.message
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        unexpected = [key for key in error.instance if key not in allowed]
        if unexpected:
            path = (*path, unexpected[0])
            message = f"unknown key, expected one of {sorted(allowed)}"
    elif error.validator == "required" and isinstance(error.validator_value, list):
        missing = next((key for key in error.validator_value if key not in (error.instance or {})), None)
        if missing:
            return Problem(_line(path, lines), _dotted((*path, missing)), "required, missing")
    elif error.validator == "propertyNames":
        bad = next((key for key in (error.instance or {}) if not re.fullmatch(r"[\w!@#.-]+", str(key))), None)
        message = f"{error.message} (a name with characters it may not have)"
        if bad is not None:
            path = (*path, bad)
    elif error.validator == "not" and error.validator_value == {"required": ["schedule"]}:
        path, message = (*path, "schedule"), "only a scheduled flow has a schedule (an event flow runs on each change)"
    return Problem(_line(path, lines), _dotted(path), message)


def _meaning_problems(document: Mapping[str, Any], lines: Mapping[FieldPath, int]) -> Iterator[Problem]:
    """What the schema cannot check: references between parts of the file."""

    def problem(path: FieldPath, message: str) -> Problem:
        return Problem(_line(path, lines), _dotted(path), message)

    own = document.get("rule_sets") or {}
    shipped = shipped_declarations()
    for name, declaration in own.items():
        if name in shipped:
            yield problem(("rule_sets", name), f"{name!r} is a shipped rule set's name: choose another")
        try:
            rule_set_from_declaration(name, declaration)
        except DeclarationError as error:
            yield problem(("rule_sets", name), str(error))
    known = {**shipped, **own}
    objects = document.get("objects") or {}
    for object_name, spec in objects.items():
        rules = (spec or {}).get("rules")
        if rules is None:
            continue
        if rules not in known:
            yield problem(
                ("objects", object_name, "rules"), f"unknown rule set {rules!r}, expected one of {sorted(known)}"
            )
        elif known[rules]["object"] != object_name:
            yield problem(
                ("objects", object_name, "rules"),
                f"rule set {rules!r} is for {known[rules]['object']}, not {object_name}",
            )
    for flow, spec in document["flows"].items():
        if spec["object"] not in objects:
            yield problem(("flows", flow, "object"), f"{spec['object']} is not declared under objects")
    created = {name: spec["appflow"] for name, spec in document["flows"].items() if spec.get("appflow")}
    appflow = document.get("appflow")
    if created and appflow is None:
        yield problem(("flows", next(iter(created))), "the stack creates this flow: declare appflow.connector_profile")
    if any(spec["trigger"] == "event" for spec in created.values()) and not (appflow or {}).get("partner_event_source"):
        yield problem(("appflow",), "event-triggered flows need appflow.partner_event_source")
    if len(_flow_settings(document)) > PARAMETER_LIMIT:
        yield problem(
            ("flows",), f"the created flows' settings exceed CloudFormation's {PARAMETER_LIMIT}-character parameter"
        )
    wallet = document.get("wallet")
    if wallet is not None:
        try:
            config = WalletConfig.from_json(json.dumps(wallet))
        except (TypeError, ValueError) as error:
            yield problem(("wallet",), str(error))
        else:
            for key, object_name in (
                ("member_object", config.member_object),
                ("purchase_object", config.purchase_object),
                ("promotion_object", config.promotion_object),
            ):
                if object_name not in objects:
                    yield problem(("wallet", key), f"{object_name} is not declared under objects")


# ------------------------------------------------------------------------------------------ outputs
def runtime_document(config: Configuration) -> dict[str, Any]:
    """What the functions read: flows in FLOW_OBJECTS' shape, the rule sets they bind, the wallet."""
    document = config.document
    objects = document["objects"]
    known = {**shipped_declarations(), **(document.get("rule_sets") or {})}
    flows: dict[str, dict[str, Any]] = {}
    for name, flow in config.flows.items():
        spec = objects[flow["object"]] or {}
        entry = {
            "object": flow["object"],
            "id_field": spec.get("id_field", "Id"),
            "version_field": spec.get("version_field", "LastModifiedDate"),
            "format": flow.get("format", "json"),
        }
        if spec.get("rules"):
            entry["rules"] = spec["rules"]
        if spec.get("volatile_fields") is not None:
            entry["volatile_fields"] = spec["volatile_fields"]
        flows[name] = entry
    used = sorted({spec["rules"] for spec in objects.values() if spec and spec.get("rules")})
    return {"flows": flows, "rule_sets": {name: known[name] for name in used}, "wallet": document.get("wallet")}


def change_event_channel(object_name: str) -> str:
    """Salesforce's change event of an object: ``Account`` -> ``AccountChangeEvent``, ``Promotion__c`` -> ``Promotion__ChangeEvent``."""
    return object_name[:-3] + "__ChangeEvent" if object_name.endswith("__c") else object_name + "ChangeEvent"


def _flow_settings(document: Mapping[str, Any]) -> str:
    """``|<flow>=<source object>;<file type>;<schedule>;<version field>|...`` for the created flows."""
    entries = []
    objects = document.get("objects") or {}
    for name, flow in document["flows"].items():
        appflow = flow.get("appflow")
        if not appflow:
            continue
        version_field = (objects.get(flow["object"]) or {}).get("version_field", "LastModifiedDate")
        event = appflow["trigger"] == "event"
        source = change_event_channel(flow["object"]) if event else flow["object"]
        file_type = flow.get("format", "json").upper()
        entries.append(f"{name}={source};{file_type};{appflow.get('schedule', '-')};{version_field}")
    return "|" + "|".join(entries) + "|" if entries else ""


def config_parameter_path(stack_name: str) -> str:
    """Where a stack's configuration lives in SSM Parameter Store."""
    return f"/{stack_name}/configuration"


def stack_parameters(config: Configuration, stack_name: str) -> dict[str, str]:
    """The template parameters this configuration sets (flows, where the functions find it)."""
    document = config.document
    parameters = {"ConfigParameterPath": config_parameter_path(stack_name)}
    scheduled, event = config.created_flows("scheduled"), config.created_flows("event")
    appflow = document.get("appflow") or {}
    if scheduled or event:
        parameters.update(
            {
                "AppFlowConnectorProfile": appflow["connector_profile"],
                "AppFlowScheduledFlows": ",".join(scheduled),
                "AppFlowEventFlows": ",".join(event),
                "AppFlowFlowSettings": _flow_settings(document),
                "AppFlowDataTransferApi": appflow.get("data_transfer_api", "BULKV2"),
                "AppFlowAggregation": appflow.get("aggregation", "SingleFile"),
                "AppFlowTargetFileSizeMB": str(appflow.get("target_file_size_mb", 128)),
            }
        )
    if config.flows:
        # Only the configured flows may write to the landing bucket (its policy's aws:SourceArn).
        parameters["AppFlowWriterFlowArns"] = ",".join(f"arn:*:appflow:*:*:flow/{name}" for name in config.flows)
    if event:
        source = appflow["partner_event_source"]
        parameters["AppFlowPartnerEventSource"] = source
        active = appflow.get("event_flows", "active") == "active"
        parameters["AppFlowEventFlowStatus"] = "Active" if active else "Draft"
        # The partner bus can be associated once the first deploy (draft) has created the source.
        parameters["SalesforceEventSourceName"] = source if active else ""
    return parameters


def overrides_text(parameters: Mapping[str, str]) -> str:
    """``Name=Value`` pairs as `sam deploy --parameter-overrides` and samconfig.toml take them."""
    return " ".join(f'{name}="{value}"' for name, value in parameters.items())


# ------------------------------------------------------------------------------------------ pushing
def parameter_parts(config: Configuration) -> dict[str, str]:
    """The SSM parameters (name under the path -> JSON value) the runtime document is pushed as."""
    document = runtime_document(config)
    parts = {
        f"{RULE_SETS_PREFIX}{name}": json.dumps(rules, sort_keys=True) for name, rules in document["rule_sets"].items()
    }
    parts[WALLET] = json.dumps(document["wallet"], sort_keys=True)
    parts[FLOWS] = json.dumps(document["flows"], sort_keys=True)
    return parts


def push(config: Configuration, ssm: Any, path: str) -> dict[str, list[str]]:
    """Write the configuration under ``path`` and remove what it no longer declares.

    Order matters to a function reading meanwhile: rule sets first, then the wallet, then the flows
    that name them, and stale rule sets only after the flows stopped naming them.
    """
    path = path.rstrip("/")
    parts = parameter_parts(config)
    existing = _existing(ssm, path)
    written = []
    for name in sorted(parts, key=lambda n: (n == FLOWS, n == WALLET, n)):
        if existing.get(name) == parts[name]:
            continue
        ssm.put_parameter(
            Name=f"{path}/{name}", Value=parts[name], Type="String", Overwrite=True, Tier="Intelligent-Tiering"
        )
        written.append(name)
    removed = sorted(set(existing) - set(parts))
    for start in range(0, len(removed), 10):
        ssm.delete_parameters(Names=[f"{path}/{name}" for name in removed[start : start + 10]])
    return {"written": written, "removed": removed, "unchanged": sorted(set(parts) - set(written))}


def _existing(ssm: Any, path: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for page in ssm.get_paginator("get_parameters_by_path").paginate(Path=path, Recursive=True):
        for parameter in page["Parameters"]:
            found[parameter["Name"][len(path) + 1 :]] = parameter["Value"]
    return found


# ------------------------------------------------------------------------------------------ samconfig
RENDERED_BEGIN = "# --- rendered from {path} by `appflow-ingest config render`: do not edit by hand ---"
RENDERED_END = "# --- end of rendered parameters ---"


RENDERED_COMMANDS = ("deploy", "sync")  # the sam commands that take the stack's parameters


def render_samconfig(samconfig: str, env: str, config: Configuration, stack_name: str) -> str:
    """samconfig.toml with ``parameter_overrides`` of ``[<env>.deploy.parameters]`` (and of
    ``[<env>.sync.parameters]`` when present) set from the configuration; other settings kept."""
    begin = RENDERED_BEGIN.format(path=config.path.as_posix())
    overrides = json.dumps(overrides_text(stack_parameters(config, stack_name)))
    block = f"{begin}\nparameter_overrides = {overrides}\n{RENDERED_END}\n"
    if f"[{env}.deploy.parameters]" not in samconfig:
        raise ValueError(f"samconfig.toml has no [{env}.deploy.parameters] section")
    for command in RENDERED_COMMANDS:
        section = f"[{env}.{command}.parameters]"
        if section not in samconfig:
            continue
        start = samconfig.index(section) + len(section) + 1
        following = samconfig.find("\n[", start)
        end = len(samconfig) if following == -1 else following + 1
        body = re.sub(
            r"# --- rendered from .*?# --- end of rendered parameters ---\n", "", samconfig[start:end], flags=re.S
        )
        lines = [line for line in body.splitlines(keepends=True) if not line.startswith("parameter_overrides = ")]
        # After the section's last setting: comments and blank lines that follow belong to the next section.
        last = max(
            (i for i, line in enumerate(lines) if line.strip() and not line.lstrip().startswith("#")), default=-1
        )
        lines.insert(last + 1, block)
        samconfig = samconfig[:start] + "".join(lines) + samconfig[end:]
    return samconfig
