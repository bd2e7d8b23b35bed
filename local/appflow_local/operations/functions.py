"""Invoke the stack's functions: Lambda on AWS, the local runtime (in-process) on the emulator."""

from __future__ import annotations

import json
import sys
from functools import cached_property
from typing import Any, TextIO

from appflow_local.operations.errors import OperationFailed
from appflow_local.operations.target import Target


class StackFunctions:
    def __init__(self, target: Target, log_sink: TextIO | None = None) -> None:
        self.target = target
        self.log_sink = log_sink or sys.stderr

    @cached_property
    def runtime(self) -> Any:
        """The emulator's local runtime (its functions and triggers); emulated stacks only."""
        from appflow_local.emulator.runtime import LocalRuntime

        assert self.target.emulated is not None
        return LocalRuntime(self.target.emulator, self.target.emulated, self.target.template, log_sink=self.log_sink)

    def invoke(self, logical_id: str, event: Any) -> Any:
        """One synchronous invocation; its result, or OperationFailed with the function's error."""
        if self.target.emulated is not None:
            invocation = self.runtime.invoke(logical_id, event)
            if invocation.failed:
                raise OperationFailed(f"{logical_id} failed: {invocation.error}")
            return invocation.result
        response = self.target.client("lambda").invoke(
            FunctionName=self.target.physical(logical_id), Payload=json.dumps(event).encode()
        )
        payload = response["Payload"].read()
        result = json.loads(payload) if payload else None
        if response.get("FunctionError"):
            message = result.get("errorMessage") if isinstance(result, dict) else payload[:200]
            raise OperationFailed(f"{logical_id} failed: {message}")
        return result

    def invoke_async(self, logical_id: str, event: Any) -> None:
        """Hand an event to a function as its rule would: Lambda's retries and dead-letter queue apply."""
        if self.target.emulated is not None:
            delivery = next((d for d in self.target.emulated.deliveries if d.function == logical_id), None)
            if delivery is None:  # a schedule's target: locally nothing delivers it, so it is invoked here
                self.invoke(logical_id, event)
                return
            self.target.client("sqs").send_message(QueueUrl=delivery.queue_url, MessageBody=json.dumps(event))
            return
        self.target.client("lambda").invoke(
            FunctionName=self.target.physical(logical_id), InvocationType="Event", Payload=json.dumps(event).encode()
        )

    def drain(self) -> Any:
        """Emulator: run the triggered functions until every queue and stream is idle (AWS does it by itself)."""
        if self.target.emulated is None:
            return None
        self.runtime.summary = type(self.runtime.summary)()
        return self.runtime.run_until_drained()
