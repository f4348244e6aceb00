"""Owns the user-function classes of pyflink.datastream.functions (MapFunction, ProcessFunction,
KeyedProcessFunction, the co-functions, window functions, AggregateFunction, RuntimeContext)
and the adapters that let a plain callable stand in where PyFlink takes a lambda."""

from __future__ import annotations

from typing import Any, Callable, Generic, Iterable, TypeVar

from flinklite.datastream.state import (AggregatingState, AggregatingStateDescriptor, ListState,
                                        ListStateDescriptor, MapState, MapStateDescriptor, ReducingState,
                                        ReducingStateDescriptor, ValueState, ValueStateDescriptor)
from flinklite.datastream.time_domain import TimeDomain
from flinklite.datastream.timerservice import TimerService
from flinklite.errors import InvalidProgramError

IN = TypeVar("IN")
OUT = TypeVar("OUT")
KEY = TypeVar("KEY")
W = TypeVar("W")


class KeyedStateStore:
    def get_state(self, state_descriptor: ValueStateDescriptor) -> ValueState[Any]:
        raise NotImplementedError

    def get_list_state(self, state_descriptor: ListStateDescriptor) -> ListState[Any]:
        raise NotImplementedError

    def get_map_state(self, state_descriptor: MapStateDescriptor) -> MapState[Any, Any]:
        raise NotImplementedError

    def get_reducing_state(self, state_descriptor: ReducingStateDescriptor) -> ReducingState[Any]:
        raise NotImplementedError

    def get_aggregating_state(self, state_descriptor: AggregatingStateDescriptor) -> AggregatingState[Any, Any]:
        raise NotImplementedError


class RuntimeContext(KeyedStateStore):
    def get_task_name(self) -> str:
        raise NotImplementedError

    def get_number_of_parallel_subtasks(self) -> int:
        raise NotImplementedError

    def get_max_number_of_parallel_subtasks(self) -> int:
        raise NotImplementedError

    def get_index_of_this_subtask(self) -> int:
        raise NotImplementedError

    def get_attempt_number(self) -> int:
        return 0

    def get_task_name_with_subtasks(self) -> str:
        return (f"{self.get_task_name()} ({self.get_index_of_this_subtask() + 1}/"
                f"{self.get_number_of_parallel_subtasks()})")

    def get_job_parameter(self, key: str, default_value: str) -> str:
        return default_value


class Function:
    def open(self, runtime_context: RuntimeContext) -> None:
        pass

    def close(self) -> None:
        pass


class MapFunction(Function):
    def map(self, value: Any) -> Any:
        raise NotImplementedError


class CoMapFunction(Function):
    def map1(self, value: Any) -> Any:
        raise NotImplementedError

    def map2(self, value: Any) -> Any:
        raise NotImplementedError


class FlatMapFunction(Function):
    def flat_map(self, value: Any) -> Any:
        raise NotImplementedError


class CoFlatMapFunction(Function):
    def flat_map1(self, value: Any) -> Any:
        raise NotImplementedError

    def flat_map2(self, value: Any) -> Any:
        raise NotImplementedError


class ReduceFunction(Function):
    def reduce(self, value1: Any, value2: Any) -> Any:
        raise NotImplementedError


class AggregateFunction(Function):
    def create_accumulator(self) -> Any:
        raise NotImplementedError

    def add(self, value: Any, accumulator: Any) -> Any:
        raise NotImplementedError

    def get_result(self, accumulator: Any) -> Any:
        raise NotImplementedError

    def merge(self, acc_a: Any, acc_b: Any) -> Any:
        raise NotImplementedError


class KeySelector(Function):
    def get_key(self, value: Any) -> Any:
        raise NotImplementedError


class NullByteKeySelector(KeySelector):
    def get_key(self, value: Any) -> Any:
        return 0


class FilterFunction(Function):
    def filter(self, value: Any) -> bool:
        raise NotImplementedError


class Partitioner(Function):
    def partition(self, key: Any, num_partitions: int) -> int:
        raise NotImplementedError


class ProcessFunction(Function):
    class Context:
        def timer_service(self) -> TimerService:
            raise NotImplementedError

        def timestamp(self) -> int | None:
            raise NotImplementedError

        def output(self, output_tag: Any, value: Any) -> None:
            """flinklite convenience (Java's Context.output); PyFlink yields (tag, value)."""
            raise NotImplementedError

    def process_element(self, value: Any, ctx: ProcessFunction.Context) -> Any:
        raise NotImplementedError


class KeyedProcessFunction(Function):
    class Context(ProcessFunction.Context):
        def get_current_key(self) -> Any:
            raise NotImplementedError

    class OnTimerContext(Context):
        def time_domain(self) -> TimeDomain:
            raise NotImplementedError

    def process_element(self, value: Any, ctx: KeyedProcessFunction.Context) -> Any:
        raise NotImplementedError

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Any:
        return None


