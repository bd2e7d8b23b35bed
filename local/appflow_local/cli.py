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
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

from appflow_ingest.settings import ConfigurationError
from appflow_local import config_commands, local_commands
from appflow_local.clients import DEFAULT_REGION
from appflow_local.configuration import ConfigurationFileError
from appflow_local.consumers.commands import add_consumer_commands
from appflow_local.emulator.handler_output import route_library_logs
from appflow_local.operations import commands as operations
from appflow_local.operations.errors import OperationFailed, UserError
from appflow_local.operations.target import check_endpoint_url, check_reachable
from appflow_local.stack.description import StackNotProvisioned
from appflow_local.stack.template import DEFAULT_STACK_NAME, TemplateError


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
        from appflow_local.runs.demo import run_demo

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
            "check": config_commands.cmd_config_check,
            "render": config_commands.cmd_config_render,
            "push": config_commands.cmd_config_push,
            "template": config_commands.cmd_config_template,
        }[args.config_command](args)
    handler = {
        "provision": local_commands.cmd_provision,
        "replay": local_commands.cmd_replay,
        "drain": local_commands.cmd_drain,
        "dump": local_commands.cmd_dump,
        "events": local_commands.cmd_events,
        "invoke": local_commands.cmd_invoke,
        "send": local_commands.cmd_send,
        "seed": local_commands.cmd_seed,
        "runs": local_commands.cmd_runs,
    }[args.local_command]
    if getattr(args, "endpoint_url", None):
        args.endpoint_url = check_endpoint_url(args.endpoint_url)
        check_reachable(args.endpoint_url)
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
