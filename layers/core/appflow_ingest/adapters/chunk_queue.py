"""Sending chunk messages to the SQS chunk queue."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from appflow_ingest.domain.landing.chunks import Chunk
from appflow_ingest.ports.landing import ChunkQueueError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

_SQS_BATCH = 10


class SqsChunkQueue:
    """The chunk queue on SQS: chunk messages sent in batches of ten."""

    def __init__(self, sqs: SQSClient, queue_url: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url

    def send(self, chunks: Sequence[Chunk]) -> None:
        """Queue every chunk; entries SQS reports as failed are retried once, then raise."""
        for first in range(0, len(chunks), _SQS_BATCH):
            entries: list[SendMessageBatchRequestEntryTypeDef] = [
                {"Id": str(i), "MessageBody": chunk.to_json()}
                for i, chunk in enumerate(chunks[first : first + _SQS_BATCH])
            ]
            for _attempt in range(2):
                response = self._sqs.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
                failed = {f["Id"] for f in response.get("Failed", [])}
                entries = [entry for entry in entries if entry["Id"] in failed]
                if not entries:
                    break
            if entries:
                raise ChunkQueueError(f"could not queue {len(entries)} chunk messages: {response.get('Failed')}")
