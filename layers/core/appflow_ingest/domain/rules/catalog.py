"""Rule sets from declarations: the shipped ones (catalog.yaml) and those a configuration declares.

A declaration is data, ``{"object": "Opportunity", "fields": {"StageName": {"type": "string",
"required": true, "allowed": [...]}}}``, in the form docs/configuration.md describes and
config/configuration.schema.json checks. Adding an object means declaring it in the environment's
configuration file; nothing here changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from appflow_ingest.domain.rules.rule_set import Field, RuleSet

CATALOG_PATH = Path(__file__).with_name("catalog.yaml")

_FIELD_KEYS = frozenset(Field.__dataclass_fields__)


class DeclarationError(ValueError):
    """A rule set declaration that cannot become a RuleSet; the message names the rule set and field."""


def field_from_declaration(declaration: Mapping[str, Any]) -> Field:
    """One field's declaration (``{"type": "date", "required": true}``) as a Field."""
    unknown = set(declaration) - _FIELD_KEYS
    if unknown:
        raise ValueError(f"unknown key(s) {sorted(unknown)}, expected some of {sorted(_FIELD_KEYS)}")
    values = dict(declaration)
    if values.get("allowed") is not None:
        values["allowed"] = tuple(values["allowed"])
    return Field(**values)


def rule_set_from_declaration(name: str, declaration: Mapping[str, Any]) -> RuleSet:
    """A rule set's declaration (``{"object": ..., "fields": {...}}``) as a RuleSet."""
    if not isinstance(declaration, Mapping) or not declaration.get("object"):
        raise DeclarationError(f"rule set {name!r}: expected {{object: <SalesforceObject>, fields: {{...}}}}")
    fields: dict[str, Field] = {}
    for field_name, spec in (declaration.get("fields") or {}).items():
        try:
            fields[field_name] = field_from_declaration(spec or {})
        except (TypeError, ValueError) as error:
            raise DeclarationError(f"rule set {name!r}, field {field_name}: {error}") from None
    return RuleSet(name=name, object=str(declaration["object"]), fields=fields)


def rule_sets_from_declarations(declarations: Mapping[str, Mapping[str, Any]]) -> dict[str, RuleSet]:
    """``{name: declaration}`` as ``{name: RuleSet}``."""
    return {name: rule_set_from_declaration(name, declaration) for name, declaration in declarations.items()}


@cache
def shipped_declarations() -> dict[str, dict[str, Any]]:
    """The declarations in catalog.yaml, by rule set name (read once)."""
    import yaml  # only the shipped catalog is YAML; configurations reach the functions as JSON

    document = yaml.safe_load(CATALOG_PATH.read_text(encoding="utf-8"))
    return dict(document["rule_sets"])


@cache
def shipped_rule_sets() -> dict[str, RuleSet]:
    """The shipped rule sets, by name."""
    return rule_sets_from_declarations(shipped_declarations())
