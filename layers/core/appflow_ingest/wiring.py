"""The composition root: each function's settings, adapters and service, assembled in one place.

A handler (``functions/<name>/app.py``) builds its function once per execution environment
(``<name>_function()``, at import: the cold start) and calls ``handle(event, context)`` on every
invocation. Each builder takes ``env`` so tests can call it with their own variables. The objects
here hold what a warm function keeps between invocations (clients, the rules compiled with the
current masking key); they live in the handler's module, not in this one, so two functions loaded
in one process (local mode) never share them.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, Generic, Protocol, Self, TypeVar

import orjson
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from appflow_ingest.adapters.aws_clients import AwsClients
from appflow_ingest.adapters.chunk_queue import SqsChunkQueue
from appflow_ingest.adapters.configuration_store import SsmConfigurationStore
from appflow_ingest.adapters.entity_merge import DynamoEntityMerger
from appflow_ingest.adapters.entity_store import DynamoEntityStore
from appflow_ingest.adapters.event_bus import EventBridgePublisher
from appflow_ingest.adapters.landing_objects import S3LandingObjects
from appflow_ingest.adapters.large_events import S3EventDocuments
from appflow_ingest.adapters.masking_key import SecretMaskingKey
from appflow_ingest.adapters.quarantine import S3Quarantine
from appflow_ingest.adapters.record_bodies import S3RecordBodies
from appflow_ingest.adapters.resync_marks import DynamoResyncMarks
from appflow_ingest.adapters.run_ledger import DynamoRunLedger
from appflow_ingest.adapters.schema_registry import DynamoSchemaRegistry
from appflow_ingest.adapters.wallet_store import DynamoWalletStore
from appflow_ingest.domain.rules import ObjectRules
from appflow_ingest.observability import logger, metrics, tracer
from appflow_ingest.services.aggregate_wallet import WalletAggregator, aggregate_wallet
from appflow_ingest.services.apply_changes import ChangeApplier
from appflow_ingest.services.ingest_chunk import ChunkIngester
from appflow_ingest.services.plan_file import FilePlanner, landed_objects_from_event
from appflow_ingest.services.publish_events import publish_events
from appflow_ingest.services.rederive_passes import PassRederiver, rederive_passes
from appflow_ingest.services.schema_sightings import SchemaSightings
from appflow_ingest.services.track_runs import RunTracker
from appflow_ingest.settings import (
    AggregateSettings,
    ChangesSettings,
    ConfigurationError,
    FlowCatalog,
    IngestSettings,
    PlanSettings,
    PublishSettings,
    RederiveSettings,
    RunLedgerSettings,
    RunsSettings,
)
from appflow_ingest.settings.common import integer

Env = Mapping[str, str]


class SettingsModel(Protocol):
    """A per-function settings model (settings/functions.py)."""

    @property
    def endpoint_url(self) -> str | None:
        """The AWS endpoint override (local mode), or None for AWS's own."""
        ...

    @classmethod
    def from_env(cls, env: Env, document: Mapping[str, Any] | None = None) -> Self:
        """The settings from the function's environment and, when one is pushed, the configuration document."""


Settings = TypeVar("Settings", bound=SettingsModel)
Function = TypeVar("Function", bound="LambdaFunction")


class LambdaFunction(Protocol):
    """What a handler calls: one event in, the function's response out."""

    def handle(self, event: dict[str, Any], context: LambdaContext) -> Mapping[str, Any]:
        """The function's response to one invocation."""


# ------------------------------------------------------------------ settings and the configuration document
def configuration_store(env: Env) -> SsmConfigurationStore | None:
    """The store of the document pushed under CONFIG_PARAMETER_PATH (SSM, via Powertools), or None without a path."""
    path = env.get("CONFIG_PARAMETER_PATH", "")
    if not path:
        return None
    return SsmConfigurationStore(
        AwsClients(env.get("AWS_ENDPOINT_OVERRIDE") or None).ssm,
        path,
        max_age_seconds=integer(env, "CONFIG_MAX_AGE_SECONDS", 300),
    )


def read_document(store: SsmConfigurationStore) -> dict[str, Any]:
    """The pushed document; ConfigurationError when nothing was pushed under the store's path."""
    document = store.read()
    if document is None:
        # Fail closed: without its rules a record would be stored unmasked.
        raise ConfigurationError(
            f"no configuration under SSM path {store.path}: run `appflow-ingest config push` for this stack"
        )
    return document


def load_settings(model: type[Settings], env: Env = os.environ) -> Settings:
    """A function's settings: its variables, and the configuration document when CONFIG_PARAMETER_PATH is set.

    Every function reads the document when there is a path (and fails closed without one pushed),
    as its role is granted; a model takes from it only what its function uses.
    """
    store = configuration_store(env)
    return model.from_env(env, None if store is None else read_document(store))


