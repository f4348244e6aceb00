"""Partition reassignment (KIP-455) on three broker processes in ZooKeeper mode.

kafka-python's admin client moves a replication-factor-2 partition from one pair of brokers
to another (AlterPartitionReassignments to the controller): ``/brokers/topics/<topic>`` first
holds the full replica set with ``adding_replicas`` / ``removing_replicas`` (read with kazoo),
ListPartitionReassignments shows it while it runs, the added replica catches up and joins the
ISR, leadership moves into the target set, and the assignment ends as the target. Records
written before the move are all readable afterwards, and new ones are acknowledged by the new
replicas. Cancelling with nothing in progress is NO_REASSIGNMENT_IN_PROGRESS.

To see a reassignment in progress for sure, the added replica is held back: its broker (not
the controller) is killed (kill -9) while its ZooKeeper session, 60 s here, keeps it registered,
so the controller accepts it as a target but it cannot catch up; the test then expires that
session on the ZooKeeper server and restarts the broker, and the reassignment completes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import NoReassignmentInProgressError
from kazoo.client import KazooClient

from broker.pytest_plugin import ZK_CLUSTER_OVERRIDES
from broker.testing import ZkKafkaCluster
from compat_tests.kafka.test_zk_cluster import WAIT, wait_for
from zkserver.testing import RunningZkServer

SESSION_MS = 60000  # a killed broker stays registered this long, unless its session is expired


class Held:
    """The ``kafka_zk_cluster`` set-up with long broker sessions, and a way to hold one broker back."""

    def __init__(self, server: RunningZkServer, cluster: ZkKafkaCluster) -> None:
        self.server = server
        self.cluster = cluster
        self.zk = KazooClient(hosts=cluster.zookeeper)
        self.zk.start(timeout=10)

    def controller(self) -> int:
        return int(json.loads(self.zk.get("/controller")[0])["brokerid"])

    def kill_registered(self, broker_id: int) -> int:
        """kill -9 the broker; it stays registered (its session lives on). Returns that session's id."""
        stat = self.zk.exists(f"/brokers/ids/{broker_id}")
        assert stat is not None and stat.ephemeralOwner
        self.cluster.kill(broker_id)
        assert self.zk.exists(f"/brokers/ids/{broker_id}") is not None
        return int(stat.ephemeralOwner)

    def bring_back(self, broker_id: int, session: int) -> None:
        """End the killed broker's session (its registration goes) and start it again."""
        self.server.expire_session(session)
        wait_for(lambda: self.zk.exists(f"/brokers/ids/{broker_id}") is None, "the old registration to go")
        self.cluster.restart(broker_id)
        wait_for(lambda: self.zk.exists(f"/brokers/ids/{broker_id}") is not None, "the broker registered again")

    def close(self) -> None:
        self.zk.stop()
        self.zk.close()


@pytest.fixture
def held(zk_server_factory: Callable[..., RunningZkServer], tmp_path: Path) -> Iterator[Held]:
    server = zk_server_factory(max_session_timeout_ms=SESSION_MS)
    cluster = ZkKafkaCluster(f"127.0.0.1:{server.port}/kafka", tmp_path, [1, 2, 3],
                             {**ZK_CLUSTER_OVERRIDES, "zookeeper.session.timeout.ms": str(SESSION_MS)})
    try:
        cluster.start()
        h = Held(server, cluster)
        wait_for(lambda: h.zk.exists("/controller") is not None, "a controller")
        yield h
        h.close()
    finally:
        cluster.stop()


def topic_znode(zk: KazooClient, topic: str) -> Any:
    return json.loads(zk.get(f"/brokers/topics/{topic}")[0])


