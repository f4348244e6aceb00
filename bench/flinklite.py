"""flinklite vs Bytewax on the same input, in one run: records/s of a keyed tumbling-window
count (1,000 keys, 1 s event-time windows, records 1 ms apart) and of a stateless map, both
from memory into a counting sink. `python -m bench.flinklite [--records N] [--quick]`."""

from __future__ import annotations

import argparse
import os
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

KEYS = 1000


def flinklite_window(n: int) -> int:
    from flinklite.common import Duration, Time, WatermarkStrategy
    from flinklite.datastream import ProcessWindowFunction, StreamExecutionEnvironment
    from flinklite.datastream.window import TumblingEventTimeWindows
    from flinklite.testing import CollectSink

    class Count(ProcessWindowFunction):
        def process(self, key: Any, context: Any, elements: Any) -> Any:
            yield (key, context.window().start, len(elements))

    data = [(i % KEYS, i) for i in range(n)]
    env = StreamExecutionEnvironment.get_execution_environment()
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(0)) \
        .with_timestamp_assigner(lambda e, _ts: e[1])
    sink = CollectSink()
    env.from_collection(data).assign_timestamps_and_watermarks(strategy).key_by(lambda e: e[0]) \
        .window(TumblingEventTimeWindows.of(Time.seconds(1))).process(Count()).sink_to(sink)
    env.execute("window count")
    return len(sink.values)


def flinklite_map(n: int) -> int:
    from flinklite.datastream import StreamExecutionEnvironment

    count = [0]

    def sink(value: Any) -> None:
        count[0] += 1

    env = StreamExecutionEnvironment.get_execution_environment()
    env.from_collection(list(range(n))).map(lambda x: x * 2).add_sink(sink)
    env.execute("map")
    return count[0]


def bytewax_window(n: int) -> int:
    import bytewax.operators as op
    import bytewax.operators.windowing as win
    from bytewax.dataflow import Dataflow
    from bytewax.testing import TestingSink, TestingSource, run_main

    epoch = datetime(2024, 1, 1, tzinfo=timezone.utc)
    data = [(str(i % KEYS), epoch + timedelta(milliseconds=i)) for i in range(n)]
    out: list[Any] = []
    flow = Dataflow("window_count")
    stream = op.input("in", flow, TestingSource(data, batch_size=256))
    clock: Any = win.EventClock(lambda e: e[1], wait_for_system_duration=timedelta(0))
    windower = win.TumblingWindower(length=timedelta(seconds=1), align_to=epoch)
    counted = win.count_window("count", stream, clock, windower, lambda e: e[0])
    op.output("out", counted.down, TestingSink(out))
    run_main(flow)
    return len(out)


def bytewax_map(n: int) -> int:
    import bytewax.operators as op
    from bytewax.dataflow import Dataflow
    from bytewax.testing import TestingSink, TestingSource, run_main

    out: list[Any] = []
    flow = Dataflow("map")
    stream = op.input("in", flow, TestingSource(list(range(n)), batch_size=256))
    op.output("out", op.map("double", stream, lambda x: x * 2), TestingSink(out))
    run_main(flow)
    return len(out)


def timed(fn: Callable[[int], int], n: int) -> tuple[float, int]:
    started = time.perf_counter()
    produced = fn(n)
    return n / (time.perf_counter() - started), produced


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    options = parser.parse_args()
    n = 5_000 if options.quick else options.records
    rounds = 1 if options.quick else options.rounds
    print(f"records per run: {n:,}; best of {rounds} interleaved rounds; load {os.getloadavg()[0]:.2f}")
    pairs = [("keyed tumbling-window count, 1,000 keys", flinklite_window, bytewax_window),
             ("stateless map", flinklite_map, bytewax_map)]
    print("| workload | flinklite rec/s | Bytewax rec/s | flinklite/Bytewax |")
    print("| --- | ---: | ---: | ---: |")
    for name, ours, theirs in pairs:
        best_ours = best_theirs = 0.0
        outputs = set()
        for _ in range(rounds):
            rate, produced_ours = timed(ours, n)
            best_ours = max(best_ours, rate)
            rate, produced_theirs = timed(theirs, n)
            best_theirs = max(best_theirs, rate)
            outputs.add((produced_ours, produced_theirs))
        print(f"| {name} | {best_ours:,.0f} | {best_theirs:,.0f} | {best_ours / best_theirs:.2f} |  outputs {sorted(outputs)}")


if __name__ == "__main__":
    main()
