"""Events too large for EventBridge, read back from the S3 object a pointer event names."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class S3EventDocuments:
    """Reads an event document that was too large for EventBridge from S3."""

    def __init__(self, s3: S3Client) -> None:
        self._s3 = s3

    def read_json(self, bucket: str, key: str) -> Any:
        """The JSON document at s3://bucket/key; ValueError naming the object if it is not JSON."""
        body = self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise ValueError(f"s3://{bucket}/{key}: expected a JSON event, {error}") from None
