"""Unzipped size of every function and layer that `sam build` produced, against Lambda's limit.

Lambda limits a function's deployment package *together with all its layers* to 250 MB unzipped
(262,144,000 bytes = 250 MiB) and a function to 5 layers. This reads the built template
(.aws-sam/build/template.yaml), resolves each function's layers the way SAM does (Globals' list
entries first, then the function's own), measures each built directory as the zip SAM uploads would
hold it (regular files, symlinks followed), prints a table, and exits 1 if any function is over.

    python bench/package_sizes.py [--build-dir .aws-sam/build] [--limit 262144000] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from appflow_local.stack.template import load_yaml

LAMBDA_UNZIPPED_LIMIT = 262_144_000  # bytes: function + all its layers, unzipped
LAMBDA_MAX_LAYERS = 5
MIB = 1024 * 1024

FUNCTION_TYPES = {"AWS::Serverless::Function"}
LAYER_TYPES = {"AWS::Serverless::LayerVersion"}


def directory_size(path: Path) -> tuple[int, int]:
    """(bytes, files) of the regular files under path, following symlinks as SAM's zipping does."""
    total = files = 0
    for root, _dirs, names in os.walk(path, followlinks=True):
        for name in names:
            full = os.path.join(root, name)
            try:
                st = os.stat(full)
            except OSError:  # a dangling symlink: nothing to zip
                continue
            total += st.st_size
            files += 1
    return total, files


@dataclass
class Artifact:
    logical_id: str
    kind: str  # "function" or "layer"
    path: Path | None
    size: int = 0
    files: int = 0
    layers: list[str] = field(default_factory=list)  # functions only: logical ids, in order
    external_layers: list[str] = field(default_factory=list)  # layer ARNs not built here
    size_with_layers: int = 0  # functions only


def _layer_refs(value: object) -> tuple[list[str], list[str]]:
    """Split a Layers list into (logical ids built here, anything else such as ARNs)."""
    ids: list[str] = []
    other: list[str] = []
    for item in value or []:
        if isinstance(item, dict) and set(item) == {"Ref"} and isinstance(item["Ref"], str):
            ids.append(item["Ref"])
        else:
            other.append(json.dumps(item) if not isinstance(item, str) else item)
    return ids, other


def load_artifacts(build_dir: Path) -> tuple[dict[str, Artifact], dict[str, Artifact]]:
    template_path = build_dir / "template.yaml"
    template = load_yaml(template_path)
    resources = template.get("Resources") or {}
    global_layers = ((template.get("Globals") or {}).get("Function") or {}).get("Layers") or []

    layers: dict[str, Artifact] = {}
    functions: dict[str, Artifact] = {}
    for logical_id, resource in resources.items():
        if logical_id.startswith("Fn::ForEach::"):
            continue  # AWS::LanguageExtensions loops (sam build keeps them): AppFlow flows, no code to measure
        rtype = resource.get("Type")
        props = resource.get("Properties") or {}
        if rtype in LAYER_TYPES:
            uri = props.get("ContentUri")
            path = build_dir / uri if isinstance(uri, str) and not uri.startswith("s3://") else None
            layers[logical_id] = Artifact(logical_id, "layer", path)
        elif rtype in FUNCTION_TYPES:
            if props.get("PackageType") == "Image":
                continue  # image functions have a 10 GB limit of their own; nothing to measure here
            uri = props.get("CodeUri")
            path = build_dir / uri if isinstance(uri, str) and not uri.startswith("s3://") else None
            # SAM merges list-valued Globals by putting the global entries first.
            ids, other = _layer_refs(list(global_layers) + list(props.get("Layers") or []))
            functions[logical_id] = Artifact(logical_id, "function", path, layers=ids, external_layers=other)

    for artifact in (*layers.values(), *functions.values()):
        if artifact.path is not None and artifact.path.is_dir():
            artifact.size, artifact.files = directory_size(artifact.path)
        else:
            artifact.path = None
    return functions, layers


def _mib(n: int) -> str:
    return f"{n / MIB:,.1f}"


def render(functions: dict[str, Artifact], layers: dict[str, Artifact], limit: int) -> tuple[str, bool]:
    lines: list[str] = []
    ok = True

    lines.append("Built artifacts (unzipped, from .aws-sam/build)")
    header = f"  {'artifact':<22} {'kind':<9} {'files':>7} {'bytes':>13} {'MiB':>8}"
    lines += [header, "  " + "-" * (len(header) - 2)]
    for a in (*sorted(functions.values(), key=lambda a: a.logical_id), *layers.values()):
        where = "" if a.path is not None else "  (not built here: not measured)"
        lines.append(f"  {a.logical_id:<22} {a.kind:<9} {a.files:>7,} {a.size:>13,} {_mib(a.size):>8}{where}")

    lines.append("")
    lines.append(f"Function + its layers against Lambda's limit of {limit:,} bytes ({_mib(limit)} MiB) unzipped")
    header = f"  {'function':<18} {'layers':<26} {'total bytes':>13} {'MiB':>7} {'of limit':>8} {'headroom MiB':>12}  verdict"
    lines += [header, "  " + "-" * (len(header) - 2)]
    for f in sorted(functions.values(), key=lambda a: a.logical_id):
        problems = []
        total = f.size
        for layer_id in f.layers:
            layer = layers.get(layer_id)
            if layer is None or layer.path is None:
                problems.append(f"layer {layer_id} not built here")
            else:
                total += layer.size
        if f.path is None:
            problems.append("function not built here")
        if f.external_layers:
            problems.append(f"{len(f.external_layers)} external layer(s) not measured")
        n_layers = len(f.layers) + len(f.external_layers)
        verdict = "ok"
        if total > limit:
            verdict, ok = "OVER LIMIT", False
        if n_layers > LAMBDA_MAX_LAYERS:
            verdict, ok = f"TOO MANY LAYERS ({n_layers} > {LAMBDA_MAX_LAYERS})", False
        if problems and verdict == "ok":
            verdict = "ok?"
        names = "+".join(f.layers) or "-"
        lines.append(
            f"  {f.logical_id:<18} {names:<26} {total:>13,} {_mib(total):>7} {total / limit:>8.1%}"
            f" {_mib(limit - total):>12}  {verdict}"
        )
        for problem in problems:
            lines.append(f"    note: {problem}")
        f.size_with_layers = total
    return "\n".join(lines), ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--build-dir", type=Path, default=Path(".aws-sam/build"))
    parser.add_argument("--limit", type=int, default=LAMBDA_UNZIPPED_LIMIT, help="bytes (default: %(default)s)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)

    if not (args.build_dir / "template.yaml").is_file():
        print(f"{args.build_dir}/template.yaml not found: run `make sam-build` first", file=sys.stderr)
        return 2
    functions, layers = load_artifacts(args.build_dir)
    if not functions:
        print(f"no zip-packaged functions in {args.build_dir}/template.yaml", file=sys.stderr)
        return 2

    table, ok = render(functions, layers, args.limit)
    print(table)
    if args.json:
        report = {
            "limit_bytes": args.limit,
            "layers": {a.logical_id: {"bytes": a.size, "files": a.files} for a in layers.values()},
            "functions": {
                f.logical_id: {
                    "bytes": f.size,
                    "files": f.files,
                    "layers": f.layers,
                    "external_layers": f.external_layers,
                    "bytes_with_layers": f.size_with_layers,
                }
                for f in functions.values()
            },
            "ok": ok,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if not ok:
        print("\nFAIL: a function is over Lambda's unzipped size limit (or layer count).", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
