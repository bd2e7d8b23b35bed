"""Pure domain logic: runs and is tested without AWS."""
