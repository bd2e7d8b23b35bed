"""Configuration from environment variables (declared in template.yaml), parsed once per cold start."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson

from appflow_ingest.domain.body_codec import DEFAULT_COMPRESS_OVER
from appflow_ingest.domain.records import DEFAULT_VOLATILE_FIELDS, ObjectConfig
from appflow_ingest.domain.wallet import WalletConfig


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


def parse_flow_rules(raw: str) -> dict[str, str]:
    """Which rule set each object's records get: FLOW_OBJECTS ``{"flow": {"object": "Contact", "rules": "contact-member"}}``.

    Rules are bound per object (a record is checked the same whichever flow delivered it), so two
    flows of one object naming different rule sets is a configuration error, not a guess.
    """
    from appflow_ingest.domain.rules import RULE_SETS

    document = orjson.loads(raw or "{}")  # parse_flow_objects has already validated the shape
    bound: dict[str, str] = {}
    for flow, spec in document.items():
        name = spec.get("rules") if isinstance(spec, dict) else None
        if not name:
            continue
        rules = RULE_SETS.get(name)
        if rules is None:
            raise ConfigurationError(
                f"FLOW_OBJECTS[{flow!r}].rules: unknown rule set {name!r}, expected one of {sorted(RULE_SETS)}"
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


WRITE_STRATEGIES = ("read-first", "conditional-put", "transact")  # adapters/entity_store.py


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
    write_strategy: str = "read-first"  # or "conditional-put", "transact" (adapters/entity_store.py)
    endpoint_url: str | None = None
    flow_objects: dict[str, ObjectConfig] = field(default_factory=dict)
    flow_formats: dict[str, str] = field(default_factory=dict)
    object_rules: dict[str, str] = field(default_factory=dict)  # object -> rule set name
    derived_table: str = ""  # aggregates, member passes and schema sightings (optional: rules work without it)
    masking_key: bytes | None = None
    wallet: WalletConfig | None = None  # None: no wallet pass in this deployment
    ledger_table: str = ""  # run ledger and resync marks; optional where a function does not keep them
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

    def require_ledger_table(self) -> str:
        if not self.ledger_table:
            raise ConfigurationError("environment variable LEDGER_TABLE is required (declared in template.yaml)")
        return self.ledger_table

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
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
            masking_key=env.get("MASKING_KEY", "").encode() or None,
            wallet=_wallet(env.get("WALLET_CONFIG", "")),
            ledger_table=env.get("LEDGER_TABLE", ""),
            compress_bodies_over=_compress_over(env),
        )
