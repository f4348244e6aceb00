"""KIP-848 consumer groups driven by confluent-kafka/librdkafka with ``group.protocol=consumer``.

librdkafka 2.16 speaks only ConsumerGroupHeartbeat v1 in this mode (no
JoinGroup/SyncGroup): the broker assigns partitions (topic ids) and the client
reconciles. One member consumes a whole multi-partition topic; a second member
joins and the partitions are split; the first leaves and the second takes
everything over. Every record is processed exactly once across the members
(each commits synchronously after processing, so a partition handed over
resumes at the committed offset), the committed offsets end at the partitions'
ends, and after every heartbeat the broker checks that no partition is held
(assigned or still being revoked) by two members at once. Also: the admin
client describes and lists the group (ConsumerGroupDescribe); a static member
(group.instance.id) restarts without a rebalance; a regex subscription
("^prefix-.*") picks up a topic created later; the group survives a broker
restart over the same data directory; group.remote.assignor=range picks the
range assignor. The heartbeat interval is 500 ms so that
the handovers, which take a few heartbeats, are quick.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import confluent_kafka
import pytest
from confluent_kafka.admin import AdminClient

from broker.config import BrokerConfig
from broker.state.consumer_groups import ConsumerGroupCoordinator
from broker.state.internal import GROUP_TOPIC
from broker.testing import RunningBroker
from compat_tests.kafka.conftest import WAIT, ApiLog, RawKafka, TopicName, broker_address, create_topic, wait_for
from wire.kafka.messages.find_coordinator import FindCoordinatorRequest
from wire.kafka.messages.offset_fetch import OffsetFetchRequest

PARTITIONS = 6
HEARTBEAT_MS = 500
Consumed = tuple[int, int, bytes]  # (partition, offset, value)


@pytest.fixture
def broker(kafka_broker_factory: Callable[..., RunningBroker]) -> RunningBroker:
    return kafka_broker_factory(group_consumer_heartbeat_interval_ms=HEARTBEAT_MS, num_partitions=PARTITIONS)


@pytest.fixture(params=[1, 3], ids=["one-broker", "three-brokers"])
def brokers(request: pytest.FixtureRequest, kafka_broker_factory: Callable[..., RunningBroker]) -> RunningBroker:
    """One broker, or three (the group's coordinator and the partitions' leaders spread over them)."""
    return kafka_broker_factory(group_consumer_heartbeat_interval_ms=HEARTBEAT_MS, num_partitions=PARTITIONS,
                                brokers=request.param)


class HoldingCheck:
    """Wraps the broker's heartbeat handling: after each heartbeat, every partition must be held by at most one
    member of the group (assigned, or assigned and still being revoked). Violations are collected."""

    def __init__(self, broker: RunningBroker) -> None:
        core = broker.server.core
        assert core is not None
        self.violations: list[str] = []
        self.beats = 0
        coordinator: ConsumerGroupCoordinator = core.consumer_groups
        heartbeat = coordinator.heartbeat

        def checked(*args: Any, **kwargs: Any) -> Any:
            resp = heartbeat(*args, **kwargs)
            self.beats += 1
            for group in coordinator.groups.values():
                holder: dict[tuple[Any, int], str] = {}
                for member in group.members.values():
                    for part in (member.assigned, member.pending_revocation):
                        for tid, ps in part.items():
                            for p in ps:
                                other = holder.setdefault((tid, p), member.member_id)
                                if other != member.member_id:
                                    self.violations.append(f"{group.group_id}: partition {p} of {tid} held by "
                                                           f"{other} and {member.member_id}")
            return resp

        coordinator.heartbeat = checked  # type: ignore[method-assign]


class Member:
    """A confluent-kafka consumer in the group that processes and commits each record synchronously."""

    def __init__(self, bootstrap: str, group: str, topic: str, name: str, instance: str | None = None,
                 assignor: str | None = None) -> None:
        self.name = name
        conf: dict[str, Any] = {
            "bootstrap.servers": bootstrap, "group.id": group, "group.protocol": "consumer",
            "client.id": name, "auto.offset.reset": "earliest", "enable.auto.commit": False,
        }
        if instance is not None:
            conf["group.instance.id"] = instance
        if assignor is not None:
            conf["group.remote.assignor"] = assignor  # sent as ServerAssignor
        self.consumer = confluent_kafka.Consumer(conf)
        self.owned: set[int] = set()
        self.owned_topics: set[tuple[str, int]] = set()
        self.consumed: list[Consumed] = []
        self.consumer.subscribe([topic], on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._revoked)

    def _assigned(self, consumer: Any, partitions: list[confluent_kafka.TopicPartition]) -> None:
        self.owned |= {tp.partition for tp in partitions}
        self.owned_topics |= {(tp.topic, tp.partition) for tp in partitions}

    def _revoked(self, consumer: Any, partitions: list[confluent_kafka.TopicPartition]) -> None:
        self.owned -= {tp.partition for tp in partitions}
        self.owned_topics -= {(tp.topic, tp.partition) for tp in partitions}

    def poll(self, timeout: float = 0.1) -> None:
        msg = self.consumer.poll(timeout)
        if msg is None or msg.error() is not None:
            return
        self.consumed.append((msg.partition(), msg.offset(), msg.value()))
        self.commit(msg)

    def commit(self, msg: Any) -> None:
        """Commit past ``msg``; a commit racing a new member epoch (STALE_MEMBER_EPOCH) is retried."""
        deadline = time.monotonic() + WAIT
        while True:
            try:
                self.consumer.commit(message=msg, asynchronous=False)
                return
            except confluent_kafka.KafkaException as ex:
                if ex.args[0].code() != confluent_kafka.KafkaError.STALE_MEMBER_EPOCH or time.monotonic() > deadline:
                    raise
                self.consumer.poll(0.05)

    def close(self) -> None:
        self.consumer.close()


def produce(bootstrap: str, topic: str, tag: str, count: int) -> set[bytes]:
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap})
    values = {f"{tag}-{i:04d}".encode() for i in range(count)}
    for i, value in enumerate(sorted(values)):
        producer.produce(topic, value=value, partition=i % PARTITIONS)
    assert producer.flush(WAIT) == 0
    return values


def poll_until(members: list[Member], done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: owned "
                                 f"{ {m.name: sorted(m.owned) for m in members} }")
        for m in members:
            m.poll(0.05)


def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The group's committed offsets, asked of its coordinator (FindCoordinator first)."""
    with RawKafka.to(bootstrap) as raw:
        found = raw.request(10, 3, FindCoordinatorRequest(key=group, key_type=0))
    assert found.error_code == 0, found
    with RawKafka(*broker_address(bootstrap, found.node_id)) as raw:
        req = OffsetFetchRequest(groups=[OffsetFetchRequest.OffsetFetchRequestGroup(
            group_id=group, topics=[OffsetFetchRequest.OffsetFetchRequestTopics(topic, list(range(PARTITIONS)))])])
        resp = raw.request(9, 8, req)
    (g,) = resp.groups
    assert g.error_code == 0, g
    return {p.partition_index: p.committed_offset for t in g.topics for p in t.partitions}


