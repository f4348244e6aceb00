"""Owns the testing kit: in-memory sources (records scheduled on processing time, several
splits to model partitions, optional record timestamps), a collecting sink, the ManualClock,
a sink writer wrapper for fault tests, and helpers that run a job (a build function or a job
script) to completion and return what it printed and collected. Everything is deterministic: processing time is the ManualClock's,
which jumps to the job's next deadline whenever the job would wait."""

from __future__ import annotations

import contextlib
import io
import runpy
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from flinklite.datastream.connectors.base import Sink, SinkWriter, Source, SourceReader
from flinklite.datastream.data_stream import DataStream
from flinklite.datastream.functions import MapFunction
from flinklite.datastream.stream_execution_environment import JobExecutionResult, StreamExecutionEnvironment
from flinklite.runtime.clock import Clock, ManualClock, SystemClock

__all__ = ["CollectSink", "FailAfter", "ForwardingSinkWriter", "JobOutput", "ManualClock", "Record", "SystemClock",
           "TestSource", "run_job", "run_script"]


@dataclass(frozen=True)
class Record:
    """One input record: its value, optional record timestamp (like a Kafka timestamp) and the
    processing time it becomes available at (default: at once)."""

    value: Any
    timestamp: int | None = None
    at_ms: int | None = None


class TestSource(Source):
    """A bounded in-memory source.

    TestSource([1, 2, 3])                        one split, all records ready at once
    TestSource([...], interval_ms=100)           record i becomes available at start_ms + i * 100
    TestSource(splits={"p0": [...], "p1": []})   several splits (partitions), spread over subtasks
    Items are plain values or `Record(value, timestamp=..., at_ms=...)`. With `finish_at_ms` the
    source stays open (idle) until the clock reaches it."""

    __test__ = False  # not a pytest class

    def __init__(self, values: Iterable[Any] | None = None, *, splits: dict[Any, Iterable[Any]] | None = None,
                 interval_ms: int = 0, start_ms: int = 0, finish_at_ms: int | None = None) -> None:
        if (values is None) == (splits is None):
            raise ValueError("TestSource takes values or splits=, one of them")
        raw = {0: list(values)} if values is not None else {k: list(v) for k, v in (splits or {}).items()}
        self.splits: dict[Any, list[Record]] = {}
        for split, items in raw.items():
            records = []
            for i, item in enumerate(items):
                record = item if isinstance(item, Record) else Record(item)
                if record.at_ms is None:
                    record = Record(record.value, record.timestamp, start_ms + i * interval_ms)
                records.append(record)
            self.splits[split] = records
        self.finish_at_ms = finish_at_ms

    def create_reader(self, subtask_index: int, parallelism: int) -> SourceReader:
        names = list(self.splits)
        mine = [name for i, name in enumerate(names) if i % parallelism == subtask_index]
        return _TestReader({name: self.splits[name] for name in mine}, self.finish_at_ms)


class _TestReader(SourceReader):
    def __init__(self, splits: dict[Any, list[Record]], finish_at_ms: int | None) -> None:
        self.splits = splits
        self.positions = {name: 0 for name in splits}
        self.finish_at_ms = finish_at_ms
        self.now = 0

    def split_ids(self) -> list[Any]:
        return list(self.splits)

    def poll(self, max_records: int, now: int) -> list[tuple[Any, Any, int | None]]:
        self.now = now
        out: list[tuple[Any, Any, int | None]] = []
        progress = True
        while progress and len(out) < max_records:
            progress = False
            for name, records in self.splits.items():  # one record per split per round
                position = self.positions[name]
                if position < len(records) and (records[position].at_ms or 0) <= now:
                    record = records[position]
                    out.append((name, record.value, record.timestamp))
                    self.positions[name] = position + 1
                    progress = True
        return out

    def _pending(self) -> list[int]:
        return [records[self.positions[name]].at_ms or 0
                for name, records in self.splits.items() if self.positions[name] < len(records)]

    def next_ready_at(self, now: int) -> int | None:
        pending = self._pending()
        if pending:
            return min(pending)
        return self.finish_at_ms

    def is_finished(self) -> bool:
        return not self._pending() and (self.finish_at_ms is None or self.now >= self.finish_at_ms)

    def snapshot(self) -> Any:
        return dict(self.positions)

    def restore(self, state: Any) -> None:
        if state:
            self.positions.update(state)


