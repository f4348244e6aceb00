"""Committed offsets and groups survive a broker restart with ``--data-dir`` (kept in ``__consumer_offsets``).

A kafka-python group consumer reads part of a topic and commits; the broker
process is stopped and a new one started over the same data directory (on a
new port); a new consumer of the same group carries on exactly after the
committed position (nothing read twice, nothing skipped), and an admin client
still sees the committed offsets. The state comes back by replaying the
internal topic, not from a side file.
"""

from __future__ import annotations

import time
from pathlib import Path

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from broker.config import BrokerConfig
from broker.testing import RunningBroker
from compat_tests.kafka.conftest import WAIT, create_topic, value_for


def durable_broker(root: Path) -> RunningBroker:
    return RunningBroker(BrokerConfig(port=0, data_dir=root, group_initial_rebalance_delay_ms=0,
                                      offsets_topic_num_partitions=5)).start()


def consume(consumer: KafkaConsumer, count: int) -> list[bytes]:
    got: list[bytes] = []
    deadline = time.monotonic() + WAIT
    while len(got) < count and time.monotonic() < deadline:
        for msgs in consumer.poll(timeout_ms=200, max_records=count - len(got)).values():
            got.extend(m.value for m in msgs)
    return got


def test_a_group_resumes_from_its_committed_offsets_after_a_broker_restart(tmp_path: Path) -> None:
    values = [value_for("durable", i) for i in range(20)]
    broker = durable_broker(tmp_path)
    try:
        bootstrap = broker.bootstrap_servers
        create_topic(bootstrap, "events", partitions=2)
        producer = KafkaProducer(bootstrap_servers=bootstrap)
        for i, v in enumerate(values):
            producer.send("events", value=v, partition=i % 2)
        producer.flush(timeout=WAIT)
        producer.close(timeout=WAIT)
        consumer = KafkaConsumer("events", bootstrap_servers=bootstrap, group_id="keeper",
                                 auto_offset_reset="earliest", enable_auto_commit=False, max_poll_records=4)
        first = consume(consumer, 8)
        assert len(first) == 8
        consumer.commit()
        committed = {tp: consumer.committed(tp) for tp in (TopicPartition("events", 0), TopicPartition("events", 1))}
        consumer.close()
    finally:
        broker.stop()
    assert sum(o or 0 for o in committed.values()) == 8

    again = durable_broker(tmp_path)
    try:
        bootstrap = again.bootstrap_servers
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            offsets = admin.list_group_offsets({"keeper": None})["keeper"]  # OffsetFetch v8, all partitions
        finally:
            admin.close()
        assert {tp: o.offset for tp, o in offsets.items()} == committed
        consumer = KafkaConsumer("events", bootstrap_servers=bootstrap, group_id="keeper",
                                 auto_offset_reset="earliest", enable_auto_commit=False)
        rest = consume(consumer, 12)
        consumer.close()
    finally:
        again.stop()
    assert sorted(first + rest) == sorted(values)  # each record once across the restart
    assert len(rest) == 12


def test_offsets_committed_by_an_outside_consumer_survive_a_restart(tmp_path: Path) -> None:
    broker = durable_broker(tmp_path)
    try:
        create_topic(broker.bootstrap_servers, "plain", partitions=1)
        consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap_servers, group_id="manual",
                                 enable_auto_commit=False)
        tp = TopicPartition("plain", 0)
        consumer.assign([tp])
        consumer.commit({tp: OffsetAndMetadata(42, "note", -1)})  # a simple (non-member) commit
        consumer.close()
    finally:
        broker.stop()
    again = durable_broker(tmp_path)
    try:
        consumer = KafkaConsumer(bootstrap_servers=again.bootstrap_servers, group_id="manual",
                                 enable_auto_commit=False)
        assert consumer.committed(TopicPartition("plain", 0)) == 42
        consumer.close()
    finally:
        again.stop()


def test_the_group_coordinator_moves_with_its_partition_leadership(kafka_broker_factory: object) -> None:
    from broker.state.internal import GROUP_TOPIC, partition_for

    cluster = kafka_broker_factory(brokers=3, offsets_topic_num_partitions=3)  # type: ignore[operator]
    bootstrap = cluster.bootstrap_servers
    create_topic(bootstrap, "moving", partitions=1)
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for i in range(10):
        producer.send("moving", value=value_for("moving", i), partition=0)
    producer.flush(timeout=WAIT)
    producer.close(timeout=WAIT)
    consumer = KafkaConsumer("moving", bootstrap_servers=bootstrap, group_id="nomad", auto_offset_reset="earliest",
                             enable_auto_commit=False, max_poll_records=5)
    try:
        assert len(consume(consumer, 5)) == 5
        consumer.commit()
        index = partition_for("nomad", 3)
        old, _ = cluster.leader(GROUP_TOPIC, index)
        new = 1 + old % 3
        cluster.move_leader(GROUP_TOPIC, index, new)
        # the old coordinator now answers NOT_COORDINATOR; the consumer finds the new one and commits there
        assert len(consume(consumer, 5)) == 5
        consumer.commit()
        assert consumer.committed(TopicPartition("moving", 0)) == 10
    finally:
        consumer.close()
    assert cluster.leader(GROUP_TOPIC, index)[0] == new
