"""The other clients against the three-process ZooKeeper-mode cluster (``kafka_zk_cluster``): kcat (librdkafka
through its CLI), aiokafka and kafkajs each produce with acks=all to a replication-factor-3 topic through one
broker, and every record is read back from every partition leader's log and by the clients themselves, once and
in order. The earlier issues' client suites run against single-process brokers; this shows the same clients work
unchanged when the metadata lives in ZooKeeper and the partitions are led by different processes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from broker.testing import ZkKafkaCluster
from compat_tests.kafka.conftest import ensure_node_modules, leaders, stored_records, wait_for
from compat_tests.kafka.test_kafkajs import as_messages, records, run
from compat_tests.kafka.test_kcat import consume, produce


@pytest.fixture(scope="module")
def driver() -> Path:
    return ensure_node_modules()


def test_kcat_aiokafka_and_kafkajs_on_a_zookeeper_cluster(kafka_zk_cluster: ZkKafkaCluster, driver: Path) -> None:
    cluster = kafka_zk_cluster
    bootstrap = cluster.bootstrap_servers
    one = bootstrap.split(",")[0]
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic("zk-clients", 3, 3, topic_configs={"min.insync.replicas": "2"})])
    finally:
        admin.close()
    led = wait_for(lambda: (found := leaders(bootstrap, "zk-clients")) and len(set(found.values())) == 3 and found,
                   what="three leaders")
    assert set(led.values()) == {1, 2, 3}  # each partition led by another process

    # kcat: partition 0, acks=all, lz4
    produce(one, "zk-clients", 0, [(f"kc-{i}", f"kcat value {i}") for i in range(5)], "lz4", ["acks=all"], [])

    # aiokafka: partition 1, acks=all, idempotent
    async def aiokafka_side() -> list[bytes]:
        producer = AIOKafkaProducer(bootstrap_servers=one, acks="all", enable_idempotence=True)
        await producer.start()
        try:
            for i in range(5):
                await producer.send_and_wait("zk-clients", b"aio value %d" % i, key=b"ai-%d" % i, partition=1)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer("zk-clients", bootstrap_servers=one, auto_offset_reset="earliest",
                                    group_id="zk-aio", enable_auto_commit=False)
        await consumer.start()
        got: list[bytes] = []
        try:
            async with asyncio.timeout(30):
                while len(got) < 10:
                    batch = await consumer.getmany(timeout_ms=500)
                    got.extend(m.value for msgs in batch.values() for m in msgs if m.partition in (0, 1))
        finally:
            await consumer.stop()
        return got

    aio_seen = asyncio.run(aiokafka_side())

    # kafkajs: partition 2, acks=-1, idempotent, gzip
    want = records("kjs-zk", 2, 5)
    steps = run(driver, "produce", {"brokers": [one], "topic": "zk-clients", "sends": [
        {"acks": -1, "compression": "gzip", "idempotent": True, "messages": as_messages(want)}]})
    assert [(m["partition"], m["errorCode"]) for m in steps["send-0"]["result"]] == [(2, 0)]

    stored = {p: stored_records(bootstrap, "zk-clients", p) for p in range(3)}
    assert [(r.offset, r.key, r.value) for r in stored[0]] == [
        (i, f"kc-{i}".encode(), f"kcat value {i}".encode()) for i in range(5)]
    assert [(r.offset, r.key, r.value) for r in stored[1]] == [
        (i, b"ai-%d" % i, b"aio value %d" % i) for i in range(5)]
    assert [(r.key, r.value, r.headers) for r in stored[2]] == [(r.key, r.value, r.headers) for r in want]
    assert sorted(aio_seen) == sorted(r.value or b"" for p in (0, 1) for r in stored[p])
    # kcat reads everything back through the other processes' leaders
    everything = consume(one, "zk-clients", None, "beginning")
    assert [(r.partition, r.offset, r.value) for r in everything] == [
        (p, r.offset, r.value) for p in range(3) for r in stored[p]]
