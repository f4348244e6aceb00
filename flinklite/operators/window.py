"""Owns the window operator: per key, assigns each element to windows, keeps each window's
contents in keyed state (namespace = the window), asks the trigger when to fire, merges
session windows, handles allowed lateness (late elements within it re-fire the window with all
its contents; beyond it they go to the late-data side output or are dropped) and cleans a
window's state once the watermark (or, in processing time, the clock) passes
end + allowed lateness. Contents are a running reduce value, an aggregate accumulator, or the
element list (process/apply), optionally cut by an evictor before the function sees them."""

from __future__ import annotations

from typing import Any, Callable

from flinklite.common.watermark_strategy import LONG_MAX
from flinklite.datastream.functions import (AggregateFunction, KeyedStateStore, ProcessWindowFunction,
                                            WindowFunction)
from flinklite.datastream.state import (AggregatingStateDescriptor, ListStateDescriptor, ReducingStateDescriptor,
                                        StateDescriptor, ValueStateDescriptor)
from flinklite.datastream.window import (CountEvictor, GlobalWindow, MergingWindowAssigner, Trigger,
                                         TriggerResult, WindowAssigner)
from flinklite.errors import InvalidProgramError
from flinklite.operators.base import Operator, emit_results
from flinklite.operators.functions import StreamingRuntimeContext

CONTENTS = "_window_contents"
SESSIONS = "_merging_windows"


class WindowContents:
    """How a window's contents grow and merge: reduce, aggregate or list."""

    def __init__(self, kind: str, reduce: Callable[[Any, Any], Any] | None = None,
                 aggregate: AggregateFunction | None = None, reduce_source: Any = None) -> None:
        self.kind = kind
        self.reduce = reduce
        self.aggregate = aggregate
        self.reduce_source = reduce_source  # the user's ReduceFunction (or callable) behind `reduce`

    def add(self, current: Any, value: Any) -> Any:
        if self.kind == "reduce":
            assert self.reduce is not None
            return value if current is None else self.reduce(current, value)
        if self.kind == "aggregate":
            assert self.aggregate is not None
            accumulator = self.aggregate.create_accumulator() if current is None else current
            return self.aggregate.add(value, accumulator)
        if current is None:
            return [value]
        current.append(value)
        return current

    def merge(self, a: Any, b: Any) -> Any:
        if a is None:
            return b
        if b is None:
            return a
        if self.kind == "reduce":
            assert self.reduce is not None
            return self.reduce(a, b)
        if self.kind == "aggregate":
            assert self.aggregate is not None
            return self.aggregate.merge(a, b)
        return a + b

    def elements(self, contents: Any) -> list[Any]:
        """What the window function receives."""
        if self.kind == "reduce":
            return [contents]
        if self.kind == "aggregate":
            assert self.aggregate is not None
            return [self.aggregate.get_result(contents)]
        return list(contents)


class _NamespacedStateStore(KeyedStateStore):
    def __init__(self, operator: WindowOperator, window: Any) -> None:
        self._operator = operator
        self._window = window

    def _get(self, descriptor: StateDescriptor) -> Any:
        backend = self._operator.ctx.state_backend
        assert backend is not None
        handle = backend.get_state(descriptor, self._operator.ctx.clock)
        handle.set_current_namespace(self._window)
        return handle

    def get_state(self, state_descriptor: Any) -> Any:
        return self._get(state_descriptor)

    def get_list_state(self, state_descriptor: Any) -> Any:
        return self._get(state_descriptor)

    def get_map_state(self, state_descriptor: Any) -> Any:
        return self._get(state_descriptor)

    def get_reducing_state(self, state_descriptor: Any) -> Any:
        return self._get(state_descriptor)

    def get_aggregating_state(self, state_descriptor: Any) -> Any:
        return self._get(state_descriptor)


