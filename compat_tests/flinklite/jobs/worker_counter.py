# A job for the parallel-workers tests (compat_tests/flinklite/test_workers.py) and the
# worker-scaling bench: reads a topic on our broker (bounded at the latest offsets) at
# parallelism 2, keeps a keyed running count per word and prints "word:n", or writes it through
# KafkaSink with DeliveryGuarantee.EXACTLY_ONCE (--out). With --kill-at N the subtask of the gate
# that sees its N-th record first, once a checkpoint has completed, kills its own process with
# SIGKILL (a worker machine failure); --marker FILE makes that happen once across attempts.
#   python -m flinklite run [--workers 2] worker_counter.py --bootstrap H:P --topic T
#          [--out TOPIC --prefix P] [--checkpoints DIR] [--kill-at N --marker FILE] [--pace-every N]
from __future__ import annotations

import argparse
import glob
import os
import signal
import time
from typing import Any

from compat_tests.flinklite.test_exactly_once import KeyedCount, exactly_once_sink
from compat_tests.flinklite.test_kafka_jobs import kafka_source
from flinklite.common import Types, WatermarkStrategy
from flinklite.datastream import MapFunction, StreamExecutionEnvironment


class KillGate(MapFunction):
    def __init__(self, at: int, marker: str | None, checkpoints: str | None, pace_every: int) -> None:
        self.at = at
        self.pace_every = pace_every
        self.marker = marker
        self.checkpoints = checkpoints
        self.seen = 0

    def map(self, value: Any) -> Any:
        self.seen += 1
        if self.pace_every and self.seen % self.pace_every == 0:
            time.sleep(0.001)  # workload shaping: the input lasts long enough for several checkpoints
        if self.at and self.seen >= self.at and self.marker and (self.seen - self.at) % 10 == 0 \
                and not os.path.exists(self.marker) and self._checkpointed():
            try:
                os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                return value
            os.kill(os.getpid(), signal.SIGKILL)
        return value

    def _checkpointed(self) -> bool:
        return self.checkpoints is None or bool(glob.glob(os.path.join(self.checkpoints, "*", "chk-*")))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--out", default=None)
    parser.add_argument("--prefix", default="workers")
    parser.add_argument("--checkpoints", default=None)
    parser.add_argument("--interval-ms", type=int, default=20)
    parser.add_argument("--kill-at", type=int, default=0)
    parser.add_argument("--marker", default=None)
    parser.add_argument("--pace-every", type=int, default=0, help="sleep 1 ms every N records per subtask")
    options = parser.parse_args()
    env = StreamExecutionEnvironment.get_execution_environment().set_parallelism(2)
    if options.checkpoints:
        env.enable_checkpointing(options.interval_ms)
        env.configure({"execution.checkpointing.dir": options.checkpoints,
                       "execution.checkpointing.num-retained": "3"})
    stream = env.from_source(kafka_source(options.bootstrap, options.topic), WatermarkStrategy.no_watermarks(),
                             "words").map(KillGate(options.kill_at, options.marker, options.checkpoints,
                                                                       options.pace_every))
    counts = stream.key_by(lambda w: w).process(KeyedCount(), Types.STRING())
    if options.out:
        counts.sink_to(exactly_once_sink(options.bootstrap, options.out, options.prefix))
    else:
        counts.print()
    env.execute("worker counter")


if __name__ == "__main__":
    main()
