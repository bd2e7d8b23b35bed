"""The flow catalog: which object each flow lands, in which format, under which rule set; parsed once.

Its source is FLOW_OBJECTS (``{"flow": {"object": "Account", "id_field": ..., "version_field": ...,
"format": ..., "volatile_fields": [...], "rules": ...}}``) or, when a configuration document is
pushed (docs/configuration.md), the document's ``flows`` and ``rule_sets``. Both are checked the
same way, with the same messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from appflow_ingest.domain.records.versions import DEFAULT_VOLATILE_FIELDS, ObjectConfig
from appflow_ingest.domain.rules.rule_set import RuleSet
from appflow_ingest.settings.common import ConfigurationError


def _decoded(raw: str) -> dict[str, Any]:
    try:
        document = orjson.loads(raw or "{}")
    except orjson.JSONDecodeError as error:
        raise ConfigurationError(f"FLOW_OBJECTS is not valid JSON: {error}") from None
    return _shaped(document)


def _shaped(document: Any) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise ConfigurationError("FLOW_OBJECTS: expected a JSON object mapping flow name to object settings")
    return document


def _objects(document: Mapping[str, Any]) -> tuple[dict[str, ObjectConfig], dict[str, str]]:
    objects: dict[str, ObjectConfig] = {}
    formats: dict[str, str] = {}
    for flow, spec in document.items():
        if isinstance(spec, str):
            spec = {"object": spec}
        if not isinstance(spec, dict) or not spec.get("object"):
            raise ConfigurationError(f'FLOW_OBJECTS[{flow!r}]: expected {{"object": "<SalesforceObject>", ...}}')
        volatile = spec.get("volatile_fields", sorted(DEFAULT_VOLATILE_FIELDS))
        if not isinstance(volatile, list) or not all(isinstance(name, str) and name for name in volatile):
            raise ConfigurationError(
                f"FLOW_OBJECTS[{flow!r}].volatile_fields: expected a list of field names, got {volatile!r}"
            )
        objects[flow] = ObjectConfig(
            object=spec["object"],
            id_field=spec.get("id_field", "Id"),
            version_field=spec.get("version_field", "LastModifiedDate"),
            volatile_fields=frozenset(volatile),
        )
        if spec.get("format"):
            formats[flow] = str(spec["format"]).lower()
    return objects, formats


def _rules(document: Mapping[str, Any], rule_sets: Mapping[str, RuleSet] | None) -> dict[str, str]:
    if rule_sets is None:
        from appflow_ingest.domain.rules import RULE_SETS

        rule_sets = RULE_SETS

    bound: dict[str, str] = {}
    for flow, spec in document.items():
        name = spec.get("rules") if isinstance(spec, dict) else None
        if not name:
            continue
        rules = rule_sets.get(name)
        if rules is None:
            raise ConfigurationError(
                f"FLOW_OBJECTS[{flow!r}].rules: unknown rule set {name!r}, expected one of {sorted(rule_sets)}"
            )
        if rules.object != spec["object"]:
            raise ConfigurationError(
                f"FLOW_OBJECTS[{flow!r}].rules: rule set {name!r} is for {rules.object}, the flow lands {spec['object']}"
            )
        if bound.setdefault(spec["object"], name) != name:
            raise ConfigurationError(
                f"FLOW_OBJECTS: {spec['object']} has two rule sets, {bound[spec['object']]!r} and {name!r}"
            )
    return bound


def parse_flow_objects(raw: str) -> tuple[dict[str, ObjectConfig], dict[str, str]]:
    """Parse FLOW_OBJECTS: ``{"flow": {"object": "Account", "id_field": ..., "version_field": ..., "format": ...}}``."""
    return _objects(_decoded(raw))


def parse_flow_rules(raw: str, rule_sets: Mapping[str, RuleSet] | None = None) -> dict[str, str]:
    """Which rule set each object's records get: FLOW_OBJECTS ``{"flow": {"object": "Contact", "rules": "contact-member"}}``.

    Rules are bound per object (a record is checked the same whichever flow delivered it), so two
    flows of one object naming different rule sets is a configuration error, not a guess. The
    names are those of ``rule_sets`` (a configuration document's), else of the shipped catalog.
    """
    return _rules(orjson.loads(raw or "{}"), rule_sets)


@dataclass(frozen=True)
class FlowCatalog:
    """The flows, their objects and formats, and the rule set bound to each object."""

    objects: dict[str, ObjectConfig] = field(default_factory=dict)  # flow -> object settings
    formats: dict[str, str] = field(default_factory=dict)  # flow -> declared format
    object_rules: dict[str, str] = field(default_factory=dict)  # object -> rule set name
    rule_sets: dict[str, RuleSet] | None = None  # from the configuration document; None: the shipped catalog

    @classmethod
    def parse(cls, flows: Mapping[str, Any], rule_sets: dict[str, RuleSet] | None = None) -> FlowCatalog:
        """The catalog of decoded flows (FLOW_OBJECTS' JSON or a document's ``flows``), checked."""
        objects, formats = _objects(_shaped(flows))
        return cls(objects, formats, _rules(flows, rule_sets), rule_sets)

    @classmethod
    def from_env(cls, env: Mapping[str, str], document: Mapping[str, Any] | None = None) -> FlowCatalog:
        """The document's flows and rule sets when there is a document, else FLOW_OBJECTS with the shipped rules."""
        if document is None:
            return cls.parse(_decoded(env.get("FLOW_OBJECTS", "{}")))
        from appflow_ingest.domain.rules.catalog import DeclarationError, rule_sets_from_declarations

        flows = _shaped(document.get("flows") or {})
        objects, formats = _objects(flows)  # the flows checked first, then the rule sets they name
        try:
            rule_sets = rule_sets_from_declarations(document.get("rule_sets") or {})
        except DeclarationError as error:
            raise ConfigurationError(f"configuration: {error}") from None
        return cls(objects, formats, _rules(flows, rule_sets), rule_sets)

    def volatile_fields_by_object(self) -> dict[str, frozenset[str]]:
        """Per object, the fields whose change alone publishes no event.

        Two flows of one object that disagree: only the fields both call volatile (an event too
        many costs a consumer a look; one too few loses a change).
        """
        by_object: dict[str, frozenset[str]] = {}
        for config in self.objects.values():
            known = by_object.get(config.object)
            by_object[config.object] = config.unchanged_if_only if known is None else known & config.unchanged_if_only
        return by_object

    def object_rule_sets(self) -> dict[str, RuleSet]:
        """The rule set bound to each object (``object_rules`` resolved)."""
        if self.rule_sets is None:
            from appflow_ingest.domain.rules import RULE_SETS

            return {object_name: RULE_SETS[name] for object_name, name in self.object_rules.items()}
        return {object_name: self.rule_sets[name] for object_name, name in self.object_rules.items()}
