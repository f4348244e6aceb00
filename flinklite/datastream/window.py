"""Owns windows (pyflink.datastream.window): TimeWindow/CountWindow/GlobalWindow, the window
assigners (tumbling, sliding, session in event and processing time; count; global), triggers
(event time, processing time, count, purging, never, continuous) and CountEvictor. Assigners and
triggers are pure logic over a context the window operator passes in; PyFlink's user-written
Trigger subclasses work unchanged."""

from __future__ import annotations

from enum import Enum
from typing import Any, Callable, Iterable

from flinklite.common.time import to_millis
from flinklite.common.typeinfo import Types
from flinklite.datastream.state import ReducingStateDescriptor, ValueStateDescriptor
from flinklite.errors import InvalidProgramError

MAX_LONG_VALUE = 2**63 - 1
MIN_LONG_VALUE = -(2**63)


class Window:
    def max_timestamp(self) -> int:
        raise NotImplementedError


class TimeWindow(Window):
    """[start, end): start inclusive, end exclusive."""

    __slots__ = ("start", "end")

    def __init__(self, start: int, end: int) -> None:
        self.start = start
        self.end = end

    def max_timestamp(self) -> int:
        return self.end - 1

    def intersects(self, other: TimeWindow) -> bool:
        return self.start <= other.end and self.end >= other.start

    def cover(self, other: TimeWindow) -> TimeWindow:
        return TimeWindow(min(self.start, other.start), max(self.end, other.end))

    @staticmethod
    def get_window_start_with_offset(timestamp: int, offset: int, window_size: int) -> int:
        return timestamp - (timestamp - offset + window_size) % window_size

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TimeWindow) and self.start == other.start and self.end == other.end

    def __hash__(self) -> int:
        return hash((self.start, self.end))

    def __lt__(self, other: TimeWindow) -> bool:
        return (self.start, self.end) < (other.start, other.end)

    def __repr__(self) -> str:
        return f"TimeWindow(start={self.start}, end={self.end})"


class CountWindow(Window):
    __slots__ = ("id",)

    def __init__(self, id: int) -> None:
        self.id = id

    def max_timestamp(self) -> int:
        return MAX_LONG_VALUE

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CountWindow) and self.id == other.id

    def __hash__(self) -> int:
        return hash(("count", self.id))

    def __repr__(self) -> str:
        return f"CountWindow(id={self.id})"


class GlobalWindow(Window):
    _instance: GlobalWindow | None = None

    @staticmethod
    def get() -> GlobalWindow:
        if GlobalWindow._instance is None:
            GlobalWindow._instance = GlobalWindow()
        return GlobalWindow._instance

    def max_timestamp(self) -> int:
        return MAX_LONG_VALUE

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GlobalWindow)

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "GlobalWindow"


class TriggerResult(Enum):
    CONTINUE = (False, False)
    FIRE_AND_PURGE = (True, True)
    FIRE = (True, False)
    PURGE = (False, True)

    def is_fire(self) -> bool:
        return self.value[0]

    def is_purge(self) -> bool:
        return self.value[1]


class Trigger:
    """Decides when a window fires. Subclass it as in PyFlink."""

    class TriggerContext:
        def get_current_processing_time(self) -> int:
            raise NotImplementedError

        def get_current_watermark(self) -> int:
            raise NotImplementedError

        def register_processing_time_timer(self, time: int) -> None:
            raise NotImplementedError

        def register_event_time_timer(self, time: int) -> None:
            raise NotImplementedError

        def delete_processing_time_timer(self, time: int) -> None:
            raise NotImplementedError

        def delete_event_time_timer(self, time: int) -> None:
            raise NotImplementedError

        def get_partitioned_state(self, state_descriptor: Any) -> Any:
            raise NotImplementedError

    class OnMergeContext(TriggerContext):
        def merge_partitioned_state(self, state_descriptor: Any) -> None:
            raise NotImplementedError

    def on_element(self, element: Any, timestamp: int, window: Any, ctx: Trigger.TriggerContext) -> TriggerResult:
        raise NotImplementedError

    def on_processing_time(self, time: int, window: Any, ctx: Trigger.TriggerContext) -> TriggerResult:
        raise NotImplementedError

    def on_event_time(self, time: int, window: Any, ctx: Trigger.TriggerContext) -> TriggerResult:
        raise NotImplementedError

    def can_merge(self) -> bool:
        return False

    def on_merge(self, window: Any, ctx: Trigger.OnMergeContext) -> None:
        raise InvalidProgramError(f"{type(self).__name__} does not support merging windows")

    def clear(self, window: Any, ctx: Trigger.TriggerContext) -> None:
        raise NotImplementedError


