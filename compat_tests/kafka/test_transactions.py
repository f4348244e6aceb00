"""Transactions with real clients: consume-transform-produce loops, read_committed vs read_uncommitted, zombies.

Each client (confluent-kafka/librdkafka, kafka-python, aiokafka), against one broker and
a three-broker cluster (coordinators and partition leaders on different brokers), reads an input topic
by assign() (consumer groups are not needed for this), and per chunk of input records
begins a transaction, produces transformed records to a two-partition output topic,
sends the consumed offsets to the transaction for a group id, then commits or aborts
(commit, abort, commit, abort). Then, record by record:

- a read_committed consumer (confluent-kafka's default; the client's own consumer too)
  sees exactly the records of the committed transactions, in order;
- a read_uncommitted consumer sees every record, aborted ones included;
- the group's committed offset is where the last committed transaction left it (the
  aborted transactions' offsets were dropped).

The group variants subscribe with a real consumer group and send its metadata (member
id, generation: KIP-447), which the group coordinator checks. Each test also checks the
transaction API versions each client used against CLIENTS.md.

A zombie test: a second producer with the same transactional id fences the first one
mid-transaction; the first one's commit fails as fenced, its records are aborted, the
second one's commit is visible. A restart from the data dir: the committed transaction stays
visible, the in-flight one is aborted, the transactional id carries on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka import TopicPartition as AioTP
from aiokafka.structs import OffsetAndMetadata as AioOffset
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka import TopicPartition as CkTP
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as KpTP
from kafka.structs import OffsetAndMetadata as KpOffset

from broker.testing import RunningBroker
from compat_tests.kafka.conftest import WAIT, ApiLog, TopicName, create_topic, stored_batches, value_for

INPUT_RECORDS = 12
CHUNK = 3
COMMITS = [True, False, True, False]  # chunk i is committed when COMMITS[i]
OUT_PARTITIONS = 2

Out = tuple[int | None, bytes | None, bytes | None]  # (partition, key, value) of an output record


def transform(i: int, value: bytes) -> tuple[int, bytes, bytes]:
    """Input record i becomes one output record on partition i % 2."""
    return i % OUT_PARTITIONS, f"k{i}".encode(), b"OUT:" + value[:20]


def fill_input(bootstrap: str, topic: str) -> list[bytes]:
    create_topic(bootstrap, topic)
    values = [value_for("txn-in", i) for i in range(INPUT_RECORDS)]
    producer = Producer({"bootstrap.servers": bootstrap})
    for v in values:
        producer.produce(topic, value=v, partition=0)
    assert producer.flush(WAIT) == 0
    return values


def expected_outputs(values: list[bytes]) -> tuple[list[Out], list[Out]]:
    """(records of committed transactions, all records), each partition's in offset order."""
    committed: list[Out] = []
    every: list[Out] = []
    for i, v in enumerate(values):
        rec = transform(i, v)
        every.append(rec)
        if COMMITS[i // CHUNK]:
            committed.append(rec)
    return sorted(committed, key=lambda r: r[0] or 0), sorted(every, key=lambda r: r[0] or 0)


def ck_read(bootstrap: str, topic: str, isolation: str) -> list[Out]:
    """Every record of every output partition as confluent-kafka's consumer delivers them."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "txn-reader", "enable.auto.commit": False,
                         "isolation.level": isolation, "fetch.wait.max.ms": 20})
    try:
        ends = {p: consumer.get_watermark_offsets(CkTP(topic, p), timeout=WAIT)[1] for p in range(OUT_PARTITIONS)}
        consumer.assign([CkTP(topic, p, 0) for p in range(OUT_PARTITIONS)])
        got: list[Out] = []
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            msg = consumer.poll(0.1)
            if msg is not None:
                assert msg.error() is None, msg.error()
                got.append((msg.partition(), msg.key(), msg.value()))
            positions = {tp.partition: tp.offset for tp in consumer.position(
                [CkTP(topic, p) for p in range(OUT_PARTITIONS)])}
            if all(positions[p] >= ends[p] for p in ends):
                return sorted(got, key=lambda r: r[0] or 0)
        raise AssertionError(f"confluent consumer did not reach {ends}; got {got}")
    finally:
        consumer.close()


def committed_offset(broker: RunningBroker, group: str, topic: str) -> int | None:
    def read() -> int | None:
        core = broker.server.core
        assert core is not None
        found = core.offsets.fetch(group, (topic, 0))
        return None if found is None else found.offset
    return broker.call(read)


def txn_versions(api_log: ApiLog) -> dict[int, set[int]]:
    """Versions of InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, TxnOffsetCommit the client used
    (as CLIENTS.md records them)."""
    return {k: v for k, v in api_log.by_key().items() if k in (22, 24, 25, 26, 28)}


def check_outcome(broker: RunningBroker, values: list[bytes], out_topic: str, in_topic: str, group: str,
                  own_read_committed: Callable[[], list[Out]] | None = None) -> None:
    bootstrap = broker.bootstrap_servers
    committed, every = expected_outputs(values)
    assert ck_read(bootstrap, out_topic, "read_committed") == committed
    assert ck_read(bootstrap, out_topic, "read_uncommitted") == every
    if own_read_committed is not None:
        assert own_read_committed() == committed
    last_committed_chunk = max(i for i, c in enumerate(COMMITS) if c)
    assert committed_offset(broker, group, in_topic) == (last_committed_chunk + 1) * CHUNK
    # every output batch is transactional and each partition ends with its transactions' markers
    for p in range(OUT_PARTITIONS):
        assert all(b.producer_id >= 0 for b in stored_batches(bootstrap, out_topic, p))


# -- confluent-kafka (librdkafka): AddPartitionsToTxn v0, AddOffsetsToTxn v0, TxnOffsetCommit v3, EndTxn v1 ----


def ck_transform_loop(consumer: Consumer, producer: Producer, values: list[bytes], in_topic: str,
                      out_topic: str) -> None:
    """Read the input, then per chunk: a transaction with its transformed records and the consumer's next
    offset, committed or aborted as COMMITS says."""
    consumed: list[Any] = []
    deadline = time.monotonic() + WAIT
    while len(consumed) < INPUT_RECORDS and time.monotonic() < deadline:
        msg = consumer.poll(0.1)
        if msg is not None:
            assert msg.error() is None, msg.error()
            consumed.append(msg)
    assert [m.value() for m in consumed] == values
    for chunk, commit in enumerate(COMMITS):
        producer.begin_transaction()
        for m in consumed[chunk * CHUNK:(chunk + 1) * CHUNK]:
            partition, key, value = transform(m.offset(), m.value())
            producer.produce(out_topic, value=value, key=key, partition=partition)
        assert producer.flush(WAIT) == 0  # on the broker before the end (an abort would purge unsent ones)
        next_offset = consumed[(chunk + 1) * CHUNK - 1].offset() + 1
        producer.send_offsets_to_transaction([CkTP(in_topic, 0, next_offset)],
                                             consumer.consumer_group_metadata(), WAIT)
        if commit:
            producer.commit_transaction(WAIT)
        else:
            producer.abort_transaction(WAIT)


@pytest.mark.parametrize("brokers", [1, 3])
def test_confluent_consume_transform_produce(
        kafka_broker_factory: Callable[..., RunningBroker], topic_name: TopicName, brokers: int) -> None:
    kafka_broker = kafka_broker_factory(brokers=brokers)
    api_log = ApiLog(kafka_broker)
    bootstrap = kafka_broker.bootstrap_servers
    in_topic, out_topic, group = topic_name("in"), topic_name("out"), topic_name("group")
    values = fill_input(bootstrap, in_topic)
    create_topic(bootstrap, out_topic, OUT_PARTITIONS)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                         "fetch.wait.max.ms": 20})
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": topic_name("tid"), "linger.ms": 1})
    try:
        producer.init_transactions(WAIT)
        consumer.assign([CkTP(in_topic, 0, 0)])
        ck_transform_loop(consumer, producer, values, in_topic, out_topic)
    finally:
        consumer.close()
    check_outcome(kafka_broker, values, out_topic, in_topic, group)
    assert txn_versions(api_log) == {22: {4}, 24: {0}, 25: {0}, 26: {1}, 28: {3}}


def test_confluent_zombie_producer_is_fenced(kafka_broker: RunningBroker, topic_name: TopicName) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    topic, tid = topic_name("out"), topic_name("tid")
    create_topic(bootstrap, topic)
    zombie = Producer({"bootstrap.servers": bootstrap, "transactional.id": tid})
    zombie.init_transactions(WAIT)
    zombie.begin_transaction()
    zombie.produce(topic, value=b"zombie", partition=0)
    assert zombie.flush(WAIT) == 0
    successor = Producer({"bootstrap.servers": bootstrap, "transactional.id": tid})
    successor.init_transactions(WAIT)  # aborts the zombie's transaction and fences its epoch
    successor.begin_transaction()
    successor.produce(topic, value=b"successor", partition=0)
    successor.commit_transaction(WAIT)
    with pytest.raises(KafkaException) as failure:
        zombie.commit_transaction(WAIT)
    assert failure.value.args[0].fatal(), failure.value.args[0]
    assert failure.value.args[0].name() in ("_FENCED", "PRODUCER_FENCED", "INVALID_PRODUCER_EPOCH")
    values = [v for _, _, v in _ck_read_one(bootstrap, topic, "read_committed")]
    assert values == [b"successor"]
    assert [v for _, _, v in _ck_read_one(bootstrap, topic, "read_uncommitted")] == [b"zombie", b"successor"]


def _ck_read_one(bootstrap: str, topic: str, isolation: str) -> list[Out]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "txn-reader", "enable.auto.commit": False,
                         "isolation.level": isolation, "fetch.wait.max.ms": 20})
    try:
        end = consumer.get_watermark_offsets(CkTP(topic, 0), timeout=WAIT)[1]
        consumer.assign([CkTP(topic, 0, 0)])
        got: list[Out] = []
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            msg = consumer.poll(0.1)
            if msg is not None:
                assert msg.error() is None, msg.error()
                got.append((msg.partition(), msg.key(), msg.value()))
            if consumer.position([CkTP(topic, 0)])[0].offset >= end:
                return got
        raise AssertionError(f"did not reach offset {end}: {got}")
    finally:
        consumer.close()


# -- kafka-python: InitProducerId v4, AddPartitionsToTxn v3, AddOffsetsToTxn v3, TxnOffsetCommit v3, EndTxn v3 -----


def kp_read(bootstrap: str, topic: str, isolation: str) -> list[Out]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level=isolation, enable_auto_commit=False,
                             fetch_max_wait_ms=20)
    try:
        tps = [KpTP(topic, p) for p in range(OUT_PARTITIONS)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        got: list[Out] = []
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            for tp, msgs in consumer.poll(timeout_ms=100).items():
                got.extend((tp.partition, m.key, m.value) for m in msgs)
            if all(consumer.position(tp) >= ends[tp] for tp in tps):
                return sorted(got, key=lambda r: r[0] or 0)
        raise AssertionError(f"kafka-python consumer did not reach {ends}; got {got}")
    finally:
        consumer.close()


@pytest.mark.parametrize("brokers", [1, 3])
def test_kafka_python_consume_transform_produce(
        kafka_broker_factory: Callable[..., RunningBroker], topic_name: TopicName, brokers: int) -> None:
    kafka_broker = kafka_broker_factory(brokers=brokers)
    api_log = ApiLog(kafka_broker)
    bootstrap = kafka_broker.bootstrap_servers
    in_topic, out_topic, group = topic_name("in"), topic_name("out"), topic_name("group")
    values = fill_input(bootstrap, in_topic)
    create_topic(bootstrap, out_topic, OUT_PARTITIONS)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=20)
    producer = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=topic_name("tid"), linger_ms=1)
    try:
        producer.init_transactions()
        tp = KpTP(in_topic, 0)
        consumer.assign([tp])
        consumer.seek(tp, 0)
        consumed: list[Any] = []
        deadline = time.monotonic() + WAIT
        while len(consumed) < INPUT_RECORDS and time.monotonic() < deadline:
            for msgs in consumer.poll(timeout_ms=100).values():
                consumed.extend(msgs)
        assert [m.value for m in consumed] == values
        for chunk, commit in enumerate(COMMITS):
            producer.begin_transaction()
            for m in consumed[chunk * CHUNK:(chunk + 1) * CHUNK]:
                partition, key, value = transform(m.offset, m.value)
                producer.send(out_topic, value=value, key=key, partition=partition)
            producer.flush(WAIT)  # on the broker before the end, aborted ones too
            next_offset = consumed[(chunk + 1) * CHUNK - 1].offset + 1
            producer.send_offsets_to_transaction({tp: KpOffset(next_offset, "", -1)}, group)
            if commit:
                producer.commit_transaction()
            else:
                producer.abort_transaction()
    finally:
        consumer.close()
        producer.close(timeout=WAIT)
    check_outcome(kafka_broker, values, out_topic, in_topic, group,
                  lambda: kp_read(bootstrap, out_topic, "read_committed"))
    assert kp_read(bootstrap, out_topic, "read_uncommitted") == expected_outputs(values)[1]
    assert txn_versions(api_log) == {22: {4}, 24: {3}, 25: {3}, 26: {3}, 28: {3}}


def test_kafka_python_zombie_producer_is_fenced(kafka_broker: RunningBroker, topic_name: TopicName) -> None:
    from kafka.errors import KafkaError

    bootstrap = kafka_broker.bootstrap_servers
    topic, tid = topic_name("out"), topic_name("tid")
    create_topic(bootstrap, topic)
    zombie = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=tid)
    successor = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=tid)
    try:
        zombie.init_transactions()
        zombie.begin_transaction()
        zombie.send(topic, value=b"zombie", partition=0).get(WAIT)
        successor.init_transactions()
        successor.begin_transaction()
        successor.send(topic, value=b"successor", partition=0).get(WAIT)
        successor.commit_transaction()
        with pytest.raises(KafkaError) as failure:
            zombie.commit_transaction()
        assert type(failure.value).__name__ in ("ProducerFencedError", "InvalidProducerEpochError"), failure.value
    finally:
        successor.close(timeout=WAIT)
        zombie.close(timeout=1)
    assert [v for _, _, v in _ck_read_one(bootstrap, topic, "read_committed")] == [b"successor"]
    assert [v for _, _, v in _ck_read_one(bootstrap, topic, "read_uncommitted")] == [b"zombie", b"successor"]


# -- aiokafka: InitProducerId v0, AddPartitionsToTxn v0, AddOffsetsToTxn v0, TxnOffsetCommit v0, EndTxn v0 ---------


async def aio_read(bootstrap: str, topic: str, isolation: str) -> list[Out]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, isolation_level=isolation, enable_auto_commit=False,
                                fetch_max_wait_ms=20)
    await consumer.start()
    try:
        tps = [AioTP(topic, p) for p in range(OUT_PARTITIONS)]
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, 0)
        ends = await consumer.end_offsets(tps)
        got: list[Out] = []
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            for tp, msgs in (await consumer.getmany(timeout_ms=100)).items():
                got.extend((tp.partition, m.key, m.value) for m in msgs)
            positions = [await consumer.position(tp) for tp in tps]
            if all(pos >= ends[tp] for pos, tp in zip(positions, tps)):
                return sorted(got, key=lambda r: r[0] or 0)
        raise AssertionError(f"aiokafka consumer did not reach {ends}; got {got}")
    finally:
        await consumer.stop()


@pytest.mark.parametrize("brokers", [1, 3])
def test_aiokafka_consume_transform_produce(
        kafka_broker_factory: Callable[..., RunningBroker], topic_name: TopicName, brokers: int) -> None:
    kafka_broker = kafka_broker_factory(brokers=brokers)
    api_log = ApiLog(kafka_broker)
    bootstrap = kafka_broker.bootstrap_servers
    in_topic, out_topic, group = topic_name("in"), topic_name("out"), topic_name("group")
    values = fill_input(bootstrap, in_topic)
    create_topic(bootstrap, out_topic, OUT_PARTITIONS)

    async def scenario() -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=20)
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=topic_name("tid"), linger_ms=1)
        await consumer.start()
        await producer.start()
        try:
            tp = AioTP(in_topic, 0)
            consumer.assign([tp])
            consumer.seek(tp, 0)
            consumed: list[Any] = []
            deadline = time.monotonic() + WAIT
            while len(consumed) < INPUT_RECORDS and time.monotonic() < deadline:
                for msgs in (await consumer.getmany(timeout_ms=100)).values():
                    consumed.extend(msgs)
            assert [m.value for m in consumed] == values
            for chunk, commit in enumerate(COMMITS):
                await producer.begin_transaction()
                sent = []
                for m in consumed[chunk * CHUNK:(chunk + 1) * CHUNK]:
                    partition, key, value = transform(m.offset, m.value)
                    sent.append(await producer.send(out_topic, value=value, key=key, partition=partition))
                await asyncio.gather(*sent)
                next_offset = consumed[(chunk + 1) * CHUNK - 1].offset + 1
                await producer.send_offsets_to_transaction({tp: AioOffset(next_offset, "")}, group)
                if commit:
                    await producer.commit_transaction()
                else:
                    await producer.abort_transaction()
        finally:
            await consumer.stop()
            await producer.stop()

    asyncio.run(scenario())
    check_outcome(kafka_broker, values, out_topic, in_topic, group,
                  lambda: asyncio.run(aio_read(bootstrap, out_topic, "read_committed")))
    assert asyncio.run(aio_read(bootstrap, out_topic, "read_uncommitted")) == expected_outputs(values)[1]
    assert txn_versions(api_log) == {22: {0}, 24: {0}, 25: {0}, 26: {0}, 28: {0}}


# -- with a real consumer group (subscribe): KIP-447 member id and generation in TxnOffsetCommit v3 ------------


def test_confluent_consume_transform_produce_in_a_consumer_group(
        kafka_broker: RunningBroker, topic_name: TopicName, api_log: ApiLog) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    in_topic, out_topic, group = topic_name("in"), topic_name("out"), topic_name("group")
    values = fill_input(bootstrap, in_topic)
    create_topic(bootstrap, out_topic, OUT_PARTITIONS)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", "fetch.wait.max.ms": 20, "session.timeout.ms": 6000})
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": topic_name("tid"), "linger.ms": 1})
    try:
        producer.init_transactions(WAIT)
        consumer.subscribe([in_topic])
        # the group metadata sent with the offsets carries the member id and generation (KIP-447)
        ck_transform_loop(consumer, producer, values, in_topic, out_topic)
        committed = consumer.committed([CkTP(in_topic, 0)], timeout=WAIT)
        assert committed[0].offset == 9  # read back by the group member itself (OffsetFetch)
    finally:
        consumer.close()
    check_outcome(kafka_broker, values, out_topic, in_topic, group)
    assert txn_versions(api_log) == {22: {4}, 24: {0}, 25: {0}, 26: {1}, 28: {3}}
    assert all(r.member_id and r.generation_id >= 0 for r in api_log.requests(28))  # KIP-447 fields


def test_kafka_python_consume_transform_produce_in_a_consumer_group(
        kafka_broker: RunningBroker, topic_name: TopicName, api_log: ApiLog) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    in_topic, out_topic, group = topic_name("in"), topic_name("out"), topic_name("group")
    values = fill_input(bootstrap, in_topic)
    create_topic(bootstrap, out_topic, OUT_PARTITIONS)
    consumer = KafkaConsumer(in_topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                             auto_offset_reset="earliest", fetch_max_wait_ms=20)
    producer = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=topic_name("tid"), linger_ms=1)
    try:
        producer.init_transactions()
        consumed: list[Any] = []
        deadline = time.monotonic() + WAIT
        while len(consumed) < INPUT_RECORDS and time.monotonic() < deadline:
            for msgs in consumer.poll(timeout_ms=100).values():
                consumed.extend(msgs)
        assert [m.value for m in consumed] == values
        tp = KpTP(in_topic, 0)
        for chunk, commit in enumerate(COMMITS):
            producer.begin_transaction()
            for m in consumed[chunk * CHUNK:(chunk + 1) * CHUNK]:
                partition, key, value = transform(m.offset, m.value)
                producer.send(out_topic, value=value, key=key, partition=partition)
            producer.flush(WAIT)
            next_offset = consumed[(chunk + 1) * CHUNK - 1].offset + 1
            producer.send_offsets_to_transaction({tp: KpOffset(next_offset, "", -1)}, consumer.group_metadata())
            if commit:
                producer.commit_transaction()
            else:
                producer.abort_transaction()
        assert consumer.committed(tp) == 9
    finally:
        consumer.close()
        producer.close(timeout=WAIT)
    check_outcome(kafka_broker, values, out_topic, in_topic, group)
    assert txn_versions(api_log) == {22: {4}, 24: {3}, 25: {3}, 26: {3}, 28: {3}}
    assert all(r.member_id and r.generation_id >= 0 for r in api_log.requests(28))  # KIP-447 fields


# -- durability: a broker restarted from its data dir ---------------------------------------------------


def test_transactions_survive_a_broker_restart(kafka_broker_factory: Callable[..., RunningBroker],
                                               topic_name: TopicName, tmp_path: Path) -> None:
    """A committed transaction stays visible, an in-flight one is aborted at start-up (its records stored but
    never visible to read_committed), and the transactional id carries on under a bumped epoch."""
    broker = kafka_broker_factory(data_dir=tmp_path, flush_messages=1)
    topic, tid = topic_name("out"), topic_name("tid")
    create_topic(broker.bootstrap_servers, topic)
    first = KafkaProducer(bootstrap_servers=broker.bootstrap_servers, transactional_id=tid, linger_ms=1)
    first.init_transactions()
    first.begin_transaction()
    first.send(topic, value=b"committed", partition=0)
    first.commit_transaction()
    first.begin_transaction()
    first.send(topic, value=b"in flight", partition=0).get(WAIT)
    broker.stop()
    first.close(timeout=0)

    again = kafka_broker_factory(data_dir=tmp_path, flush_messages=1)
    bootstrap = again.bootstrap_servers
    assert [v for _, _, v in _ck_read_one(bootstrap, topic, "read_committed")] == [b"committed"]
    assert [v for _, _, v in _ck_read_one(bootstrap, topic, "read_uncommitted")] == [b"committed", b"in flight"]
    successor = Producer({"bootstrap.servers": bootstrap, "transactional.id": tid})
    successor.init_transactions(WAIT)
    successor.begin_transaction()
    successor.produce(topic, value=b"after restart", partition=0)
    successor.commit_transaction(WAIT)
    assert [v for _, _, v in _ck_read_one(bootstrap, topic, "read_committed")] == [b"committed", b"after restart"]
