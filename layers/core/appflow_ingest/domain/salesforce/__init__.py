"""Inbound Salesforce change events (Change Data Capture): parsed, then merged into stored records."""