class EventTimeTrigger(Trigger):
    """Fires when the watermark passes the window's end; fires at once for a late element."""

    def on_element(self, element: Any, timestamp: int, window: Any, ctx: Trigger.TriggerContext) -> TriggerResult:
        if window.max_timestamp() <= ctx.get_current_watermark():
            return TriggerResult.FIRE
        ctx.register_event_time_timer(window.max_timestamp())
        return TriggerResult.CONTINUE

    def on_event_time(self, time: int, window: Any, ctx: Trigger.TriggerContext) -> TriggerResult:
        return TriggerResult.FIRE if time == window.max_timestamp() else TriggerResult.CONTINUE

    def on_processing_time(self, time: int, window: Any, ctx: Trigger.TriggerContext) -> TriggerResult:
        return TriggerResult.CONTINUE

    def can_merge(self) -> bool:
        return True

    def on_merge(self, window: Any, ctx: Trigger.OnMergeContext) -> None:
        if window.max_timestamp() > ctx.get_current_watermark():
            ctx.register_event_time_timer(window.max_timestamp())

    def clear(self, window: Any, ctx: Trigger.TriggerContext) -> None:
        ctx.delete_event_time_timer(window.max_timestamp())

    @staticmethod
    def create() -> EventTimeTrigger:
        return EventTimeTrigger()


class ProcessingTimeTrigger(Trigger):
    def on_element(self, element: Any, timestamp: int, window: Any, ctx: Trigger.TriggerContext) -> TriggerResult:
        ctx.register_processing_time_timer(window.max_timestamp())
        return TriggerResult.CONTINUE

    def on_event_time(self, time: int, window: Any, ctx: Trigger.TriggerContext) -> TriggerResult:
        return TriggerResult.CONTINUE

    def on_processing_time(self, time: int, window: Any, ctx: Trigger.TriggerContext) -> TriggerResult:
        return TriggerResult.FIRE

    def can_merge(self) -> bool:
        return True

    def on_merge(self, window: Any, ctx: Trigger.OnMergeContext) -> None:
        if window.max_timestamp() > ctx.get_current_processing_time():
            ctx.register_processing_time_timer(window.max_timestamp())

    def clear(self, window: Any, ctx: Trigger.TriggerContext) -> None:
        ctx.delete_processing_time_timer(window.max_timestamp())

    @staticmethod
    def create() -> ProcessingTimeTrigger:
        return ProcessingTimeTrigger()


class CountTrigger(Trigger):
    """Fires (without purging) each time the pane has collected `window_size` more elements."""

    def __init__(self, window_size: int) -> None:
        self._window_size = window_size
        self._count = ReducingStateDescriptor("count", lambda a, b: a + b, Types.LONG())

    @staticmethod
    def of(window_size: int) -> CountTrigger:
        return CountTrigger(window_size)

    def on_element(self, element: Any, timestamp: int, window: Any, ctx: Trigger.TriggerContext) -> TriggerResult:
        count = ctx.get_partitioned_state(self._count)
        count.add(1)
        if count.get() >= self._window_size:
            count.clear()
            return TriggerResult.FIRE
        return TriggerResult.CONTINUE

    def on_event_time(self, time: int, window: Any, ctx: Trigger.TriggerContext) -> TriggerResult:
        return TriggerResult.CONTINUE

    def on_processing_time(self, time: int, window: Any, ctx: Trigger.TriggerContext) -> TriggerResult:
        return TriggerResult.CONTINUE

    def can_merge(self) -> bool:
        return True

    def on_merge(self, window: Any, ctx: Trigger.OnMergeContext) -> None:
        ctx.merge_partitioned_state(self._count)

    def clear(self, window: Any, ctx: Trigger.TriggerContext) -> None:
        ctx.get_partitioned_state(self._count).clear()


