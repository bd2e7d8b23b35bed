"""The schema registry in template.yaml is the contract in schemas/, rendered to Draft 4, and nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from appflow_ingest.domain.bus_events.derived_items import MEMBER_PASS_CHANGED, SCHEMA_CHANGED
from appflow_ingest.domain.bus_events.record_changed import RECORD_CHANGED
from appflow_ingest.domain.bus_events.snapshots import MEMBER_PASS_SNAPSHOT, RECORD_SNAPSHOT
from appflow_local.consumers.event_schemas import (
    SchemaRenderError,
    detail_type_of,
    registry_resources,
    render_block,
    schema_files,
    template_block,
    to_draft4,
)
from appflow_local.stack.template import Template

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "schemas"
TEMPLATE = REPO / "template.yaml"


def test_the_template_holds_the_registry_rendered_from_the_files():
    # Fails when a schema file changed (or was added) and `make event-schemas` was not run, or when
    # the block in template.yaml was edited by hand.
    assert template_block(TEMPLATE.read_text()) == render_block(SCHEMAS), "run `make event-schemas`"


def test_every_file_has_exactly_one_registry_schema_with_its_content_and_version():
    template = Template.load(TEMPLATE)
    in_template = dict(template.resources_of_type("AWS::EventSchemas::Schema"))
    files = {detail_type_of(json.loads(p.read_text()), p): json.loads(p.read_text()) for p in schema_files(SCHEMAS)}
    assert len(in_template) == len(files)
    by_title = {json.loads(props["Content"])["title"]: props for props in in_template.values()}
    assert by_title.keys() == files.keys()
    for detail_type, schema in files.items():
        props = by_title[detail_type]
        assert json.loads(props["Content"]) == to_draft4(schema)
        assert props["Type"] == "JSONSchemaDraft4"
        assert f"contract version {schema['x-contract-version']}" in props["Description"]
        assert props["RegistryName"] == {"Fn::GetAtt": ["EventSchemaRegistry", "RegistryName"]}
    assert len(list(template.resources_of_type("AWS::EventSchemas::Registry"))) == 1


def test_every_event_the_code_publishes_has_a_schema():
    published = {
        RECORD_CHANGED, RECORD_SNAPSHOT, MEMBER_PASS_CHANGED, MEMBER_PASS_SNAPSHOT, SCHEMA_CHANGED,
        "FlowRun Completed", "FlowRun Incomplete", "Resync Required",
    }  # fmt: skip
    documented = {detail_type_of(json.loads(p.read_text()), p) for p in schema_files(SCHEMAS)}
    assert documented == published


@pytest.mark.parametrize("path", schema_files(SCHEMAS), ids=lambda p: p.name)
def test_the_draft4_rendering_is_a_valid_draft4_schema_that_judges_as_the_file_does(path: Path):
    schema = json.loads(path.read_text())
    draft4 = to_draft4(schema)
    jsonschema.Draft4Validator.check_schema(draft4)
    assert draft4["$schema"] == "http://json-schema.org/draft-04/schema#"
    # The detail-type constant is what tells events apart: both forms accept it and only it.
    detail_type = detail_type_of(schema, path)
    for candidate, accepted in ((detail_type, True), (detail_type + "x", False)):
        instance = {"source": "appflow-ingest", "detail-type": candidate}
        for validator in (jsonschema.Draft202012Validator(schema), jsonschema.Draft4Validator(draft4)):
            errors = [e for e in validator.iter_errors(instance) if e.path and e.path[0] == "detail-type"]
            assert (not errors) == accepted


def test_a_keyword_without_a_draft4_rendering_stops_the_rendering():
    with pytest.raises(SchemaRenderError, match="exclusiveMinimum"):
        to_draft4({"type": "object", "properties": {"n": {"type": "number", "exclusiveMinimum": 0}}})


def test_a_schema_without_a_contract_version_is_refused(tmp_path):
    schema = json.loads((SCHEMAS / "record-changed.schema.json").read_text())
    del schema["x-contract-version"]
    (tmp_path / "record-changed.schema.json").write_text(json.dumps(schema))
    with pytest.raises(SchemaRenderError, match="x-contract-version"):
        registry_resources(tmp_path)


@pytest.mark.parametrize(
    ("changed", "snapshot"), [("record-changed", "record-snapshot"), ("member-pass-changed", "member-pass-snapshot")]
)
def test_a_snapshot_schema_describes_the_same_detail_as_its_change_schema(changed: str, snapshot: str):
    # The code builds both details with one function; the schemas must not drift apart either.
    change = json.loads((SCHEMAS / f"{changed}.schema.json").read_text())
    snap = json.loads((SCHEMAS / f"{snapshot}.schema.json").read_text())
    change_detail, snap_detail = change["properties"]["detail"], snap["properties"]["detail"]
    assert snap_detail["required"] == change_detail["required"]
    assert {k: v for k, v in snap_detail["properties"].items() if k != "event_id"} == {
        k: v for k, v in change_detail["properties"].items() if k != "event_id"
    }
    assert snap.get("$defs") == change.get("$defs")
    assert snap["x-contract-version"] == change["x-contract-version"]
