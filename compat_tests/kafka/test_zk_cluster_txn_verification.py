"""KIP-890 verification between broker processes: three brokers in ZooKeeper mode, separate processes.

A raw transactional Produce to a partition that was not added to the transaction, at a leader
whose transaction coordinator is another process, is refused by that coordinator's word
(AddPartitionsToTxn v4 ``verify_only`` between the processes): INVALID_TXN_STATE at Produce
v9, TRANSACTION_ABORTABLE at v11, and nothing is written; the partition that was added (on
the coordinator) is accepted, and the transaction commits.
"""

from __future__ import annotations

import time
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from broker.testing import ZkKafkaCluster
from compat_tests.kafka.conftest import RawKafka, broker_address, wait_for, wait_for_leaders
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.add_partitions_to_txn import AddPartitionsToTxnRequest as APReq
from wire.kafka.messages.end_txn import EndTxnRequest
from wire.kafka.messages.find_coordinator import FindCoordinatorRequest
from wire.kafka.messages.init_producer_id import InitProducerIdRequest
from wire.kafka.messages.list_offsets import ListOffsetsRequest
from wire.kafka.messages.produce import ProduceRequest
from wire.kafka.records import BatchBuilder

TID = "raw-verified"
TOPIC = "verify-out"


def test_a_leader_verifies_with_the_coordinator_process(kafka_zk_cluster: ZkKafkaCluster) -> None:
    cluster = kafka_zk_cluster
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers)
    try:
        admin.create_topics([NewTopic(TOPIC, 3, 1)])
        leaders = wait_for_leaders(admin, TOPIC, 3)
    finally:
        admin.close()
    first = cluster.bootstrap_servers.split(",")[0]

    def at(node: int, api_key: int, version: int, body: Any) -> Any:
        with RawKafka(*broker_address(first, node)) as raw:
            return raw.request(api_key, version, body)

    def coordinator() -> int | None:
        with RawKafka.to(first) as raw:
            found = raw.request(10, 3, FindCoordinatorRequest(key=TID, key_type=1))
        return found.node_id if found.error_code == 0 else None

    node = wait_for(coordinator, what="a transaction coordinator")
    others = [p for p in range(3) if leaders[p] != node]
    assert len(others) == 2, leaders  # one partition on each process
    added, other = others

    def init() -> Any:
        r = at(node, 22, 3, InitProducerIdRequest(transactional_id=TID, transaction_timeout_ms=60_000))
        return r if r.error_code == 0 else None

    r = wait_for(init, what="InitProducerId")
    pid, epoch = r.producer_id, r.producer_epoch
    resp = at(node, 24, 3, APReq(v3_and_below_transactional_id=TID, v3_and_below_producer_id=pid,
                                 v3_and_below_producer_epoch=epoch,
                                 v3_and_below_topics=[APReq.AddPartitionsToTxnTopic(TOPIC, [added])]))
    assert resp.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code == 0

    def produce(partition: int, version: int, seq: int = 0) -> Any:
        b = BatchBuilder(producer_id=pid, producer_epoch=epoch, base_sequence=seq, is_transactional=True)
        b.append(b"v-%d" % partition, None, timestamp=int(time.time() * 1000))
        req = ProduceRequest(transactional_id=TID, acks=-1, timeout_ms=10_000, topic_data=[
            ProduceRequest.TopicProduceData(TOPIC, [ProduceRequest.PartitionProduceData(partition, b.build())])])
        return at(leaders[partition], 0, version, req).responses[0].partition_responses[0]

    def log_end(partition: int) -> int:
        req = ListOffsetsRequest(replica_id=-1, topics=[ListOffsetsRequest.ListOffsetsTopic(
            TOPIC, [ListOffsetsRequest.ListOffsetsPartition(partition_index=partition, timestamp=-1)])])
        return int(at(leaders[partition], 2, 5, req).topics[0].partitions[0].offset)

    out = produce(other, 9)
    assert (out.error_code, out.error_message) == (ErrorCode.INVALID_TXN_STATE,
                                                   "Partition was not added to the transaction")
    assert produce(other, 11).error_code == ErrorCode.TRANSACTION_ABORTABLE
    assert log_end(other) == 0
    out = produce(added, 9)
    assert (out.error_code, out.base_offset) == (0, 0)
    assert at(node, 26, 3, EndTxnRequest(transactional_id=TID, producer_id=pid, producer_epoch=epoch,
                                         committed=True)).error_code == 0
    wait_for(lambda: log_end(added) == 2, what="the commit marker in the added partition")
    assert log_end(other) == 0