class PurgingTrigger(Trigger):
    """Turns every FIRE of the nested trigger into FIRE_AND_PURGE."""

    def __init__(self, nested_trigger: Trigger) -> None:
        self._nested = nested_trigger

    @staticmethod
    def of(nested_trigger: Trigger) -> PurgingTrigger:
        return PurgingTrigger(nested_trigger)

    @staticmethod
    def _purging(result: TriggerResult) -> TriggerResult:
        return TriggerResult.FIRE_AND_PURGE if result.is_fire() else result

    def on_element(self, element: Any, timestamp: int, window: Any, ctx: Trigger.TriggerContext) -> TriggerResult:
        return self._purging(self._nested.on_element(element, timestamp, window, ctx))

    def on_event_time(self, time: int, window: Any, ctx: Trigger.TriggerContext) -> TriggerResult:
        return self._purging(self._nested.on_event_time(time, window, ctx))

    def on_processing_time(self, time: int, window: Any, ctx: Trigger.TriggerContext) -> TriggerResult:
        return self._purging(self._nested.on_processing_time(time, window, ctx))

    def can_merge(self) -> bool:
        return self._nested.can_merge()

    def on_merge(self, window: Any, ctx: Trigger.OnMergeContext) -> None:
        self._nested.on_merge(window, ctx)

    def clear(self, window: Any, ctx: Trigger.TriggerContext) -> None:
        self._nested.clear(window, ctx)


class NeverTrigger(Trigger):
    def on_element(self, element: Any, timestamp: int, window: Any, ctx: Trigger.TriggerContext) -> TriggerResult:
        return TriggerResult.CONTINUE

    def on_event_time(self, time: int, window: Any, ctx: Trigger.TriggerContext) -> TriggerResult:
        return TriggerResult.CONTINUE

    def on_processing_time(self, time: int, window: Any, ctx: Trigger.TriggerContext) -> TriggerResult:
        return TriggerResult.CONTINUE

    def can_merge(self) -> bool:
        return True

    def on_merge(self, window: Any, ctx: Trigger.OnMergeContext) -> None:
        pass

    def clear(self, window: Any, ctx: Trigger.TriggerContext) -> None:
        pass


class ContinuousEventTimeTrigger(Trigger):
    """Fires every `interval` of event time and at the window's end."""

    def __init__(self, interval_ms: int) -> None:
        self.interval = interval_ms
        self._fire_time = ValueStateDescriptor("fire-time", Types.LONG())

    @staticmethod
    def of(interval: Any) -> ContinuousEventTimeTrigger:
        return ContinuousEventTimeTrigger(to_millis(interval, "ContinuousEventTimeTrigger.of"))

    def on_element(self, element: Any, timestamp: int, window: Any, ctx: Trigger.TriggerContext) -> TriggerResult:
        if window.max_timestamp() <= ctx.get_current_watermark():
            return TriggerResult.FIRE
        ctx.register_event_time_timer(window.max_timestamp())
        fire_time = ctx.get_partitioned_state(self._fire_time)
        if fire_time.value() is None:
            start = timestamp - (timestamp % self.interval)
            next_fire = min(start + self.interval, window.max_timestamp())
            ctx.register_event_time_timer(next_fire)
            fire_time.update(next_fire)
        return TriggerResult.CONTINUE

    def on_event_time(self, time: int, window: Any, ctx: Trigger.TriggerContext) -> TriggerResult:
        if time == window.max_timestamp():
            return TriggerResult.FIRE
        fire_time = ctx.get_partitioned_state(self._fire_time)
        if fire_time.value() == time:
            next_fire = min(time + self.interval, window.max_timestamp())
            fire_time.update(next_fire)
            ctx.register_event_time_timer(next_fire)
            return TriggerResult.FIRE
        return TriggerResult.CONTINUE

    def on_processing_time(self, time: int, window: Any, ctx: Trigger.TriggerContext) -> TriggerResult:
        return TriggerResult.CONTINUE

    def clear(self, window: Any, ctx: Trigger.TriggerContext) -> None:
        fire_time = ctx.get_partitioned_state(self._fire_time)
        if fire_time.value() is not None:
            ctx.delete_event_time_timer(fire_time.value())
            fire_time.clear()


