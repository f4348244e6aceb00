"""Fault injection against real clients: fail_next, drop_next, add_latency, move_leader, stop/start_broker.

kafka-python and confluent-kafka (librdkafka) must ride out each fault the way
they would against a real Kafka cluster: retry a failed or dropped Produce so
the record lands exactly once, follow a moved leader after
NOT_LEADER_OR_FOLLOWER, and keep consuming from live brokers while one is down,
reconnecting once it is back. Every wait is bounded by ``WAIT``; nothing sleeps
to synchronise.
"""

from __future__ import annotations

import time

from confluent_kafka import Producer
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from broker.testing import RunningBroker
from compat_tests.kafka.conftest import WAIT, TopicName, create_topic, leaders, stored_batches, value_for
from wire.kafka.error_codes import ErrorCode

PRODUCE, FETCH = 0, 1
NOT_LEADER = ErrorCode.NOT_LEADER_OR_FOLLOWER


def stored_values(bootstrap: str, topic: str, partition: int) -> list[tuple[int, bytes | None]]:
    return [(r.offset, r.value) for b in stored_batches(bootstrap, topic, partition) for r in b.records]


def kp_send(producer: KafkaProducer, topic: str, values: list[bytes], partition: int = 0) -> list[int]:
    futures = [producer.send(topic, value=v, partition=partition) for v in values]
    producer.flush(timeout=WAIT)
    return [f.get(timeout=WAIT).offset for f in futures]


def test_kafka_python_retries_a_failed_produce_exactly_once(kafka_broker: RunningBroker,
                                                            topic_name: TopicName) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    topic = topic_name()
    create_topic(bootstrap, topic)
    values = [value_for("kp-fail", i) for i in range(5)]
    producer = KafkaProducer(bootstrap_servers=bootstrap, retries=5, retry_backoff_ms=50)  # idempotent
    try:
        assert kp_send(producer, topic, values[:1]) == [0]  # connected, metadata known
        kafka_broker.fail_next(PRODUCE, NOT_LEADER, 1)
        assert kp_send(producer, topic, values[1:]) == [1, 2, 3, 4]
    finally:
        producer.close(timeout=WAIT)
    assert stored_values(bootstrap, topic, 0) == list(enumerate(values))


def confluent_produce(producer: Producer, topic: str, values: list[bytes], partition: int = 0
                      ) -> list[tuple[int, bytes]]:
    acked: list[tuple[int, bytes]] = []
    errors: list[object] = []

    def report(err: object, msg: object) -> None:
        if err is not None:
            errors.append(err)
        else:
            acked.append((msg.offset(), msg.value()))  # type: ignore[attr-defined]

    for v in values:
        producer.produce(topic, value=v, partition=partition, on_delivery=report)
        producer.poll(0)
    assert producer.flush(WAIT) == 0
    assert not errors, errors
    return acked


def test_confluent_retries_a_failed_produce_exactly_once(kafka_broker: RunningBroker, topic_name: TopicName) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    topic = topic_name()
    create_topic(bootstrap, topic)
    values = [value_for("ck-fail", i) for i in range(5)]
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 0,
                         "retry.backoff.ms": 50})
    confluent_produce(producer, topic, values[:1])
    kafka_broker.fail_next(PRODUCE, NOT_LEADER, 1)
    acked = confluent_produce(producer, topic, values[1:])
    assert sorted(acked) == list(enumerate(values))[1:]
    assert stored_values(bootstrap, topic, 0) == list(enumerate(values))


def test_confluent_follows_a_moved_leader_during_produce(kafka_cluster: RunningBroker, topic_name: TopicName) -> None:
    bootstrap = kafka_cluster.bootstrap_servers
    topic = topic_name()
    create_topic(bootstrap, topic, partitions=1, replication=3)
    old, epoch = kafka_cluster.leader(topic, 0)
    new = 1 + old % 3
    values = [value_for("ck-move", i) for i in range(300)]
    acked: list[tuple[int, bytes]] = []
    errors: list[object] = []

    def report(err: object, msg: object) -> None:
        if err is not None:
            errors.append(err)
        else:
            acked.append((msg.offset(), msg.value()))  # type: ignore[attr-defined]

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 1,
                         "batch.num.messages": 20, "retry.backoff.ms": 20, "topic.metadata.refresh.interval.ms": 60000})
    for i, v in enumerate(values):
        producer.produce(topic, value=v, partition=0, on_delivery=report)
        producer.poll(0)
        if i == 150:  # records are in flight to the old leader
            kafka_cluster.move_leader(topic, 0, new)
    assert producer.flush(WAIT) == 0
    assert not errors, errors
    assert kafka_cluster.leader(topic, 0) == (new, epoch + 1)
    assert leaders(bootstrap, topic) == {0: new}
    stored = stored_values(bootstrap, topic, 0)
    assert sorted(acked) == stored  # every acknowledged record is stored, at the offset acknowledged
    assert sorted(v for _, v in stored) == sorted(values)  # exactly once each
    assert [v for _, v in stored] == values  # and in order (idempotent producer)


def test_kafka_python_follows_a_moved_leader(kafka_cluster: RunningBroker, topic_name: TopicName) -> None:
    bootstrap = kafka_cluster.bootstrap_servers
    topic = topic_name()
    create_topic(bootstrap, topic, partitions=1, replication=3)
    old, _ = kafka_cluster.leader(topic, 0)
    values = [value_for("kp-move", i) for i in range(40)]
    producer = KafkaProducer(bootstrap_servers=bootstrap, retries=10, retry_backoff_ms=50)
    try:
        futures = [producer.send(topic, value=v, partition=0) for v in values[:20]]
        kafka_cluster.move_leader(topic, 0, 1 + old % 3)
        futures += [producer.send(topic, value=v, partition=0) for v in values[20:]]
        producer.flush(timeout=WAIT)
        offsets = [f.get(timeout=WAIT).offset for f in futures]
    finally:
        producer.close(timeout=WAIT)
    assert offsets == list(range(40))
    assert stored_values(bootstrap, topic, 0) == list(enumerate(values))


