"""More operators and runtime behaviour: count and global windows, continuous triggers,
evictors, window_all, TTL variants, operator snapshots through the executor, the CLI and
run_script, and the periodic watermark rule."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from flinklite.common import Duration, Time, Types, WatermarkStrategy
from flinklite.datastream import KeyedProcessFunction, ProcessWindowFunction, StreamExecutionEnvironment
from flinklite.datastream.functions import ProcessAllWindowFunction
from flinklite.datastream.state import MapStateDescriptor, StateTtlConfig, ValueStateDescriptor
from flinklite.datastream.window import (ContinuousEventTimeTrigger, CountEvictor, CountTrigger, GlobalWindows,
                                         TumblingEventTimeWindows)
from flinklite.errors import InvalidProgramError
from flinklite.testing import ManualClock, Record, TestSource, run_job, run_script

REPO = Path(__file__).resolve().parents[2]


def by_field(bound: int = 0) -> WatermarkStrategy:
    return WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(bound)) \
        .with_timestamp_assigner(lambda e, _ts: e[1])


class Window(ProcessWindowFunction):
    def process(self, key: Any, context: Any, elements: Any) -> Any:
        yield (key, str(context.window()), [e[1] if isinstance(e, tuple) else e for e in elements])


def test_sliding_count_windows_fire_when_full_like_pyflink() -> None:
    # PyFlink's CountSlidingWindowAssigner: window n starts at element n*slide and fires at `size` elements.
    def build(env: StreamExecutionEnvironment) -> Any:
        return env.from_collection([("k", i) for i in range(7)]).key_by(lambda t: t[0]).count_window(3, 2) \
            .process(Window())

    assert run_job(build).collected == [("k", "CountWindow(id=0)", [0, 1, 2]), ("k", "CountWindow(id=1)", [2, 3, 4]),
                                        ("k", "CountWindow(id=2)", [4, 5, 6])]


def test_global_window_with_count_trigger_and_evictor() -> None:
    def build(env: StreamExecutionEnvironment) -> Any:
        return env.from_collection([("k", i) for i in range(6)]).key_by(lambda t: t[0]) \
            .window(GlobalWindows.create()).trigger(CountTrigger.of(2)).evictor(CountEvictor.of(3)).process(Window())

    out = run_job(build).collected
    assert [o[2] for o in out] == [[0, 1], [1, 2, 3], [3, 4, 5]]
    assert out[0][1] == "GlobalWindow"


def test_continuous_event_time_trigger_fires_early() -> None:
    events = [("k", t) for t in (100, 600, 1200, 1700, 2600, 5100)]

    def build(env: StreamExecutionEnvironment) -> Any:
        source = TestSource(events, interval_ms=300)
        return env.from_source(source, by_field(), "s").key_by(lambda e: e[0]) \
            .window(TumblingEventTimeWindows.of(Time.seconds(5))) \
            .trigger(ContinuousEventTimeTrigger.of(Time.seconds(1))).process(Window())

    fired = [o[2] for o in run_job(build).collected]
    # Early firing at 999 once the watermark passes it; 1200 arrived in the same poll before that
    # watermark and belongs to the same 5 s window, so the pane already holds it.
    assert fired[0] == [100, 600, 1200]
    # Then every second of event time up to the window's end (999, 1999, ... 4999), and the
    # same for [5000, 10000) once the end-of-input watermark passes every remaining timer.
    assert fired[1:5] == [[100, 600, 1200, 1700, 2600]] * 4
    assert fired[5:] == [[5100]] * 5


def test_window_all_is_non_parallel() -> None:
    class Total(ProcessAllWindowFunction):
        def process(self, context: Any, elements: Any) -> Any:
            yield (context.window().start, sum(e[1] for e in elements))

    def build(env: StreamExecutionEnvironment) -> Any:
        ds = env.from_collection([("a", 1), ("b", 1500), ("c", 2)]).assign_timestamps_and_watermarks(by_field())
        return ds.window_all(TumblingEventTimeWindows.of(Time.seconds(1))).process(Total())

    assert sorted(run_job(build, parallelism=3).collected) == [(0, 3), (1000, 1500)]


def test_ttl_update_on_read_and_return_expired() -> None:
    class Probe(KeyedProcessFunction):
        def __init__(self, config: StateTtlConfig) -> None:
            self.config = config

        def open(self, runtime_context: Any) -> None:
            descriptor = ValueStateDescriptor("v", Types.INT())
            descriptor.enable_time_to_live(self.config)
            self.value = runtime_context.get_state(descriptor)
            mapping = MapStateDescriptor("m", Types.STRING(), Types.INT())
            mapping.enable_time_to_live(self.config)
            self.mapping = runtime_context.get_map_state(mapping)

        def process_element(self, value: Any, ctx: Any) -> Any:
            if value == "write":
                self.value.update(1)
                self.mapping.put("x", 1)
            else:
                yield (value, self.value.value(), self.mapping.get("x"))

    def run(config: StateTtlConfig) -> list[Any]:
        def build(env: StreamExecutionEnvironment) -> Any:
            source = TestSource([Record("write", at_ms=0), Record("read1", at_ms=80), Record("read2", at_ms=160)])
            return env.from_source(source, WatermarkStrategy.no_watermarks(), "s").key_by(lambda v: 0) \
                .process(Probe(config))
        return run_job(build).collected

    ttl = Duration.of_millis(100)
    assert run(StateTtlConfig.new_builder(ttl).build()) == [("read1", 1, 1), ("read2", None, None)]
    on_read = StateTtlConfig.new_builder(ttl).update_ttl_on_read_and_write().build()
    assert run(on_read) == [("read1", 1, 1), ("read2", 1, 1)]
    stale = StateTtlConfig.new_builder(ttl).return_expired_if_not_cleaned_up().build()
    assert run(stale) == [("read1", 1, 1), ("read2", 1, 1)]


def test_periodic_watermarks_follow_the_auto_watermark_interval() -> None:
    # With interval 0 no watermark is emitted before the end of input, so the record at 50
    # (behind 3000) is still counted; with the 200 ms default the watermark 2999 is emitted at
    # 200 ms of processing time, before 50 arrives at 300 ms, so it is late and dropped.
    events = [Record(("k", 1000), at_ms=0), Record(("k", 3000), at_ms=100), Record(("k", 50), at_ms=300),
              Record(("k", 3100), at_ms=400)]

    def build(env: StreamExecutionEnvironment) -> Any:
        return env.from_source(TestSource(events), by_field(), "s").key_by(lambda e: e[0]) \
            .window(TumblingEventTimeWindows.of(Time.seconds(1))).process(Window())

    default = run_job(build).collected
    never = run_job(build, auto_watermark_interval_ms=0).collected
    assert ("k", "TimeWindow(start=0, end=1000)", [1000]) not in default
    assert [o[2] for o in default] == [[1000], [3000, 3100]]
    assert [o[2] for o in never] == [[50], [1000], [3000, 3100]]


def test_operator_snapshot_holds_keyed_state_timers_and_source_position() -> None:
    env = StreamExecutionEnvironment.get_execution_environment().set_clock(ManualClock())
    ds = env.from_collection([("a", 1), ("b", 2500)]).assign_timestamps_and_watermarks(by_field())
    ds.key_by(lambda e: e[0]).window(TumblingEventTimeWindows.of(Time.seconds(1))).process(Window()).print()
    env.get_config().set_auto_watermark_interval(0)
    import contextlib
    import io
    with contextlib.redirect_stdout(io.StringIO()):
        env.execute()
    executor = env.last_executor
    assert executor is not None
    snapshot = executor.snapshot()
    source_state = [s for s in snapshot.values() if 0 in s and "reader" in s[0]][0][0]
    assert source_state["reader"] == {"position": 2}
    window_state = [s[0] for s in snapshot.values() if "keyed" in s[0]]
    assert window_state and window_state[0]["keyed"] == {}  # all windows fired and cleaned at end of input


def test_invalid_programs_raise_clear_errors() -> None:
    env = StreamExecutionEnvironment.get_execution_environment()
    with pytest.raises(InvalidProgramError, match="No operators"):
        env.execute()
    with pytest.raises(InvalidProgramError, match="non-parallel"):
        env.from_collection([1]).set_parallelism(2)
    with pytest.raises(InvalidProgramError, match="WindowAssigner"):
        env.from_collection([1]).key_by(lambda v: v).window("not an assigner")  # type: ignore[arg-type]
    with pytest.raises(InvalidProgramError, match="allowed_lateness"):
        from flinklite.datastream.window import TumblingProcessingTimeWindows
        env.from_collection([1]).key_by(lambda v: v).window(TumblingProcessingTimeWindows.of(Time.seconds(1))) \
            .allowed_lateness(10)


JOB = textwrap.dedent("""
    import sys
    from flinklite.datastream import StreamExecutionEnvironment
    env = StreamExecutionEnvironment.get_execution_environment()
    env.from_collection(sys.argv[1:]).map(str.upper).print()
    env.execute("cli job")
