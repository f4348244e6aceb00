"""Replication between brokers in ZooKeeper mode: three RunningBrokers (each its own core and shell, as separate
processes would be) over ``MemoryZooKeeper``, driven by confluent-kafka and kafka-python.

Followers replicate over the Kafka protocol; acks=all is answered once the ISR has the records; a leader stopped
while a producer runs loses no acknowledged record once leadership moves to an in-sync replica; a restarted broker
truncates its divergent tail (OffsetForLeaderEpoch) and catches up. Leadership moves by the controller
(``broker.zk.controller``) when the stopped broker's session ends. A broker in controlled shutdown keeps
following a partition until the controller takes it out of that partition's ISR, so acks=all produce is
acknowledged while the controller does not answer.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import NotEnoughReplicasError

from broker.config import BrokerConfig
from broker.testing import RunningBroker, wait_for
from broker.zk.memory import MemoryZooKeeper
from broker.zk.model import CreateTopic, PartitionState, SetTopicConfig, TopicAssignment

WAIT = 30.0


class Cluster:
    def __init__(self, root: Path, lag_ms: int = 3000, **overrides: Any) -> None:
        """``overrides``: further BrokerConfig fields for every broker."""
        self.zk = MemoryZooKeeper()
        self.root = root
        self.lag_ms = lag_ms
        self.overrides = overrides
        self.brokers: dict[int, RunningBroker] = {}

    def start(self, node_id: int) -> RunningBroker:
        config = BrokerConfig(port=0, first_node_id=node_id, zookeeper_connect="memory", data_dir=self.root / str(node_id),
                              group_initial_rebalance_delay_ms=0, replica_lag_time_max_ms=self.lag_ms,
                              replica_fetch_wait_max_ms=100, replica_fetch_backoff_ms=50, **self.overrides)
        broker = RunningBroker(config, bridge_factory=self.zk.bridge).start()
        self.brokers[node_id] = broker
        return broker

    def stop(self, node_id: int) -> None:
        """Stop a broker; its ZooKeeper session ends with it (as a killed process's session expires)."""
        self.brokers.pop(node_id).stop()
        self.zk.expire(node_id)

    @property
    def bootstrap(self) -> str:
        return ",".join(b.bootstrap_servers for b in self.brokers.values())

    def create_topic(self, name: str, layout: dict[int, list[int]]) -> None:
        """Write the topic's assignment; the controller gives its partitions their first states. Wait until every
        broker knows every partition's leader."""
        assert self.zk.apply(CreateTopic(TopicAssignment(name, uuid.uuid4(), layout), {})) is None
        wait_for(lambda: all((name, p) in self.zk.states for p in layout), f"{name}: states from the controller")
        for broker in self.brokers.values():
            def led(b: RunningBroker = broker) -> bool:
                def read() -> bool:
                    assert b.server.core is not None
                    parts = [b.server.core.cluster.partition(name, i) for i in layout]
                    return all(p is not None and p.leader >= 0 for p in parts)
                return b.call(read)
            wait_for(led, f"{name} known to every broker")

    def new_leader(self, topic: str, partition: int, dead: int) -> PartitionState:
        """Wait for the controller to move leadership away from ``dead``: the state it wrote."""
        def moved() -> PartitionState | None:
            state = self.zk.states[(topic, partition)]
            return state if state.leader not in (dead, -1) and state.leader in self.zk.brokers else None
        state: PartitionState = wait_for(moved, f"{topic}-{partition}: a new leader")
        return state

    def log_of(self, node_id: int, topic: str, partition: int) -> list[tuple[int, bytes]]:
        broker = self.brokers[node_id]

        def read() -> list[tuple[int, bytes]]:
            assert broker.server.core is not None
            p = broker.server.core.cluster.partition(topic, partition)
            return [] if p is None else [(b.base_offset, bytes(b.data)) for b in p.log.batches]
        return broker.call(read)

    def offsets(self, node_id: int, topic: str, partition: int) -> tuple[int, int]:
        """(log end offset, high watermark) on a broker."""
        broker = self.brokers[node_id]

        def read() -> tuple[int, int]:
            assert broker.server.core is not None
            p = broker.server.core.cluster.partition(topic, partition)
            assert p is not None
            return p.log.next_offset, p.log.high_watermark
        return broker.call(read)

    def replicas_identical(self, topic: str, partition: int) -> bool:
        logs = [self.log_of(n, topic, partition) for n in sorted(self.brokers)]
        return bool(logs[0]) and all(lg == logs[0] for lg in logs)

    def close(self) -> None:
        for broker in self.brokers.values():
            broker.stop()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path)
    for n in (1, 2, 3):
        c.start(n)
    wait_for(lambda: c.zk.controller_id is not None, "a controller")
    yield c
    c.close()


