"""Classic consumer groups driven by unmodified clients: kafka-python, confluent-kafka, aiokafka and kafkajs.

Each scenario produces records it fully determines, lets group members consume them while members join and
leave, and checks the outcome exactly: every record is processed once across all members (each member commits
synchronously after processing, so a partition handed over resumes at the committed offset), the committed
offsets end at the partitions' ends, and the group's generation/assignment history is what the protocol
promises (an incremental cooperative hand-over; a static member's restart without a rebalance).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import confluent_kafka
import pytest
from confluent_kafka import ConsumerGroupState, ConsumerGroupType
from confluent_kafka.admin import AdminClient
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.coordinator.assignors.cooperative_sticky import CooperativeStickyAssignor
from kafka.coordinator.assignors.range import RangePartitionAssignor

from broker.testing import RunningBroker
from compat_tests.kafka.conftest import WAIT, ApiLog, RawKafka, TopicName, create_topic, ensure_node_modules, wait_for
from wire.kafka.messages.describe_groups import DescribeGroupsRequest
from wire.kafka.messages.list_offsets import ListOffsetsRequest
from wire.kafka.messages.offset_fetch import OffsetFetchRequest

PARTITIONS = 6
SESSION_MS = 6000  # the broker's group.min.session.timeout.ms
Consumed = tuple[int, int, bytes]  # (partition, offset, value)


@pytest.fixture
def broker(kafka_broker_factory: Callable[..., RunningBroker]) -> RunningBroker:
    return kafka_broker_factory(group_initial_rebalance_delay_ms=0, num_partitions=PARTITIONS)


def produce(bootstrap: str, topic: str, tag: str, count: int) -> set[bytes]:
    """``count`` records spread over the partitions (acknowledged); their values."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, enable_idempotence=False)
    values = {f"{tag}-{i:04d}".encode() for i in range(count)}
    for i, value in enumerate(sorted(values)):
        producer.send(topic, value=value, partition=i % PARTITIONS)
    producer.flush(timeout=WAIT)
    producer.close(timeout=WAIT)
    return values


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    with RawKafka.to(bootstrap) as raw:
        resp = raw.request(2, 7, ListOffsetsRequest(replica_id=-1, topics=[ListOffsetsRequest.ListOffsetsTopic(
            topic, [ListOffsetsRequest.ListOffsetsPartition(p, timestamp=-1) for p in range(PARTITIONS)])]))
    return {p.partition_index: p.offset for p in resp.topics[0].partitions}


def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    with RawKafka.to(bootstrap) as raw:
        resp = raw.request(9, 7, OffsetFetchRequest(group_id=group, topics=[
            OffsetFetchRequest.OffsetFetchRequestTopic(topic, list(range(PARTITIONS)))]))
    return {p.partition_index: p.committed_offset for t in resp.topics for p in t.partitions}


def describe(bootstrap: str, group: str) -> Any:
    with RawKafka.to(bootstrap) as raw:
        return raw.request(15, 5, DescribeGroupsRequest(groups=[group])).groups[0]


def generation(broker: RunningBroker, group: str) -> int:
    core = broker.server.core
    assert core is not None
    found = core.groups.get(group)
    assert found is not None
    return found.generation_id


@dataclass
class Member:
    """One consumer in a thread: poll, record, commit synchronously, until stopped; then close."""

    name: str
    poll: Callable[[], list[Consumed]]
    commit: Callable[[], None]
    close: Callable[[], None]
    assignment: Callable[[], set[int]]
    consumed: list[Consumed] = field(default_factory=list)
    assignments: list[frozenset[int]] = field(default_factory=list)  # each distinct assignment seen, in order
    error: BaseException | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> Member:
        self.thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self.thread.start()
        return self

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                batch = self.poll()
                self.consumed.extend(batch)
                if batch:
                    self.commit()
                current = frozenset(self.assignment())
                if not self.assignments or self.assignments[-1] != current:
                    self.assignments.append(current)
            self.close()
        except BaseException as exc:  # reported by the test thread
            self.error = exc

    def leave(self) -> None:
        self.stop.set()
        assert self.thread is not None
        self.thread.join(WAIT)
        assert not self.thread.is_alive(), f"{self.name} did not close"
        assert self.error is None, f"{self.name}: {self.error!r}"

    @property
    def owned(self) -> frozenset[int]:
        return self.assignments[-1] if self.assignments else frozenset()


