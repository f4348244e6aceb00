"""Owns the record-at-a-time operators: map, flat_map, filter, keyed reduce, process
(ProcessFunction / KeyedProcessFunction with state and timers), the two-input co-operators
(CoMap, CoFlatMap, CoProcess, KeyedCoProcess), and the runtime context user functions get."""

from __future__ import annotations

import copy
from typing import Any, Callable

from flinklite.datastream.functions import (CoFlatMapFunction, CoMapFunction, CoProcessFunction, Function,
                                            KeyedCoProcessFunction, KeyedProcessFunction, ProcessFunction,
                                            RuntimeContext)
from flinklite.datastream.state import StateDescriptor, ValueStateDescriptor
from flinklite.datastream.time_domain import TimeDomain
from flinklite.errors import InvalidProgramError, StateAccessError
from flinklite.operators.base import Operator, OperatorContext, UserTimerService, emit_results


class StreamingRuntimeContext(RuntimeContext):
    def __init__(self, ctx: OperatorContext) -> None:
        self._ctx = ctx

    def get_task_name(self) -> str:
        return self._ctx.task_name

    def get_number_of_parallel_subtasks(self) -> int:
        return self._ctx.parallelism

    def get_max_number_of_parallel_subtasks(self) -> int:
        return self._ctx.max_parallelism

    def get_index_of_this_subtask(self) -> int:
        return self._ctx.subtask_index

    def _state(self, descriptor: StateDescriptor) -> Any:
        backend = self._ctx.state_backend
        if backend is None:
            raise StateAccessError(f"keyed state ({descriptor.name!r}) is only available on a keyed stream: "
                                   "call key_by(...) first")
        return backend.get_state(descriptor, self._ctx.clock)

    def get_state(self, state_descriptor: Any) -> Any:
        return self._state(state_descriptor)

    def get_list_state(self, state_descriptor: Any) -> Any:
        return self._state(state_descriptor)

    def get_map_state(self, state_descriptor: Any) -> Any:
        return self._state(state_descriptor)

    def get_reducing_state(self, state_descriptor: Any) -> Any:
        return self._state(state_descriptor)

    def get_aggregating_state(self, state_descriptor: Any) -> Any:
        return self._state(state_descriptor)


def per_subtask_copy(function: Any) -> Any:
    """Each subtask gets its own copy of a user function object, as Flink deserializes one per
    subtask (functions keep state handles on self in open()). Plain callables are shared."""
    if isinstance(function, Function):
        try:
            return copy.deepcopy(function)
        except Exception:  # noqa: BLE001 - an uncopyable function is shared, as before
            return function
    return function


class FunctionOperator(Operator):
    """An operator wrapping one user function object (opened and closed with the operator)."""

    def __init__(self, name: str, function: Any) -> None:
        super().__init__(name)
        self.function = per_subtask_copy(function)

    def open(self) -> None:
        if isinstance(self.function, Function):
            self.function.open(StreamingRuntimeContext(self.ctx))

    def close(self) -> None:
        if isinstance(self.function, Function):
            self.function.close()


class MapOperator(FunctionOperator):
    def __init__(self, name: str, function: Any, adapt: Callable[[Any], Callable[[Any], Any]]) -> None:
        super().__init__(name, function)
        self.call = adapt(self.function)

    def open(self) -> None:
        super().open()
        if self.ctx.state_backend is None:
            call, collect = self.call, self.ctx.output.collect

            def process_unkeyed(value: Any, timestamp: int | None, key: Any, input_index: int) -> None:
                collect(call(value), timestamp)
            self.process_element = process_unkeyed  # type: ignore[method-assign]
            collect_batch = self.ctx.output.collect_batch

            def map_batch(values: list[Any], timestamps: list[int | None] | None, input_index: int) -> None:
                collect_batch([call(value) for value in values], timestamps)
            self.process_batch = map_batch  # type: ignore[method-assign]

    def takes_batches(self) -> bool:
        return self.ctx.state_backend is None

    def process_element(self, value: Any, timestamp: int | None, key: Any, input_index: int) -> None:
        if key is not None and self.ctx.state_backend is not None:
            self.ctx.state_backend.set_current_key(key)
        self.ctx.output.collect(self.call(value), timestamp)


