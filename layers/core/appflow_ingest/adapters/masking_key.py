"""The masking key: the HMAC key of the "hash" masks, read from Secrets Manager (docs/security.md).

Read through Powertools Parameters, which caches it for ``POWERTOOLS_PARAMETERS_MAX_AGE`` seconds
(the template sets 300): an invocation costs no request, and a rotated key is in use on every
instance within that time. Only the functions that mask are given the secret and may read it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools.utilities.parameters import SecretsProvider

from appflow_ingest.settings import ConfigurationError

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient


class SecretMaskingKey:
    """The current masking key, from a Secrets Manager secret (its SecretString)."""

    def __init__(self, secretsmanager: SecretsManagerClient, secret_id: str) -> None:
        if not secret_id:
            raise ConfigurationError(
                "environment variable MASKING_KEY_SECRET is required (declared in template.yaml for the "
                "functions that mask)"
            )
        self._provider = SecretsProvider(boto3_client=secretsmanager)
        self._secret_id = secret_id

    def current(self) -> bytes:
        """The key in force (cached); raises ConfigurationError when the secret holds no key."""
        value = self._provider.get(self._secret_id)
        key = value.encode() if isinstance(value, str) else bytes(value or b"")
        if not key:
            # An empty key would turn every "hash" mask into a redaction without anyone noticing.
            raise ConfigurationError(f"secret {self._secret_id}: the masking key is empty")
        return key