def kafka_python_member(name: str, bootstrap: str, topic: str, group: str, assignor: Any = RangePartitionAssignor,
                        listener: ConsumerRebalanceListener | None = None) -> Member:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, client_id=name,
                             enable_auto_commit=False, auto_offset_reset="earliest",
                             partition_assignment_strategy=[assignor], session_timeout_ms=SESSION_MS,
                             heartbeat_interval_ms=500, max_poll_records=5)
    consumer.subscribe([topic], listener=listener)

    def poll() -> list[Consumed]:
        got = consumer.poll(timeout_ms=100)
        return [(r.partition, r.offset, r.value) for recs in got.values() for r in recs]

    return Member(name, poll, lambda: consumer.commit(), lambda: consumer.close(),
                  lambda: {tp.partition for tp in consumer.assignment()})


def confluent_member(name: str, bootstrap: str, topic: str, group: str, strategy: str = "range",
                     instance: str | None = None, events: list[tuple[str, frozenset[int]]] | None = None) -> Member:
    conf: dict[str, Any] = {"bootstrap.servers": bootstrap, "group.id": group, "client.id": name,
                            "enable.auto.commit": False, "auto.offset.reset": "earliest",
                            "partition.assignment.strategy": strategy, "session.timeout.ms": SESSION_MS,
                            "heartbeat.interval.ms": 500, "topic.metadata.refresh.interval.ms": 1000}
    if instance is not None:
        conf["group.instance.id"] = instance
    consumer = confluent_kafka.Consumer(conf)
    seen = events if events is not None else []

    def on_assign(c: Any, partitions: list[Any]) -> None:
        seen.append(("assign", frozenset(p.partition for p in partitions)))

    def on_revoke(c: Any, partitions: list[Any]) -> None:
        seen.append(("revoke", frozenset(p.partition for p in partitions)))

    consumer.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)

    def poll() -> list[Consumed]:
        out: list[Consumed] = []
        for msg in consumer.consume(num_messages=5, timeout=0.1):
            partition, offset, value = msg.partition(), msg.offset(), msg.value()
            if msg.error() is None and partition is not None and offset is not None and value is not None:
                out.append((partition, offset, value))
        return out

    def commit() -> None:
        consumer.commit(asynchronous=False)

    return Member(name, poll, commit, consumer.close,
                  lambda: {tp.partition for tp in consumer.assignment()})


def consumed_values(members: list[Member]) -> list[bytes]:
    return [value for m in members for _, _, value in m.consumed]


def wait_consumed(members: list[Member], values: set[bytes], what: str) -> None:
    def done() -> bool:
        for m in members:
            assert m.error is None, f"{m.name}: {m.error!r}"
        return set(consumed_values(members)) >= values
    wait_for(done, what=what)


def assert_exactly_once(members: list[Member], values: set[bytes], bootstrap: str, group: str, topic: str) -> None:
    got = consumed_values(members)
    duplicates = {v for v in got if got.count(v) > 1}
    assert not duplicates, f"consumed twice: {sorted(duplicates)[:5]}"
    assert set(got) == values
    assert wait_for(lambda: committed(bootstrap, group, topic) == end_offsets(bootstrap, topic),
                    what="commits at the end of every partition")


def test_kafka_python_and_confluent_share_a_group_and_take_over_from_a_leaving_member(
        broker: RunningBroker, topic_name: TopicName) -> None:
    bootstrap, group = broker.bootstrap_servers, topic_name("group")
    topic = topic_name()
    create_topic(bootstrap, topic, PARTITIONS)
    api_log = ApiLog(broker)
    first = produce(bootstrap, topic, "first", 60)
    members = [kafka_python_member("kp-1", bootstrap, topic, group).start(),
               confluent_member("ck-1", bootstrap, topic, group).start(),
               kafka_python_member("kp-2", bootstrap, topic, group).start()]
    wait_for(lambda: all(len(m.owned) == 2 for m in members), what="three members with two partitions each")
    wait_consumed(members, first, "the first records")
    owned_by_leaver = members[1].owned
    members[1].leave()  # confluent-kafka closes: LeaveGroup, the others rebalance
    wait_for(lambda: members[0].owned | members[2].owned == frozenset(range(PARTITIONS)),
             what="the remaining members to take over every partition")
    second = produce(bootstrap, topic, "second", 60)
    wait_consumed(members, first | second, "the second records")
    takers = {p for m in (members[0], members[2]) for p, _, v in m.consumed if v in second}
    assert owned_by_leaver <= takers
    for m in (members[0], members[2]):
        m.leave()
    assert_exactly_once(members, first | second, bootstrap, group, topic)
    joins = api_log.requests(11)
    assert {p.name for j in joins for p in j.protocols} == {"range"}
    assert describe(bootstrap, group).group_state == "Empty"
    used = api_log.by_key()
    # JoinGroup/SyncGroup/LeaveGroup at the versions CLIENTS.md records (kafka-python 7/5/5, librdkafka 5/3/1)
    assert (used[11], used[14], used[13]) == ({5, 7}, {3, 5}, {1, 5}) and used[12] <= {3, 4}


