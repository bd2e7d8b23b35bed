"""Local mode: run the SAM application's functions against moto's server, wired from template.yaml.

No AWS account and no Docker: resources are created in the emulator from the template, and a
single-threaded runtime delivers S3/EventBridge, SQS and DynamoDB stream events to the real
handlers in the shapes Lambda uses.
"""
