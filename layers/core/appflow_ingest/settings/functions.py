"""One settings model per function: each parses and requires only the variables its function uses.

Each model's ``reads`` lists those variables; a test holds them to the function's
``Environment.Variables`` in template.yaml. ``from_env(env, document)`` raises ConfigurationError
at cold start; ``document`` is the configuration pushed to SSM (wiring.load_settings reads it),
which replaces FLOW_OBJECTS and WALLET_CONFIG when there is one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from appflow_ingest.domain.records.body_codec import DEFAULT_COMPRESS_OVER
from appflow_ingest.domain.wallet import WalletConfig
from appflow_ingest.settings.common import (
    ENDPOINT,
    compress_over,
    endpoint_url,
    integer,
    require,
    wallet,
    write_strategy,
)
from appflow_ingest.settings.flows import FlowCatalog

Document = Mapping[str, Any]
DEFAULT_SOURCE = "appflow-ingest"
_BODIES = ("RECORD_BODY_BUCKET", "COMPRESS_BODIES_OVER", "MAX_VERSION_SKEW_SECONDS")


@dataclass(frozen=True)
class RunLedgerSettings:
    """The run ledger (runs counted per AppFlow execution id) and the bus its settled runs go to."""

    reads: ClassVar[tuple[str, ...]] = ("LEDGER_TABLE", "EVENT_BUS_NAME", "EVENT_SOURCE_NAME", "LANDING_BUCKET")

    ledger_table: str
    event_bus_name: str
    event_source_name: str = DEFAULT_SOURCE
    landing_bucket: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RunLedgerSettings:
        """The ledger's settings; LEDGER_TABLE and EVENT_BUS_NAME are required."""
        return cls(
            ledger_table=require(env, "LEDGER_TABLE"),
            event_bus_name=require(env, "EVENT_BUS_NAME"),
            event_source_name=env.get("EVENT_SOURCE_NAME") or DEFAULT_SOURCE,
            landing_bucket=env.get("LANDING_BUCKET", ""),
        )

    @classmethod
    def optional(cls, env: Mapping[str, str]) -> RunLedgerSettings | None:
        """None without LEDGER_TABLE (the function then keeps no run ledger)."""
        return cls.from_env(env) if env.get("LEDGER_TABLE") else None


@dataclass(frozen=True)
class PlanSettings:
    """Plan: where chunks go, how large they are, the flows' formats, and the run ledger."""

    reads: ClassVar[tuple[str, ...]] = (
        ENDPOINT, "CHUNK_QUEUE_URL", "CHUNK_SIZE_BYTES", "FLOW_OBJECTS", *RunLedgerSettings.reads,
    )  # fmt: skip

    chunk_queue_url: str
    flows: FlowCatalog = field(default_factory=FlowCatalog)
    chunk_size_bytes: int = 16 * 1024 * 1024
    runs: RunLedgerSettings | None = None  # None: no run ledger
    endpoint_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], document: Document | None = None) -> PlanSettings:
        """Parse the plan function's variables."""
        return cls(
            chunk_queue_url=require(env, "CHUNK_QUEUE_URL"),
            chunk_size_bytes=integer(env, "CHUNK_SIZE_BYTES", 16 * 1024 * 1024),
            flows=FlowCatalog.from_env(env, document),
            runs=RunLedgerSettings.optional(env),
            endpoint_url=endpoint_url(env),
        )


