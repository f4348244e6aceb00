"""A LogAppendTime topic through kafka-python: the broker stamps the batch; the producer and consumer see it."""

from __future__ import annotations

import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from broker.testing import RunningBroker

CLIENT_TIMESTAMP = 1_000_000_000_000  # 2001: far from the broker's clock


def test_log_append_time_replaces_the_client_timestamp(kafka_broker: RunningBroker) -> None:
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap_servers)
    admin.create_topics([NewTopic("lat", 1, 1, topic_configs={"message.timestamp.type": "LogAppendTime"})])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap_servers, acks=1)
    sent = producer.send("lat", b"v", timestamp_ms=CLIENT_TIMESTAMP).get(timeout=15)
    producer.close()
    assert sent.timestamp != CLIENT_TIMESTAMP  # the ack carries the broker's append time
    consumer = KafkaConsumer(bootstrap_servers=kafka_broker.bootstrap_servers)
    consumer.assign([TopicPartition("lat", 0)])
    consumer.seek_to_beginning()
    records: list = []  # type: ignore[type-arg]
    deadline = time.monotonic() + 15
    while not records and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
    consumer.close()
    (record,) = records
    assert record.timestamp_type == 1  # LogAppendTime
    assert record.timestamp == sent.timestamp
