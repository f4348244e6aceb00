"""The job bench/flinklite_workers.py runs through `python -m flinklite run [--workers N]`: N
records from memory (a TestSource with 4 splits, so 2 source subtasks read 2 each, records 1 ms
apart in event time), keyed by one of 1,000 keys, counted in 10 s tumbling event-time windows
(as the window count of bench/flinklite.py, with 10 s windows: one printed count per 10 records) and the windows'
counts printed (`--light`: a running count and sum per key in ValueState instead, every 100th
printed, about 2.5 us per record). On stderr:
`RESULT <records> <seconds running>`, the running time being the executor's (for workers: from
the deployment to the last worker closing, so process start-up is not counted).
  python -m flinklite run [--workers N] bench/flinklite_workers_job.py RECORDS [--light]"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable
from typing import Any

from flinklite.common import Duration, Time, Types, WatermarkStrategy
from flinklite.datastream import (
    KeyedProcessFunction,
    ProcessWindowFunction,
    StreamExecutionEnvironment,
)
from flinklite.datastream.state import ValueStateDescriptor
from flinklite.datastream.window import TumblingEventTimeWindows
from flinklite.testing import Record, TestSource

KEYS = 1000


class CountAndSum(KeyedProcessFunction):
    def open(self, runtime_context: Any) -> None:
        self.count = runtime_context.get_state(ValueStateDescriptor("count", Types.LONG()))
        self.total = runtime_context.get_state(ValueStateDescriptor("total", Types.LONG()))

    def process_element(self, value: Any, ctx: Any) -> Any:
        count = (self.count.value() or 0) + 1
        total = (self.total.value() or 0) + value[1]
        self.count.update(count)
        self.total.update(total)
        if count % 100 == 0:
            yield f"{value[0]}:{count}:{total}"


class Count(ProcessWindowFunction):
    def process(self, key: Any, context: Any, elements: Any) -> Any:
        yield f"{key}:{context.window().start}:{len(elements)}"


def main() -> None:
    records = int(sys.argv[1])
    light = "--light" in sys.argv[2:]
    splits: dict[Any, Iterable[Any]] = {f"s{s}": [Record((f"k{i % KEYS}", i), i) for i in range(s, records, 4)] for s in range(4)}
    env = StreamExecutionEnvironment.get_execution_environment().set_parallelism(2)
    if light:
        env.from_source(TestSource(splits=splits), WatermarkStrategy.no_watermarks(), "numbers") \
            .key_by(lambda e: e[0]).process(CountAndSum(), Types.STRING()).print()
    else:
        strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(0))
        env.from_source(TestSource(splits=splits), strategy, "numbers").key_by(lambda e: e[0]) \
            .window(TumblingEventTimeWindows.of(Time.seconds(10))).process(Count(), Types.STRING()).print()
    started = time.perf_counter()
    result = env.execute("worker scaling")
    running = getattr(result.executor, "running_s", None) or (time.perf_counter() - started)
    sys.stderr.write(f"RESULT {records} {running:.6f}\n")


if __name__ == "__main__":
    main()