class FlatMapOperator(FunctionOperator):
    def __init__(self, name: str, function: Any, adapt: Callable[[Any], Callable[[Any], Any]]) -> None:
        super().__init__(name, function)
        self.call = adapt(self.function)

    def process_element(self, value: Any, timestamp: int | None, key: Any, input_index: int) -> None:
        if key is not None and self.ctx.state_backend is not None:
            self.ctx.state_backend.set_current_key(key)
        emit_results(self.ctx.output, self.call(value), timestamp)


class FilterOperator(FunctionOperator):
    def __init__(self, name: str, function: Any, adapt: Callable[[Any], Callable[[Any], Any]]) -> None:
        super().__init__(name, function)
        self.call = adapt(self.function)

    def process_element(self, value: Any, timestamp: int | None, key: Any, input_index: int) -> None:
        if key is not None and self.ctx.state_backend is not None:
            self.ctx.state_backend.set_current_key(key)
        if self.call(value):
            self.ctx.output.collect(value, timestamp)

    def takes_batches(self) -> bool:
        return self.ctx.state_backend is None

    def process_batch(self, values: list[Any], timestamps: list[int | None] | None, input_index: int) -> None:
        if self.ctx.state_backend is not None:
            super().process_batch(values, timestamps, input_index)
            return
        call = self.call
        if timestamps is None:
            kept = [value for value in values if call(value)]
            if kept:
                self.ctx.output.collect_batch(kept, None)
            return
        pairs = [(value, timestamp) for value, timestamp in zip(values, timestamps) if call(value)]
        if pairs:
            self.ctx.output.collect_batch([pair[0] for pair in pairs], [pair[1] for pair in pairs])


class KeyedReduceOperator(FunctionOperator):
    """Rolling reduce per key: emits the running result for every element."""

    keyed = True

    def __init__(self, name: str, function: Any, adapt: Callable[[Any], Callable[[Any, Any], Any]]) -> None:
        super().__init__(name, function)
        self.call = adapt(self.function)
        self._descriptor = ValueStateDescriptor("_reduce_state")

    def open(self) -> None:
        super().open()
        assert self.ctx.state_backend is not None
        self._state = self.ctx.state_backend.get_state(self._descriptor, self.ctx.clock)

    def process_element(self, value: Any, timestamp: int | None, key: Any, input_index: int) -> None:
        backend = self.ctx.state_backend
        assert backend is not None
        backend.set_current_key(key)
        current = self._state.value()
        result = value if current is None else self.call(current, value)
        self._state.update(result)
        if not self.ctx.batch:
            self.ctx.output.collect(result, timestamp)

    def end_input(self) -> None:
        """In BATCH mode the reduce emits once per key, at the end."""
        if not self.ctx.batch:
            return
        backend = self.ctx.state_backend
        assert backend is not None
        for key in backend.keys(self._descriptor.name, None):
            backend.set_current_key(key)
            self.ctx.output.collect(self._state.value(), None)


class _ProcessContext(KeyedProcessFunction.OnTimerContext, KeyedCoProcessFunction.OnTimerContext):
    """ctx for process_element and on_timer, one object reused per operator subtask."""

    def __init__(self, operator: Operator, keyed: bool) -> None:
        self._operator = operator
        self._keyed = keyed
        self._timer_service = UserTimerService(operator.ctx, keyed)
        self.current_timestamp: int | None = None
        self.current_time_domain = TimeDomain.EVENT_TIME

    def timer_service(self) -> UserTimerService:
        return self._timer_service

    def timestamp(self) -> int | None:
        return self.current_timestamp

    def get_current_key(self) -> Any:
        backend = self._operator.ctx.state_backend
        if not self._keyed or backend is None:
            raise StateAccessError("get_current_key() is only available on keyed streams")
        return backend.get_current_key()

    def time_domain(self) -> TimeDomain:
        return self.current_time_domain

    def output(self, output_tag: Any, value: Any) -> None:
        self._operator.ctx.output.collect_side(output_tag.tag_id, value, self.current_timestamp)


