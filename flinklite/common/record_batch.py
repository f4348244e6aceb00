"""Owns the shape in which records travel together (a list of values and a parallel list of
their timestamps, or None when no record has one) and the record-by-record loop over it, which
every batch-taking interface (Output.collect_batch, Operator.process_batch,
SinkWriter.write_batch, the executor's routes) falls back to."""

from __future__ import annotations

from typing import Any, Callable



def each_record(call: Callable[[Any, int | None], None], values: list[Any],
                timestamps: list[int | None] | None) -> None:
    """call(value, timestamp) for every record of a batch, in order."""
    if timestamps is None:
        for value in values:
            call(value, None)
    else:
        for value, timestamp in zip(values, timestamps):
            call(value, timestamp)
