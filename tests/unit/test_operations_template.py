"""The template tells someone about every failure: each alarm notifies the operations topic, every
failure queue and function is watched, and there is one dashboard to open first."""

from __future__ import annotations

import json
import re
from pathlib import Path

from appflow_local.operations.failure_queues import failure_queues
from appflow_local.stack.template import Template

TEMPLATE = Template.load(Path(__file__).resolve().parents[2] / "template.yaml")
TOPIC = {"Fn::If": ["CreateOperationsTopic", {"Ref": "OperationsTopic"}, {"Ref": "OperationsTopicArn"}]}


def alarms() -> dict[str, dict]:
    return dict(TEMPLATE.resources_of_type("AWS::CloudWatch::Alarm"))


def _metric(props: dict) -> str:
    """The metric an alarm watches: MetricName, or the SELECT of its Metrics Insights query."""
    if "MetricName" in props:
        return props["MetricName"]
    expression = props["Metrics"][0]["Expression"]
    text = expression if isinstance(expression, str) else expression["Fn::Sub"]
    return re.search(r"SELECT \w+\((\w+)\)", text).group(1)


def _watched(metric: str, dimension_ref: str | None = None) -> list[str]:
    found = []
    for name, props in alarms().items():
        if _metric(props) != metric:
            continue
        values = [d["Value"] for d in props.get("Dimensions", [])]
        refs = [v.get("Ref") or (v.get("Fn::GetAtt") or [None])[0] for v in values if isinstance(v, dict)]
        if dimension_ref is None or dimension_ref in refs:
            found.append(name)
    return found


def test_every_alarm_notifies_the_operations_topic_when_it_fires_and_when_it_clears():
    assert len(alarms()) >= 20
    for name, props in alarms().items():
        assert props.get("AlarmActions") == [TOPIC], name
        assert props.get("OKActions") == [TOPIC], name
        assert props.get("AlarmDescription"), name


def test_the_topic_can_be_created_or_given_and_mailed():
    assert TEMPLATE.resources["OperationsTopic"]["Condition"] == "CreateOperationsTopic"
    subscription = TEMPLATE.resources["OperationsEmailSubscription"]
    assert subscription["Condition"] == "HasOperationsEmail"
    assert subscription["Properties"]["Protocol"] == "email"
    assert {"OperationsTopicArn", "OperationsEmail"} <= set(TEMPLATE.parameters)


def test_every_failure_queue_has_an_alarm():
    queues = failure_queues(TEMPLATE)
    assert len(queues) >= 6
    for logical_id in queues:
        assert _watched("ApproximateNumberOfMessagesVisible", logical_id), logical_id


def test_every_function_is_watched_for_errors_and_throttles():
    for function in TEMPLATE.functions():
        assert _watched("Errors", function.logical_id), function.logical_id
        assert _watched("Throttles", function.logical_id), function.logical_id


def test_stream_consumers_chunk_age_quarantine_runs_and_appflow_are_watched():
    for consumer in ("PublishFunction", "AggregateFunction"):
        assert _watched("IteratorAge", consumer), consumer
    assert _watched("ApproximateAgeOfOldestMessage", "ChunkQueue")
    assert _watched("RecordsQuarantined") and _watched("RunsIncomplete") and _watched("ChangeEventsQuarantined")
    (failed,) = [alarms()[n] for n in _watched("FlowExecutionsFailed")]
    assert "GROUP BY FlowName" in failed["Metrics"][0]["Expression"]  # each flow a contributor


def test_flow_deactivated_events_reach_the_topic():
    rule = TEMPLATE.resources["FlowDeactivatedRule"]["Properties"]
    assert set(rule["EventPattern"]["detail-type"]) == {
        "AppFlow Scheduled Flow Deactivated",
        "AppFlow Event Flow Deactivated",
    }
    assert rule["Targets"][0]["Arn"] == TOPIC


def test_one_dashboard_shows_flows_runs_queues_streams_and_functions():
    (dashboard,) = [p for _, p in TEMPLATE.resources_of_type("AWS::CloudWatch::Dashboard")]
    body = json.loads(re.sub(r"\$\{[^}]+\}", "X", dashboard["DashboardBody"]["Fn::Sub"]))
    text = json.dumps(body)
    for metric in (
        "RecordsRead", "RecordsWritten", "RecordsStale", "RecordsQuarantined", "FlowExecutionRecordsProcessed",
        "RunsReconciled", "RunsIncomplete", "Duration", "ApproximateAgeOfOldestMessage", "IteratorAge",
        "Errors", "Throttles",
    ):  # fmt: skip
        assert metric in text, metric
    alarm_widget = next(w for w in body["widgets"] if w["type"] == "alarm")
    assert len(alarm_widget["properties"]["alarms"]) == len(alarms())
