"""The ``appflow-ingest local`` verbs against a running emulator: provision, replay, drain, dump,
events, invoke, send, seed, runs. ``cli`` parses the command line and calls them."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from appflow_ingest.settings import ConfigurationError
from appflow_local.emulator.runtime import LocalRuntime, RunSummary
from appflow_local.emulator.server import Emulator, embedded_emulator
from appflow_local.operations import commands as operations
from appflow_local.operations.errors import UserError
from appflow_local.runs.progress import ProgressLine
from appflow_local.runs.replay import land_run, replay_run
from appflow_local.stack.description import StackDescription, load_stack
from appflow_local.stack.provision import provision_with_config, sam_env_vars
from appflow_local.stack.readback import published_events, stored_records
from appflow_local.stack.template import DEFAULT_REGION, DEFAULT_STACK_NAME, Template, default_template_path


def _emulator(args: argparse.Namespace) -> Emulator:
    return Emulator(args.endpoint_url, args.region or DEFAULT_REGION)


def _stack(args: argparse.Namespace) -> tuple[Emulator, StackDescription, Template]:
    emulator = _emulator(args)
    stack = load_stack(emulator, args.stack_name)
    if args.region and args.region != stack.region:
        raise UserError(
            f"stack {stack.stack_name!r} was provisioned in {stack.region}, not {args.region}: pass --region "
            f"{stack.region} (or leave --region out)"
        )
    if stack.region != emulator.region:
        emulator = Emulator(args.endpoint_url, stack.region)
    return emulator, stack, stack.load_template(args.template)


def check_parameters(template: Template, overrides: dict[str, str]) -> None:
    """The parameter values as CloudFormation would check them, and FlowObjects as the functions will read it."""
    values = template.parameter_values(overrides)
    if "FlowObjects" in values:
        check_flow_objects(values["FlowObjects"])


def check_flow_objects(raw: str) -> None:
    """FlowObjects as every function parses it: JSON, an object per flow, known rule sets and formats."""
    from appflow_ingest.reading.formats import FORMAT_NAMES
    from appflow_ingest.settings import parse_flow_objects, parse_flow_rules

    try:
        objects, formats = parse_flow_objects(raw)
        parse_flow_rules(raw)
    except ConfigurationError as error:
        message = str(error).replace("FLOW_OBJECTS", "FlowObjects")
        raise UserError(f"{message}; fix it in --parameter-overrides FlowObjects=...") from None
    for flow, config in objects.items():
        if not config.id_field or not config.version_field:
            raise UserError(f"FlowObjects[{flow!r}]: id_field and version_field must name fields")
    known = sorted(FORMAT_NAMES)
    for flow, name in formats.items():
        if name not in known:
            raise UserError(f"FlowObjects[{flow!r}].format: {name!r} is not a format; expected one of {known}")


def _container_endpoint(endpoint_url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(endpoint_url)
    return f"{parts.scheme}://host.docker.internal:{parts.port or 80}"


def _run(runtime: LocalRuntime) -> RunSummary:
    progress = ProgressLine()
    runtime.progress = progress
    summary = runtime.run_until_drained()
    progress.finish(summary)
    return summary


def _report(summary: RunSummary) -> int:
    """Explain what did not get through on stderr; the JSON summary is always the last stdout line."""
    result = summary.as_dict()
    if not summary.ok:
        problems = {
            k: result[k]
            for k in ("failed_invocations_by_function", "dead_lettered", "dropped", "dead_letter_queues", "undelivered")
            if result[k]
        }
        print(f"appflow-ingest: the run did not go through cleanly: {json.dumps(problems)}", file=sys.stderr)
    print(json.dumps(result), flush=True)
    return 0 if summary.ok else 1


def cmd_provision(args: argparse.Namespace) -> int:
    emulator = _emulator(args)
    template = Template.load(args.template or default_template_path())
    overrides = dict(args.parameter_overrides)
    # Refused before anything is created: a bad FlowObjects would otherwise fail every invocation.
    check_parameters(template, overrides)
    stack = provision_with_config(template, emulator, args.stack_name, args.config, overrides)
    if args.env_vars_file:
        container = args.container_endpoint_url or _container_endpoint(args.endpoint_url)
        args.env_vars_file.write_text(
            json.dumps(sam_env_vars(stack, template, args.endpoint_url, container), indent=2) + "\n"
        )
        print(f"wrote {args.env_vars_file} (functions reach the emulator at {container})", file=sys.stderr)
    created = {lid: attrs["Ref"] for lid, attrs in stack.resources.items()}
    print(
        json.dumps(
            {
                "stack": stack.stack_name,
                "resources": created,
                "deliveries": [d.rule for d in stack.deliveries],
                "taps": [t.log_group for t in stack.taps],
                "not_emulated": stack.skipped,
            },
            indent=2,
        )
    )
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    emulator, stack, template = _stack(args)
    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        raise UserError(f"no such file(s): {', '.join(missing)}")
    execution_id = args.execution_id or str(uuid.uuid4())
    return replay_run(
        emulator,
        stack,
        template,
        flow=args.flow,
        execution_id=execution_id,
        files=args.files,
        prefix=args.prefix,
        strict=args.strict,
        land=land_run,
    )


def cmd_drain(args: argparse.Namespace) -> int:
    emulator, stack, template = _stack(args)
    return _report(_run(LocalRuntime(emulator, stack, template)))


def cmd_dump(args: argparse.Namespace) -> int:
    emulator, stack, _ = _stack(args)
    for record in stored_records(emulator, stack, args.table):
        print(json.dumps(record, separators=(",", ":")))
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    emulator, stack, _ = _stack(args)
    for event in published_events(emulator, stack):
        print(json.dumps(event, separators=(",", ":")))
    return 0


@contextmanager
def _invoke_target(args: argparse.Namespace) -> Iterator[tuple[Emulator, StackDescription, Template]]:
    """The given emulator's stack, or an embedded emulator provisioned just for this invocation."""
    if args.endpoint_url:
        yield _stack(args)
        return
    with embedded_emulator() as endpoint_url:
        emulator = Emulator(endpoint_url, args.region or DEFAULT_REGION)
        template = Template.load(args.template or default_template_path())
        overrides = dict(args.parameter_overrides)
        check_parameters(template, overrides)
        stack = provision_with_config(template, emulator, args.stack_name, args.config, overrides)
        yield emulator, stack, template