def document_digest(document: Mapping[str, Any] | None) -> str:
    """A digest of the document's content (key order aside): what tells a pushed change from a re-read."""
    if document is None:
        return ""
    return hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()


class Configured(Generic[Function]):
    """A function built from its settings, and built again when a push changes the configuration document.

    The document is read through Powertools Parameters, which caches it ``CONFIG_MAX_AGE_SECONDS``:
    a warm invocation costs no request until then, and a push reaches warm functions within that
    time, without a cold start. The clients are kept; the service and what it compiled (rules per
    masking key) are rebuilt. A document that no longer parses fails the invocation, as it would
    fail a cold start (fail closed), and is read again on the next one.
    """

    def __init__(
        self,
        model: type[Settings],
        build: Callable[[Settings, AwsClients], Function],
        env: Env,
        clients: Callable[[Settings], AwsClients] | None = None,
    ) -> None:
        self._env = dict(env)  # the environment of the cold start (Lambda's does not change after it)
        self._model = model
        self._build = build
        self._store = configuration_store(self._env)
        document = None if self._store is None else read_document(self._store)
        settings = model.from_env(self._env, document)
        self._clients = clients(settings) if clients else AwsClients(settings.endpoint_url)
        self.built = build(settings, self._clients)
        self.digest = document_digest(document)

    def current(self) -> Function:
        """The function for the document in force (rebuilt if it changed since the last invocation)."""
        if self._store is not None:
            document = read_document(self._store)
            digest = document_digest(document)
            if digest != self.digest:
                self.built = self._build(self._model.from_env(self._env, document), self._clients)
                logger.info(
                    "configuration changed: function rebuilt", extra={"from": self.digest[:12], "to": digest[:12]}
                )
                self.digest = digest
        return self.built

    def handle(self, event: dict[str, Any], context: LambdaContext) -> Mapping[str, Any]:
        """The function's response to one invocation, under the configuration in force."""
        return self.current().handle(event, context)


# ------------------------------------------------------------------ pieces two functions share
def run_tracker(settings: RunLedgerSettings, clients: AwsClients) -> RunTracker:
    """The run ledger: files and chunks counted per AppFlow execution id, runs settled and published when complete."""
    return RunTracker(
        DynamoRunLedger(clients.dynamodb, settings.ledger_table),
        EventBridgePublisher(clients.events, settings.event_bus_name),
        event_source=settings.event_source_name,
        landing_bucket=settings.landing_bucket,
    )


def rules_for(flows: FlowCatalog, key: bytes, on_new_field: Callable[..., Any] | None = None) -> ObjectRules:
    """The rule sets bound per object (FLOW_OBJECTS or the configuration document), compiled with this masking key."""
    return ObjectRules(flows.object_rule_sets(), masking_key=key, on_new_field=on_new_field)


def record_bodies(clients: AwsClients, bucket: str) -> S3RecordBodies | None:
    """Bodies of records too large for one item, kept in S3; None without a bucket."""
    return S3RecordBodies(clients.s3, bucket) if bucket else None


def quarantine(clients: AwsClients, settings: IngestSettings | ChangesSettings) -> S3Quarantine:
    """Rejected records and events (values masked), and what could not be parsed, as it arrived."""
    return S3Quarantine(clients.s3, settings.quarantine_bucket, raw_bucket=settings.raw_quarantine_bucket)


# ------------------------------------------------------------------ one class and one builder per function
class PlanFunction:
    """Plan: an AppFlow output file landed in S3 -> one chunk message per byte range."""

    def __init__(self, settings: PlanSettings, clients: AwsClients) -> None:
        self.planner = FilePlanner(
            objects=S3LandingObjects(clients.s3),
            queue=SqsChunkQueue(clients.sqs, settings.chunk_queue_url),
            chunk_size=settings.chunk_size_bytes,
            formats=settings.flows.formats,
            flows=settings.flows.objects.keys(),
            runs=run_tracker(settings.runs, clients) if settings.runs else None,
        )

    def handle(self, event: dict[str, Any], context: LambdaContext) -> Mapping[str, Any]:
        """Plan every object the S3 notification names."""
        plans = [self.planner.plan(obj) for obj in landed_objects_from_event(event)]
        return {"planned": [plan.summary() for plan in plans]}


def plan_function(env: Env = os.environ) -> Configured[PlanFunction]:
    """The plan function, from its settings."""
    return Configured(PlanSettings, PlanFunction, env)


