"""Log compaction seen by kafka-python: a compacted topic keeps the latest value per key at its original offset.

The topic is created through KafkaAdminClient with cleanup.policy=compact and
no compaction lag; a keyed producer writes one batch per send (flushing after
each), so every batch but the last is cleanable. The broker's cleaner runs on
its own schedule (log.retention.check.interval.ms set small); the test waits
until the broker's log start and batches show it ran, then consumes from the
beginning and compares the records exactly, offsets included.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from broker.testing import RunningBroker
from compat_tests.kafka.conftest import WAIT, wait_for
from wire.kafka.records import RecordBatch

TOPIC = "compacted"
# (key, value): the latest value of every key must survive, at the offset it was written at
WRITES: list[tuple[bytes, bytes | None]] = [
    (b"a", b"a1"), (b"b", b"b1"), (b"c", b"c1"), (b"a", b"a2"), (b"b", None), (b"c", b"c2"), (b"a", b"a3"),
    (b"d", b"d1"), (b"end", b"last"),
]


def test_compacted_topic_keeps_the_latest_value_per_key(kafka_broker_factory: Callable[..., RunningBroker]) -> None:
    broker = kafka_broker_factory(retention_check_interval_ms=100)
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap_servers, request_timeout_ms=int(WAIT * 1000))
    try:
        admin.create_topics([NewTopic(TOPIC, 1, 1, topic_configs={
            "cleanup.policy": "compact", "min.compaction.lag.ms": "0", "segment.bytes": "1024",
            "segment.ms": "100"})])
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, linger_ms=0)
    try:
        for key, value in WRITES:
            producer.send(TOPIC, key=key, value=value, partition=0).get(timeout=WAIT)
            producer.flush()
    finally:
        producer.close()
    latest = {key: (offset, value) for offset, (key, value) in enumerate(WRITES)}
    want = sorted((offset, key, value) for key, (offset, value) in latest.items())

    def stored_count() -> int:
        core = broker.server.core
        assert core is not None
        plog = core.cluster.partition(TOPIC, 0)
        assert plog is not None
        return sum(len(RecordBatch(b.data).records())
                   for b in plog.log.batches)

    wait_for(lambda: broker.call(stored_count) == len(want), what="the cleaner to compact the topic")

    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap_servers, enable_auto_commit=False,
                             consumer_timeout_ms=int(WAIT * 1000))
    try:
        tp = TopicPartition(TOPIC, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        got: list[tuple[int, bytes | None, bytes | None]] = []
        deadline = time.monotonic() + WAIT
        while len(got) < len(want) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=1000).values():
                got += [(r.offset, r.key, r.value) for r in records]
        assert got == want
        assert consumer.beginning_offsets([tp])[tp] == 0
        assert consumer.end_offsets([tp])[tp] == len(WRITES)
    finally:
        consumer.close()
