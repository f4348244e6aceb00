"""Owns the operator contract and what every operator subtask is given: its `Output` (records,
side outputs, watermarks, idleness), the internal timer service (event- and processing-time
timers per key and namespace, deduplicated, fired in timestamp order), a keyed state backend,
and helpers to turn a PyFlink function's yielded results into records and side outputs.

Operators are logic objects: the executor calls them with "now" and never lets them sleep.
Records may arrive one at a time (process_element) or as an unkeyed batch in order
(process_batch, whose default is the per-record loop); both give the same results."""

from __future__ import annotations

import heapq
import itertools
from typing import Any, Callable, Iterable

from flinklite.common.record_batch import each_record
from flinklite.common.watermark_strategy import LONG_MAX, LONG_MIN
from flinklite.datastream.output_tag import OutputTag
from flinklite.datastream.time_domain import TimeDomain
from flinklite.datastream.timerservice import TimerService
from flinklite.errors import InvalidProgramError, StateAccessError
from flinklite.state.backend import KeyedStateBackend


class Output:
    """Where an operator subtask's results go. The executor fills in the routes."""

    def collect(self, value: Any, timestamp: int | None) -> None:
        raise NotImplementedError

    def collect_batch(self, values: list[Any], timestamps: list[int | None] | None) -> None:
        """Several records at once, in order (`timestamps` None: none has a timestamp). The
        same as collecting them one by one; outputs that can move a batch at once override it."""
        each_record(self.collect, values, timestamps)

    def collect_side(self, tag_id: str, value: Any, timestamp: int | None) -> None:
        raise NotImplementedError

    def emit_watermark(self, watermark: int) -> None:
        raise NotImplementedError

    def mark_idle(self) -> None:
        raise NotImplementedError

    def mark_active(self) -> None:
        raise NotImplementedError


class OperatorContext:
    """What the executor hands an operator subtask at setup."""

    def __init__(self, task_name: str, subtask_index: int, parallelism: int, max_parallelism: int,
                 output: Output, clock: Callable[[], int], state_backend: KeyedStateBackend | None) -> None:
        self.task_name = task_name
        self.subtask_index = subtask_index
        self.parallelism = parallelism
        self.max_parallelism = max_parallelism
        self.output = output
        self.clock = clock
        self.state_backend = state_backend
        self.current_watermark = LONG_MIN
        self.timers = InternalTimerService(self)
        self.batch = False  # RuntimeExecutionMode.BATCH


class InternalTimerService:
    """Timers of one operator subtask: (timestamp, key, namespace), each at most once."""

    def __init__(self, context: OperatorContext) -> None:
        self.context = context
        self._seq = itertools.count()
        self._event_heap: list[tuple[int, int, Any, Any]] = []
        self._event_set: set[tuple[int, Any, Any]] = set()
        self._proc_heap: list[tuple[int, int, Any, Any]] = []
        self._proc_set: set[tuple[int, Any, Any]] = set()

    def register_event_time_timer(self, key: Any, namespace: Any, timestamp: int) -> None:
        entry = (timestamp, key, namespace)
        if entry not in self._event_set:
            self._event_set.add(entry)
            heapq.heappush(self._event_heap, (timestamp, next(self._seq), key, namespace))

    def delete_event_time_timer(self, key: Any, namespace: Any, timestamp: int) -> None:
        self._event_set.discard((timestamp, key, namespace))

    def register_processing_time_timer(self, key: Any, namespace: Any, timestamp: int) -> None:
        entry = (timestamp, key, namespace)
        if entry not in self._proc_set:
            self._proc_set.add(entry)
            heapq.heappush(self._proc_heap, (timestamp, next(self._seq), key, namespace))

    def delete_processing_time_timer(self, key: Any, namespace: Any, timestamp: int) -> None:
        self._proc_set.discard((timestamp, key, namespace))

    def pop_event_timers(self, watermark: int) -> Iterable[tuple[int, Any, Any]]:
        """Yields due event-time timers in order; timers registered meanwhile are seen too."""
        heap = self._event_heap
        while heap and heap[0][0] <= watermark:
            timestamp, _, key, namespace = heapq.heappop(heap)
            entry = (timestamp, key, namespace)
            if entry in self._event_set:
                self._event_set.discard(entry)
                yield entry

    def pop_processing_timers(self, now: int) -> Iterable[tuple[int, Any, Any]]:
        heap = self._proc_heap
        while heap and heap[0][0] <= now:
            timestamp, _, key, namespace = heapq.heappop(heap)
            entry = (timestamp, key, namespace)
            if entry in self._proc_set:
                self._proc_set.discard(entry)
                yield entry

    def next_processing_deadline(self) -> int | None:
        heap = self._proc_heap
        while heap and (heap[0][0], heap[0][2], heap[0][3]) not in self._proc_set:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def event_timer_count(self) -> int:
        return len(self._event_set)

    def snapshot(self) -> dict[str, Any]:
        return {"event": sorted(self._event_set, key=lambda e: e[0]),
                "processing": sorted(self._proc_set, key=lambda e: e[0])}

    def restore(self, snapshot: dict[str, Any]) -> None:
        for timestamp, key, namespace in snapshot.get("event", []):
            self.register_event_time_timer(key, namespace, timestamp)
        for timestamp, key, namespace in snapshot.get("processing", []):
            self.register_processing_time_timer(key, namespace, timestamp)


