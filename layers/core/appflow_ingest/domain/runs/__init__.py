"""AppFlow flow runs: the run reports AppFlow sends, and the run state the ledger keeps and settles."""
