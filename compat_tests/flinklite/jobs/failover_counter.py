# A job for the job-manager failover test (compat_tests/flinklite/test_jobmanager_failover.py):
# reads a topic on our broker (KafkaSource, earliest, bounded at the latest offsets), keeps a
# keyed running count per word and writes "word:n" (key: the word) through KafkaSink with
# DeliveryGuarantee.EXACTLY_ONCE; checkpointing and high availability come from `-D` settings.
# The test drives each process through stdin and reads facts from stdout, one line each:
#   stdin  line 1 (read before execute):  "plan none" | "plan record N" | "plan precommit N"
#                                          | "plan commit N": where this process kills itself
#                                          with SIGKILL: at the N-th record through the gate, right
#                                          after the sink's N-th pre-commit, or when the N-th
#                                          checkpoint-complete reaches the sink, before it commits
#                                          (all counted within this process);
#   stdin  line 2 (read at the first record): "go": lets the job run (the test first makes sure
#                                          a standby is contending);
#   stdout "RUNNING": leading, at the first record; "RESTORED <checkpoint id>": the sink's state
#          came from that checkpoint; "KILL <kind> <n>": about to SIGKILL itself; "SINKLOG <line>":
#          what the sink writer did (commits, fences), printed when it closes.
#   python -m flinklite run -D ... failover_counter.py --bootstrap H:P --topic T --out O --prefix P
#          [--pace-ms MS]
from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import Any

from compat_tests.flinklite.test_exactly_once import KeyedCount, exactly_once_sink
from compat_tests.flinklite.test_kafka_jobs import kafka_source
from flinklite.common import Types, WatermarkStrategy
from flinklite.datastream import MapFunction, StreamExecutionEnvironment
from flinklite.datastream.connectors.base import SinkWriter
from flinklite.testing import ForwardingSinkWriter
from flinklite.datastream.connectors.kafka import KafkaSink


class KillPlan:
    """Where this process dies, and the counts it is compared with (one per process)."""

    def __init__(self, line: str) -> None:
        words = line.split()
        if not words or words[0] != "plan":
            raise SystemExit(f"expected a 'plan ...' line on stdin, got {line!r}")
        self.kind = words[1]
        self.at = int(words[2]) if len(words) > 2 else 0
        self.counts = {"record": 0, "precommit": 0, "commit": 0}

    def step(self, kind: str) -> None:
        """One more `kind` event: SIGKILL this process if it is the planned one."""
        self.counts[kind] += 1
        if kind == self.kind and self.counts[kind] == self.at:
            say(f"KILL {kind} {self.at}")
            os.kill(os.getpid(), signal.SIGKILL)  # no close, no abort: a machine failure


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


PLAN: KillPlan | None = None


def plan() -> KillPlan:
    assert PLAN is not None
    return PLAN


class Gate(MapFunction):
    """Holds the first record until the test says go; counts records; paces the job so that
    several checkpoints fall within a small input."""

    def __init__(self, pace_ms: float) -> None:
        self.pace_s = pace_ms / 1000
        self.opened = False

    def map(self, value: Any) -> Any:
        if not self.opened:
            self.opened = True
            say("RUNNING")
            line = sys.stdin.readline().strip()
            if line != "go":
                raise SystemExit(f"expected 'go' on stdin, got {line!r}")
        plan().step("record")
        if self.pace_s:
            time.sleep(self.pace_s)
        return value


class KillingSink(KafkaSink):
    """The EXACTLY_ONCE KafkaSink, its writers able to die at the planned pre-commit or commit."""

    def __init__(self, sink: KafkaSink) -> None:
        self.__dict__.update(sink.__dict__)

    def create_writer(self, subtask_index: int, parallelism: int) -> SinkWriter:
        return _KillingWriter(super().create_writer(subtask_index, parallelism))


class _KillingWriter(ForwardingSinkWriter):
    def snapshot_state(self, checkpoint_id: int) -> Any:
        state = self.inner.snapshot_state(checkpoint_id)  # flushed and pre-committed
        plan().step("precommit")
        return state

    def restore_state(self, states: dict[int, Any]) -> None:
        ids = sorted({s["checkpoint_id"] for s in states.values() if s is not None})
        say(f"RESTORED {' '.join(map(str, ids))}")
        self.inner.restore_state(states)

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        plan().step("commit")
        self.inner.notify_checkpoint_complete(checkpoint_id)

    def close(self) -> None:
        self.inner.close()
        for line in getattr(self.inner, "log", []):
            say(f"SINKLOG {line}")


def main() -> None:
    global PLAN
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--pace-ms", type=float, default=1.0)
    options = parser.parse_args()
    PLAN = KillPlan(sys.stdin.readline())
    env = StreamExecutionEnvironment.get_execution_environment().set_parallelism(1)
    env.from_source(kafka_source(options.bootstrap, options.topic), WatermarkStrategy.no_watermarks(), "words") \
        .map(Gate(options.pace_ms)) \
        .key_by(lambda w: w).process(KeyedCount(), Types.STRING()) \
        .sink_to(KillingSink(exactly_once_sink(options.bootstrap, options.out, options.prefix, batch_bytes=300)))
    env.execute("failover counter")


if __name__ == "__main__":
    main()