class Operator:
    """An operator subtask's logic. Override what the operator needs."""

    keyed = False
    wants_periodic_watermarks = False

    def __init__(self, name: str) -> None:
        self.name = name
        self.ctx: OperatorContext = None  # type: ignore[assignment]
        self.periodic_interval_ms = 0
        self.next_periodic_at = LONG_MAX

    def start_periodic_watermarks(self, interval_ms: int, now: int) -> None:
        """The executor turns on periodic emission (interval > 0) for watermark generators."""
        self.periodic_interval_ms = interval_ms
        self.next_periodic_at = now + interval_ms if interval_ms > 0 else LONG_MAX

    def maybe_emit_periodic(self, now: int) -> None:
        """Emits when the interval has elapsed. Called between polls by the executor, and before
        each record by the generators themselves, as Flink's mailbox runs its timer between records."""
        if now >= self.next_periodic_at:
            self.next_periodic_at = now + self.periodic_interval_ms
            self.emit_periodic_watermark(now)

    def setup(self, ctx: OperatorContext) -> None:
        self.ctx = ctx

    def open(self) -> None:
        pass

    def process_element(self, value: Any, timestamp: int | None, key: Any, input_index: int) -> None:
        raise NotImplementedError

    def takes_batches(self) -> bool:
        """True when process_batch runs a batch at once and nothing this operator does depends
        on when, in processing time, each record arrives (stateless maps, filters, sinks). The
        executor sends batches only down chains of such operators, so a watermark generator,
        a window or a timer downstream of a slow function still sees records one at a time."""
        return False

    def process_batch(self, values: list[Any], timestamps: list[int | None] | None, input_index: int) -> None:
        """Unkeyed records in order, as one call (`timestamps` None: none has a timestamp). The
        same as process_element for each; stateless operators override it to run a whole batch
        through their function and hand it on with one collect_batch."""
        process = self.process_element
        each_record(lambda value, timestamp: process(value, timestamp, None, input_index), values, timestamps)

    def process_watermark(self, watermark: int) -> None:
        """The combined input watermark advanced: fire event-time timers, then forward it."""
        self.ctx.current_watermark = watermark
        if self.ctx.timers._event_heap:
            for timestamp, key, namespace in self.ctx.timers.pop_event_timers(watermark):
                if self.ctx.state_backend is not None:
                    self.ctx.state_backend.set_current_key(key)
                self.on_event_time(timestamp, key, namespace)
        self.ctx.output.emit_watermark(watermark)

    def process_idle(self, idle: bool) -> None:
        if idle:
            self.ctx.output.mark_idle()
        else:
            self.ctx.output.mark_active()

    def on_processing_time(self, now: int) -> None:
        for timestamp, key, namespace in self.ctx.timers.pop_processing_timers(now):
            if self.ctx.state_backend is not None:
                self.ctx.state_backend.set_current_key(key)
            self.on_processing_timer(timestamp, key, namespace)

    def on_event_time(self, timestamp: int, key: Any, namespace: Any) -> None:
        pass

    def on_processing_timer(self, timestamp: int, key: Any, namespace: Any) -> None:
        pass

    def emit_periodic_watermark(self, now: int) -> None:
        pass

    def end_input(self) -> None:
        pass

    def close(self) -> None:
        pass

    def prepare_snapshot_pre_barrier(self, checkpoint_id: int) -> None:
        """Flink's prepareSnapshotPreBarrier: called just before snapshot() for a checkpoint (a
        two-phase-commit sink flushes and pre-commits here)."""

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        """Every task has acknowledged checkpoint `checkpoint_id` and it is stored."""

    def snapshot(self) -> dict[str, Any]:
        """This subtask's state: keyed state by key group, timers, and operator extras."""
        state: dict[str, Any] = {"timers": self.ctx.timers.snapshot(), "watermark": self.ctx.current_watermark}
        if self.ctx.state_backend is not None:
            state["keyed"] = self.ctx.state_backend.snapshot()
        return state

    def restore(self, snapshot: dict[str, Any]) -> None:
        if self.ctx.state_backend is not None and "keyed" in snapshot:
            self.ctx.state_backend.restore(snapshot["keyed"])
        self.ctx.timers.restore(snapshot.get("timers", {}))


def emit_results(output: Output, results: Any, timestamp: int | None) -> None:
    """Sends what a PyFlink function returned or yielded: values, or (OutputTag, value) pairs
    for side outputs. None means nothing."""
    if results is None:
        return
    for item in results:
        if type(item) is tuple and len(item) == 2 and isinstance(item[0], OutputTag):
            output.collect_side(item[0].tag_id, item[1], timestamp)
        else:
            output.collect(item, timestamp)


class UserTimerService(TimerService):
    """The timer service a keyed process function sees (ctx.timer_service())."""

    def __init__(self, ctx: OperatorContext, keyed: bool) -> None:
        self._ctx = ctx
        self._keyed = keyed

    def _key(self) -> Any:
        if not self._keyed or self._ctx.state_backend is None:
            raise StateAccessError("timers can only be used on keyed streams: call key_by(...) before process()")
        return self._ctx.state_backend.get_current_key()

    def current_processing_time(self) -> int:
        return self._ctx.clock()

    def current_watermark(self) -> int:
        return self._ctx.current_watermark

    def register_processing_time_timer(self, timestamp: int) -> None:
        self._ctx.timers.register_processing_time_timer(self._key(), None, timestamp)

    def register_event_time_timer(self, timestamp: int) -> None:
        self._ctx.timers.register_event_time_timer(self._key(), None, timestamp)

    def delete_processing_time_timer(self, timestamp: int) -> None:
        self._ctx.timers.delete_processing_time_timer(self._key(), None, timestamp)

    def delete_event_time_timer(self, timestamp: int) -> None:
        self._ctx.timers.delete_event_time_timer(self._key(), None, timestamp)


__all__ = ["LONG_MAX", "LONG_MIN", "TimeDomain", "InvalidProgramError"]
