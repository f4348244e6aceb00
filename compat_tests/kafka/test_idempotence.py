"""Idempotent producers whose acknowledgements are lost: every record is stored exactly once, in order.

The broker's ``lose_reply_next`` fault appends a Produce and then closes the
connection instead of answering, as when a network drops the response. The
producer cannot tell the append happened, reconnects and sends the same batch
again with the same producer id, epoch and sequence; the broker must
recognise the duplicate and acknowledge it with its original offset rather
than append it twice. Proven with confluent-kafka (librdkafka) and
kafka-python, whose producers are idempotent here.
"""

from __future__ import annotations

from confluent_kafka import Producer
from kafka import KafkaProducer

from broker.testing import RunningBroker
from compat_tests.kafka.conftest import WAIT, TopicName, create_topic, stored_batches, value_for

PRODUCE = 0


def faults_used_up(broker: RunningBroker) -> bool:
    return broker.call(lambda: not broker.server.faults.rules)


def stored_values(bootstrap: str, topic: str) -> list[tuple[int, bytes | None]]:
    return [(r.offset, r.value) for b in stored_batches(bootstrap, topic, 0) for r in b.records]


def test_confluent_idempotent_producer_with_lost_acks_stores_each_record_once(
        kafka_broker: RunningBroker, topic_name: TopicName) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    topic = topic_name()
    create_topic(bootstrap, topic)
    values = [value_for("ck-lost", i) for i in range(60)]
    acked: list[tuple[int, bytes]] = []
    errors: list[object] = []

    def report(err: object, msg: object) -> None:
        if err is not None:
            errors.append(err)
        else:
            acked.append((msg.offset(), msg.value()))  # type: ignore[attr-defined]

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 2,
                         "batch.num.messages": 10, "retry.backoff.ms": 20, "reconnect.backoff.ms": 10})
    producer.produce(topic, value=values[0], partition=0, on_delivery=report)
    assert producer.flush(WAIT) == 0
    kafka_broker.lose_reply_next(PRODUCE, 3)  # the next three Produce requests are appended but never answered
    for v in values[1:]:
        producer.produce(topic, value=v, partition=0, on_delivery=report)
        producer.poll(0)
    assert producer.flush(WAIT) == 0
    assert not errors, errors
    assert faults_used_up(kafka_broker)  # all three acknowledgements really were lost
    stored = stored_values(bootstrap, topic)
    assert [v for _, v in stored] == values  # no duplicates, no gaps, in order
    assert sorted(acked) == stored  # each acknowledged at the offset where it is stored


def test_kafka_python_idempotent_producer_with_lost_acks_stores_each_record_once(
        kafka_broker: RunningBroker, topic_name: TopicName) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    topic = topic_name()
    create_topic(bootstrap, topic)
    values = [value_for("kp-lost", i) for i in range(30)]
    producer = KafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, retries=10,
                             retry_backoff_ms=20, reconnect_backoff_ms=10, linger_ms=2, request_timeout_ms=5000)
    try:
        assert producer.send(topic, value=values[0], partition=0).get(timeout=WAIT).offset == 0
        kafka_broker.lose_reply_next(PRODUCE, 2)
        futures = [producer.send(topic, value=v, partition=0) for v in values[1:]]
        producer.flush(timeout=WAIT)
        offsets = [f.get(timeout=WAIT).offset for f in futures]
    finally:
        producer.close(timeout=WAIT)
    assert faults_used_up(kafka_broker)
    stored = stored_values(bootstrap, topic)
    assert [v for _, v in stored] == values
    assert offsets == list(range(1, len(values)))
