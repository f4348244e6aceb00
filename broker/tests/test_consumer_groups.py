"""KIP-848 consumer groups through BrokerCore: ConsumerGroupHeartbeat/ConsumerGroupDescribe, epochs, assignors,
revocation before reassignment, leaving, static membership, fencing, session expiry, regex subscriptions,
offset-commit validation and restore from the internal log."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from broker.core import BrokerCore
from broker.state.consumer_groups import MemberSpec, range_assignor, uniform_assignor
from broker.state.internal import GROUP_TOPIC
from broker.tests.test_core import ctx, make_core
from wire.kafka.codec import decode_response, encode_response
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.consumer_group_describe import ConsumerGroupDescribeRequest
from wire.kafka.messages.consumer_group_heartbeat import ConsumerGroupHeartbeatRequest
from wire.kafka.messages.delete_groups import DeleteGroupsRequest
from wire.kafka.messages.join_group import JoinGroupRequest
from wire.kafka.messages.list_groups import ListGroupsRequest
from wire.kafka.messages.offset_commit import OffsetCommitRequest

HB = ConsumerGroupHeartbeatRequest
SESSION_MS = 45000
Owned = dict[str, set[int]]


@dataclass
class Beat:
    error: int
    member_id: str | None
    epoch: int
    interval: int
    assignment: Owned | None  # None: no assignment in the response
    message: str | None = None


def owned_list(core: BrokerCore, owned: Owned | None) -> list[HB.TopicPartitions] | None:
    if owned is None:
        return None
    return [HB.TopicPartitions(core.cluster.topics[t].topic_id, sorted(ps)) for t, ps in sorted(owned.items())]


def hb(core: BrokerCore, member: str, epoch: int, topics: list[str] | None = None, *, group: str = "g",
       owned: Owned | None = None, regex: str | None = None, rto: int | None = None, instance: str | None = None,
       assignor: str | None = None, version: int = 1, now: int = 0, node_id: int = 1, **fields: Any) -> Beat:
    """One heartbeat; on a join (epoch 0) the full request (rebalance timeout, empty owned list) is implied."""
    if epoch == 0:
        owned = {} if owned is None else owned
        rto = 300000 if rto is None else rto
    req = HB(group_id=group, member_id=member, member_epoch=epoch, instance_id=instance,
             rebalance_timeout_ms=-1 if rto is None else rto, subscribed_topic_names=topics,
             subscribed_topic_regex=regex, server_assignor=assignor, topic_partitions=owned_list(core, owned), **fields)
    resp = core.handle(ctx(68, version, node_id), req, now)
    _, resp = decode_response(encode_response(1, 68, version, resp), 68, version)  # what goes on the wire
    names = {t.topic_id: t.name for t in core.cluster.topics.values()}
    assignment = None if resp.assignment is None else {
        names[tp.topic_id]: set(tp.partitions) for tp in resp.assignment.topic_partitions}
    return Beat(resp.error_code, resp.member_id, resp.member_epoch, resp.heartbeat_interval_ms, assignment,
                resp.error_message)


def held(core: BrokerCore, group: str = "g") -> dict[str, Owned]:
    """member -> partitions it holds (assigned or still revoking), by topic name."""
    g = core.consumer_groups.get(group)
    assert g is not None
    names = {t.topic_id: t.name for t in core.cluster.topics.values()}
    out: dict[str, Owned] = {}
    for m in g.members.values():
        parts: Owned = {}
        for a in (m.assigned, m.pending_revocation):
            for tid, ps in a.items():
                parts.setdefault(names[tid], set()).update(ps)
        out[m.member_id] = parts
    return out


def assert_exclusive(core: BrokerCore, group: str = "g") -> None:
    seen: dict[tuple[str, int], str] = {}
    for member, parts in held(core, group).items():
        for topic, ps in parts.items():
            for p in ps:
                assert (topic, p) not in seen, f"{topic}-{p} held by {seen[(topic, p)]} and {member}"
                seen[(topic, p)] = member


def state(core: BrokerCore, group: str = "g") -> str:
    g = core.consumer_groups.get(group)
    assert g is not None
    return g.state


def test_a_member_joins_and_gets_every_partition_with_the_group_epoch() -> None:
    core = make_core(group_consumer_heartbeat_interval_ms=1234)
    core.cluster.create_topic("t", 3, 1)
    joined = hb(core, "m1", 0, ["t"])
    assert (joined.error, joined.member_id, joined.epoch, joined.interval) == (0, "m1", 1, 1234)
    assert joined.assignment == {"t": {0, 1, 2}}
    g = core.consumer_groups.get("g")
    assert g is not None and (g.group_epoch, g.assignment_epoch, g.state) == (1, 1, "Stable")
    written = core.internal.partition_of(GROUP_TOPIC, "g").log.next_offset
    steady = hb(core, "m1", 1, owned={"t": {0, 1, 2}})
    assert core.internal.partition_of(GROUP_TOPIC, "g").log.next_offset == written  # nothing changed, nothing written
    assert (steady.error, steady.epoch, steady.assignment) == (0, 1, None)  # nothing changed: no assignment
    full = hb(core, "m1", 1, ["t"], owned={"t": {0, 1, 2}}, rto=300000)
    assert full.assignment == {"t": {0, 1, 2}}  # a full request always gets it
    listing = core.consumer_groups.listing()
    assert [(x.group_id, x.protocol_type, x.state, x.group_type) for x in listing] == [
        ("g", "consumer", "Stable", "consumer")]


def test_v0_lets_the_server_name_the_member_and_v1_requires_the_clients_id() -> None:
    core = make_core()
    core.cluster.create_topic("t", 1, 1)
    v0 = hb(core, "", 0, ["t"], version=0)
    assert v0.error == 0 and v0.member_id and len(v0.member_id) == 22
    v1 = hb(core, "", 0, ["t"], version=1)
    assert (v1.error, v1.message) == (ErrorCode.INVALID_REQUEST, "MemberId can't be empty.")


def test_invalid_requests_and_unknown_groups_or_members() -> None:
    core = make_core(brokers=3, offsets_topic_num_partitions=3)
    core.cluster.create_topic("t", 1, 1)
    node = core.internal.coordinator(GROUP_TOPIC, "g")
    other = next(n for n in (1, 2, 3) if n != node)

    def err(*a: Any, **kw: Any) -> tuple[int, str | None]:
        kw.setdefault("node_id", node)
        b = hb(core, *a, **kw)
        return b.error, b.message

    assert err("m", 0, ["t"], group="") == (ErrorCode.INVALID_REQUEST, "GroupId can't be empty.")
    assert err("m", -3) == (ErrorCode.INVALID_REQUEST, "MemberEpoch is invalid.")
    assert err("m", 0, ["t"], owned={"t": {0}}) == (ErrorCode.INVALID_REQUEST,
                                                     "TopicPartitions must be empty when (re-)joining.")
    assert err("m", 0, None)[0] == ErrorCode.INVALID_REQUEST
    assert err("m", -2) == (ErrorCode.INVALID_REQUEST, "InstanceId can't be null.")
    assert err("m", 0, ["t"], instance=" ") == (ErrorCode.INVALID_REQUEST, "InstanceId can't be empty.")
    assert err("m", 0, ["t"], assignor="sticky") == (
        ErrorCode.UNSUPPORTED_ASSIGNOR, "ServerAssignor sticky is not supported. Supported assignors: uniform, range.")
    assert err("m", 0, ["t"], node_id=other)[0] == ErrorCode.NOT_COORDINATOR
    assert err("m", 3, owned={}) == (ErrorCode.GROUP_ID_NOT_FOUND, "Consumer group g not found.")
    assert err("m", 0, ["t"])[0] == 0
    assert err("x", 1, owned={})[0] == ErrorCode.UNKNOWN_MEMBER_ID
    assert err("x", -1)[0] == ErrorCode.UNKNOWN_MEMBER_ID
    assert core.consumer_groups.get("g") is not None and len(core.consumer_groups.get("g").members) == 1  # type: ignore[union-attr]


def test_partitions_move_only_after_their_owner_revoked_them() -> None:
    core = make_core()
    core.cluster.create_topic("t", 4, 1)
    assert hb(core, "m1", 0, ["t"]).assignment == {"t": {0, 1, 2, 3}}
    second = hb(core, "m2", 0, ["t"])
    # the target splits the topic, but everything m2 should get is still m1's: m2 waits at the new epoch
    assert (second.error, second.epoch, second.assignment) == (0, 2, {})
    g = core.consumer_groups.get("g")
    assert g is not None and g.members["m2"].state == "unreleased_partitions" and state(core) == "Reconciling"
    target_m1 = {p for ps in g.target["m1"].values() for p in ps}
    assert len(target_m1) == 2
    assert_exclusive(core)
    # m1 is asked to revoke two partitions and stays at its epoch until it no longer reports them
    revoke = hb(core, "m1", 1, owned={"t": {0, 1, 2, 3}})
    assert (revoke.epoch, revoke.assignment) == (1, {"t": target_m1})
    assert g.members["m1"].state == "unrevoked_partitions"
    assert hb(core, "m2", 2, owned={}).assignment is None  # still held by m1
    assert hb(core, "m1", 1, owned={"t": {0, 1, 2, 3}}).epoch == 1  # not yet revoked
    assert_exclusive(core)
    done = hb(core, "m1", 1, owned={"t": target_m1})
    assert (done.epoch, done.assignment) == (2, None)
    assert g.members["m1"].state == "stable"
    got = hb(core, "m2", 2, owned={})
    assert got.assignment == {"t": {0, 1, 2, 3} - target_m1}
    assert_exclusive(core)
    assert state(core) == "Stable"


def test_a_lost_response_is_forgiven_but_other_epochs_are_fenced() -> None:
    core = make_core()
    core.cluster.create_topic("t", 2, 1)
    hb(core, "m1", 0, ["t"])
    hb(core, "m2", 0, ["t"])
    hb(core, "m1", 1, owned={"t": {0, 1}})  # revoke one
    g = core.consumer_groups.get("g")
    assert g is not None
    kept = {p for ps in g.members["m1"].assigned.values() for p in ps}
    assert hb(core, "m1", 1, owned={"t": kept}).epoch == 2
    # the response with epoch 2 was lost: epoch 1 (the previous one) with a subset of the assignment is accepted
    again = hb(core, "m1", 1, owned={"t": kept})
    assert (again.error, again.epoch) == (0, 2)
    assert hb(core, "m1", 7, owned={"t": kept}).error == ErrorCode.FENCED_MEMBER_EPOCH  # ahead
    assert hb(core, "m1", 1, owned={"t": {0, 1}}).error == ErrorCode.FENCED_MEMBER_EPOCH  # previous, not a subset
    assert hb(core, "m2", 1, owned={}).error == ErrorCode.FENCED_MEMBER_EPOCH  # never had epoch 1


def test_a_leaving_member_frees_its_partitions_for_the_others() -> None:
    core = make_core()
    core.cluster.create_topic("t", 2, 1)
    hb(core, "m1", 0, ["t"])
    hb(core, "m2", 0, ["t"])
    hb(core, "m1", 1, owned={"t": {0, 1}})
    g = core.consumer_groups.get("g")
    assert g is not None
    kept = {p for ps in g.members["m1"].assigned.values() for p in ps}
    hb(core, "m1", 1, owned={"t": kept})
    hb(core, "m2", 2, owned={})
    assert state(core) == "Stable"
    left = hb(core, "m2", -1)
    assert (left.error, left.member_id, left.epoch) == (0, "m2", -1)
    assert set(g.members) == {"m1"} and g.group_epoch == 3 and state(core) == "Assigning"
    takeover = hb(core, "m1", 2, owned={"t": kept})
    assert (takeover.epoch, takeover.assignment) == (3, {"t": {0, 1}})
    assert hb(core, "m1", -1).error == 0
    assert core.consumer_groups.get("g") is not None and state(core) == "Empty"
    assert core.consumer_groups.delete("g") == ErrorCode.NONE
    assert core.consumer_groups.get("g") is None
    assert core.consumer_groups.delete("g") == ErrorCode.GROUP_ID_NOT_FOUND


def test_static_members_leave_temporarily_and_a_new_instance_takes_over() -> None:
    core = make_core()
    core.cluster.create_topic("t", 2, 1)
    hb(core, "a1", 0, ["t"], instance="i-a")
    hb(core, "b1", 0, ["t"], instance="i-b")
    for _ in range(2):
        for member, instance in (("a1", "i-a"), ("b1", "i-b")):
            g = core.consumer_groups.get("g")
            assert g is not None
            m = g.members[member]
            hb(core, member, m.member_epoch, instance=instance,
               owned={"t": {p for ps in m.assigned.values() for p in ps}})
    assert state(core) == "Stable"
    g = core.consumer_groups.get("g")
    assert g is not None
    a_parts = {p for ps in g.members["a1"].assigned.values() for p in ps}
    epoch = g.group_epoch
    assert hb(core, "a2", 0, ["t"], instance="i-a").error == ErrorCode.UNRELEASED_INSTANCE_ID
    assert hb(core, "zz", 2, instance="i-a", owned={}).error == ErrorCode.FENCED_INSTANCE_ID
    assert hb(core, "a1", -2).error == ErrorCode.INVALID_REQUEST  # a static leave names its instance
    bye = hb(core, "a1", -2, instance="i-a")
    assert (bye.error, bye.epoch) == (0, -2)
    assert g.members["a1"].member_epoch == -2 and g.group_epoch == epoch  # still a member, no rebalance
    back = hb(core, "a2", 0, ["t"], instance="i-a")
    assert (back.error, back.assignment) == (0, {"t": a_parts})  # the same partitions, no rebalance
    assert set(g.members) == {"a2", "b1"} and g.group_epoch == epoch and back.epoch == epoch
    # a static member leaving for good (-1) is removed
    assert hb(core, "a2", -1, instance="i-a").error == 0
    assert set(g.members) == {"b1"} and g.group_epoch == epoch + 1


def test_a_silent_member_expires_after_the_session_timeout() -> None:
    core = make_core(group_consumer_session_timeout_ms=SESSION_MS)
    core.cluster.create_topic("t", 2, 1)
    hb(core, "m1", 0, ["t"], now=1000)
    hb(core, "m2", 0, ["t"], now=1000)
    hb(core, "m1", 1, owned={"t": {0, 1}}, now=20000)  # m1 keeps its session alive
    assert core.next_deadline() == 1000 + SESSION_MS  # m2's session
    version = core.data_version
    core.tick(1000 + SESSION_MS - 1)
    g = core.consumer_groups.get("g")
    assert g is not None and set(g.members) == {"m1", "m2"}
    core.tick(1000 + SESSION_MS)
    assert set(g.members) == {"m1"} and core.data_version > version
    assert hb(core, "m2", 2, owned={}, now=1000 + SESSION_MS).error == ErrorCode.UNKNOWN_MEMBER_ID
    assert core.consumer_groups.next_deadline() == 20000 + SESSION_MS
    core.tick(20000 + SESSION_MS)
    assert state(core) == "Empty" and core.consumer_groups.next_deadline() is None


def test_a_member_that_does_not_revoke_within_its_rebalance_timeout_is_fenced() -> None:
    core = make_core()
    core.cluster.create_topic("t", 2, 1)
    hb(core, "m1", 0, ["t"], rto=5000)
    hb(core, "m2", 0, ["t"])
    hb(core, "m1", 1, owned={"t": {0, 1}}, now=100)  # asked to revoke, deadline 5100
    hb(core, "m1", 1, owned={"t": {0, 1}}, now=4000)
    hb(core, "m2", 2, owned={}, now=4000)
    core.tick(5100)
    g = core.consumer_groups.get("g")
    assert g is not None and set(g.members) == {"m2"}
    assert hb(core, "m2", 2, owned={}, now=5200).assignment == {"t": {0, 1}}


def test_assignors_uniform_and_range() -> None:
    t1, t2 = uuid.uuid4(), uuid.uuid4()
    topics = {t1: ("a", 3), t2: ("b", 3)}
    both = frozenset({t1, t2})
    members = [MemberSpec("m0", None, both), MemberSpec("m1", None, both)]
    ranged = range_assignor(members, topics, {})
    assert ranged == {"m0": {t1: {0, 1}, t2: {0, 1}}, "m1": {t1: {2}, t2: {2}}}  # co-partitioned
    uniform = uniform_assignor(members, topics, {})
    sizes = sorted(sum(len(ps) for ps in a.values()) for a in uniform.values())
    assert sizes == [3, 3]
    # sticky: a third member takes partitions from the others, who keep the rest
    three = [*members, MemberSpec("m2", None, both)]
    again = uniform_assignor(three, topics, uniform)
    assert sorted(sum(len(ps) for ps in a.values()) for a in again.values()) == [2, 2, 2]
    for mid in ("m0", "m1"):
        for tid, ps in again[mid].items():
            assert ps <= uniform[mid].get(tid, set())
    # heterogeneous subscriptions: each topic goes only to its subscribers
    hetero = uniform_assignor([MemberSpec("m0", None, frozenset({t1})), MemberSpec("m1", None, both)], topics, {})
    assert hetero["m0"].keys() <= {t1} and hetero["m1"][t2] == {0, 1, 2}
    # range puts static members first (by instance id), then dynamic ones (by member id)
    static = range_assignor([MemberSpec("aa", None, both), MemberSpec("zz", "i9", both), MemberSpec("yy", "i1", both)],
                            topics, {})
    assert (static["yy"][t1], static["zz"][t1], static["aa"][t1]) == ({0}, {1}, {2})
    # uniform with one subscription for all: contiguous quotas, as Kafka's homogeneous builder
    assert uniform_assignor(members, topics, {}) == {"m0": {t1: {0, 1, 2}}, "m1": {t2: {0, 1, 2}}}


def test_the_range_assignor_is_chosen_by_server_assignor() -> None:
    core = make_core()
    core.cluster.create_topic("a", 2, 1)
    core.cluster.create_topic("b", 2, 1)
    hb(core, "m0", 0, ["a", "b"], assignor="range")
    hb(core, "m1", 0, ["a", "b"], assignor="range")
    g = core.consumer_groups.get("g")
    assert g is not None
    ids = {core.cluster.topics[n].topic_id: n for n in ("a", "b")}
    assert {ids[t]: ps for t, ps in g.target["m0"].items()} == {"a": {0}, "b": {0}}
    assert {ids[t]: ps for t, ps in g.target["m1"].items()} == {"a": {1}, "b": {1}}
    assert g.preferred_assignor("uniform") == "range"


def test_new_partitions_and_new_matching_topics_reach_the_assignment() -> None:
    core = make_core()
    core.cluster.create_topic("orders-a", 1, 1)
    core.cluster.create_topic("other", 1, 1)
    bad = hb(core, "m1", 0, regex="orders-(")
    assert bad.error == ErrorCode.INVALID_REGULAR_EXPRESSION
    joined = hb(core, "m1", 0, regex="orders-.*")
    assert joined.assignment == {"orders-a": {0}}
    core.cluster.create_topic("orders-b", 2, 1)
    grown = hb(core, "m1", 1, owned={"orders-a": {0}})
    assert (grown.epoch, grown.assignment) == (2, {"orders-a": {0}, "orders-b": {0, 1}})
    core.cluster.add_partitions(core.cluster.topics["orders-a"], 3)
    more = hb(core, "m1", 2, owned={"orders-a": {0}, "orders-b": {0, 1}})
    assert (more.epoch, more.assignment) == (3, {"orders-a": {0, 1, 2}, "orders-b": {0, 1}})
    assert core.consumer_groups.subscribed_topics("g") == {"orders-a", "orders-b"}


def test_describe_shows_epochs_members_and_assignments() -> None:
    core = make_core()
    core.cluster.create_topic("t", 2, 1)
    hb(core, "m1", 0, ["t"], instance="inst", rack_id="r1")
    hb(core, "m2", 0, ["t"])
    req = ConsumerGroupDescribeRequest(group_ids=["g", "nope", ""], include_authorized_operations=True)
    resp = core.handle(ctx(69, 1), req, 0)
    _, resp = decode_response(encode_response(1, 69, 1, resp), 69, 1)
    g, missing, empty = resp.groups
    assert (g.error_code, g.group_state, g.group_epoch, g.assignment_epoch, g.assignor_name) == (
        0, "Reconciling", 2, 2, "uniform")
    assert g.authorized_operations == (1 << 3) | (1 << 6) | (1 << 8)
    members = {m.member_id: m for m in g.members}
    m1 = members["m1"]
    assert (m1.instance_id, m1.rack_id, m1.member_epoch, m1.client_id, m1.client_host, m1.member_type) == (
        "inst", "r1", 1, "test", "/127.0.0.1", 1)
    assert m1.subscribed_topic_names == ["t"] and m1.subscribed_topic_regex is None
    assert [(tp.topic_name, sorted(tp.partitions)) for tp in m1.assignment.topic_partitions] == [("t", [0, 1])]
    assert sum(len(tp.partitions) for tp in m1.target_assignment.topic_partitions) == 1
    assert members["m2"].assignment.topic_partitions == []
    assert (missing.error_code, missing.error_message) == (ErrorCode.GROUP_ID_NOT_FOUND, "Group nope not found.")
    assert empty.error_code == ErrorCode.INVALID_GROUP_ID
    plain = core.handle(ctx(69, 0), ConsumerGroupDescribeRequest(group_ids=["g"]), 0)
    assert plain.groups[0].authorized_operations == -2**31


def commit_v9(core: BrokerCore, member: str, epoch: int) -> int:
    req = OffsetCommitRequest(group_id="g", generation_id_or_member_epoch=epoch, member_id=member,
                              topics=[OffsetCommitRequest.OffsetCommitRequestTopic("t", [
                                  OffsetCommitRequest.OffsetCommitRequestPartition(0, 5, -1, -1, "")])])
    resp = core.handle(ctx(8, 9), req, 0)
    return int(resp.topics[0].partitions[0].error_code)


def test_offset_commits_need_the_current_member_epoch() -> None:
    core = make_core()
    core.cluster.create_topic("t", 1, 1)
    cg = core.consumer_groups
    assert cg.validate_offset_commit("g", "", -1) == ErrorCode.NONE  # no group: a simple consumer
    assert cg.validate_offset_commit("g", "m", 3) == ErrorCode.GROUP_ID_NOT_FOUND
    hb(core, "m1", 0, ["t"])
    assert cg.validate_offset_commit("g", "", -1) == ErrorCode.UNKNOWN_MEMBER_ID  # admin commit: group not empty
    assert cg.validate_offset_commit("g", "x", 1) == ErrorCode.UNKNOWN_MEMBER_ID
    assert cg.validate_offset_commit("g", "m1", 0) == ErrorCode.STALE_MEMBER_EPOCH
    assert cg.validate_offset_commit("g", "m1", 1) == ErrorCode.NONE
    assert commit_v9(core, "m1", 1) == 0
    assert commit_v9(core, "m1", 2) == ErrorCode.STALE_MEMBER_EPOCH
    offset = core.offsets.fetch("g", ("t", 0))
    assert offset is not None and offset.offset == 5
    assert cg.delete("g") == ErrorCode.NON_EMPTY_GROUP
    hb(core, "m1", -1)
    assert cg.validate_offset_commit("g", "", -1) == ErrorCode.NONE  # empty again: admin commits allowed


def test_groups_are_rebuilt_from_the_internal_log(tmp_path: Path) -> None:
    core = make_core(data_dir=tmp_path, offsets_topic_num_partitions=3)
    core.cluster.create_topic("t", 2, 1)
    hb(core, "m1", 0, ["t"], instance="i1", assignor="range", rto=5000)
    hb(core, "m2", 0, ["t"])
    hb(core, "m1", 1, owned={"t": {0, 1}}, instance="i1")
    core.consumer_groups.delete("gone")  # unknown: nothing written
    hb(core, "x", 0, ["t"], group="gone")
    hb(core, "x", -1, group="gone")
    assert core.consumer_groups.delete("gone") == ErrorCode.NONE
    before = core.consumer_groups.get("g")
    assert before is not None
    snapshot = before.to_json()
    core.close()

    again = make_core(data_dir=tmp_path, offsets_topic_num_partitions=3)
    after = again.consumer_groups.get("g")
    assert after is not None and after.to_json() == snapshot
    assert again.consumer_groups.get("gone") is None
    assert (after.group_epoch, after.assignment_epoch, after.state) == (2, 2, "Reconciling")
    assert after.members["m1"].state == "unrevoked_partitions" and after.members["m1"].instance_id == "i1"
    assert again.consumer_groups.next_deadline() == again.now_ms + 5000  # m1 is still revoking: rto 5000 below
    # the members carry on where they were
    kept = {p for ps in after.members["m1"].assigned.values() for p in ps}
    assert hb(again, "m1", 1, owned={"t": kept}, instance="i1").epoch == 2
    assert hb(again, "m2", 2, owned={}).assignment == {"t": {0, 1} - kept}
    assert after.state == "Stable"


def test_a_classic_group_of_the_same_id_is_not_a_consumer_group() -> None:
    core = make_core()
    core.cluster.create_topic("t", 1, 1)
    protocols = [JoinGroupRequest.JoinGroupRequestProtocol("range", b"")]
    join = JoinGroupRequest(group_id="classic", session_timeout_ms=10000, rebalance_timeout_ms=10000, member_id="",
                            protocol_type="consumer", protocols=protocols)
    core.handle(ctx(11, 3), join, 0)  # v3: the member is added at once, the group is rebalancing
    classic = core.groups.get("classic")
    assert classic is not None and not classic.is_empty
    refused = hb(core, "m", 0, ["t"], group="classic")
    assert (refused.error, refused.message) == (ErrorCode.GROUP_ID_NOT_FOUND, "Group classic is not a consumer group")
    assert core.consumer_groups.get("classic") is None
    described = core.handle(ctx(69, 0), ConsumerGroupDescribeRequest(group_ids=["classic"]), 0).groups[0]
    assert (described.error_code, described.error_message) == (
        ErrorCode.GROUP_ID_NOT_FOUND, "Group classic is not a consumer group.")


def test_delete_groups_removes_an_empty_consumer_group_with_its_offsets() -> None:
    core = make_core()
    core.cluster.create_topic("t", 1, 1)
    hb(core, "m1", 0, ["t"])
    assert commit_v9(core, "m1", 1) == 0

    def delete() -> int:
        resp = core.handle(ctx(42, 2), DeleteGroupsRequest(groups_names=["g"]), 0)
        return int(resp.results[0].error_code)

    assert delete() == ErrorCode.NON_EMPTY_GROUP
    listed = core.handle(ctx(16, 5), ListGroupsRequest(types_filter=["consumer"]), 0)
    assert [(g.group_id, g.protocol_type, g.group_state, g.group_type) for g in listed.groups] == [
        ("g", "consumer", "Stable", "consumer")]
    hb(core, "m1", -1)
    assert delete() == ErrorCode.NONE
    assert core.consumer_groups.get("g") is None and core.offsets.fetch("g", ("t", 0)) is None
    listed = core.handle(ctx(16, 5), ListGroupsRequest(), 0)
    assert "g" not in {g.group_id for g in listed.groups}


@dataclass
class SimClient:
    """A well-behaved consumer: reports what it owns, takes what it is given, rejoins when told to."""

    member_id: str
    epoch: int = 0
    owned: Owned | None = None  # None: not in the group (must join)
    slow: Owned | None = None  # an assignment whose revocations this client has not carried out yet


@pytest.mark.parametrize("assignor", ["uniform", "range"])
def test_random_membership_churn_never_shares_a_partition_and_converges(assignor: str) -> None:
    """Members join, leave, expire and revoke late while partitions are added, in a seeded random order: after
    every step no partition is held twice (on the coordinator, and by the members themselves); once the churn
    stops the group becomes Stable with every partition owned exactly once, balanced."""
    import random

    rng = random.Random(848)
    core = make_core(group_consumer_session_timeout_ms=SESSION_MS)
    core.cluster.create_topic("a", 5, 1)
    core.cluster.create_topic("b", 3, 1)
    now = 0
    clients: list[SimClient] = []
    ids = iter(range(10**6))

    def beat(c: SimClient) -> None:
        if c.owned is None:
            got = hb(core, c.member_id, 0, ["a", "b"], now=now, assignor=assignor)
        else:
            got = hb(core, c.member_id, c.epoch, owned=c.owned, now=now)
        if got.error in (ErrorCode.UNKNOWN_MEMBER_ID, ErrorCode.FENCED_MEMBER_EPOCH):
            c.owned, c.epoch, c.slow = None, 0, None  # lost: give everything up and rejoin
            return
        assert got.error == 0, got
        c.epoch = got.epoch
        if c.owned is None:
            c.owned = {}
        if got.assignment is not None:  # take new partitions at once; give up revoked ones now or a beat later
            target = got.assignment
            for topic, ps in target.items():
                c.owned.setdefault(topic, set()).update(ps)
            if rng.random() < 0.5:
                c.owned = {t: ps & target.get(t, set()) for t, ps in c.owned.items() if ps & target.get(t, set())}
                c.slow = None
            else:
                c.slow = target
        elif c.slow is not None:
            c.owned = {t: ps & c.slow.get(t, set()) for t, ps in c.owned.items() if ps & c.slow.get(t, set())}
            c.slow = None

    for _ in range(600):
        action = rng.random()
        if action < 0.12 or not clients:
            clients.append(SimClient(f"m{next(ids)}"))
        elif action < 0.18:
            c = clients.pop(rng.randrange(len(clients)))
            if c.owned is not None:
                hb(core, c.member_id, -1, now=now)
        elif action < 0.2:
            now += SESSION_MS // 3  # some members may miss their sessions
            core.tick(now)
        elif action < 0.21:
            topic = core.cluster.topics["a"]
            core.cluster.add_partitions(topic, len(topic.partitions) + 1)
        else:
            beat(rng.choice(clients))
        if core.consumer_groups.get("g") is not None:
            assert_exclusive(core)
            # what live members believe they own is theirs on the coordinator too
            server = held(core)
            claimed: dict[tuple[str, int], str] = {}
            for c in clients:
                if c.owned is not None and c.member_id in server:
                    for topic, ps in c.owned.items():
                        assert ps <= server[c.member_id].get(topic, set())
                        for p in ps:  # and no two live members hold a partition at the same time
                            assert claimed.setdefault((topic, p), c.member_id) == c.member_id
    # calm: everyone heartbeats until the group is stable
    live = clients or [SimClient("last")]
    for _ in range(20):
        for c in live:
            beat(c)
        if state(core) == "Stable" and all(c.owned is not None for c in live):
            break
    assert state(core) == "Stable"
    total = {(t, p) for t in ("a", "b") for p in range(len(core.cluster.topics[t].partitions))}
    owned = [(t, p) for c in live for t, ps in (c.owned or {}).items() for p in ps]
    assert sorted(owned) == sorted(total)  # every partition exactly once
    sizes = [sum(len(ps) for ps in (c.owned or {}).values()) for c in live]
    if assignor == "uniform":
        assert max(sizes) - min(sizes) <= 1


def test_an_empty_classic_group_is_taken_over_by_a_consumer_group_keeping_its_offsets() -> None:
    from broker.state.offsets import CommittedOffset
    from wire.kafka.messages.leave_group import LeaveGroupRequest

    core = make_core()
    core.cluster.create_topic("t", 1, 1)
    protocols = [JoinGroupRequest.JoinGroupRequestProtocol("range", b"")]
    join = JoinGroupRequest(group_id="g", session_timeout_ms=10000, rebalance_timeout_ms=10000, member_id="",
                            protocol_type="consumer", protocols=protocols)
    core.handle(ctx(11, 3), join, 0)
    (member_id,) = core.groups.get("g").members  # type: ignore[union-attr]
    core.handle(ctx(13, 1), LeaveGroupRequest(group_id="g", member_id=member_id), 0)
    core.tick(3000)  # the initial rebalance delay ends the join phase: no members, so the group is Empty
    core.offsets.commit("g", {("t", 0): CommittedOffset(5)})
    classic = core.groups.get("g")
    assert classic is not None and classic.is_empty
    assert hb(core, "m", 0, ["t"], now=3000).error == 0  # the consumer protocol takes the id over
    assert core.groups.get("g") is None  # the Empty classic group is gone (a tombstone written)
    listed = core.handle(ctx(16, 5), ListGroupsRequest(), 0)
    assert [(g.group_id, g.group_type) for g in listed.groups] == [("g", "consumer")]
    assert core.offsets.fetch("g", ("t", 0)) == CommittedOffset(5)  # its offsets stay
