"""Owns running a job graph: the clock, the subtask plumbing and the single-threaded executor."""
