"""Fixtures for the end-to-end tests: the whole stack provisioned from template.yaml into the emulator
and driven through the CLI or ``LocalRuntime`` (the template's own wiring).

The session-wide moto server and the unique stack names come from tests/conftest.py.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from itertools import groupby
from pathlib import Path
from typing import Any

import pytest

from appflow_local.stack.template import Template

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"


def _template_with_handlers(directory: Path, handlers: Mapping[str, str]) -> Path:
    """A copy of template.yaml in ``directory`` whose named functions run the given handler source.

    ``handlers`` maps a function's logical id to the source of its ``app.py``; every other
    function keeps the repository's code. For failure-path tests: the wiring under test is the
    template's, only the handler is swapped.
    """
    template = Template.load(TEMPLATE)
    code_dirs = {spec.code_dir: spec.logical_id for spec in template.functions()}
    for logical_id, source in handlers.items():
        (directory / logical_id).mkdir(parents=True, exist_ok=True)
        (directory / logical_id / "app.py").write_text(source)

    def relocate(match: re.Match[str]) -> str:
        target = (REPO / match.group(2)).resolve()
        logical_id = code_dirs.get(target)
        location = directory / logical_id if logical_id in handlers else target
        return f"{match.group(1)}{location}/"

    text = re.sub(r"^(\s*(?:CodeUri|ContentUri):\s*)(\S+?)/?\s*$", relocate, TEMPLATE.read_text(), flags=re.M)
    path = directory / "template.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def template_with_handlers(tmp_path: Path) -> Callable[[Mapping[str, str]], Path]:
    """Factory: ``template_with_handlers({"IngestFunction": source})`` -> path of the modified template."""
    return lambda handlers: _template_with_handlers(tmp_path, handlers)


@pytest.fixture(scope="session")
def sample_stack(moto_endpoint, tmp_path_factory) -> dict[str, str]:
    """One stack for the session whose pipeline ran a generated AppFlow run: ``{"name", "endpoint"}``.

    Shared (a run costs tens of seconds): tests may add rules, consumers and records, but must
    not assume they are alone on its bus or that its tables hold only the generated run.
    """
    name = f"sample{uuid.uuid4().hex[:8]}"
    run_sample_pipeline(
        moto_endpoint, name, tmp_path_factory.mktemp("sample-run"), accounts=10, opportunities=12, seed=3
    )
    return {"name": name, "endpoint": moto_endpoint}


def run_sample_pipeline(
    endpoint: str, stack_name: str, directory: Path, *, accounts: int, opportunities: int, seed: int
):
    """Provision a stack (wallet on) and replay a generated AppFlow run through it, run by run.

    Returns the newest-wins model's expected outcome; the stack then holds records (several
    versions, a tombstone), passes, and the events its pipeline published.
    """
    from appflow_local.cli import main
    from appflow_local.sample_run.generator import generate_run
    from appflow_local.sample_run.oracle import expected_outcome

    run = generate_run(accounts=accounts, opportunities=opportunities, seed=seed)
    overrides = [f"FlowObjects={json.dumps(run.flow_objects)}", "WalletConfig={}", "ChunkSizeBytes=4096"]
    provision = ["local", "provision", "--endpoint-url", endpoint, "--stack-name", stack_name]
    assert main([*provision, "--template", str(TEMPLATE), "--parameter-overrides", *overrides]) == 0
    landed = []
    # One `local replay` per run (consecutive files of one flow and execution id), in landing order.
    for group, ((flow, execution), files) in enumerate(groupby(run.files, key=_flow_and_execution)):
        paths = []
        for landed_file in files:
            path = directory / f"{group:03d}" / landed_file.key.rsplit("/", 1)[-1]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(landed_file.body)
            paths.append(str(path))
            landed.append(landed_file)
        replay = ["local", "replay", "--endpoint-url", endpoint, "--stack-name", stack_name]
        assert main([*replay, "--flow", flow, "--execution-id", execution, *paths]) == 0
    return expected_outcome(landed, run.flow_objects, run.rule_breaking)


def _flow_and_execution(landed_file: Any) -> tuple[str, str]:
    # The execution id is the one folder of the key shaped like a UUID (date folders may precede it).
    return landed_file.flow, next(p for p in landed_file.key.split("/") if len(p) == 36 and p.count("-") == 4)
