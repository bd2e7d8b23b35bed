"""Configuration from environment variables (declared in template.yaml), parsed once per cold start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson

from appflow_ingest.domain.records.body_codec import DEFAULT_COMPRESS_OVER
from appflow_ingest.domain.records.versions import DEFAULT_VOLATILE_FIELDS, ObjectConfig
from appflow_ingest.domain.rules.rule_set import RuleSet
from appflow_ingest.domain.wallet import WalletConfig
from appflow_ingest.ports.entities import WRITE_STRATEGIES  # the one list; the first is the default


class ConfigurationError(ValueError):
    """An environment variable is missing or malformed."""


def _require(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise ConfigurationError(f"environment variable {name} is required (declared in template.yaml)")
    return value


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name) or str(default)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"environment variable {name}: expected an integer, got {raw!r}") from None
    if value < 1:
        raise ConfigurationError(f"environment variable {name}: expected a positive integer, got {value}")
    return value


def parse_flow_objects(raw: str) -> tuple[dict[str, ObjectConfig], dict[str, str]]:
    """Parse FLOW_OBJECTS: ``{"flow": {"object": "Account", "id_field": ..., "version_field": ..., "format": ...}}``."""
    try:
        document = orjson.loads(raw or "{}")
    except orjson.JSONDecodeError as error:
        raise ConfigurationError(f"FLOW_OBJECTS is not valid JSON: {error}") from None
    if not isinstance(document, dict):
        raise ConfigurationError("FLOW_OBJECTS: expected a JSON object mapping flow name to object settings")
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


def parse_flow_rules(raw: str, rule_sets: Mapping[str, RuleSet] | None = None) -> dict[str, str]:
    """Which rule set each object's records get: FLOW_OBJECTS ``{"flow": {"object": "Contact", "rules": "contact-member"}}``.

    Rules are bound per object (a record is checked the same whichever flow delivered it), so two
    flows of one object naming different rule sets is a configuration error, not a guess. The
    names are those of ``rule_sets`` (a configuration document's), else of the shipped catalog.
    """
    if rule_sets is None:
        from appflow_ingest.domain.rules import RULE_SETS as rule_sets

    document = orjson.loads(raw or "{}")  # parse_flow_objects has already validated the shape
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


def _write_strategy(env: Mapping[str, str]) -> str:
    strategy = env.get("WRITE_STRATEGY") or WRITE_STRATEGIES[0]
    if strategy not in WRITE_STRATEGIES:
        raise ConfigurationError(
            f"environment variable WRITE_STRATEGY: expected one of {', '.join(WRITE_STRATEGIES)}, got {strategy!r}"
        )
    return strategy


def _compress_over(env: Mapping[str, str]) -> int:
    raw = env.get("COMPRESS_BODIES_OVER") or str(DEFAULT_COMPRESS_OVER)
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ConfigurationError(
            f"environment variable COMPRESS_BODIES_OVER: expected a number of bytes (0: never compress), got {raw!r}"
        )
    return value


def _wallet(raw: str) -> WalletConfig | None:
    """Empty: the deployment has no wallet; ``{}``: the wallet with its defaults (domain/wallet.py)."""
    if not raw.strip():
        return None
    try:
        return WalletConfig.from_json(raw)
    except (ValueError, TypeError) as error:
        raise ConfigurationError(f"WALLET_CONFIG: {error}") from None


@dataclass(frozen=True)
class Settings:
    """Everything the functions read from their environment."""

    entity_table: str
    chunk_queue_url: str
    quarantine_bucket: str
    event_bus_name: str
    landing_bucket: str = ""
    event_source_name: str = "appflow-ingest"
    chunk_size_bytes: int = 16 * 1024 * 1024
    write_concurrency: int = 32
    write_strategy: str = "read-first"  # adapters/entity_store.py's WRITE_STRATEGIES
    endpoint_url: str | None = None
    flow_objects: dict[str, ObjectConfig] = field(default_factory=dict)
    flow_formats: dict[str, str] = field(default_factory=dict)
    object_rules: dict[str, str] = field(default_factory=dict)  # object -> rule set name
    derived_table: str = ""  # aggregates, member passes and schema sightings (optional: rules work without it)
    masking_key_secret: str = ""  # the masking key's secret (ingest and changes only: adapters/masking_key.py)
    raw_quarantine_bucket: str = ""  # unparsable lines and events, as they arrived (docs/security.md)
    wallet: WalletConfig | None = None  # None: no wallet pass in this deployment
    ledger_table: str = ""  # run ledger and resync marks; optional where a function does not keep them
    # Bodies of records too large to inline in their item (adapters/record_bodies.py); empty: such
    # records are quarantined instead.
    record_body_bucket: str = ""
    # Clock sanity: a version further ahead of ingest time than this is quarantined (template
    # parameter MaxVersionSkewSeconds; docs/failure-modes.md says why a day).
    max_version_skew_seconds: int = 86_400
    rule_sets: dict[str, RuleSet] | None = None  # from the configuration document; None: the shipped catalog
    compress_bodies_over: int = DEFAULT_COMPRESS_OVER  # record bodies over this many bytes stored gzip (0: never)

    def volatile_fields_by_object(self) -> dict[str, frozenset[str]]:
        """Per object, the fields whose change alone publishes no event.

        Two flows of one object that disagree: only the fields both call volatile (an event too
        many costs a consumer a look; one too few loses a change).
        """
        by_object: dict[str, frozenset[str]] = {}
        for config in self.flow_objects.values():
            known = by_object.get(config.object)
            by_object[config.object] = config.unchanged_if_only if known is None else known & config.unchanged_if_only
        return by_object

    def object_rule_sets(self) -> dict[str, RuleSet]:
        """The rule set bound to each object (``object_rules`` resolved)."""
        if self.rule_sets is None:
            from appflow_ingest.domain.rules import RULE_SETS

            return {object_name: RULE_SETS[name] for object_name, name in self.object_rules.items()}
        return {object_name: self.rule_sets[name] for object_name, name in self.object_rules.items()}

    def require_ledger_table(self) -> str:
        if not self.ledger_table:
            raise ConfigurationError("environment variable LEDGER_TABLE is required (declared in template.yaml)")
        return self.ledger_table

    def require_raw_quarantine_bucket(self) -> str:
        if not self.raw_quarantine_bucket:
            raise ConfigurationError(
                "environment variable RAW_QUARANTINE_BUCKET is required (declared in template.yaml)"
            )
        return self.raw_quarantine_bucket

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        configured = _configuration_document(env)
        if configured is not None:
            return _from_document(cls.from_env({**env, "CONFIG_PARAMETER_PATH": ""}), configured)
        flow_objects, flow_formats = parse_flow_objects(env.get("FLOW_OBJECTS", "{}"))
        return cls(
            entity_table=_require(env, "ENTITY_TABLE"),
            chunk_queue_url=_require(env, "CHUNK_QUEUE_URL"),
            quarantine_bucket=_require(env, "QUARANTINE_BUCKET"),
            event_bus_name=_require(env, "EVENT_BUS_NAME"),
            landing_bucket=env.get("LANDING_BUCKET", ""),
            event_source_name=env.get("EVENT_SOURCE_NAME") or "appflow-ingest",
            chunk_size_bytes=_int(env, "CHUNK_SIZE_BYTES", 16 * 1024 * 1024),
            write_concurrency=_int(env, "WRITE_CONCURRENCY", 32),
            write_strategy=_write_strategy(env),
            endpoint_url=env.get("AWS_ENDPOINT_OVERRIDE") or None,
            flow_objects=flow_objects,
            flow_formats=flow_formats,
            object_rules=parse_flow_rules(env.get("FLOW_OBJECTS", "{}")),
            derived_table=env.get("DERIVED_TABLE", ""),
            masking_key_secret=env.get("MASKING_KEY_SECRET", ""),
            raw_quarantine_bucket=env.get("RAW_QUARANTINE_BUCKET", ""),
            wallet=_wallet(env.get("WALLET_CONFIG", "")),
            ledger_table=env.get("LEDGER_TABLE", ""),
            compress_bodies_over=_compress_over(env),
            record_body_bucket=env.get("RECORD_BODY_BUCKET", ""),
            max_version_skew_seconds=_int(env, "MAX_VERSION_SKEW_SECONDS", 86_400),
        )


# ------------------------------------------------------------------ the configuration document (issue 13)
def _configuration_document(env: Mapping[str, str]) -> dict | None:
    """The document pushed under CONFIG_PARAMETER_PATH (SSM, via Powertools), or None without a path."""
    path = env.get("CONFIG_PARAMETER_PATH", "")
    if not path:
        return None
    from appflow_ingest.adapters.aws_clients import AwsClients
    from appflow_ingest.adapters.configuration_store import SsmConfigurationStore

    store = SsmConfigurationStore(
        AwsClients(env.get("AWS_ENDPOINT_OVERRIDE") or None).ssm,
        path,
        max_age_seconds=_int(env, "CONFIG_MAX_AGE_SECONDS", 300),
    )
    document = store.read()
    if document is None:
        # Fail closed: without its rules a record would be stored unmasked.
        raise ConfigurationError(
            f"no configuration under SSM path {path}: run `appflow-ingest config push` for this stack"
        )
    return document


def _from_document(base: Settings, document: Mapping) -> Settings:
    """``base`` with its flows, rule sets and wallet taken from the configuration document."""
    from dataclasses import replace

    from appflow_ingest.domain.rules.catalog import DeclarationError, rule_sets_from_declarations

    flows_json = orjson.dumps(document.get("flows") or {}).decode()
    flow_objects, flow_formats = parse_flow_objects(flows_json)
    try:
        rule_sets = rule_sets_from_declarations(document.get("rule_sets") or {})
    except DeclarationError as error:
        raise ConfigurationError(f"configuration: {error}") from None
    wallet = document.get("wallet")
    return replace(
        base,
        flow_objects=flow_objects,
        flow_formats=flow_formats,
        object_rules=parse_flow_rules(flows_json, rule_sets),
        rule_sets=rule_sets,
        wallet=None if wallet is None else _wallet(orjson.dumps(wallet).decode()),
    )