""")


def test_run_script_and_cli(tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text(JOB)
    assert run_script(str(script), ["a", "b"], parallelism=1).printed == ["A", "B"]
    # Without set_parallelism a job gets one subtask per CPU, as PyFlink's local environment does.
    assert sorted(run_script(str(script), ["a", "b"], parallelism=2).printed) == ["1> A", "2> B"]
    done = subprocess.run([sys.executable, "-m", "flinklite", "run", "-p", "1", "--progress", "0.000001", str(script), "x"],
                          capture_output=True, text=True, cwd=str(REPO), timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["X"]
    assert "Collection Source (x1): in 0 out 1" in done.stderr and "Map (x1): in 1 out 1" in done.stderr


def test_stop_snapshot_and_restore_at_another_parallelism() -> None:
    """A job stopped halfway and restored from its snapshot at parallelism 3 emits, in total,
    what the uninterrupted run emits: keyed state, window contents and timers move by key group."""
    from flinklite.runtime.executor import JobExecutor

    class RunningCount(KeyedProcessFunction):
        def open(self, runtime_context: Any) -> None:
            self.count = runtime_context.get_state(ValueStateDescriptor("count", Types.INT()))

        def process_element(self, value: Any, ctx: Any) -> Any:
            self.count.update((self.count.value() or 0) + 1)
            yield ("count", value[0], self.count.value())

    records = {f"p{p}": [Record((f"k{(i * 7 + p) % 10}", 100 * i + p), at_ms=100 * i) for i in range(20)]
               for p in range(2)}

    def build(env: StreamExecutionEnvironment, sink: Any) -> None:
        keyed = env.from_source(TestSource(splits=records), by_field(), "events").uid("events") \
            .key_by(lambda e: e[0])
        keyed.process(RunningCount()).uid("counts").sink_to(sink)
        keyed.window(TumblingEventTimeWindows.of(Time.milliseconds(500))).process(Window()).uid("windows") \
            .sink_to(sink)

    from flinklite.testing import CollectSink

    def executor(parallelism: int, sink: Any, start_ms: int) -> JobExecutor:
        env = StreamExecutionEnvironment.get_execution_environment().set_parallelism(parallelism)
        build(env, sink)
        return JobExecutor(env._sinks, parallelism, clock=ManualClock(start_ms))

    whole = CollectSink()
    executor(2, whole, 0).run()

    first, second = CollectSink(), CollectSink()
    before = executor(2, first, 0)
    before.run(until_ms=1000)
    snapshot = before.snapshot()
    assert any(state.get("keyed") for states in snapshot.values() for state in states.values())
    executor(3, second, 1000).run(restore_from=snapshot)
    assert first.values and second.values
    assert sorted(map(str, first.values + second.values)) == sorted(map(str, whole.values))


def test_batch_mode_reduce_emits_final_values_and_file_connectors(tmp_path: Path) -> None:
    from flinklite.common import Encoder
    from flinklite.datastream import RuntimeExecutionMode
    from flinklite.datastream.connectors.file_system import FileSink, FileSource, OutputFileConfig, StreamFormat

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("to be or\nnot to be\n")
    (tmp_path / "in" / "b.txt").write_text("be quick\n")

    def build(env: StreamExecutionEnvironment) -> Any:
        env.set_runtime_mode(RuntimeExecutionMode.BATCH)
        source = FileSource.for_record_stream_format(StreamFormat.text_line_format(), str(tmp_path / "in")).build()
        counts = env.from_source(source, WatermarkStrategy.for_monotonous_timestamps(), "files") \
            .flat_map(lambda line: line.split()).map(lambda w: (w, 1)).key_by(lambda t: t[0]) \
            .reduce(lambda a, b: (a[0], a[1] + b[1]))
        counts.sink_to(FileSink.for_row_format(str(tmp_path / "out"), Encoder.simple_string_encoder())
                       .with_output_file_config(OutputFileConfig.builder().with_part_prefix("wc")
                                                .with_part_suffix(".txt").build()).build())
        return counts

    out = run_job(build, parallelism=2).collected
    assert sorted(out) == [("be", 3), ("not", 1), ("or", 1), ("quick", 1), ("to", 2)]
    written = sorted(line for f in (tmp_path / "out").iterdir() for line in f.read_text().splitlines())
    assert written == sorted(str(t) for t in out)
    assert sorted(f.name for f in (tmp_path / "out").iterdir()) == ["wc-0-0.txt", "wc-1-0.txt"]