def test_reassignment_moves_replicas_and_leadership(held: Held) -> None:
    cluster, zk = held.cluster, held.zk
    controller = held.controller()
    spare = max(b for b in (1, 2, 3) if b != controller)  # the added replica: a broker that is not the controller
    origin = sorted({1, 2, 3} - {spare})
    target = [spare, origin[1]]  # origin[0] (the leader) goes, the spare comes
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers, request_timeout_ms=20000)
    try:
        admin.create_topics([NewTopic("moved", replica_assignments={0: origin})])
        wait_for(lambda: zk.exists("/brokers/topics/moved/partitions/0/state"), "the partition's state")
        assert topic_znode(zk, "moved")["partitions"]["0"] == origin
        producer = KafkaProducer(bootstrap_servers=cluster.bootstrap_servers, acks="all")
        before = [b"before-%03d" % i for i in range(100)]
        for value in before:
            producer.send("moved", value=value, partition=0)
        producer.flush(WAIT)

        session = held.kill_registered(spare)  # still a live broker to the controller, but it cannot fetch
        tp = TopicPartition("moved", 0)
        assert admin.alter_partition_reassignments({tp: target}) == {tp: None}
        data = topic_znode(zk, "moved")
        assert data["partitions"]["0"] == [*target, origin[0]]
        assert data["adding_replicas"] == {"0": [spare]} and data["removing_replicas"] == {"0": [origin[0]]}
        # the controller answers from its view of ZooKeeper, which hears the write it answered after a moment
        listed = wait_for(admin.list_partition_reassignments, "the reassignment listed")
        assert listed == {tp: {"replicas": [*target, origin[0]], "adding_replicas": [spare],
                               "removing_replicas": [origin[0]]}}, listed
        state = json.loads(zk.get("/brokers/topics/moved/partitions/0/state")[0])
        assert spare not in state["isr"] and state["leader"] == origin[0]  # it cannot have caught up
        assert topic_znode(zk, "moved") == data  # still in progress

        held.bring_back(spare, session)  # now it catches up and the reassignment completes
        done = wait_for(lambda: (d := topic_znode(zk, "moved"))["partitions"]["0"] == target and d,
                        "the reassignment to complete")
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


def test_legacy_reassign_partitions_znode(held: Held) -> None:
    """What ``kafka-reassign-partitions.sh --zookeeper`` did before 2.4: create ``/admin/reassign_partitions``.
    The controller carries every named partition out and takes it out of the znode when done, then deletes the
    znode; a partition that does not exist is dropped from it at once (seen while the real moves are held back:
    a broker both targets need is killed, still registered)."""
    cluster, zk = held.cluster, held.zk
    controller = held.controller()
    others = sorted({1, 2, 3} - {controller})
    origin = {p: [controller] for p in (0, 1)}
    targets = {p: others for p in (0, 1)}  # the two brokers that lack it
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers, request_timeout_ms=20000)
    try:
        admin.create_topics([NewTopic("legacy-move", replica_assignments=origin)])
        wait_for(lambda: all(zk.exists(f"/brokers/topics/legacy-move/partitions/{p}/state") for p in (0, 1)),
                 "the partitions' states")
        producer = KafkaProducer(bootstrap_servers=cluster.bootstrap_servers, acks="all")
        for p in (0, 1):
            for i in range(20):
                producer.send("legacy-move", value=b"%d-%02d" % (p, i), partition=p)
        producer.flush(WAIT)
        producer.close()
        held_back = others[0]
        session = held.kill_registered(held_back)  # both moves need it: neither can finish for now
        moves = [{"topic": "legacy-move", "partition": p, "replicas": targets[p]} for p in (0, 1)]
        request = {"version": 1, "partitions": [*moves, {"topic": "no-such-topic", "partition": 0, "replicas": [1]}]}
        zk.create("/admin/reassign_partitions", json.dumps(request).encode())

        def pending() -> Any:
            stat = zk.exists("/admin/reassign_partitions")
            assert stat is not None, "the znode went before the moves could finish"
            return stat.version > 0 and json.loads(zk.get("/admin/reassign_partitions")[0])
        left = wait_for(pending, "the unknown partition to be dropped from the znode")
        assert sorted(left["partitions"], key=lambda e: e["partition"]) == moves, left  # the real moves stay
        data = topic_znode(zk, "legacy-move")
        assert data["adding_replicas"] == {"0": others, "1": others}, data  # both under way
        assert data["removing_replicas"] == {"0": [controller], "1": [controller]}, data

        held.bring_back(held_back, session)
        wait_for(lambda: zk.exists("/admin/reassign_partitions") is None, "the znode to be done with")
        data = topic_znode(zk, "legacy-move")
        assert data["partitions"] == {str(p): targets[p] for p in (0, 1)}
        assert data["adding_replicas"] == {} and data["removing_replicas"] == {}
        for p in (0, 1):
            state = json.loads(zk.get(f"/brokers/topics/legacy-move/partitions/{p}/state")[0])
            assert state["leader"] in targets[p] and sorted(state["isr"]) == targets[p], state
    finally:
        admin.close()
    consumer = KafkaConsumer(bootstrap_servers=cluster.bootstrap_servers, consumer_timeout_ms=10000)
    consumer.assign([TopicPartition("legacy-move", p) for p in (0, 1)])
    consumer.seek_to_beginning()
    got = sorted(m.value for _, m in zip(range(40), consumer))
    consumer.close()
    assert got == sorted(b"%d-%02d" % (p, i) for p in (0, 1) for i in range(20))