class ContinuousProcessingTimeTrigger(Trigger):
    """Fires every `interval` of processing time."""

    def __init__(self, interval_ms: int) -> None:
        self.interval = interval_ms
        self._fire_time = ValueStateDescriptor("fire-time", Types.LONG())

    @staticmethod
    def of(interval: Any) -> ContinuousProcessingTimeTrigger:
        return ContinuousProcessingTimeTrigger(to_millis(interval, "ContinuousProcessingTimeTrigger.of"))

    def on_element(self, element: Any, timestamp: int, window: Any, ctx: Trigger.TriggerContext) -> TriggerResult:
        fire_time = ctx.get_partitioned_state(self._fire_time)
        if fire_time.value() is None:
            now = ctx.get_current_processing_time()
            next_fire = now - (now % self.interval) + self.interval
            ctx.register_processing_time_timer(next_fire)
            fire_time.update(next_fire)
        return TriggerResult.CONTINUE

    def on_event_time(self, time: int, window: Any, ctx: Trigger.TriggerContext) -> TriggerResult:
        return TriggerResult.CONTINUE

    def on_processing_time(self, time: int, window: Any, ctx: Trigger.TriggerContext) -> TriggerResult:
        fire_time = ctx.get_partitioned_state(self._fire_time)
        if fire_time.value() == time:
            fire_time.update(time + self.interval)
            ctx.register_processing_time_timer(time + self.interval)
            return TriggerResult.FIRE
        return TriggerResult.CONTINUE

    def clear(self, window: Any, ctx: Trigger.TriggerContext) -> None:
        fire_time = ctx.get_partitioned_state(self._fire_time)
        if fire_time.value() is not None:
            ctx.delete_processing_time_timer(fire_time.value())
            fire_time.clear()


class CountEvictor:
    """Keeps only the last `max_count` elements of a pane before the window function sees it."""

    def __init__(self, max_count: int) -> None:
        self.max_count = max_count

    @staticmethod
    def of(max_count: int) -> CountEvictor:
        return CountEvictor(max_count)

    def evict_before(self, elements: list[Any]) -> list[Any]:
        return elements[-self.max_count:] if len(elements) > self.max_count else elements


# -- assigners --------------------------------------------------------------------------------

class WindowAssigner:
    class WindowAssignerContext:
        def get_current_processing_time(self) -> int:
            raise NotImplementedError

        def get_runtime_context(self) -> Any:
            raise NotImplementedError

    def assign_windows(self, element: Any, timestamp: int | None, context: Any) -> list[Any]:
        raise NotImplementedError

    def get_default_trigger(self, env: Any = None) -> Trigger:
        raise NotImplementedError

    def is_event_time(self) -> bool:
        raise NotImplementedError

    def is_merging(self) -> bool:
        return False


class MergingWindowAssigner(WindowAssigner):
    def is_merging(self) -> bool:
        return True

    def merge_windows(self, windows: Iterable[TimeWindow], callback: Callable[[list[TimeWindow], TimeWindow], None]) -> None:
        """Calls callback(merged_windows, result) for every group of overlapping windows."""
        ordered = sorted(windows, key=lambda w: w.start)
        groups: list[tuple[TimeWindow, list[TimeWindow]]] = []
        for window in ordered:
            if groups and groups[-1][0].intersects(window):
                groups[-1] = (groups[-1][0].cover(window), groups[-1][1] + [window])
            else:
                groups.append((window, [window]))
        for result, members in groups:
            if len(members) > 1:
                callback(members, result)


def _no_timestamp_error() -> InvalidProgramError:
    return InvalidProgramError(
        "Record has no timestamp (Long.MIN_VALUE). Is the time characteristic set to 'ProcessingTime', "
        "or did you forget to call 'data_stream.assign_timestamps_and_watermarks(...)'?")


