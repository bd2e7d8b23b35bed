"""Shared fixtures: one moto server per test session, reached over HTTP like real AWS.

Tests isolate themselves by name (a unique stack name or resource suffix each), not by server,
so the whole suite pays for one server start.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator

import pytest

from appflow_local.emulator.server import embedded_emulator

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
