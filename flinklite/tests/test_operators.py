"""Operators and windows on the testing kit, with event-time edge cases."""

from __future__ import annotations

from typing import Any

import pytest

from flinklite.common import Duration, Time, Types, WatermarkStrategy
from flinklite.datastream import (AggregateFunction, CoFlatMapFunction, CoMapFunction, KeyedCoProcessFunction,
                                  KeyedProcessFunction, OutputTag, ProcessFunction, ProcessWindowFunction,
                                  StreamExecutionEnvironment)
from flinklite.datastream.state import (ListStateDescriptor, MapStateDescriptor, ReducingStateDescriptor,
                                        StateTtlConfig, ValueStateDescriptor, AggregatingStateDescriptor)
from flinklite.datastream.window import (CountTrigger, EventTimeSessionWindows, GlobalWindows, PurgingTrigger,
                                         SlidingEventTimeWindows, TumblingEventTimeWindows,
                                         TumblingProcessingTimeWindows, ProcessingTimeSessionWindows)
from flinklite.errors import InvalidProgramError, JobExecutionError, StateAccessError
from flinklite.testing import CollectSink, ManualClock, Record, TestSource, run_job


def ts_strategy(bound_ms: int = 0) -> WatermarkStrategy:
    return (WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(bound_ms))
            .with_timestamp_assigner(lambda e, _ts: e[1]))


class CountPerWindow(ProcessWindowFunction):
    def process(self, key: Any, context: Any, elements: Any) -> Any:
        w = context.window()
        yield (key, w.start, w.end, len(list(elements)))


def timed(events: list[tuple[str, int]], interval_ms: int = 100) -> TestSource:
    return TestSource(events, interval_ms=interval_ms)


def windowed(env: StreamExecutionEnvironment, source: TestSource, bound: int = 0) -> Any:
    return env.from_source(source, ts_strategy(bound), "events").key_by(lambda e: e[0])


# -- stateless operators ------------------------------------------------------------------

def test_map_flat_map_filter_union_print() -> None:
    def build(env: StreamExecutionEnvironment) -> None:
        a = env.from_collection(["a b", "c"])
        b = env.from_collection(["d"])
        a.flat_map(lambda s: s.split()).union(b).filter(lambda w: w != "c").map(str.upper).print()

    assert run_job(build).printed == ["A", "B", "D"]


def test_print_formats_types_and_subtask_prefix() -> None:
    def build(env: StreamExecutionEnvironment) -> None:
        ds = env.from_collection([("a", 1)], Types.TUPLE([Types.STRING(), Types.INT()]))
        ds.print()
        ds.map(lambda t: t, Types.ROW([Types.STRING(), Types.INT()])).print()
        ds.map(lambda t: t[1] > 0, Types.BOOLEAN()).print("flag")
        ds.map(lambda t: t).print()

    assert run_job(build).printed == ["(a,1)", "+I[a,1]", "flag> true", "('a', 1)"]

    def build_parallel(env: StreamExecutionEnvironment) -> None:
        env.from_collection(["x", "y"]).map(lambda v: v).print()

    lines = run_job(build_parallel, parallelism=2).printed
    assert sorted(lines) == ["1> x", "2> y"]


def test_rolling_reduce_and_sum() -> None:
    def build(env: StreamExecutionEnvironment) -> Any:
        return env.from_collection([("a", 1), ("b", 2), ("a", 3)]).key_by(lambda t: t[0]).sum(1)

    assert run_job(build).collected == [("a", 1), ("b", 2), ("a", 4)]


def test_side_outputs_by_yield_and_ctx() -> None:
    odd = OutputTag("odd", Types.INT())

    class Split(ProcessFunction):
        def process_element(self, value: int, ctx: ProcessFunction.Context) -> Any:
            if value % 2:
                yield odd, value
            else:
                yield value

    sink_odd = CollectSink()

    def build(env: StreamExecutionEnvironment) -> Any:
        main = env.from_collection([1, 2, 3, 4]).process(Split())
        main.get_side_output(odd).sink_to(sink_odd)
        return main

    assert run_job(build).collected == [2, 4]
    assert sink_odd.values == [1, 3]


def test_keyed_function_errors_are_clear() -> None:
    class Needs(KeyedProcessFunction):
        def process_element(self, value: Any, ctx: Any) -> Any:
            yield value

    env = StreamExecutionEnvironment.get_execution_environment()
    with pytest.raises(InvalidProgramError, match="key_by"):
        env.from_collection([1]).process(Needs())  # type: ignore[arg-type]

    class UsesState(ProcessFunction):
        def open(self, runtime_context: Any) -> None:
            runtime_context.get_state(ValueStateDescriptor("s", Types.INT()))

        def process_element(self, value: Any, ctx: Any) -> Any:
            yield value

    with pytest.raises(JobExecutionError) as info:
        run_job(lambda env: env.from_collection([1]).process(UsesState()))
    assert isinstance(info.value.__cause__, StateAccessError)