class ProcessOperator(FunctionOperator):
    """ProcessFunction (keyed=False) or KeyedProcessFunction (keyed=True)."""

    def __init__(self, name: str, function: Any, keyed: bool) -> None:
        super().__init__(name, function)
        self.keyed = keyed
        if keyed and not isinstance(function, KeyedProcessFunction):
            if not isinstance(function, ProcessFunction):
                raise InvalidProgramError("process() on a keyed stream takes a KeyedProcessFunction")
        if not keyed and not isinstance(function, ProcessFunction):
            raise InvalidProgramError("process() on a non-keyed stream takes a ProcessFunction; "
                                      "for a KeyedProcessFunction call key_by(...) first")

    def open(self) -> None:
        self._context = _ProcessContext(self, self.keyed)
        self._process = self.function.process_element
        super().open()

    def process_element(self, value: Any, timestamp: int | None, key: Any, input_index: int) -> None:
        if self.keyed:
            self.ctx.state_backend.set_current_key(key)  # type: ignore[union-attr]
        self._context.current_timestamp = timestamp
        emit_results(self.ctx.output, self._process(value, self._context), timestamp)

    def on_event_time(self, timestamp: int, key: Any, namespace: Any) -> None:
        self._context.current_timestamp = timestamp
        self._context.current_time_domain = TimeDomain.EVENT_TIME
        emit_results(self.ctx.output, self.function.on_timer(timestamp, self._context), timestamp)

    def on_processing_timer(self, timestamp: int, key: Any, namespace: Any) -> None:
        self._context.current_timestamp = None
        self._context.current_time_domain = TimeDomain.PROCESSING_TIME
        emit_results(self.ctx.output, self.function.on_timer(timestamp, self._context), None)


class CoOperator(FunctionOperator):
    """Two inputs: CoMapFunction, CoFlatMapFunction, CoProcessFunction or KeyedCoProcessFunction."""

    def __init__(self, name: str, function: Any, kind: str, keyed: bool) -> None:
        super().__init__(name, function)
        self.kind = kind
        self.keyed = keyed
        expected = {"map": CoMapFunction, "flat_map": CoFlatMapFunction,
                    "process": KeyedCoProcessFunction if keyed else CoProcessFunction}[kind]
        if not isinstance(function, expected):
            if kind == "process" and keyed and isinstance(function, CoProcessFunction):
                pass
            else:
                raise InvalidProgramError(f"ConnectedStreams.{kind}() takes a {expected.__name__}, "
                                          f"not {type(function).__name__}")

    def open(self) -> None:
        self._context = _ProcessContext(self, self.keyed)
        function = self.function
        if self.kind == "map":
            self._calls = (function.map1, function.map2)
        elif self.kind == "flat_map":
            self._calls = (function.flat_map1, function.flat_map2)
        else:
            self._calls = (function.process_element1, function.process_element2)
        super().open()

    def process_element(self, value: Any, timestamp: int | None, key: Any, input_index: int) -> None:
        if self.keyed:
            self.ctx.state_backend.set_current_key(key)  # type: ignore[union-attr]
        call = self._calls[input_index]
        if self.kind == "map":
            self.ctx.output.collect(call(value), timestamp)
        elif self.kind == "flat_map":
            emit_results(self.ctx.output, call(value), timestamp)
        else:
            self._context.current_timestamp = timestamp
            emit_results(self.ctx.output, call(value, self._context), timestamp)

    def on_event_time(self, timestamp: int, key: Any, namespace: Any) -> None:
        self._context.current_timestamp = timestamp
        self._context.current_time_domain = TimeDomain.EVENT_TIME
        emit_results(self.ctx.output, self.function.on_timer(timestamp, self._context), timestamp)

    def on_processing_timer(self, timestamp: int, key: Any, namespace: Any) -> None:
        self._context.current_timestamp = None
        self._context.current_time_domain = TimeDomain.PROCESSING_TIME
        emit_results(self.ctx.output, self.function.on_timer(timestamp, self._context), None)
