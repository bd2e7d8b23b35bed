"""Consumer-side tools: the downstream resources, replaying archived events, the event schemas, snapshots."""
