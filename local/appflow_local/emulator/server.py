"""The embedded AWS emulator: moto's server over HTTP in a thread of this process, with local mode's
patches installed (DynamoDB atomicity, transactions, PartiQL batches). Clients for it:
``appflow_local.clients``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from appflow_local.emulator import moto_dynamodb


@contextmanager
def embedded_emulator(host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run moto's server in a thread of this process for the duration; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    # werkzeug logs every request to stderr; that would drown the progress output.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto_dynamodb.install()  # DynamoDB's atomicity, and transactions that do not copy whole tables
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    try:
        yield f"http://{bound_host}:{bound_port}"
    finally:
        server.stop()