class RecordingListener(ConsumerRebalanceListener):
    def __init__(self, events: list[tuple[str, frozenset[int]]]) -> None:
        self.events = events

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.events.append(("revoke", frozenset(tp.partition for tp in revoked)))

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.events.append(("assign", frozenset(tp.partition for tp in assigned)))


@pytest.mark.parametrize("client", ["kafka-python", "confluent-kafka"])
def test_cooperative_sticky_hands_over_only_the_moved_partitions(
        client: str, broker: RunningBroker, topic_name: TopicName) -> None:
    bootstrap, group, topic = broker.bootstrap_servers, topic_name("group"), topic_name()
    create_topic(bootstrap, topic, PARTITIONS)
    first = produce(bootstrap, topic, "first", 30)
    events: dict[str, list[tuple[str, frozenset[int]]]] = {"one": [], "two": []}

    def member(name: str) -> Member:
        if client == "kafka-python":
            return kafka_python_member(name, bootstrap, topic, group, assignor=CooperativeStickyAssignor,
                                       listener=RecordingListener(events[name]))
        return confluent_member(name, bootstrap, topic, group, strategy="cooperative-sticky", events=events[name])

    one = member("one").start()
    wait_for(lambda: one.owned == frozenset(range(PARTITIONS)), what="the first member owning every partition")
    wait_consumed([one], first, "the first records")
    two = member("two").start()
    wait_for(lambda: len(one.owned) == len(two.owned) == PARTITIONS // 2, what="the partitions split 3/3")
    second = produce(bootstrap, topic, "second", 30)
    wait_consumed([one, two], first | second, "the second records")
    # incremental: the first member gave up only the three partitions that moved, and never all of them
    revoked = [parts for kind, parts in events["one"] if kind == "revoke" and parts]
    assert revoked == [frozenset(range(PARTITIONS)) - one.owned]
    assert all(owned for owned in one.assignments[1:])
    moved = revoked[0]
    two.leave()  # the partitions come back to the first member, again without revoking the ones it kept
    wait_for(lambda: one.owned == frozenset(range(PARTITIONS)), what="the first member owning every partition again")
    third = produce(bootstrap, topic, "third", 30)
    wait_consumed([one, two], first | second | third, "the third records")
    assert [parts for kind, parts in events["one"] if kind == "revoke" and parts] == [moved]
    assert ("assign", moved) in events["one"]  # the moved partitions were added back incrementally
    one.leave()
    assert_exactly_once([one, two], first | second | third, bootstrap, group, topic)
    assert generation(broker, group) >= 4  # join, two rounds for the hand-over, and the leave (plus an Empty one)


def test_static_member_restarts_within_its_session_without_a_rebalance(
        broker: RunningBroker, topic_name: TopicName) -> None:
    bootstrap, group, topic = broker.bootstrap_servers, topic_name("group"), topic_name()
    create_topic(bootstrap, topic, PARTITIONS)
    first = produce(bootstrap, topic, "first", 30)
    other_events: list[tuple[str, frozenset[int]]] = []
    static = confluent_member("static", bootstrap, topic, group, instance="static-1").start()
    other = confluent_member("other", bootstrap, topic, group, events=other_events).start()
    wait_for(lambda: len(static.owned) == len(other.owned) == PARTITIONS // 2, what="the partitions split 3/3")
    wait_consumed([static, other], first, "the first records")
    stable_generation = generation(broker, group)
    before = describe(bootstrap, group)
    assert before.group_state == "Stable"
    static_before = next(m for m in before.members if m.group_instance_id == "static-1")
    owned_before, other_before, other_event_count = static.owned, other.owned, len(other_events)
    static.leave()  # a static member sends no LeaveGroup: the group keeps its place until the session ends
    assert describe(bootstrap, group).group_state == "Stable"
    restarted = confluent_member("static", bootstrap, topic, group, instance="static-1").start()
    wait_for(lambda: restarted.owned == owned_before, what="the restarted static member's old partitions")
    second = produce(bootstrap, topic, "second", 30)
    wait_consumed([static, restarted, other], first | second, "the second records")
    after = describe(bootstrap, group)
    static_after = next(m for m in after.members if m.group_instance_id == "static-1")
    assert static_after.member_id != static_before.member_id  # a new member id took over the instance id
    assert static_after.member_assignment == static_before.member_assignment
    assert (after.group_state, generation(broker, group)) == ("Stable", stable_generation)
    assert other.owned == other_before and len(other_events) == other_event_count  # no rebalance reached it
    other.leave()
    restarted.leave()
    assert_exactly_once([static, restarted, other], first | second, bootstrap, group, topic)


def test_aiokafka_members_split_and_take_over(broker: RunningBroker, topic_name: TopicName) -> None:
    from aiokafka import AIOKafkaConsumer

    bootstrap, group, topic = broker.bootstrap_servers, topic_name("group"), topic_name()
    create_topic(bootstrap, topic, PARTITIONS)
    first = produce(bootstrap, topic, "first", 30)
    consumed: dict[str, list[Consumed]] = {"a": [], "b": []}
    second: set[bytes] = set()

    async def run() -> None:
        def consumer() -> AIOKafkaConsumer:
            return AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                                    auto_offset_reset="earliest", session_timeout_ms=SESSION_MS,
                                    heartbeat_interval_ms=500)

        members = {"a": consumer(), "b": consumer()}
        stop = {"a": asyncio.Event(), "b": asyncio.Event()}

        async def loop(name: str) -> None:
            c = members[name]
            await c.start()
            try:
                while not stop[name].is_set():
                    got = await c.getmany(timeout_ms=100)
                    batch = [(r.partition, r.offset, r.value) for recs in got.values() for r in recs]
                    consumed[name].extend(batch)
                    if batch:
                        await c.commit()
            finally:
                await c.stop()

        async def until(check: Callable[[], bool], what: str) -> None:
            deadline = time.monotonic() + WAIT
            while not check():
                assert time.monotonic() < deadline, f"timed out waiting for {what}"
                await asyncio.sleep(0.05)

        def values() -> set[bytes]:
            return {v for recs in consumed.values() for _, _, v in recs}

        tasks = [asyncio.create_task(loop(name)) for name in members]
        await until(lambda: all(len(c.assignment()) == PARTITIONS // 2 for c in members.values()),
                    "the partitions split 3/3")
        await until(lambda: values() >= first, "the first records")
        stop["b"].set()
        await tasks[1]
        await until(lambda: len(members["a"].assignment()) == PARTITIONS, "the remaining member owning all")
        second.update(await asyncio.to_thread(produce, bootstrap, topic, "second", 30))
        await until(lambda: values() >= first | second, "the second records")
        stop["a"].set()
        await tasks[0]

    asyncio.run(asyncio.wait_for(run(), 3 * WAIT))
    got = [v for recs in consumed.values() for _, _, v in recs]
    assert sorted(got) == sorted(first | second)  # once each
    assert {p for p, _, v in consumed["a"] if v in second} == set(range(PARTITIONS))
    assert committed(bootstrap, group, topic) == end_offsets(bootstrap, topic)


def test_kafkajs_members_split_a_topic_with_their_own_assigner(broker: RunningBroker, topic_name: TopicName) -> None:
    driver = ensure_node_modules()
    bootstrap, group, topic = broker.bootstrap_servers, topic_name("group"), topic_name()
    create_topic(bootstrap, topic, PARTITIONS)
    api_log = ApiLog(broker)
    count = 60
    spec = {"brokers": [bootstrap], "topic": topic, "groupId": group, "members": 2, "expect": count,
            "timeoutMs": int(WAIT * 1000)}
    proc = subprocess.Popen(["node", str(driver), "group-consume", json.dumps(spec)], cwd=driver.parent,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        split = json.loads(proc.stdout.readline())  # blocks until the two members share the partitions
        assert split["step"] == "split", (split, proc.stderr.read() if proc.stderr else "")
        shares = [set(a) for a in split["result"].values()]
        assert len(shares) == 2 and shares[0] | shares[1] == set(range(PARTITIONS)) and not shares[0] & shares[1]
        values = produce(bootstrap, topic, "kjs", count)
        stdout, stderr = proc.communicate(timeout=WAIT * 2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, (stdout, stderr)
    steps = {s["step"]: s["result"] for s in map(json.loads, stdout.splitlines())}
    got = steps["consumed"]
    assert sorted(c["value"].encode() for c in got) == sorted(values)  # every record once
    by_member = {m: {c["partition"] for c in got if c["member"] == int(m)} for m in split["result"]}
    assert by_member == {m: set(a) for m, a in split["result"].items()}  # each member read its own share
    assert committed(bootstrap, group, topic) == end_offsets(bootstrap, topic)
    assert {p.name for j in api_log.requests(11) for p in j.protocols} == {"RoundRobinAssigner"}
    assert {j["groupProtocol"] for j in steps["joins"]} == {"RoundRobinAssigner"}
    used = api_log.by_key()
    assert (used[11], used[14]) == ({5}, {3}) and used[13] <= {3}


def test_admin_clients_list_describe_and_delete_a_classic_group_across_three_brokers(
        kafka_broker_factory: Callable[..., RunningBroker], topic_name: TopicName) -> None:
    cluster = kafka_broker_factory(brokers=3, group_initial_rebalance_delay_ms=0, num_partitions=PARTITIONS)
    bootstrap, group, topic = cluster.bootstrap_servers, topic_name("group"), topic_name()
    create_topic(bootstrap, topic, PARTITIONS)
    values = produce(bootstrap, topic, "admin", 12)
    members = [kafka_python_member("kp", bootstrap, topic, group).start(),
               confluent_member("ck", bootstrap, topic, group).start()]
    wait_for(lambda: all(len(m.owned) == PARTITIONS // 2 for m in members), what="the partitions split 3/3")
    wait_consumed(members, values, "the records")
    kp_admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="kp-admin")
    ck_admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        # kafka-python asks every broker (ListGroups v5); only the coordinator lists the group
        listed = [g for g in kp_admin.list_groups() if g["group_id"] == group]
        assert listed == [{"group_id": group, "protocol_type": "consumer", "group_state": "Stable",
                           "group_type": "classic"}]
        assert [g["group_id"] for g in kp_admin.list_groups(states_filter=["Stable"]) if g["group_id"] == group]
        assert not [g for g in kp_admin.list_groups(types_filter=["consumer"]) if g["group_id"] == group]
        described = kp_admin.describe_groups([group])[group]
        assert (described["error"], described["group_state"], described["protocol_type"],
                described["protocol_data"]) == (None, "Stable", "consumer", "range")
        assert {m["client_id"] for m in described["members"]} == {"kp", "ck"}
        assert all(m["member_metadata"]["topics"] == [topic] for m in described["members"])
        assigned = {p for m in described["members"] for t in m["member_assignment"]["assigned_partitions"]
                    for p in t["partitions"]}
        assert assigned == set(range(PARTITIONS))
        assert kp_admin.delete_groups([group]) == {group: "NonEmptyGroupError"}
        # librdkafka: ListGroups v5 to every broker, DescribeGroups v5 at the coordinator
        ck_listed = [g for g in ck_admin.list_consumer_groups().result(WAIT).valid if g.group_id == group]
        assert [(g.is_simple_consumer_group, g.state, g.type) for g in ck_listed] == [
            (False, ConsumerGroupState.STABLE, ConsumerGroupType.CLASSIC)]
        ck_described = ck_admin.describe_consumer_groups([group])[group].result(WAIT)
        assert (ck_described.state, ck_described.partition_assignor, ck_described.is_simple_consumer_group) == (
            ConsumerGroupState.STABLE, "range", False)
        assert sorted(m.client_id for m in ck_described.members) == ["ck", "kp"]
        for m in members:
            m.leave()
        assert wait_for(lambda: describe_at_coordinator(kp_admin, group) == "Empty", what="the group to be Empty")
        assert kp_admin.delete_groups([group]) == {group: "OK"}
        assert not [g for g in kp_admin.list_groups() if g["group_id"] == group]
        gone = kp_admin.describe_groups([group])[group]
        assert gone["group_state"] == "Dead" and gone["error"] is not None  # v6: GROUP_ID_NOT_FOUND
        core = cluster.server.core
        assert core is not None and not core.offsets.has_offsets(group)  # the committed offsets went too
    finally:
        kp_admin.close()
        for m in members:
            m.stop.set()


def describe_at_coordinator(admin: Any, group: str) -> str:
    return str(admin.describe_groups([group])[group]["group_state"])