def consume_until(consumer: KafkaConsumer, want: set[tuple[int, bytes]]) -> set[tuple[int, bytes]]:
    got: set[tuple[int, bytes]] = set()
    deadline = time.monotonic() + WAIT
    while not want <= got and time.monotonic() < deadline:
        for msgs in consumer.poll(timeout_ms=200).values():
            got.update((m.partition, m.value) for m in msgs)
    return got


def test_stop_and_start_broker_kafka_python(kafka_cluster: RunningBroker, topic_name: TopicName) -> None:
    bootstrap = kafka_cluster.bootstrap_servers
    b1 = bootstrap.split(",")[0]
    topic = topic_name()
    create_topic(bootstrap, topic, partitions=3, replication=3)
    assert leaders(bootstrap, topic) == {0: 1, 1: 2, 2: 3}
    producer = KafkaProducer(bootstrap_servers=b1, retries=10, retry_backoff_ms=50)
    consumer = KafkaConsumer(bootstrap_servers=b1, enable_auto_commit=False, group_id=None, fetch_max_wait_ms=100,
                             reconnect_backoff_ms=50, reconnect_backoff_max_ms=200)
    try:
        first = {(p, value_for(f"before-{p}", 0)) for p in range(3)}
        for p, v in first:
            kp_send(producer, topic, [v], partition=p)
        consumer.assign([TopicPartition(topic, p) for p in range(3)])
        consumer.seek_to_beginning()
        assert consume_until(consumer, first) >= first

        kafka_cluster.stop_broker(3)  # leads partition 2
        down = {(p, value_for(f"down-{p}", 0)) for p in (0, 1)}
        for p, v in down:
            kp_send(producer, topic, [v], partition=p)
        assert consume_until(consumer, down) >= down  # partitions led by live brokers keep flowing
        stuck = producer.send(topic, value=value_for("after-2", 0), partition=2)  # waits for broker 3

        kafka_cluster.start_broker(3)
        assert stuck.get(timeout=WAIT).offset == 1
        up = {(2, value_for("after-2", 0)), (0, value_for("after-0", 0))}
        kp_send(producer, topic, [value_for("after-0", 0)], partition=0)
        # the long-lived consumer gets partition 2 back: after its session errors it opens a new fetch session
        # (session id + epoch 0, KIP-227), which closes the old one
        assert consume_until(consumer, up) >= up
        # a client connecting after the restart reads the partition broker 3 leads, through broker 3
        again = KafkaConsumer(bootstrap_servers=b1, enable_auto_commit=False, group_id=None, fetch_max_wait_ms=100)
        try:
            again.assign([TopicPartition(topic, 2)])
            again.seek_to_beginning()
            assert consume_until(again, up - {(0, value_for("after-0", 0))}) >= {(2, value_for("after-2", 0))}
        finally:
            again.close()
    finally:
        consumer.close()
        producer.close(timeout=WAIT)
    assert stored_values(bootstrap, topic, 2) == [(0, value_for("before-2", 0)), (1, value_for("after-2", 0))]


def test_drop_next_and_add_latency_kafka_python(kafka_broker: RunningBroker, topic_name: TopicName) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    topic = topic_name()
    create_topic(bootstrap, topic)
    values = [value_for("kp-drop", i) for i in range(4)]
    producer = KafkaProducer(bootstrap_servers=bootstrap, retries=5, retry_backoff_ms=50,
                             reconnect_backoff_ms=50)  # idempotent
    try:
        assert kp_send(producer, topic, values[:1]) == [0]
        kafka_broker.drop_next(PRODUCE, 1)  # the connection closes instead of an answer: the producer resends
        assert kp_send(producer, topic, values[1:2]) == [1]
        kafka_broker.add_latency(0.3, PRODUCE)
        start = time.monotonic()
        assert kp_send(producer, topic, values[2:3]) == [2]
        assert time.monotonic() - start >= 0.3
        kafka_broker.add_latency(0, PRODUCE)
        assert kp_send(producer, topic, values[3:]) == [3]
    finally:
        producer.close(timeout=WAIT)
    assert stored_values(bootstrap, topic, 0) == list(enumerate(values))


def test_confluent_survives_a_dropped_fetch(kafka_broker: RunningBroker, topic_name: TopicName) -> None:
    from confluent_kafka import Consumer, TopicPartition as CTP
    bootstrap = kafka_broker.bootstrap_servers
    topic = topic_name()
    create_topic(bootstrap, topic)
    producer = Producer({"bootstrap.servers": bootstrap})
    values = [value_for("ck-drop", i) for i in range(3)]
    confluent_produce(producer, topic, values)
    kafka_broker.drop_next(FETCH, 1)
    kafka_broker.fail_next(FETCH, NOT_LEADER, 1)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused", "enable.auto.commit": False,
                         "fetch.wait.max.ms": 100, "reconnect.backoff.ms": 50, "topic.metadata.refresh.interval.ms": 500})
    try:
        consumer.assign([CTP(topic, 0, 0)])
        got: list[tuple[int, bytes]] = []
        deadline = time.monotonic() + WAIT
        while len(got) < 3 and time.monotonic() < deadline:
            m = consumer.poll(0.2)
            if m is not None and m.error() is None:
                got.append((m.offset(), m.value()))
    finally:
        consumer.close()
    assert got == list(enumerate(values))
