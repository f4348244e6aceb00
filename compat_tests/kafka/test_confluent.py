"""confluent-kafka 2.16.1 (librdkafka 2.16.0) against the broker: Produce v10, Fetch v16 (topic ids), admin.

librdkafka sends raw (unframed) snappy, fetches by topic id (Fetch v13+, so
Metadata must carry real topic ids) and defaults to read_committed. It only
compresses with LZ4 when the broker advertises FindCoordinator (its feature
map dates LZ4 by that API). Its consumer needs a group.id even for assign();
it then looks for a coordinator (FindCoordinator) but nothing here commits, so
no other group API is used. "Latest" is assign(OFFSET_END): librdkafka resolves
it with a ListOffsets in the background, so the test waits until a new
consumer's cached watermarks show a fetch happened (then the position is
fixed) before producing. AdminClient.describe_cluster and describe_topics are
answered from Metadata; list_topics() sends librdkafka's all-topics Metadata
v13, which carries three bytes after the body that Kafka ignores.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, KafkaException, Producer, \
    TopicCollection, TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic, OffsetSpec

from broker.testing import RunningBroker
from compat_tests.kafka.conftest import (
    BASE_TS, CODECS, WAIT, ApiLog, Rec, TopicName, by_partition, create_topic, expected, leaders, stored_batches,
    topic_id, wait_for, wait_stored,
)

# partition, settings (acks, codec, idempotence)
PLAN: list[tuple[int, dict[str, Any]]] = [
    (0, {"acks": "0", "compression.type": "snappy"}),
    (1, {"acks": "1", "compression.type": "gzip"}),
    (2, {"acks": "all", "compression.type": "lz4", "enable.idempotence": True}),
    (3, {"acks": "all", "compression.type": "zstd"}),
]
COUNT = 5


def to_rec(m: Any) -> Rec:
    assert m.error() is None, m.error()
    kind, ts = m.timestamp()
    assert kind == 1  # TIMESTAMP_CREATE_TIME
    return Rec(m.partition(), m.offset(), ts, m.key(), m.value(), tuple(m.headers() or ()))


def consume(consumer: Consumer, count: int) -> list[Rec]:
    out: list[Rec] = []
    deadline = time.monotonic() + WAIT
    while len(out) < count and time.monotonic() < deadline:
        for m in consumer.consume(num_messages=count - len(out), timeout=0.2):
            out.append(to_rec(m))
    return sorted(out)


def produce(bootstrap: str, topic: str, recs: list[Rec], settings: dict[str, Any]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, **settings})
    reports: list[Any] = []
    for r in recs:
        producer.produce(topic, value=r.value, key=r.key, partition=r.partition, timestamp=r.timestamp,
                         headers=list(r.headers), on_delivery=lambda err, msg: reports.append((err, msg)))
    assert producer.flush(WAIT) == 0
    assert [err for err, _ in reports] == [None] * len(recs)
    if settings.get("acks") != "0":
        assert sorted((m.partition(), m.offset(), m.timestamp()[1]) for _, m in reports) == [
            (r.partition, r.offset, r.timestamp) for r in recs]


def new_consumer(bootstrap: str) -> Consumer:
    return Consumer({"bootstrap.servers": bootstrap, "group.id": "assign-only", "enable.auto.commit": False,
                     "enable.auto.offset.store": False, "fetch.wait.max.ms": 100})


@pytest.fixture
def consumer(bootstrap: str) -> Iterator[Consumer]:
    c = new_consumer(bootstrap)
    yield c
    c.close()


def test_produce_every_acks_and_codec_then_consume_by_assign_and_seek(bootstrap: str, api_log: ApiLog,
                                                                      topic_name: TopicName,
                                                                      consumer: Consumer) -> None:
    topic = topic_name()
    create_topic(bootstrap, topic, partitions=len(PLAN))
    want: list[Rec] = []
    for partition, settings in PLAN:
        recs = expected(f"ck-{settings['compression.type']}", partition, COUNT)  # null header values too
        produce(bootstrap, topic, recs, settings)
        want += recs
    for partition, settings in PLAN:
        wait_stored(bootstrap, topic, partition, COUNT)
        batches = stored_batches(bootstrap, topic, partition)
        assert {b.compression for b in batches} == {CODECS[settings["compression.type"]]}
        assert [r for b in batches for r in b.records] == [r for r in want if r.partition == partition]
        assert all((b.producer_id >= 0) == bool(settings.get("enable.idempotence")) for b in batches)

    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p, _ in PLAN])
    assert consume(consumer, len(want)) == want

    # offsets_for_times, then seek there
    found = consumer.offsets_for_times([TopicPartition(topic, p, BASE_TS + 2500) for p, _ in PLAN], WAIT)
    assert [(tp.partition, tp.offset, tp.error) for tp in found] == [(p, 3, None) for p, _ in PLAN]
    (past_end,) = consumer.offsets_for_times([TopicPartition(topic, 0, BASE_TS + 10_000)], WAIT)
    assert past_end.offset == OFFSET_END
    for tp in found:
        consumer.seek(tp)
    assert consume(consumer, 2 * len(PLAN)) == sorted(r for r in want if r.offset >= 3)

    # latest: a new consumer assigned at OFFSET_END sees only what is produced after its position is fixed.
    # Its cached high watermark is unknown until its first Fetch response, and it only fetches once the
    # position is resolved, so a known watermark means the position is fixed.
    latest = new_consumer(bootstrap)
    try:
        latest.assign([TopicPartition(topic, p, OFFSET_END) for p, _ in PLAN])

        def fetched_at_end(p: int) -> bool:
            assert latest.poll(0.05) is None
            return latest.get_watermark_offsets(TopicPartition(topic, p), cached=True)[1] == COUNT

        for p, _ in PLAN:
            wait_for(lambda p=p: fetched_at_end(p), what=f"partition {p} fetched at the end")  # type: ignore[misc]
        more = expected("ck-late", 2, 2, first_offset=COUNT, ts0=BASE_TS + 60_000, keys=False, headers=False)
        produce(bootstrap, topic, more, {"acks": "all"})
        assert consume(latest, len(more)) == more
        assert latest.get_watermark_offsets(TopicPartition(topic, 2), timeout=WAIT) == (0, COUNT + 2)
    finally:
        latest.close()
    # Fetch v16 names topics by id; OffsetForLeaderEpoch v2 validates positions; FindCoordinator v2 is the
    # group.id the consumer must have (answered COORDINATOR_NOT_AVAILABLE, and nothing else of groups is used)
    assert api_log.by_key() == {18: {3}, 3: {13}, 22: {4}, 0: {10}, 1: {16}, 2: {7}, 23: {2}, 10: {2}}
    fetches = api_log.requests(1)
    assert all((f.session_id, f.session_epoch, f.isolation_level) == (0, -1, 1) for f in fetches)  # read_committed
    assert {t.topic_id for f in fetches for t in f.topics} == {topic_id(bootstrap, topic)}


@pytest.fixture
def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap})


def result(future: Any) -> Any:
    return future.result(timeout=WAIT)


def error_code(future: Any) -> int:
    with pytest.raises(KafkaException) as info:
        result(future)
    return int(info.value.args[0].code())


def test_admin_topics_partitions_records_offsets_cluster(bootstrap: str, broker: RunningBroker,
                                                         topic_name: TopicName, admin: AdminClient,
                                                         consumer: Consumer) -> None:
    topic, other = topic_name("a"), topic_name("b")
    assert result(admin.create_topics([NewTopic(topic, 2, 1)])[topic]) is None
    futures = admin.create_topics([NewTopic(topic, 1, 1), NewTopic(other, 1, 3), NewTopic("bad name!", 1, 1)])
    assert error_code(futures[topic]) == KafkaError.TOPIC_ALREADY_EXISTS
    assert error_code(futures[other]) == KafkaError.INVALID_REPLICATION_FACTOR
    assert error_code(futures["bad name!"]) == KafkaError.TOPIC_EXCEPTION
    assert other not in admin.list_topics(timeout=WAIT).topics

    # validate_only touches nothing
    futures = admin.create_topics([NewTopic(other, 3, 1)], validate_only=True)
    assert result(futures[other]) is None and other not in admin.list_topics(timeout=WAIT).topics

    desc = result(admin.describe_topics(TopicCollection([topic]))[topic])
    assert (desc.name, [p.id for p in desc.partitions]) == (topic, [0, 1])
    assert not desc.is_internal and str(desc.topic_id)
    assert result(admin.create_partitions([NewPartitions(topic, 4)])[topic]) is None
    desc = result(admin.describe_topics(TopicCollection([topic]))[topic])
    assert [(p.id, p.leader.id, [r.id for r in p.replicas]) for p in desc.partitions] == [
        (i, 1, [1]) for i in range(4)]
    assert error_code(admin.create_partitions([NewPartitions(topic, 3)])[topic]) == KafkaError.INVALID_PARTITIONS

    recs = expected("ck-admin", 3, COUNT)
    produce(bootstrap, topic, recs, {"acks": "all"})
    tp = TopicPartition(topic, 3)

    deleted = result(admin.delete_records([TopicPartition(topic, 3, 2)])[TopicPartition(topic, 3, 2)])
    assert deleted.low_watermark == 2
    beyond = TopicPartition(topic, 3, COUNT + 1)
    assert error_code(admin.delete_records([beyond])[beyond]) == KafkaError.OFFSET_OUT_OF_RANGE

    specs = {"earliest": OffsetSpec.earliest(), "latest": OffsetSpec.latest(),
             "max": OffsetSpec.max_timestamp(), "ts": OffsetSpec.for_timestamp(BASE_TS + 2500)}
    got = {name: result(admin.list_offsets({tp: spec})[tp]) for name, spec in specs.items()}
    assert {name: (r.offset, r.timestamp) for name, r in got.items()} == {
        "earliest": (2, -1), "latest": (COUNT, -1), "max": (COUNT - 1, BASE_TS + 4000), "ts": (3, BASE_TS + 3000)}

    consumer.assign([TopicPartition(topic, 3, OFFSET_BEGINNING)])
    assert consume(consumer, COUNT - 2) == recs[2:]

    cluster = result(admin.describe_cluster())
    assert cluster.cluster_id == broker.config.cluster_id
    assert cluster.controller.id == 1
    assert [(n.id, n.host, n.port) for n in cluster.nodes] == [(1, "127.0.0.1", broker.server.ports[0])]

    assert result(admin.delete_topics([topic])[topic]) is None
    assert topic not in admin.list_topics(timeout=WAIT).topics
    assert error_code(admin.delete_topics([topic])[topic]) == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_three_brokers_route_by_leader(kafka_cluster: RunningBroker, topic_name: TopicName) -> None:
    bootstrap = kafka_cluster.bootstrap_servers
    topic = topic_name()
    admin = AdminClient({"bootstrap.servers": bootstrap.split(",")[2]})
    assert result(admin.create_topics([NewTopic(topic, 3, 3)])[topic]) is None
    assert leaders(bootstrap, topic) == {0: 1, 1: 2, 2: 3}
    cluster = result(admin.describe_cluster())
    assert (cluster.controller.id, sorted(n.id for n in cluster.nodes)) == (1, [1, 2, 3])

    want = [r for p in range(3) for r in expected(f"ck-c{p}", p, 3)]
    produce(bootstrap.split(",")[1], topic, want, {"acks": "all", "compression.type": "zstd",
                                                    "enable.idempotence": True})
    for p, recs in by_partition(want).items():
        assert [r for b in stored_batches(bootstrap, topic, p) for r in b.records] == recs

    consumer = new_consumer(bootstrap.split(",")[0])
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(3)])
        assert consume(consumer, len(want)) == sorted(want)
        found = consumer.offsets_for_times([TopicPartition(topic, p, BASE_TS + 1500) for p in range(3)], WAIT)
        assert [(tp.partition, tp.offset) for tp in found] == [(0, 2), (1, 2), (2, 2)]
        deleted = admin.delete_records([TopicPartition(topic, p, 1) for p in range(3)])
        assert sorted((tp.partition, result(f).low_watermark) for tp, f in deleted.items()) == [(0, 1), (1, 1), (2, 1)]
    finally:
        consumer.close()