def test_user_exception_is_wrapped_with_cause() -> None:
    with pytest.raises(JobExecutionError, match="ZeroDivisionError") as info:
        run_job(lambda env: env.from_collection([0]).map(lambda v: 1 / v))
    assert isinstance(info.value.__cause__, ZeroDivisionError)


# -- keyed state and timers ----------------------------------------------------------------

class StatefulCounter(KeyedProcessFunction):
    def open(self, runtime_context: Any) -> None:
        self.count = runtime_context.get_state(ValueStateDescriptor("count", Types.INT()))
        self.seen = runtime_context.get_list_state(ListStateDescriptor("seen", Types.INT()))
        self.per_value = runtime_context.get_map_state(MapStateDescriptor("m", Types.INT(), Types.INT()))
        self.total = runtime_context.get_reducing_state(
            ReducingStateDescriptor("total", lambda a, b: a + b, Types.INT()))

        class Avg(AggregateFunction):
            def create_accumulator(self) -> Any:
                return (0, 0)

            def add(self, value: Any, acc: Any) -> Any:
                return (acc[0] + value, acc[1] + 1)

            def get_result(self, acc: Any) -> Any:
                return acc[0] / acc[1]

            def merge(self, a: Any, b: Any) -> Any:
                return (a[0] + b[0], a[1] + b[1])

        self.avg = runtime_context.get_aggregating_state(AggregatingStateDescriptor("avg", Avg(), Types.PICKLED_BYTE_ARRAY()))

    def process_element(self, value: Any, ctx: KeyedProcessFunction.Context) -> Any:
        self.count.update((self.count.value() or 0) + 1)
        self.seen.add(value[1])
        self.per_value.put(value[1], (self.per_value.get(value[1]) or 0) + 1)
        self.total.add(value[1])
        self.avg.add(value[1])
        ctx.timer_service().register_event_time_timer(ctx.timestamp() + 10)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Any:
        yield (ctx.get_current_key(), timestamp, self.count.value(), sorted(self.seen.get()),
               dict(self.per_value.items()), self.total.get(), self.avg.get())


def test_keyed_state_kinds_and_event_time_timers() -> None:
    events = [("a", 1), ("b", 2), ("a", 1), ("a", 5)]

    def build(env: StreamExecutionEnvironment) -> Any:
        return windowed(env, timed(events)).process(StatefulCounter())

    out = run_job(build).collected
    assert out == [
        ("a", 11, 3, [1, 1, 5], {1: 2, 5: 1}, 7, 7 / 3),
        ("b", 12, 1, [2], {2: 1}, 2, 2.0),
        ("a", 15, 3, [1, 1, 5], {1: 2, 5: 1}, 7, 7 / 3),
    ]


def test_processing_time_timers_on_manual_clock() -> None:
    class Delay(KeyedProcessFunction):
        def process_element(self, value: Any, ctx: Any) -> Any:
            ctx.timer_service().register_processing_time_timer(ctx.timer_service().current_processing_time() + 250)

        def on_timer(self, timestamp: int, ctx: Any) -> Any:
            yield (ctx.get_current_key(), timestamp, ctx.time_domain().name)

    def build(env: StreamExecutionEnvironment) -> Any:
        source = TestSource([Record("a", at_ms=0), Record("b", at_ms=100)], finish_at_ms=1000)
        return env.from_source(source, WatermarkStrategy.no_watermarks(), "s").key_by(lambda v: v).process(Delay())

    assert run_job(build).collected == [("a", 250, "PROCESSING_TIME"), ("b", 350, "PROCESSING_TIME")]


def test_state_ttl_expires_on_processing_time() -> None:
    class Remember(KeyedProcessFunction):
        def open(self, runtime_context: Any) -> None:
            descriptor = ValueStateDescriptor("last", Types.STRING())
            descriptor.enable_time_to_live(StateTtlConfig.new_builder(Duration.of_millis(300)).build())
            self.last = runtime_context.get_state(descriptor)

        def process_element(self, value: Any, ctx: Any) -> Any:
            yield (value, self.last.value())
            self.last.update(value)

    def build(env: StreamExecutionEnvironment) -> Any:
        source = TestSource([Record("k", at_ms=0), Record("k", at_ms=200), Record("k", at_ms=600)])
        return env.from_source(source, WatermarkStrategy.no_watermarks(), "s").key_by(lambda v: "x").process(Remember())

    assert run_job(build).collected == [("k", None), ("k", "k"), ("k", None)]


