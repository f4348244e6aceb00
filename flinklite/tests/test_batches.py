"""The batch path (a source without watermarks hands each poll on as one batch; map, filter and
sinks take it whole; routes deal it out): it must give exactly what record-by-record delivery
gives: the same records to the same subtasks in the same order, with their timestamps, and
the same interleaving where one output feeds several routes."""

from __future__ import annotations

from typing import Any

from flinklite.common import WatermarkStrategy
from flinklite.datastream import MapFunction, StreamExecutionEnvironment
from flinklite.operators.base import Operator
from flinklite.runtime.executor import SOURCE_BATCH
from flinklite.testing import CollectSink, Record, TestSource, run_job

RECORDS = SOURCE_BATCH * 3 + 17  # several polls, the last one short, dealing starts mid-cycle


def test_rebalance_deals_a_batch_as_records_one_by_one_would_go() -> None:
    sink = CollectSink()

    def build(env: StreamExecutionEnvironment) -> None:
        env.from_collection(list(range(RECORDS))).map(lambda x: x * 10).set_parallelism(3).sink_to(sink)

    run_job(build, parallelism=3)
    # rebalance starts at channel 0 and continues across polls: record i goes to subtask i % 3
    assert sink.by_subtask == {k: [i * 10 for i in range(RECORDS) if i % 3 == k] for k in range(3)}


def test_filter_and_map_keep_each_record_with_its_timestamp() -> None:
    events = [(f"e{i}", i * 7) for i in range(RECORDS)]
    sink = CollectSink()

    def build(env: StreamExecutionEnvironment) -> None:
        records = [Record(v, timestamp=ts) for v, ts in events]  # record timestamps, as Kafka's
        env.from_source(TestSource(records), WatermarkStrategy.no_watermarks(), "in") \
            .filter(lambda v: int(v[1:]) % 3 != 0).map(str.upper).sink_to(sink)

    run_job(build)
    kept = [(v.upper(), ts) for v, ts in events if int(v[1:]) % 3 != 0]
    assert list(zip(sink.values, sink.timestamps)) == kept


def test_an_output_feeding_two_routes_interleaves_them_record_by_record() -> None:
    order: list[str] = []

    def build(env: StreamExecutionEnvironment) -> None:
        doubled = env.from_collection([1, 2, 3]).map(lambda x: x * 2)
        doubled.add_sink(lambda v: order.append(f"a{v}"))
        doubled.add_sink(lambda v: order.append(f"b{v}"))

    run_job(build)
    assert order == ["a2", "b2", "a4", "b4", "a6", "b6"]


def test_an_operator_without_a_batch_path_gets_every_record_through_process_element() -> None:
    calls: list[tuple[Any, Any, Any, int]] = []

    class Recorder(Operator):
        def process_element(self, value: Any, timestamp: int | None, key: Any, input_index: int) -> None:
            calls.append((value, timestamp, key, input_index))

    recorder = Recorder("recorder")
    recorder.process_batch([1, 2], None, 0)
    recorder.process_batch([3], [30], 1)
    assert calls == [(1, None, None, 0), (2, None, None, 0), (3, 30, None, 1)]


def test_a_map_function_object_and_a_keyed_map_see_every_record_once() -> None:
    class Tagging(MapFunction):
        def map(self, value: Any) -> Any:
            return ("seen", value)

    out = run_job(lambda env: env.from_collection(list(range(RECORDS))).map(Tagging()))
    assert out.collected == [("seen", i) for i in range(RECORDS)]
    keyed = run_job(lambda env: env.from_collection(list(range(RECORDS))).key_by(lambda x: x % 5)
                    .map(lambda x: x + 1), parallelism=2)
    assert sorted(keyed.collected) == list(range(1, RECORDS + 1))


def test_a_map_failing_mid_batch_fails_the_job_with_the_functions_error() -> None:
    import pytest

    from flinklite.errors import JobExecutionError

    def fail_on_300(x: int) -> int:
        if x == 300:
            raise ValueError("bad record 300")
        return x

    with pytest.raises(JobExecutionError, match="bad record 300"):
        run_job(lambda env: env.from_collection(list(range(RECORDS))).map(fail_on_300))


def test_a_slow_map_before_a_watermark_generator_passes_each_record_on_at_once() -> None:
    """As Flink's chain calls the next operator per record: with a map that takes 300 ms of
    processing time per record and a periodic generator (10 ms) after it, a watermark comes
    between every two records, so the record that is late by then goes to the late output."""
    from flinklite.common import Duration, Time, Types
    from flinklite.datastream import OutputTag, ProcessWindowFunction
    from flinklite.datastream.window import TumblingEventTimeWindows
    from flinklite.testing import ManualClock

    clock = ManualClock()

    def slowly(event: Any) -> Any:
        clock.advance(300)
        return event

    class Count(ProcessWindowFunction):
        def process(self, key: Any, context: Any, elements: Any) -> Any:
            yield (key, context.window().start, len(list(elements)))

    late = OutputTag("late", Types.PICKLED_BYTE_ARRAY())
    printed: list[Any] = []

    def build(env: StreamExecutionEnvironment) -> None:
        strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(0)) \
            .with_timestamp_assigner(lambda e, _ts: e[1])
        windows = env.from_collection([("a", 1000), ("a", 2500), ("a", 1200)]).map(slowly) \
            .assign_timestamps_and_watermarks(strategy).key_by(lambda e: e[0]) \
            .window(TumblingEventTimeWindows.of(Time.seconds(2))).side_output_late_data(late).process(Count())
        windows.add_sink(lambda v: printed.append(("window", v)))
        windows.get_side_output(late).add_sink(lambda v: printed.append(("late", v)))

    run_job(build, clock=clock, auto_watermark_interval_ms=10)
    assert ("late", ("a", 1200)) in printed  # the watermark 2499 came before it
    assert ("window", ("a", 0, 1)) in printed and ("window", ("a", 2000, 1)) in printed