def test_members_split_and_hand_over_partitions_with_the_consumer_protocol(brokers: RunningBroker,
                                                                           topic_name: TopicName) -> None:
    broker = brokers
    bootstrap = broker.bootstrap_servers
    api_log = ApiLog(broker)
    topic, group = topic_name(), "kip848-handover"
    create_topic(bootstrap, topic, partitions=PARTITIONS)
    check = HoldingCheck(broker)
    all_values = produce(bootstrap, topic, "first", 60)

    one = Member(bootstrap, group, topic, "one")
    two: Member | None = None
    try:
        poll_until([one], lambda: len(one.consumed) >= 60 and one.owned == set(range(PARTITIONS)),
                   "the only member to consume everything")

        two = Member(bootstrap, group, topic, "two")
        members = [one, two]
        all_values |= produce(bootstrap, topic, "second", 60)
        poll_until(members, lambda: one.owned and two.owned and not one.owned & two.owned
                   and one.owned | two.owned == set(range(PARTITIONS))
                   and len(one.consumed) + len(two.consumed) >= 120, "the partitions to be split")
        assert (len(one.owned), len(two.owned)) == (3, 3)  # the uniform assignor balances them

        one.close()
        members = [two]
        all_values |= produce(bootstrap, topic, "third", 30)
        poll_until(members, lambda: two.owned == set(range(PARTITIONS))
                   and len(one.consumed) + len(two.consumed) >= 150, "the remaining member to take over")
    finally:
        if two is not None:
            two.close()

    consumed = one.consumed + two.consumed
    assert sorted(v for _, _, v in consumed) == sorted(all_values)  # each record exactly once
    assert len({(p, o) for p, o, _ in consumed}) == len(consumed)
    ends: dict[int, int] = {}
    for p, o, _ in consumed:
        ends[p] = max(ends.get(p, 0), o + 1)
    assert committed(bootstrap, group, topic) == ends
    assert check.beats > 0 and check.violations == []
    if len(broker.config.node_ids) > 1:  # the clients found a coordinator other than the first broker
        core = broker.server.core
        assert core is not None
        assert broker.call(core.internal.coordinator, GROUP_TOPIC, group) != 1
    used = api_log.by_key()
    assert used.get(68) == {1} and 11 not in used and 14 not in used  # ConsumerGroupHeartbeat v1, no JoinGroup
    assert 9 in used.get(8, set())  # OffsetCommit v9 with the member epoch