@dataclass(frozen=True)
class IngestSettings:
    """Ingest: the entity table and how it is written, the quarantine, the masking key, the rules."""

    reads: ClassVar[tuple[str, ...]] = (
        ENDPOINT, "ENTITY_TABLE", "CHUNK_QUEUE_URL", "QUARANTINE_BUCKET", "RAW_QUARANTINE_BUCKET",
        "MASKING_KEY_SECRET", "FLOW_OBJECTS", "WRITE_CONCURRENCY", "WRITE_STRATEGY", "DERIVED_TABLE",
        *_BODIES, *RunLedgerSettings.reads,
    )  # fmt: skip

    entity_table: str
    chunk_queue_url: str
    quarantine_bucket: str
    raw_quarantine_bucket: str  # unparsable lines, as they arrived (docs/security.md)
    masking_key_secret: str  # the masking key's secret (adapters/masking_key.py)
    flows: FlowCatalog = field(default_factory=FlowCatalog)
    write_concurrency: int = 32
    write_strategy: str = "read-first"  # one of adapters/entity_store.py's WRITE_STRATEGIES
    compress_bodies_over: int = DEFAULT_COMPRESS_OVER  # record bodies over this many bytes stored gzip (0: never)
    # Bodies of records too large to inline in their item (adapters/record_bodies.py); empty: such
    # records are quarantined instead.
    record_body_bucket: str = ""
    # Clock sanity: a version further ahead of ingest time than this is quarantined (template
    # parameter MaxVersionSkewSeconds; docs/failure-modes.md says why a day).
    max_version_skew_seconds: int = 86_400
    derived_table: str = ""  # schema sightings (optional: rules work without it)
    runs: RunLedgerSettings | None = None  # None: no run ledger
    endpoint_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], document: Document | None = None) -> IngestSettings:
        """Parse the ingest function's variables."""
        entity_table = require(env, "ENTITY_TABLE")
        chunk_queue_url = require(env, "CHUNK_QUEUE_URL")
        quarantine_bucket = require(env, "QUARANTINE_BUCKET")
        return cls(
            entity_table=entity_table,
            chunk_queue_url=chunk_queue_url,
            quarantine_bucket=quarantine_bucket,
            runs=RunLedgerSettings.optional(env),
            write_concurrency=integer(env, "WRITE_CONCURRENCY", 32),
            write_strategy=write_strategy(env),
            endpoint_url=endpoint_url(env),
            flows=FlowCatalog.from_env(env, document),
            derived_table=env.get("DERIVED_TABLE", ""),
            compress_bodies_over=compress_over(env),
            record_body_bucket=env.get("RECORD_BODY_BUCKET", ""),
            max_version_skew_seconds=integer(env, "MAX_VERSION_SKEW_SECONDS", 86_400),
            masking_key_secret=require(env, "MASKING_KEY_SECRET", needed_by=" for the functions that mask"),
            raw_quarantine_bucket=require(env, "RAW_QUARANTINE_BUCKET"),
        )


@dataclass(frozen=True)
class ChangesSettings:
    """Changes: the entity table merged into, resync marks, the bus, the quarantine, the masking key, the rules."""

    reads: ClassVar[tuple[str, ...]] = (
        ENDPOINT, "ENTITY_TABLE", "LEDGER_TABLE", "EVENT_BUS_NAME", "EVENT_SOURCE_NAME", "QUARANTINE_BUCKET",
        "RAW_QUARANTINE_BUCKET", "MASKING_KEY_SECRET", "FLOW_OBJECTS", *_BODIES,
    )  # fmt: skip

    entity_table: str
    ledger_table: str  # the resync marks
    event_bus_name: str
    quarantine_bucket: str
    raw_quarantine_bucket: str  # unparsable events, as they arrived (docs/security.md)
    masking_key_secret: str
    flows: FlowCatalog = field(default_factory=FlowCatalog)
    event_source_name: str = DEFAULT_SOURCE
    compress_bodies_over: int = DEFAULT_COMPRESS_OVER
    record_body_bucket: str = ""
    max_version_skew_seconds: int = 86_400
    endpoint_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], document: Document | None = None) -> ChangesSettings:
        """Parse the changes function's variables."""
        entity_table = require(env, "ENTITY_TABLE")
        quarantine_bucket = require(env, "QUARANTINE_BUCKET")
        event_bus_name = require(env, "EVENT_BUS_NAME")
        return cls(
            entity_table=entity_table,
            quarantine_bucket=quarantine_bucket,
            event_bus_name=event_bus_name,
            event_source_name=env.get("EVENT_SOURCE_NAME") or DEFAULT_SOURCE,
            endpoint_url=endpoint_url(env),
            flows=FlowCatalog.from_env(env, document),
            compress_bodies_over=compress_over(env),
            record_body_bucket=env.get("RECORD_BODY_BUCKET", ""),
            max_version_skew_seconds=integer(env, "MAX_VERSION_SKEW_SECONDS", 86_400),
            masking_key_secret=require(env, "MASKING_KEY_SECRET", needed_by=" for the functions that mask"),
            ledger_table=require(env, "LEDGER_TABLE"),
            raw_quarantine_bucket=require(env, "RAW_QUARANTINE_BUCKET"),
        )


