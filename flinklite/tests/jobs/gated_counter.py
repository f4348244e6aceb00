# A job for the savepoint tests: an unbounded source of three splits whose records are released
# by a gate file (split s emits s, s+3, s+6, ... up to the per-split limit written in the file),
# a keyed running count and a keyed event-time window count, both printed.
#   python -m flinklite run gated_counter.py --gate FILE --total N [--bounded]
# --bounded: every split emits its N records and the job ends (no gate).
import argparse
import os

from flinklite.common import Duration, Time, WatermarkStrategy
from flinklite.datastream import StreamExecutionEnvironment
from flinklite.datastream.connectors.base import Boundedness, Source, SourceReader
from flinklite.datastream.window import TumblingEventTimeWindows
from flinklite.tests import functions

SPLITS = 3


class GatedReader(SourceReader):
    def __init__(self, splits, total, gate, bounded):
        self.positions = {s: 0 for s in splits}
        self.total = total
        self.gate = gate
        self.bounded = bounded

    def split_ids(self):
        return list(self.positions)

    def _limit(self):
        if self.bounded:
            return self.total
        try:
            with open(self.gate) as f:
                return min(int(f.read().strip() or 0), self.total)
        except (OSError, ValueError):
            return 0

    def poll(self, max_records, now):
        limit = self._limit()
        out = []
        for split in self.positions:
            while self.positions[split] < limit and len(out) < max_records:
                value = self.positions[split] * SPLITS + split
                out.append((split, value, value))  # the value is also the event time (ms)
                self.positions[split] += 1
        return out

    def is_finished(self):
        return self.bounded and all(p >= self.total for p in self.positions.values())

    def snapshot(self):
        return dict(self.positions)

    def restore(self, state):
        if state:
            for split in self.positions:
                self.positions[split] = state.get(split, 0)


class GatedSource(Source):
    def __init__(self, total, gate, bounded):
        self.total, self.gate, self.bounded = total, gate, bounded

    def create_reader(self, subtask_index, parallelism):
        splits = [s for s in range(SPLITS) if s % parallelism == subtask_index]
        return GatedReader(splits, self.total, self.gate, self.bounded)

    def get_boundedness(self):
        return Boundedness.BOUNDED if self.bounded else Boundedness.CONTINUOUS_UNBOUNDED


class RunningCount(functions.RunningCount):
    def render(self, value, count):
        return f"count {value % 7} {count}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--gate", default=os.devnull)
    parser.add_argument("--total", type=int, required=True)
    parser.add_argument("--bounded", action="store_true")
    options = parser.parse_args()
    env = StreamExecutionEnvironment.get_execution_environment()
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(0)) \
        .with_timestamp_assigner(lambda value, ts: ts)
    numbers = env.from_source(GatedSource(options.total, options.gate, options.bounded), strategy, "numbers")
    numbers.key_by(lambda v: v % 7).process(RunningCount()).print()
    numbers.map(lambda v: (v % 5, 1)).key_by(lambda p: p[0]) \
        .window(TumblingEventTimeWindows.of(Time.milliseconds(50))) \
        .reduce(lambda a, b: (a[0], a[1] + b[1])) \
        .map(lambda p: f"window {p[0]} {p[1]}").print()
    env.execute("gated counter")


if __name__ == "__main__":
    main()