class IngestFunction:
    """Ingest: one chunk message -> its records read, checked and written newest-wins to DynamoDB."""

    def __init__(self, settings: IngestSettings, clients: AwsClients) -> None:
        self.settings = settings
        self._clients = clients
        # The masking key, from its secret (cached by Powertools Parameters; docs/security.md).
        self._masking_key = SecretMaskingKey(clients.secretsmanager, settings.masking_key_secret)
        self._schema_sightings = (
            SchemaSightings(DynamoSchemaRegistry(clients.dynamodb, settings.derived_table)).report
            if settings.derived_table
            else None
        )
        self._runs = run_tracker(settings.runs, clients) if settings.runs else None
        self._store = DynamoEntityStore(
            clients.dynamodb,
            settings.entity_table,
            concurrency=settings.write_concurrency,
            strategy=settings.write_strategy,
            # Records too large for one item keep their body in S3 (the item points at it).
            bodies=record_bodies(clients, settings.record_body_bucket),
            compress_over=settings.compress_bodies_over,
        )
        self._quarantine = quarantine(clients, settings)
        self._processor = BatchProcessor(event_type=EventType.SQS)
        # Per instance, not per module: the rules are compiled once per cold start, and again only
        # when the key was rotated.
        self.ingester_for = lru_cache(maxsize=1)(self._ingester)

    def _ingester(self, key: bytes) -> ChunkIngester:
        """The ingester whose rule sets are compiled with this masking key."""
        return ChunkIngester(
            objects=S3LandingObjects(self._clients.s3),
            store=self._store,
            quarantine=self._quarantine,
            queue=SqsChunkQueue(self._clients.sqs, self.settings.chunk_queue_url),
            objects_by_flow=self.settings.flows.objects,
            rules=rules_for(self.settings.flows, key, self._schema_sightings),
            runs=self._runs,
            max_version_skew_ms=self.settings.max_version_skew_seconds * 1000,
        )

    @tracer.capture_method
    def ingest_message(self, record: SQSRecord, lambda_context: LambdaContext) -> dict[str, Any]:
        """One chunk message (a record of the SQS batch)."""
        # Powertools injects lambda_context, so a chunk can hand over its rest before the time limit.
        # A message that cannot be read is quarantined by the service, not retried into the DLQ.
        ingester = self.ingester_for(self._masking_key.current())
        return ingester.ingest_message(record.body, remaining_ms=lambda_context.get_remaining_time_in_millis).as_dict()

    def handle(self, event: dict[str, Any], context: LambdaContext) -> Mapping[str, Any]:
        """The SQS batch, each message on its own; failed ones reported as partial batch failures."""
        return process_partial_response(
            event=event, record_handler=self.ingest_message, processor=self._processor, context=context
        )


def ingest_function(env: Env = os.environ) -> Configured[IngestFunction]:
    """The ingest function, from its settings (its client pool sized for its concurrent writes)."""

    def clients(settings: IngestSettings) -> AwsClients:
        return AwsClients(settings.endpoint_url, max_pool_connections=settings.write_concurrency)

    return Configured(IngestSettings, IngestFunction, env, clients)


class ChangesFunction:
    """Changes: a Salesforce change event (AppFlow event-triggered flow) -> stored records, newest wins."""

    def __init__(self, settings: ChangesSettings, clients: AwsClients) -> None:
        self.settings = settings
        # The masking key, from its secret (cached by Powertools Parameters; docs/security.md).
        self._masking_key = SecretMaskingKey(clients.secretsmanager, settings.masking_key_secret)
        self._merger = DynamoEntityMerger(
            clients.dynamodb,
            settings.entity_table,
            # Records too large for one item keep their body in S3 (read to merge, written before the item).
            record_bodies(clients, settings.record_body_bucket),
            compress_over=settings.compress_bodies_over,
        )
        self._marks = DynamoResyncMarks(clients.dynamodb, settings.ledger_table)
        self._publisher = EventBridgePublisher(clients.events, settings.event_bus_name)
        self._rejected = quarantine(clients, settings)
        self._large_events = S3EventDocuments(clients.s3)
        # Once per cold start, and again only when the masking key was rotated.
        self.applier_for = lru_cache(maxsize=1)(self._applier)

    def _applier(self, key: bytes) -> ChangeApplier:
        """The applier whose rule sets are compiled with this masking key."""
        return ChangeApplier(
            merger=self._merger,
            marks=self._marks,
            publisher=self._publisher,
            rejected=self._rejected,
            read_json=self._large_events.read_json,
            event_source=self.settings.event_source_name,
            objects_by_flow=self.settings.flows.objects,
            # The file path's rule sets, applied to the fields each change delivers. New fields are
            # reported by the file path (this function does not write the derived table).
            rules=rules_for(self.settings.flows, key),
            max_version_skew_ms=self.settings.max_version_skew_seconds * 1000,
        )

    def handle(self, event: dict[str, Any], context: LambdaContext) -> Mapping[str, Any]:
        """Apply one change event."""
        return self.applier_for(self._masking_key.current()).apply(event).as_dict()


