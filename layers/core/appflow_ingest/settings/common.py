"""What every function's settings share: the error, the readers of one variable, the endpoint."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from appflow_ingest.domain.records.body_codec import DEFAULT_COMPRESS_OVER
from appflow_ingest.domain.wallet import WalletConfig
from appflow_ingest.ports.entities import WRITE_STRATEGIES  # the one list; the first is the default

# The variables load_settings reads for every model (wiring.py): where the configuration document is.
DOCUMENT_VARIABLES = ("CONFIG_PARAMETER_PATH", "CONFIG_MAX_AGE_SECONDS")
ENDPOINT = "AWS_ENDPOINT_OVERRIDE"


class ConfigurationError(ValueError):
    """An environment variable is missing or malformed."""


def require(env: Mapping[str, str], name: str, *, needed_by: str = "") -> str:
    """The variable's value; ConfigurationError when it is unset or empty."""
    value = env.get(name, "")
    if not value:
        raise ConfigurationError(f"environment variable {name} is required (declared in template.yaml{needed_by})")
    return value


def integer(env: Mapping[str, str], name: str, default: int) -> int:
    """A positive integer variable (``default`` when unset or empty)."""
    raw = env.get(name) or str(default)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"environment variable {name}: expected an integer, got {raw!r}") from None
    if value < 1:
        raise ConfigurationError(f"environment variable {name}: expected a positive integer, got {value}")
    return value


def endpoint_url(env: Mapping[str, str]) -> str | None:
    """AWS_ENDPOINT_OVERRIDE: empty on AWS; locally, the emulator every client is pointed at."""
    return env.get(ENDPOINT) or None


def write_strategy(env: Mapping[str, str]) -> str:
    """WRITE_STRATEGY, one of the entity store's strategies (the first is the default)."""
    strategy = env.get("WRITE_STRATEGY") or WRITE_STRATEGIES[0]
    if strategy not in WRITE_STRATEGIES:
        raise ConfigurationError(
            f"environment variable WRITE_STRATEGY: expected one of {', '.join(WRITE_STRATEGIES)}, got {strategy!r}"
        )
    return strategy


def compress_over(env: Mapping[str, str]) -> int:
    """COMPRESS_BODIES_OVER: record bodies over this many bytes are stored gzip (0: never)."""
    raw = env.get("COMPRESS_BODIES_OVER") or str(DEFAULT_COMPRESS_OVER)
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ConfigurationError(
            f"environment variable COMPRESS_BODIES_OVER: expected a number of bytes (0: never compress), got {raw!r}"
        )
    return value


def wallet_from_json(raw: str) -> WalletConfig | None:
    """Empty: the deployment has no wallet; ``{}``: the wallet with its defaults (domain/wallet.py)."""
    if not raw.strip():
        return None
    try:
        return WalletConfig.from_json(raw)
    except (ValueError, TypeError) as error:
        raise ConfigurationError(f"WALLET_CONFIG: {error}") from None


def wallet(env: Mapping[str, str], document: Mapping[str, Any] | None) -> WalletConfig | None:
    """The wallet: the configuration document's when there is one, else WALLET_CONFIG."""
    if document is None:
        return wallet_from_json(env.get("WALLET_CONFIG", ""))
    declared = document.get("wallet")
    return None if declared is None else wallet_from_json(orjson.dumps(declared).decode())
