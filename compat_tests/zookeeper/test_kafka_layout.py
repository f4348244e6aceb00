"""The kazoo bridge (``broker.zk.bridge``) against our ZooKeeper and against Debian's real ZooKeeper.

Every scenario runs on both targets (``zk_target``) under its own chroot, which
the bridge creates as Kafka does. After each operation an independent kazoo
client reads the znodes back and compares them with Kafka's documented JSON
(``broker.zk.layout`` is checked byte for byte against golden strings in
``broker/tests/test_zk_layout.py``; here the literal JSON is spelled out where
it matters). Waits are bounded waits on delivered events, never sleeps.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, TypeVar

import pytest
from kazoo.client import KazooClient

from broker.zk import controller, layout
from broker.zk.bridge import BrokerIdInUseError, ZkBridge
from broker.zk.model import (
    AddPartitions, BrokerRegistration, BrokersChanged, ClusterIdKnown, CompleteDeletion, ControllerChanged,
    CreateTopic, DeletionsRequested, ElectController, MarkForDeletion, PartitionState, PartitionStatesChanged,
    PreferredElectionRequested, SessionLost, SetPartitionStates, SetTopicConfig, TopicAssignment, TopicsChanged,
    WriteFailed, ZkEvent, ZkView,
)
from compat_tests.zookeeper.conftest import ZkTarget

WAIT = 15.0
SESSION_MS = 4000
E = TypeVar("E")


class Recorder:
    """The ``deliver`` of one bridge: every event, with a bounded wait for one that matches."""

    def __init__(self) -> None:
        self.events: list[ZkEvent] = []
        self.cond = threading.Condition()
        self.view = ZkView()

    def __call__(self, event: ZkEvent) -> None:
        with self.cond:
            self.events.append(event)
            apply_to_view(self.view, event)
            self.cond.notify_all()

    def wait(self, kind: type[E], check: Callable[[E], bool] = lambda _e: True, *, after: int = 0) -> E:
        """The first event of ``kind`` (from index ``after`` on) passing ``check``."""
        found: list[E] = []

        def seen() -> bool:
            for event in self.events[after:]:
                if isinstance(event, kind) and check(event):
                    found.append(event)
                    return True
            return False

        with self.cond:
            if not self.cond.wait_for(seen, WAIT):
                raise AssertionError(f"no {kind.__name__} matching; got {self.events[after:]!r}")
        return found[0]

    def wait_view(self, check: Callable[[ZkView], bool], what: str) -> ZkView:
        with self.cond:
            if not self.cond.wait_for(lambda: check(self.view), WAIT):
                raise AssertionError(f"view never showed {what}: {self.view!r}")
            return self.view

    def mark(self) -> int:
        with self.cond:
            return len(self.events)


def apply_to_view(view: ZkView, event: ZkEvent) -> None:
    """What the core does with the events, reduced to the view (as ``ZkMetadata.apply``)."""
    if isinstance(event, ClusterIdKnown):
        view.cluster_id = event.cluster_id
    elif isinstance(event, BrokersChanged):
        view.brokers = dict(event.brokers)
    elif isinstance(event, ControllerChanged):
        view.controller_id, view.controller_epoch = event.controller_id, event.controller_epoch
        view.controller_epoch_version = event.controller_epoch_version
    elif isinstance(event, TopicsChanged):
        view.topics, view.configs = dict(event.topics), dict(event.configs)
        view.states = {k: s for k, s in view.states.items() if k[0] in view.topics}
    elif isinstance(event, PartitionStatesChanged):
        for key, state in event.states.items():
            if state is None:
                view.states.pop(key, None)
            else:
                view.states[key] = state
    elif isinstance(event, DeletionsRequested):
        view.deletions = event.topics
    elif isinstance(event, PreferredElectionRequested):
        view.preferred_election = event.partitions


class Cluster:
    """Bridges and a reader client under one fresh chroot of the target."""

    def __init__(self, target: ZkTarget) -> None:
        self.target = target
        self.chroot = f"/kafka-{uuid.uuid4().hex[:8]}"
        self.connect = target.hosts + self.chroot
        self.bridges: list[ZkBridge] = []
        self._reader: KazooClient | None = None

    def bridge(self, broker_id: int, *, start: bool = True, **kwargs: Any) -> tuple[ZkBridge, Recorder]:
        recorder = Recorder()
        registration = BrokerRegistration(broker_id, "127.0.0.1", 19090 + broker_id, None, 1700000000000 + broker_id)
        bridge = ZkBridge(self.connect, broker_id, registration, SESSION_MS, recorder, **kwargs)
        self.bridges.append(bridge)
        if start:
            bridge.start()
        return bridge, recorder

    @property
    def zk(self) -> KazooClient:
        """An independent kazoo client inside the chroot (reads what the bridges wrote)."""
        if self._reader is None:
            self._reader = self.target.client(hosts=self.connect)
        return self._reader

    def holder(self) -> KazooClient:
        """Another session, in a chroot made ready by hand, with ``/brokers/ids`` created."""
        self.target.client().ensure_path(self.chroot)
        client = self.target.client(hosts=self.connect)
        client.ensure_path("/brokers/ids")
        return client

    def data(self, path: str) -> bytes:
        return self.zk.get(path)[0]

    def json(self, path: str) -> Any:
        return json.loads(self.data(path))

    def close(self) -> None:
        for bridge in self.bridges:
            bridge.stop()


@pytest.fixture
def cluster(zk_target: ZkTarget) -> Iterator[Cluster]:
    c = Cluster(zk_target)
    yield c
    c.close()


def elect(bridge: ZkBridge, recorder: Recorder, broker_id: int) -> ControllerChanged:
    mark = recorder.mark()
    bridge.apply(ElectController(broker_id))
    return recorder.wait(ControllerChanged, lambda e: e.controller_id == broker_id, after=mark)


def run_controller(bridge: ZkBridge, recorder: Recorder, broker_id: int, until: Callable[[ZkView], bool],
                   what: str) -> ZkView:
    """Drive ``controller.decide`` over the recorder's view (as the core does) until ``until`` holds."""
    deadline = time.monotonic() + WAIT
    while True:
        with recorder.cond:
            view = recorder.view
            if until(view):
                return view
            writes = controller.decide(view, broker_id)
            seen = len(recorder.events)
        for write in writes:
            bridge.apply(write)
        with recorder.cond:  # wait for the next event (our writes coming back, or anything else)
            if not recorder.cond.wait_for(lambda: len(recorder.events) > seen or until(recorder.view),
                                          max(0.0, deadline - time.monotonic())):
                raise AssertionError(f"controller never reached {what}: {recorder.view!r}")


