"""The classic group coordinator driven through BrokerCore: join/sync/heartbeat/leave, rebalances, timeouts,
static membership, limits, describe/list/delete, commit validation and restore from ``__consumer_offsets``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from broker.core import BrokerCore, Pending
from broker.state.cluster import BrokerInfo
from broker.state.internal import GROUP_TOPIC
from broker.config import BrokerConfig
from broker.tests.test_core import ctx, make_core
from broker.state.offsets import CommittedOffset
from wire.kafka.codec import decode_response, encode_response
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.delete_groups import DeleteGroupsRequest
from wire.kafka.messages.describe_groups import DescribeGroupsRequest
from wire.kafka.messages.heartbeat import HeartbeatRequest
from wire.kafka.messages.join_group import JoinGroupRequest
from wire.kafka.messages.leave_group import LeaveGroupRequest
from wire.kafka.messages.list_groups import ListGroupsRequest
from wire.kafka.messages.sync_group import SyncGroupRequest

RANGE = [("range", b"meta-range")]
SESSION = 10_000
REBALANCE = 30_000


def group_core(**cfg: Any) -> BrokerCore:
    cfg.setdefault("group_initial_rebalance_delay_ms", 0)
    return make_core(**cfg)


def join(core: BrokerCore, group: str = "g", member: str = "", now: int = 0, instance: str | None = None,
         protocols: list[tuple[str, bytes]] | None = None, version: int = 5, session: int = SESSION,
         rebalance: int = REBALANCE, protocol_type: str = "consumer", node_id: int = 1) -> Any:
    req = JoinGroupRequest(group_id=group, session_timeout_ms=session, rebalance_timeout_ms=rebalance,
                           member_id=member, group_instance_id=instance, protocol_type=protocol_type,
                           protocols=[JoinGroupRequest.JoinGroupRequestProtocol(n, m) for n, m in
                                      (RANGE if protocols is None else protocols)])
    return core.handle(ctx(11, version, node_id), req, now)


def ready(result: Any, now: int = 0) -> Any:
    """The response of a possibly parked request, or None while it still waits."""
    return result.poll(now, False) if isinstance(result, Pending) else result


def sync(core: BrokerCore, member: str, generation: int, group: str = "g", now: int = 0, instance: str | None = None,
         assignments: dict[str, bytes] | None = None, version: int = 3, protocol_type: str | None = None,
         protocol_name: str | None = None) -> Any:
    req = SyncGroupRequest(group_id=group, generation_id=generation, member_id=member, group_instance_id=instance,
                           protocol_type=protocol_type, protocol_name=protocol_name,
                           assignments=[SyncGroupRequest.SyncGroupRequestAssignment(m, a)
                                        for m, a in (assignments or {}).items()])
    return core.handle(ctx(14, version), req, now)


def heartbeat(core: BrokerCore, member: str, generation: int, group: str = "g", now: int = 0,
              instance: str | None = None, version: int = 3) -> int:
    req = HeartbeatRequest(group_id=group, generation_id=generation, member_id=member, group_instance_id=instance)
    return int(core.handle(ctx(12, version), req, now).error_code)


def first_member(core: BrokerCore, group: str = "g", now: int = 0, **kw: Any) -> Any:
    """A first member and its completed join (initial delay 0, one tick): a dynamic one goes through
    MEMBER_ID_REQUIRED, a static one (``instance=``) joins at once."""
    if kw.get("instance") is None:
        required = join(core, group, now=now, **kw)
        assert required.error_code == ErrorCode.MEMBER_ID_REQUIRED and required.member_id.startswith("test-")
        parked = join(core, group, member=required.member_id, now=now, **kw)
    else:
        parked = join(core, group, now=now, **kw)
    assert isinstance(parked, Pending) and ready(parked, now) is None
    core.tick(now)
    resp = ready(parked, now)
    assert resp is not None and resp.error_code == 0
    return resp


def stable_pair(core: BrokerCore) -> tuple[str, str, int]:
    """Members a (leader) and b in a Stable group at generation 2, assigned b"A" and b"B"."""
    a = first_member(core)
    assert sync(core, a.member_id, 1, assignments={a.member_id: b"A0"}).assignment == b"A0"
    b_id = join(core).member_id
    b_parked = join(core, member=b_id)
    assert isinstance(b_parked, Pending)
    assert heartbeat(core, a.member_id, 1) == ErrorCode.REBALANCE_IN_PROGRESS
    a2 = join(core, member=a.member_id)  # the last to rejoin completes the join phase at once
    b2 = ready(b_parked)
    assert a2.generation_id == b2.generation_id == 2 and a2.leader == b2.leader == a.member_id
    assert {m.member_id for m in a2.members} == {a.member_id, b_id} and b2.members == []
    b_sync = sync(core, b_id, 2)
    assert isinstance(b_sync, Pending) and ready(b_sync) is None  # the follower waits for the leader
    a_sync = sync(core, a.member_id, 2, assignments={a.member_id: b"A", b_id: b"B"})
    assert a_sync.assignment == b"A" and ready(b_sync).assignment == b"B"
    assert core.groups.get("g").state == "Stable"
    return a.member_id, b_id, 2


def test_member_id_required_then_join_sync_heartbeat() -> None:
    core = group_core()
    resp = first_member(core)
    assert (resp.generation_id, resp.protocol_name, resp.leader) == (1, "range", resp.member_id)
    assert [(m.member_id, m.metadata) for m in resp.members] == [(resp.member_id, b"meta-range")]
    group = core.groups.get("g")
    assert group is not None and group.state == "CompletingRebalance" and not group.is_empty
    assert heartbeat(core, resp.member_id, 1) == 0  # heartbeats are fine while completing
    got = sync(core, resp.member_id, 1, assignments={resp.member_id: b"mine"}, version=5, protocol_type="consumer",
               protocol_name="range")
    assert (got.error_code, got.assignment, got.protocol_type, got.protocol_name) == (0, b"mine", "consumer", "range")
    assert group.state == "Stable" and group.generation_id == 1 and group.protocol_type == "consumer"
    # v0-3 add the member at once (no MEMBER_ID_REQUIRED)
    old = join(core, "g-old", version=3)
    core.tick(0)
    assert ready(old).error_code == 0 and ready(old).generation_id == 1


def test_join_response_shapes_per_version() -> None:
    core = group_core()
    required = join(core, version=7)
    resp = ready(join(core, member=required.member_id, version=7))
    core.tick(0)
    assert resp is None
    parked = join(core, "g9", version=9)
    done = join(core, "g9", member=parked.member_id, version=9)
    core.tick(0)
    final = ready(done)
    assert final.protocol_type == "consumer" and final.skip_assignment is False
    error = join(core, "", version=7)
    assert (error.error_code, error.protocol_name) == (ErrorCode.INVALID_GROUP_ID, None)
    _, decoded = decode_response(encode_response(1, 11, 7, error), 11, 7)
    assert decoded.protocol_name is None
    error5 = join(core, "", version=5)
    assert error5.protocol_name == ""


def test_second_member_triggers_a_rebalance_and_followers_wait_for_the_leader() -> None:
    core = group_core()
    a, b, generation = stable_pair(core)
    assert heartbeat(core, a, generation) == heartbeat(core, b, generation) == 0
    assert heartbeat(core, a, 1) == ErrorCode.ILLEGAL_GENERATION
    assert heartbeat(core, "nobody", generation) == ErrorCode.UNKNOWN_MEMBER_ID
    assert int(sync(core, b, 1).error_code) == ErrorCode.ILLEGAL_GENERATION
    assert int(sync(core, b, 2, version=5).error_code) == ErrorCode.INCONSISTENT_GROUP_PROTOCOL  # v5: mandatory
    wrong = sync(core, b, 2, version=5, protocol_type="consumer", protocol_name="roundrobin")
    assert wrong.error_code == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    # a Stable group answers SyncGroup with the member's current assignment
    assert sync(core, b, 2).assignment == b"B"
    # a follower rejoining with the same metadata gets the current generation back without a rebalance
    same = join(core, member=b)
    assert (same.error_code, same.generation_id, same.members) == (0, 2, [])
    # the leader rejoining forces a rebalance; the follower's heartbeat tells it to rejoin
    leader = join(core, member=a)
    assert isinstance(leader, Pending) and core.groups.get("g").state == "PreparingRebalance"
    assert heartbeat(core, b, 2) == ErrorCode.REBALANCE_IN_PROGRESS
    assert int(sync(core, b, 2).error_code) == ErrorCode.REBALANCE_IN_PROGRESS
    rejoined = join(core, member=b)
    assert rejoined.generation_id == 3 and ready(leader).generation_id == 3


def test_back_to_back_rebalances_answer_parked_syncs_with_rebalance_in_progress() -> None:
    core = group_core()
    a, b, _ = stable_pair(core)
    c_id = join(core).member_id
    c = join(core, member=c_id)
    a3, b3 = join(core, member=a), join(core, member=b)
    assert isinstance(c, Pending) and not isinstance(b3, Pending)  # b completed the phase
    assert ready(a3).generation_id == ready(c).generation_id == 3
    c_sync = sync(core, c_id, 3)
    assert ready(c_sync) is None
    # before the leader syncs, a member changes its protocols (cooperative clients rejoin at once)
    d = join(core, member=b, protocols=[("range", b"changed")])
    assert isinstance(d, Pending)
    assert ready(c_sync).error_code == ErrorCode.REBALANCE_IN_PROGRESS
    a4, c4 = join(core, member=a), join(core, member=c_id)
    assert ready(a4).generation_id == ready(c4).generation_id == ready(d).generation_id == 4
    assert {m.metadata for m in ready(a4).members} == {b"meta-range", b"changed"}


def test_members_that_do_not_rejoin_within_the_rebalance_timeout_are_removed() -> None:
    core = group_core()
    a, b, _ = stable_pair(core)
    c_id = join(core, now=1000).member_id
    c = join(core, member=c_id, now=1000)
    a3 = join(core, member=a, now=1000)
    assert core.groups.timers.entries[("join", "g", "")][0] == 1000 + REBALANCE
    for now in range(5000, 1000 + REBALANCE, 5000):  # b stays alive but never rejoins
        assert heartbeat(core, b, 2, now=now) == ErrorCode.REBALANCE_IN_PROGRESS
        core.tick(now)
    assert ready(c) is None
    core.tick(1000 + REBALANCE)
    assert ready(c).generation_id == ready(a3).generation_id == 3
    assert set(core.groups.get("g").members) == {a, c_id}
    assert heartbeat(core, b, 3, now=1000 + REBALANCE) == ErrorCode.UNKNOWN_MEMBER_ID


def test_session_expiry_removes_a_silent_member_and_rebalances() -> None:
    core = group_core()
    a, b, generation = stable_pair(core)
    for now in range(3000, SESSION + 3000, 3000):
        assert heartbeat(core, a, generation, now=now) == 0
        core.tick(now)
    core.tick(SESSION)
    group = core.groups.get("g")
    assert b not in group.members and group.state == "PreparingRebalance"
    assert heartbeat(core, a, generation, now=SESSION) == ErrorCode.REBALANCE_IN_PROGRESS
    alone = join(core, member=a, now=SESSION)
    assert (alone.generation_id, [m.member_id for m in alone.members]) == (3, [a])
    # a pending member (MEMBER_ID_REQUIRED, never joined) expires after its session timeout too
    pending_id = join(core, now=SESSION).member_id
    assert pending_id in group.pending_join_members
    core.tick(2 * SESSION + 1)
    assert pending_id not in group.pending_join_members
    # the last member leaving by expiry: the group ends Empty at the next generation
    core.tick(10 * SESSION)
    assert (group.state, group.generation_id, group.members) == ("Empty", 4, {})


def test_initial_rebalance_delay_is_extended_while_new_members_arrive() -> None:
    core = group_core(group_initial_rebalance_delay_ms=3000)
    a_id = join(core, now=0).member_id
    a = join(core, member=a_id, now=0, rebalance=10_000)
    assert core.next_deadline() == 3000
    b_id = join(core, now=2000).member_id
    b = join(core, member=b_id, now=2000, rebalance=10_000)
    core.tick(3000)  # a new member came: wait another delay
    assert ready(a) is None and ready(b) is None and core.next_deadline() == 6000
    core.tick(6000)
    assert ready(a).generation_id == ready(b).generation_id == 1
    assert len(ready(a).members) == 2
    # with a rebalance timeout no longer than the delay, new arrivals cannot extend it
    c_id = join(core, "h", now=0).member_id
    c = join(core, "h", member=c_id, now=0, rebalance=3000)
    d_id = join(core, "h", now=1000).member_id
    d = join(core, "h", member=d_id, now=1000, rebalance=3000)
    core.tick(3000)
    assert ready(c).generation_id == ready(d).generation_id == 1


def test_static_member_rejoins_with_its_assignment_and_fences_the_old_id() -> None:
    core = group_core()
    s = first_member(core, instance="inst-1")
    assert s.member_id.startswith("inst-1-")  # static ids are built from the instance id; no MEMBER_ID_REQUIRED
    sync(core, s.member_id, 1, instance="inst-1", assignments={s.member_id: b"S"})
    d_id = join(core).member_id
    d = join(core, member=d_id)
    s2 = join(core, member=s.member_id, instance="inst-1")
    assert ready(d).generation_id == s2.generation_id == 2
    sync(core, d_id, 2)
    sync(core, s.member_id, 2, instance="inst-1", assignments={s.member_id: b"S2", d_id: b"D2"})
    group = core.groups.get("g")
    assert group.state == "Stable"
    # restart: same instance id, no member id, same protocols: a new member id, same generation and assignment
    again = join(core, instance="inst-1")
    assert (again.error_code, again.generation_id) == (0, 2) and again.member_id != s.member_id
    assert again.leader == s.member_id  # before v9 the old leader id, so the new member does not reassign
    assert group.state == "Stable" and heartbeat(core, d_id, 2) == 0  # the other member sees no rebalance
    assert sync(core, again.member_id, 2, instance="inst-1").assignment == b"S2"
    assert heartbeat(core, s.member_id, 2, instance="inst-1") == ErrorCode.FENCED_INSTANCE_ID
    assert heartbeat(core, s.member_id, 2) == ErrorCode.UNKNOWN_MEMBER_ID
    assert int(join(core, member=s.member_id, instance="inst-1").error_code) == ErrorCode.FENCED_INSTANCE_ID
    assert heartbeat(core, again.member_id, 2, instance="other") == ErrorCode.UNKNOWN_MEMBER_ID
    # v9: the static leader learns it leads but skips the assignment
    v9 = join(core, instance="inst-1", version=9)
    assert (v9.leader, v9.skip_assignment, len(v9.members)) == (v9.member_id, True, 2)
    # new protocols that leave the selection as it was (d supports only range) rebalance nothing either
    changed = join(core, instance="inst-1", protocols=[("roundrobin", b"x"), ("range", b"y")])
    assert (changed.error_code, changed.generation_id, group.state) == (0, 2, "Stable")
    # a static member whose protocols no member shares is refused
    alien = join(core, instance="inst-1", protocols=[("roundrobin", b"x")])
    assert alien.error_code == ErrorCode.INCONSISTENT_GROUP_PROTOCOL


def test_group_max_size() -> None:
    core = group_core(group_max_size=1)
    a = first_member(core)
    sync(core, a.member_id, 1, assignments={a.member_id: b""})
    b_id = join(core).member_id
    full = join(core, member=b_id)
    assert (full.error_code, full.member_id) == (ErrorCode.GROUP_MAX_SIZE_REACHED, "")
    assert heartbeat(core, a.member_id, 1) == 0


def test_protocol_selection_and_inconsistent_protocols() -> None:
    core = group_core(group_initial_rebalance_delay_ms=100)
    prefs = {"a": [("roundrobin", b"a"), ("range", b"a")], "b": [("roundrobin", b"b"), ("range", b"b")],
             "c": [("range", b"c"), ("roundrobin", b"c"), ("sticky", b"c")]}
    parked = {}
    for name, protocols in prefs.items():
        member_id = join(core, protocols=protocols).member_id
        parked[name] = join(core, member=member_id, protocols=protocols)
    assert int(join(core, protocols=[("sticky", b"d")]).error_code) == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    assert int(join(core, protocol_type="connect").error_code) == ErrorCode.INCONSISTENT_GROUP_PROTOCOL
    core.tick(1000)  # the delay is extended once (members kept arriving) ...
    core.tick(2000)  # ... then the join completes
    leader = next(ready(p) for p in parked.values() if ready(p).members)
    assert leader.protocol_name == "roundrobin"  # 2 votes to 1; sticky is not supported by all
    assert sorted(m.metadata for m in leader.members) == [b"a", b"b", b"c"]
    # a protocol every member supports is required; range wins when most prefer it
    core2 = group_core(group_initial_rebalance_delay_ms=100)
    for protocols in ([("range", b"")], [("roundrobin", b""), ("range", b"")]):
        member_id = join(core2, protocols=protocols).member_id
        last = join(core2, member=member_id, protocols=protocols)
    core2.tick(1000)
    core2.tick(2000)
    assert ready(last).protocol_name == "range"
    assert int(join(core2, "empty", protocols=[]).error_code) == ErrorCode.INCONSISTENT_GROUP_PROTOCOL


def test_request_level_errors() -> None:
    core = group_core()
    assert int(join(core, "").error_code) == ErrorCode.INVALID_GROUP_ID
    assert int(join(core, session=5999).error_code) == ErrorCode.INVALID_SESSION_TIMEOUT
    assert int(join(core, session=1_800_001).error_code) == ErrorCode.INVALID_SESSION_TIMEOUT
    assert int(join(core, "nogroup", member="someone").error_code) == ErrorCode.UNKNOWN_MEMBER_ID
    assert heartbeat(core, "m", 1, group="") == ErrorCode.INVALID_GROUP_ID
    assert heartbeat(core, "m", 1, group="nogroup") == ErrorCode.UNKNOWN_MEMBER_ID
    assert int(sync(core, "m", 1, group="nogroup").error_code) == ErrorCode.UNKNOWN_MEMBER_ID
    multi = group_core(brokers=3, offsets_topic_num_partitions=3)
    coordinator = multi.internal.coordinator(GROUP_TOPIC, "g")
    other = next(n for n in (1, 2, 3) if n != coordinator)
    assert int(join(multi, node_id=other).error_code) == ErrorCode.NOT_COORDINATOR
    assert int(join(multi, node_id=coordinator).error_code) == ErrorCode.MEMBER_ID_REQUIRED
    hb = multi.handle(ctx(12, 3, other), HeartbeatRequest(group_id="g", generation_id=1, member_id="m"), 0)
    assert hb.error_code == ErrorCode.NOT_COORDINATOR


def test_leave_group_single_and_batched() -> None:
    core = group_core()
    a, b, generation = stable_pair(core)
    v1 = core.handle(ctx(13, 1), LeaveGroupRequest(group_id="g", member_id="ghost"), 0)
    assert v1.error_code == ErrorCode.UNKNOWN_MEMBER_ID
    batch = core.handle(ctx(13, 3), LeaveGroupRequest(group_id="g", members=[
        LeaveGroupRequest.MemberIdentity(member_id=b), LeaveGroupRequest.MemberIdentity(member_id="ghost")]), 0)
    assert batch.error_code == 0
    assert [(m.member_id, m.error_code) for m in batch.members] == [(b, 0), ("ghost", ErrorCode.UNKNOWN_MEMBER_ID)]
    group = core.groups.get("g")
    assert group.state == "PreparingRebalance" and b not in group.members
    alone = join(core, member=a)
    assert alone.generation_id == generation + 1
    unknown_group = core.handle(ctx(13, 3), LeaveGroupRequest(group_id="nope", members=[
        LeaveGroupRequest.MemberIdentity(member_id="x")]), 0)
    assert (unknown_group.error_code, unknown_group.members[0].error_code) == (0, ErrorCode.UNKNOWN_MEMBER_ID)
    # an admin removes a static member by its instance id alone
    s = first_member(core, "st", instance="i1")
    sync(core, s.member_id, 1, group="st", instance="i1")
    removed = core.handle(ctx(13, 4), LeaveGroupRequest(group_id="st", members=[
        LeaveGroupRequest.MemberIdentity(member_id="", group_instance_id="i1")]), 0)
    assert removed.members[0].error_code == 0
    assert core.groups.get("st").state == "Empty" and core.groups.get("st").generation_id == 2
    fenced = core.handle(ctx(13, 3), LeaveGroupRequest(group_id="g", members=[
        LeaveGroupRequest.MemberIdentity(member_id="wrong", group_instance_id="i9")]), 0)
    assert fenced.members[0].error_code == ErrorCode.UNKNOWN_MEMBER_ID


def test_describe_list_and_delete_groups() -> None:
    core = group_core()
    core.cluster.create_topic("t", 1, 1)
    a, b, generation = stable_pair(core)
    described = core.handle(ctx(15, 5), DescribeGroupsRequest(groups=["g", "nope"],
                                                              include_authorized_operations=True), 0)
    g, nope = described.groups
    assert (g.error_code, g.group_state, g.protocol_type, g.protocol_data) == (0, "Stable", "consumer", "range")
    assert {(m.member_id, m.client_id, m.client_host, m.member_metadata, m.member_assignment) for m in g.members} == {
        (a, "test", "/127.0.0.1", b"meta-range", b"A"), (b, "test", "/127.0.0.1", b"meta-range", b"B")}
    assert g.authorized_operations == (1 << 3) | (1 << 6) | (1 << 8)
    assert (nope.error_code, nope.group_state, nope.authorized_operations) == (0, "Dead", g.authorized_operations)
    plain = core.handle(ctx(15, 5), DescribeGroupsRequest(groups=["g"]), 0).groups[0]
    assert plain.authorized_operations == -2**31  # not asked for
    v6 = core.handle(ctx(15, 6), DescribeGroupsRequest(groups=["nope"]), 0).groups[0]
    assert (v6.error_code, v6.group_state, v6.error_message) == (ErrorCode.GROUP_ID_NOT_FOUND, "Dead",
                                                                 "Group nope not found.")
    # a group with only committed offsets is an Empty classic group
    core.offsets.commit("offsets-only", {("t", 0): CommittedOffset(5)})  # as OffsetCommit stores them
    simple = core.handle(ctx(15, 6), DescribeGroupsRequest(groups=["offsets-only"]), 0).groups[0]
    assert (simple.error_code, simple.group_state, simple.protocol_type) == (0, "Empty", "")

    def listed(version: int = 5, states: list[str] | None = None, types: list[str] | None = None) -> set[tuple]:
        resp = core.handle(ctx(16, version), ListGroupsRequest(states_filter=states or [], types_filter=types or []), 0)
        return {(x.group_id, x.protocol_type, x.group_state, x.group_type) for x in resp.groups}

    assert listed() == {("g", "consumer", "Stable", "classic"), ("offsets-only", "", "Empty", "classic")}
    assert listed(states=["stable"]) == {("g", "consumer", "Stable", "classic")}
    assert listed(types=["Classic"]) == listed() and listed(types=["consumer"]) == set()
    assert listed(types=["bogus"]) == set()
    assert listed(version=1) == {("g", "consumer", "", ""), ("offsets-only", "", "", "")}

    def delete(*groups: str) -> list[tuple[str, int]]:
        resp = core.handle(ctx(42, 2), DeleteGroupsRequest(groups_names=list(groups)), 0)
        return [(r.group_id, r.error_code) for r in resp.results]

    core.offsets.commit("g", {("t", 0): CommittedOffset(9)})
    assert delete("g", "nope", "offsets-only") == [("g", ErrorCode.NON_EMPTY_GROUP), ("nope", ErrorCode.GROUP_ID_NOT_FOUND),
                                                   ("offsets-only", 0)]
    assert not core.offsets.has_offsets("offsets-only")
    core.handle(ctx(13, 3), LeaveGroupRequest(group_id="g", members=[
        LeaveGroupRequest.MemberIdentity(member_id=a), LeaveGroupRequest.MemberIdentity(member_id=b)]), 0)
    assert core.groups.get("g").state == "Empty"
    assert delete("g") == [("g", 0)]
    assert core.groups.get("g") is None and not core.offsets.has_offsets("g")
    assert listed() == set()
    dead = core.handle(ctx(15, 3), DescribeGroupsRequest(groups=["g"]), 0).groups[0]
    assert (dead.error_code, dead.group_state) == (0, "Dead")


def test_validate_commit_rules() -> None:
    core = group_core()
    groups = core.groups
    assert groups.validate_commit("unknown", "", -1, None) == ErrorCode.NONE
    assert groups.validate_commit("unknown", "m", 3, None) == ErrorCode.ILLEGAL_GENERATION
    assert groups.validate_commit("unknown", "m", 3, None, version=9) == ErrorCode.GROUP_ID_NOT_FOUND
    a = first_member(core)
    assert groups.validate_commit("g", a.member_id, 1, None) == ErrorCode.REBALANCE_IN_PROGRESS  # completing
    sync(core, a.member_id, 1, assignments={a.member_id: b""})
    assert groups.validate_commit("g", a.member_id, 1, None) == ErrorCode.NONE
    assert groups.validate_commit("g", a.member_id, 0, None) == ErrorCode.ILLEGAL_GENERATION
    assert groups.validate_commit("g", "other", 1, None) == ErrorCode.UNKNOWN_MEMBER_ID
    assert groups.validate_commit("g", "", -1, None) == ErrorCode.UNKNOWN_MEMBER_ID  # the group has members
    b_id = join(core).member_id
    join(core, member=b_id)
    assert groups.get("g").state == "PreparingRebalance"
    assert groups.validate_commit("g", a.member_id, 1, None) == ErrorCode.NONE  # current generation still commits
    s = first_member(core, "s", instance="i")
    assert groups.validate_commit("s", s.member_id, 1, "i", transactional=True) == ErrorCode.NONE
    assert groups.validate_commit("s", "old", 1, "i") == ErrorCode.FENCED_INSTANCE_ID


def test_groups_are_restored_from_the_internal_log(tmp_path: Path) -> None:
    def durable(now: int) -> BrokerCore:
        config = BrokerConfig(port=0, data_dir=tmp_path, group_initial_rebalance_delay_ms=0)
        return BrokerCore(config, [BrokerInfo(n, "127.0.0.1", 9000 + n) for n in config.node_ids], now)

    core = durable(0)
    a, b, generation = stable_pair(core)
    s = first_member(core, "static", instance="inst")
    sync(core, s.member_id, 1, group="static", instance="inst", assignments={s.member_id: b"S"})
    first_member(core, "gone")  # joined, then left: Empty at generation 2
    core.handle(ctx(13, 3), LeaveGroupRequest(group_id="gone", members=[
        LeaveGroupRequest.MemberIdentity(member_id=core.groups.get("gone").leader_id or "")]), 0)
    join(core, "deleted")  # created by MEMBER_ID_REQUIRED, then deleted
    core.handle(ctx(42, 2), DeleteGroupsRequest(groups_names=["deleted"]), 0)
    core.close()

    again = durable(100_000)
    g = again.groups.get("g")
    assert g is not None and (g.state, g.generation_id, g.protocol_type, g.protocol_name, g.leader_id) == (
        "Stable", generation, "consumer", "range", a)
    assert {m: (x.assignment, x.metadata("range")) for m, x in g.members.items()} == {
        a: (b"A", b"meta-range"), b: (b"B", b"meta-range")}
    st = again.groups.get("static")
    assert st is not None and st.static_members == {"inst": s.member_id}
    gone = again.groups.get("gone")
    assert gone is not None and (gone.state, gone.generation_id) == ("Empty", 2)
    assert again.groups.get("deleted") is None
    # members must heartbeat within their session timeout after the restart, as after a failover
    assert heartbeat(again, a, generation, now=100_000 + SESSION - 1) == 0
    assert sync(again, b, generation, now=100_000).assignment == b"B"
    assert again.next_deadline() is not None
    again.tick(100_000 + SESSION)
    assert b not in g.members and g.state == "PreparingRebalance"
    again_static = join(again, "static", instance="inst", now=100_000 + SESSION)
    assert isinstance(again_static, Pending) or again_static.error_code == 0


def test_consumer_protocol_groups_share_the_id_space() -> None:
    from broker.tests.test_consumer_groups import hb

    core = group_core()
    core.cluster.create_topic("t", 2, 1)
    assert hb(core, "m1", 0, ["t"], group="kip848").error == 0
    # a classic member cannot join a consumer-protocol group with members (Kafka 4.0 would migrate it)
    refused = join(core, "kip848")
    assert (refused.error_code, refused.member_id) == (ErrorCode.INCONSISTENT_GROUP_PROTOCOL, "")
    assert heartbeat(core, "m1", 1, group="kip848") == ErrorCode.UNKNOWN_MEMBER_ID
    v5, v6 = (core.handle(ctx(15, v), DescribeGroupsRequest(groups=["kip848"]), 0).groups[0] for v in (5, 6))
    assert (v5.error_code, v5.group_state) == (0, "Dead")
    assert (v6.error_code, v6.error_message) == (ErrorCode.GROUP_ID_NOT_FOUND, "Group kip848 is not a classic group.")
    listed = core.handle(ctx(16, 5), ListGroupsRequest(), 0).groups
    assert [(x.group_id, x.protocol_type, x.group_type) for x in listed] == [("kip848", "consumer", "consumer")]
    assert [x.group_id for x in core.handle(ctx(16, 5), ListGroupsRequest(types_filter=["classic"]), 0).groups] == []
    deleted = core.handle(ctx(42, 2), DeleteGroupsRequest(groups_names=["kip848"]), 0).results[0]
    assert deleted.error_code == ErrorCode.NON_EMPTY_GROUP
    # once the consumer group is empty, a classic JoinGroup takes the id over (Kafka deletes the empty group)
    assert hb(core, "m1", -1, group="kip848").error == 0
    taken = first_member(core, "kip848")
    assert taken.generation_id == 1 and core.consumer_groups.get("kip848") is None
    # and the other way round: a KIP-848 member may not take a classic group that has members
    assert hb(core, "m2", 0, ["t"], group="kip848").error == ErrorCode.GROUP_ID_NOT_FOUND


def test_members_that_never_sync_are_removed_after_the_rebalance_timeout() -> None:
    core = group_core()
    a, b, _ = stable_pair(core)
    leader = join(core, member=a, now=1000)
    follower = join(core, member=b, now=1000)
    assert ready(leader).generation_id == ready(follower).generation_id == 3
    parked = sync(core, b, 3, now=1000)  # the leader never sends its assignment
    assert ready(parked) is None
    for now in range(4000, 1000 + REBALANCE, 3000):
        assert heartbeat(core, b, 3, now=now) == 0  # both stay alive; only the missing SyncGroup counts
        assert heartbeat(core, a, 3, now=now) == 0
        core.tick(now)
    core.tick(1000 + REBALANCE)
    group = core.groups.get("g")
    assert set(group.members) == {b} and group.state == "PreparingRebalance"
    assert ready(parked).error_code == ErrorCode.REBALANCE_IN_PROGRESS
    assert heartbeat(core, a, 3, now=1000 + REBALANCE) == ErrorCode.UNKNOWN_MEMBER_ID


def test_coordinator_routing_for_describe_list_and_delete() -> None:
    core = group_core(brokers=3, offsets_topic_num_partitions=3)
    groups = {}
    for name in ("g1", "g2", "g3", "g4", "g5"):
        node = core.internal.coordinator(GROUP_TOPIC, name)
        groups[name] = node
        required = join(core, name, node_id=node)
        join(core, name, member=required.member_id, node_id=node)
    core.tick(0)
    for node in (1, 2, 3):
        listed = core.handle(ctx(16, 4, node), ListGroupsRequest(), 0).groups
        assert sorted(x.group_id for x in listed) == sorted(g for g, n in groups.items() if n == node)
        assert {x.group_state for x in listed} <= {"CompletingRebalance"}
    elsewhere = next(n for n in (1, 2, 3) if n != groups["g1"])
    described = core.handle(ctx(15, 5, elsewhere), DescribeGroupsRequest(groups=["g1"]), 0).groups[0]
    assert (described.error_code, described.group_state) == (ErrorCode.NOT_COORDINATOR, "")
    deleted = core.handle(ctx(42, 2, elsewhere), DeleteGroupsRequest(groups_names=["g1"]), 0).results[0]
    assert deleted.error_code == ErrorCode.NOT_COORDINATOR
    left = core.handle(ctx(13, 3, elsewhere), LeaveGroupRequest(group_id="g1", members=[
        LeaveGroupRequest.MemberIdentity(member_id="x")]), 0)
    assert (left.error_code, left.members) == (ErrorCode.NOT_COORDINATOR, [])


def test_an_empty_group_without_offsets_is_cleaned_up() -> None:
    core = group_core(offsets_retention_check_interval_ms=1000)
    core.cluster.create_topic("t", 1, 1)
    for name in ("bare", "kept"):
        resp = first_member(core, name)
        core.handle(ctx(13, 3), LeaveGroupRequest(group_id=name, members=[
            LeaveGroupRequest.MemberIdentity(member_id=resp.member_id)]), 0)
    core.offsets.commit("kept", {("t", 0): CommittedOffset(1)})
    core.tick(1000)
    assert core.groups.get("bare") is None and core.groups.get("kept") is not None


def test_random_member_behaviour_keeps_the_group_consistent() -> None:
    """Seeded random joins, syncs, heartbeats, leaves, static restarts and silences over time: nothing raises,
    and the group's state always agrees with its members."""
    import random

    rng = random.Random(848)
    core = group_core(group_initial_rebalance_delay_ms=200)
    known: dict[str, tuple[str | None, int]] = {}  # member id -> (instance id, last generation seen)
    parked: list[tuple[str, str | None, Any]] = []
    now = 0
    for _ in range(3000):
        now += rng.choice((0, 1, 50, 400, 3000))
        action = rng.random()
        instance = rng.choice((None, None, "s1", "s2"))
        if action < 0.2 or not known:
            member = rng.choice([*known, ""]) if known else ""
            inst = known[member][0] if member else instance
            protocols = rng.choice((RANGE, [("roundrobin", b"r"), ("range", b"x")]))
            result = join(core, member=member, instance=inst, protocols=protocols, now=now, session=6000,
                          rebalance=rng.choice((6000, 9000)))
            parked.append(("join", inst, result))
        elif action < 0.4:
            member = rng.choice(list(known))
            parked.append(("sync", known[member][0], sync(core, member, known[member][1], instance=known[member][0],
                                                          now=now, assignments={m: b"x" for m in known})))
        elif action < 0.75:
            member = rng.choice(list(known))
            heartbeat(core, member, known[member][1], instance=known[member][0], now=now)
        elif action < 0.8:
            member = rng.choice(list(known))
            core.handle(ctx(13, 3), LeaveGroupRequest(group_id="g", members=[
                LeaveGroupRequest.MemberIdentity(member_id=member, group_instance_id=known.pop(member)[0])]), now)
        core.tick(now)
        still = []
        for kind, inst, result in parked:
            resp = ready(result, now)
            if resp is None:
                still.append((kind, inst, result))
            elif kind == "join" and resp.member_id:
                known[resp.member_id] = (inst, resp.generation_id)
        parked = still
        group = core.groups.get("g")
        assert group is not None
        if group.state in ("Stable", "CompletingRebalance"):
            assert group.members and group.leader_id in group.members and group.protocol_name is not None
        if group.state == "Empty":
            assert not group.members
        assert set(group.static_members.values()) <= set(group.members)
        assert sum(group.supported_protocols.values()) == sum(len(m.protocols) for m in group.members.values())
    assert core.next_deadline() is not None
