"""Read template.yaml the way CloudFormation and SAM do, so local mode is built from the template itself.

Local and deployed topologies cannot drift when both come from one file: this module knows the
template's shapes (short-form tags, parameters, SAM ``Globals``, function ``Events``) and resolves
intrinsic functions against whatever physical resources the caller supplies, the locally created
ones for provisioning and the persisted stack description for every later command.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from appflow_local.clients import DEFAULT_REGION

DEFAULT_STACK_NAME = "appflow-ingest"
# moto's default account: ARNs built here match the ones moto returns.
ACCOUNT_ID = "123456789012"

FUNCTION_TYPE = "AWS::Serverless::Function"


class TemplateError(ValueError):
    """The template (or a parameter override) cannot be used as local mode needs it."""


class _CfnLoader(yaml.SafeLoader):
    """A YAML loader that understands CloudFormation's short-form tags (``!Ref``, ``!GetAtt``, ...)."""


def _construct_short_form(loader: _CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_short_form)


def load_yaml(path: Path) -> dict[str, Any]:
    """Parse a CloudFormation/SAM YAML document into the long (JSON) form."""
    with path.open(encoding="utf-8") as stream:
        document = yaml.load(stream, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(document, dict) or "Resources" not in document:
        raise TemplateError(f"{path}: not a CloudFormation template (no Resources section)")
    return document


def merge_globals(global_props: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    """SAM's Globals rule: maps merge (the function wins), lists concatenate, scalars are overridden."""
    merged: dict[str, Any] = dict(global_props)
    for key, value in own.items():
        base = merged.get(key)
        if isinstance(base, Mapping) and isinstance(value, Mapping):
            merged[key] = merge_globals(base, value)
        elif isinstance(base, list) and isinstance(value, list):
            merged[key] = base + value
        else:
            merged[key] = value
    return merged


@dataclass(frozen=True)
class EventSource:
    """One entry of a function's ``Events``: what triggers it, with its raw (unresolved) properties."""

    function: str
    name: str
    type: str
    properties: dict[str, Any]


@dataclass(frozen=True)
class FunctionSpec:
    """A ``AWS::Serverless::Function`` with Globals applied, as Lambda would run it."""

    logical_id: str
    code_dir: Path
    handler: str
    timeout_seconds: int
    memory_mb: int
    properties: dict[str, Any]

    @property
    def environment(self) -> dict[str, Any]:
        """The raw ``Environment.Variables`` (Globals merged); resolve them before use."""
        return dict(self.properties.get("Environment", {}).get("Variables", {}))

    @property
    def events(self) -> list[EventSource]:
        return [
            EventSource(self.logical_id, name, spec.get("Type", ""), dict(spec.get("Properties", {})))
            for name, spec in self.properties.get("Events", {}).items()
        ]

    @property
    def module_path(self) -> Path:
        """The file Lambda imports for ``Handler`` (``app.handler`` -> ``<CodeUri>/app.py``)."""
        module, _, _ = self.handler.rpartition(".")
        return self.code_dir.joinpath(*module.split(".")).with_suffix(".py")

    @property
    def handler_name(self) -> str:
        return self.handler.rpartition(".")[2]

    @property
    def short_name(self) -> str:
        """``PlanFunction`` -> ``plan``: what a person types on the command line."""
        return re.sub(r"Function$", "", self.logical_id).lower()


class Template:
    """A loaded template: parameters, resources and functions, without any AWS state.

    ``Fn::ForEach`` loops (AWS::LanguageExtensions) are expanded as CloudFormation expands them,
    with the parameter values given to ``with_parameters`` (the defaults until then).
    """

    def __init__(self, path: Path, document: dict[str, Any], parameters: Mapping[str, str] | None = None) -> None:
        self.path = path.resolve()
        self.directory = self.path.parent
        self.source = document
        self.document = expand_language_extensions(document, self._collection_values(document, parameters or {}))

    def with_parameters(self, values: Mapping[str, str]) -> Template:
        """The same template with its loops expanded over these parameter values."""
        return Template(self.path, self.source, values)

    @staticmethod
    def _collection_values(document: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, list[str]]:
        """Each list parameter's items: the given value, else the default (``""`` is one empty item, as in CloudFormation)."""
        lists: dict[str, list[str]] = {}
        for name, spec in (document.get("Parameters") or {}).items():
            if "List" not in str(spec.get("Type", "")):
                continue
            raw = values.get(name, _cfn_string(spec.get("Default", "")))
            lists[name] = [item.strip() for item in str(raw).split(",")]
        return lists

    @classmethod
    def load(cls, path: str | Path) -> Template:
        path = Path(path)
        if not path.is_file():
            raise TemplateError(f"template not found: {path}")
        return cls(path, load_yaml(path))

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.document.get("Resources", {})

    @property
    def parameters(self) -> dict[str, dict[str, Any]]:
        return self.document.get("Parameters", {}) or {}

    def resources_of_type(self, resource_type: str) -> Iterator[tuple[str, dict[str, Any]]]:
        for logical_id, resource in self.resources.items():
            if resource.get("Type") == resource_type:
                yield logical_id, resource.get("Properties", {}) or {}

    def parameter_values(self, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
        """Each parameter's value (override, else default), checked like CloudFormation checks it."""
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(self.parameters))
        if unknown:
            raise TemplateError(
                f"unknown parameter(s) {', '.join(unknown)}; the template declares {', '.join(sorted(self.parameters))}"
            )
        values: dict[str, str] = {}
        for name, spec in self.parameters.items():
            if name in overrides:
                value = str(overrides[name])
            elif "Default" in spec:
                value = _cfn_string(spec["Default"])
            else:
                raise TemplateError(f"parameter {name} has no default: pass --parameter-overrides {name}=...")
            _check_parameter(name, spec, value)
            values[name] = value
        return values

    def functions(self) -> list[FunctionSpec]:
        global_props = (self.document.get("Globals") or {}).get("Function", {}) or {}
        specs = []
        for logical_id, own in self.resources_of_type(FUNCTION_TYPE):
            props = merge_globals(global_props, own)
            code_uri = props.get("CodeUri", ".")
            if not isinstance(code_uri, str):
                raise TemplateError(f"{logical_id}: local mode needs CodeUri to be a local folder, got {code_uri!r}")
            specs.append(
                FunctionSpec(
                    logical_id=logical_id,
                    code_dir=(self.directory / code_uri).resolve(),
                    handler=str(props.get("Handler", "")),
                    timeout_seconds=int(props.get("Timeout", 3)),
                    memory_mb=int(props.get("MemorySize", 128)),
                    properties=props,
                )
            )
        return specs

    def function(self, name: str) -> FunctionSpec:
        """Find a function by logical id (``PlanFunction``) or short name (``plan``)."""
        wanted = name.lower()
        for spec in self.functions():
            if wanted in (spec.logical_id.lower(), spec.short_name, spec.code_dir.name.lower()):
                return spec
        names = ", ".join(f"{s.logical_id} ({s.short_name})" for s in self.functions())
        raise TemplateError(f"no function {name!r} in {self.path.name}; it declares {names}")


def _cfn_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_cfn_string(v) for v in value)
    return str(value)


def _check_parameter(name: str, spec: Mapping[str, Any], value: str) -> None:
    allowed = spec.get("AllowedValues")
    if allowed and value not in [_cfn_string(v) for v in allowed]:
        raise TemplateError(f"parameter {name}={value!r}: expected one of {allowed}")
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError:
            raise TemplateError(f"parameter {name}={value!r}: expected a number") from None
        if "MinValue" in spec and number < float(spec["MinValue"]):
            raise TemplateError(f"parameter {name}={value}: below MinValue {spec['MinValue']}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            raise TemplateError(f"parameter {name}={value}: above MaxValue {spec['MaxValue']}")


# Ref/GetAtt on a resource: (logical id, attribute or None for Ref) -> value.
ResourceLookup = Callable[[str, str | None], Any]

_NO_VALUE = object()
_SUB_VARIABLE = re.compile(r"\$\{([^}]+)\}")


class Resolver:
    """Evaluates intrinsic functions; resources are looked up through a callback.

    The callback decides what a resource *is*: the provisioner creates it on first use (so
    dependencies such as a queue's dead-letter queue are created first), later commands read it
    from the persisted stack description.
    """

    def __init__(
        self,
        template: Template,
        parameters: Mapping[str, str],
        resource: ResourceLookup,
        *,
        stack_name: str = DEFAULT_STACK_NAME,
        region: str = DEFAULT_REGION,
    ) -> None:
        self.template = template
        self.parameters = dict(parameters)
        self._resource = resource
        self._pseudo = {
            "AWS::StackName": stack_name,
            "AWS::Region": region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:{region}:{ACCOUNT_ID}:stack/{stack_name}/local",
            "AWS::NotificationARNs": [],
        }

    def resolve(self, value: Any) -> Any:
        """Return ``value`` with every intrinsic function evaluated (``AWS::NoValue`` entries removed)."""
        result = self._resolve(value)
        return None if result is _NO_VALUE else result

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in (self._resolve(v) for v in value) if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self._ref(argument)
            if key.startswith("Fn::") or key == "Condition":
                return self._function(key, argument)
        resolved = {k: self._resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self._pseudo:
            return self._pseudo[name]
        if name in self.parameters:
            if "List" in str(self.template.parameters.get(name, {}).get("Type", "")):
                return [item.strip() for item in self.parameters[name].split(",")]
            return self.parameters[name]
        if name in self.template.resources:
            return self._resource(name, None)
        raise TemplateError(f"!Ref {name}: no such parameter or resource")

    def _get_att(self, logical_id: str, attribute: str) -> Any:
        if logical_id not in self.template.resources:
            raise TemplateError(f"!GetAtt {logical_id}.{attribute}: no such resource")
        return self._resource(logical_id, attribute)

    def _function(self, name: str, argument: Any) -> Any:  # noqa: C901 - one branch per function
        if name == "Fn::GetAtt":
            logical_id, attribute = self._resolve(argument) if isinstance(argument, list) else argument.split(".", 1)
            return self._get_att(logical_id, attribute)
        if name == "Fn::Sub":
            return self._sub(argument)
        if name == "Fn::Join":
            delimiter, items = argument
            return str(delimiter).join(_cfn_string(i) for i in self._resolve(items))
        if name == "Fn::Select":
            index, items = self._resolve(argument)
            return items[int(index)]
        if name == "Fn::Split":
            delimiter, source = self._resolve(argument)
            return str(source).split(delimiter)
        if name == "Fn::If":
            condition, when_true, when_false = argument
            return self._resolve(when_true if self.condition(condition) else when_false)
        if name in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition"):
            return self._evaluate_condition({name: argument})
        if name == "Fn::FindInMap":
            map_name, top, second = self._resolve(argument)
            return self.template.document["Mappings"][map_name][top][second]
        if name == "Fn::ToJsonString":
            return json.dumps(self._resolve(argument), separators=(",", ":"))
        if name == "Fn::Base64":
            import base64

            return base64.b64encode(str(self._resolve(argument)).encode()).decode()
        if name == "Fn::GetAZs":
            region = self._resolve(argument) or self._pseudo["AWS::Region"]
            return [f"{region}{zone}" for zone in "abc"]
        raise TemplateError(f"{name} is not supported in local mode")

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        variables = {k: self._resolve(v) for k, v in variables.items()}

        def replace(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression.startswith("!"):
                return "${" + expression[1:] + "}"
            if expression in variables:
                return _cfn_string(variables[expression])
            if "." in expression and expression.split(".", 1)[0] in self.template.resources:
                logical_id, attribute = expression.split(".", 1)
                return _cfn_string(self._get_att(logical_id, attribute))
            return _cfn_string(self._ref(expression))

        return _SUB_VARIABLE.sub(replace, text)

    def condition(self, name: str) -> bool:
        conditions = self.template.document.get("Conditions", {})
        if name not in conditions:
            raise TemplateError(f"condition {name} is not declared")
        return bool(self._evaluate_condition(conditions[name]))

    def _evaluate_condition(self, expression: Any) -> bool:
        if not isinstance(expression, dict):
            return bool(self._resolve(expression))
        ((name, argument),) = expression.items()
        if name == "Condition":
            return self.condition(argument)
        if name == "Fn::Equals":
            left, right = (self._resolve(a) for a in argument)
            return _cfn_string(left) == _cfn_string(right)
        if name == "Fn::Not":
            return not self._evaluate_condition(argument[0])
        if name == "Fn::And":
            return all(self._evaluate_condition(a) for a in argument)
        if name == "Fn::Or":
            return any(self._evaluate_condition(a) for a in argument)
        return bool(self._resolve(expression))


# ------------------------------------------------------------------ AWS::LanguageExtensions
FOREACH_PREFIX = "Fn::ForEach::"


def expand_language_extensions(document: dict[str, Any], lists: Mapping[str, list[str]]) -> dict[str, Any]:
    """The document with every ``Fn::ForEach`` of Resources, Conditions and Outputs expanded.

    As CloudFormation does it: the collection is a list or a ``!Ref`` to a list parameter; in the
    fragment ``${Id}`` and ``&{Id}`` (alphanumerics only, for logical ids) are replaced in keys and
    strings, and ``!Ref Id`` by the item itself.
    """
    expanded = dict(document)
    for section in ("Resources", "Conditions", "Outputs"):
        if isinstance(document.get(section), dict):
            expanded[section] = _expand_section(document[section], lists)
    return expanded


def _expand_section(section: Mapping[str, Any], lists: Mapping[str, list[str]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in section.items():
        if not key.startswith(FOREACH_PREFIX):
            result[key] = value
            continue
        if not (isinstance(value, list) and len(value) == 3 and isinstance(value[2], dict)):
            raise TemplateError(f"{key}: expected [identifier, collection, {{fragment}}]")
        identifier, collection, fragment = value
        for item in _collection(key, collection, lists):
            for out_key, out_value in _expand_section(_substitute(fragment, identifier, item), lists).items():
                if out_key in result:
                    raise TemplateError(f"{key}: {out_key} is declared twice")
                result[out_key] = out_value
    return result


def _collection(key: str, collection: Any, lists: Mapping[str, list[str]]) -> list[str]:
    if isinstance(collection, list):
        return [_cfn_string(item) for item in collection]
    if isinstance(collection, dict) and set(collection) == {"Ref"} and collection["Ref"] in lists:
        return list(lists[collection["Ref"]])
    raise TemplateError(f"{key}: local mode expands a list or a !Ref to a list parameter, got {collection!r}")


def _substitute(value: Any, identifier: str, item: str) -> Any:
    if isinstance(value, dict):
        if value == {"Ref": identifier}:
            return item
        return {_substitute(k, identifier, item): _substitute(v, identifier, item) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, identifier, item) for v in value]
    if isinstance(value, str):
        alphanumeric = re.sub(r"[^A-Za-z0-9]", "", item)
        return value.replace("${" + identifier + "}", item).replace("&{" + identifier + "}", alphanumeric)
    return value


def default_template_path() -> Path:
    """``template.yaml`` in the current folder or a parent, else the one this package ships with."""
    for folder in (Path.cwd(), *Path.cwd().parents):
        candidate = folder / "template.yaml"
        if candidate.is_file() and (folder / "functions").is_dir():
            return candidate
    return Path(__file__).resolve().parents[3] / "template.yaml"
