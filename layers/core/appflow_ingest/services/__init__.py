"""One use case per Lambda function: plan a file, ingest a chunk, publish changes."""
