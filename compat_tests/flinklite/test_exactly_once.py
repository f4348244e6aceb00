"""Exactly-once from a topic to a topic on our broker: a KafkaSource job with checkpoints and keyed
state writes through KafkaSink with DeliveryGuarantee.EXACTLY_ONCE while failures are injected at
points chosen by a fixed seed (a user function raising after N records; a failure right after the
sink pre-committed, before the checkpoint completed; a failure after the checkpoint completed,
before the sink committed), plus broker faults (coordinator errors, CONCURRENT_TRANSACTIONS,
lost acknowledgements). After recovery a read_committed confluent-kafka consumer sees every
expected result exactly once, in order per key; a read_uncommitted kafka-python consumer may see
the aborted attempts' records as well."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition
from kafka import KafkaConsumer
from kafka.structs import TopicPartition as KTopicPartition

from broker.testing import RunningBroker, ZkKafkaCluster
from compat_tests.flinklite.test_checkpoint_recovery import Tick, WallFreeClock
from compat_tests.flinklite.test_kafka_jobs import kafka_source, make_topics, produce
from flinklite.common import SimpleStringSchema, Types, WatermarkStrategy
from flinklite.datastream import KeyedProcessFunction, StreamExecutionEnvironment
from flinklite.datastream.connectors import DeliveryGuarantee
from flinklite.datastream.connectors.base import SinkWriter
from flinklite.datastream.connectors.kafka import (ExactlyOnceKafkaSinkWriter, KafkaRecordSerializationSchema,
                                                   KafkaSink)
from flinklite.datastream.state import ValueStateDescriptor
from flinklite.errors import JobExecutionError
from flinklite.testing import FailAfter, ForwardingSinkWriter
from wire.kafka.error_codes import ErrorCode

SEED = 20261130
RECORDS = 2400
WORDS = 13
PARTITIONS = 3


class KeyedCount(KeyedProcessFunction):
    """word -> "word:n" for the word's n-th occurrence (keyed ValueState)."""

    def open(self, runtime_context: Any) -> None:
        self.count = runtime_context.get_state(ValueStateDescriptor("count", Types.INT()))

    def process_element(self, value: Any, ctx: Any) -> Any:
        count = (self.count.value() or 0) + 1
        self.count.update(count)
        yield f"{value}:{count}"


class InjectedSinkFailure(RuntimeError):
    pass


class FaultySink(KafkaSink):
    """The EXACTLY_ONCE KafkaSink whose writers fail once at chosen checkpoints: right after the
    writer pre-committed (before the checkpoint can complete), or when the checkpoint completed
    (before the writer commits). Shared by every attempt of the job; keeps every writer made."""

    def __init__(self, sink: KafkaSink, fail_after_precommit: set[int], fail_before_commit: set[int]) -> None:
        self.__dict__.update(sink.__dict__)
        self.fail_after_precommit = set(fail_after_precommit)
        self.fail_before_commit = set(fail_before_commit)
        self.writers: list[ExactlyOnceKafkaSinkWriter] = []

    def create_writer(self, subtask_index: int, parallelism: int) -> SinkWriter:
        writer = super().create_writer(subtask_index, parallelism)
        assert isinstance(writer, ExactlyOnceKafkaSinkWriter)
        self.writers.append(writer)
        return _FaultyWriter(self, writer)


class _FaultyWriter(ForwardingSinkWriter):
    def __init__(self, sink: FaultySink, inner: ExactlyOnceKafkaSinkWriter) -> None:
        super().__init__(inner)
        self.sink = sink

    def snapshot_state(self, checkpoint_id: int) -> Any:
        state = self.inner.snapshot_state(checkpoint_id)
        if checkpoint_id in self.sink.fail_after_precommit:
            self.sink.fail_after_precommit.discard(checkpoint_id)
            raise InjectedSinkFailure(f"after the pre-commit of checkpoint {checkpoint_id}")
        return state

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        if checkpoint_id in self.sink.fail_before_commit:
            self.sink.fail_before_commit.discard(checkpoint_id)
            raise InjectedSinkFailure(f"checkpoint {checkpoint_id} completed, before the commit")
        self.inner.notify_checkpoint_complete(checkpoint_id)


