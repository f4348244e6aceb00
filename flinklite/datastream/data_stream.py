"""Owns the stream classes of the API (pyflink.datastream.data_stream): DataStream,
KeyedStream, WindowedStream, AllWindowedStream, ConnectedStreams and DataStreamSink. Each
method adds a Transformation to the job graph; nothing runs until execute()."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterator

from flinklite.common.time import to_millis
from flinklite.common.typeinfo import TypeInformation, Types
from flinklite.common.watermark_strategy import WatermarkStrategy
from flinklite.datastream.connectors.base import Sink
from flinklite.datastream.functions import (AggregateFunction, AllWindowFunction, CoFlatMapFunction, CoMapFunction,
                                            FlatMapFunction, KeyedCoProcessFunction, KeyedProcessFunction,
                                            NullByteKeySelector, ProcessAllWindowFunction, ProcessFunction,
                                            ProcessWindowFunction, WindowFunction, as_filter, as_flat_map,
                                            as_key_selector, as_map, as_reduce, as_window_function)
from flinklite.datastream.output_tag import OutputTag
from flinklite.datastream.window import CountEvictor, CountSlidingWindowAssigner, CountTumblingWindowAssigner, Trigger, WindowAssigner
from flinklite.errors import InvalidProgramError
from flinklite.graph import StreamRef, Transformation
from flinklite.state.keygroups import key_hash_for
from flinklite.operators import functions as ops
from flinklite.operators.io import (CollectWriter, PrintWriter, SinkConnectorWriterFactory, SinkFunctionWriter,
                                    SinkOperator, TimestampsAndWatermarksOperator, stdout)
from flinklite.operators.window import WindowContents, WindowOperator

if TYPE_CHECKING:
    from flinklite.datastream.stream_execution_environment import StreamExecutionEnvironment


def _flat(results: Any) -> Any:
    return results


class DataStream:
    """A stream of records: the refs it reads (one per unioned input) and its record type."""

    def __init__(self, env: StreamExecutionEnvironment, refs: list[StreamRef],
                 output_type: TypeInformation | None = None, transformation: Transformation | None = None) -> None:
        self._env = env
        self._refs = refs
        self._output_type = output_type or Types.PICKLED_BYTE_ARRAY()
        self._transformation = transformation

    # -- configuration of the producing operator ----------------------------------------------
    def _own(self, what: str) -> Transformation:
        if self._transformation is None:
            raise InvalidProgramError(f"{what} applies to an operator's output; this stream is a view "
                                      "(key_by/union/side output) of other streams")
        return self._transformation

    def get_name(self) -> str:
        return self._own("get_name").name

    def name(self, name: str) -> DataStream:
        self._own("name").name = name
        return self

    def uid(self, uid: str) -> DataStream:
        self._own("uid").uid = uid
        return self

    def set_uid_hash(self, uid_hash: str) -> DataStream:
        return self

    def set_parallelism(self, parallelism: int) -> DataStream:
        if not isinstance(parallelism, int) or parallelism < 1:
            raise InvalidProgramError("set_parallelism takes an int >= 1")
        t = self._own("set_parallelism")
        if t.fixed_parallelism and parallelism != 1:
            raise InvalidProgramError(f"{t.name} is a non-parallel operator: its parallelism must be 1")
        t.parallelism = parallelism
        return self

    def set_max_parallelism(self, max_parallelism: int) -> DataStream:
        self._own("set_max_parallelism").max_parallelism = max_parallelism
        return self

    def get_type(self) -> TypeInformation:
        return self._output_type

    def get_execution_environment(self) -> StreamExecutionEnvironment:
        return self._env

    def force_non_parallel(self) -> DataStream:
        t = self._own("force_non_parallel")
        t.parallelism = 1
        t.fixed_parallelism = True
        return self

    def set_buffer_timeout(self, timeout_millis: int) -> DataStream:
        return self

    def start_new_chain(self) -> DataStream:
        return self

    def disable_chaining(self) -> DataStream:
        return self

    def slot_sharing_group(self, slot_sharing_group: Any) -> DataStream:
        return self

    def set_description(self, description: str) -> DataStream:
        return self

    # -- graph building ------------------------------------------------------------------------
    def _add(self, name: str, make_operator: Callable[[], Any], output_type: TypeInformation | None,
             inputs: list[list[StreamRef]] | None = None, keyed: bool = False) -> DataStream:
        t = Transformation(name=name, make_operator=make_operator, inputs=inputs or [self._refs],
                           output_type=output_type or Types.PICKLED_BYTE_ARRAY(), keyed=keyed)
        self._env._register(t)
        return DataStream(self._env, [StreamRef(t)], t.output_type, t)

    def _keyed(self) -> bool:
        return False

    def map(self, func: Any, output_type: TypeInformation | None = None) -> DataStream:
        as_map(func)  # checks it now, at build time
        return self._add("Map", lambda: ops.MapOperator("Map", func, as_map), output_type, keyed=self._keyed())

    def flat_map(self, func: Any, output_type: TypeInformation | None = None) -> DataStream:
        as_flat_map(func)
        return self._add("FlatMap", lambda: ops.FlatMapOperator("FlatMap", func, as_flat_map), output_type,
                         keyed=self._keyed())

    def filter(self, func: Any) -> DataStream:
        as_filter(func)
        return self._add("Filter", lambda: ops.FilterOperator("Filter", func, as_filter), self._output_type,
                         keyed=self._keyed())

    def process(self, func: ProcessFunction, output_type: TypeInformation | None = None) -> DataStream:
        if isinstance(func, KeyedProcessFunction):
            raise InvalidProgramError("a KeyedProcessFunction needs a keyed stream: call key_by(...) before process()")
        return self._add("Process", lambda: ops.ProcessOperator("Process", func, False), output_type)

    def key_by(self, key_selector: Any, key_type: TypeInformation | None = None) -> KeyedStream:
        selector = as_key_selector(key_selector)
        key_hash = key_hash_for(key_type)
        refs = [StreamRef(ref.transformation, ref.tag, "hash", selector, ref.tag_type, key_hash) for ref in self._refs]
        return KeyedStream(self._env, refs, self._output_type, selector)

    def union(self, *streams: DataStream) -> DataStream:
        refs = list(self._values_refs())
        for stream in streams:
            if not isinstance(stream, DataStream):
                raise InvalidProgramError(f"union() takes DataStreams, not {stream!r}")
            refs.extend(stream._values_refs())
        return DataStream(self._env, refs, self._output_type)

    def _values_refs(self) -> list[StreamRef]:
        return self._refs

    def connect(self, ds: DataStream) -> ConnectedStreams:
        if not isinstance(ds, DataStream):
            raise InvalidProgramError(f"connect() takes a DataStream, not {ds!r}")
        return ConnectedStreams(self, ds)

    def _repartition(self, mode: str) -> DataStream:
        return DataStream(self._env, [StreamRef(r.transformation, r.tag, mode, None, r.tag_type) for r in self._refs],
                          self._output_type)

    def rebalance(self) -> DataStream:
        return self._repartition("rebalance")

    def rescale(self) -> DataStream:
        return self._repartition("rebalance")

    def shuffle(self) -> DataStream:
        return self._repartition("shuffle")

    def forward(self) -> DataStream:
        return self._repartition("forward")

    def broadcast(self) -> DataStream:
        return self._repartition("broadcast")

    def global_(self) -> DataStream:
        return self._repartition("global")

    def get_side_output(self, output_tag: OutputTag) -> DataStream:
        if not isinstance(output_tag, OutputTag):
            raise InvalidProgramError("get_side_output takes an OutputTag")
        t = self._own("get_side_output")
        return DataStream(self._env, [StreamRef(t, output_tag.tag_id, tag_type=output_tag.type_info)],
                          output_tag.type_info)

    def assign_timestamps_and_watermarks(self, watermark_strategy: WatermarkStrategy) -> DataStream:
        if not isinstance(watermark_strategy, WatermarkStrategy):
            raise InvalidProgramError("assign_timestamps_and_watermarks takes a WatermarkStrategy")
        name = "Timestamps/Watermarks"
        stream = self._add(name, lambda: TimestampsAndWatermarksOperator(name, watermark_strategy), self._output_type)
        return stream

    def window_all(self, window_assigner: WindowAssigner) -> AllWindowedStream:
        return AllWindowedStream(self, window_assigner)

    def count_window_all(self, size: int, slide: int = 0) -> AllWindowedStream:
        assigner = CountTumblingWindowAssigner(size) if slide == 0 else CountSlidingWindowAssigner(size, slide)
        return AllWindowedStream(self, assigner)

    # -- sinks ---------------------------------------------------------------------------------
    def _sink(self, name: str, make_writer: Callable[[int, int], Any], parallelism: int | None = None,
              converts_input: bool = True) -> DataStreamSink:
        t = Transformation(name=name, make_operator=lambda: SinkOperator(name, make_writer), inputs=[self._refs],
                           is_sink=True, parallelism=parallelism, converts_input=converts_input)
        self._env._register(t, sink=True)
        return DataStreamSink(t)

    def print(self, sink_identifier: str | None = None) -> DataStreamSink:
        type_info = self._output_type

        def make(index: int, parallelism: int) -> PrintWriter:
            return PrintWriter(type_info, sink_identifier, index, parallelism, stdout)

        # print() renders by type itself (PyFlink maps rows and untyped values to strings inside
        # the Python chain), so its input is not converted on the way.
        return self._sink("Print to Std. Out", make, converts_input=False)

    def sink_to(self, sink: Sink) -> DataStreamSink:
        if not isinstance(sink, Sink):
            raise InvalidProgramError(f"sink_to takes a Sink (e.g. KafkaSink.builder()...build()), not {sink!r}")
        return self._sink(type(sink).__name__, SinkConnectorWriterFactory(sink))

    def add_sink(self, sink_func: Any) -> DataStreamSink:
        if isinstance(sink_func, Sink):
            return self.sink_to(sink_func)
        return self._sink("Sink", lambda index, parallelism: SinkFunctionWriter(sink_func))

    def execute_and_collect(self, job_execution_name: str | None = None, limit: int | None = None) -> Any:
        collected: list[Any] = []
        self._sink("Collect", lambda index, parallelism: CollectWriter(collected), parallelism=1)
        self._env.execute(job_execution_name or "collect")
        if limit is not None:
            return collected[:limit]
        return CloseableIterator(collected)


class CloseableIterator:
    """What execute_and_collect() returns: iterate it, optionally inside `with`."""

    def __init__(self, values: list[Any]) -> None:
        self._values = values
        self._iterator = iter(values)

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        return next(self._iterator)

    def next(self) -> Any:
        return next(self._iterator)

    def close(self) -> None:
        pass

    def __enter__(self) -> CloseableIterator:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class DataStreamSink:
    def __init__(self, transformation: Transformation) -> None:
        self._transformation = transformation

    def name(self, name: str) -> DataStreamSink:
        self._transformation.name = name
        return self

    def uid(self, uid: str) -> DataStreamSink:
        self._transformation.uid = uid
        return self

    def set_parallelism(self, parallelism: int) -> DataStreamSink:
        self._transformation.parallelism = parallelism
        return self

    def set_description(self, description: str) -> DataStreamSink:
        return self

    def disable_chaining(self) -> DataStreamSink:
        return self

    def slot_sharing_group(self, slot_sharing_group: Any) -> DataStreamSink:
        return self


class KeyedStream(DataStream):
    """A stream partitioned by key: keyed state, timers, reduce and windows are available."""

    def __init__(self, env: StreamExecutionEnvironment, refs: list[StreamRef], output_type: TypeInformation,
                 key_selector: Callable[[Any], Any]) -> None:
        super().__init__(env, refs, output_type)
        self._key_selector = key_selector

    def _keyed(self) -> bool:
        return True

    def process(self, func: Any, output_type: TypeInformation | None = None) -> DataStream:
        if not isinstance(func, (KeyedProcessFunction, ProcessFunction)):
            raise InvalidProgramError("KeyedStream.process takes a KeyedProcessFunction")
        return self._add("KeyedProcess", lambda: ops.ProcessOperator("KeyedProcess", func, True), output_type,
                         keyed=True)

    def reduce(self, func: Any) -> DataStream:
        as_reduce(func)
        return self._add("Keyed Reduce", lambda: ops.KeyedReduceOperator("Keyed Reduce", func, as_reduce),
                         self._output_type, keyed=True)

    def _aggregate_field(self, position: int | str, pick: Callable[[Any, Any], Any], name: str) -> DataStream:
        def reducer(a: Any, b: Any) -> Any:
            if isinstance(a, tuple):
                assert isinstance(position, int)
                values = list(a)
                values[position] = pick(a[position], b[position])
                return tuple(values)
            if isinstance(a, list):
                return [*a[:position], pick(a[position], b[position]), *a[position + 1:]]  # type: ignore[misc,index,operator]
            return pick(a, b)
        return self._add(name, lambda: ops.KeyedReduceOperator(name, reducer, as_reduce), self._output_type, keyed=True)

    def sum(self, position_to_sum: int | str = 0) -> DataStream:
        return self._aggregate_field(position_to_sum, lambda x, y: x + y, "Keyed Sum")

    def min(self, position_to_min: int | str = 0) -> DataStream:
        return self._aggregate_field(position_to_min, min, "Keyed Min")

    def max(self, position_to_max: int | str = 0) -> DataStream:
        return self._aggregate_field(position_to_max, max, "Keyed Max")

    def window(self, window_assigner: WindowAssigner) -> WindowedStream:
        if not isinstance(window_assigner, WindowAssigner):
            raise InvalidProgramError("window() takes a WindowAssigner (e.g. TumblingEventTimeWindows.of(...))")
        return WindowedStream(self, window_assigner)

    def count_window(self, size: int, slide: int = 0) -> WindowedStream:
        if slide == 0:
            return WindowedStream(self, CountTumblingWindowAssigner(size))
        return WindowedStream(self, CountSlidingWindowAssigner(size, slide))

    def union(self, *streams: DataStream) -> DataStream:
        return DataStream(self._env, self._values_refs(), self._output_type).union(*streams)

    def _values_refs(self) -> list[StreamRef]:
        return [StreamRef(r.transformation, r.tag, tag_type=r.tag_type) for r in self._refs]

    def connect(self, ds: DataStream) -> ConnectedStreams:
        return ConnectedStreams(self, ds)

    def key_by(self, key_selector: Any, key_type: TypeInformation | None = None) -> KeyedStream:
        return DataStream(self._env, self._values_refs(), self._output_type).key_by(key_selector, key_type)


class WindowedStream:
    def __init__(self, keyed_stream: KeyedStream, window_assigner: WindowAssigner) -> None:
        self._keyed_stream = keyed_stream
        self._assigner = window_assigner
        self._trigger: Trigger | None = None
        self._allowed_lateness = 0
        self._late_tag: str | None = None
        self._evictor: CountEvictor | None = None
        self._name = "Window"

    def get_execution_environment(self) -> StreamExecutionEnvironment:
        return self._keyed_stream._env

    def trigger(self, trigger: Trigger) -> WindowedStream:
        if not isinstance(trigger, Trigger):
            raise InvalidProgramError("trigger() takes a Trigger")
        self._trigger = trigger
        return self

    def allowed_lateness(self, time_ms: Any) -> WindowedStream:
        millis = to_millis(time_ms, "allowed_lateness")
        if millis < 0:
            raise InvalidProgramError("allowed_lateness must be >= 0")
        if millis > 0 and not self._assigner.is_event_time():
            raise InvalidProgramError("allowed_lateness only applies to event-time windows")
        self._allowed_lateness = millis
        return self

    def side_output_late_data(self, output_tag: OutputTag) -> WindowedStream:
        if not isinstance(output_tag, OutputTag):
            raise InvalidProgramError("side_output_late_data takes an OutputTag")
        self._late_tag = output_tag.tag_id
        return self

    def evictor(self, evictor: CountEvictor) -> WindowedStream:
        self._evictor = evictor
        return self

    def _build(self, name: str, contents: WindowContents, window_function: Any, output_type: TypeInformation | None,
               user_functions: list[Any]) -> DataStream:
        assigner = self._assigner
        trigger = self._trigger or assigner.get_default_trigger(self._keyed_stream._env)
        if assigner.is_merging() and not trigger.can_merge():
            raise InvalidProgramError(f"a merging window assigner needs a trigger that can merge; "
                                      f"{type(trigger).__name__} cannot")
        if self._evictor is not None and contents.kind != "list":
            contents = WindowContents("list")
            window_function = _EvictingAdapter(name, window_function)
        lateness, late_tag, evictor = self._allowed_lateness, self._late_tag, self._evictor

        def make() -> WindowOperator:
            # Each subtask gets its own copies of the user's functions (see per_subtask_copy).
            copies = {id(f): ops.per_subtask_copy(f) for f in user_functions}
            own_contents = WindowContents(contents.kind,
                                          reduce=contents.reduce and as_reduce(copies.get(id(contents.reduce_source),
                                                                                          contents.reduce_source)),
                                          aggregate=copies.get(id(contents.aggregate), contents.aggregate),
                                          reduce_source=contents.reduce_source)
            own_window_function = copies.get(id(window_function), window_function)
            return WindowOperator(name, assigner, trigger, own_contents, own_window_function, lateness, late_tag,
                                  evictor, list(copies.values()))

        return self._keyed_stream._add(name, make, output_type, keyed=True)

    def reduce(self, reduce_function: Any, window_function: Any = None,
               output_type: TypeInformation | None = None) -> DataStream:
        reduce = as_reduce(reduce_function)
        if window_function is not None and not isinstance(window_function, (ProcessWindowFunction, WindowFunction)):
            window_function = as_window_function(window_function)
        return self._build("Window(Reduce)", WindowContents("reduce", reduce=reduce, reduce_source=reduce_function),
                           window_function,
                           output_type or (self._keyed_stream._output_type if window_function is None else None),
                           [f for f in (reduce_function, window_function) if f is not None])

    def aggregate(self, aggregate_function: AggregateFunction, window_function: Any = None,
                  accumulator_type: TypeInformation | None = None,
                  output_type: TypeInformation | None = None) -> DataStream:
        if not isinstance(aggregate_function, AggregateFunction):
            raise InvalidProgramError("aggregate() takes an AggregateFunction")
        if window_function is not None and not isinstance(window_function, (ProcessWindowFunction, WindowFunction)):
            window_function = as_window_function(window_function)
        return self._build("Window(Aggregate)", WindowContents("aggregate", aggregate=aggregate_function),
                           window_function, output_type,
                           [f for f in (aggregate_function, window_function) if f is not None])

    def process(self, process_window_function: ProcessWindowFunction,
                output_type: TypeInformation | None = None) -> DataStream:
        if not isinstance(process_window_function, ProcessWindowFunction):
            raise InvalidProgramError("WindowedStream.process takes a ProcessWindowFunction")
        return self._build("Window(Process)", WindowContents("list"), process_window_function, output_type,
                           [process_window_function])

    def apply(self, window_function: Any, output_type: TypeInformation | None = None) -> DataStream:
        function = as_window_function(window_function)
        return self._build("Window(Apply)", WindowContents("list"), function, output_type, [function])


class _EvictingAdapter(WindowFunction[Any, Any, Any, Any]):
    """With an evictor, a reduce/aggregate is applied after eviction over the element list."""

    def __init__(self, name: str, inner: Any) -> None:
        raise InvalidProgramError("evictor() is supported with process() and apply() only")


class _AllWindowFunctionAdapter(ProcessWindowFunction[Any, Any, Any, Any]):
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def open(self, runtime_context: Any) -> None:
        if hasattr(self.inner, "open"):
            self.inner.open(runtime_context)

    def close(self) -> None:
        if hasattr(self.inner, "close"):
            self.inner.close()

    def process(self, key: Any, context: Any, elements: Any) -> Any:
        if isinstance(self.inner, ProcessAllWindowFunction):
            return self.inner.process(context, elements)
        if isinstance(self.inner, AllWindowFunction):
            return self.inner.apply(context.window(), elements)
        return self.inner(context.window(), elements)


class AllWindowedStream:
    """window_all: one non-parallel window operator over the whole stream."""

    def __init__(self, stream: DataStream, window_assigner: WindowAssigner) -> None:
        keyed = stream.key_by(NullByteKeySelector())
        self._windowed = WindowedStream(keyed, window_assigner)

    def trigger(self, trigger: Trigger) -> AllWindowedStream:
        self._windowed.trigger(trigger)
        return self

    def allowed_lateness(self, time_ms: Any) -> AllWindowedStream:
        self._windowed.allowed_lateness(time_ms)
        return self

    def side_output_late_data(self, output_tag: OutputTag) -> AllWindowedStream:
        self._windowed.side_output_late_data(output_tag)
        return self

    def evictor(self, evictor: CountEvictor) -> AllWindowedStream:
        self._windowed.evictor(evictor)
        return self

    def _single(self, stream: DataStream) -> DataStream:
        return stream.force_non_parallel()

    def reduce(self, reduce_function: Any, window_function: Any = None,
               output_type: TypeInformation | None = None) -> DataStream:
        adapter = _AllWindowFunctionAdapter(window_function) if window_function is not None else None
        return self._single(self._windowed.reduce(reduce_function, adapter, output_type))

    def aggregate(self, aggregate_function: AggregateFunction, window_function: Any = None,
                  accumulator_type: TypeInformation | None = None,
                  output_type: TypeInformation | None = None) -> DataStream:
        adapter = _AllWindowFunctionAdapter(window_function) if window_function is not None else None
        return self._single(self._windowed.aggregate(aggregate_function, adapter, accumulator_type, output_type))

    def process(self, process_window_function: ProcessAllWindowFunction,
                output_type: TypeInformation | None = None) -> DataStream:
        return self._single(self._windowed.process(_AllWindowFunctionAdapter(process_window_function), output_type))

    def apply(self, window_function: Any, output_type: TypeInformation | None = None) -> DataStream:
        return self._single(self._windowed.process(_AllWindowFunctionAdapter(window_function), output_type))


class ConnectedStreams:
    """Two streams processed together by one two-input operator."""

    def __init__(self, stream1: DataStream, stream2: DataStream) -> None:
        self.stream1 = stream1
        self.stream2 = stream2

    def key_by(self, key_selector1: Any, key_selector2: Any, key_type: TypeInformation | None = None) -> ConnectedStreams:
        return ConnectedStreams(self.stream1.key_by(key_selector1, key_type), self.stream2.key_by(key_selector2, key_type))

    def _is_keyed(self) -> bool:
        return isinstance(self.stream1, KeyedStream) and isinstance(self.stream2, KeyedStream)

    def _add(self, name: str, func: Any, kind: str, output_type: TypeInformation | None) -> DataStream:
        keyed = self._is_keyed()
        if kind == "process" and isinstance(func, KeyedCoProcessFunction) and not keyed:
            raise InvalidProgramError("a KeyedCoProcessFunction needs both inputs keyed: "
                                      "connect(...).key_by(key1, key2) or connect two KeyedStreams")
        inputs = [self.stream1._refs, self.stream2._refs]
        return self.stream1._add(name, lambda: ops.CoOperator(name, func, kind, keyed), output_type,
                                 inputs=inputs, keyed=keyed)

    def map(self, func: CoMapFunction, output_type: TypeInformation | None = None) -> DataStream:
        return self._add("Co-Map", func, "map", output_type)

    def flat_map(self, func: CoFlatMapFunction, output_type: TypeInformation | None = None) -> DataStream:
        return self._add("Co-Flat Map", func, "flat_map", output_type)

    def process(self, func: Any, output_type: TypeInformation | None = None) -> DataStream:
        return self._add("Co-Process", func, "process", output_type)
