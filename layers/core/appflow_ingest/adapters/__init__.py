"""AWS access (S3, SQS, DynamoDB, EventBridge) behind small interfaces."""