def test_keyed_co_process_join() -> None:
    class Join(KeyedCoProcessFunction):
        def open(self, runtime_context: Any) -> None:
            self.left = runtime_context.get_state(ValueStateDescriptor("left", Types.STRING()))
            self.right = runtime_context.get_list_state(ListStateDescriptor("right", Types.STRING()))

        def process_element1(self, value: Any, ctx: Any) -> Any:
            self.left.update(value[1])
            for r in self.right.get():
                yield (ctx.get_current_key(), value[1], r)

        def process_element2(self, value: Any, ctx: Any) -> Any:
            self.right.add(value[1])
            if self.left.value() is not None:
                yield (ctx.get_current_key(), self.left.value(), value[1])

    def build(env: StreamExecutionEnvironment) -> Any:
        users = env.from_collection([(1, "ann"), (2, "bob")])
        orders = env.from_collection([(1, "book"), (3, "pen"), (2, "cup")])
        return users.connect(orders).key_by(lambda u: u[0], lambda o: o[0]).process(Join())

    assert sorted(run_job(build).collected) == [(1, "ann", "book"), (2, "bob", "cup")]


def test_co_map_and_co_flat_map() -> None:
    class Tag(CoMapFunction):
        def map1(self, value: Any) -> Any:
            return ("L", value)

        def map2(self, value: Any) -> Any:
            return ("R", value)

    class Both(CoFlatMapFunction):
        def flat_map1(self, value: Any) -> Any:
            yield value

        def flat_map2(self, value: Any) -> Any:
            yield value
            yield value

    def build(env: StreamExecutionEnvironment) -> Any:
        a, b = env.from_collection([1]), env.from_collection([2])
        return a.connect(b).map(Tag()).union(a.connect(b).flat_map(Both()))

    assert sorted(run_job(build).collected, key=str) == sorted([("L", 1), ("R", 2), 1, 2, 2], key=str)


# -- windows -------------------------------------------------------------------------------

def test_tumbling_event_time_out_of_order_within_bound() -> None:
    # 1600 after 2500 and 4900 after 5200 are out of order by less than the 1000 ms bound.
    events = [("a", 1000), ("a", 2500), ("a", 1600), ("b", 4500), ("a", 5200), ("a", 4900)]

    def build(env: StreamExecutionEnvironment) -> Any:
        return windowed(env, timed(events), bound=1000).window(
            TumblingEventTimeWindows.of(Time.seconds(2))).process(CountPerWindow())

    assert run_job(build).collected == [("a", 0, 2000, 2), ("a", 2000, 4000, 1),
                                        ("b", 4000, 6000, 1), ("a", 4000, 6000, 2)]


def test_late_data_within_and_beyond_allowed_lateness() -> None:
    late = OutputTag("late")
    # 200 ms between records: the periodic watermark (200 ms) runs after each one.
    events = [("a", 1000), ("a", 2500), ("a", 1200), ("a", 4100), ("a", 1300), ("a", 6000)]
    late_sink = CollectSink()

    def build(env: StreamExecutionEnvironment) -> Any:
        windows = (windowed(env, timed(events, 200)).window(TumblingEventTimeWindows.of(Time.seconds(2)))
                   .allowed_lateness(1000).side_output_late_data(late).process(CountPerWindow()))
        windows.get_side_output(late).sink_to(late_sink)
        return windows

    out = run_job(build).collected
    # [0,2000) fires when wm passes 1999 (after 2500), re-fires with the late 1200 (wm 2499 < 2999),
    # and the 1300 after wm 4099 >= 2999 is beyond the lateness: side output.
    assert out == [("a", 0, 2000, 1), ("a", 0, 2000, 2), ("a", 2000, 4000, 1), ("a", 4000, 6000, 1),
                   ("a", 6000, 8000, 1)]
    assert late_sink.values == [("a", 1300)]


def test_late_data_dropped_without_side_output() -> None:
    events = [("a", 5000), ("a", 1000), ("a", 5500)]

    def build(env: StreamExecutionEnvironment) -> Any:
        return windowed(env, timed(events, 300)).window(TumblingEventTimeWindows.of(Time.seconds(1))).process(CountPerWindow())

    assert run_job(build).collected == [("a", 5000, 6000, 2)]