class TumblingEventTimeWindows(WindowAssigner):
    def __init__(self, size: int, offset: int = 0) -> None:
        if size <= 0 or abs(offset) >= size:
            raise InvalidProgramError("TumblingEventTimeWindows needs size > 0 and |offset| < size")
        self._size = size
        self._offset = offset

    @staticmethod
    def of(size: Any, offset: Any = None) -> TumblingEventTimeWindows:
        return TumblingEventTimeWindows(to_millis(size, "TumblingEventTimeWindows.of"),
                                        0 if offset is None else to_millis(offset, "offset"))

    def assign_windows(self, element: Any, timestamp: int | None, context: Any) -> list[Any]:
        if timestamp is None:
            raise _no_timestamp_error()
        start = TimeWindow.get_window_start_with_offset(timestamp, self._offset, self._size)
        return [TimeWindow(start, start + self._size)]

    def get_default_trigger(self, env: Any = None) -> Trigger:
        return EventTimeTrigger()

    def is_event_time(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"TumblingEventTimeWindows({self._size}, {self._offset})"


class TumblingProcessingTimeWindows(WindowAssigner):
    def __init__(self, size: int, offset: int = 0) -> None:
        if size <= 0 or abs(offset) >= size:
            raise InvalidProgramError("TumblingProcessingTimeWindows needs size > 0 and |offset| < size")
        self._size = size
        self._offset = offset

    @staticmethod
    def of(size: Any, offset: Any = None) -> TumblingProcessingTimeWindows:
        return TumblingProcessingTimeWindows(to_millis(size, "TumblingProcessingTimeWindows.of"),
                                             0 if offset is None else to_millis(offset, "offset"))

    def assign_windows(self, element: Any, timestamp: int | None, context: Any) -> list[Any]:
        now = context.get_current_processing_time()
        start = TimeWindow.get_window_start_with_offset(now, self._offset, self._size)
        return [TimeWindow(start, start + self._size)]

    def get_default_trigger(self, env: Any = None) -> Trigger:
        return ProcessingTimeTrigger()

    def is_event_time(self) -> bool:
        return False


class SlidingEventTimeWindows(WindowAssigner):
    def __init__(self, size: int, slide: int, offset: int = 0) -> None:
        if size <= 0 or slide <= 0 or abs(offset) >= slide:
            raise InvalidProgramError("SlidingEventTimeWindows needs size > 0, slide > 0 and |offset| < slide")
        self._size = size
        self._slide = slide
        self._offset = offset

    @staticmethod
    def of(size: Any, slide: Any, offset: Any = None) -> SlidingEventTimeWindows:
        return SlidingEventTimeWindows(to_millis(size, "SlidingEventTimeWindows.of"), to_millis(slide, "slide"),
                                       0 if offset is None else to_millis(offset, "offset"))

    def assign_windows(self, element: Any, timestamp: int | None, context: Any) -> list[Any]:
        if timestamp is None:
            raise _no_timestamp_error()
        last_start = TimeWindow.get_window_start_with_offset(timestamp, self._offset, self._slide)
        return [TimeWindow(start, start + self._size) for start in range(last_start, timestamp - self._size, -self._slide)]

    def get_default_trigger(self, env: Any = None) -> Trigger:
        return EventTimeTrigger()

    def is_event_time(self) -> bool:
        return True


class SlidingProcessingTimeWindows(WindowAssigner):
    def __init__(self, size: int, slide: int, offset: int = 0) -> None:
        if size <= 0 or slide <= 0 or abs(offset) >= slide:
            raise InvalidProgramError("SlidingProcessingTimeWindows needs size > 0, slide > 0 and |offset| < slide")
        self._size = size
        self._slide = slide
        self._offset = offset

    @staticmethod
    def of(size: Any, slide: Any, offset: Any = None) -> SlidingProcessingTimeWindows:
        return SlidingProcessingTimeWindows(to_millis(size, "SlidingProcessingTimeWindows.of"),
                                            to_millis(slide, "slide"), 0 if offset is None else to_millis(offset, "offset"))

    def assign_windows(self, element: Any, timestamp: int | None, context: Any) -> list[Any]:
        now = context.get_current_processing_time()
        last_start = TimeWindow.get_window_start_with_offset(now, self._offset, self._slide)
        return [TimeWindow(start, start + self._size) for start in range(last_start, now - self._size, -self._slide)]

    def get_default_trigger(self, env: Any = None) -> Trigger:
        return ProcessingTimeTrigger()

    def is_event_time(self) -> bool:
        return False


class EventTimeSessionWindows(MergingWindowAssigner):
    def __init__(self, gap: int) -> None:
        if gap <= 0:
            raise InvalidProgramError("EventTimeSessionWindows needs a gap > 0")
        self._gap = gap

    @staticmethod
    def with_gap(size: Any) -> EventTimeSessionWindows:
        return EventTimeSessionWindows(to_millis(size, "EventTimeSessionWindows.with_gap"))

    @staticmethod
    def with_dynamic_gap(extractor: Any) -> DynamicEventTimeSessionWindows:
        return DynamicEventTimeSessionWindows(extractor)

    def assign_windows(self, element: Any, timestamp: int | None, context: Any) -> list[Any]:
        if timestamp is None:
            raise _no_timestamp_error()
        return [TimeWindow(timestamp, timestamp + self._gap)]

    def get_default_trigger(self, env: Any = None) -> Trigger:
        return EventTimeTrigger()

    def is_event_time(self) -> bool:
        return True


class DynamicEventTimeSessionWindows(MergingWindowAssigner):
    def __init__(self, extractor: Any) -> None:
        self._extract = extractor.extract if hasattr(extractor, "extract") else extractor

    def assign_windows(self, element: Any, timestamp: int | None, context: Any) -> list[Any]:
        if timestamp is None:
            raise _no_timestamp_error()
        return [TimeWindow(timestamp, timestamp + self._extract(element))]

    def get_default_trigger(self, env: Any = None) -> Trigger:
        return EventTimeTrigger()

    def is_event_time(self) -> bool:
        return True


class ProcessingTimeSessionWindows(MergingWindowAssigner):
    def __init__(self, gap: int) -> None:
        if gap <= 0:
            raise InvalidProgramError("ProcessingTimeSessionWindows needs a gap > 0")
        self._gap = gap

    @staticmethod
    def with_gap(size: Any) -> ProcessingTimeSessionWindows:
        return ProcessingTimeSessionWindows(to_millis(size, "ProcessingTimeSessionWindows.with_gap"))

    def assign_windows(self, element: Any, timestamp: int | None, context: Any) -> list[Any]:
        now = context.get_current_processing_time()
        return [TimeWindow(now, now + self._gap)]

    def get_default_trigger(self, env: Any = None) -> Trigger:
        return ProcessingTimeTrigger()

    def is_event_time(self) -> bool:
        return False


class SessionWindowTimeGapExtractor:
    def extract(self, element: Any) -> int:
        raise NotImplementedError


class CountTumblingWindowAssigner(WindowAssigner):
    """Window n holds elements n*size .. n*size+size-1 of a key (PyFlink's count_window)."""

    def __init__(self, window_size: int) -> None:
        if window_size <= 0:
            raise InvalidProgramError("count_window needs a size > 0")
        self._window_size = window_size
        self._count = ValueStateDescriptor("tumble-count-assigner", Types.LONG())

    @staticmethod
    def of(window_size: int) -> CountTumblingWindowAssigner:
        return CountTumblingWindowAssigner(window_size)

    def assign_windows(self, element: Any, timestamp: int | None, context: Any) -> list[Any]:
        state = context.get_runtime_context().get_state(self._count)
        current = state.value() or 0
        state.update(current + 1)
        return [CountWindow(current // self._window_size)]

    def get_default_trigger(self, env: Any = None) -> Trigger:
        return CountTrigger(self._window_size)

    def is_event_time(self) -> bool:
        return False


class CountSlidingWindowAssigner(WindowAssigner):
    """Overlapping count windows: window n starts at element n*slide and holds `size` elements."""

    def __init__(self, window_size: int, window_slide: int) -> None:
        if window_size <= 0 or window_slide <= 0:
            raise InvalidProgramError("count_window needs size > 0 and slide > 0")
        self._window_size = window_size
        self._window_slide = window_slide
        self._count = ValueStateDescriptor("slide-count-assigner", Types.LONG())

    @staticmethod
    def of(window_size: int, window_slide: int) -> CountSlidingWindowAssigner:
        return CountSlidingWindowAssigner(window_size, window_slide)

    def assign_windows(self, element: Any, timestamp: int | None, context: Any) -> list[Any]:
        state = context.get_runtime_context().get_state(self._count)
        current = state.value() or 0
        state.update(current + 1)
        window_id = current // self._window_slide
        windows = []
        while window_id >= 0:
            start = window_id * self._window_slide
            if not (start <= current <= start + self._window_size - 1):
                break
            windows.append(CountWindow(window_id))
            window_id -= 1
        return windows

    def get_default_trigger(self, env: Any = None) -> Trigger:
        return CountTrigger(self._window_size)

    def is_event_time(self) -> bool:
        return False


class GlobalWindows(WindowAssigner):
    """One window per key that never ends; it only fires through a custom trigger."""

    @staticmethod
    def create() -> GlobalWindows:
        return GlobalWindows()

    def assign_windows(self, element: Any, timestamp: int | None, context: Any) -> list[Any]:
        return [GlobalWindow.get()]

    def get_default_trigger(self, env: Any = None) -> Trigger:
        return NeverTrigger()

    def is_event_time(self) -> bool:
        return False
