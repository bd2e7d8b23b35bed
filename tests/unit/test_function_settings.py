"""Each function parses and requires only its own settings, and its handler is decorators plus one call.

The variables a function may read are those template.yaml gives it (Globals merged with its own
``Environment.Variables``): a model reading anything else would read an unset variable on AWS.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from appflow_ingest import wiring
from appflow_ingest.settings import (
    AggregateSettings,
    ChangesSettings,
    ConfigurationError,
    IngestSettings,
    PlanSettings,
    PublishSettings,
    RederiveSettings,
    RunsSettings,
)
from appflow_ingest.settings.common import DOCUMENT_VARIABLES
from appflow_local.stack.template import Template

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = {spec.logical_id: spec for spec in Template.load(ROOT / "template.yaml").functions()}
MODELS = {
    "PlanFunction": PlanSettings,
    "IngestFunction": IngestSettings,
    "ChangesFunction": ChangesSettings,
    "PublishFunction": PublishSettings,
    "AggregateFunction": AggregateSettings,
    "RederiveFunction": RederiveSettings,
    "RunsFunction": RunsSettings,
}
# What each function cannot start without, given the template's full environment (the run ledger's
# bus is required where a ledger table is set; the wallet's table where a wallet is configured).
REQUIRED = {
    "PlanFunction": {"CHUNK_QUEUE_URL", "EVENT_BUS_NAME"},
    "IngestFunction": {
        "ENTITY_TABLE", "CHUNK_QUEUE_URL", "QUARANTINE_BUCKET", "RAW_QUARANTINE_BUCKET", "MASKING_KEY_SECRET",
        "EVENT_BUS_NAME",
    },
    "ChangesFunction": {
        "ENTITY_TABLE", "LEDGER_TABLE", "EVENT_BUS_NAME", "QUARANTINE_BUCKET", "RAW_QUARANTINE_BUCKET",
        "MASKING_KEY_SECRET",
    },
    "PublishFunction": {"ENTITY_TABLE", "EVENT_BUS_NAME"},
    "AggregateFunction": {"DERIVED_TABLE"},
    "RederiveFunction": {"DERIVED_TABLE"},
    "RunsFunction": {"LEDGER_TABLE", "EVENT_BUS_NAME"},
}  # fmt: skip
VALID = {
    "FLOW_OBJECTS": '{"members": {"object": "Contact", "rules": "contact-member"}}',
    "WALLET_CONFIG": "{}",
    "WRITE_STRATEGY": "transact",
    "CHUNK_SIZE_BYTES": "4096",
    "WRITE_CONCURRENCY": "8",
    "COMPRESS_BODIES_OVER": "0",
    "MAX_VERSION_SKEW_SECONDS": "60",
    "CONFIG_PARAMETER_PATH": "",  # the document path is load_settings' (wiring.py), tested end to end
    "CONFIG_MAX_AGE_SECONDS": "300",
}


class Recording(Mapping[str, str]):
    """An environment that remembers which variables were read."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.read.add(name)
        return self._values[name]

    def get(self, name: str, default=None):  # type: ignore[override]
        self.read.add(name)
        return self._values.get(name, default)

    def __contains__(self, name: object) -> bool:
        self.read.add(str(name))
        return name in self._values

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("a settings model must read variables by name, not iterate the environment")

    def __len__(self) -> int:
        return len(self._values)


def template_environment(logical_id: str) -> dict[str, str]:
    """Every variable the template gives the function, with a valid value."""
    return {name: VALID.get(name, f"{name.lower()}-value") for name in FUNCTIONS[logical_id].environment}


def test_every_function_of_the_template_has_a_settings_model():
    assert set(MODELS) == set(FUNCTIONS)


@pytest.mark.parametrize("logical_id", sorted(MODELS))
def test_a_model_reads_only_variables_its_function_is_given(logical_id):
    model, given = MODELS[logical_id], set(FUNCTIONS[logical_id].environment)
    env = Recording(template_environment(logical_id))
    model.from_env(env)
    assert env.read <= set(model.reads), "the model reads a variable it does not declare in `reads`"
    assert set(model.reads) <= given, f"{logical_id} is not given {sorted(set(model.reads) - given)}"
    assert set(DOCUMENT_VARIABLES) <= given


