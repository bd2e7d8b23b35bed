"""One use case per Lambda function: plan a file, ingest a chunk, apply change events, publish bus events, and so on."""