def test_sliding_windows_reduce() -> None:
    events = [("a", 100), ("a", 600), ("a", 1100)]

    def build(env: StreamExecutionEnvironment) -> Any:
        return windowed(env, timed(events)).window(SlidingEventTimeWindows.of(Time.seconds(1), Time.milliseconds(500))) \
            .reduce(lambda x, y: (x[0], x[1] + y[1]))

    out = run_job(build).collected
    assert out == [("a", 100), ("a", 700), ("a", 1700), ("a", 1100)]


def test_session_windows_merge_and_aggregate() -> None:
    class Count(AggregateFunction):
        def create_accumulator(self) -> Any:
            return 0

        def add(self, value: Any, accumulator: Any) -> Any:
            return accumulator + 1

        def get_result(self, accumulator: Any) -> Any:
            return accumulator

        def merge(self, a: Any, b: Any) -> Any:
            return a + b

    class WithWindow(ProcessWindowFunction):
        def process(self, key: Any, context: Any, elements: Any) -> Any:
            yield (key, context.window().start, context.window().end, list(elements)[0])

    # 1000 and 3000 are separate sessions (gap 1500) until 2000 bridges them into one.
    events = [("a", 1000), ("a", 3000), ("a", 2000), ("b", 1000), ("a", 9000)]

    def build(env: StreamExecutionEnvironment) -> Any:
        return windowed(env, timed(events), bound=5000).window(EventTimeSessionWindows.with_gap(Time.milliseconds(1500))) \
            .aggregate(Count(), WithWindow())

    assert sorted(run_job(build).collected) == [("a", 1000, 4500, 3), ("a", 9000, 10500, 1), ("b", 1000, 2500, 1)]


def test_idle_key_windows_close_when_the_watermark_moves() -> None:
    events = [("quiet", 100), ("busy", 200), ("busy", 1500), ("busy", 2500), ("busy", 3500)]

    def build(env: StreamExecutionEnvironment) -> Any:
        return windowed(env, TestSource(events + [("busy", 99_000)], interval_ms=300)).window(
            TumblingEventTimeWindows.of(Time.seconds(1))).process(CountPerWindow())

    out = run_job(build).collected
    assert out[0] == ("quiet", 0, 1000, 1)  # fired by busy's watermark, long before the end of input


def test_idle_partition_holds_watermark_unless_with_idleness() -> None:
    splits = {"p0": [Record(("a", t), at_ms=t) for t in range(0, 5000, 500)], "p1": []}

    def build(idle: bool) -> Any:
        def job(env: StreamExecutionEnvironment) -> Any:
            strategy = ts_strategy()
            if idle:
                strategy = strategy.with_idleness(Duration.of_millis(1000))
            source = TestSource(splits={k: list(v) for k, v in splits.items()}, finish_at_ms=20_000)
            return env.from_source(source, strategy, "s").key_by(lambda e: e[0]) \
                .window(TumblingEventTimeWindows.of(Time.seconds(1))).process(Fired())
        return job

    class Fired(ProcessWindowFunction):
        def process(self, key: Any, context: Any, elements: Any) -> Any:
            yield (context.window().start, context.current_processing_time())

    with_idle = run_job(build(True)).collected
    without = run_job(build(False)).collected
    assert all(fired_at < 6000 for _, fired_at in with_idle[:4])
    assert all(fired_at == 20_000 for _, fired_at in without)


def test_count_window_and_global_window_trigger() -> None:
    def build(env: StreamExecutionEnvironment) -> Any:
        ds = env.from_collection([("a", i) for i in range(5)]).key_by(lambda t: t[0])
        counted = ds.count_window(2).reduce(lambda x, y: (x[0], x[1] + y[1]))
        globally = ds.window(GlobalWindows.create()).trigger(PurgingTrigger.of(CountTrigger.of(3))) \
            .apply(lambda key, window, items: [(key, "global", [i[1] for i in items])])
        return counted.union(globally)

    out = run_job(build).collected
    assert ("a", 1) in out and ("a", 5) in out and ("a", "global", [0, 1, 2]) in out and len(out) == 3


