"""Owns keyed state storage (backends, key groups, state handles)."""
