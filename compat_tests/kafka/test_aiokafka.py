"""aiokafka 0.14.0 against the broker: ApiVersions v0 first, Produce v7, Fetch v11 (sessionless), admin.

aiokafka frames snappy the xerial way (like kafka-python, unlike librdkafka)
and is the only client here whose idempotent producer uses InitProducerId v0.
Its admin client raises for CreatePartitions/DeleteRecords errors and returns
CreateTopics/DeleteTopics responses with per-topic error codes. The scenarios
are asyncio coroutines run with ``asyncio.run`` from plain (sync) tests, since
the suite's async tests run under trio.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic, RecordsToDelete
from aiokafka.errors import InvalidPartitionsError, OffsetOutOfRangeError

from broker.testing import RunningBroker
from compat_tests.kafka.conftest import (
    BASE_TS, CODECS, WAIT, ApiLog, Rec, TopicName, by_partition, create_topic, expected, leaders, stored_batches,
    wait_stored,
)

# partition, acks, codec, idempotent
PLAN: list[tuple[int, int | str, str, bool]] = [
    (0, 0, "lz4", False),
    (1, 1, "zstd", False),  # aiokafka's default acks
    (2, "all", "snappy", True),
    (3, "all", "gzip", False),
]
COUNT = 5


def to_rec(m: Any) -> Rec:
    return Rec(m.partition, m.offset, m.timestamp, m.key, m.value, tuple(m.headers))


async def consume(consumer: AIOKafkaConsumer, count: int) -> list[Rec]:
    out: list[Rec] = []
    deadline = time.monotonic() + WAIT
    while len(out) < count and time.monotonic() < deadline:
        for msgs in (await consumer.getmany(timeout_ms=200)).values():
            out.extend(to_rec(m) for m in msgs)
    return sorted(out)


async def send_all(bootstrap: str, topic: str, recs: list[Rec], acks: int | str = 1, codec: str | None = None,
                   idempotent: bool = False) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=acks, compression_type=codec,
                                enable_idempotence=idempotent, linger_ms=5)
    await producer.start()
    try:
        futures = [await producer.send(topic, value=r.value, key=r.key, partition=r.partition,
                                       timestamp_ms=r.timestamp, headers=list(r.headers)) for r in recs]
        metas = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    if acks != 0:
        # aiokafka reports the first record's CreateTime for every record of a batch (MessageBatch.done
        # reuses its loop variable): a client quirk; the stored records are compared exactly elsewhere
        assert [(m.partition, m.offset) for m in metas] == [(r.partition, r.offset) for r in recs]
        assert metas[0].timestamp == recs[0].timestamp and metas[0].timestamp_type == 0


def new_consumer(bootstrap: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                            fetch_max_wait_ms=100, request_timeout_ms=10_000)


def test_produce_every_acks_and_codec_then_consume_by_assign_and_seek(bootstrap: str, api_log: ApiLog,
                                                                      topic_name: TopicName) -> None:
    topic = topic_name()
    create_topic(bootstrap, topic, partitions=len(PLAN))
    want: list[Rec] = []

    async def produce_all() -> None:
        for partition, acks, codec, idempotent in PLAN:
            recs = expected(f"aio-{codec}", partition, COUNT, null_header=False)
            await send_all(bootstrap, topic, recs, acks, codec, idempotent)
            want.extend(recs)

    asyncio.run(produce_all())
    for partition, acks, codec, idempotent in PLAN:
        wait_stored(bootstrap, topic, partition, COUNT)
        batches = stored_batches(bootstrap, topic, partition)
        assert {b.compression for b in batches} == {CODECS[codec]}, codec
        assert [r for b in batches for r in b.records] == [r for r in want if r.partition == partition]
        assert all((b.producer_id >= 0) == idempotent for b in batches)

    async def read_back() -> None:
        consumer = new_consumer(bootstrap)
        await consumer.start()
        try:
            tps = [TopicPartition(topic, p) for p, *_ in PLAN]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            assert await consume(consumer, len(want)) == want

            found = await consumer.offsets_for_times({tp: BASE_TS + 2500 for tp in tps})
            assert {tp: (o.offset, o.timestamp) for tp, o in found.items()} == {tp: (3, BASE_TS + 3000) for tp in tps}
            assert await consumer.offsets_for_times({tps[0]: BASE_TS + 10_000}) == {tps[0]: None}
            for tp in tps:
                consumer.seek(tp, found[tp].offset)
            assert await consume(consumer, 2 * len(tps)) == sorted(r for r in want if r.offset >= 3)

            await consumer.seek_to_end(*tps)
            assert [await consumer.position(tp) for tp in tps] == [COUNT] * len(tps)
            more = expected("aio-late", 3, 2, first_offset=COUNT, ts0=BASE_TS + 60_000, keys=False, headers=False)
            await send_all(bootstrap, topic, more)
            assert await consume(consumer, len(more)) == more
            assert await consumer.beginning_offsets(tps) == {tp: 0 for tp in tps}
            assert await consumer.end_offsets(tps) == {tp: COUNT + 2 * (tp.partition == 3) for tp in tps}
        finally:
            await consumer.stop()

    asyncio.run(read_back())
    assert api_log.by_key() == {18: {0}, 3: {5}, 22: {0}, 0: {7}, 1: {11}, 2: {3}}


def test_admin_topics_partitions_records_cluster(bootstrap: str, broker: RunningBroker,
                                                 topic_name: TopicName) -> None:
    topic, other = topic_name("a"), topic_name("b")

    async def scenario() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
        await admin.start()
        try:
            resp = await admin.create_topics([NewTopic(topic, 2, 1)])
            assert [(name, code) for name, code, *_ in resp.topic_errors] == [(topic, 0)]
            resp = await admin.create_topics([NewTopic(topic, 1, 1), NewTopic(other, 1, 3),
                                              NewTopic("bad name!", 1, 1)])
            assert {name: code for name, code, *_ in resp.topic_errors} == {topic: 36, other: 38, "bad name!": 17}
            assert other not in await admin.list_topics()

            await admin.create_partitions({topic: NewPartitions(4)})
            (desc,) = await admin.describe_topics([topic])
            assert sorted((p["partition"], p["leader"]) for p in desc["partitions"]) == [(i, 1) for i in range(4)]
            with pytest.raises(InvalidPartitionsError):
                await admin.create_partitions({topic: NewPartitions(3)})

            recs = expected("aio-admin", 3, COUNT, null_header=False)
            await send_all(bootstrap, topic, recs)
            tp = TopicPartition(topic, 3)
            assert await admin.delete_records({tp: RecordsToDelete(2)}) == {tp: 2}
            with pytest.raises(OffsetOutOfRangeError):
                await admin.delete_records({tp: RecordsToDelete(COUNT + 1)})

            consumer = new_consumer(bootstrap)
            await consumer.start()
            try:
                consumer.assign([tp])
                # seek before any other await: aiokafka's fetcher resets a fresh assignment to "latest" on its own
                await consumer.seek_to_beginning(tp)
                assert await consumer.position(tp) == 2
                assert await consume(consumer, COUNT - 2) == recs[2:]
                assert await consumer.beginning_offsets([tp]) == {tp: 2}
                found = await consumer.offsets_for_times({tp: BASE_TS})
                assert (found[tp].offset, found[tp].timestamp) == (2, BASE_TS + 2000)
            finally:
                await consumer.stop()

            cluster = await admin.describe_cluster()
            assert cluster["cluster_id"] == broker.config.cluster_id and cluster["controller_id"] == 1
            assert [(b["node_id"], b["host"], b["port"]) for b in cluster["brokers"]] == [
                (1, "127.0.0.1", broker.server.ports[0])]

            resp = await admin.delete_topics([topic])
            assert [(name, code) for name, code, *_ in resp.topic_error_codes] == [(topic, 0)]
            assert topic not in await admin.list_topics()
            resp = await admin.delete_topics([topic])
            assert [(name, code) for name, code, *_ in resp.topic_error_codes] == [(topic, 3)]
        finally:
            await admin.close()

    asyncio.run(scenario())


def test_three_brokers_route_by_leader(kafka_cluster: RunningBroker, topic_name: TopicName) -> None:
    bootstrap = kafka_cluster.bootstrap_servers
    topic = topic_name()
    create_topic(bootstrap, topic, partitions=3, replication=3)
    assert leaders(bootstrap, topic) == {0: 1, 1: 2, 2: 3}
    want = [r for p in range(3) for r in expected(f"aio-c{p}", p, 3, null_header=False)]

    async def scenario() -> None:
        await send_all(bootstrap.split(",")[2], topic, want, "all", "lz4", idempotent=True)
        consumer = new_consumer(bootstrap.split(",")[1])
        await consumer.start()
        try:
            tps = [TopicPartition(topic, p) for p in range(3)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            assert await consume(consumer, len(want)) == sorted(want)
            found = await consumer.offsets_for_times({tp: BASE_TS + 1500 for tp in tps})
            assert {tp.partition: o.offset for tp, o in found.items()} == {0: 2, 1: 2, 2: 2}
        finally:
            await consumer.stop()

    asyncio.run(scenario())
    for p, recs in by_partition(want).items():
        assert [r for b in stored_batches(bootstrap, topic, p) for r in b.records] == recs