# -- start-up ----------------------------------------------------------------------------------------

def test_start_creates_chroot_persistent_paths_cluster_id_and_registration(cluster: Cluster) -> None:
    bridge, events = cluster.bridge(1, cluster_id="configured-id-000000000")
    for path in (*layout.PERSISTENT_PATHS, "/brokers", "/config", "/admin", "/cluster"):
        assert cluster.zk.get(path)[0] is None, path  # null data, as Kafka creates them (not b"")
    assert cluster.target.client().get(cluster.chroot)[0] is None
    assert cluster.json("/cluster/id") == {"version": "1", "id": "configured-id-000000000"}
    assert cluster.data("/cluster/id") == b'{"version":"1","id":"configured-id-000000000"}'
    data, stat = cluster.zk.get("/brokers/ids/1")
    assert data == (b'{"features":{},"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT"},'
                    b'"endpoints":["PLAINTEXT://127.0.0.1:19091"],"jmx_port":-1,"port":19091,"host":"127.0.0.1",'
                    b'"version":5,"timestamp":"1700000000001"}')
    assert stat.ephemeralOwner == bridge.client.client_id[0]  # type: ignore[union-attr]
    assert events.wait(ClusterIdKnown).cluster_id == "configured-id-000000000"
    # the broker epoch is the registration's czxid (KafkaZkClient.registerBroker)
    assert events.wait(BrokersChanged).brokers == {1: replace(bridge.registration, epoch=stat.czxid)}
    assert events.wait(ControllerChanged) == ControllerChanged(None, 0, -1)
    assert events.wait(TopicsChanged) == TopicsChanged({}, {})
    assert events.wait(DeletionsRequested) == DeletionsRequested(frozenset())
    # a second broker keeps the existing cluster id (its configured one is only for creating)
    _, second = cluster.bridge(2, cluster_id="another-id-000000000000")
    assert second.wait(ClusterIdKnown).cluster_id == "configured-id-000000000"
    assert set(events.wait(BrokersChanged, lambda e: len(e.brokers) == 2).brokers) == {1, 2}


def test_generated_cluster_id_is_a_kafka_uuid(cluster: Cluster) -> None:
    bridge, events = cluster.bridge(1)
    cluster_id = events.wait(ClusterIdKnown).cluster_id
    assert len(cluster_id) == 22 and layout.uuid_to_kafka(layout.uuid_from_kafka(cluster_id)) == cluster_id
    assert cluster.json("/cluster/id") == {"version": "1", "id": cluster_id}


def test_registration_of_a_live_id_fails_as_kafka_does(cluster: Cluster) -> None:
    holder = cluster.holder()
    holder.create("/brokers/ids/1", b"{}", ephemeral=True)
    bridge, _ = cluster.bridge(1, start=False, registration_wait_ms=300)
    with pytest.raises(BrokerIdInUseError, match=r"Error while creating ephemeral at /brokers/ids/1, node already "
                                                 r"exists and owner '0x[0-9a-f]+' does not match current session"):
        bridge.start()
    bridge.stop()


def test_registration_waits_for_a_previous_session_to_go(cluster: Cluster) -> None:
    holder = cluster.holder()
    holder.create("/brokers/ids/1", b"{}", ephemeral=True)
    bridge, events = cluster.bridge(1, start=False, registration_wait_ms=int(WAIT * 1000))
    closer = threading.Thread(target=holder.stop)  # the old session ends while the bridge waits (or before)
    closer.start()
    bridge.start()
    closer.join()
    assert cluster.data("/brokers/ids/1") == layout.encode_broker(bridge.registration)
    czxid = cluster.zk.get("/brokers/ids/1")[1].czxid
    assert events.wait(BrokersChanged).brokers == {1: replace(bridge.registration, epoch=czxid)}


