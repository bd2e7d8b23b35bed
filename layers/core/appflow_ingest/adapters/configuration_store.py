"""The configuration document in SSM Parameter Store, read through Powertools Parameters.

``appflow-ingest config push`` (local/appflow_local/configuration.py) writes one parameter per part
under the stack's path: ``<path>/flows``, ``<path>/wallet`` and ``<path>/rule-sets/<name>``, each
JSON and each well under Parameter Store's 4 KB, however many objects are declared. Powertools
reads them by path in one paginated call and caches them for ``max_age`` seconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.parameters import SSMProvider

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

FLOWS = "flows"
WALLET = "wallet"
RULE_SETS_PREFIX = "rule-sets/"


def configuration_document(parts: dict[str, Any]) -> dict[str, Any]:
    """``{"flows": ..., "wallet": ..., "rule-sets/x": ...}`` as ``{"flows", "wallet", "rule_sets": {x: ...}}``."""
    return {
        "flows": parts.get(FLOWS) or {},
        "wallet": parts.get(WALLET),
        "rule_sets": {
            name.removeprefix(RULE_SETS_PREFIX): value
            for name, value in parts.items()
            if name.startswith(RULE_SETS_PREFIX)
        },
    }


class SsmConfigurationStore:
    """Reads the configuration pushed under one SSM path."""

    def __init__(self, ssm_client: SSMClient, path: str, *, max_age_seconds: int = 300) -> None:
        self._provider = SSMProvider(boto3_client=ssm_client)
        self._path = path.rstrip("/")
        self._max_age = max_age_seconds

    @property
    def path(self) -> str:
        """The SSM path the configuration is read from (no trailing slash)."""
        return self._path

    def read(self) -> dict[str, Any] | None:
        """The document, or None when nothing was pushed under the path."""
        parts = self._provider.get_multiple(
            self._path, max_age=self._max_age, transform="json", raise_on_transform_error=True, recursive=True
        )
        return configuration_document(parts) if parts else None