def changes_function(env: Env = os.environ) -> Configured[ChangesFunction]:
    """The changes function, from its settings."""
    return Configured(ChangesSettings, ChangesFunction, env)


class PublishFunction:
    """Publish: the entity table's stream -> one downstream event per real change."""

    def __init__(self, settings: PublishSettings, clients: AwsClients) -> None:
        self.settings = settings
        self._publisher = EventBridgePublisher(clients.events, settings.event_bus_name)
        # Per object, the fields whose change alone publishes no event (FLOW_OBJECTS' volatile_fields).
        self._volatile_fields = settings.flows.volatile_fields_by_object()
        # Bodies of records too large for one item: read to tell changed_fields, and one a newer version
        # replaced is tagged for expiry.
        self._bodies = record_bodies(clients, settings.record_body_bucket)

    def handle(self, event: dict[str, Any], context: LambdaContext) -> Mapping[str, Any]:
        """Publish the stream batch's events: record changes from the entity table, passes and sightings from the derived one."""
        return publish_events(
            event,
            publisher=self._publisher,
            source=self.settings.event_source_name,
            table=self.settings.entity_table,
            derived_table=self.settings.derived_table,  # its stream carries passes and sightings
            volatile_fields=self._volatile_fields,
            bodies=self._bodies,
        )


def publish_function(env: Env = os.environ) -> Configured[PublishFunction]:
    """The publish function, from its settings."""
    return Configured(PublishSettings, PublishFunction, env)


class AggregateFunction:
    """Aggregate: the entity table's stream -> members' aggregates and wallet passes, exactly once."""

    def __init__(self, settings: AggregateSettings, clients: AwsClients) -> None:
        self.aggregator = (
            WalletAggregator(DynamoWalletStore(clients.dynamodb, settings.derived_table), settings.wallet)
            if settings.wallet is not None
            else None
        )
        # Records too large for one item keep their body in S3: the wallet reads the full record.
        self._bodies = record_bodies(clients, settings.record_body_bucket)

    def handle(self, event: dict[str, Any], context: LambdaContext) -> Mapping[str, Any]:
        """Apply the stream batch to the wallet; nothing to do in a deployment without one."""
        if self.aggregator is None:  # WALLET_CONFIG is empty: this deployment keeps no wallet passes
            metrics.add_metric(name="WalletChangesApplied", unit=MetricUnit.Count, value=0)
            return {"batchItemFailures": []}
        return aggregate_wallet(
            event, aggregator=self.aggregator, read_body=self._bodies.read if self._bodies else None
        )


def aggregate_function(env: Env = os.environ) -> Configured[AggregateFunction]:
    """The aggregate function, from its settings."""
    return Configured(AggregateSettings, AggregateFunction, env)


class RederiveFunction:
    """Rederive: the daily schedule -> the wallet passes a promotion's start or end changes, derived again on the day."""

    def __init__(self, settings: RederiveSettings, clients: AwsClients) -> None:
        self.rederiver = (
            PassRederiver(DynamoWalletStore(clients.dynamodb, settings.derived_table), settings.wallet)
            if settings.wallet is not None
            else None
        )

    def handle(self, event: dict[str, Any], context: LambdaContext) -> Mapping[str, Any]:
        """Derive again the passes due on the scheduled day; nothing is ever due without a wallet."""
        if self.rederiver is None:  # no wallet in this deployment: nothing is ever due
            metrics.add_metric(name="PassesDue", unit=MetricUnit.Count, value=0)
            return {"due": 0, "rederived": 0}
        return rederive_passes(event, rederiver=self.rederiver, remaining_ms=context.get_remaining_time_in_millis)


def rederive_function(env: Env = os.environ) -> Configured[RederiveFunction]:
    """The rederive function, from its settings."""
    return Configured(RederiveSettings, RederiveFunction, env)


class RunsFunction:
    """Runs: AppFlow's Start/End Flow Run Reports -> the run ledger, settled and published when complete."""

    def __init__(self, settings: RunsSettings, clients: AwsClients) -> None:
        self.tracker = run_tracker(settings.runs, clients)

    def handle(self, event: dict[str, Any], context: LambdaContext) -> Mapping[str, Any]:
        """Record one run report."""
        return self.tracker.record_report(event).as_dict()


def runs_function(env: Env = os.environ) -> Configured[RunsFunction]:
    """The runs function, from its settings."""
    return Configured(RunsSettings, RunsFunction, env)