# -- the controller election -------------------------------------------------------------------------------

def test_election_race_has_one_winner_and_bumps_the_epoch_once(cluster: Cluster) -> None:
    b1, e1 = cluster.bridge(1)
    b2, e2 = cluster.bridge(2)
    barrier = threading.Barrier(2)

    def run(bridge: ZkBridge, broker_id: int) -> None:
        barrier.wait()
        bridge.apply(ElectController(broker_id))

    threads = [threading.Thread(target=run, args=(b, i)) for b, i in ((b1, 1), (b2, 2))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    controller_json = cluster.json("/controller")
    winner = controller_json["brokerid"]
    assert winner in (1, 2)
    assert set(controller_json) == {"version", "brokerid", "timestamp", "kraftControllerEpoch"}
    assert controller_json["version"] == 2 and controller_json["kraftControllerEpoch"] == -1
    assert isinstance(controller_json["timestamp"], str)
    epoch_data, epoch_stat = cluster.zk.get("/controller_epoch")
    assert epoch_data == b"1" and epoch_stat.version == 1  # created with "0", set once
    loser_events = e2 if winner == 1 else e1
    assert isinstance(loser_events.wait(WriteFailed).write, ElectController)
    for events in (e1, e2):
        assert events.wait(ControllerChanged, lambda e: e.controller_id is not None) == \
            ControllerChanged(winner, 1, 1)
    winner_client = (b1 if winner == 1 else b2).client
    assert winner_client is not None
    assert cluster.zk.get("/controller")[1].ephemeralOwner == winner_client.client_id[0]


def test_closing_a_session_removes_its_ephemerals_and_others_see_it(cluster: Cluster) -> None:
    b1, e1 = cluster.bridge(1)
    b2, e2 = cluster.bridge(2)
    elect(b1, e1, 1)
    e2.wait(ControllerChanged, lambda e: e.controller_id == 1)
    mark = e2.mark()
    b1.stop()
    assert cluster.zk.exists("/brokers/ids/1") is None and cluster.zk.exists("/controller") is None
    assert e2.wait(BrokersChanged, lambda e: 1 not in e.brokers, after=mark).brokers == \
        {2: replace(b2.registration, epoch=cluster.zk.get("/brokers/ids/2")[1].czxid)}
    assert e2.wait(ControllerChanged, lambda e: e.controller_id is None, after=mark) == ControllerChanged(None, 1, 1)
    changed = elect(b2, e2, 2)  # the survivor takes over: epoch 2
    assert changed == ControllerChanged(2, 2, 2) and cluster.data("/controller_epoch") == b"2"


def test_session_expiry_delivers_session_lost_then_registers_again(cluster: Cluster) -> None:
    b1, e1 = cluster.bridge(1)
    elect(b1, e1, 1)
    client = b1.client
    assert client is not None
    session_id, password = client.client_id
    mark = e1.mark()
    # expire the session from outside (works on any ZooKeeper): take it over with its id and password, close it
    thief = KazooClient(hosts=cluster.connect, client_id=(session_id, password), timeout=SESSION_MS / 1000)
    thief.start(timeout=WAIT)
    thief.stop()
    thief.close()
    e1.wait(SessionLost, after=mark)
    registered = e1.wait(BrokersChanged, lambda e: 1 in e.brokers, after=mark)
    _, stat = cluster.zk.get("/brokers/ids/1")
    assert registered.brokers[1] == replace(b1.registration, epoch=stat.czxid)  # a new registration: a new epoch
    assert stat.ephemeralOwner != session_id and stat.ephemeralOwner == client.client_id[0]
    assert cluster.zk.exists("/controller") is None  # the controller went with the old session
    assert elect(b1, e1, 1).controller_epoch == 2


# -- topics, states, configs, deletion -------------------------------------------------------------------

def test_create_topic_config_states_and_conditional_updates(cluster: Cluster) -> None:
    b1, e1 = cluster.bridge(1)
    topic_id = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assignment = TopicAssignment("t", topic_id, {0: [1, 2], 1: [2, 1]})
    b1.apply(CreateTopic(assignment, {"retention.ms": "1000", "cleanup.policy": "compact"}))
    assert cluster.data("/brokers/topics/t") == (
        b'{"partitions":{"0":[1,2],"1":[2,1]},"removing_replicas":{},"topic_id":"EjRWeBI0VngSNFZ4EjRWeA",'
        b'"adding_replicas":{},"version":3}')
    assert cluster.data("/config/topics/t") == \
        b'{"version":1,"config":{"cleanup.policy":"compact","retention.ms":"1000"}}'
    topics = e1.wait(TopicsChanged, lambda e: "t" in e.topics)
    assert topics.topics["t"] == replace(assignment, zk_version=0)  # with the znode's version as read
    assert topics.configs["t"] == {"retention.ms": "1000", "cleanup.policy": "compact"}
    # creating it again loses
    b1.apply(CreateTopic(assignment, {}))
    assert "TopicExists" in e1.wait(WriteFailed, lambda e: isinstance(e.write, CreateTopic)).reason
    assert cluster.json("/config/topics/t")["config"] == {"retention.ms": "1000", "cleanup.policy": "compact"}

    epoch = elect(b1, e1, 1)
    first = PartitionState(1, 0, [1, 2], epoch.controller_epoch)
    b1.apply(SetPartitionStates({("t", 0): first}, epoch.controller_epoch_version))
    state_path = "/brokers/topics/t/partitions/0/state"
    data, stat = cluster.zk.get(state_path)
    assert data == b'{"controller_epoch":1,"leader":1,"version":1,"leader_epoch":0,"isr":[1,2]}'
    assert stat.version == 0
    assert cluster.zk.get("/brokers/topics/t/partitions")[0] is None
    assert cluster.zk.get("/brokers/topics/t/partitions/0")[0] is None
    assert e1.wait(PartitionStatesChanged, lambda e: e.states.get(("t", 0)) is not None).states[("t", 0)] == \
        PartitionState(1, 0, [1, 2], 1, zk_version=0)

    # a stale zk_version loses and changes nothing
    mark = e1.mark()
    stale = PartitionState(2, 1, [2], 1, zk_version=5)
    b1.apply(SetPartitionStates({("t", 0): stale}, epoch.controller_epoch_version))
    failed = e1.wait(WriteFailed, after=mark)
    assert failed.write == SetPartitionStates({("t", 0): stale}, epoch.controller_epoch_version)
    assert "BadVersion" in failed.reason
    assert cluster.zk.get(state_path)[1].version == 0
    # a deposed controller (wrong /controller_epoch version) is fenced
    b1.apply(SetPartitionStates({("t", 0): PartitionState(2, 1, [2], 1, zk_version=0)}, 0))
    assert "/controller_epoch" in e1.wait(WriteFailed, after=mark + 1).reason
    assert cluster.zk.get(state_path)[1].version == 0

    # the right version wins
    b1.apply(SetPartitionStates({("t", 0): PartitionState(1, 0, [1], 1, zk_version=0)}))
    assert cluster.data(state_path) == b'{"controller_epoch":1,"leader":1,"version":1,"leader_epoch":0,"isr":[1]}'
    assert cluster.zk.get(state_path)[1].version == 1
    updated = PartitionState(1, 0, [1], 1, zk_version=1)
    e1.wait(PartitionStatesChanged, lambda e: e.states.get(("t", 0)) == updated)

    # more partitions: same id, rewritten assignment
    b1.apply(AddPartitions(TopicAssignment("t", topic_id, {0: [1, 2], 1: [2, 1], 2: [1, 2]})))
    assert cluster.json("/brokers/topics/t")["partitions"] == {"0": [1, 2], "1": [2, 1], "2": [1, 2]}
    assert len(e1.wait(TopicsChanged, lambda e: "t" in e.topics and len(e.topics["t"].partitions) == 3).topics["t"].partitions) == 3


def test_topic_rewrites_are_conditional_on_the_znode_version_and_fenced(cluster: Cluster) -> None:
    """``AddPartitions`` is one multi: /controller_epoch's version checked (unless -1) and the topic znode set on
    the version the assignment was read at; a lost race is WriteFailed, the topic is read again and nothing
    changes. Two rewrites decided from one read: the second loses."""
    b1, e1 = cluster.bridge(1)
    topic_id = uuid.UUID("12345678-1234-5678-1234-567812345678")
    b1.apply(CreateTopic(TopicAssignment("t", topic_id, {0: [1, 2], 1: [2, 1]}), {}))
    read = e1.wait(TopicsChanged, lambda e: "t" in e.topics).topics["t"]
    assert read.zk_version == 0
    epoch = elect(b1, e1, 1)
    first = AddPartitions(replace(read, partitions={0: [2, 1, 3], 1: [2, 1]}, adding={0: [3]}, removing={0: [1]}),
                          epoch.controller_epoch_version)
    second = AddPartitions(replace(read, partitions={0: [1, 2], 1: [3, 2, 1]}, adding={1: [3]}, removing={1: [1]}),
                           epoch.controller_epoch_version)
    b1.apply(first)
    assert cluster.zk.get("/brokers/topics/t")[1].version == 1
    e1.wait(TopicsChanged, lambda e: "t" in e.topics and e.topics["t"].zk_version == 1)
    mark = e1.mark()
    b1.apply(second)  # decided from version 0 too: it would undo the first
    failed = e1.wait(WriteFailed, after=mark)
    assert failed.write == second and "BadVersion" in failed.reason and "/brokers/topics/t" in failed.reason
    e1.wait(TopicsChanged, lambda e: "t" in e.topics and e.topics["t"].zk_version == 1, after=mark)  # read again
    assert cluster.json("/brokers/topics/t")["adding_replicas"] == {"0": [3]}
    # a deposed controller (wrong /controller_epoch version) is fenced, even on the right topic version
    mark = e1.mark()
    fenced = AddPartitions(replace(second.assignment, zk_version=1), epoch.controller_epoch_version + 1)
    b1.apply(fenced)
    assert "/controller_epoch" in e1.wait(WriteFailed, after=mark).reason
    assert cluster.zk.get("/brokers/topics/t")[1].version == 1
    # decided again from the topic as read: both changes, version 2
    now = e1.view.topics["t"]
    b1.apply(AddPartitions(replace(now, partitions={**now.partitions, 1: [3, 2, 1]}, adding={**now.adding, 1: [3]},
                                   removing={**now.removing, 1: [1]}), epoch.controller_epoch_version))
    assert cluster.json("/brokers/topics/t")["adding_replicas"] == {"0": [3], "1": [3]}
    assert cluster.zk.get("/brokers/topics/t")[1].version == 2


def wait_children(zk: KazooClient, path: str, check: Callable[[list[str]], bool], what: str) -> list[str]:
    """Block (bounded) until the children of ``path`` pass ``check``, on a kazoo children watch."""
    done = threading.Event()
    seen: list[list[str]] = []

    def watch(children: list[str]) -> bool:
        if check(children):
            seen.append(children)
            done.set()
            return False
        return True

    zk.ChildrenWatch(path, watch)
    if not done.wait(WAIT):
        raise AssertionError(f"{path} never had {what}")
    return seen[0]


def test_isr_change_notification_is_written_and_the_controller_consumes_it(cluster: Cluster) -> None:
    b1, e1 = cluster.bridge(1)
    b1.apply(CreateTopic(TopicAssignment("t", layout.new_kafka_uuid(), {0: [1, 2], 3: [1]}), {}))
    b1.apply(SetPartitionStates({("t", 0): PartitionState(1, 0, [1, 2], 0), ("t", 3): PartitionState(1, 0, [1], 0)}))
    # a leader's ISR change (not fenced by the controller epoch) also leaves a notification
    b1.apply(SetPartitionStates({("t", 0): PartitionState(1, 0, [1], 0, zk_version=0)}, isr_change=True))
    notifications = cluster.zk.get_children("/isr_change_notification")
    assert len(notifications) == 1 and notifications[0] == "isr_change_0000000000"
    assert cluster.data("/isr_change_notification/isr_change_0000000000") == \
        b'{"version":1,"partitions":[{"topic":"t","partition":0}]}'
    elect(b1, e1, 1)  # nobody consumed it while there was no controller; the new controller does
    wait_children(cluster.zk, "/isr_change_notification", lambda c: c == [], "no notifications")


def test_old_config_change_notifications_are_purged(cluster: Cluster) -> None:
    b1, _ = cluster.bridge(1)
    b1.apply(CreateTopic(TopicAssignment("t", layout.new_kafka_uuid(), {0: [1]}), {}))
    b1.apply(SetTopicConfig("t", {"a": "1"}))
    assert len(cluster.zk.get_children("/config/changes")) == 1  # fresh: kept
    sixteen_minutes_later = lambda: int(time.time() * 1000) + 16 * 60 * 1000
    cluster.bridge(2, clock_ms=sixteen_minutes_later)
    wait_children(cluster.zk, "/config/changes", lambda c: c == [], "the old notification purged")


def test_producer_id_blocks_are_disjoint(cluster: Cluster) -> None:
    b1, _ = cluster.bridge(1)
    b2, _ = cluster.bridge(2)
    assert b1.allocate_producer_id_block() == (0, 999)
    assert cluster.data("/latest_producer_id_block") == b'{"version":1,"broker":1,"block_start":"0","block_end":"999"}'
    blocks: list[tuple[int, int]] = []
    barrier = threading.Barrier(2)

    def claim(bridge: ZkBridge) -> None:
        barrier.wait()
        for _ in range(5):
            blocks.append(bridge.allocate_producer_id_block())

    threads = [threading.Thread(target=claim, args=(b,)) for b in (b1, b2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(blocks) == [(1000 * i, 1000 * i + 999) for i in range(1, 11)]
    assert cluster.json("/latest_producer_id_block")["block_end"] == "10999"


def test_topic_config_change_writes_a_notification(cluster: Cluster) -> None:
    b1, e1 = cluster.bridge(1)
    b1.apply(CreateTopic(TopicAssignment("t", layout.new_kafka_uuid(), {0: [1]}), {}))
    assert cluster.data("/config/topics/t") == b'{"version":1,"config":{}}'
    b1.apply(SetTopicConfig("t", {"retention.ms": "5"}))
    assert cluster.data("/config/topics/t") == b'{"version":1,"config":{"retention.ms":"5"}}'
    changes = cluster.zk.get_children("/config/changes")
    assert [c[:len("config_change_")] for c in changes] == ["config_change_"]
    assert cluster.data("/config/changes/" + changes[0]) == b'{"version":2,"entity_path":"topics/t"}'
    assert e1.wait(TopicsChanged, lambda e: e.configs.get("t") == {"retention.ms": "5"})
    b1.apply(SetTopicConfig("nope", {"a": "b"}))
    assert "UnknownTopicOrPartition" in e1.wait(WriteFailed, lambda e: isinstance(e.write, SetTopicConfig)).reason


def test_a_topic_written_directly_comes_alive_through_the_controller(cluster: Cluster) -> None:
    """As old tools did: only ``/brokers/topics/<t>`` in v1 JSON. The controller gives it an id and states."""
    b1, e1 = cluster.bridge(1)
    b2, e2 = cluster.bridge(2)
    elect(b1, e1, 1)
    cluster.zk.create("/brokers/topics/legacy", b'{"version":1,"partitions":{"1":[2,1],"0":[1,2]}}')
    seen = e2.wait(TopicsChanged, lambda e: "legacy" in e.topics).topics["legacy"]
    assert seen == TopicAssignment("legacy", layout.NO_TOPIC_ID, {0: [1, 2], 1: [2, 1]}, zk_version=0)
    view = run_controller(b1, e1, 1, lambda v: len([k for k in v.states if k[0] == "legacy"]) == 2
                          and v.topics["legacy"].topic_id != layout.NO_TOPIC_ID, "legacy topic alive")
    topic_id = view.topics["legacy"].topic_id
    assert cluster.json("/brokers/topics/legacy") == {
        "version": 3, "topic_id": layout.uuid_to_kafka(topic_id), "partitions": {"0": [1, 2], "1": [2, 1]},
        "adding_replicas": {}, "removing_replicas": {}}
    assert cluster.json("/brokers/topics/legacy/partitions/0/state") == \
        {"controller_epoch": 1, "leader": 1, "version": 1, "leader_epoch": 0, "isr": [1, 2]}
    assert cluster.json("/brokers/topics/legacy/partitions/1/state") == \
        {"controller_epoch": 1, "leader": 2, "version": 1, "leader_epoch": 0, "isr": [2, 1]}
    # the other broker follows
    e2.wait_view(lambda v: v.states.get(("legacy", 1)) == PartitionState(2, 0, [2, 1], 1, 0), "the states")


def test_controller_moves_leadership_when_a_broker_goes_and_comes_back(cluster: Cluster) -> None:
    b1, e1 = cluster.bridge(1)
    b2, e2 = cluster.bridge(2)
    elect(b1, e1, 1)
    b1.apply(CreateTopic(TopicAssignment("t", layout.new_kafka_uuid(), {0: [2, 1], 1: [1, 2]}), {}))
    run_controller(b1, e1, 1, lambda v: len(v.states) == 2, "initial states")
    assert cluster.json("/brokers/topics/t/partitions/0/state")["leader"] == 2
    b2.stop()  # broker 2 goes
    run_controller(b1, e1, 1, lambda v: 2 not in v.brokers and all(2 not in s.isr for s in v.states.values()),
                   "broker 2 out of every ISR")
    assert cluster.json("/brokers/topics/t/partitions/0/state") == \
        {"controller_epoch": 1, "leader": 1, "version": 1, "leader_epoch": 1, "isr": [1]}
    assert cluster.json("/brokers/topics/t/partitions/1/state") == \
        {"controller_epoch": 1, "leader": 1, "version": 1, "leader_epoch": 1, "isr": [1]}
    assert cluster.zk.get("/brokers/topics/t/partitions/0/state")[1].version == 1


def test_preferred_replica_election_znode_is_carried_out_and_deleted(cluster: Cluster) -> None:
    """As ``kafka-preferred-replica-election.sh`` did: write ``/admin/preferred_replica_election``; the controller
    moves leadership of the named partitions to their first replica (live and in sync) and deletes the znode."""
    b1, e1 = cluster.bridge(1)
    b2, e2 = cluster.bridge(2)
    elect(b1, e1, 1)
    b1.apply(CreateTopic(TopicAssignment("p", layout.new_kafka_uuid(), {0: [2, 1], 1: [1, 2]}), {}))
    view = run_controller(b1, e1, 1, lambda v: len(v.states) == 2, "initial states")
    moved = replace(view.states[("p", 0)], leader=1, leader_epoch=1)  # as after a failover, 2 still in sync
    b1.apply(SetPartitionStates({("p", 0): moved}, view.controller_epoch_version))
    e1.wait_view(lambda v: v.states[("p", 0)].leader == 1, "the moved leader")
    cluster.zk.create("/admin/preferred_replica_election",
                      b'{"version":1,"partitions":[{"topic":"p","partition":0},{"topic":"p","partition":1}]}')
    e1.wait_view(lambda v: v.preferred_election == frozenset({("p", 0), ("p", 1)}), "the request")
    run_controller(b1, e1, 1, lambda v: v.preferred_election is None and v.states[("p", 0)].leader == 2,
                   "the election done and its znode gone")
    assert cluster.json("/brokers/topics/p/partitions/0/state") == \
        {"controller_epoch": 1, "leader": 2, "version": 1, "leader_epoch": 2, "isr": [2, 1]}
    assert cluster.json("/brokers/topics/p/partitions/1/state")["leader_epoch"] == 0  # already preferred
    assert cluster.zk.exists("/admin/preferred_replica_election") is None
    e2.wait_view(lambda v: v.states.get(("p", 0), moved).leader == 2 and v.preferred_election is None,
                 "the other broker following")


def test_deletion_marker_and_complete_deletion(cluster: Cluster) -> None:
    b1, e1 = cluster.bridge(1)
    elect(b1, e1, 1)
    b1.apply(CreateTopic(TopicAssignment("doomed", layout.new_kafka_uuid(), {0: [1], 1: [1]}), {"a": "b"}))
    run_controller(b1, e1, 1, lambda v: len(v.states) == 2, "states")
    b1.apply(MarkForDeletion("doomed"))
    assert cluster.zk.get("/admin/delete_topics/doomed")[0] is None
    assert e1.wait(DeletionsRequested, lambda e: e.topics == frozenset({"doomed"}))
    mark = e1.mark()
    b1.apply(MarkForDeletion("doomed"))
    assert "TopicAlreadyMarkedForDeletion" in e1.wait(
        WriteFailed, lambda e: isinstance(e.write, MarkForDeletion), after=mark).reason
    mark = e1.mark()
    b1.apply(CompleteDeletion("doomed"))
    for path in ("/brokers/topics/doomed", "/config/topics/doomed", "/admin/delete_topics/doomed"):
        assert cluster.zk.exists(path) is None, path
    assert e1.wait(TopicsChanged, lambda e: "doomed" not in e.topics, after=mark)
    e1.wait(PartitionStatesChanged, lambda e: e.states.get(("doomed", 0), 0) is None, after=mark)
    e1.wait(PartitionStatesChanged, lambda e: e.states.get(("doomed", 1), 0) is None, after=mark)
    assert e1.wait(DeletionsRequested, lambda e: not e.topics, after=mark)
    # the controller's own loop does the same from the marker
    b1.apply(CreateTopic(TopicAssignment("again", layout.new_kafka_uuid(), {0: [1]}), {}))
    run_controller(b1, e1, 1, lambda v: ("again", 0) in v.states, "states")
    b1.apply(MarkForDeletion("again"))
    run_controller(b1, e1, 1, lambda v: "again" not in v.topics and not v.deletions, "deletion")
    assert cluster.zk.exists("/brokers/topics/again") is None


def test_states_for_a_deleted_topic_are_not_recreated(cluster: Cluster) -> None:
    b1, e1 = cluster.bridge(1)
    b1.apply(SetPartitionStates({("ghost", 0): PartitionState(1, 0, [1], 0)}))
    assert "NoNode" in e1.wait(WriteFailed).reason
    assert cluster.zk.exists("/brokers/topics/ghost") is None


# -- whole brokers (the core and its trio shell) on the bridge -------------------------------------------

def wait_data(zk: KazooClient, path: str, check: Callable[[bytes | None], bool], what: str) -> bytes | None:
    """Block (bounded) until ``path``'s data (None: no znode) passes ``check``, on a kazoo data watch."""
    done = threading.Event()
    seen: list[bytes | None] = []

    def watch(data: bytes | None, _stat: Any) -> bool:
        if check(data):
            seen.append(data)
            done.set()
            return False
        return True

    zk.DataWatch(path, watch)
    if not done.wait(WAIT):
        raise AssertionError(f"{path} never showed {what}")
    return seen[0]


def test_brokers_keep_their_metadata_in_zookeeper(cluster: Cluster) -> None:
    """Two brokers on one chroot: CreateTopics, a topic written by an old tool, DeleteTopics and a controller
    failover, each read back from the znodes; the legacy topic takes records like any other."""
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import NewTopic

    from broker.config import BrokerConfig
    from broker.testing import RunningBroker

    brokers = {n: RunningBroker(BrokerConfig(port=0, first_node_id=n, zookeeper_connect=cluster.connect,
                                             zookeeper_session_timeout_ms=SESSION_MS,
                                             group_initial_rebalance_delay_ms=0)).start() for n in (1, 2)}
    admin = None
    try:
        zk = cluster.zk
        assert sorted(zk.get_children("/brokers/ids")) == ["1", "2"]
        for n, broker in brokers.items():
            registration = json.loads(zk.get(f"/brokers/ids/{n}")[0])
            assert registration["version"] == 5 and registration["endpoints"] == \
                [f"PLAINTEXT://{broker.bootstrap_servers}"]
        first = json.loads(wait_data(zk, "/controller", lambda d: d is not None, "a controller") or b"")
        assert first["brokerid"] in (1, 2) and zk.get("/controller_epoch")[0] == b"1"

        admin = KafkaAdminClient(bootstrap_servers=brokers[1].bootstrap_servers, request_timeout_ms=15000)
        # replication factor 2: the follower drops the deleted topic's partitions from its fetcher
        admin.create_topics([NewTopic("made", 3, 2, topic_configs={"retention.ms": "60000"})])
        made = json.loads(zk.get("/brokers/topics/made")[0])
        assert set(made) == {"version", "partitions", "adding_replicas", "removing_replicas", "topic_id"}
        assert made["version"] == 3 and sorted(made["partitions"]) == ["0", "1", "2"]
        assert all(len(r) == 2 for r in made["partitions"].values())
        assert zk.get("/config/topics/made")[0] == b'{"version":1,"config":{"retention.ms":"60000"}}'
        for p, replicas in made["partitions"].items():
            state = json.loads(zk.get(f"/brokers/topics/made/partitions/{p}/state")[0])
            assert state == {"controller_epoch": 1, "leader": replicas[0], "version": 1, "leader_epoch": 0,
                             "isr": replicas}

        zk.create("/brokers/topics/legacy", b'{"version":1,"partitions":{"0":[1,2]}}')
        state = wait_data(zk, "/brokers/topics/legacy/partitions/0/state", lambda d: d is not None, "a state")
        assert json.loads(state or b"") == \
            {"controller_epoch": 1, "leader": 1, "version": 1, "leader_epoch": 0, "isr": [1, 2]}
        legacy = json.loads(wait_data(zk, "/brokers/topics/legacy", lambda d: b"topic_id" in (d or b""), "an id")
                            or b"")
        assert legacy["version"] == 3 and legacy["partitions"] == {"0": [1, 2]}
        producer = KafkaProducer(bootstrap_servers=brokers[2].bootstrap_servers, acks=1)
        producer.send("legacy", b"hello", partition=0).get(timeout=WAIT)
        producer.close()
        consumer = KafkaConsumer(bootstrap_servers=brokers[2].bootstrap_servers, consumer_timeout_ms=int(WAIT * 1000))
        consumer.assign([TopicPartition("legacy", 0)])
        consumer.seek_to_beginning()
        assert next(iter(consumer)).value == b"hello"
        consumer.close()

        admin.delete_topics(["made"])
        wait_data(zk, "/brokers/topics/made", lambda d: d is None, "deletion")
        assert zk.exists("/config/topics/made") is None and zk.get_children("/admin/delete_topics") == []

        old = first["brokerid"]
        survivor = 3 - old
        brokers.pop(old).stop()
        moved = json.loads(wait_data(zk, "/controller", lambda d: d is not None and
                                     json.loads(d)["brokerid"] == survivor, "the survivor as controller") or b"")
        assert moved["brokerid"] == survivor and zk.get("/controller_epoch")[0] == b"2"
        after = json.loads(wait_data(zk, "/brokers/topics/legacy/partitions/0/state",
                                     lambda d: d is not None and json.loads(d)["isr"] == [survivor], "the ISR shrink")
                           or b"")
        assert after == {"controller_epoch": 2, "leader": survivor, "version": 1,
                         "leader_epoch": 1, "isr": [survivor]}
    finally:
        if admin is not None:
            admin.close()
        for broker in brokers.values():
            broker.stop()


def _api_versions_features(bootstrap: str, version: int = 3) -> tuple[list[Any], int, list[Any]]:
    """(supported features, finalized features epoch, finalized features) of an ApiVersions request."""
    from compat_tests.kafka.conftest import RawKafka
    from wire.kafka.messages.api_versions import ApiVersionsRequest

    with RawKafka.to(bootstrap) as raw:
        resp = raw.request(18, version, ApiVersionsRequest(client_software_name="t", client_software_version="1"))
    assert resp.error_code == 0
    return ([(f.name, f.min_version, f.max_version) for f in resp.supported_features], resp.finalized_features_epoch,
            [(f.name, f.min_version_level, f.max_version_level) for f in resp.finalized_features])


def _wait_epoch(bootstrap: str, epoch: int) -> None:
    """Until the broker's ApiVersions reports ``epoch`` (its own watch on /feature may fire after ours)."""
    deadline = time.monotonic() + WAIT
    while _api_versions_features(bootstrap)[1] != epoch:
        assert time.monotonic() < deadline, f"the broker never reported /feature's version {epoch}"
        time.sleep(0.02)


def test_the_controller_writes_the_feature_znode_and_brokers_report_its_epoch(cluster: Cluster) -> None:
    """Kafka 3.9's ZooKeeper-mode controller on failover (``enableFeatureVersioning``, IBP 3.9 >= 2.7): an absent
    ``/feature`` is created v2, enabled, with no finalized features (``BrokerFeatures.createEmpty()`` in
    ``KafkaServer``); brokers report its znode version as FinalizedFeaturesEpoch in ApiVersions v3+, with no
    supported or finalized features. A disabled ``/feature`` (left by an IBP < 2.7 controller) is switched to
    enabled at the next failover, and the epoch follows the znode's version."""
    from broker.config import BrokerConfig
    from broker.testing import RunningBroker

    def start(n: int) -> RunningBroker:
        return RunningBroker(BrokerConfig(port=0, first_node_id=n, zookeeper_connect=cluster.connect,
                                          zookeeper_session_timeout_ms=SESSION_MS)).start()

    broker = start(1)
    try:
        zk = cluster.zk
        wait_data(zk, "/feature", lambda d: d is not None, "the feature znode")
        data, stat = zk.get("/feature")
        assert data == b'{"features":{},"version":2,"status":1}'
        assert json.loads(data) == {"features": {}, "version": 2, "status": 1}
        assert stat.version == 0 and stat.ephemeralOwner == 0  # persistent, written once
        _wait_epoch(broker.bootstrap_servers, 0)
        for version in (3, 4):
            assert _api_versions_features(broker.bootstrap_servers, version) == ([], 0, [])
        assert _api_versions_features(broker.bootstrap_servers, 2) == ([], -1, [])  # v2 has none of the fields
    finally:
        broker.stop()
    # what a controller with inter.broker.protocol.version < 2.7 leaves: disabled, v1
    zk.set("/feature", b'{"features":{},"version":1,"status":0}')
    broker = start(2)
    try:
        wait_data(zk, "/feature", lambda d: d == b'{"features":{},"version":2,"status":1}', "enabled again")
        assert zk.get("/feature")[1].version == 2
        _wait_epoch(broker.bootstrap_servers, 2)
        assert _api_versions_features(broker.bootstrap_servers) == ([], 2, [])
    finally:
        broker.stop()
