"""KIP-890 verification between broker processes in ZooKeeper mode, on the wire.

Three ``RunningBroker``s (each its own core and shell, as separate processes would be) over
``MemoryZooKeeper``, driven with raw requests: a partition leader asks the transaction's
coordinator, another broker, with AddPartitionsToTxn v4 ``verify_only`` before it appends
the first transactional batch of a transaction (and a group coordinator before it takes a
TxnOffsetCommit): a partition that was not added gets INVALID_TXN_STATE (TRANSACTION_ABORTABLE
from Produce v11) and nothing is written, an added one is accepted; a fenced epoch gets
INVALID_PRODUCER_EPOCH (an acks=0 one has its connection closed); a coordinator that drops the request, or does not answer within
``request.timeout.ms``, gives the retriable NOT_ENOUGH_REPLICAS. With
``transaction.partition.verification.enable=false`` nothing is asked.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import trio

from broker.config import BrokerConfig
from broker.replication.client import KafkaConnection
from broker.testing import RunningBroker, wait_for
from broker.zk.memory import MemoryZooKeeper
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.add_offsets_to_txn import AddOffsetsToTxnRequest
from wire.kafka.messages.add_partitions_to_txn import AddPartitionsToTxnRequest as APReq
from wire.kafka.messages.create_topics import CreateTopicsRequest as CTReq
from wire.kafka.messages.end_txn import EndTxnRequest
from wire.kafka.messages.find_coordinator import FindCoordinatorRequest
from wire.kafka.messages.init_producer_id import InitProducerIdRequest
from wire.kafka.messages.produce import ProduceRequest
from wire.kafka.messages.txn_offset_commit import TxnOffsetCommitRequest as TOReq
from wire.kafka.records import BatchBuilder

WAIT = 20.0
TID = "verified-txn"
TOPIC = "v"
E = ErrorCode


class Cluster:
    def __init__(self, **cfg: Any) -> None:
        self.zk = MemoryZooKeeper()
        self.brokers = {n: RunningBroker(BrokerConfig(port=0, first_node_id=n, zookeeper_connect="memory",
                                                      transaction_state_log_num_partitions=3,
                                                      offsets_topic_num_partitions=3, **cfg),
                                         bridge_factory=self.zk.bridge).start()
                        for n in (1, 2, 3)}

    def close(self) -> None:
        for broker in self.brokers.values():
            broker.stop()

    def call(self, node: int, api_key: int, version: int, body: Any) -> Any:
        host, port = self.brokers[node].bootstrap_servers.split(":")

        async def go() -> Any:
            conn = await KafkaConnection.open(host, int(port), "verification-test")
            try:
                return await conn.request(api_key, version, body)
            finally:
                await conn.aclose()

        return trio.run(go)

    def core_value(self, node: int, read: Callable[[Any], Any]) -> Any:
        broker = self.brokers[node]
        return broker.call(lambda: read(broker.server.core))

    def log_end(self, node: int, partition: int) -> int:
        return int(self.core_value(node, lambda core: core.cluster.partition(TOPIC, partition).log.next_offset))


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    c = Cluster(request_timeout_ms=1500)
    try:
        yield c
    finally:
        c.close()


def setup(c: Cluster) -> tuple[int, dict[int, int]]:
    """Topic ``v`` with partition p led by broker p + 1, and the transaction coordinator of TID known to every
    broker: (coordinator, partition -> leader)."""
    resp = c.call(1, 19, 4, CTReq(timeout_ms=10_000, topics=[CTReq.CreatableTopic(
        TOPIC, -1, -1, [CTReq.CreatableReplicaAssignment(p, [p + 1]) for p in range(3)])]))
    assert resp.topics[0].error_code == 0
    leaders = {p: p + 1 for p in range(3)}
    for n in c.brokers:
        wait_for(lambda n=n: all(c.brokers[n].leader(TOPIC, p)[0] == leaders[p] for p in range(3)),
                 f"broker {n} knowing the leaders")

    def coordinator() -> int | None:
        found = c.call(1, 10, 3, FindCoordinatorRequest(key=TID, key_type=1))
        return found.node_id if found.error_code == 0 else None

    node = wait_for(coordinator, "a transaction coordinator")
    for n in c.brokers:
        wait_for(lambda n=n: c.core_value(n, lambda core: core.txns.verifier.coordinator(TID)) == node,
                 f"broker {n} knowing the coordinator")
    return node, leaders


def init(c: Cluster, coordinator: int) -> tuple[int, int]:
    def attempt() -> Any:
        r = c.call(coordinator, 22, 3, InitProducerIdRequest(transactional_id=TID, transaction_timeout_ms=60_000))
        return r if r.error_code == 0 else None
    r = wait_for(attempt, "InitProducerId")
    return r.producer_id, r.producer_epoch


def add(c: Cluster, coordinator: int, pid: int, epoch: int, partition: int) -> int:
    r = c.call(coordinator, 24, 3, APReq(v3_and_below_transactional_id=TID, v3_and_below_producer_id=pid,
                                         v3_and_below_producer_epoch=epoch,
                                         v3_and_below_topics=[APReq.AddPartitionsToTxnTopic(TOPIC, [partition])]))
    return int(r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code)


def batch(pid: int, epoch: int, seq: int) -> bytes:
    b = BatchBuilder(producer_id=pid, producer_epoch=epoch, base_sequence=seq, is_transactional=True)
    b.append(b"value-%d" % seq, None, timestamp=int(time.time() * 1000))
    return b.build()


def produce(c: Cluster, leaders: dict[int, int], partition: int, records: bytes, version: int = 9,
            acks: int = -1) -> Any:
    req = ProduceRequest(transactional_id=TID, acks=acks, timeout_ms=5000, topic_data=[
        ProduceRequest.TopicProduceData(TOPIC, [ProduceRequest.PartitionProduceData(partition, records)])])
    return c.call(leaders[partition], 0, version, req).responses[0].partition_responses[0]


def test_the_leader_asks_the_coordinator_in_another_broker(cluster: Cluster) -> None:
    c = cluster
    coordinator, leaders = setup(c)
    added, other = [p for p in range(3) if leaders[p] != coordinator]
    pid, epoch = init(c, coordinator)
    assert add(c, coordinator, pid, epoch, added) == 0
    # a partition not in the transaction: refused by the coordinator's word, by Produce version; nothing written
    out = produce(c, leaders, other, batch(pid, epoch, 0))
    assert (out.error_code, out.error_message) == (E.INVALID_TXN_STATE, "Partition was not added to the transaction")
    assert produce(c, leaders, other, batch(pid, epoch, 0), version=11).error_code == E.TRANSACTION_ABORTABLE
    with pytest.raises(trio.BrokenResourceError):  # acks=0: the refusal closes the connection
        produce(c, leaders, other, batch(pid, epoch, 0), acks=0)
    assert c.log_end(leaders[other], other) == 0
    # a fenced epoch
    assert produce(c, leaders, other, batch(pid, epoch + 1, 0)).error_code == E.INVALID_PRODUCER_EPOCH
    assert produce(c, leaders, added, batch(pid, epoch + 1, 0)).error_code == E.INVALID_PRODUCER_EPOCH
    # the partition that was added: accepted, and its next batch too
    out = produce(c, leaders, added, batch(pid, epoch, 0))
    assert (out.error_code, out.base_offset) == (0, 0)
    assert produce(c, leaders, added, batch(pid, epoch, 1)).base_offset == 1
    assert c.log_end(leaders[other], other) == 0
    # the transaction commits: its marker goes to the added partition
    assert c.call(coordinator, 26, 3, EndTxnRequest(transactional_id=TID, producer_id=pid, producer_epoch=epoch,
                                                    committed=True)).error_code == 0
    wait_for(lambda: c.log_end(leaders[added], added) == 3, "the commit marker")

    # the next transaction, on the other partition: the coordinator drops the first verification (a connection
    # error: retriable), then answers the retry
    wait_for(lambda: add(c, coordinator, pid, epoch, other) == 0, "the next transaction")
    c.brokers[coordinator].drop_next(24)
    out = produce(c, leaders, other, batch(pid, epoch, 0))
    assert out.error_code == E.NOT_ENOUGH_REPLICAS and out.error_message.endswith("NETWORK_EXCEPTION")
    assert c.log_end(leaders[other], other) == 0
    assert produce(c, leaders, other, batch(pid, epoch, 0)).error_code == 0

    # no answer within request.timeout.ms (1.5 s here): retriable too, and answered by then
    assert c.call(coordinator, 26, 3, EndTxnRequest(transactional_id=TID, producer_id=pid, producer_epoch=epoch,
                                                    committed=False)).error_code == 0
    wait_for(lambda: add(c, coordinator, pid, epoch, added) == 0, "a third transaction")
    c.brokers[coordinator].add_latency(5.0, 24)
    start = time.monotonic()
    out = produce(c, leaders, added, batch(pid, epoch, 2))
    assert time.monotonic() - start < 4.5
    assert out.error_code == E.NOT_ENOUGH_REPLICAS and out.error_message.endswith("NETWORK_EXCEPTION")
    c.brokers[coordinator].clear_faults()
    assert produce(c, leaders, added, batch(pid, epoch, 2)).error_code == 0


def test_the_group_coordinator_asks_before_a_txn_offset_commit(cluster: Cluster) -> None:
    c = cluster
    coordinator, _ = setup(c)
    pid, epoch = init(c, coordinator)

    def group_elsewhere() -> tuple[str, int] | None:
        for i in range(50):
            found = c.call(1, 10, 3, FindCoordinatorRequest(key=f"g{i}", key_type=0))
            if found.error_code:
                return None
            if found.node_id != coordinator:
                return f"g{i}", found.node_id
        return None

    group, group_coordinator = wait_for(group_elsewhere, "a group coordinated by another broker")

    def commit(version: int = 3) -> int:
        req = TOReq(transactional_id=TID, group_id=group, producer_id=pid, producer_epoch=epoch, topics=[
            TOReq.TxnOffsetCommitRequestTopic(TOPIC, [TOReq.TxnOffsetCommitRequestPartition(0, 5, -1, "m")])])
        return int(c.call(group_coordinator, 28, version, req).topics[0].partitions[0].error_code)

    assert commit() == E.INVALID_TXN_STATE  # no AddOffsetsToTxn
    assert commit(version=4) == E.TRANSACTION_ABORTABLE
    unstable = c.core_value(group_coordinator, lambda core: core.offsets.is_unstable(group, (TOPIC, 0)))
    assert not unstable  # nothing stored
    resp = c.call(coordinator, 25, 3, AddOffsetsToTxnRequest(transactional_id=TID, producer_id=pid,
                                                             producer_epoch=epoch, group_id=group))
    assert resp.error_code == 0
    assert commit() == 0
    assert c.core_value(group_coordinator, lambda core: core.offsets.is_unstable(group, (TOPIC, 0)))
    assert c.call(coordinator, 26, 3, EndTxnRequest(transactional_id=TID, producer_id=pid, producer_epoch=epoch,
                                                    committed=True)).error_code == 0

    def committed() -> Any:
        found = c.core_value(group_coordinator, lambda core: core.offsets.fetch(group, (TOPIC, 0)))
        return found is not None and found.offset == 5

    wait_for(committed, "the offsets committed with the transaction")


def test_verification_disabled_asks_nothing() -> None:
    c = Cluster(extra={"transaction.partition.verification.enable": "false"})
    try:
        coordinator, leaders = setup(c)
        added, other = [p for p in range(3) if leaders[p] != coordinator]
        pid, epoch = init(c, coordinator)
        assert add(c, coordinator, pid, epoch, added) == 0
        # as brokers before KIP-890: the batch of a partition not in the transaction is written
        assert produce(c, leaders, other, batch(pid, epoch, 0)).error_code == 0
        assert c.log_end(leaders[other], other) == 1
    finally:
        c.close()
