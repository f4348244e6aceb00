"""Owns watermark strategies (pyflink.common.watermark_strategy): how event timestamps are
extracted and which watermark generator a source or assigner runs.

Emission rule (the one Flink's DataStream API follows): a generator sees every event through
`on_event` and emits watermarks only from `on_periodic_emit`, which the runtime calls every
`auto-watermark-interval` (200 ms by default, `ExecutionConfig.set_auto_watermark_interval`)
of *processing time*, read from the job's clock (injectable; the testing kit's ManualClock
makes it deterministic). An interval of 0 disables periodic watermarks, as in Flink. At the end
of a bounded input the runtime emits Long.MAX_VALUE, which closes every event-time window. The
eager emission of Flink SQL's WatermarkAssignerOperator is not used: it belongs to the Table
runtime, not the DataStream API this package mirrors.

Bounded out-of-orderness `d` emits `max_timestamp - d - 1` (monotonous is `d = 0`), as Flink
does, so an event at exactly the watermark's timestamp + 1 is still on time."""

from __future__ import annotations

from typing import Any, Callable, Protocol

from flinklite.common.time import Duration, to_millis
from flinklite.errors import InvalidProgramError

LONG_MIN = -(2**63)
LONG_MAX = 2**63 - 1


class TimestampAssigner:
    """Extracts an event timestamp (ms) from a record."""

    def extract_timestamp(self, value: Any, record_timestamp: int) -> int:
        raise NotImplementedError


class _CallableTimestampAssigner(TimestampAssigner):
    def __init__(self, fn: Callable[..., int]) -> None:
        self._fn = fn

    def extract_timestamp(self, value: Any, record_timestamp: int) -> int:
        try:
            return self._fn(value, record_timestamp)
        except TypeError:
            return self._fn(value)


class WatermarkOutput(Protocol):
    def emit_watermark(self, timestamp: int) -> None: ...

    def mark_idle(self) -> None: ...

    def mark_active(self) -> None: ...


class WatermarkGenerator:
    """Sees events, emits watermarks when asked periodically."""

    def on_event(self, timestamp: int, output: WatermarkOutput) -> None:
        pass

    def on_periodic_emit(self, output: WatermarkOutput, now: int) -> None:
        pass


class BoundedOutOfOrdernessGenerator(WatermarkGenerator):
    def __init__(self, out_of_orderness_ms: int) -> None:
        self.out_of_orderness_ms = out_of_orderness_ms
        self.max_timestamp = LONG_MIN + out_of_orderness_ms + 1

    def on_event(self, timestamp: int, output: WatermarkOutput) -> None:
        if timestamp > self.max_timestamp:
            self.max_timestamp = timestamp

    def on_periodic_emit(self, output: WatermarkOutput, now: int) -> None:
        output.emit_watermark(self.max_timestamp - self.out_of_orderness_ms - 1)

    def snapshot(self) -> dict[str, Any]:
        return {"max_timestamp": self.max_timestamp}

    def restore(self, state: dict[str, Any]) -> None:
        self.max_timestamp = state["max_timestamp"]


class NoWatermarksGenerator(WatermarkGenerator):
    pass


class IdlenessGenerator(WatermarkGenerator):
    """Marks the output idle when no event came for `idle_timeout_ms` of processing time."""

    def __init__(self, inner: WatermarkGenerator, idle_timeout_ms: int) -> None:
        self.inner = inner
        self.idle_timeout_ms = idle_timeout_ms
        self.last_activity: int | None = None
        self.events_since_check = 0
        self.idle = False

    def on_event(self, timestamp: int, output: WatermarkOutput) -> None:
        self.events_since_check += 1
        if self.idle:
            self.idle = False
            output.mark_active()
        self.inner.on_event(timestamp, output)

    def on_periodic_emit(self, output: WatermarkOutput, now: int) -> None:
        if self.events_since_check or self.last_activity is None:
            self.events_since_check = 0
            self.last_activity = now
        if not self.idle and now - self.last_activity >= self.idle_timeout_ms:
            self.idle = True
            output.mark_idle()
        if not self.idle:
            self.inner.on_periodic_emit(output, now)


class WatermarkStrategy:
    """How to assign timestamps and generate watermarks (PyFlink's factory methods)."""

    def __init__(self, generator_factory: Callable[[], WatermarkGenerator],
                 timestamp_assigner: TimestampAssigner | None = None,
                 idle_timeout_ms: int | None = None) -> None:
        self._generator_factory = generator_factory
        self.timestamp_assigner = timestamp_assigner
        self.idle_timeout_ms = idle_timeout_ms

    @property
    def leaves_records_alone(self) -> bool:
        """no_watermarks() without a timestamp assigner or idleness: records keep their
        timestamps and no watermark is ever generated between them."""
        return (self._generator_factory is NoWatermarksGenerator and self.timestamp_assigner is None
                and not self.idle_timeout_ms)

    @staticmethod
    def for_monotonous_timestamps() -> WatermarkStrategy:
        return WatermarkStrategy(lambda: BoundedOutOfOrdernessGenerator(0))

    @staticmethod
    def for_bounded_out_of_orderness(max_out_of_orderness: Duration) -> WatermarkStrategy:
        millis = to_millis(max_out_of_orderness, "for_bounded_out_of_orderness")
        if millis < 0:
            raise InvalidProgramError("for_bounded_out_of_orderness needs a non-negative Duration")
        return WatermarkStrategy(lambda: BoundedOutOfOrdernessGenerator(millis))

    @staticmethod
    def no_watermarks() -> WatermarkStrategy:
        return WatermarkStrategy(NoWatermarksGenerator)

    def with_timestamp_assigner(self, timestamp_assigner: TimestampAssigner | Callable[..., int]) -> WatermarkStrategy:
        if not isinstance(timestamp_assigner, TimestampAssigner):
            if not callable(timestamp_assigner):
                raise InvalidProgramError("with_timestamp_assigner takes a TimestampAssigner or a function "
                                          "(value, record_timestamp) -> int")
            timestamp_assigner = _CallableTimestampAssigner(timestamp_assigner)
        return WatermarkStrategy(self._generator_factory, timestamp_assigner, self.idle_timeout_ms)

    def with_idleness(self, idle_timeout: Duration) -> WatermarkStrategy:
        millis = to_millis(idle_timeout, "with_idleness")
        if millis <= 0:
            raise InvalidProgramError("with_idleness needs a positive Duration")
        return WatermarkStrategy(self._generator_factory, self.timestamp_assigner, millis)

    def with_watermark_alignment(self, watermark_group: str, max_allowed_watermark_drift: Duration,
                                 update_interval: Duration | None = None) -> WatermarkStrategy:
        # Single-threaded runtime: every split advances in one loop, so alignment holds trivially.
        return self

    def create_watermark_generator(self) -> WatermarkGenerator:
        generator = self._generator_factory()
        if self.idle_timeout_ms is not None:
            return IdlenessGenerator(generator, self.idle_timeout_ms)
        return generator
