"""Bodies of records too large to keep inline in their DynamoDB item, as S3 objects.

A record whose JSON is over ``INLINE_RECORD_MAX_BYTES`` (a Salesforce record with several long
text areas) is stored in two parts: its body here, written *first*, then the entity item with
its key, version, tombstone flag and ``record_ref`` (the body's ``s3://`` URI). An item therefore
never points at nothing, and newest-wins, tombstones and the stream-as-outbox work on the item
exactly as for a small record.

The object key is derived from the entity key, the version and a digest of the body:

- a retry or a duplicate delivery of the same version rewrites the same object (no copies);
- two different bodies under one version (the same version delivered by the REST and the Bulk
  API, say) get two objects, so a late, losing write can never overwrite the body the stored item
  points at.

Bodies are never deleted by this code. One that no item points at any more is *tagged*
``superseded=true`` (by the writer whose write lost, or by the publisher when a newer version
replaced it), and the bucket's lifecycle rule expires tagged objects after a grace period
(template parameter ``SupersededBodyRetentionDays``), during which a consumer that received an
older ``Record Changed`` event can still resolve its ``record_ref``.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson
from botocore.exceptions import ClientError

from appflow_ingest.domain.records.versions import RecordVersion
from appflow_ingest.ports.entities import RecordBodyMissing

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import TagTypeDef

SUPERSEDED_TAG: TagTypeDef = {"Key": "superseded", "Value": "true"}


def split_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> ``(bucket, key)``."""
    if not uri.startswith("s3://") or "/" not in uri[5:]:
        raise ValueError(f"expected an s3://bucket/key URI, got {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


class S3RecordBodies:
    """Record bodies as S3 objects (``ports.entities.RecordBodies``), keyed by entity key, version and digest."""

    def __init__(self, s3: S3Client, bucket: str, prefix: str = "records/") -> None:
        self._s3 = s3
        self._bucket = bucket
        self._prefix = prefix

    def key_for(self, version: RecordVersion, body: bytes) -> str:
        """``records/<object>/<sha256 of the entity key>/<version>-<body digest>.json``.

        The entity key is hashed: it may be up to 2,048 bytes and hold any character, S3 keys
        stop at 1,024 bytes.
        """
        key_digest = hashlib.sha256(version.key.encode()).hexdigest()[:40]
        body_digest = hashlib.sha256(body).hexdigest()[:16]
        return f"{self._prefix}{quote(version.object, safe='')}/{key_digest}/{version.version}-{body_digest}.json"

    def uri_for(self, version: RecordVersion, body: bytes) -> str:
        """The ``s3://`` URI ``put`` writes this body to (known before it is written)."""
        return f"s3://{self._bucket}/{self.key_for(version, body)}"

    def put(self, version: RecordVersion, body: bytes) -> str:
        """Write the body (before its item); return its ``s3://`` URI, the item's ``record_ref``."""
        key = self.key_for(version, body)
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType="application/json")
        return f"s3://{self._bucket}/{key}"

    def read(self, uri: str) -> Any:
        """The record a ``record_ref`` names."""
        bucket, key = split_uri(uri)
        try:
            body = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as error:
            if error.response["Error"]["Code"] in {"NoSuchKey", "404"}:
                raise RecordBodyMissing(f"{uri}: the record body is missing") from error
            raise
        return orjson.loads(body)

    def mark_superseded(self, uri: str) -> None:
        """Tag a body no item points at any more; the lifecycle rule expires it after the grace period."""
        bucket, key = split_uri(uri)
        try:
            self._s3.put_object_tagging(Bucket=bucket, Key=key, Tagging={"TagSet": [SUPERSEDED_TAG]})
        except ClientError as error:
            if error.response["Error"]["Code"] not in {"NoSuchKey", "404"}:  # already expired: nothing to do
                raise
