"""Benchmarks that print ratios measured in one process run (never absolute thresholds)."""