def exactly_once_sink(bootstrap: str, topic: str, prefix: str, batch_bytes: int = 16384) -> KafkaSink:
    return (KafkaSink.builder().set_bootstrap_servers(bootstrap)
            .set_record_serializer(KafkaRecordSerializationSchema.builder().set_topic(topic)
                                   .set_key_serialization_schema(_KeyOf())
                                   .set_value_serialization_schema(SimpleStringSchema()).build())
            .set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE)
            .set_transactional_id_prefix(prefix)
            .set_property("transaction.timeout.ms", "60000")
            .set_property("batch.size", str(batch_bytes))
            .build())


class _KeyOf(SimpleStringSchema):
    """The record key is the word ("w3" of "w3:7"), so each word's results share a partition."""

    def serialize(self, value: Any) -> bytes:
        return str(value).split(":", 1)[0].encode()


def write_input(bootstrap: str, topic: str) -> dict[str, int]:
    make_topics(bootstrap, topic, "counts", partitions=PARTITIONS)
    words = [f"w{(i * 7) % WORDS}" for i in range(RECORDS)]
    produce(bootstrap, topic, [(w, i % PARTITIONS, 1000 + i) for i, w in enumerate(words)])
    totals: dict[str, int] = {}
    for w in words:
        totals[w] = totals.get(w, 0) + 1
    return totals


def run_job(bootstrap: str, tmp: str, sink: FaultySink, fail: FailAfter | None, parallelism: int = 1,
            topic: str = "words") -> StreamExecutionEnvironment:
    clock = WallFreeClock()
    env = StreamExecutionEnvironment.get_execution_environment().set_parallelism(parallelism).set_clock(clock)
    env.enable_checkpointing(40)
    env.configure({"execution.checkpointing.dir": tmp, "restart-strategy.type": "fixed-delay",
                   "restart-strategy.fixed-delay.attempts": "10", "restart-strategy.fixed-delay.delay": "5 ms"})
    stream = env.from_source(kafka_source(bootstrap, topic), WatermarkStrategy.no_watermarks(), "words") \
        .map(Tick(clock))
    if fail is not None:
        stream = stream.map(fail)
    stream.key_by(lambda w: w).process(KeyedCount(), Types.STRING()).sink_to(sink)
    env.execute("exactly-once counts")
    return env


