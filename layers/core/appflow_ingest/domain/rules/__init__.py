"""Business rules per Salesforce object: declarative rule sets, coercion of AppFlow's value forms."""

from appflow_ingest.domain.rules.catalog import RULE_SETS
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
]
