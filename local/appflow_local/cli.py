"""``appflow-ingest``: the demo, and local mode against a running emulator.

    appflow-ingest demo
    appflow-ingest local provision --endpoint-url URL [--parameter-overrides K=V ...]
    appflow-ingest local replay    --endpoint-url URL --flow NAME [--execution-id ID] FILE...
    appflow-ingest local dump      --endpoint-url URL
    appflow-ingest local events    --endpoint-url URL
    appflow-ingest local invoke    FUNCTION --event FILE [--endpoint-url URL]
    appflow-ingest local send      --endpoint-url URL --event FILE [--no-drain]
    appflow-ingest local seed      --endpoint-url URL [--events-dir DIR]
    appflow-ingest local runs      --endpoint-url URL
    appflow-ingest local drain     --endpoint-url URL
    appflow-ingest snapshot        --object Account [--to-bus BUS | --to-s3 URI] (--endpoint-url URL | --stack NAME)
    appflow-ingest replay-events   --since 6h [--until T] [--detail-type T] --to RULE (--endpoint-url URL | --stack NAME)

Output meant for programs (JSON summaries, records, events) goes to stdout; progress and the
functions' logs go to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from appflow_local.consumer_cli import CONSUMER_COMMANDS, add_consumer_commands, run_consumer_command
from appflow_local.emulator import Emulator, embedded_emulator
from appflow_local.progress import ProgressLine
from appflow_local.provision import provision, sam_env_vars
from appflow_local.readback import published_events, stored_records
from appflow_local.runtime import LocalRuntime, RunSummary
from appflow_local.stack import StackDescription, StackNotProvisioned, landing_bucket, load_stack
from appflow_local.template import DEFAULT_REGION, DEFAULT_STACK_NAME, Template, TemplateError, default_template_path


def _parameter(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected Name=Value, got {text!r}")
    return name, value


def _common(parser: argparse.ArgumentParser, *, endpoint_required: bool = True) -> None:
    env_endpoint = os.environ.get("APPFLOW_LOCAL_ENDPOINT_URL")
    parser.add_argument(
        "--endpoint-url",
        default=env_endpoint,
        required=endpoint_required and not env_endpoint,
        help="the emulator, e.g. http://127.0.0.1:5000 (default: $APPFLOW_LOCAL_ENDPOINT_URL)",
    )
    parser.add_argument("--stack-name", default=DEFAULT_STACK_NAME, help="default: %(default)s")
    parser.add_argument("--region", default=DEFAULT_REGION, help="default: %(default)s")
    parser.add_argument(
        "--template", type=Path, default=None, help="template.yaml (default: the one the stack was provisioned from)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="appflow-ingest", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run a generated AppFlow run through the whole pipeline, embedded")
    demo.add_argument("--accounts", type=int, default=600)
    demo.add_argument("--opportunities", type=int, default=900)
    demo.add_argument("--seed", type=int, default=7)
    demo.add_argument("--chunk-size", type=int, default=64 * 1024, help="ChunkSizeBytes (default: %(default)s)")
    demo.add_argument("--template", type=Path, default=None)

    add_consumer_commands(commands)  # snapshot, replay-events

    local = commands.add_parser("local", help="local mode against a running emulator").add_subparsers(
        dest="local_command", required=True
    )

    p = local.add_parser("provision", help="create the stack's resources from template.yaml")
    _common(p)
    p.add_argument("--parameter-overrides", nargs="+", type=_parameter, default=[], metavar="NAME=VALUE")
    p.add_argument("--env-vars-file", type=Path, help="also write a `sam local invoke --env-vars` file here")
    p.add_argument(
        "--container-endpoint-url",
        help="the emulator as a Lambda container sees it (default: --endpoint-url with host.docker.internal as host)",
    )

    p = local.add_parser("replay", help="land files as one AppFlow run and drive the pipeline until drained")
    _common(p)
    p.add_argument("--flow", required=True, help="the AppFlow flow name (first folder of the key)")
    p.add_argument("--execution-id", default=None, help="default: a new UUID, like a new flow run")
    p.add_argument("--prefix", default="", help="the flow's bucket prefix, if it has one")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")

    p = local.add_parser("drain", help="drive the functions until every queue and stream is drained")
    _common(p)

    p = local.add_parser("dump", help="the stored records, one JSON object per line")
    _common(p)
    p.add_argument("--table", default=None, help="logical id of the table (default: EntityTable)")

    p = local.add_parser("events", help="the downstream events published so far, one JSON object per line")
    _common(p)

    p = local.add_parser("invoke", help="invoke one function once with an event file, like `sam local invoke`")
    _common(p, endpoint_required=False)
    p.add_argument("function", help="logical id (PlanFunction) or short name (plan)")
    p.add_argument("--event", required=True, type=Path, help="the event JSON ('-' for stdin)")
    p.add_argument(
        "--parameter-overrides",
        nargs="+",
        type=_parameter,
        default=[],
        metavar="NAME=VALUE",
        help="for the embedded emulator used without --endpoint-url",
    )

    p = local.add_parser("send", help="put an EventBridge event (as in events/) on its bus, then drain")
    _common(p)
    p.add_argument("--event", required=True, type=Path, help="the event JSON ('-' for stdin)")
    p.add_argument("--no-drain", action="store_true", help="only put the event on the bus")

    p = local.add_parser("seed", help="put the objects the sample events refer to in the stack's buckets")
    _common(p)
    p.add_argument("--events-dir", type=Path, default=None, help="default: events/ next to the template")

    p = local.add_parser("runs", help="the run ledger: one JSON object per AppFlow execution id")
    _common(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command in CONSUMER_COMMANDS:
        return run_consumer_command(args)
    try:
        if args.command == "demo":
            from appflow_local.demo import run_demo

            return run_demo(
                accounts=args.accounts,
                opportunities=args.opportunities,
                seed=args.seed,
                chunk_size=args.chunk_size,
                template_path=args.template,
            )
        handler = {
            "provision": cmd_provision,
            "replay": cmd_replay,
            "drain": cmd_drain,
            "dump": cmd_dump,
            "events": cmd_events,
            "invoke": cmd_invoke,
            "send": cmd_send,
            "seed": cmd_seed,
            "runs": cmd_runs,
        }[args.local_command]
        return handler(args)
    except (StackNotProvisioned, TemplateError) as error:
        print(f"appflow-ingest: {error}", file=sys.stderr)
        return 2


# ------------------------------------------------------------------------------------------ commands
def _emulator(args: argparse.Namespace) -> Emulator:
    return Emulator(args.endpoint_url, args.region)


def _stack(args: argparse.Namespace) -> tuple[Emulator, StackDescription, Template]:
    emulator = _emulator(args)
    stack = load_stack(emulator, args.stack_name)
    return emulator, stack, stack.load_template(args.template)


def cmd_provision(args: argparse.Namespace) -> int:
    emulator = _emulator(args)
    template = Template.load(args.template or default_template_path())
    stack = provision(
        template, emulator, stack_name=args.stack_name, parameter_overrides=dict(args.parameter_overrides)
    )
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


def land_run(
    emulator: Emulator,
    stack: StackDescription,
    template: Template,
    flow: str,
    execution_id: str,
    files: Sequence[Path],
    prefix: str = "",
) -> list[str]:
    """Put the files in the landing bucket as one AppFlow run: ``[<prefix>/]<flow>/<execution-id>/<name>``."""
    bucket = landing_bucket(stack, template)
    base = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    keys = []
    for path in files:
        key = f"{base}{flow}/{execution_id}/{path.name}"
        emulator.s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())
        keys.append(key)
    return keys


def cmd_replay(args: argparse.Namespace) -> int:
    emulator, stack, template = _stack(args)
    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        print(f"appflow-ingest: no such file(s): {', '.join(missing)}", file=sys.stderr)
        return 2
    runtime = LocalRuntime(emulator, stack, template)
    execution_id = args.execution_id or str(uuid.uuid4())
    keys = land_run(emulator, stack, template, args.flow, execution_id, args.files, args.prefix)
    print(f"landed {len(keys)} file(s) under {args.flow}/{execution_id}/", file=sys.stderr)
    return _report(_run(runtime))


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
        emulator = Emulator(endpoint_url, args.region)
        template = Template.load(args.template or default_template_path())
        stack = provision(
            template, emulator, stack_name=args.stack_name, parameter_overrides=dict(args.parameter_overrides)
        )
        yield emulator, stack, template


def cmd_invoke(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if str(args.event) == "-" else args.event.read_text()
    event: Any = json.loads(text)
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


def _read_event(path: Path) -> Any:
    return json.loads(sys.stdin.read() if str(path) == "-" else path.read_text())


def cmd_send(args: argparse.Namespace) -> int:
    from appflow_local.samples import put_envelope

    emulator, stack, template = _stack(args)
    bus = put_envelope(emulator, stack, template, _read_event(args.event))
    print(f"put on bus {bus}", file=sys.stderr)
    if args.no_drain:
        return 0
    return _report(_run(LocalRuntime(emulator, stack, template)))


def cmd_seed(args: argparse.Namespace) -> int:
    from appflow_local.samples import default_events_dir, seed_sample_objects

    emulator, stack, template = _stack(args)
    for uri in seed_sample_objects(emulator, stack, args.events_dir or default_events_dir(template)):
        print(uri)
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from appflow_local.readback import run_ledger

    emulator, stack, _ = _stack(args)
    for run in run_ledger(emulator, stack):
        print(json.dumps(run, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
