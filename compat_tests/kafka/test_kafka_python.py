"""kafka-python 3.0.12 against the broker: Produce v9, Fetch v12 (fetch sessions), ListOffsets, admin.

Data path: one producer per (acks, codec) pair writes its own partition, keyed,
with headers and explicit timestamps; the default producer (acks=all with
enable_idempotence) is one of them. The consumer reads everything back by
assign/seek from the beginning, from a timestamp (offsets_for_times) and from
the end (then new records), and the records are compared exactly. The stored
batches are checked for the codec each producer used. Admin goes through
KafkaAdminClient, which sends admin requests to Metadata's controller_id.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import OffsetSpec
from kafka.errors import (
    InvalidPartitionsError, NotLeaderForPartitionError, OffsetOutOfRangeError, TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)

from broker.testing import RunningBroker
from compat_tests.kafka.conftest import (
    BASE_TS, CODECS, WAIT, ApiLog, Rec, TopicName, by_partition, create_topic, expected, leaders, stored_batches,
    wait_stored,
)

# partition, acks, codec, producer settings. Partition 2 is kafka-python's default producer: acks=all, idempotent.
PLAN: list[tuple[int, int | str, str, dict[str, object]]] = [
    (0, 0, "gzip", {"acks": 0, "enable_idempotence": False}),
    (1, 1, "snappy", {"acks": 1, "enable_idempotence": False}),
    (2, "all", "lz4", {}),
    (3, "all", "zstd", {"acks": "all", "enable_idempotence": False}),
]
COUNT = 5


def to_rec(m: object) -> Rec:
    return Rec(m.partition, m.offset, m.timestamp, m.key, m.value,  # type: ignore[attr-defined]
               tuple((k, v) for k, v in m.headers))  # type: ignore[attr-defined]


def consume(consumer: KafkaConsumer, count: int) -> list[Rec]:
    out: list[Rec] = []
    deadline = time.monotonic() + WAIT
    while len(out) < count and time.monotonic() < deadline:
        for msgs in consumer.poll(timeout_ms=200).values():
            out.extend(to_rec(m) for m in msgs)
    return sorted(out)


def send_all(producer: KafkaProducer, topic: str, recs: list[Rec], wait: bool) -> None:
    futures = [producer.send(topic, value=r.value, key=r.key, headers=list(r.headers), partition=r.partition,
                             timestamp_ms=r.timestamp) for r in recs]
    producer.flush(timeout=WAIT)
    if wait:
        metas = [f.get(timeout=WAIT) for f in futures]
        assert [(m.partition, m.offset, m.timestamp) for m in metas] == [(r.partition, r.offset, r.timestamp)
                                                                           for r in recs]


@pytest.fixture
def consumer(bootstrap: str) -> Iterator[KafkaConsumer]:
    c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                      fetch_max_wait_ms=100, request_timeout_ms=10_000)
    yield c
    c.close()


def test_produce_every_acks_and_codec_then_consume_by_assign_and_seek(bootstrap: str, api_log: ApiLog,
                                                                      topic_name: TopicName,
                                                                      consumer: KafkaConsumer) -> None:
    topic = topic_name()
    create_topic(bootstrap, topic, partitions=len(PLAN))
    want: list[Rec] = []
    for partition, acks, codec, settings in PLAN:
        recs = expected(f"kp-{codec}", partition, COUNT, null_header=False)
        producer = KafkaProducer(bootstrap_servers=bootstrap, compression_type=codec, **settings)
        assert producer.config["acks"] == (-1 if acks == "all" else acks)
        try:
            send_all(producer, topic, recs, wait=acks != 0)
        finally:
            producer.close(timeout=WAIT)
        want += recs

    for partition, acks, codec, settings in PLAN:
        wait_stored(bootstrap, topic, partition, COUNT)  # acks=0 has nothing to wait on
        batches = stored_batches(bootstrap, topic, partition)
        assert {b.compression for b in batches} == {CODECS[codec]}, (codec, batches)
        assert [r for b in batches for r in b.records] == [r for r in want if r.partition == partition]
        idempotent = not settings  # the default producer
        assert all((b.producer_id >= 0) == idempotent for b in batches)
        if idempotent:
            assert [b.base_sequence for b in batches] == [sum(len(x.records) for x in batches[:i])
                                                         for i in range(len(batches))]

    tps = [TopicPartition(topic, p) for p, *_ in PLAN]
    consumer.assign(tps)
    consumer.seek_to_beginning()
    assert consume(consumer, len(want)) == want

    # offsets_for_times: the first record at or after the timestamp, per partition
    found = consumer.offsets_for_times({tp: BASE_TS + 2500 for tp in tps})
    assert {tp: (o.offset, o.timestamp) for tp, o in found.items()} == {tp: (3, BASE_TS + 3000) for tp in tps}
    assert consumer.offsets_for_times({tps[0]: BASE_TS + 10 * 1000}) == {tps[0]: None}
    for tp in tps:
        consumer.seek(tp, found[tp].offset)
    assert consume(consumer, 2 * len(tps)) == sorted(r for r in want if r.offset >= 3)

    # latest: seek to the end, then only records produced afterwards arrive
    consumer.seek_to_end()
    assert {tp: consumer.position(tp) for tp in tps} == {tp: COUNT for tp in tps}
    more = expected("kp-late", 1, 2, first_offset=COUNT, ts0=BASE_TS + 60_000, keys=False, headers=False)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, enable_idempotence=False)
    try:
        send_all(producer, topic, more, wait=True)
    finally:
        producer.close(timeout=WAIT)
    assert consume(consumer, len(more)) == more
    assert consumer.end_offsets(tps) == {tp: COUNT + (2 if tp.partition == 1 else 0) for tp in tps}
    assert consumer.beginning_offsets(tps) == {tp: 0 for tp in tps}
    # the versions CLIENTS.md recorded against Kafka 4.0, and Fetch v12 with incremental fetch sessions (KIP-227)
    assert api_log.by_key() == {18: {4}, 3: {13}, 22: {4}, 0: {9}, 1: {12}, 2: {10}}
    fetches = api_log.requests(1)
    assert (fetches[0].session_id, fetches[0].session_epoch) == (0, 0)
    assert any(f.session_id != 0 and f.session_epoch > 0 for f in fetches)


@pytest.fixture
def admin(bootstrap: str) -> Iterator[KafkaAdminClient]:
    a = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    yield a
    a.close()


def test_admin_topics_partitions_records_offsets_cluster(bootstrap: str, broker: RunningBroker,
                                                         topic_name: TopicName, admin: KafkaAdminClient,
                                                         consumer: KafkaConsumer) -> None:
    topic, other = topic_name("a"), topic_name("b")
    resp = admin.create_topics({topic: {"num_partitions": 2, "replication_factor": 1}})
    assert [(t["name"], t["error_code"], t["num_partitions"], t["replication_factor"]) for t in resp["topics"]] == [
        (topic, 0, 2, 1)]

    with pytest.raises(TopicAlreadyExistsError):
        admin.create_topics({topic: {"num_partitions": 1, "replication_factor": 1}})
    resp = admin.create_topics({topic: {"num_partitions": 1, "replication_factor": 1},
                                other: {"num_partitions": 1, "replication_factor": 3},
                                "bad name!": {"num_partitions": 1, "replication_factor": 1}}, raise_errors=False)
    codes = {t["name"]: t["error_code"] for t in resp["topics"]}
    # TOPIC_ALREADY_EXISTS, INVALID_REPLICATION_FACTOR, INVALID_TOPIC_EXCEPTION
    assert codes == {topic: 36, other: 38, "bad name!": 17}
    assert other not in admin.list_topics()

    # describe_topics (Metadata) and create_partitions
    (desc,) = admin.describe_topics([topic])
    assert desc["error_code"] == 0 and [p["partition_index"] for p in desc["partitions"]] == [0, 1]
    admin.create_partitions({topic: 4})
    (desc,) = admin.describe_topics([topic])
    assert sorted(p["partition_index"] for p in desc["partitions"]) == [0, 1, 2, 3]
    assert {p["leader_id"] for p in desc["partitions"]} == {1}
    with pytest.raises(InvalidPartitionsError):
        admin.create_partitions({topic: 3})

    # records to delete and list offsets over
    recs = expected("kp-admin", 3, COUNT, null_header=False)
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, enable_idempotence=False)
    try:
        send_all(producer, topic, recs, wait=True)
    finally:
        producer.close(timeout=WAIT)
    tp = TopicPartition(topic, 3)
    offsets = admin.list_partition_offsets({tp: OffsetSpec.EARLIEST})
    assert (offsets[tp].offset, offsets[tp].timestamp) == (0, -1)
    deleted = admin.delete_records({tp: 2})
    assert deleted[tp]["low_watermark"] == 2
    with pytest.raises(OffsetOutOfRangeError):
        admin.delete_records({tp: COUNT + 1})

    specs = {"earliest": OffsetSpec.EARLIEST, "latest": OffsetSpec.LATEST, "max": OffsetSpec.MAX_TIMESTAMP,
             "ts": BASE_TS + 2500, "ts-before-start": BASE_TS}
    got = {name: admin.list_partition_offsets({tp: spec})[tp] for name, spec in specs.items()}
    assert {name: (o.offset, o.timestamp) for name, o in got.items()} == {
        "earliest": (2, -1), "latest": (COUNT, -1), "max": (COUNT - 1, BASE_TS + 4000),
        "ts": (3, BASE_TS + 3000), "ts-before-start": (2, BASE_TS + 2000)}

    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    assert consume(consumer, COUNT - 2) == recs[2:]

    # describe_cluster uses the DescribeCluster API
    cluster = admin.describe_cluster()
    assert cluster["cluster_id"] == broker.config.cluster_id
    assert cluster["controller_id"] == 1
    assert [(b["broker_id"], b["host"], b["port"]) for b in cluster["brokers"]] == [
        (1, "127.0.0.1", broker.server.ports[0])]

    # delete_topics, then the topic is gone; deleting it again is UNKNOWN_TOPIC_OR_PARTITION
    resp = admin.delete_topics([topic])
    assert [(t["name"], t["error_code"]) for t in resp["topics"]] == [(topic, 0)]
    assert topic not in admin.list_topics()
    with pytest.raises(UnknownTopicOrPartitionError):
        admin.delete_topics([topic])


def test_three_brokers_route_by_leader(kafka_cluster: RunningBroker, topic_name: TopicName) -> None:
    bootstrap = kafka_cluster.bootstrap_servers
    topic = topic_name()
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(",")[2], request_timeout_ms=10_000)
    try:
        admin.create_topics({topic: {"num_partitions": 3, "replication_factor": 3}})
        (desc,) = admin.describe_topics([topic])
        assert sorted((p["partition_index"], p["leader_id"]) for p in desc["partitions"]) == [(0, 1), (1, 2), (2, 3)]
        assert admin.describe_cluster()["controller_id"] == 1
        # routed by hand to a follower, the request is refused; routed by metadata, it succeeds
        tp = TopicPartition(topic, 1)
        with pytest.raises(NotLeaderForPartitionError):
            admin.delete_records({tp: 0}, partition_leader_id=3)
        assert admin.delete_records({tp: 0})[tp]["low_watermark"] == 0
        assert admin.list_partition_offsets({tp: OffsetSpec.LATEST})[tp].offset == 0
    finally:
        admin.close()
    assert leaders(bootstrap, topic) == {0: 1, 1: 2, 2: 3}

    want = [r for p in range(3) for r in expected(f"kp-c{p}", p, 3, null_header=False)]
    producer = KafkaProducer(bootstrap_servers=bootstrap.split(",")[1], compression_type="gzip")  # idempotent
    try:
        send_all(producer, topic, want, wait=True)
    finally:
        producer.close(timeout=WAIT)
    for p, recs in by_partition(want).items():
        assert [r for b in stored_batches(bootstrap, topic, p) for r in b.records] == recs

    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(",")[0], enable_auto_commit=False, group_id=None,
                             fetch_max_wait_ms=100)
    try:
        tps = [TopicPartition(topic, p) for p in range(3)]
        consumer.assign(tps)
        consumer.seek_to_beginning()
        assert consume(consumer, len(want)) == sorted(want)
        found = consumer.offsets_for_times({tp: BASE_TS + 1500 for tp in tps})
        assert {tp.partition: o.offset for tp, o in found.items()} == {0: 2, 1: 2, 2: 2}
    finally:
        consumer.close()