def test_admin_describes_a_consumer_protocol_group(broker: RunningBroker, topic_name: TopicName) -> None:
    bootstrap = broker.bootstrap_servers
    topic, group = topic_name(), "kip848-describe"
    create_topic(bootstrap, topic, partitions=PARTITIONS)
    member = Member(bootstrap, group, topic, "solo")
    try:
        poll_until([member], lambda: member.owned == set(range(PARTITIONS)), "the assignment")
        admin = AdminClient({"bootstrap.servers": bootstrap})

        def describe() -> Any:
            desc = admin.describe_consumer_groups([group])[group].result(WAIT)
            return desc if str(desc.state).endswith("STABLE") else None

        desc = wait_for(describe, what="a stable group")
        assert desc.group_id == group and not desc.is_simple_consumer_group
        assert str(desc.type).endswith("CONSUMER")
        (m,) = desc.members
        assert m.client_id == "solo"
        assert {tp.partition for tp in m.assignment.topic_partitions} == set(range(PARTITIONS))
        listed = admin.list_consumer_groups().result(WAIT)
        assert group in {g.group_id for g in listed.valid}
    finally:
        member.close()


def group_state(broker: RunningBroker, group: str) -> tuple[int, dict[str, tuple[str | None, set[int]]]]:
    """(group epoch, member id -> (instance id, assigned partitions)), read inside the broker's thread."""
    def read() -> tuple[int, dict[str, tuple[str | None, set[int]]]]:
        core = broker.server.core
        assert core is not None
        g = core.consumer_groups.get(group)
        assert g is not None
        return g.group_epoch, {m.member_id: (m.instance_id, {p for ps in m.assigned.values() for p in ps})
                               for m in g.members.values()}
    return broker.call(read)


def test_a_static_member_restarts_without_a_rebalance(broker: RunningBroker, topic_name: TopicName) -> None:
    bootstrap = broker.bootstrap_servers
    topic, group = topic_name(), "kip848-static"
    create_topic(bootstrap, topic, partitions=PARTITIONS)
    static = Member(bootstrap, group, topic, "static", instance="inst-1")
    dynamic = Member(bootstrap, group, topic, "dynamic")
    try:
        poll_until([static, dynamic], lambda: len(static.owned) == 3 and len(dynamic.owned) == 3,
                   "the partitions to be split")
        kept = set(static.owned)
        epoch, members = group_state(broker, group)
        static.close()  # a static member leaves with epoch -2: it keeps its partitions, nobody rebalances

        def left_temporarily() -> bool:
            def read() -> bool:
                core = broker.server.core
                assert core is not None
                g = core.consumer_groups.get(group)
                return g is not None and any(m.member_epoch == -2 for m in g.members.values())
            return broker.call(read)

        wait_for(left_temporarily, what="the static member's leave (epoch -2)")
        after_leave = group_state(broker, group)
        assert after_leave[0] == epoch and len(after_leave[1]) == 2
        restarted = Member(bootstrap, group, topic, "static-again", instance="inst-1")
        try:
            poll_until([restarted, dynamic], lambda: restarted.owned == kept, "the same partitions back")
            epoch_after, members_after = group_state(broker, group)
            assert epoch_after == epoch  # no rebalance at all
            assert {iid: ps for iid, ps in members_after.values()} == {iid: ps for iid, ps in members.values()}
            assert dynamic.owned == set(range(PARTITIONS)) - kept
        finally:
            restarted.close()
    finally:
        dynamic.close()


