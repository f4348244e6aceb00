"""ZooKeeper mode with several broker processes' worth of brokers in one process, over an in-memory ZooKeeper.

Each ``RunningBroker`` is a separate core and shell (as a separate process would
be), sharing only ``MemoryZooKeeper``: the controller election, topic creation
through ZooKeeper, Metadata naming every live broker and the elected
controller, and controller failover when the controller's session ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from broker.config import BrokerConfig
from broker.testing import RunningBroker, wait_for
from broker.zk.memory import MemoryZooKeeper

WAIT = 15.0


@pytest.fixture
def zk_cluster() -> Iterator[tuple[MemoryZooKeeper, dict[int, RunningBroker]]]:
    zk = MemoryZooKeeper()
    brokers = {n: RunningBroker(BrokerConfig(port=0, first_node_id=n, zookeeper_connect="memory",
                                             group_initial_rebalance_delay_ms=0), bridge_factory=zk.bridge).start()
               for n in (1, 2, 3)}
    yield zk, brokers
    for broker in brokers.values():
        broker.stop()


def test_brokers_register_and_one_controller_is_elected(zk_cluster: tuple[MemoryZooKeeper, dict[int, RunningBroker]]
                                                        ) -> None:
    zk, brokers = zk_cluster
    assert sorted(zk.brokers) == [1, 2, 3]
    controller = wait_for(lambda: zk.controller_id, "a controller")
    assert zk.controller_epoch == 1  # one election, won once
    for broker in brokers.values():
        cluster = broker.call(lambda b=broker: b.server.core.cluster)  # type: ignore[union-attr]
        assert sorted(cluster.brokers) == [1, 2, 3]
        assert wait_for(lambda c=cluster: c.controller_id == controller, "the controller known everywhere")


def test_topics_created_through_any_broker_are_led_across_the_cluster(
        zk_cluster: tuple[MemoryZooKeeper, dict[int, RunningBroker]]) -> None:
    zk, brokers = zk_cluster
    bootstrap = ",".join(b.bootstrap_servers for b in brokers.values())
    admin = KafkaAdminClient(bootstrap_servers=brokers[2].bootstrap_servers)
    try:
        admin.create_topics([NewTopic("spread", 3, 1)])
    finally:
        admin.close()
    assignment = zk.topics["spread"].partitions
    assert sorted(assignment) == [0, 1, 2] and sorted(r[0] for r in assignment.values()) == [1, 2, 3]
    assert all(zk.states[("spread", p)].leader == assignment[p][0] for p in range(3))
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for p in range(3):
        producer.send("spread", value=b"v%d" % p, partition=p).get(timeout=WAIT)
    producer.close()
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=3000)
    consumer.assign([TopicPartition("spread", p) for p in range(3)])
    got = sorted((m.partition, m.value) for m in consumer)
    consumer.close()
    assert got == [(0, b"v0"), (1, b"v1"), (2, b"v2")]


def test_the_controller_fails_over_when_its_session_ends(
        zk_cluster: tuple[MemoryZooKeeper, dict[int, RunningBroker]]) -> None:
    zk, brokers = zk_cluster
    first = wait_for(lambda: zk.controller_id, "a controller")
    brokers[first].stop()
    second = wait_for(lambda: zk.controller_id not in (None, first) and zk.controller_id, "a new controller")
    assert second != first and zk.controller_epoch == 2
    assert first not in zk.brokers

    def names_the_new_controller() -> bool:  # Metadata says -1 until the broker has heard of the election
        core = brokers[second].server.core
        return brokers[second].call(lambda: core is not None and core.cluster.elected_controller == second)
    wait_for(names_the_new_controller, "the new controller in its own Metadata")
    admin = KafkaAdminClient(bootstrap_servers=brokers[second].bootstrap_servers)
    try:
        admin.create_topics([NewTopic("after", 2, 1)])  # the new controller gives it leaders
    finally:
        admin.close()
    assert all(zk.states[("after", p)].leader in zk.brokers for p in range(2))


def test_the_controller_gives_leadership_back_to_the_preferred_replica() -> None:
    """auto.leader.rebalance.enable: after a broker comes back and catches up, the partitions it is the
    preferred (first) replica of are led by it again, with a new leader epoch."""
    zk = MemoryZooKeeper()

    def start(n: int) -> RunningBroker:
        return RunningBroker(BrokerConfig(port=0, first_node_id=n, zookeeper_connect="memory",
                                          leader_imbalance_check_interval_seconds=1, replica_lag_time_max_ms=500,
                                          replica_fetch_backoff_ms=20), bridge_factory=zk.bridge).start()

    brokers = {n: start(n) for n in (1, 2, 3)}
    try:
        admin = KafkaAdminClient(bootstrap_servers=brokers[1].bootstrap_servers)
        try:
            admin.create_topics([NewTopic("pref", 3, 3)])
        finally:
            admin.close()
        preferred = {p: zk.topics["pref"].partitions[p][0] for p in range(3)}
        victim = preferred[0]
        brokers[victim].stop()
        wait_for(lambda: zk.states[("pref", 0)].leader not in (-1, victim), "leadership to move")
        moved_epoch = zk.states[("pref", 0)].leader_epoch
        brokers[victim] = start(victim)
        wait_for(lambda: victim in zk.states[("pref", 0)].isr, "the restarted replica back in the ISR")
        wait_for(lambda: zk.states[("pref", 0)].leader == victim, "leadership back on the preferred replica")
        assert zk.states[("pref", 0)].leader_epoch > moved_epoch
    finally:
        for broker in brokers.values():
            broker.stop()


def test_elect_leaders_on_the_controller_moves_leadership_to_the_preferred_replica() -> None:
    """ElectLeaders in ZooKeeper mode (auto rebalance off): while the preferred replica is down the election
    fails with PREFERRED_LEADER_NOT_AVAILABLE; once it is back in the ISR the controller writes it as leader with
    a new epoch and answers after ZooKeeper reports it; asking again is ELECTION_NOT_NEEDED."""
    from confluent_kafka import ElectionType
    from confluent_kafka import TopicPartition as CkTopicPartition
    from confluent_kafka.admin import AdminClient

    zk = MemoryZooKeeper()

    def start(n: int) -> RunningBroker:
        return RunningBroker(BrokerConfig(port=0, first_node_id=n, zookeeper_connect="memory",
                                          auto_leader_rebalance_enable=False, replica_lag_time_max_ms=500,
                                          replica_fetch_backoff_ms=20), bridge_factory=zk.bridge).start()

    brokers = {n: start(n) for n in (1, 2, 3)}
    try:
        admin = KafkaAdminClient(bootstrap_servers=brokers[1].bootstrap_servers)
        try:
            admin.create_topics([NewTopic("elect", 1, 3)])
        finally:
            admin.close()
        preferred = zk.topics["elect"].partitions[0][0]
        brokers[preferred].stop()
        wait_for(lambda: zk.states[("elect", 0)].leader not in (-1, preferred), "leadership to move")
        moved = zk.states[("elect", 0)]
        live = {n for n in brokers if n != preferred}

        def elect() -> Any:
            bootstrap = ",".join(brokers[n].bootstrap_servers for n in sorted(live))
            client = AdminClient({"bootstrap.servers": bootstrap})
            (result,) = client.elect_leaders(ElectionType.PREFERRED, [CkTopicPartition("elect", 0)]).result(WAIT).values()
            return result

        down = elect()
        assert down.name() == "PREFERRED_LEADER_NOT_AVAILABLE"
        brokers[preferred] = start(preferred)
        live.add(preferred)
        wait_for(lambda: preferred in zk.states[("elect", 0)].isr, "the preferred replica back in the ISR")
        assert zk.states[("elect", 0)].leader == moved.leader  # no automatic rebalance
        assert elect() is None
        state = zk.states[("elect", 0)]
        assert (state.leader, state.leader_epoch) == (preferred, moved.leader_epoch + 1)
        again = elect()
        assert again.name() == "ELECTION_NOT_NEEDED"
    finally:
        for broker in brokers.values():
            broker.stop()


def test_controlled_shutdown_moves_leadership_before_the_broker_goes(
        zk_cluster: tuple[MemoryZooKeeper, dict[int, RunningBroker]]) -> None:
    """ControlledShutdown from the broker leading a partition: the controller moves leadership to another ISR
    member (leader epoch + 1) and takes the broker out of every ISR while it is still registered; the broker
    follows nothing any more. Refusals as Kafka answers them, over the wire."""
    from compat_tests.kafka.conftest import RawKafka
    from wire.kafka.error_codes import ErrorCode
    from wire.kafka.messages.controlled_shutdown import ControlledShutdownRequest

    zk, brokers = zk_cluster
    controller = wait_for(lambda: zk.controller_id, "a controller")
    admin = KafkaAdminClient(bootstrap_servers=brokers[1].bootstrap_servers)
    try:
        admin.create_topics([NewTopic("moving", 3, 3)])
    finally:
        admin.close()
    wait_for(lambda: all(("moving", p) in zk.states for p in range(3)), "states")
    before = {p: zk.states[("moving", p)] for p in range(3)}
    leaving = before[0].leader
    led = [p for p, s in before.items() if s.leader == leaving]
    other = next(b for b in brokers if b != controller)
    with RawKafka.to(brokers[other].bootstrap_servers) as raw:  # not the controller
        from wire.kafka.messages.api_versions import ApiVersionsRequest
        advertised = {k.api_key: (k.min_version, k.max_version) for k in raw.request(18, 3, ApiVersionsRequest(
            client_software_name="t", client_software_version="1")).api_keys}
        assert advertised[7] == (0, 3)  # a ZooKeeper-mode broker advertises it (not one without ZooKeeper)
        assert 75 not in advertised  # DescribeTopicPartitions: KRaft brokers only (its 3.9 schema's listeners)
        resp = raw.request(7, 3, ControlledShutdownRequest(broker_id=leaving, broker_epoch=-1))
        assert (resp.error_code, resp.remaining_partitions) == (ErrorCode.STALE_CONTROLLER_EPOCH, [])
    with RawKafka.to(brokers[controller].bootstrap_servers) as raw:
        epoch = zk.brokers[leaving].epoch
        assert raw.request(7, 3, ControlledShutdownRequest(broker_id=leaving, broker_epoch=epoch - 1)).error_code \
            == ErrorCode.STALE_BROKER_EPOCH
        assert raw.request(7, 1, ControlledShutdownRequest(broker_id=42)).error_code == ErrorCode.BROKER_NOT_AVAILABLE
    assert brokers[leaving].controlled_shutdown() is True
    assert leaving in zk.brokers  # still registered
    for p, old in before.items():
        new = zk.states[("moving", p)]
        assert leaving not in new.isr and new.leader != leaving and new.leader in old.isr
        assert new.leader_epoch == old.leader_epoch + 1
        if p in led:
            assert new.leader == next(r for r in zk.topics["moving"].partitions[p] if r != leaving)
    core = brokers[leaving].server.core
    assert core is not None and core.zk is not None and core.zk.leaving


def test_partition_reassignment_through_the_controller(
        zk_cluster: tuple[MemoryZooKeeper, dict[int, RunningBroker]]) -> None:
    """AlterPartitionReassignments / ListPartitionReassignments (KIP-455): only the controller answers; a
    reassignment stays listed while the added replica cannot catch up (the leader fails every Fetch), then
    completes: the assignment becomes the target, the ISR follows."""
    from compat_tests.kafka.conftest import RawKafka
    from wire.kafka.error_codes import ErrorCode
    from wire.kafka.messages.alter_partition_reassignments import (
        AlterPartitionReassignmentsRequest as Alter,
    )
    from wire.kafka.messages.list_partition_reassignments import (
        ListPartitionReassignmentsRequest as ListR,
    )

    zk, brokers = zk_cluster
    controller = wait_for(lambda: zk.controller_id, "a controller")
    admin = KafkaAdminClient(bootstrap_servers=brokers[controller].bootstrap_servers)
    try:
        admin.create_topics([NewTopic("r", 1, 2)])
        origin = wait_for(lambda: ("r", 0) in zk.states and zk.topics["r"].partitions[0], "a state")
        leader = zk.states[("r", 0)].leader
        (spare,) = {1, 2, 3} - set(origin)
        other = next(b for b in brokers if b != controller)
        with RawKafka.to(brokers[other].bootstrap_servers) as raw:
            alter = raw.request(45, 0, Alter(topics=[Alter.ReassignableTopic("r", [Alter.ReassignablePartition(0, [1])])]))
            assert (alter.error_code, alter.responses) == (ErrorCode.NOT_CONTROLLER, [])
            assert raw.request(46, 0, ListR(topics=None)).error_code == ErrorCode.NOT_CONTROLLER
        brokers[leader].fail_next(1, ErrorCode.UNKNOWN_SERVER_ERROR, 10**6)  # no follower catches up meanwhile
        target = [leader, spare]
        tp = TopicPartition("r", 0)
        assert admin.alter_partition_reassignments({tp: target}) == {tp: None}
        removed = next(r for r in origin if r != leader)
        assert admin.list_partition_reassignments() == {
            tp: {"replicas": [leader, spare, removed], "adding_replicas": [spare], "removing_replicas": [removed]}}
        assert zk.topics["r"].partitions[0] == [leader, spare, removed]
        brokers[leader].clear_faults()
        wait_for(lambda: zk.topics["r"].partitions[0] == target, "the reassignment to complete")
        assert not zk.topics["r"].adding and not zk.topics["r"].removing
        state = wait_for(lambda: sorted(zk.states[("r", 0)].isr) == sorted(target) and zk.states[("r", 0)],
                         "the ISR of the target")
        assert state.leader == leader
        assert admin.list_partition_reassignments() == {}
    finally:
        admin.close()


def test_the_memory_zookeeper_delivers_snapshots_in_the_order_they_were_taken() -> None:
    """Two threads change the tree at once (a session ends while another broker wins the election): a bridge
    must not get the older snapshot last, or its broker keeps a stale view (CI saw a broker answer controller -1
    for good after a failover). The first delivery of the "no controller" snapshot is held up until the
    election's thread has started its own broadcast."""
    import threading

    from broker.zk.model import BrokerRegistration, ControllerChanged, ElectController

    zk = MemoryZooKeeper()
    seen: list[int | None] = []
    held = threading.Event()
    release = threading.Event()

    def observer_deliver(event: Any) -> None:
        if isinstance(event, ControllerChanged):
            if event.controller_id is None and not held.is_set():
                held.set()
                release.wait(2)  # the election's broadcast tries to go out meanwhile
            seen.append(event.controller_id)

    def quiet(event: Any) -> None:
        pass

    for n in (1, 2):
        zk.bridge("memory", n, BrokerRegistration(n, "h", 9000 + n), 6000, quiet).start()
    zk.bridges[0].apply(ElectController(1))
    zk.bridge("memory", 3, BrokerRegistration(3, "h", 9003), 6000, observer_deliver).start()
    seen.clear()
    ending = threading.Thread(target=zk.expire, args=(1,))
    ending.start()
    assert held.wait(5)
    electing = threading.Thread(target=zk.bridges[0].apply, args=(ElectController(2),))
    electing.start()
    electing.join(0.3)  # with ordered delivery it waits for the held broadcast to finish
    release.set()
    ending.join(5)
    electing.join(5)
    assert zk.controller_id == 2
    assert seen[-1] == 2, seen  # the newest snapshot is the last one delivered
