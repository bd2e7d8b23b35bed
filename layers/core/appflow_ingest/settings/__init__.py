"""Configuration from environment variables (declared in template.yaml), parsed once per cold start.

``common``: the error and the readers every model shares; ``flows``: the flow catalog, parsed once;
``functions``: one model per function, requiring only what that function uses.
"""

from appflow_ingest.settings.common import ConfigurationError
from appflow_ingest.settings.flows import FlowCatalog, parse_flow_objects, parse_flow_rules
from appflow_ingest.settings.functions import (
    AggregateSettings,
    ChangesSettings,
    IngestSettings,
    PlanSettings,
    PublishSettings,
    RederiveSettings,
    RunLedgerSettings,
    RunsSettings,
)

__all__ = [
    "AggregateSettings",
    "ChangesSettings",
    "ConfigurationError",
    "FlowCatalog",
    "IngestSettings",
    "PlanSettings",
    "PublishSettings",
    "RederiveSettings",
    "RunLedgerSettings",
    "RunsSettings",
    "parse_flow_objects",
    "parse_flow_rules",
]
