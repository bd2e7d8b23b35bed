"""The ``appflow-ingest config`` verbs: check, render, template and push a configuration file
(config/<env>.yaml; the file itself is :mod:`appflow_local.configuration`'s)."""

from __future__ import annotations

import argparse
import json
import sys

from appflow_local.configuration import config_parameter_path, load_configuration, push, render_samconfig
from appflow_local.stack.template import Template, default_template_path


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
