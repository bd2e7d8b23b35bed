"""Commands that drive a run through the emulator: the demo, replaying quarantined files, the progress line."""