class _WindowContext(Trigger.OnMergeContext, ProcessWindowFunction.Context):
    """The trigger's context and the process window function's context, for the current
    key and window (one object per operator subtask, retargeted per call)."""

    def __init__(self, operator: WindowOperator) -> None:
        self.operator = operator
        self.current_window: Any = None
        self.merged_windows: list[Any] = []

    # Trigger.TriggerContext
    def get_current_processing_time(self) -> int:
        return self.operator.ctx.clock()

    def get_current_watermark(self) -> int:
        return self.operator.ctx.current_watermark

    def _key(self) -> Any:
        backend = self.operator.ctx.state_backend
        assert backend is not None
        return backend.get_current_key()

    def register_processing_time_timer(self, time: int) -> None:
        self.operator.ctx.timers.register_processing_time_timer(self._key(), self.current_window, time)

    def register_event_time_timer(self, time: int) -> None:
        self.operator.ctx.timers.register_event_time_timer(self._key(), self.current_window, time)

    def delete_processing_time_timer(self, time: int) -> None:
        self.operator.ctx.timers.delete_processing_time_timer(self._key(), self.current_window, time)

    def delete_event_time_timer(self, time: int) -> None:
        self.operator.ctx.timers.delete_event_time_timer(self._key(), self.current_window, time)

    def get_partitioned_state(self, state_descriptor: Any) -> Any:
        return _NamespacedStateStore(self.operator, self.current_window)._get(state_descriptor)

    def merge_partitioned_state(self, state_descriptor: Any) -> None:
        backend = self.operator.ctx.state_backend
        assert backend is not None
        handle = backend.get_state(state_descriptor, self.operator.ctx.clock)
        for merged in self.merged_windows:
            handle.set_current_namespace(merged)
            if isinstance(state_descriptor, ListStateDescriptor):
                values: Any = list(handle.get())
            elif isinstance(state_descriptor, AggregatingStateDescriptor):
                values = backend.get(state_descriptor.name, merged)
            else:
                values = handle.get()
            handle.clear()
            if values is None or values == []:
                continue
            handle.set_current_namespace(self.current_window)
            if isinstance(state_descriptor, ReducingStateDescriptor):
                handle.add(values)
            elif isinstance(state_descriptor, ListStateDescriptor):
                handle.add_all(values)
            elif isinstance(state_descriptor, AggregatingStateDescriptor):
                current = backend.get(state_descriptor.name, self.current_window)
                merged_acc = values if current is None else state_descriptor.agg_function.merge(current, values)
                backend.put(state_descriptor.name, self.current_window, merged_acc)
            elif isinstance(state_descriptor, ValueStateDescriptor):
                raise InvalidProgramError("ValueState cannot be merged; use ReducingState in a merging trigger")

    # ProcessWindowFunction.Context
    def window(self) -> Any:
        return self.current_window

    def current_processing_time(self) -> int:
        return self.operator.ctx.clock()

    def current_watermark(self) -> int:
        return self.operator.ctx.current_watermark

    def window_state(self) -> KeyedStateStore:
        return _NamespacedStateStore(self.operator, self.current_window)

    def global_state(self) -> KeyedStateStore:
        return _NamespacedStateStore(self.operator, None)

    def output(self, output_tag: Any, value: Any) -> None:
        self.operator.ctx.output.collect_side(output_tag.tag_id, value, self.current_window.max_timestamp())


def _call_window_function(function: Any) -> Callable[[Any, _WindowContext, list[Any]], Any]:
    if function is None:
        return lambda key, ctx, elements: elements
    if isinstance(function, ProcessWindowFunction):
        return lambda key, ctx, elements: function.process(key, ctx, elements)
    if isinstance(function, WindowFunction):
        return lambda key, ctx, elements: function.apply(key, ctx.current_window, elements)
    raise InvalidProgramError(f"a window function must be a ProcessWindowFunction or WindowFunction, not {function!r}")


