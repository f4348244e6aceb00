"""Partition reassignment (KIP-455) on three broker processes in ZooKeeper mode (``kafka_zk_cluster``).

kafka-python's admin client moves a replication-factor-2 partition from one pair of brokers
to another (AlterPartitionReassignments to the controller): ``/brokers/topics/<topic>`` first
holds the full replica set with ``adding_replicas`` / ``removing_replicas`` (read with kazoo),
ListPartitionReassignments shows it while it runs, the added replica catches up and joins the
ISR, leadership moves into the target set, and the assignment ends as the target. Records
written before the move are all readable afterwards, and new ones are acknowledged by the new
replicas. Cancelling with nothing in progress is NO_REASSIGNMENT_IN_PROGRESS.
"""

from __future__ import annotations

import json

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import NoReassignmentInProgressError
from kazoo.client import KazooClient

from broker.testing import ZkKafkaCluster
from compat_tests.kafka.test_zk_cluster import WAIT, wait_for


def test_reassignment_moves_replicas_and_leadership(kafka_zk_cluster: ZkKafkaCluster) -> None:
    cluster = kafka_zk_cluster
    zk = KazooClient(hosts=cluster.zookeeper)
    zk.start(timeout=10)
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers, request_timeout_ms=20000)
    try:
        admin.create_topics([NewTopic("moved", 1, 2)])
        origin = json.loads(zk.get("/brokers/topics/moved")[0])["partitions"]["0"]
        (spare,) = {1, 2, 3} - set(origin)
        target = [spare, origin[1]]  # origin[0] (the leader) goes, the spare comes
        producer = KafkaProducer(bootstrap_servers=cluster.bootstrap_servers, acks="all")
        before = [b"before-%03d" % i for i in range(100)]
        for value in before:
            producer.send("moved", value=value, partition=0)
        producer.flush(WAIT)

        tp = TopicPartition("moved", 0)
        assert admin.alter_partition_reassignments({tp: target}) == {tp: None}
        data = json.loads(zk.get("/brokers/topics/moved")[0])
        if data["adding_replicas"]:  # (it may already have completed)
            assert data["partitions"]["0"] == [*target, origin[0]]
            assert data["adding_replicas"] == {"0": [spare]} and data["removing_replicas"] == {"0": [origin[0]]}
        done = wait_for(lambda: (d := json.loads(zk.get("/brokers/topics/moved")[0]))["partitions"]["0"] == target
                        and d, "the reassignment to complete")
        assert done["adding_replicas"] == {} and done["removing_replicas"] == {}
        state = json.loads(zk.get("/brokers/topics/moved/partitions/0/state")[0])
        assert state["leader"] in target and sorted(state["isr"]) == sorted(target), state
        assert admin.list_partition_reassignments() == {}
        result = admin.alter_partition_reassignments({tp: None})
        assert result == {tp: NoReassignmentInProgressError}

        after = [b"after-%03d" % i for i in range(50)]
        for value in after:
            producer.send("moved", value=value, partition=0).get(timeout=WAIT)
        producer.close()
    finally:
        admin.close()
        zk.stop()
        zk.close()
    cluster.kill(origin[0])  # the removed replica is not needed any more: everything is on the target brokers
    consumer = KafkaConsumer(bootstrap_servers=",".join(cluster.brokers[b].bootstrap_servers for b in target),
                             consumer_timeout_ms=10000)
    consumer.assign([TopicPartition("moved", 0)])
    consumer.seek_to_beginning()
    got: list[bytes] = []
    for message in consumer:
        got.append(message.value)
        if len(got) == len(before) + len(after):
            break
    consumer.close()
    assert got == before + after


def test_legacy_reassign_partitions_znode(kafka_zk_cluster: ZkKafkaCluster) -> None:
    """What ``kafka-reassign-partitions.sh --zookeeper`` did before 2.4: create ``/admin/reassign_partitions``.
    The controller carries every named partition out and takes it out of the znode when done, then deletes the
    znode; a partition that does not exist is dropped from it at once."""
    cluster = kafka_zk_cluster
    zk = KazooClient(hosts=cluster.zookeeper)
    zk.start(timeout=10)
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers, request_timeout_ms=20000)
    try:
        admin.create_topics([NewTopic("legacy-move", 2, 1)])
        origin = {p: json.loads(zk.get("/brokers/topics/legacy-move")[0])["partitions"][str(p)] for p in (0, 1)}
        targets = {p: sorted({1, 2, 3} - set(origin[p]))[:2] for p in (0, 1)}  # two brokers that lack it
        producer = KafkaProducer(bootstrap_servers=cluster.bootstrap_servers, acks="all")
        for p in (0, 1):
            for i in range(20):
                producer.send("legacy-move", value=b"%d-%02d" % (p, i), partition=p)
        producer.flush(WAIT)
        producer.close()
        request = {"version": 1, "partitions": [
            *({"topic": "legacy-move", "partition": p, "replicas": targets[p]} for p in (0, 1)),
            {"topic": "no-such-topic", "partition": 0, "replicas": [1]}]}
        zk.create("/admin/reassign_partitions", json.dumps(request).encode())
        wait_for(lambda: zk.exists("/admin/reassign_partitions") is None, "the znode to be done with")
        data = json.loads(zk.get("/brokers/topics/legacy-move")[0])
        assert data["partitions"] == {str(p): targets[p] for p in (0, 1)}
        assert data["adding_replicas"] == {} and data["removing_replicas"] == {}
        for p in (0, 1):
            state = json.loads(zk.get(f"/brokers/topics/legacy-move/partitions/{p}/state")[0])
            assert state["leader"] in targets[p] and sorted(state["isr"]) == targets[p], state
    finally:
        admin.close()
        zk.stop()
        zk.close()
    consumer = KafkaConsumer(bootstrap_servers=cluster.bootstrap_servers, consumer_timeout_ms=10000)
    consumer.assign([TopicPartition("legacy-move", p) for p in (0, 1)])
    consumer.seek_to_beginning()
    got = sorted(m.value for _, m in zip(range(40), consumer))
    consumer.close()
    assert got == sorted(b"%d-%02d" % (p, i) for p in (0, 1) for i in range(20))
