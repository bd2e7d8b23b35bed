"""Shared fixtures: one moto server per test session, reached over HTTP like real AWS.

Tests isolate themselves by name (a unique stack name or resource suffix each), not by server,
so the whole suite pays for one server start.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from appflow_local.emulator import embedded_emulator
from appflow_local.template import Template

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "template.yaml"

# werkzeug (under moto's server) otherwise installs a stderr handler on first request, bound to
# whichever capture stream pytest had then: request lines drown the output and later fail on a
# closed stream. Whichever fixture starts a server, keep werkzeug quiet.
logging.getLogger("werkzeug").setLevel(logging.ERROR)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's ThreadedMotoServer on 127.0.0.1 and a free port, for the whole session."""
    # Clients the tests create themselves need a region and (dummy) credentials.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "AppFlowIngestTests")
    with embedded_emulator() as endpoint_url:
        yield endpoint_url


@pytest.fixture
def stack_name() -> str:
    """A stack name no other test uses (resource names derive from it)."""
    return f"t{uuid.uuid4().hex[:10]}"


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


@pytest.fixture(autouse=True)
def _no_metrics_left_behind() -> Iterator[None]:
    """Services driven in-process add metrics that no handler flushes; without this, the next
    local-mode invocation flushes them as its own and a later test's counts come out inflated
    (test_local_replay read 192 records for 105 when run after test_core_pipeline)."""
    yield
    from appflow_ingest.observability import logger, metrics

    metrics.clear_metrics()
    # Keys a service appended (correlate) outlive the test in this worker's process, as they would
    # in a warm Lambda without the handler's clear_state: a later test would see them.
    logger.clear_state()
