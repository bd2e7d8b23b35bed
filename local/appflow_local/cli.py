"""``appflow-ingest``: the demo, the operations verbs, and local mode against a running emulator.

    appflow-ingest demo [--keep]

    appflow-ingest runs | quarantine | dead-letters | redrive QUEUE | reingest | report --execution-id ID
        each with --stack NAME (a deployed stack) or --endpoint-url URL (the emulator); see docs/operating.md

    appflow-ingest config check    FILE...
    appflow-ingest config render   FILE --env ENV [--samconfig samconfig.toml] [--check]
    appflow-ingest config push     FILE --stack-name NAME [--endpoint-url URL]
    appflow-ingest local provision --endpoint-url URL [--config FILE] [--parameter-overrides K=V ...]
    appflow-ingest local replay    --endpoint-url URL --flow NAME [--execution-id ID] FILE...
    appflow-ingest local dump      --endpoint-url URL
    appflow-ingest local events    --endpoint-url URL
    appflow-ingest local invoke    FUNCTION --event FILE [--endpoint-url URL]
    appflow-ingest local send      --endpoint-url URL --event FILE [--no-drain]
    appflow-ingest local seed      --endpoint-url URL [--events-dir DIR]
    appflow-ingest local runs      --endpoint-url URL   (the same as `runs --endpoint-url URL`)
    appflow-ingest local drain     --endpoint-url URL
    appflow-ingest snapshot        --object Account [--to-bus BUS | --to-s3 URI] (--endpoint-url URL | --stack NAME)
    appflow-ingest replay-events   --since 6h [--until T] [--detail-type T] --to RULE (--endpoint-url URL | --stack NAME)

Output meant for programs (JSON summaries, records, events) goes to stdout; progress and the
functions' logs go to stderr. A mistake (a flag, a file, an endpoint) is one line on stderr and exit
status 2; set APPFLOW_INGEST_DEBUG=1 to see the traceback of an unexpected error.
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

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

from appflow_ingest.settings import ConfigurationError
from appflow_local.configuration import (
    ConfigurationFileError,
    config_parameter_path,
    load_configuration,
    push,
    render_samconfig,
)
from appflow_local.consumer_cli import add_consumer_commands
from appflow_local.emulator import Emulator, embedded_emulator
from appflow_local.handler_output import route_library_logs
from appflow_local.operations import commands as operations
from appflow_local.operations.errors import OperationFailed, UserError
from appflow_local.operations.target import check_endpoint_url, check_reachable
from appflow_local.progress import ProgressLine
from appflow_local.provision import provision, sam_env_vars
from appflow_local.readback import published_events, stored_records
from appflow_local.replay import replay_run
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
    parser.add_argument(
        "--stack-name", "--stack", dest="stack_name", default=DEFAULT_STACK_NAME, help="default: %(default)s"
    )
    parser.add_argument(
        "--region",
        default=None,
        help=f"default: the region the stack was provisioned in ({DEFAULT_REGION} for a new one)",
    )
    parser.add_argument(
        "--template", type=Path, default=None, help="template.yaml (default: the one the stack was provisioned from)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="appflow-ingest", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", help="run a generated AppFlow run through the whole pipeline, embedded")
    demo.add_argument("--accounts", type=int, default=600, help="Accounts to generate (default: %(default)s)")
    demo.add_argument("--opportunities", type=int, default=900, help="Opportunities to generate (default: %(default)s)")
    demo.add_argument("--seed", type=int, default=7, help="random seed of the generated run (default: %(default)s)")
    demo.add_argument("--chunk-size", type=int, default=64 * 1024, help="ChunkSizeBytes (default: %(default)s)")
    demo.add_argument("--template", type=Path, default=None, help="template.yaml (default: the repository's)")
    demo.add_argument(
        "--keep",
        action="store_true",
        help="leave the emulator running afterwards (its endpoint is printed) to try the operations verbs; Ctrl-C stops it",
    )
    demo.add_argument("--port", type=int, default=0, help="the emulator's port (default: any free one)")
    demo.add_argument("--config", type=Path, default=None, help="the configuration file (default: config/demo.yaml)")

    config = commands.add_parser("config", help="check, render and push a configuration file").add_subparsers(
        dest="config_command", required=True
    )
    p = config.add_parser("check", help="check configuration files against the schema and each other")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="config/<env>.yaml files")
    p = config.add_parser("render", help="write the stack parameters it sets into samconfig.toml")
    p.add_argument("file", type=Path, metavar="FILE", help="a config/<env>.yaml file")
    p.add_argument("--env", required=True, help="the samconfig.toml environment, e.g. dev")
    p.add_argument(
        "--samconfig", type=Path, default=Path("samconfig.toml"), help="the file to render into (default: %(default)s)"
    )
    p.add_argument(
        "--check", action="store_true", help="only tell whether samconfig.toml is up to date (exit 1 if not)"
    )
    p = config.add_parser(
        "template",
        help="write template.yaml with the parameters the configuration sets as defaults (for sam validate --lint)",
    )
    p.add_argument("file", type=Path, metavar="FILE", help="a config/<env>.yaml file")
    p.add_argument("--stack-name", required=True, help="the stack the configuration is for")
    p.add_argument("--out", type=Path, required=True, help="where to write the template (JSON)")
    p.add_argument("--template", type=Path, default=None, help="template.yaml (default: the repository's)")
    p = config.add_parser("push", help="put the configuration in SSM Parameter Store for a deployed stack")
    p.add_argument("file", type=Path, metavar="FILE", help="a config/<env>.yaml file")
    p.add_argument("--stack-name", required=True, help="the deployed stack the configuration is for")
    p.add_argument("--endpoint-url", default=None, help="an emulator (default: AWS, with your credentials)")
    p.add_argument("--region", default=None, help="AWS region (default: your AWS configuration)")

    operations.add_commands(commands)

    add_consumer_commands(commands)  # snapshot, replay-events (the operations' stack flags)

    local = commands.add_parser("local", help="local mode against a running emulator").add_subparsers(
        dest="local_command", required=True
    )

    p = local.add_parser("provision", help="create the stack's resources from template.yaml")
    _common(p)
    p.add_argument(
        "--parameter-overrides",
        nargs="+",
        type=_parameter,
        default=[],
        metavar="NAME=VALUE",
        help='template parameters, e.g. FlowObjects=\'{"sf-accounts": {"object": "Account"}}\'',
    )
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        help="a configuration file (config/<env>.yaml): checked, then pushed to the stack",
    )
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
    p.add_argument(
        "--strict", action="store_true", help="exit 1 when any record was quarantined (default: only on failures)"
    )
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="the files AppFlow would land")

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
    p.add_argument("--config", type=Path, default=None, help="a configuration file, for the embedded emulator")

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
    """Run one command; a user mistake is one line on stderr and exit 2, never a traceback."""
    args = build_parser().parse_args(argv)  # usage errors: argparse prints the (sub)command's usage, exit 2
    route_library_logs()
    try:
        return _dispatch(args)
    except (UserError, StackNotProvisioned, TemplateError, ConfigurationError) as error:
        return _fail(str(error), 2)
    except ConfigurationFileError as error:
        # One line per mistake in the file (each names its line and field), then what to do.
        for line in error.lines():
            print(f"appflow-ingest: {line}", file=sys.stderr)
        return _fail("the configuration was not used; fix it (docs/configuration.md) and run again", 2)
    except NoCredentialsError:
        return _fail("no AWS credentials: configure them (aws configure, AWS_PROFILE) or use --endpoint-url", 2)
    except EndpointConnectionError as error:
        return _fail(
            f"cannot reach {error.kwargs.get('endpoint_url', 'the endpoint')}: is it running? check --endpoint-url", 2
        )
    except OperationFailed as error:
        return _fail(str(error), 1)
    except BrokenPipeError:
        # `... | head`: the reader is gone; say nothing more (and keep Python from complaining at exit).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except (ClientError, BotoCoreError) as error:
        if os.environ.get("APPFLOW_INGEST_DEBUG"):
            raise
        return _fail(f"AWS refused: {error}", 1)


def _fail(message: str, code: int) -> int:
    print(f"appflow-ingest: {message}", file=sys.stderr)
    return code


def _dispatch(args: argparse.Namespace) -> int:
    if getattr(args, "handler", None) is not None:  # an operations verb
        return int(args.handler(args))
    if args.command == "demo":
        from appflow_local.demo import run_demo

        return run_demo(
            accounts=args.accounts,
            opportunities=args.opportunities,
            seed=args.seed,
            chunk_size=args.chunk_size,
            template_path=args.template,
            config_path=args.config,
            keep=args.keep,
            port=args.port,
        )
    if args.command == "config":
        return {
            "check": cmd_config_check,
            "render": cmd_config_render,
            "push": cmd_config_push,
            "template": cmd_config_template,
        }[args.config_command](args)
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
    if getattr(args, "endpoint_url", None):
        args.endpoint_url = check_endpoint_url(args.endpoint_url)
        check_reachable(args.endpoint_url)
    return handler(args)


# ------------------------------------------------------------------------------------------ commands
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


def provision_with_config(
    template: Template,
    emulator: Emulator,
    stack_name: str,
    config_path: Path | None,
    overrides: dict[str, str] | None = None,
) -> StackDescription:
    """Provision the stack; with a configuration file, check it first, set the parameters it renders
    (explicit overrides win) and push it where the functions read it, as `config push` does on AWS."""
    if config_path is None:
        return provision(template, emulator, stack_name=stack_name, parameter_overrides=overrides)
    from appflow_local.configuration import stack_parameters

    config = load_configuration(config_path)  # refused before anything is created
    parameters = {**stack_parameters(config, stack_name), **(overrides or {})}
    stack = provision(template, emulator, stack_name=stack_name, parameter_overrides=parameters)
    pushed = push(config, emulator.ssm, parameters["ConfigParameterPath"])
    print(f"pushed {config_path} to {parameters['ConfigParameterPath']}: {json.dumps(pushed)}", file=sys.stderr)
    return stack


def cmd_config_check(args: argparse.Namespace) -> int:
    for path in args.files:
        config = load_configuration(path)
        print(f"{path}: ok ({len(config.flows)} flow(s), {len(config.document['objects'])} object(s))")
    return 0


def cmd_config_render(args: argparse.Namespace) -> int:
    import tomllib

    config = load_configuration(args.file)
    if not args.samconfig.is_file():
        print(f"appflow-ingest: {args.samconfig} not found: pass --samconfig", file=sys.stderr)
        return 2
    text = args.samconfig.read_text()
    deploy = tomllib.loads(text).get(args.env, {}).get("deploy", {}).get("parameters", {})
    if "stack_name" not in deploy:
        print(f"appflow-ingest: {args.samconfig} has no [{args.env}.deploy.parameters] stack_name", file=sys.stderr)
        return 2
    rendered = render_samconfig(text, args.env, config, deploy["stack_name"])
    if args.check:
        if rendered != text:
            print(
                f"appflow-ingest: {args.samconfig} [{args.env}] is not what {args.file} renders: run "
                f"`appflow-ingest config render {args.file} --env {args.env}`",
                file=sys.stderr,
            )
            return 1
        print(f"{args.samconfig} [{args.env}]: up to date with {args.file}")
        return 0
    args.samconfig.write_text(rendered)
    print(f"{args.samconfig} [{args.env}]: parameters rendered from {args.file}")
    return 0


def cmd_config_template(args: argparse.Namespace) -> int:
    """The template as the environment deploys it: cfn-lint sees its flows (a parameter's value is
    invisible to it, a default is not), the Fn::ForEach loops left to cfn-lint to expand."""
    from appflow_local.configuration import stack_parameters

    config = load_configuration(args.file)
    template = Template.load(args.template or default_template_path())
    document = json.loads(json.dumps(template.source))
    for name, value in stack_parameters(config, args.stack_name).items():
        document["Parameters"][name]["Default"] = value
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=1) + "\n")
    print(f"wrote {args.out}: {template.path.name} with {args.file}'s parameters as defaults")
    return 0


def cmd_config_push(args: argparse.Namespace) -> int:
    import boto3

    config = load_configuration(args.file)
    ssm = boto3.client("ssm", endpoint_url=args.endpoint_url, region_name=args.region)
    path = config_parameter_path(args.stack_name)
    print(json.dumps({"path": path, **push(config, ssm, path)}))
    return 0


def check_parameters(template: Template, overrides: dict[str, str]) -> None:
    """The parameter values as CloudFormation would check them, and FlowObjects as the functions will read it."""
    values = template.parameter_values(overrides)
    if "FlowObjects" in values:
        check_flow_objects(values["FlowObjects"])


def check_flow_objects(raw: str) -> None:
    """FlowObjects as every function parses it: JSON, an object per flow, known rule sets and formats."""
    from appflow_ingest.domain.formats import KNOWN_FORMATS
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
    known = sorted(KNOWN_FORMATS | {"ndjson"})
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
    from appflow_local.samples import NotAnEnvelope, put_envelope

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
    from appflow_local.samples import default_events_dir, seed_sample_objects

    emulator, stack, template = _stack(args)
    for uri in seed_sample_objects(emulator, stack, args.events_dir or default_events_dir(template)):
        print(uri)
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    """``local runs``: the same as ``runs --endpoint-url URL``."""
    args.stack = args.stack_name if args.stack_name != DEFAULT_STACK_NAME else None
    args.flow = args.execution_id = args.since = args.until = args.outcome = None
    return operations.cmd_runs(args)


if __name__ == "__main__":
    sys.exit(main())