def read_committed_partitions(bootstrap: str, topic: str, partitions: int = PARTITIONS
                              ) -> dict[int, list[tuple[str, str]]]:
    """Every committed (key, value) of `topic`, per partition in offset order, up to the last stable
    offset of each partition (the log end once no transaction is open)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "check-" + uuid.uuid4().hex,
                         "isolation.level": "read_committed", "enable.partition.eof": True,
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    records: dict[int, list[tuple[str, str]]] = {p: [] for p in range(partitions)}
    at_end: set[int] = set()
    try:
        while len(at_end) < partitions:
            message = consumer.poll(10)
            assert message is not None, f"no end of partition after {sum(map(len, records.values()))} records " \
                                        "(a transaction left open?)"
            error, partition, key, value = message.error(), message.partition(), message.key(), message.value()
            assert partition is not None
            if error is not None:
                assert error.code() == KafkaError._PARTITION_EOF, error
                at_end.add(partition)
                continue
            at_end.discard(partition)
            assert key is not None and value is not None
            records[partition].append((key.decode(), value.decode()))
    finally:
        consumer.close()
    return records


def read_committed(bootstrap: str, topic: str) -> dict[str, list[str]]:
    """Every committed record of `topic`, grouped by key in partition order."""
    by_key: dict[str, list[str]] = {}
    for records in read_committed_partitions(bootstrap, topic).values():
        for key, value in records:
            by_key.setdefault(key, []).append(value)
    return by_key


def read_uncommitted_count(bootstrap: str, topic: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_uncommitted",
                             enable_auto_commit=False)
    partitions = [KTopicPartition(topic, p) for p in range(PARTITIONS)]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    ends = consumer.end_offsets(partitions)
    count = 0
    while any(consumer.position(tp) < ends[tp] for tp in partitions):
        for records in consumer.poll(timeout_ms=1000).values():
            count += len(records)
    consumer.close()
    return count


def open_transactions_block(bootstrap: str, topic: str) -> dict[int, tuple[int, int]]:
    """Partitions whose last stable offset (read_committed end) is below the high watermark:
    a transaction is still open there."""
    ends = {}
    for isolation in ("read_committed", "read_uncommitted"):
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level=isolation, enable_auto_commit=False)
        partitions = [KTopicPartition(topic, p) for p in range(PARTITIONS)]
        ends[isolation] = {tp.partition: offset for tp, offset in consumer.end_offsets(partitions).items()}
        consumer.close()
    return {p: (ends["read_committed"][p], ends["read_uncommitted"][p]) for p in range(PARTITIONS)
            if ends["read_committed"][p] != ends["read_uncommitted"][p]}


def expected(totals: dict[str, int]) -> dict[str, list[str]]:
    return {w: [f"{w}:{n}" for n in range(1, total + 1)] for w, total in totals.items()}


def seeded_plan(seed: int) -> tuple[list[int], set[int], set[int]]:
    """Failure points from a fixed seed: record counts for FailAfter, a checkpoint to fail after
    the pre-commit and another to fail before the commit."""
    rng = random.Random(seed)
    records = rng.randint(60, 250)
    after_precommit = rng.randint(2, 5)
    before_commit = rng.choice([c for c in range(2, 8) if c != after_precommit])
    return [records], {after_precommit}, {before_commit}


def check(bootstrap: str, totals: dict[str, int]) -> dict[str, list[str]]:
    committed = read_committed(bootstrap, "counts")
    want = expected(totals)
    assert sorted(committed) == sorted(want)
    for word in want:
        assert committed[word] == want[word], word  # each result once, in order
    assert sum(map(len, committed.values())) == RECORDS
    assert open_transactions_block(bootstrap, "counts") == {}  # nothing left open (lingering)
    return committed


def test_exactly_once_without_failures_commits_per_checkpoint_under_flinks_ids(kafka_broker: RunningBroker,
                                                                               tmp_path: Any) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    totals = write_input(bootstrap, "words")
    sink = FaultySink(exactly_once_sink(bootstrap, "counts", "eo-clean"), set(), set())
    env = run_job(bootstrap, str(tmp_path), sink, None)
    assert env.restarts == 0
    check(bootstrap, totals)
    assert read_uncommitted_count(bootstrap, "counts") == RECORDS  # nothing was aborted
    (writer,) = sink.writers
    committed = [line for line in writer.log if line.startswith("committed")]
    assert committed[0].startswith("committed eo-clean-0-1 (checkpoint 1)")
    assert len(committed) > 3  # several checkpoints, one transaction each
    assert committed[-1].endswith("(end of input)")


@pytest.mark.parametrize("seed", [SEED, SEED + 1, SEED + 2])
def test_exactly_once_through_seeded_failures(kafka_broker: RunningBroker, tmp_path: Any, seed: int) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    totals = write_input(bootstrap, "words")
    fail_records, after_precommit, before_commit = seeded_plan(seed)
    sink = FaultySink(exactly_once_sink(bootstrap, "counts", f"eo-{seed}"), after_precommit, before_commit)
    env = run_job(bootstrap, str(tmp_path), sink, FailAfter(fail_records[0]))
    assert env.restarts == 3
    assert not sink.fail_after_precommit and not sink.fail_before_commit  # both injected
    check(bootstrap, totals)
    logs = [line for writer in sink.writers for line in writer.log]
    # the checkpoint that completed before its commit was committed by the restored attempt ...
    assert any(line.endswith("(restored)") for line in logs), logs
    # ... and the one pre-committed before a failure was fenced: its records are aborted data
    assert any(line.startswith("fenced ") for line in logs), logs
    assert read_uncommitted_count(bootstrap, "counts") > RECORDS
    assert not any(line.startswith("lost ") for line in logs)


def test_exactly_once_at_parallelism_two_with_seeded_failures(kafka_broker: RunningBroker, tmp_path: Any) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    totals = write_input(bootstrap, "words")
    fail_records, after_precommit, before_commit = seeded_plan(SEED + 3)
    sink = FaultySink(exactly_once_sink(bootstrap, "counts", "eo-p2"), after_precommit, before_commit)
    env = run_job(bootstrap, str(tmp_path), sink, FailAfter(fail_records[0]), parallelism=2)
    assert env.restarts == 3
    check(bootstrap, totals)
    ids = {line.split()[1] for writer in sink.writers for line in writer.log if line.startswith("committed")}
    assert any(i.startswith("eo-p2-0-") for i in ids) and any(i.startswith("eo-p2-1-") for i in ids)


def test_exactly_once_rides_out_retriable_broker_errors_and_lost_acks(kafka_broker: RunningBroker,
                                                                      tmp_path: Any) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    totals = write_input(bootstrap, "words")
    kafka_broker.fail_next(10, ErrorCode.COORDINATOR_NOT_AVAILABLE, 2)  # FindCoordinator
    kafka_broker.fail_next(22, ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, 2)  # InitProducerId
    kafka_broker.fail_next(22, ErrorCode.NOT_COORDINATOR, 1)
    kafka_broker.fail_next(24, ErrorCode.CONCURRENT_TRANSACTIONS, 2)  # AddPartitionsToTxn
    kafka_broker.fail_next(26, ErrorCode.CONCURRENT_TRANSACTIONS, 1)  # EndTxn
    kafka_broker.fail_next(26, ErrorCode.NOT_COORDINATOR, 1)
    kafka_broker.lose_reply_next(0, 3)  # Produce appended, acknowledgement lost: resent as a duplicate
    kafka_broker.lose_reply_next(22, 1)  # InitProducerId done, answer lost: bumped once more
    kafka_broker.lose_reply_next(24, 1)  # AddPartitionsToTxn done, answer lost
    kafka_broker.lose_reply_next(26, 1)  # EndTxn done, answer lost: the retry succeeds again
    kafka_broker.fail_next(0, ErrorCode.NOT_LEADER_OR_FOLLOWER, 1)
    # small batches: several Produce requests per transaction and partition, sequences continuing
    sink = FaultySink(exactly_once_sink(bootstrap, "counts", "eo-faults", batch_bytes=400), set(), set())
    env = run_job(bootstrap, str(tmp_path), sink, None)
    assert env.restarts == 0
    check(bootstrap, totals)
    assert read_uncommitted_count(bootstrap, "counts") == RECORDS  # the lost acks wrote nothing twice
    (writer,) = sink.writers
    assert writer.producer.producer.requests_retried >= 10


def test_exactly_once_on_a_zookeeper_mode_cluster(kafka_zk_cluster: ZkKafkaCluster, tmp_path: Any) -> None:
    """Three broker processes: transaction coordinators and partition leaders spread over them
    (markers for partitions led elsewhere go by WriteTxnMarkers)."""
    bootstrap = kafka_zk_cluster.bootstrap_servers
    totals = write_input(bootstrap, "words")
    fail_records, after_precommit, before_commit = seeded_plan(SEED + 4)
    sink = FaultySink(exactly_once_sink(bootstrap, "counts", "eo-zk"), after_precommit, before_commit)
    env = run_job(bootstrap, str(tmp_path), sink, FailAfter(fail_records[0]))
    assert env.restarts == 3
    check(bootstrap, totals)




def test_restored_writer_commits_its_checkpoint_and_fences_the_lingering_transactions(
        kafka_broker: RunningBroker) -> None:
    """A writer's process dies (no close, no abort) after checkpoint 1 completed and was committed,
    checkpoint 2 was pre-committed (never completed) and records of the following transaction were
    already sent. The restored writer commits checkpoint 1's transaction again (idempotent), then
    its probe fences both later ids: the last stable offset reaches the log end at once, before it
    writes anything, and read_committed shows checkpoint 1's records only."""
    bootstrap = kafka_broker.bootstrap_servers
    make_topics(bootstrap, "counts", partitions=PARTITIONS)
    sink = exactly_once_sink(bootstrap, "counts", "crash", batch_bytes=1)  # every write is sent at once
    first = sink.create_writer(0, 1)
    assert isinstance(first, ExactlyOnceKafkaSinkWriter)
    for i in range(5):
        first.write(f"a{i}:1", None)
    checkpoint_1 = first.snapshot_state(1)
    first.notify_checkpoint_complete(1)
    for i in range(5):
        first.write(f"b{i}:1", None)
    first.snapshot_state(2)  # pre-committed, checkpoint 2 never completes
    for i in range(5):
        first.write(f"c{i}:1", None)  # into crash-0-3, sent
    first.producer.close()  # the process dies: connections gone, nothing aborted
    lingering = open_transactions_block(bootstrap, "counts")
    assert lingering, "the dead writer's transactions are open"

    second = sink.create_writer(0, 1)
    assert isinstance(second, ExactlyOnceKafkaSinkWriter)
    second.restore_state({0: checkpoint_1})
    second._start()  # what its first write or barrier does first: restored commits, probe, first transaction
    assert open_transactions_block(bootstrap, "counts") == {}
    assert "committed crash-0-1 (restored)" in second.log
    assert {"fenced crash-0-2", "fenced crash-0-3"} <= set(second.log)
    second.flush(True)
    second.close()
    committed = read_committed(bootstrap, "counts")
    assert sorted(v for values in committed.values() for v in values) == [f"a{i}:1" for i in range(5)]
    assert read_uncommitted_count(bootstrap, "counts") == 15  # the aborted ones are still in the log


