"""The local emulator: moto's server (with its patches), the event sources that deliver S3/EventBridge,
SQS and DynamoDB stream events, and the function runtime that runs the real handlers. It reads the
stack only through ``stack.template`` (function specs, the account id).
"""
