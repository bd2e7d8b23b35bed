"""What a handler prints, split as CloudWatch splits it: EMF metric documents versus log lines.

Powertools Metrics prints CloudWatch Embedded Metric Format documents to stdout when a handler
returns; on AWS, CloudWatch turns them into metrics. Locally the same documents are summed here,
so the run summary's counts come from the functions' own metrics rather than from a second
bookkeeping that could disagree with them. Every other line is passed through to a log sink so
nothing the handlers say is hidden.
"""

from __future__ import annotations

import io
import json
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from typing import Any, TextIO


def emf_metrics(document: Any) -> dict[str, float]:
    """The metric values of one EMF document (``{"_aws": {...}, "Name": value-or-list}``), summed per name."""
    if not isinstance(document, dict) or not isinstance(document.get("_aws"), dict):
        return {}
    totals: dict[str, float] = {}
    for directive in document["_aws"].get("CloudWatchMetrics", []):
        for metric in directive.get("Metrics", []):
            name = metric.get("Name")
            value = document.get(name)
            values = value if isinstance(value, list) else [value]
            numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
            if name and numbers:
                totals[name] = totals.get(name, 0.0) + sum(numbers)
    return totals


class HandlerOutput(io.TextIOBase):
    """A text stream that sums EMF metrics from complete lines and forwards the rest to ``sink``."""

    def __init__(self, sink: TextIO) -> None:
        super().__init__()
        self.sink = sink
        self.metrics: Counter[str] = Counter()
        self._partial = ""
        self._lock = threading.Lock()  # handlers log from their own worker threads

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            lines = (self._partial + text).split("\n")
            self._partial = lines.pop()
            for line in lines:
                self._line(line)
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if self._partial:
                self._line(self._partial)
                self._partial = ""
        self.sink.flush()

    def _line(self, line: str) -> None:
        if line.startswith("{") and '"_aws"' in line:
            try:
                document = json.loads(line)
            except ValueError:
                document = None
            metrics = emf_metrics(document)
            if metrics:
                self.metrics.update(metrics)
                return
        self.sink.write(line + "\n")


class _StdoutRouter(io.TextIOBase):
    """A stand-in ``sys.stdout`` whose destination can change per invocation.

    Powertools' Logger keeps a reference to the ``sys.stdout`` it saw when it was created; if that
    object is this router (because the function module was imported through ``capture``), the
    handler's log lines follow each invocation into its own HandlerOutput too.
    """

    def __init__(self) -> None:
        super().__init__()
        self.target: TextIO | io.TextIOBase | None = None

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        target = self.target or sys.stderr
        return target.write(text)

    def flush(self) -> None:
        (self.target or sys.stderr).flush()


_ROUTER = _StdoutRouter()


@contextmanager
def capture(output: HandlerOutput) -> Iterator[HandlerOutput]:
    """Send everything printed to stdout (and Powertools logs) to ``output`` for the duration."""
    previous = _ROUTER.target
    _ROUTER.target = output
    try:
        with redirect_stdout(_ROUTER):
            yield output
    finally:
        output.flush()
        _ROUTER.target = previous


def route_library_logs() -> None:
    """Send the layer's Powertools logger through the router: into the current invocation's output
    while a function runs in-process, to stderr otherwise (never to stdout, the CLI's answer).

    Needed when this process imported the layer itself (the operations verbs plan and read with it)
    before any function module: the logger then holds the real stdout, not the router.
    """
    import logging

    from appflow_ingest.observability import logger

    for handler in logger.handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(_ROUTER)  # type: ignore[arg-type]