def cmd_invoke(args: argparse.Namespace) -> int:
    event = read_event(args.event)
    with _invoke_target(args) as (emulator, stack, template):
        runtime = LocalRuntime(emulator, stack, template)
        invocation = runtime.invoke(args.function, event)
    print(
        f"{invocation.function}: {invocation.duration_seconds:.3f} s, metrics {json.dumps(invocation.metrics)}",
        file=sys.stderr,
    )
    if invocation.failed:
        print(json.dumps({"errorMessage": invocation.error, "errorType": invocation.error_type}))
        return 1
    print(json.dumps(invocation.result, default=str))
    return 0


def read_event(path: Path) -> Any:
    """The event JSON in ``path`` ('-': stdin); a UserError naming the file and what is wrong with it."""
    name = "stdin" if str(path) == "-" else str(path)
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"--event {name}: no such file (the sample events are in events/)") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"--event {name}: cannot read it ({getattr(error, 'strerror', None) or error})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(
            f"--event {name}: not JSON (line {error.lineno}, column {error.colno}: {error.msg}); "
            "give an event like those in events/"
        ) from None


def cmd_send(args: argparse.Namespace) -> int:
    from appflow_local.stack.samples import NotAnEnvelope, put_envelope

    event = read_event(args.event)
    emulator, stack, template = _stack(args)
    try:
        bus = put_envelope(emulator, stack, template, event)
    except NotAnEnvelope as error:
        raise UserError(f"--event {args.event}: {error}") from None
    print(f"put on bus {bus}", file=sys.stderr)
    if args.no_drain:
        return 0
    return _report(_run(LocalRuntime(emulator, stack, template)))


def cmd_seed(args: argparse.Namespace) -> int:
    from appflow_local.stack.samples import default_events_dir, seed_sample_objects

    emulator, stack, template = _stack(args)
    for uri in seed_sample_objects(emulator, stack, args.events_dir or default_events_dir(template)):
        print(uri)
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    """``local runs``: the same as ``runs --endpoint-url URL``."""
    args.stack = args.stack_name if args.stack_name != DEFAULT_STACK_NAME else None
    args.flow = args.execution_id = args.since = args.until = args.outcome = None
    return operations.cmd_runs(args)
