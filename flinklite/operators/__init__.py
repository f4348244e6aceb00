"""Owns operator logic objects: each gets elements, watermarks and timers, emits records, and snapshots its state."""
