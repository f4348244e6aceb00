"""Checkpoint recovery of a KafkaSource job against the in-process broker: a failure injected
mid-stream restarts the job from its latest completed checkpoint (the source seeks to the
checkpointed offsets, keyed state is restored) and the keyed counts equal a failure-free run;
completed checkpoints commit the source offsets to the consumer group."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from kafka import KafkaConsumer
from kafka.structs import TopicPartition as KTopicPartition

from broker.testing import RunningBroker
from compat_tests.flinklite.test_kafka_jobs import kafka_source, make_topics, produce
from flinklite.common import WatermarkStrategy
from flinklite.datastream import (
    MapFunction,
    StreamExecutionEnvironment,
)
from flinklite.runtime.checkpoint import load_checkpoint
from flinklite.testing import CollectSink, FailAfter, ManualClock
from flinklite.tests.functions import RunningCount


class WallFreeClock(ManualClock):
    """Processing time that moves 1 ms per record (see Tick) and jumps when the job waits;
    waiting for Kafka data is real (not a manual clock to the executor)."""

    @property
    def is_manual(self) -> bool:
        return False


class Tick(MapFunction):
    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock

    def __deepcopy__(self, memo: dict[int, Any]) -> Tick:
        return self

    def map(self, value: Any) -> Any:
        self.clock.advance(1)
        return value


def run_counts(bootstrap: str, group: str, checkpoint_dir: str, fail: FailAfter | None) \
        -> tuple[list[Any], StreamExecutionEnvironment]:
    clock = WallFreeClock()
    env = StreamExecutionEnvironment.get_execution_environment().set_parallelism(1).set_clock(clock)
    env.enable_checkpointing(50)
    env.configure({"execution.checkpointing.dir": checkpoint_dir, "execution.checkpointing.num-retained": "2",
                   "restart-strategy.type": "fixed-delay", "restart-strategy.fixed-delay.attempts": "2",
                   "restart-strategy.fixed-delay.delay": "10 ms"})
    stream = env.from_source(kafka_source(bootstrap, "words", group=group), WatermarkStrategy.no_watermarks(),
                             "words").map(Tick(clock))
    if fail is not None:
        stream = stream.map(fail)
    sink = CollectSink()
    stream.key_by(lambda w: w).process(RunningCount()).sink_to(sink)
    env.execute("checkpointed counts")
    return sink.values, env


def test_kafka_job_recovers_from_its_checkpoint_with_exactly_once_counts(
        kafka_broker_factory: Callable[..., RunningBroker], tmp_path: Any) -> None:
    broker = kafka_broker_factory()
    bootstrap = broker.bootstrap_servers
    make_topics(bootstrap, "words", partitions=3)
    words = [f"w{(i * 7) % 11}" for i in range(600)]
    produce(bootstrap, "words", [(w, i % 3, 1000 + i) for i, w in enumerate(words)])

    expected, _ = run_counts(bootstrap, "clean", str(tmp_path / "clean"), None)
    assert len(expected) == 600
    recovered, env = run_counts(bootstrap, "failing", str(tmp_path / "failing"), FailAfter(350))

    assert env.restarts == 1
    coordinator = env.last_coordinator
    assert coordinator is not None and len(coordinator.completed) == 2
    # Records after the restored checkpoint were read again (at least once downstream), but the
    # keyed state counted each record once: the same (word, count) results and final counts.
    assert len(recovered) > len(expected)
    assert set(recovered) == set(expected)
    assert dict(recovered) == dict(expected)

    # The retained checkpoints are on disk; the latest holds per-partition offsets, which were
    # committed to the consumer group when it completed.
    latest = coordinator.completed[-1]
    assert latest.path is not None
    job_dir = os.path.dirname(latest.path)
    assert sorted(os.listdir(job_dir)) == sorted(f"chk-{c.checkpoint_id}" for c in coordinator.completed)
    loaded = load_checkpoint(latest.path)
    (source_state,) = [s for key, subtasks in loaded.operators.items() if key.endswith("words")
                       for s in subtasks.values()]
    offsets = source_state["reader"]
    assert set(offsets) == {"words-0", "words-1", "words-2"} and sum(offsets.values()) > 0
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id="failing", enable_auto_commit=False)
    committed = {f"words-{p}": consumer.committed(KTopicPartition("words", p)) for p in range(3)}
    consumer.close()
    assert committed == offsets


def test_kafka_reader_snapshot_excludes_fetched_but_unemitted_records(kafka_broker: RunningBroker) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    make_topics(bootstrap, "buffered", partitions=1)
    produce(bootstrap, "buffered", [(f"v{i}", 0, 1000 + i) for i in range(400)])
    reader = kafka_source(bootstrap, "buffered").create_reader(0, 1)
    try:
        emitted: list[Any] = []
        for _ in range(100):
            reader.wait_for_data(200)  # fetches up to 500 records into the reader's buffer
            emitted.extend(reader.poll(100, 0))
            if emitted:
                break
        assert len(emitted) == 100
        assert reader.snapshot() == {"buffered-0": 100}  # not the fetch position
        restored = kafka_source(bootstrap, "buffered").create_reader(0, 1)
        restored.restore(reader.snapshot())
        rest: list[Any] = []
        while not restored.is_finished():
            restored.wait_for_data(200)
            rest.extend(restored.poll(500, 0))
        restored.close()
        assert [v for _, v, _ in emitted + rest] == [f"v{i}" for i in range(400)]
    finally:
        reader.close()
