"""Reading a chunk: the byte range of a landing object into batches of decoded records, per format.

The path of a chunk: ``read_batches`` (dispatch) picks the format's reader (json_lines,
csv_decoding, parquet), which reads through lines (range alignment), gzip_stream and ranged_file
over the ``ports.landing.ChunkBytes`` of the object. Nothing here talks to AWS.
"""

from appflow_ingest.reading.decoded import Decoded, DecodedBatch, DecodedItem, Undecodable
from appflow_ingest.reading.dispatch import read_batches

__all__ = ["Decoded", "DecodedBatch", "DecodedItem", "Undecodable", "read_batches"]