def consume_values(bootstrap: str, topic: str, partition: int, count: int) -> list[bytes]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=5000,
                             enable_auto_commit=False)
    consumer.assign([TopicPartition(topic, partition)])
    out: list[bytes] = []
    deadline = time.monotonic() + WAIT
    while len(out) < count and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            out.extend(r.value for r in records)
    consumer.close()
    return out


def test_acks_all_from_both_clients_is_replicated_to_every_follower(cluster: Cluster) -> None:
    cluster.create_topic("rep", {0: [1, 2, 3], 1: [2, 3, 1]})
    confluent = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all", "enable.idempotence": True,
                          "linger.ms": 5})
    errors: list[object] = []
    for i in range(200):
        confluent.produce("rep", value=b"c%d" % i, partition=i % 2,
                          on_delivery=lambda err, msg: errors.append(err) if err else None)
    assert confluent.flush(WAIT) == 0 and errors == []
    kp = KafkaProducer(bootstrap_servers=cluster.bootstrap, acks="all", linger_ms=5)
    futures = [kp.send("rep", value=b"k%d" % i, partition=i % 2) for i in range(200)]
    metas = [f.get(timeout=WAIT) for f in futures]
    kp.close()
    assert all(m.offset >= 0 for m in metas)
    for p in (0, 1):
        # acknowledged with acks=all: already on every in-sync replica; the followers' HW catches up after
        assert wait_for(lambda: cluster.replicas_identical("rep", p), f"rep-{p} identical on all replicas")
        assert len(cluster.log_of(1, "rep", p)) > 1
        leo = cluster.offsets(1, "rep", p)[0]
        assert leo == 200

        def everywhere(p: int = p, leo: int = leo) -> bool:
            return all(cluster.offsets(n, "rep", p) == (leo, leo) for n in (1, 2, 3))
        wait_for(everywhere, "high watermarks everywhere")
        got = consume_values(cluster.bootstrap, "rep", p, 200)
        assert got == [b"c%d" % i for i in range(p, 200, 2)] + [b"k%d" % i for i in range(p, 200, 2)]
    assert cluster.zk.states[("rep", 0)].isr == [1, 2, 3]  # nobody fell out


@pytest.mark.parametrize("client", ["confluent", "kafka-python"])
def test_a_leader_stopped_while_producing_loses_no_acknowledged_record_and_rejoins_after_truncating(
        cluster: Cluster, client: str) -> None:
    cluster.create_topic("ha", {0: [1, 2, 3]})
    acked: list[bytes] = []
    failed: list[object] = []
    lock = threading.Lock()
    stop = threading.Event()

    def record(value: bytes | None, err: object = None) -> None:
        with lock:
            if err is None:
                assert value is not None
                acked.append(value)
            else:
                failed.append(err)

    if client == "confluent":
        producer = Producer({"bootstrap.servers": cluster.bootstrap, "acks": "all", "enable.idempotence": True,
                             "linger.ms": 2, "message.timeout.ms": 60000, "retry.backoff.ms": 50,
                             "topic.metadata.refresh.interval.ms": 500})

        def run() -> None:
            i = 0
            while not stop.is_set():
                producer.produce("ha", value=b"v%05d" % i, partition=0,
                                 on_delivery=lambda err, msg: record(msg.value(), err))
                producer.poll(0.002)
                i += 1
            producer.flush(WAIT * 2)
    else:
        kp = KafkaProducer(bootstrap_servers=cluster.bootstrap, acks="all", enable_idempotence=True, linger_ms=2,
                           retries=1000, retry_backoff_ms=50, request_timeout_ms=20000, delivery_timeout_ms=60000,
                           metadata_max_age_ms=500)

        def run() -> None:
            i = 0
            while not stop.is_set():
                value = b"v%05d" % i
                future = kp.send("ha", value=value, partition=0)
                future.add_callback(lambda _meta, v=value: record(v))
                future.add_errback(lambda exc: record(None, exc))
                i += 1
                if i % 20 == 0:
                    kp.flush(WAIT * 2)  # paces the loop: at most 20 records in flight
            kp.flush(WAIT * 2)
            kp.close()

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    wait_for(lambda: len(acked) >= 300, "acknowledgements from the first leader")
    # the leader keeps a divergent tail: records its followers never get (their fetches are dropped), acks=1
    cluster.brokers[1].drop_next(1, 1_000_000)
    before = cluster.offsets(1, "ha", 0)[0]
    divergent = KafkaProducer(bootstrap_servers=cluster.brokers[1].bootstrap_servers, acks=1)
    for i in range(5):
        divergent.send("ha", value=b"divergent%d" % i, partition=0).get(timeout=WAIT)
    divergent.close()
    assert cluster.offsets(1, "ha", 0)[0] > before
    cluster.stop(1)  # the leader goes while the producer runs; its session ends
    state = cluster.new_leader("ha", 0, dead=1)
    assert state.leader in (2, 3) and state.leader_epoch >= 1 and 1 not in state.isr
    acked_at_kill = len(acked)
    wait_for(lambda: len(acked) >= acked_at_kill + 300, "acknowledgements from the new leader")
    stop.set()
    worker.join(WAIT * 3)
    assert not worker.is_alive() and failed == []
    # every acknowledged record is there exactly once, in order, and nothing of the divergent tail
    got = consume_values(cluster.bootstrap, "ha", 0, len(acked))
    assert got == acked
    # the old leader comes back with the same data dir: it truncates its divergent tail and catches up
    cluster.start(1)
    assert wait_for(lambda: cluster.replicas_identical("ha", 0), "the restarted broker caught up")
    assert not any(b"divergent" in data for _, data in cluster.log_of(1, "ha", 0))
    wait_for(lambda: 1 in cluster.zk.states[("ha", 0)].isr, "the restarted broker back in the ISR")


