"""Usage log and counters: filled by the metering proxy (a later issue)."""
