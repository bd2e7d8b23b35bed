"""One moto server in its own process on a free port, shared by every contender of a run.

A separate process (not moto's in-process ThreadedMotoServer) so the server's work neither
competes for the benchmark's GIL nor shows up in the client CPU time measured with os.times().
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def moto_server(timeout_s: float = 30.0) -> Iterator[str]:
    """Start ``moto.server`` on 127.0.0.1:<free port>; yield its endpoint URL; stop it on exit."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    # The same moto as local mode's: DynamoDB writes atomic, and TransactWriteItems without moto's
    # whole-table copy (appflow_local/emulator/moto_dynamodb.py), which would make transactions cost time
    # proportional to the table and fail when two run at once.
    serve = (
        "import sys; from appflow_local.emulator import moto_dynamodb; moto_dynamodb.install(); "
        "from moto.server import main; main(sys.argv[1:])"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", serve, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start on {endpoint}") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
