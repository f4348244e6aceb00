"""Owns the edges of a job: the source operator (polls a reader, assigns timestamps, runs one
watermark generator per split and emits their minimum, idle splits excluded), the
timestamps-and-watermarks operator (assign_timestamps_and_watermarks), and the sink operators
(print in PyFlink's format, collect, sink connectors, sink functions; a sink writer's checkpoint
state goes into the subtask's snapshot under "sink")."""

from __future__ import annotations

import sys
from typing import Any, Callable, TextIO

from flinklite.common.typeinfo import TypeInformation
from flinklite.common.watermark_strategy import LONG_MAX, LONG_MIN, WatermarkGenerator, WatermarkStrategy
from flinklite.datastream.connectors.base import Sink, SinkWriter, Source, SourceReader
from flinklite.operators.base import Operator


class _SplitWatermark:
    """The WatermarkOutput of one split's generator."""

    __slots__ = ("watermark", "idle")

    def __init__(self) -> None:
        self.watermark = LONG_MIN
        self.idle = False

    def emit_watermark(self, timestamp: int) -> None:
        if timestamp > self.watermark:
            self.watermark = timestamp
        self.idle = False

    def mark_idle(self) -> None:
        self.idle = True

    def mark_active(self) -> None:
        self.idle = False


class SourceOperator(Operator):
    def __init__(self, name: str, source: Source, strategy: WatermarkStrategy | None) -> None:
        super().__init__(name)
        self.source = source
        self.strategy = strategy
        self.wants_periodic_watermarks = strategy is not None
        self.assigner = strategy.timestamp_assigner if strategy is not None else None
        # Nothing to interleave between records (no watermarks, no timestamp assigner): a poll
        # goes downstream as one batch.
        self.batched = strategy is None or strategy.leaves_records_alone
        self.reader: SourceReader = None  # type: ignore[assignment]
        self._generators: dict[Any, tuple[WatermarkGenerator, _SplitWatermark]] = {}
        self._emitted = LONG_MIN
        self._idle = False
        self.finished = False
        self.checkpointed_positions: dict[int, Any] = {}  # checkpoint id -> reader snapshot

    def open(self) -> None:
        self.reader = self.source.create_reader(self.ctx.subtask_index, self.ctx.parallelism)
        if self.strategy is not None:
            for split in self.reader.split_ids():
                self._generator(split)
            if not self.reader.split_ids():
                self._idle = True
                self.ctx.output.mark_idle()

    def _generator(self, split: Any) -> tuple[WatermarkGenerator, _SplitWatermark]:
        entry = self._generators.get(split)
        if entry is None:
            assert self.strategy is not None
            entry = self._generators[split] = (self.strategy.create_watermark_generator(), _SplitWatermark())
        return entry

    def poll(self, max_records: int, now: int) -> int:
        output = self.ctx.output
        if self.batched:
            values, timestamps = self.reader.poll_batch(max_records, now)
            if values:
                if self._idle:  # a reader that started without splits has records now
                    self._idle = False
                    output.mark_active()
                output.collect_batch(values, timestamps)
            if self.reader.is_finished():
                self.finished = True
            return len(values)
        records = self.reader.poll(max_records, now)
        assigner = self.assigner
        clock = self.ctx.clock if self.periodic_interval_ms > 0 else None
        for split, value, timestamp in records:
            if clock is not None:
                self.maybe_emit_periodic(clock())
            if assigner is not None:
                timestamp = assigner.extract_timestamp(value, LONG_MIN if timestamp is None else timestamp)
            generator, split_output = self._generator(split)
            generator.on_event(timestamp if timestamp is not None else LONG_MIN, split_output)
            if self._idle:
                self._idle = False
                output.mark_active()
            output.collect(value, timestamp)
        if self.reader.is_finished():
            self.finished = True
        return len(records)

    def emit_periodic_watermark(self, now: int) -> None:
        if not self._generators:
            return
        active = []
        for generator, split_output in self._generators.values():
            generator.on_periodic_emit(split_output, now)
            if not split_output.idle:
                active.append(split_output.watermark)
        if not active:
            if not self._idle:
                self._idle = True
                self.ctx.output.mark_idle()
            return
        if self._idle:
            self._idle = False
            self.ctx.output.mark_active()
        watermark = min(active)
        if watermark > self._emitted:
            self._emitted = watermark
            self.ctx.output.emit_watermark(watermark)

    def finish_source(self) -> None:
        """End of a bounded input: Long.MAX_VALUE closes every event-time window downstream."""
        if self._idle:
            self.ctx.output.mark_active()
        self._emitted = LONG_MAX
        self.ctx.output.emit_watermark(LONG_MAX)

    def process_element(self, value: Any, timestamp: int | None, key: Any, input_index: int) -> None:
        raise AssertionError("a source has no inputs")

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()

    def snapshot(self) -> dict[str, Any]:
        state = super().snapshot()
        state["reader"] = self.reader.snapshot()
        state["split_watermarks"] = {split: out.watermark for split, (_, out) in self._generators.items()}
        return state

    def restore(self, snapshot: dict[str, Any]) -> None:
        super().restore(snapshot)
        self.reader.restore(snapshot.get("reader"))

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        position = self.checkpointed_positions.pop(checkpoint_id, None)
        for older in [i for i in self.checkpointed_positions if i < checkpoint_id]:
            del self.checkpointed_positions[older]  # subsumed
        if position is not None:
            self.reader.notify_checkpoint_complete(checkpoint_id, position)