def test_a_regex_subscription_follows_new_matching_topics(broker: RunningBroker, topic_name: TopicName) -> None:
    bootstrap = broker.bootstrap_servers
    prefix = topic_name("rx")
    first, later, other = f"{prefix}-a", f"{prefix}-b", topic_name("other")
    for name in (first, other):
        create_topic(bootstrap, name, partitions=2)
    member = Member(bootstrap, "kip848-regex", f"^{prefix.replace('.', '[.]')}-.*", "rx")
    try:
        poll_until([member], lambda: member.owned_topics == {(first, 0), (first, 1)}, "the matching topic")
        create_topic(bootstrap, later, partitions=3)
        poll_until([member], lambda: member.owned_topics == {(first, 0), (first, 1)} | {(later, p) for p in range(3)},
                   "the new matching topic")
    finally:
        member.close()


def test_a_consumer_protocol_group_survives_a_broker_restart(tmp_path: Path, topic_name: TopicName) -> None:
    """The group is rebuilt from ``__consumer_offsets`` by a new broker on the same port and data directory: the
    member keeps its id, epoch and partitions (no rebalance) and carries on after its committed offsets."""
    def start(port: int) -> RunningBroker:
        return RunningBroker(BrokerConfig(port=port, data_dir=tmp_path, offsets_topic_num_partitions=5,
                                          group_consumer_heartbeat_interval_ms=HEARTBEAT_MS)).start()

    first = start(0)
    bootstrap = first.bootstrap_servers
    port = int(bootstrap.rpartition(":")[2])
    topic, group = topic_name(), "kip848-restart"
    member: Member | None = None
    try:
        create_topic(bootstrap, topic, partitions=PARTITIONS)
        before = produce(bootstrap, topic, "before", 30)
        member = Member(bootstrap, group, topic, "durable")
        m = member
        poll_until([m], lambda: len(m.consumed) >= 30 and m.owned == set(range(PARTITIONS)), "everything")
        state_before = group_state(first, group)
    finally:
        first.stop()
    assert member is not None
    second = start(port)
    try:
        assert group_state(second, group) == state_before  # rebuilt from the log, before any client spoke
        after = produce(bootstrap, topic, "after", 30)
        m = member
        poll_until([m], lambda: len(m.consumed) >= 60, "the records produced after the restart")
        assert sorted(v for _, _, v in m.consumed) == sorted(before | after)  # nothing twice, nothing lost
        assert group_state(second, group) == state_before  # same member, same epoch, same partitions
        assert m.owned == set(range(PARTITIONS))
        member.close()
        member = None
    finally:
        if member is not None:
            member.close()
        second.stop()


def test_the_range_assignor_chosen_by_the_client(broker: RunningBroker, topic_name: TopicName) -> None:
    bootstrap = broker.bootstrap_servers
    topic, group = topic_name(), "kip848-range"
    create_topic(bootstrap, topic, partitions=PARTITIONS)
    members = [Member(bootstrap, group, topic, f"r{i}", assignor="range") for i in range(2)]
    try:
        poll_until(members, lambda: all(len(m.owned) == 3 for m in members), "the partitions to be split")
        assert sorted(sorted(m.owned) for m in members) == [[0, 1, 2], [3, 4, 5]]  # contiguous ranges

        def read() -> str | None:
            core = broker.server.core
            assert core is not None
            g = core.consumer_groups.get(group)
            return None if g is None else g.preferred_assignor("uniform")
        assert broker.call(read) == "range"
    finally:
        for m in members:
            m.close()