class WindowOperator(Operator):
    keyed = True

    def __init__(self, name: str, assigner: WindowAssigner, trigger: Trigger, contents: WindowContents,
                 window_function: Any, allowed_lateness: int, late_tag: str | None,
                 evictor: CountEvictor | None, user_functions: list[Any]) -> None:
        super().__init__(name)
        self.assigner = assigner
        self.trigger = trigger
        self.contents = contents
        self.window_function = window_function
        self.call_window_function = _call_window_function(window_function)
        self.allowed_lateness = allowed_lateness
        self.late_tag = late_tag
        self.evictor = evictor
        self.user_functions = user_functions
        self.merging = isinstance(assigner, MergingWindowAssigner)
        self.event_time = assigner.is_event_time()
        self.dropped_late = 0

    def open(self) -> None:
        self.wctx = _WindowContext(self)
        runtime_context = StreamingRuntimeContext(self.ctx)
        for function in self.user_functions:
            if hasattr(function, "open"):
                function.open(runtime_context)
        operator = self

        class _AssignerContext(WindowAssigner.WindowAssignerContext):
            def get_current_processing_time(self) -> int:
                return operator.ctx.clock()

            def get_runtime_context(self) -> Any:
                return runtime_context

        self.assigner_context = _AssignerContext()

    def close(self) -> None:
        for function in self.user_functions:
            if hasattr(function, "close"):
                function.close()

    # -- helpers ----------------------------------------------------------------------------
    def _cleanup_time(self, window: Any) -> int:
        if self.event_time:
            cleanup = window.max_timestamp() + self.allowed_lateness
            return cleanup if cleanup >= window.max_timestamp() else LONG_MAX
        return int(window.max_timestamp())

    def _is_window_late(self, window: Any) -> bool:
        return self.event_time and self._cleanup_time(window) <= self.ctx.current_watermark

    def _register_cleanup_timer(self, window: Any) -> None:
        cleanup = self._cleanup_time(window)
        if cleanup == LONG_MAX:
            return
        self.wctx.current_window = window
        if self.event_time:
            self.wctx.register_event_time_timer(cleanup)
        else:
            self.wctx.register_processing_time_timer(cleanup)

    def _delete_cleanup_timer(self, window: Any) -> None:
        cleanup = self._cleanup_time(window)
        if cleanup == LONG_MAX:
            return
        self.wctx.current_window = window
        if self.event_time:
            self.wctx.delete_event_time_timer(cleanup)
        else:
            self.wctx.delete_processing_time_timer(cleanup)

    def _fire(self, key: Any, window: Any, contents: Any) -> None:
        elements = self.contents.elements(contents)
        if self.evictor is not None:
            elements = self.evictor.evict_before(elements)
        self.wctx.current_window = window
        emit_results(self.ctx.output, self.call_window_function(key, self.wctx, elements), window.max_timestamp())

    def _clear_all_state(self, window: Any, sessions: list[Any] | None) -> None:
        backend = self.ctx.state_backend
        assert backend is not None
        backend.remove(CONTENTS, window)
        self.wctx.current_window = window
        self.trigger.clear(window, self.wctx)
        if isinstance(self.window_function, ProcessWindowFunction):
            self.window_function.clear(self.wctx)
        if sessions is not None and window in sessions:
            sessions.remove(window)

    def _merge_into(self, sessions: list[Any], new_window: Any) -> Any:
        """Adds new_window to the key's session windows, merging overlapping ones (contents,
        trigger state, cleanup timers); returns the window the new element belongs to."""
        backend = self.ctx.state_backend
        assert backend is not None and isinstance(self.assigner, MergingWindowAssigner)
        if new_window in sessions:
            return new_window
        result = new_window

        def on_merge(members: list[Any], merged: Any) -> None:
            nonlocal result
            if new_window in members:
                result = merged
            old = [m for m in members if m in sessions]
            if old == [merged]:
                return  # the new window fell inside an existing one: nothing moves
            combined = None
            for member in old:
                combined = self.contents.merge(combined, backend.get(CONTENTS, member))
                backend.remove(CONTENTS, member)
            if combined is not None:
                backend.put(CONTENTS, merged, combined)
            others = [m for m in old if m != merged]
            self.wctx.current_window = merged
            self.wctx.merged_windows = others
            self.trigger.on_merge(merged, self.wctx)
            for member in others:
                self.wctx.current_window = member
                self.trigger.clear(member, self.wctx)
                self._delete_cleanup_timer(member)
            for member in old:
                sessions.remove(member)
            sessions.append(merged)

        self.assigner.merge_windows(sessions + [new_window], on_merge)
        if result == new_window and new_window not in sessions:
            sessions.append(new_window)
        return result

    # -- elements and timers ----------------------------------------------------------------
    def process_element(self, value: Any, timestamp: int | None, key: Any, input_index: int) -> None:
        backend = self.ctx.state_backend
        assert backend is not None
        backend.set_current_key(key)
        windows = self.assigner.assign_windows(value, timestamp, self.assigner_context)
        skipped = True
        sessions: list[Any] | None = None
        if self.merging:
            sessions = list(backend.get(SESSIONS, None) or [])
        for window in windows:
            if sessions is not None:
                window = self._merge_into(sessions, window)
                if self._is_window_late(window):
                    sessions.remove(window)
                    backend.remove(CONTENTS, window)
                    continue
            elif self._is_window_late(window):
                continue
            skipped = False
            contents = self.contents.add(backend.get(CONTENTS, window), value)
            backend.put(CONTENTS, window, contents)
            self.wctx.current_window = window
            result = self.trigger.on_element(value, timestamp, window, self.wctx)  # type: ignore[arg-type]
            if result.is_fire():
                self._fire(key, window, contents)
            if result.is_purge():
                backend.remove(CONTENTS, window)
            self._register_cleanup_timer(window)
        if sessions is not None:
            if sessions:
                backend.put(SESSIONS, None, sessions)
            else:
                backend.remove(SESSIONS, None)
        if skipped and self.event_time and timestamp is not None and \
                timestamp + self.allowed_lateness <= self.ctx.current_watermark:
            if self.late_tag is not None:
                self.ctx.output.collect_side(self.late_tag, value, timestamp)
            else:
                self.dropped_late += 1

    def _on_timer(self, timestamp: int, key: Any, window: Any, event_time: bool) -> None:
        backend = self.ctx.state_backend
        assert backend is not None
        sessions: list[Any] | None = None
        if self.merging:
            sessions = list(backend.get(SESSIONS, None) or [])
            if window not in sessions:
                return
        self.wctx.current_window = window
        contents = backend.get(CONTENTS, window)
        if event_time:
            result = self.trigger.on_event_time(timestamp, window, self.wctx)
        else:
            result = self.trigger.on_processing_time(timestamp, window, self.wctx)
        if result.is_fire() and contents is not None:
            self._fire(key, window, contents)
        if result.is_purge():
            backend.remove(CONTENTS, window)
        if event_time == self.event_time and timestamp == self._cleanup_time(window):
            self._clear_all_state(window, sessions)
        if sessions is not None:
            if sessions:
                backend.put(SESSIONS, None, sessions)
            else:
                backend.remove(SESSIONS, None)

    def on_event_time(self, timestamp: int, key: Any, namespace: Any) -> None:
        self._on_timer(timestamp, key, namespace, True)

    def on_processing_timer(self, timestamp: int, key: Any, namespace: Any) -> None:
        self._on_timer(timestamp, key, namespace, False)


__all__ = ["WindowOperator", "WindowContents", "TriggerResult", "GlobalWindow"]
