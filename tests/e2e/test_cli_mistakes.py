"""A new user's mistakes get one line (what is wrong, what to do) and exit status 2, never a traceback.

Each case of issue 11 (and of issue 16's consumer verbs) is driven through ``main`` (stderr captured) and a few through the installed
console script, as a user runs it.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from appflow_local.cli import build_parser, main
from appflow_local.clients import Emulator
from appflow_local.consumers.snapshot import Checkpoint, CheckpointFile
from appflow_local.stack.description import StackNotProvisioned, load_stack

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def one_line_error(capsys, *argv: str) -> str:
    """Run the CLI; assert exit 2, nothing on stdout, exactly one line on stderr; return that line."""
    code = main(list(argv))
    captured = capsys.readouterr()
    assert code == 2, captured.err
    assert captured.out == ""
    assert "Traceback" not in captured.err
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("appflow-ingest: ")
    return lines[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def provisioned(capsys, moto_endpoint, stack_name) -> tuple[str, str]:
    assert main(["local", "provision", "--endpoint-url", moto_endpoint, "--stack-name", stack_name]) == 0
    capsys.readouterr()
    return moto_endpoint, stack_name


def test_nothing_listening_at_the_endpoint(capsys):
    url = f"http://127.0.0.1:{free_port()}"
    for argv in (["local", "dump", "--endpoint-url", url], ["runs", "--endpoint-url", url]):
        line = one_line_error(capsys, *argv)
        assert f"nothing is listening at {url}" in line and "moto_server" in line


def test_endpoint_without_a_scheme(capsys):
    for argv in (
        ["local", "events", "--endpoint-url", "127.0.0.1:5000"],
        ["quarantine", "--endpoint-url", "localhost:5000"],
    ):
        line = one_line_error(capsys, *argv)
        assert "is not a URL" in line and "http://127.0.0.1:5000" in line


def test_missing_and_malformed_event_files_are_named(capsys, provisioned, tmp_path):
    endpoint, stack = provisioned
    missing = tmp_path / "nope.json"
    line = one_line_error(
        capsys, "local", "invoke", "plan", "--event", str(missing), "--endpoint-url", endpoint, "--stack-name", stack
    )
    assert str(missing) in line and "no such file" in line
    broken = tmp_path / "broken.json"
    broken.write_text('{"source": "aws.s3",\n  "detail": ')
    for verb in (["invoke", "plan"], ["send"]):
        line = one_line_error(
            capsys, "local", *verb, "--event", str(broken), "--endpoint-url", endpoint, "--stack-name", stack
        )
        assert str(broken) in line and "not JSON (line 2" in line


def test_a_region_that_does_not_match_the_stack(capsys, provisioned):
    endpoint, stack = provisioned
    for argv in (
        ["local", "dump", "--endpoint-url", endpoint, "--stack-name", stack, "--region", "eu-west-1"],
        ["runs", "--endpoint-url", endpoint, "--stack", stack, "--region", "eu-west-1"],
    ):
        line = one_line_error(capsys, *argv)
        assert "provisioned in us-east-1, not eu-west-1" in line and "--region us-east-1" in line


def test_send_refuses_what_is_not_an_eventbridge_event(capsys, provisioned):
    endpoint, stack = provisioned
    line = one_line_error(
        capsys, "local", "send", "--event", str(REPO / "events/sqs-chunk-batch.json"), "--endpoint-url", endpoint,
        "--stack-name", stack,
    )  # fmt: skip
    assert "not an EventBridge event" in line and "local invoke" in line


@pytest.mark.parametrize(
    ("flow_objects", "expected"),
    [
        ('{"sf": ', "FlowObjects is not valid JSON"),
        ('["sf"]', "expected a JSON object"),
        ('{"sf": {"id_field": "Id"}}', '"object"'),
        ('{"sf": {"object": "Account", "rules": "no-such-rules"}}', "unknown rule set 'no-such-rules'"),
        ('{"sf": {"object": "Account", "rules": "purchase"}}', "rule set 'purchase' is for Opportunity"),
        ('{"sf": {"object": "Account", "format": "xml"}}', "'xml' is not a format"),
    ],
)
def test_provision_refuses_a_bad_flow_objects_before_creating_anything(
    capsys, moto_endpoint, stack_name, flow_objects, expected
):
    line = one_line_error(
        capsys, "local", "provision", "--endpoint-url", moto_endpoint, "--stack-name", stack_name,
        "--parameter-overrides", f"FlowObjects={flow_objects}",
    )  # fmt: skip
    assert expected in line
    with pytest.raises(StackNotProvisioned):
        load_stack(Emulator(moto_endpoint), stack_name)
    buckets = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").list_buckets()["Buckets"]
    assert not [b for b in buckets if b["Name"].startswith(stack_name.lower())]


def test_operations_verbs_say_which_stack_is_missing(capsys, moto_endpoint, monkeypatch):
    monkeypatch.delenv("APPFLOW_LOCAL_ENDPOINT_URL", raising=False)
    assert "pass --stack NAME" in one_line_error(capsys, "dead-letters")
    assert "no stack 'nope'" in one_line_error(capsys, "runs", "--stack", "nope", "--endpoint-url", moto_endpoint)


def test_verb_mistakes_on_a_stack(capsys, provisioned):
    endpoint, stack = provisioned
    where = ["--endpoint-url", endpoint, "--stack", stack]
    assert "no failure queue 'Nope'" in one_line_error(capsys, "redrive", "Nope", *where)
    assert "no run 'nope'" in one_line_error(capsys, "report", "--execution-id", "nope", *where)
    assert "--since 'yesterday'" in one_line_error(capsys, "runs", "--since", "yesterday", *where)
    assert "add --from-quarantine" in one_line_error(capsys, "reingest", "--execution-id", "x", "--field", "Id", *where)
    assert "no files of run 'x'" in one_line_error(capsys, "reingest", "--execution-id", "x", *where)
    assert "expected s3://bucket/key" in one_line_error(capsys, "reingest", "--file", "accounts.jsonl", *where)
    assert "no such file" in one_line_error(
        capsys, "local", "replay", "--flow", "f", "/no/such.jsonl", "--endpoint-url", endpoint, "--stack-name", stack
    )


def test_consumer_verbs_find_the_stack_as_the_operations_verbs_do(capsys, moto_endpoint, monkeypatch):
    monkeypatch.delenv("APPFLOW_LOCAL_ENDPOINT_URL", raising=False)
    assert "pass --stack NAME" in one_line_error(capsys, "snapshot", "--object", "Account")
    assert "pass --stack NAME" in one_line_error(capsys, "replay-events", "--since", "1h", "--to", "r")
    url = f"http://127.0.0.1:{free_port()}"
    assert "nothing is listening" in one_line_error(capsys, "snapshot", "--object", "Account", "--endpoint-url", url)
    line = one_line_error(capsys, "replay-events", "--since", "1h", "--to", "r", "--endpoint-url", "localhost:5000")
    assert "is not a URL" in line
    line = one_line_error(capsys, "snapshot", "--object", "Account", "--stack", "nope", "--endpoint-url", moto_endpoint)
    assert "no stack 'nope'" in line


def test_consumer_verb_mistakes_on_a_stack(capsys, provisioned, tmp_path):
    endpoint, stack = provisioned
    where = ["--endpoint-url", endpoint, "--stack", stack]
    snapshot = ["snapshot", "--object", "Account", *where, "--checkpoint", str(tmp_path / "c.json")]
    assert "snapshot id" in one_line_error(capsys, *snapshot, "--snapshot-id", "has:colon")
    assert "expected s3://" in one_line_error(capsys, *snapshot, "--to-s3", "bucket-without-scheme")
    assert "--segments 0" in one_line_error(capsys, *snapshot, "--segments", "0")
    assert "--read-units-per-second" in one_line_error(capsys, *snapshot, "--read-units-per-second", "0")
    # A checkpoint of another snapshot is refused before anything is printed or sent
    other = tmp_path / "other.json"
    CheckpointFile(other).save(Checkpoint("x-1", "Opportunity", "t", "bus b", 1, []))
    line = one_line_error(
        capsys, "snapshot", "--object", "Account", *where, "--snapshot-id", "x-1", "--checkpoint", str(other)
    )
    assert "belongs to another snapshot" in line and "delete the checkpoint" in line

    replay = ["replay-events", *where]
    assert "no such rule" in one_line_error(capsys, *replay, "--since", "1h", "--to", "no-such-rule")
    assert "--since 'yesterday-ish'" in one_line_error(capsys, *replay, "--since", "yesterday-ish", "--to", "r")
    assert "is not before" in one_line_error(capsys, *replay, "--since", "1h", "--until", "2h", "--to", "r")
    assert "is in the future" in one_line_error(capsys, *replay, "--since", "1h", "--until", "2999-01-01", "--to", "r")


@pytest.mark.parametrize(
    ("argv", "usage"),
    [
        (["local", "replay", "--endpoint-url", "http://127.0.0.1:1"], "usage: appflow-ingest local replay"),
        (["redrive"], "usage: appflow-ingest redrive"),
        (["report"], "usage: appflow-ingest report"),
        (["reingest", "--execution-id", "a", "--file", "s3://b/k"], "usage: appflow-ingest reingest"),
        (["runs", "--outcome", "maybe"], "usage: appflow-ingest runs"),
        (["snapshot", "--to-bus", "b"], "usage: appflow-ingest snapshot"),
        (["snapshot", "--object", "A", "--to-bus", "b", "--to-s3", "s3://b/p"], "usage: appflow-ingest snapshot"),
        (["replay-events", "--since", "1h"], "usage: appflow-ingest replay-events"),
    ],
)
def test_usage_errors_show_the_subcommands_usage(capsys, argv, usage):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(usage) and "Traceback" not in err


def test_every_flag_has_a_help_text():
    def walk(parser: argparse.ArgumentParser, path: str) -> list[str]:
        missing = []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    missing += walk(sub, f"{path} {name}")
            elif action.option_strings and action.help is None and "-h" not in action.option_strings:
                missing.append(f"{path} {action.option_strings[0]}")
        return missing

    assert walk(build_parser(), "appflow-ingest") == []


def _console(*argv: str, **kwargs) -> subprocess.CompletedProcess:
    script = Path(sys.executable).parent / "appflow-ingest"
    return subprocess.run([str(script), *argv], capture_output=True, text=True, timeout=120, **kwargs)


def test_as_a_user_runs_it_a_broken_pipe_exits_quietly(provisioned, tmp_path):
    endpoint, stack = provisioned
    # Many records, so that `dump` is still writing when `head` has gone.
    bucket = load_stack(Emulator(endpoint), stack).resources["EntityTable"]["Ref"]
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    for i in range(300):
        dynamodb.put_item(TableName=bucket, Item={"pk": {"S": f"Account#{i}"}, "object": {"S": "Account"},
                                                  "record_id": {"S": str(i)}, "record": {"S": json.dumps({"x": "y" * 500})}})  # fmt: skip
    script = Path(sys.executable).parent / "appflow-ingest"
    pipeline = subprocess.run(
        f"'{script}' local dump --endpoint-url {endpoint} --stack-name {stack} | head -n 1",
        shell=True, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert pipeline.returncode == 0
    assert len(pipeline.stdout.splitlines()) == 1
    assert pipeline.stderr == ""


def test_as_a_user_runs_it_an_unreachable_endpoint(tmp_path):
    result = _console("local", "dump", "--endpoint-url", f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and "nothing is listening" in result.stderr
