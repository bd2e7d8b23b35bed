"""Business rules per Salesforce object: declarative rule sets, coercion of AppFlow's value forms."""

from typing import Any

from appflow_ingest.domain.rules.catalog import rule_sets_from_declarations, shipped_rule_sets
from appflow_ingest.domain.rules.coercion import CoercionError
from appflow_ingest.domain.rules.rule_set import HASH, REDACT, REDACTED, CompiledRuleSet, Field, ObjectRules, RuleSet

__all__ = [
    "HASH",
    "REDACT",
    "REDACTED",
    "RULE_SETS",
    "CoercionError",
    "CompiledRuleSet",
    "Field",
    "ObjectRules",
    "RuleSet",
    "rule_sets_from_declarations",
    "shipped_rule_sets",
]


def __getattr__(name: str) -> Any:
    # RULE_SETS (the shipped rule sets by name) is read from catalog.yaml on first use only: a
    # function whose configuration declares its rule sets never parses the catalog.
    if name == "RULE_SETS":
        return shipped_rule_sets()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