def test_the_leader_shrinks_and_expands_the_isr_in_zookeeper_and_enforces_min_insync_replicas(tmp_path: Path) -> None:
    c = Cluster(tmp_path, lag_ms=300)
    try:
        for n in (1, 2, 3):
            c.start(n)
        c.create_topic("isr", {0: [1, 2, 3]})
        assert c.zk.apply(SetTopicConfig("isr", {"min.insync.replicas": "2"})) is None
        kp = KafkaProducer(bootstrap_servers=c.bootstrap, acks="all", retries=0)
        kp.send("isr", value=b"before", partition=0).get(timeout=WAIT)
        notifications = c.zk.isr_notifications
        # the followers' fetches stop reaching the leader: after replica.lag.time.max.ms it drops them
        c.brokers[1].drop_next(1, 1_000_000)
        kp.send("isr", value=b"unreplicated", partition=0)  # appended at the leader only: LEO moves past them
        wait_for(lambda: c.zk.states[("isr", 0)].isr == [1], "the leader shrinking the ISR to itself")
        assert c.zk.isr_notifications > notifications
        assert c.zk.states[("isr", 0)].leader_epoch == 0  # a leader's ISR change keeps the epoch
        with pytest.raises(NotEnoughReplicasError):
            kp.send("isr", value=b"refused", partition=0).get(timeout=WAIT)
        # fetches get through again: the followers catch up and rejoin
        c.brokers[1].clear_faults()
        wait_for(lambda: c.zk.states[("isr", 0)].isr == [1, 2, 3], "the followers back in the ISR")
        kp.send("isr", value=b"after", partition=0).get(timeout=WAIT)
        kp.close()
        assert wait_for(lambda: c.replicas_identical("isr", 0), "identical replicas")
        assert consume_values(c.bootstrap, "isr", 0, 3) == [b"before", b"unreplicated", b"after"]
    finally:
        c.close()