def test_a_transaction_timeout_above_the_brokers_maximum_fails_the_job_with_the_setting_to_change(
        kafka_broker: RunningBroker) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    make_topics(bootstrap, "counts", partitions=PARTITIONS)
    sink = exactly_once_sink(bootstrap, "counts", "too-long")
    sink.properties["transaction.timeout.ms"] = str(24 * 3600 * 1000)  # the broker allows 15 minutes
    env = StreamExecutionEnvironment.get_execution_environment().set_parallelism(1)
    env.from_collection(["w1:1"]).sink_to(sink)
    with pytest.raises(JobExecutionError, match="transaction.max.timeout.ms"):
        env.execute("too long")


REPO = Path(__file__).resolve().parents[2]
KILLED_JOB = str(REPO / "compat_tests" / "flinklite" / "jobs" / "exactly_once_counter.py")


@pytest.mark.parametrize("seed", [SEED, SEED + 1])
def test_kill_dash_nine_then_resume_from_the_retained_checkpoint(kafka_broker: RunningBroker, tmp_path: Path,
                                                                  seed: int) -> None:
    """`python -m flinklite run` is killed with SIGKILL at a seeded record (its open transaction
    holds records already sent: small batches), then `run -s <latest chk>` resumes: it commits the
    checkpoint's pre-committed transaction (if the dead process had not) by producer id and epoch,
    fences what the dead process left open, and read_committed sees each result once."""
    bootstrap = kafka_broker.bootstrap_servers
    totals = write_input(bootstrap, "words")
    kill_at = random.Random(seed).randint(700, 2000)
    env = {**os.environ, "FLINKLITE_HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO)}
    env.pop("FLINK_CONF_DIR", None)
    checkpoints = tmp_path / "checkpoints"
    args = ["--bootstrap", bootstrap, "--topic", "words", "--out", "counts", "--prefix", f"kill-{seed}",
            "--checkpoints", str(checkpoints), "--batch-size", "300"]
    cli = [sys.executable, "-m", "flinklite", "run", "--progress", "0"]
    first = subprocess.run([*cli, KILLED_JOB, *args, "--kill-at", str(kill_at)], env=env, cwd=str(REPO),
                           capture_output=True, timeout=120)
    assert first.returncode == -signal.SIGKILL, first.stderr.decode()[-2000:]
    assert open_transactions_block(bootstrap, "counts"), "the killed process left its transaction open"
    retained = sorted(checkpoints.glob("*/chk-*"), key=lambda p: int(p.name.split("-")[1]))
    assert retained, "no checkpoint completed before the kill"
    second = subprocess.run([*cli, "-s", str(retained[-1]), KILLED_JOB, *args], env=env, cwd=str(REPO),
                            capture_output=True, timeout=120)
    assert second.returncode == 0, second.stderr.decode()[-2000:]
    check(bootstrap, totals)
    assert read_uncommitted_count(bootstrap, "counts") > RECORDS  # the dead process's records, aborted