@pytest.mark.parametrize("logical_id", sorted(MODELS))
def test_a_model_requires_exactly_its_function_s_variables(logical_id):
    model, env = MODELS[logical_id], template_environment(logical_id)
    required = set()
    for name in model.reads:
        try:
            model.from_env({**env, name: ""})
        except ConfigurationError as error:
            assert f"environment variable {name} is required (declared in template.yaml" in str(error)
            required.add(name)
    assert required == REQUIRED[logical_id]


@pytest.mark.parametrize("logical_id", sorted(MODELS))
def test_a_model_ignores_every_variable_it_does_not_use(logical_id):
    """Given only its required variables, a model parses (the others take their defaults)."""
    model = MODELS[logical_id]
    minimal = {name: f"{name.lower()}-value" for name in REQUIRED[logical_id]}
    if "EVENT_BUS_NAME" in minimal and logical_id in {"PlanFunction", "IngestFunction"}:
        minimal["LEDGER_TABLE"] = "ledger"  # the bus is required for the run ledger only
    if "DERIVED_TABLE" in minimal:
        minimal["WALLET_CONFIG"] = "{}"  # the table is required for a wallet only
    assert model.from_env(minimal) is not None


def test_the_masking_key_secret_keeps_its_message():
    env = template_environment("ChangesFunction")
    with pytest.raises(ConfigurationError, match="declared in template.yaml for the functions that mask"):
        ChangesSettings.from_env({**env, "MASKING_KEY_SECRET": ""})


def test_the_run_ledger_and_the_wallet_are_optional_where_a_function_can_do_without():
    assert PlanSettings.from_env({"CHUNK_QUEUE_URL": "q"}).runs is None
    assert AggregateSettings.from_env({}).wallet is None
    assert RederiveSettings.from_env({"WALLET_CONFIG": " "}).wallet is None


def test_the_flow_catalog_is_the_same_for_every_function_that_reads_it():
    env = template_environment("IngestFunction")
    ingest = IngestSettings.from_env(env).flows
    assert ingest == PlanSettings.from_env(env).flows == PublishSettings.from_env(env).flows
    assert ingest.object_rules == {"Contact": "contact-member"}
    assert set(ingest.object_rule_sets()) == {"Contact"}


# ------------------------------------------------------------------------------ the composition root
@pytest.fixture
def region(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")


def test_without_a_wallet_aggregate_and_rederive_have_nothing_to_do(region):
    no_wallet = {"AWS_ENDPOINT_OVERRIDE": "http://127.0.0.1:9"}  # never called: nothing to do
    assert wiring.aggregate_function(no_wallet).handle({"Records": []}, None) == {"batchItemFailures": []}
    assert wiring.rederive_function(no_wallet).handle({}, None) == {"due": 0, "rederived": 0}


def test_ingest_compiles_its_rules_once_per_masking_key(region):
    env = {**template_environment("IngestFunction"), "AWS_ENDPOINT_OVERRIDE": "http://127.0.0.1:9"}
    function = wiring.ingest_function(env).built
    first = function.ingester_for(b"key-1")
    assert function.ingester_for(b"key-1") is first  # a warm invocation: the same rules
    rotated = function.ingester_for(b"key-2")
    assert rotated is not first and function.ingester_for(b"key-2") is rotated
    # Per function instance: another execution environment compiles its own.
    assert wiring.ingest_function(env).built.ingester_for(b"key-2") is not rotated


@pytest.mark.parametrize("logical_id", sorted(MODELS))
def test_a_handler_is_its_decorators_and_one_call_into_its_wired_function(logical_id):
    spec = FUNCTIONS[logical_id]
    tree = ast.parse(spec.module_path.read_text())
    imported = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert {name for name in imported if name and name.startswith("appflow_ingest")} <= {
        "appflow_ingest", "appflow_ingest.observability",
    }  # fmt: skip
    (handler,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == spec.handler_name]
    assert len(handler.decorator_list) == 3
    (statement,) = handler.body
    assert isinstance(statement, ast.Return) and isinstance(statement.value, ast.Call)
    built = [n for n in tree.body if isinstance(n, ast.Assign) and isinstance(n.value, ast.Call)]
    assert [ast.unparse(n.value) for n in built] == [f"wiring.{spec.short_name}_function()"]