def test_processing_time_windows() -> None:
    def build(env: StreamExecutionEnvironment) -> Any:
        source = TestSource([Record("a", at_ms=t) for t in (100, 400, 1200, 1900)], finish_at_ms=3000)
        return env.from_source(source, WatermarkStrategy.no_watermarks(), "s").key_by(lambda v: v) \
            .window(TumblingProcessingTimeWindows.of(Time.seconds(1))).process(CountPerWindow())

    assert run_job(build).collected == [("a", 0, 1000, 2), ("a", 1000, 2000, 2)]

    def session(env: StreamExecutionEnvironment) -> Any:
        source = TestSource([Record("a", at_ms=t) for t in (100, 400, 2000)], finish_at_ms=5000)
        return env.from_source(source, WatermarkStrategy.no_watermarks(), "s").key_by(lambda v: v) \
            .window(ProcessingTimeSessionWindows.with_gap(Time.milliseconds(500))).process(CountPerWindow())

    assert run_job(session).collected == [("a", 100, 900, 2), ("a", 2000, 2500, 1)]


def test_end_of_input_flushes_event_time_windows() -> None:
    def build(env: StreamExecutionEnvironment) -> Any:
        ds = env.from_collection([("a", 1), ("a", 2)]).assign_timestamps_and_watermarks(ts_strategy())
        return ds.key_by(lambda e: e[0]).window(TumblingEventTimeWindows.of(Time.hours(1))).process(CountPerWindow())

    assert run_job(build).collected == [("a", 0, 3_600_000, 2)]


def test_parallel_keyed_windows_split_by_key_group() -> None:
    events = [(k, t) for t in range(0, 3000, 100) for k in "abcdef"]

    def build(env: StreamExecutionEnvironment) -> Any:
        ds = env.from_collection(events).assign_timestamps_and_watermarks(ts_strategy())
        return ds.key_by(lambda e: e[0]).window(TumblingEventTimeWindows.of(Time.seconds(1))).process(CountPerWindow())

    single = run_job(build).collected
    parallel = run_job(build, parallelism=3).collected
    assert sorted(single) == sorted(parallel)
    assert len(single) == 18


def test_snapshot_and_restore_keyed_state_by_key_group() -> None:
    from flinklite.state.backend import InMemoryKeyedStateBackend
    from flinklite.state.keygroups import key_group_range

    backend = InMemoryKeyedStateBackend()
    handle = backend.get_state(ValueStateDescriptor("v"), lambda: 0)
    for key in "abcdefgh":
        backend.set_current_key(key)
        handle.update(key.upper())
    snapshot = backend.snapshot()
    halves = [InMemoryKeyedStateBackend(128, key_group_range(i, 2)) for i in range(2)]
    for half in halves:
        half.restore(snapshot)
    assert sum(h.entry_count() for h in halves) == 8
    for key in "abcdefgh":
        owner = [h for h in halves if key_group_range(0, 2).start <= 0 or True]
        values = []
        for half in halves:
            half.set_current_key(key)
            values.append(half.get_state(ValueStateDescriptor("v"), lambda: 0).value())
        assert values.count(key.upper()) == 1
    assert owner


def test_key_groups_match_pyflink() -> None:
    from flinklite.state.keygroups import (java_hash_code, key_group_for, operator_index_for_key_group,
                                           pickled_key_hash, typed_key_hash)

    assert java_hash_code("hello") == 99162322
    assert java_hash_code(2**40) == 256
    # Key groups PyFlink 2.3.0 assigns (KeyGroupRangeAssignment on its one-field key Row), max parallelism 128:
    # key_by(..., Types.STRING() / Types.INT()) ...
    observed = {"apple": 107, "kiwi": 20, "fig": 57, "plum": 41, 0: 33, 1: 44, 2: 97, 3: 104, 4: 17}
    assert {key: key_group_for(key, 128, typed_key_hash) for key in observed} == observed
    # ... and key_by without key_type (the key travels pickled).
    pickled = {"Alice": 51, "Bob": 10, 1: 38, ("a", 2): 15, 2.5: 65}
    assert {key: key_group_for(key, 128, pickled_key_hash) for key in pickled} == pickled
    assert [operator_index_for_key_group(observed[k], 2) for k in ("apple", "kiwi", 2)] == [1, 0, 1]


def test_an_attempt_ended_by_a_base_exception_still_closes_its_operators() -> None:
    """SIGTERM's sys.exit (SystemExit) or Ctrl-C inside a running job: every operator is closed
    (a Kafka sink's producer threads and sockets, its open transaction aborted), as on a failure."""
    closed: list[str] = []

    class Exits(ProcessFunction):
        def process_element(self, value: Any, ctx: Any) -> Any:
            raise SystemExit(143)

    class Closes(ProcessFunction):
        def process_element(self, value: Any, ctx: Any) -> Any:
            yield value

        def close(self) -> None:
            closed.append("closed")

    with pytest.raises(SystemExit):
        run_job(lambda env: env.from_collection([1]).process(Closes()).process(Exits()))
    assert closed == ["closed"]