class CollectSink(Sink):
    """Collects every record written to it (all subtasks) in `.values`, with `.by_subtask`."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.by_subtask: dict[int, list[Any]] = {}
        self.timestamps: list[int | None] = []
        self._lock = threading.Lock()

    def create_writer(self, subtask_index: int, parallelism: int) -> SinkWriter:
        return _CollectWriter(self, subtask_index)


class _CollectWriter(SinkWriter):
    def __init__(self, sink: CollectSink, subtask_index: int) -> None:
        self.sink = sink
        self.subtask_index = subtask_index

    def write(self, value: Any, timestamp: int | None) -> None:
        with self.sink._lock:
            self.sink.values.append(value)
            self.sink.timestamps.append(timestamp)
            self.sink.by_subtask.setdefault(self.subtask_index, []).append(value)

    def write_batch(self, values: list[Any], timestamps: list[int | None] | None) -> None:
        with self.sink._lock:
            self.sink.values.extend(values)
            self.sink.timestamps.extend([None] * len(values) if timestamps is None else timestamps)
            self.sink.by_subtask.setdefault(self.subtask_index, []).extend(values)


class FailAfter(MapFunction):
    """An identity map that injects task failures: it raises once it has seen `records` records
    in total (over every attempt of the job), `times` times, each after `records` more records
    than the failure before. Copies of it (one per subtask, one per restart) share the count."""

    def __init__(self, records: int, times: int = 1) -> None:
        self.records = records
        self.times = times
        self.seen = 0
        self.failures = 0

    def __deepcopy__(self, memo: dict[int, Any]) -> FailAfter:
        return self

    def map(self, value: Any) -> Any:
        self.seen += 1
        if self.failures < self.times and self.seen >= self.records * (self.failures + 1):
            self.failures += 1
            raise RuntimeError(f"injected failure {self.failures} after {self.seen} records")
        return value


class ForwardingSinkWriter(SinkWriter):
    """A sink writer that hands every call to ``inner``: subclass it and override the calls to observe or
    to fail (a failure after a pre-commit, before a commit, ...) when testing a sink's fault tolerance."""

    def __init__(self, inner: SinkWriter) -> None:
        self.inner = inner

    def write(self, value: Any, timestamp: int | None) -> None:
        self.inner.write(value, timestamp)

    def flush(self, end_of_input: bool) -> None:
        self.inner.flush(end_of_input)

    def snapshot_state(self, checkpoint_id: int) -> Any:
        return self.inner.snapshot_state(checkpoint_id)

    def restore_state(self, states: dict[int, Any]) -> None:
        self.inner.restore_state(states)

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        self.inner.notify_checkpoint_complete(checkpoint_id)

    def close(self) -> None:
        self.inner.close()


@dataclass
class JobOutput:
    printed: list[str] = field(default_factory=list)
    collected: list[Any] = field(default_factory=list)
    results: list[JobExecutionResult] = field(default_factory=list)
    env: StreamExecutionEnvironment | None = None  # run_job's: its last_coordinator, restarts


def run_job(build: Callable[[StreamExecutionEnvironment], Any], *, parallelism: int = 1, clock: Clock | None = None,
            auto_watermark_interval_ms: int | None = None) -> JobOutput:
    """Builds a job with `build(env)` and runs it on a ManualClock (unless given a clock).
    If build returns a DataStream, its records are collected into `output.collected`."""
    env = StreamExecutionEnvironment.get_execution_environment()
    env.set_parallelism(parallelism)
    env.set_clock(clock if clock is not None else ManualClock())
    if auto_watermark_interval_ms is not None:
        env.get_config().set_auto_watermark_interval(auto_watermark_interval_ms)
    output = JobOutput(env=env)
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        stream = build(env)
        sink = None
        if isinstance(stream, DataStream):
            sink = CollectSink()
            stream.sink_to(sink)
        output.results.append(env.execute("test job"))
    output.printed = buffer.getvalue().splitlines()
    if sink is not None:
        output.collected = sink.values
    return output


def run_script(path: str, args: Iterable[str] = (), *, clock: Clock | None = None,
               parallelism: int | None = None) -> JobOutput:
    """Runs a job script (as `python -m flinklite run` would) and returns what it printed."""
    output = JobOutput()
    defaults: dict[str, Any] = {"clock": clock if clock is not None else ManualClock(),
                                "on_executed": [output.results.append]}
    if parallelism is not None:
        defaults["parallelism"] = parallelism
    saved_defaults, saved_argv = dict(StreamExecutionEnvironment._defaults), sys.argv
    StreamExecutionEnvironment._defaults = defaults
    sys.argv = [path, *args]
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            runpy.run_path(path, run_name="__main__")
    finally:
        StreamExecutionEnvironment._defaults = saved_defaults
        sys.argv = saved_argv
    output.printed = buffer.getvalue().splitlines()
    return output