class CoProcessFunction(Function):
    class Context(ProcessFunction.Context):
        pass

    def process_element1(self, value: Any, ctx: CoProcessFunction.Context) -> Any:
        raise NotImplementedError

    def process_element2(self, value: Any, ctx: CoProcessFunction.Context) -> Any:
        raise NotImplementedError


class KeyedCoProcessFunction(Function):
    class Context(ProcessFunction.Context):
        def get_current_key(self) -> Any:
            raise NotImplementedError

    class OnTimerContext(Context):
        def time_domain(self) -> TimeDomain:
            raise NotImplementedError

    def process_element1(self, value: Any, ctx: KeyedCoProcessFunction.Context) -> Any:
        raise NotImplementedError

    def process_element2(self, value: Any, ctx: KeyedCoProcessFunction.Context) -> Any:
        raise NotImplementedError

    def on_timer(self, timestamp: int, ctx: KeyedCoProcessFunction.OnTimerContext) -> Any:
        return None


class WindowFunction(Function, Generic[IN, OUT, KEY, W]):
    def apply(self, key: Any, window: Any, inputs: Iterable[Any]) -> Iterable[Any]:
        raise NotImplementedError


class AllWindowFunction(Function, Generic[IN, OUT, W]):
    def apply(self, window: Any, inputs: Iterable[Any]) -> Iterable[Any]:
        raise NotImplementedError


W2 = TypeVar("W2")


class ProcessWindowFunction(Function, Generic[IN, OUT, KEY, W]):
    class Context(Generic[W2]):
        def window(self) -> Any:
            raise NotImplementedError

        def current_processing_time(self) -> int:
            raise NotImplementedError

        def current_watermark(self) -> int:
            raise NotImplementedError

        def window_state(self) -> KeyedStateStore:
            raise NotImplementedError

        def global_state(self) -> KeyedStateStore:
            raise NotImplementedError

    def process(self, key: Any, context: ProcessWindowFunction.Context, elements: Iterable[Any]) -> Iterable[Any]:
        raise NotImplementedError

    def clear(self, context: ProcessWindowFunction.Context) -> None:
        pass


class ProcessAllWindowFunction(Function, Generic[IN, OUT, W]):
    class Context(ProcessWindowFunction.Context[W2]):
        pass

    def process(self, context: ProcessAllWindowFunction.Context, elements: Iterable[Any]) -> Iterable[Any]:
        raise NotImplementedError

    def clear(self, context: ProcessAllWindowFunction.Context) -> None:
        pass


class SinkFunction(Function):
    """A sink as a Python function object (`invoke(value, context)`), flinklite's own sinks use it."""

    def invoke(self, value: Any, context: Any) -> None:
        raise NotImplementedError


class SourceFunction(Function):
    pass


# -- adapters ---------------------------------------------------------------------------------

def _check_callable(fn: Any, what: str) -> None:
    if not callable(fn):
        raise InvalidProgramError(f"{what} takes a {what.split('.')[-1]} function object or a callable, not {fn!r}")


def as_map(fn: Any) -> Callable[[Any], Any]:
    if isinstance(fn, MapFunction):
        return fn.map
    _check_callable(fn, "map")
    return fn  # type: ignore[no-any-return]


def as_flat_map(fn: Any) -> Callable[[Any], Any]:
    if isinstance(fn, FlatMapFunction):
        return fn.flat_map
    _check_callable(fn, "flat_map")
    return fn  # type: ignore[no-any-return]


def as_filter(fn: Any) -> Callable[[Any], Any]:
    if isinstance(fn, FilterFunction):
        return fn.filter
    _check_callable(fn, "filter")
    return fn  # type: ignore[no-any-return]


def as_reduce(fn: Any) -> Callable[[Any, Any], Any]:
    if isinstance(fn, ReduceFunction):
        return fn.reduce
    _check_callable(fn, "reduce")
    return fn  # type: ignore[no-any-return]


def as_key_selector(fn: Any) -> Callable[[Any], Any]:
    if isinstance(fn, KeySelector):
        return fn.get_key
    _check_callable(fn, "key_by")
    return fn  # type: ignore[no-any-return]


class _CallableWindowFunction(WindowFunction[Any, Any, Any, Any]):
    def __init__(self, fn: Callable[[Any, Any, Iterable[Any]], Iterable[Any]]) -> None:
        self.fn = fn

    def apply(self, key: Any, window: Any, inputs: Iterable[Any]) -> Iterable[Any]:
        return self.fn(key, window, inputs)


def as_window_function(fn: Any) -> WindowFunction[Any, Any, Any, Any]:
    if isinstance(fn, WindowFunction):
        return fn
    _check_callable(fn, "apply")
    return _CallableWindowFunction(fn)