@dataclass(frozen=True)
class PublishSettings:
    """Publish: the table whose stream it reads, the bus, record bodies, and the volatile fields per object."""

    reads: ClassVar[tuple[str, ...]] = (
        ENDPOINT, "ENTITY_TABLE", "DERIVED_TABLE", "EVENT_BUS_NAME", "EVENT_SOURCE_NAME", "RECORD_BODY_BUCKET",
        "FLOW_OBJECTS",
    )  # fmt: skip

    entity_table: str
    event_bus_name: str
    event_source_name: str = DEFAULT_SOURCE
    record_body_bucket: str = ""
    derived_table: str = ""  # its stream carries passes and sightings: routed to their own events
    flows: FlowCatalog = field(default_factory=FlowCatalog)
    endpoint_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], document: Document | None = None) -> PublishSettings:
        """Parse the publish function's variables."""
        entity_table = require(env, "ENTITY_TABLE")
        event_bus_name = require(env, "EVENT_BUS_NAME")
        return cls(
            entity_table=entity_table,
            event_bus_name=event_bus_name,
            event_source_name=env.get("EVENT_SOURCE_NAME") or DEFAULT_SOURCE,
            endpoint_url=endpoint_url(env),
            flows=FlowCatalog.from_env(env, document),
            record_body_bucket=env.get("RECORD_BODY_BUCKET", ""),
            derived_table=env.get("DERIVED_TABLE", ""),
        )


def _wallet_table(env: Mapping[str, str], document: Document | None) -> tuple[WalletConfig | None, str]:
    """The wallet (None: this deployment keeps none) and its table, required only with a wallet."""
    configured = wallet(env, document)
    table = require(env, "DERIVED_TABLE") if configured is not None else env.get("DERIVED_TABLE", "")
    return configured, table


@dataclass(frozen=True)
class AggregateSettings:
    """Aggregate: the wallet, the table of aggregates and passes, and record bodies kept in S3."""

    reads: ClassVar[tuple[str, ...]] = (ENDPOINT, "DERIVED_TABLE", "WALLET_CONFIG", "RECORD_BODY_BUCKET")

    wallet: WalletConfig | None = None  # None: no wallet pass in this deployment
    derived_table: str = ""
    record_body_bucket: str = ""  # bodies of records too large for one item: the wallet reads the full record
    endpoint_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], document: Document | None = None) -> AggregateSettings:
        """Parse the aggregate function's variables."""
        configured, table = _wallet_table(env, document)
        return cls(configured, table, env.get("RECORD_BODY_BUCKET", ""), endpoint_url(env))


@dataclass(frozen=True)
class RederiveSettings:
    """Rederive: the wallet and the table of the passes due on a day."""

    reads: ClassVar[tuple[str, ...]] = (ENDPOINT, "DERIVED_TABLE", "WALLET_CONFIG")

    wallet: WalletConfig | None = None  # None: no wallet pass in this deployment
    derived_table: str = ""
    endpoint_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], document: Document | None = None) -> RederiveSettings:
        """Parse the rederive function's variables."""
        configured, table = _wallet_table(env, document)
        return cls(configured, table, endpoint_url(env))


@dataclass(frozen=True)
class RunsSettings:
    """Runs: AppFlow's run reports -> the run ledger."""

    reads: ClassVar[tuple[str, ...]] = (ENDPOINT, *RunLedgerSettings.reads)

    runs: RunLedgerSettings
    endpoint_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], document: Document | None = None) -> RunsSettings:
        """Parse the runs function's variables (the configuration document holds nothing it uses)."""
        return cls(runs=RunLedgerSettings.from_env(env), endpoint_url=endpoint_url(env))
