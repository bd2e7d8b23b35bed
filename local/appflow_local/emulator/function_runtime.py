"""Run one template function in-process the way Lambda runs it: environment, fresh import, context.

Lambda imports a function's module once per execution environment with the function's
environment variables already set, then calls the handler with an event and a context. The
handlers here read their configuration and create their AWS clients at import time, so this
module sets the resolved template environment (plus the emulator endpoint and dummy credentials)
before importing, and imports under a unique module name so two stacks or two emulators in one
process never share module state.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
import traceback
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, TextIO

from appflow_local.clients import DUMMY_CREDENTIALS
from appflow_local.emulator.handler_output import HandlerOutput, capture
from appflow_local.stack.template import ACCOUNT_ID, FunctionSpec


class FunctionLoadError(RuntimeError):
    """The function's module could not be imported (Lambda reports this as Runtime.ImportModuleError)."""


@dataclass
class LambdaContext:
    """The attributes of Lambda's Python context object that handlers and Powertools use."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline: float
    function_version: str = "$LATEST"
    identity: Any = None
    client_context: Any = None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@dataclass
class Invocation:
    """The outcome of one invocation: the handler's return value or its error, and its metrics."""

    function: str
    request_id: str
    result: Any = None
    error: str | None = None
    error_type: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    duration_seconds: float = 0.0
    timed_out: bool = False

    @property
    def failed(self) -> bool:
        return self.error is not None


def lambda_environment(function: FunctionSpec, function_name: str, region: str, endpoint_url: str) -> dict[str, str]:
    """The variables Lambda itself sets, plus what points the handler at the emulator."""
    return {
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIALS["aws_secret_access_key"],
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(function.timeout_seconds),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
        "AWS_ENDPOINT_OVERRIDE": endpoint_url,
        # boto3 honours this for every client, a second guard against reaching real AWS.
        "AWS_ENDPOINT_URL": endpoint_url,
        "POWERTOOLS_TRACE_DISABLED": "true",
    }


@contextmanager
def patched_environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set ``values`` in os.environ for the duration, restoring what was there before."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class LocalFunction:
    """One function of the template, loaded lazily (a cold start) and invoked in-process."""

    def __init__(
        self,
        spec: FunctionSpec,
        *,
        function_name: str,
        environment: Mapping[str, str],
        region: str,
        endpoint_url: str,
        log_sink: TextIO | None = None,
    ) -> None:
        self.spec = spec
        self.function_name = function_name
        self.region = region
        self.environment = {**environment, **lambda_environment(spec, function_name, region, endpoint_url)}
        self.output = HandlerOutput(log_sink or sys.stderr)
        self._handler: Any = None
        self._module: ModuleType | None = None

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{self.function_name}"

    def invoke(self, event: Any) -> Invocation:
        """Call the handler with ``event``; an exception becomes ``Invocation.error``, as Lambda reports it."""
        request_id = str(uuid.uuid4())
        invocation = Invocation(function=self.spec.logical_id, request_id=request_id)
        before = self.output.metrics.copy()
        started = time.monotonic()
        with patched_environ(self.environment), capture(self.output):
            try:
                handler = self._load()
                invocation.result = handler(event, self._context(request_id, started))
            except Exception as error:  # noqa: BLE001 - any handler error is the invocation's outcome
                invocation.error = f"{type(error).__name__}: {error}"
                invocation.error_type = type(error).__name__
                self.output.sink.write(
                    f"[{self.spec.logical_id}] invocation {request_id} failed:\n{traceback.format_exc()}"
                )
        invocation.duration_seconds = time.monotonic() - started
        # Locally the emulator sets the pace, so an overrun is reported rather than enforced.
        invocation.timed_out = invocation.duration_seconds > self.spec.timeout_seconds
        invocation.metrics = dict(self.output.metrics - before)
        return invocation

    def _context(self, request_id: str, started: float) -> LambdaContext:
        return LambdaContext(
            function_name=self.function_name,
            memory_limit_in_mb=self.spec.memory_mb,
            invoked_function_arn=self.arn,
            aws_request_id=request_id,
            log_group_name=f"/aws/lambda/{self.function_name}",
            log_stream_name=f"local/[$LATEST]{request_id.replace('-', '')}",
            deadline=started + self.spec.timeout_seconds,
        )

    def _load(self) -> Any:
        """Import the handler module once (a cold start); a failed import is retried next invocation."""
        if self._handler is not None:
            return self._handler
        path = self.spec.module_path
        if not path.is_file():
            raise FunctionLoadError(
                f"{self.spec.logical_id}: handler module {path} does not exist "
                f"(CodeUri + Handler {self.spec.handler!r} in the template)"
            )
        module_name = f"appflow_local_fn_{self.spec.logical_id}_{uuid.uuid4().hex[:12]}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise FunctionLoadError(f"{self.spec.logical_id}: cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        # Lambda puts the code folder first on the path, for modules next to the handler.
        sys.path.insert(0, str(self.spec.code_dir))
        try:
            spec.loader.exec_module(module)
        except Exception:
            sys.modules.pop(module_name, None)
            raise
        finally:
            sys.path.remove(str(self.spec.code_dir))
        handler = getattr(module, self.spec.handler_name, None)
        if not callable(handler):
            raise FunctionLoadError(f"{self.spec.logical_id}: {path} has no callable {self.spec.handler_name!r}")
        self._module, self._handler = module, handler
        return handler
