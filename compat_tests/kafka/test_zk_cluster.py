"""Three broker processes in ZooKeeper mode over our ZooKeeper server (the ``kafka_zk_cluster`` fixture).

What issue 9 asks of a cluster that keeps its metadata in ZooKeeper:
* controller failover: kill -9 the controller; its session expires, another
  broker takes ``/controller`` (with a higher ``/controller_epoch``) and the
  cluster keeps serving (a topic created afterwards gets leaders);
* acks=all through leader deaths: a replication-factor-3 topic with
  min.insync.replicas=2 is produced to (confluent-kafka, then kafka-python)
  while its leader is killed and restarted; afterwards every acknowledged
  record is present exactly once, in order, and a consumer group carries on.
Every wait is bounded; the brokers' ZooKeeper session timeout is 2 s.
"""

from __future__ import annotations

import json
import time
from typing import Any

from confluent_kafka import Consumer, Producer
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError

from broker.testing import ZkKafkaCluster, wait_for

WAIT = 30.0


def drain_values(bootstrap: str, topic: str, group: str, count: int, commit: bool = False) -> list[bytes | None]:
    """The values a confluent-kafka consumer of a new group reads from the start of ``topic``, until it has
    ``count`` or WAIT runs out; ``commit``: commit its offsets before closing."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    got: list[bytes | None] = []
    deadline = time.monotonic() + WAIT
    while len(got) < count and time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        if msg is not None and msg.error() is None:
            got.append(msg.value())
    if commit:
        consumer.commit(asynchronous=False)
    consumer.close()
    return got


def znode(zk: KazooClient, path: str) -> Any:
    """The znode's JSON, or None while it does not exist (it may go between any two reads)."""
    try:
        return json.loads(zk.get(path)[0])
    except NoNodeError:
        return None


def test_controller_failover(kafka_zk_cluster: ZkKafkaCluster) -> None:
    zk = KazooClient(hosts=kafka_zk_cluster.zookeeper)
    zk.start(timeout=10)
    try:
        first = wait_for(lambda: znode(zk, "/controller"), "a controller")["brokerid"]
        epoch = int(zk.get("/controller_epoch")[0])
        assert sorted(int(i) for i in zk.get_children("/brokers/ids")) == [1, 2, 3]
        block = znode(zk, "/latest_producer_id_block")  # each broker claimed its first block of 1000 ids
        assert block["version"] == 1 and block["broker"] in (1, 2, 3)
        assert (block["block_start"], block["block_end"]) == ("2000", "2999")  # strings, as Kafka writes them
        kafka_zk_cluster.kill(first)  # kill -9: the ephemerals go when the session expires
        second = wait_for(lambda: (c := znode(zk, "/controller")) and c["brokerid"] != first and c["brokerid"],
                          "another controller")
        assert int(zk.get("/controller_epoch")[0]) == epoch + 1
        assert str(first) not in zk.get_children("/brokers/ids")
        admin = KafkaAdminClient(bootstrap_servers=kafka_zk_cluster.bootstrap_servers)
        try:
            admin.create_topics([NewTopic("after-failover", 2, 2)])
        finally:
            admin.close()
        states = [znode(zk, f"/brokers/topics/after-failover/partitions/{p}/state") for p in range(2)]
        assert all(s is not None and s["leader"] in (1, 2, 3) and s["leader"] != first for s in states), states
        assert all(s["controller_epoch"] == epoch + 1 for s in states)
        assert second != first
    finally:
        zk.stop()
        zk.close()


def leader_of(zk: KazooClient, topic: str, partition: int = 0) -> int:
    state = znode(zk, f"/brokers/topics/{topic}/partitions/{partition}/state")
    return -1 if state is None else int(state["leader"])


def test_acks_all_records_survive_leader_kills(kafka_zk_cluster: ZkKafkaCluster) -> None:
    cluster = kafka_zk_cluster
    zk = KazooClient(hosts=cluster.zookeeper)
    zk.start(timeout=10)
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers)
    try:
        admin.create_topics([NewTopic("durable", 1, 3, topic_configs={"min.insync.replicas": "2"})])
    finally:
        admin.close()
    acked: list[bytes] = []
    errors: list[object] = []

    def report(err: object, msg: Any) -> None:
        if err is None:
            acked.append(msg.value())
        else:
            errors.append(err)

    producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "acks": "all", "enable.idempotence": True,
                         "linger.ms": 5, "retry.backoff.ms": 50, "message.timeout.ms": 60000,
                         "topic.metadata.refresh.interval.ms": 1000})
    try:
        for round_ in range(3):
            for i in range(100):
                producer.produce("durable", value=b"ck-%d-%03d" % (round_, i), partition=0, on_delivery=report)
                producer.poll(0)
            producer.flush(WAIT)
            victim = leader_of(zk, "durable")
            cluster.kill(victim)
            wait_for(lambda: leader_of(zk, "durable") not in (-1, victim), "a new leader")
            cluster.restart(victim)
        assert producer.flush(WAIT) == 0
    finally:
        zk.stop()
        zk.close()
    assert not errors, errors[:3]
    kp = KafkaProducer(bootstrap_servers=cluster.bootstrap_servers, acks="all", retries=20, retry_backoff_ms=100)
    for i in range(50):
        kp.send("durable", value=b"kp-%03d" % i, partition=0).get(timeout=WAIT)
        acked.append(b"kp-%03d" % i)
    kp.close()
    got = drain_values(cluster.bootstrap_servers, "durable", "checker", len(acked), commit=True)
    assert got == acked  # every acknowledged record once, in order (one partition, idempotent producers)