def test_a_broker_in_controlled_shutdown_keeps_following_until_the_controller_takes_it_out_of_the_isr(
        tmp_path: Path) -> None:
    """While the controller does not answer ControlledShutdown (it drops the connection every time), the leaving
    broker stays in the ISR and keeps fetching, so acks=all produce to a partition it follows is acknowledged
    promptly (not after replica.lag.time.max.ms); once the controller answers, the ISR loses it and it stops
    following that partition (Kafka's StopReplica with the ISR removal)."""
    c = Cluster(tmp_path, lag_ms=60_000, controlled_shutdown_max_retries=1_000,
                controlled_shutdown_retry_backoff_ms=100)
    try:
        for n in (1, 2, 3):
            c.start(n)
        controller = wait_for(lambda: c.zk.controller_id, "a controller")
        c.create_topic("cs", {0: [1, 2, 3]})
        leader = c.zk.states[("cs", 0)].leader
        leaving = next(n for n in (1, 2, 3) if n not in (controller, leader))
        kp = KafkaProducer(bootstrap_servers=c.bootstrap, acks="all", retries=0, linger_ms=0)
        kp.send("cs", value=b"before", partition=0).get(timeout=WAIT)
        core = c.brokers[leaving].server.core
        assert core is not None and core.zk is not None
        zk_meta = core.zk

        c.brokers[controller].drop_next(7, 1_000_000)  # ControlledShutdown never answered
        result: list[bool] = []
        shutdown = threading.Thread(target=lambda: result.append(c.brokers[leaving].controlled_shutdown()))
        shutdown.start()
        try:
            wait_for(lambda: c.brokers[leaving].call(lambda: zk_meta.leaving), "the broker leaving")

            def dropped() -> bool:  # the drop rule has been used: an attempt reached the controller, unanswered
                rules = c.brokers[controller].call(lambda: list(c.brokers[controller].server.faults.rules))
                return all(r.kind != 7 or r.remaining < 1_000_000 for r in rules)
            wait_for(dropped, "a ControlledShutdown the controller dropped")
            for i in range(20):  # each one waits for the leaving follower too: still in the ISR, still fetching
                started = time.monotonic()
                kp.send("cs", value=b"during-%d" % i, partition=0).get(timeout=WAIT)
                assert time.monotonic() - started < 5.0
            assert leaving in c.zk.states[("cs", 0)].isr
            assert c.offsets(leaving, "cs", 0)[0] == c.offsets(leader, "cs", 0)[0] == 21
        finally:
            c.brokers[controller].clear_faults()  # the controller answers the next attempt
            shutdown.join(timeout=WAIT)
        assert result == [True]
        assert leaving not in c.zk.states[("cs", 0)].isr

        def follows() -> bool:
            from broker.replication.fetcher import followed
            return any(("cs", 0) in parts for parts in followed(core).values())
        wait_for(lambda: not c.brokers[leaving].call(follows), "the leaving broker no longer following, out of the ISR")
        kp.send("cs", value=b"after", partition=0).get(timeout=WAIT)  # the ISR without it acknowledges
        kp.close()
    finally:
        c.close()


def test_committed_offsets_survive_the_group_coordinator_stopping(cluster: Cluster) -> None:
    """__consumer_offsets is replicated like any topic: when the coordinator's broker goes, the new leader of the
    group's partition has the committed offsets."""
    from kafka.structs import OffsetAndMetadata

    from broker.state.internal import GROUP_TOPIC, partition_for

    cluster.create_topic("work", {0: [1, 2, 3]})
    consumer = KafkaConsumer(bootstrap_servers=cluster.bootstrap, group_id="g1", enable_auto_commit=False)
    tp = TopicPartition("work", 0)
    consumer.assign([tp])
    consumer.commit({tp: OffsetAndMetadata(42, "meta", -1)})
    consumer.close()
    wait_for(lambda: GROUP_TOPIC in cluster.zk.topics, "__consumer_offsets")
    index = partition_for("g1", len(cluster.zk.topics[GROUP_TOPIC].partitions))
    coordinator = cluster.zk.states[(GROUP_TOPIC, index)].leader
    assert wait_for(lambda: cluster.replicas_identical(GROUP_TOPIC, index), "the offsets replicated")
    cluster.stop(coordinator)
    state = cluster.new_leader(GROUP_TOPIC, index, dead=coordinator)
    assert state.leader != coordinator
    again = KafkaConsumer(bootstrap_servers=cluster.bootstrap, group_id="g1", enable_auto_commit=False)
    try:
        committed = wait_for(lambda: again.committed(tp), "the committed offset from the new coordinator")
    finally:
        again.close()
    assert committed == 42


def test_a_follower_behind_the_leaders_log_start_starts_over_there(cluster: Cluster) -> None:
    from kafka import KafkaAdminClient

    cluster.create_topic("gone", {0: [1, 2, 3]})
    kp = KafkaProducer(bootstrap_servers=cluster.bootstrap, acks="all")
    for i in range(5):
        kp.send("gone", value=b"a%d" % i, partition=0).get(timeout=WAIT)
    wait_for(lambda: cluster.replicas_identical("gone", 0), "replicated")
    cluster.stop(3)
    wait_for(lambda: 3 not in cluster.zk.states[("gone", 0)].isr, "3 out of the ISR")
    for i in range(5):
        kp.send("gone", value=b"b%d" % i, partition=0).get(timeout=WAIT)
    kp.close()
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap)
    try:
        admin.delete_records({TopicPartition("gone", 0): 8})
    finally:
        admin.close()
    cluster.start(3)  # its log ends at 5, the leader's starts at 8
    assert wait_for(lambda: cluster.offsets(3, "gone", 0) == (10, 10), "3 caught up from the leader's log start")
    assert cluster.log_of(3, "gone", 0) == [(o, d) for o, d in cluster.log_of(1, "gone", 0) if o >= 8]
    wait_for(lambda: 3 in cluster.zk.states[("gone", 0)].isr, "3 back in the ISR")


