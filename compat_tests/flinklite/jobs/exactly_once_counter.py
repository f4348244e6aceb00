# A job for the exactly-once kill -9 test: reads a topic on our broker (bounded at the latest
# offsets), keeps a keyed running count per word and writes "word:n" through KafkaSink with
# DeliveryGuarantee.EXACTLY_ONCE, checkpointing on a clock that moves 1 ms per record (so
# checkpoints fall at the same records every run). With --kill-at N the process kills itself with
# SIGKILL when the N-th record reaches the gate: no close, no abort, as a machine failure.
#   python -m flinklite run exactly_once_counter.py --bootstrap H:P --topic T --out O
#          --prefix P --checkpoints DIR [--kill-at N] [--batch-size BYTES]
from __future__ import annotations

import argparse
import os
import signal
from typing import Any

from compat_tests.flinklite.test_checkpoint_recovery import Tick, WallFreeClock
from compat_tests.flinklite.test_exactly_once import KeyedCount, exactly_once_sink
from compat_tests.flinklite.test_kafka_jobs import kafka_source
from flinklite.common import Types, WatermarkStrategy
from flinklite.datastream import MapFunction, StreamExecutionEnvironment


class KillAt(MapFunction):
    def __init__(self, at: int) -> None:
        self.at = at
        self.seen = 0

    def map(self, value: Any) -> Any:
        self.seen += 1
        if self.seen == self.at:
            os.kill(os.getpid(), signal.SIGKILL)
        return value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--checkpoints", required=True)
    parser.add_argument("--kill-at", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=16384)
    options = parser.parse_args()
    clock = WallFreeClock()
    env = StreamExecutionEnvironment.get_execution_environment().set_parallelism(1).set_clock(clock)
    env.enable_checkpointing(40)
    env.configure({"execution.checkpointing.dir": options.checkpoints, "execution.checkpointing.num-retained": "3"})
    stream = env.from_source(kafka_source(options.bootstrap, options.topic), WatermarkStrategy.no_watermarks(),
                             "words").map(Tick(clock))
    stream = stream.map(KillAt(options.kill_at))  # in both runs: the graph (state keys) stays the same
    stream.key_by(lambda w: w).process(KeyedCount(), Types.STRING()) \
        .sink_to(exactly_once_sink(options.bootstrap, options.out, options.prefix, options.batch_size))
    env.execute("exactly-once counter")


if __name__ == "__main__":
    main()