def test_transactions_across_broker_processes(kafka_zk_cluster: ZkKafkaCluster) -> None:
    """A transaction whose partitions are led by three different processes, its coordinator on one of them:
    markers reach the others by WriteTxnMarkers; read_committed sees the committed transaction only, and
    the offsets sent with it land in the group (whose coordinator may be yet another broker)."""
    from confluent_kafka import TopicPartition as CkTP

    cluster = kafka_zk_cluster
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers)
    try:
        admin.create_topics([NewTopic("txn-out", 3, 1), NewTopic("txn-in", 1, 1)])
    finally:
        admin.close()
    zk = KazooClient(hosts=cluster.zookeeper)
    zk.start(timeout=10)
    try:
        leaders = {leader_of(zk, "txn-out", p) for p in range(3)}
    finally:
        zk.stop()
        zk.close()
    assert leaders == {1, 2, 3}  # one partition on each process
    producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "transactional.id": "spread-tx"})
    producer.init_transactions(WAIT)
    consumer = Consumer({"bootstrap.servers": cluster.bootstrap_servers, "group.id": "txn-group",
                         "enable.auto.commit": False})
    for commit, tag in ((True, b"kept"), (False, b"dropped"), (True, b"kept2")):
        producer.begin_transaction()
        for p in range(3):
            producer.produce("txn-out", value=tag + b"-%d" % p, partition=p)
        producer.send_offsets_to_transaction([CkTP("txn-in", 0, 7)], consumer.consumer_group_metadata(), WAIT)
        if commit:
            producer.commit_transaction(WAIT)
        else:
            producer.abort_transaction(WAIT)
    committed = consumer.committed([CkTP("txn-in", 0)], timeout=WAIT)
    consumer.close()
    assert committed[0].offset == 7
    reader = Consumer({"bootstrap.servers": cluster.bootstrap_servers, "group.id": "txn-reader",
                       "auto.offset.reset": "earliest", "isolation.level": "read_committed"})
    reader.assign([CkTP("txn-out", p, 0) for p in range(3)])
    got: list[bytes] = []
    deadline = time.monotonic() + WAIT
    while len(got) < 6 and time.monotonic() < deadline:
        msg = reader.poll(0.2)
        if msg is not None and msg.error() is None:
            got.append(msg.value() or b"")
    reader.close()
    assert sorted(got) == sorted([b"kept-%d" % p for p in range(3)] + [b"kept2-%d" % p for p in range(3)])


def test_a_consumer_group_carries_on_when_its_coordinator_is_killed(kafka_zk_cluster: ZkKafkaCluster) -> None:
    """The group's coordinator process is killed mid-stream: the __consumer_offsets partition (replicated on
    all three brokers) gets a new leader, every live broker learns it through its watches, the new leader loads
    the group's offsets, and the member goes on reading from its committed position: every record once."""
    from kafka import KafkaConsumer, TopicPartition

    from broker.state.internal import GROUP_TOPIC, partition_for
    from compat_tests.kafka.conftest import metadata

    cluster = kafka_zk_cluster
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers)
    try:
        admin.create_topics([NewTopic("groupy", 1, 3)])
    finally:
        admin.close()
    producer = KafkaProducer(bootstrap_servers=cluster.bootstrap_servers, acks="all")
    values = [b"g-%03d" % i for i in range(40)]
    for v in values:
        producer.send("groupy", value=v, partition=0)
    producer.flush(timeout=WAIT)
    producer.close()
    consumer = KafkaConsumer("groupy", bootstrap_servers=cluster.bootstrap_servers, group_id="survivors",
                             auto_offset_reset="earliest", enable_auto_commit=False, max_poll_records=10,
                             session_timeout_ms=6000, heartbeat_interval_ms=500, request_timeout_ms=8000)
    seen: list[bytes] = []
    index = partition_for("survivors", 50)
    try:
        deadline = time.monotonic() + WAIT
        while len(seen) < 20 and time.monotonic() < deadline:
            for msgs in consumer.poll(timeout_ms=200, max_records=20 - len(seen)).values():
                seen.extend(m.value for m in msgs)
        consumer.commit()
        zk = KazooClient(hosts=cluster.zookeeper)
        zk.start(timeout=10)
        try:
            coordinator = leader_of(zk, GROUP_TOPIC, index)
            assert coordinator in (1, 2, 3)
            cluster.kill(coordinator)
            new = wait_for(lambda: (leader := leader_of(zk, GROUP_TOPIC, index)) not in (-1, coordinator) and leader,
                           "a new group coordinator")
        finally:
            zk.stop()
            zk.close()

        def every_live_broker_knows() -> bool:
            for broker in cluster.brokers.values():
                if broker.running:
                    (topic,) = metadata(broker.bootstrap_servers, [GROUP_TOPIC]).topics
                    if next(p.leader_id for p in topic.partitions if p.partition_index == index) != new:
                        return False
            return True

        wait_for(every_live_broker_knows, "every live broker to know the new coordinator")
        deadline = time.monotonic() + WAIT
        while len(seen) < len(values) and time.monotonic() < deadline:
            for msgs in consumer.poll(timeout_ms=200).values():
                seen.extend(m.value for m in msgs)
        consumer.commit()
        assert consumer.committed(TopicPartition("groupy", 0)) == len(values)
    finally:
        consumer.close()
    assert seen == values