def test_transaction_state_is_answered_only_once_the_isr_has_it(tmp_path: Path) -> None:
    """Kafka appends coordinator state with acks=all: InitProducerId is answered once every in-sync replica of
    the transactional id's __transaction_state partition has the record. While the followers cannot fetch (and
    the ISR keeps them: replica.lag.time.max.ms is long), the answer waits and ends COORDINATOR_NOT_AVAILABLE
after offsets.commit.timeout.ms (5 s);
    once they fetch again, the same request succeeds and every replica holds the state."""
    import trio

    from broker.replication.client import KafkaConnection
    from broker.state.internal import TXN_TOPIC, partition_for
    from wire.kafka.error_codes import ErrorCode
    from wire.kafka.messages.find_coordinator import FindCoordinatorRequest
    from wire.kafka.messages.init_producer_id import InitProducerIdRequest

    c = Cluster(tmp_path, lag_ms=60_000)
    try:
        for n in (1, 2, 3):
            c.start(n)
        first = c.brokers[1].bootstrap_servers.split(":")

        async def call(host: str, port: int, api_key: int, version: int, body: Any) -> Any:
            conn = await KafkaConnection.open(host, port, "state-test")
            try:
                return await conn.request(api_key, version, body)
            finally:
                await conn.aclose()

        def coordinator() -> Any:
            resp = trio.run(call, first[0], int(first[1]), 10, 3, FindCoordinatorRequest(key="tx-1", key_type=1))
            return resp if resp.error_code == 0 else None

        found = wait_for(coordinator, "a transaction coordinator")

        def init() -> Any:
            return trio.run(call, found.host, found.port, 22, 3,
                            InitProducerIdRequest(transactional_id="tx-1", transaction_timeout_ms=60_000))

        # the coordinator may not know yet that it leads the partition (NOT_COORDINATOR until ZooKeeper says so)
        first = wait_for(lambda: (r := init()).error_code == 0 and r, "the first InitProducerId")
        index = partition_for("tx-1", len(c.zk.topics[TXN_TOPIC].partitions))
        assert c.zk.states[(TXN_TOPIC, index)].leader == found.node_id
        assert len(c.zk.states[(TXN_TOPIC, index)].isr) == 3
        wait_for(lambda: c.replicas_identical(TXN_TOPIC, index), "the first state on every replica")
        c.brokers[found.node_id].drop_next(1, 1_000_000)  # the followers' fetches stop reaching the leader
        held = init()
        assert held.error_code == ErrorCode.COORDINATOR_NOT_AVAILABLE
        end, high_watermark = c.offsets(found.node_id, TXN_TOPIC, index)
        assert high_watermark < end  # the leader has not heard that its followers have the new state
        c.brokers[found.node_id].clear_faults()
        again = init()
        assert again.error_code == 0 and again.producer_epoch == first.producer_epoch + 2  # each one bumped it
        leader_end = c.offsets(found.node_id, TXN_TOPIC, index)[0]
        assert all(c.offsets(n, TXN_TOPIC, index)[0] == leader_end for n in c.brokers)  # already, not eventually
    finally:
        c.close()


def test_a_two_member_group_forms_with_its_state_replicated(cluster: Cluster) -> None:
    """SyncGroup in ZooKeeper mode: the leader's answer and the follower's both wait for the ISR of the group's
    __consumer_offsets partition; the group still forms and splits the partitions."""
    from broker.state.internal import GROUP_TOPIC, partition_for

    cluster.create_topic("split", {0: [1, 2, 3], 1: [2, 3, 1]})
    members = [KafkaConsumer("split", bootstrap_servers=cluster.bootstrap, group_id="pair",
                             enable_auto_commit=False, session_timeout_ms=6000, heartbeat_interval_ms=200)
               for _ in range(2)]
    try:
        def split() -> bool:
            for member in members:
                member.poll(timeout_ms=50)
            owned = [member.assignment() for member in members]
            return all(len(o) == 1 for o in owned) and owned[0] != owned[1]
        wait_for(split, "both members owning one partition each")
        index = partition_for("pair", len(cluster.zk.topics[GROUP_TOPIC].partitions))
        leader = cluster.zk.states[(GROUP_TOPIC, index)].leader
        end, high_watermark = cluster.offsets(leader, GROUP_TOPIC, index)
        assert end > 0 and high_watermark == end  # everything the group stored is on the ISR
    finally:
        for member in members:
            member.close()
