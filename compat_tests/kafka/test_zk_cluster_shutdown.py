"""Controlled shutdown on three broker processes in ZooKeeper mode (the ``kafka_zk_cluster`` fixture).

SIGTERM to the leader of a replication-factor-3 partition while an idempotent
acks=all producer (confluent-kafka) writes to it: before exiting, the broker sends
ControlledShutdown to the controller, which moves leadership to another in-sync
replica and takes the broker out of the ISR. An independent kazoo session watches the
partition's state znode and ``/brokers/ids``: the new leader is written before the
broker's registration goes (ZooKeeper delivers one session's watch events in order).
Every acknowledged record is then read back exactly once, in order.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from confluent_kafka import Producer
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kazoo.client import KazooClient

from broker.testing import ZkKafkaCluster
from compat_tests.kafka.test_zk_cluster import drain_values

WAIT = 30.0
STATE = "/brokers/topics/leaving/partitions/0/state"


def test_sigterm_moves_leadership_before_the_broker_goes(kafka_zk_cluster: ZkKafkaCluster) -> None:
    cluster = kafka_zk_cluster
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers)
    try:
        admin.create_topics([NewTopic("leaving", 1, 3, topic_configs={"min.insync.replicas": "2"})])
    finally:
        admin.close()
    zk = KazooClient(hosts=cluster.zookeeper)
    zk.start(timeout=10)
    events: list[tuple[str, Any]] = []  # in the order this session's watches fire
    changed = threading.Condition()  # events, acked and errors changed

    def on_state(data: bytes | None, stat: Any) -> None:
        with changed:  # the state with its znode version
            events.append(("state", None if data is None else dict(json.loads(data), version=stat.version)))
            changed.notify_all()

    def on_ids(children: list[str]) -> None:
        with changed:
            events.append(("ids", sorted(int(c) for c in children)))
            changed.notify_all()

    zk.DataWatch(STATE, on_state)
    zk.ChildrenWatch("/brokers/ids", on_ids)
    with changed:
        assert changed.wait_for(lambda: any(k == "state" and v is not None for k, v in events), WAIT)
        before = next(v for k, v in reversed(events) if k == "state" and v is not None)
    leaving = before["leader"]
    assert sorted(before["isr"]) == [1, 2, 3]

    acked: list[bytes] = []
    errors: list[object] = []

    def report(err: object, msg: Any) -> None:
        with changed:
            (errors.append(err) if err is not None else acked.append(msg.value()))
            changed.notify_all()

    def acknowledged(count: int) -> None:
        """Wait until ``count`` records are acknowledged; no delivery error on the way."""
        with changed:
            assert changed.wait_for(lambda: len(acked) >= count or errors, WAIT), f"{len(acked)} of {count} acked"
            assert not errors, errors[:3]

    producer = Producer({"bootstrap.servers": cluster.bootstrap_servers, "acks": "all", "enable.idempotence": True,
                         "linger.ms": 5, "retry.backoff.ms": 50, "message.timeout.ms": 60000,
                         "topic.metadata.refresh.interval.ms": 1000})
    stop = threading.Event()

    def produce() -> None:
        i = 0
        while not stop.is_set():
            producer.produce("leaving", value=b"cs-%05d" % i, partition=0, on_delivery=report)
            producer.poll(0.002)
            i += 1

    writer = threading.Thread(target=produce, name="producer", daemon=True)
    writer.start()
    try:
        acknowledged(200)  # the producer is well under way on the old leader
        process = cluster.brokers[leaving]
        cluster.stop(leaving)  # SIGTERM; returns once the process has exited
        assert process.proc is not None and process.proc.returncode == 0  # exited by itself, not killed
        with changed:
            assert changed.wait_for(lambda: any(k == "ids" and leaving not in v for k, v in events), WAIT)
            acked_at_stop = len(acked)
        acknowledged(acked_at_stop + 200)  # and goes on with the new leader
    finally:
        stop.set()
        writer.join(WAIT)
    assert producer.flush(WAIT) == 0
    assert not errors, errors[:3]

    with changed:
        order = list(events)
    zk.stop()
    zk.close()
    moved = next(i for i, (k, v) in enumerate(order) if k == "state" and v is not None and v["leader"] != leaving)
    gone = next(i for i, (k, v) in enumerate(order) if k == "ids" and leaving not in v)
    assert moved < gone, order  # leadership moved while the broker was still registered
    new = order[moved][1]
    # compared with the state just before the move (the ISR may have shrunk and grown again since ``before``,
    # replica.lag.time.max.ms being 2000 under heavy produce): the last state version seen before it
    last = next(v for k, v in reversed(order[:moved]) if k == "state" and v is not None)
    assert last["leader"] == leaving and last["version"] < new["version"]
    assert new["leader_epoch"] == last["leader_epoch"] + 1  # the leader's own ISR changes keep the epoch
    assert leaving not in new["isr"] and new["leader"] in new["isr"] and set(new["isr"]) <= {1, 2, 3}
    if last["version"] == new["version"] - 1:  # the version the controller's write replaced; kazoo's DataWatch
        # re-reads after each event, so a version written just before the move may be coalesced away
        assert new["leader"] in last["isr"]
        assert sorted(new["isr"]) == sorted(r for r in last["isr"] if r != leaving)

    got = drain_values(cluster.bootstrap_servers, "leaving", "cs-checker", len(acked))
    assert got == acked  # every acknowledged record once, in order (one partition, an idempotent producer)