class TimestampsAndWatermarksOperator(Operator):
    """assign_timestamps_and_watermarks: sets record timestamps, runs the generator. Upstream
    watermarks are dropped except the end-of-input one (Long.MAX_VALUE), as in Flink."""

    def __init__(self, name: str, strategy: WatermarkStrategy) -> None:
        super().__init__(name)
        self.strategy = strategy
        self.assigner = strategy.timestamp_assigner
        self.wants_periodic_watermarks = True
        self._split = _SplitWatermark()
        self._emitted = LONG_MIN
        self._idle = False

    def open(self) -> None:
        self.generator = self.strategy.create_watermark_generator()

    def process_element(self, value: Any, timestamp: int | None, key: Any, input_index: int) -> None:
        if self.periodic_interval_ms > 0:
            self.maybe_emit_periodic(self.ctx.clock())
        if self.assigner is not None:
            timestamp = self.assigner.extract_timestamp(value, LONG_MIN if timestamp is None else timestamp)
        self.generator.on_event(LONG_MIN if timestamp is None else timestamp, self._split)
        if self._idle and not self._split.idle:
            self._idle = False
            self.ctx.output.mark_active()
        self.ctx.output.collect(value, timestamp)

    def emit_periodic_watermark(self, now: int) -> None:
        self.generator.on_periodic_emit(self._split, now)
        if self._split.idle:
            if not self._idle:
                self._idle = True
                self.ctx.output.mark_idle()
            return
        if self._idle:
            self._idle = False
            self.ctx.output.mark_active()
        if self._split.watermark > self._emitted:
            self._emitted = self._split.watermark
            self.ctx.output.emit_watermark(self._emitted)

    def process_watermark(self, watermark: int) -> None:
        if watermark == LONG_MAX and self._emitted != LONG_MAX:
            self._emitted = LONG_MAX
            self.ctx.current_watermark = LONG_MAX
            self.ctx.output.emit_watermark(LONG_MAX)

    def process_idle(self, idle: bool) -> None:
        pass


class SinkOperator(Operator):
    """Hands every record to a SinkWriter (connectors, print, collect)."""

    def __init__(self, name: str, make_writer: Callable[[int, int], SinkWriter]) -> None:
        super().__init__(name)
        self.make_writer = make_writer
        self._writer_state: Any = None  # the writer's snapshot_state for the checkpoint being taken

    def open(self) -> None:
        self.writer = self.make_writer(self.ctx.subtask_index, self.ctx.parallelism)
        self._write = self.writer.write

    def process_element(self, value: Any, timestamp: int | None, key: Any, input_index: int) -> None:
        self._write(value, timestamp)

    def takes_batches(self) -> bool:
        return True

    def process_batch(self, values: list[Any], timestamps: list[int | None] | None, input_index: int) -> None:
        self.writer.write_batch(values, timestamps)

    def end_input(self) -> None:
        self.writer.flush(True)

    def close(self) -> None:
        self.writer.close()

    def prepare_snapshot_pre_barrier(self, checkpoint_id: int) -> None:
        self._writer_state = self.writer.snapshot_state(checkpoint_id)

    def snapshot(self) -> dict[str, Any]:
        state = super().snapshot()
        if self._writer_state is not None:
            state["sink"], self._writer_state = self._writer_state, None
        return state

    def restore(self, snapshot: dict[str, Any]) -> None:
        super().restore(snapshot)
        if snapshot.get("sink"):
            self.writer.restore_state(snapshot["sink"])

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        self.writer.notify_checkpoint_complete(checkpoint_id)


class PrintWriter(SinkWriter):
    """PyFlink's print(): "N> " prefix (subtask N, 1-based) when the sink's parallelism > 1,
    "id> " / "id:N> " with a sink identifier; values rendered as their type prints them."""

    def __init__(self, type_info: TypeInformation, identifier: str | None, subtask_index: int, parallelism: int,
                 stream: Callable[[], TextIO]) -> None:
        self.render = type_info.to_string
        if identifier is not None:
            self.prefix = f"{identifier}:{subtask_index + 1}> " if parallelism > 1 else f"{identifier}> "
        else:
            self.prefix = f"{subtask_index + 1}> " if parallelism > 1 else ""
        self.stream = stream

    def write(self, value: Any, timestamp: int | None) -> None:
        self.stream().write(self.prefix + self.render(value) + "\n")

    def flush(self, end_of_input: bool) -> None:
        self.stream().flush()


def stdout() -> TextIO:
    return sys.stdout


class CollectWriter(SinkWriter):
    def __init__(self, into: list[Any]) -> None:
        self.into = into

    def write(self, value: Any, timestamp: int | None) -> None:
        self.into.append(value)

    def write_batch(self, values: list[Any], timestamps: list[int | None] | None) -> None:
        self.into.extend(values)


class SinkFunctionWriter(SinkWriter):
    """add_sink(fn): a SinkFunction object (invoke(value, context)) or a plain callable(value)."""

    def __init__(self, function: Any) -> None:
        self.function = function
        invoke = getattr(function, "invoke", None)
        self.write = (lambda value, timestamp: invoke(value, timestamp)) if invoke else (  # type: ignore[method-assign]
            lambda value, timestamp: function(value))
        if not invoke:
            def call_each(values: list[Any], timestamps: list[int | None] | None) -> None:
                for value in values:
                    function(value)
            self.write_batch = call_each  # type: ignore[method-assign]

    def write(self, value: Any, timestamp: int | None) -> None:
        self.function(value)


class SinkConnectorWriterFactory:
    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    def __call__(self, subtask_index: int, parallelism: int) -> SinkWriter:
        return self.sink.create_writer(subtask_index, parallelism)
