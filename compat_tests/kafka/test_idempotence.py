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
from compat_tests.kafka.conftest import WAIT, TopicName, create_topic, value_for
from compat_tests.kafka.test_faults import confluent_produce, kp_send, stored_values

PRODUCE = 0


def faults_used_up(broker: RunningBroker) -> bool:
    return broker.call(lambda: not broker.server.faults.rules)


def test_confluent_idempotent_producer_with_lost_acks_stores_each_record_once(
        kafka_broker: RunningBroker, topic_name: TopicName) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    topic = topic_name()
    create_topic(bootstrap, topic)
    values = [value_for("ck-lost", i) for i in range(60)]
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 2,
                         "batch.num.messages": 10, "retry.backoff.ms": 20, "reconnect.backoff.ms": 10})
    acked = confluent_produce(producer, topic, values[:1])
    kafka_broker.lose_reply_next(PRODUCE, 3)  # the next three Produce requests are appended but never answered
    acked += confluent_produce(producer, topic, values[1:])
    assert faults_used_up(kafka_broker)  # all three acknowledgements really were lost
    stored = stored_values(bootstrap, topic, 0)
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
        assert kp_send(producer, topic, values[:1]) == [0]
        kafka_broker.lose_reply_next(PRODUCE, 2)
        offsets = kp_send(producer, topic, values[1:])
    finally:
        producer.close(timeout=WAIT)
    assert faults_used_up(kafka_broker)
    assert [v for _, v in stored_values(bootstrap, topic, 0)] == values
    assert offsets == list(range(1, len(values)))
