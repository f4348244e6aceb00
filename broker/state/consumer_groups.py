"""KIP-848 consumer groups (ConsumerGroupHeartbeat, ConsumerGroupDescribe): server-side assignment, member epochs.

This module owns every group of type "consumer" (the next-generation protocol
of Kafka 4.0, ``group.protocol=consumer`` in the clients); classic groups
(JoinGroup/SyncGroup) live in ``broker.state.groups``. It follows Kafka's
``GroupMetadataManager`` / ``CurrentAssignmentBuilder``:

* **Group epoch** moves whenever the membership, a subscription (topic names or
  SubscribedTopicRegex) or the subscribed topics' metadata (ids, partition
  counts) changes. The subscribed-topic metadata is recomputed on every
  heartbeat, so partitions added by CreatePartitions, and topics created later
  that a regex matches, reach the assignment on the next heartbeat.
* **Target assignment** (with its **assignment epoch**) is recomputed by the
  group's server assignor when the group epoch is ahead of it: "uniform"
  (default: balanced and sticky) or "range" (contiguous ranges per topic), as
  configured in ``group.consumer.assignors``; a member's ServerAssignor picks
  one (UNSUPPORTED_ASSIGNOR otherwise), the most common choice among members wins.
* **Reconciliation** moves each member from its current assignment towards its
  target, one heartbeat at a time: partitions it must give up are revoked first
  (member state ``unrevoked_partitions``, epoch unchanged, until the member no
  longer reports them); partitions still owned by another member are withheld
  (``unreleased_partitions``) until that member released them; otherwise the
  member reaches the target epoch (``stable``). So no partition is ever
  assigned to two members at once.
* **Epoch checks**: a heartbeat with a member epoch ahead of the coordinator's,
  or behind it other than the previous epoch with a subset of the assignment
  (a lost response), is FENCED_MEMBER_EPOCH; an unknown member is
  UNKNOWN_MEMBER_ID; an unknown group GROUP_ID_NOT_FOUND.
* **Leaving**: epoch -1 removes the member (its partitions become free at
  once); epoch -2 with an instance id keeps a static member's assignment for
  the same instance to take over with a new member id within the session
  timeout. Session timeouts (``group.consumer.session.timeout.ms``) and the
  member's rebalance timeout (while it holds partitions it must revoke) fence
  members through ``tick``.

The whole group is persisted as one ``"cgroup"`` record (key
``{"t": "cgroup", "g": group_id}``) in ``__consumer_offsets`` whenever it
changes, and a tombstone when it is deleted; ``_restore`` rebuilds groups from
those records on start-up (members get a fresh session timeout, and members
still revoking a fresh rebalance timeout, as Kafka reschedules them on
coordinator load). A heartbeat that changes nothing writes nothing.
"""

from __future__ import annotations

import base64
import dataclasses
import heapq
import logging
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from broker.state.internal import GROUP_TOPIC, JsonObject
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.consumer_group_heartbeat import (
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatRequest_TopicPartitions, ConsumerGroupHeartbeatResponse,
)

if TYPE_CHECKING:
    from broker.core import BrokerCore

log = logging.getLogger("broker.consumer_groups")

LEAVE_GROUP_MEMBER_EPOCH = -1
LEAVE_GROUP_STATIC_MEMBER_EPOCH = -2
CONSUMER_GENERATED_MEMBER_ID_REQUIRED_VERSION = 1  # KIP-1082: v1 members bring their own id

# member states (Kafka's MemberState)
STABLE = "stable"
UNREVOKED_PARTITIONS = "unrevoked_partitions"
UNRELEASED_PARTITIONS = "unreleased_partitions"

# ConsumerGroupDescribe's authorized operations without an authorizer: READ(3), DELETE(6), DESCRIBE(8)
GROUP_AUTHORIZED_OPERATIONS = (1 << 3) | (1 << 6) | (1 << 8)

Assignment = dict[uuid.UUID, set[int]]


class GroupError(Exception):
    """A heartbeat refused with ``code`` (and Kafka's message)."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def new_member_id() -> str:
    """A member id as Kafka's ``Uuid.randomUuid().toString()`` prints one: 22 url-safe base64 characters."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def copy_assignment(a: Assignment) -> Assignment:
    return {t: set(ps) for t, ps in a.items() if ps}


def assignment_from_request(owned: list[ConsumerGroupHeartbeatRequest_TopicPartitions] | None) -> Assignment | None:
    if owned is None:
        return None
    out: Assignment = {}
    for tp in owned:
        out.setdefault(tp.topic_id, set()).update(tp.partitions)
    return out


# -- regular expressions (RE2/J syntax, matched against whole topic names) -----------------------------

_RE2_UNSUPPORTED = re.compile(r"\(\?[=!]|\(\?<[=!]|\\[1-9]")


def compile_topic_regex(pattern: str) -> re.Pattern[str]:
    """Compile a SubscribedTopicRegex; GroupError INVALID_REGULAR_EXPRESSION when RE2/J would refuse it
    (Python's ``re`` stands in for RE2/J; lookaround and backreferences, which RE2 lacks, are refused)."""
    try:
        if _RE2_UNSUPPORTED.search(pattern):
            raise re.error("lookaround and backreferences are not supported")
        return re.compile(pattern)
    except re.error as ex:
        raise GroupError(ErrorCode.INVALID_REGULAR_EXPRESSION,
                         f"SubscribedTopicRegex `{pattern}` is not a valid regular expression: {ex}.") from None


# -- the model ------------------------------------------------------------------------------------------


@dataclass
class ConsumerGroupMember:
    member_id: str
    instance_id: str | None = None
    rack_id: str | None = None
    rebalance_timeout_ms: int = -1
    client_id: str = ""
    client_host: str = ""
    subscribed_topic_names: list[str] = field(default_factory=list)
    subscribed_topic_regex: str | None = None
    server_assignor: str | None = None
    member_epoch: int = 0
    previous_member_epoch: int = -1
    state: str = STABLE
    assigned: Assignment = field(default_factory=dict)
    pending_revocation: Assignment = field(default_factory=dict)
    # deadlines (core time), not persisted
    session_deadline_ms: int = 0
    rebalance_deadline_ms: int | None = None
    rebalance_epoch: int | None = None  # the epoch the rebalance deadline was set for

    def is_reconciled_to(self, epoch: int) -> bool:
        return self.state == STABLE and self.member_epoch == epoch

    def update_epoch(self, epoch: int) -> None:
        self.previous_member_epoch = self.member_epoch
        self.member_epoch = epoch

    def subscription_key(self) -> tuple[tuple[str, ...], str | None]:
        return tuple(self.subscribed_topic_names), self.subscribed_topic_regex

    def to_json(self, target: Assignment | None) -> JsonObject:
        def enc(a: Assignment) -> dict[str, list[int]]:
            return {str(t): sorted(ps) for t, ps in sorted(a.items(), key=lambda kv: str(kv[0])) if ps}
        return {"id": self.member_id, "iid": self.instance_id, "rack": self.rack_id,
                "rto": self.rebalance_timeout_ms, "cid": self.client_id, "host": self.client_host,
                "names": list(self.subscribed_topic_names), "regex": self.subscribed_topic_regex,
                "assignor": self.server_assignor, "epoch": self.member_epoch, "prev": self.previous_member_epoch,
                "state": self.state, "assigned": enc(self.assigned), "revoking": enc(self.pending_revocation),
                "target": enc(target or {})}

    @staticmethod
    def decode_assignment(raw: dict[str, list[int]]) -> Assignment:
        return {uuid.UUID(t): set(ps) for t, ps in raw.items()}

    @classmethod
    def from_json(cls, v: JsonObject) -> ConsumerGroupMember:
        return cls(member_id=v["id"], instance_id=v.get("iid"), rack_id=v.get("rack"),
                   rebalance_timeout_ms=int(v.get("rto", -1)), client_id=v.get("cid", ""),
                   client_host=v.get("host", ""), subscribed_topic_names=list(v.get("names", [])),
                   subscribed_topic_regex=v.get("regex"), server_assignor=v.get("assignor"),
                   member_epoch=int(v.get("epoch", 0)), previous_member_epoch=int(v.get("prev", -1)),
                   state=v.get("state", STABLE), assigned=cls.decode_assignment(v.get("assigned", {})),
                   pending_revocation=cls.decode_assignment(v.get("revoking", {})))


TopicMetadata = tuple[uuid.UUID, int]  # (topic id, partition count)


@dataclass
class ConsumerGroup:
    group_id: str
    group_epoch: int = 0
    assignment_epoch: int = 0
    members: dict[str, ConsumerGroupMember] = field(default_factory=dict)
    target: dict[str, Assignment] = field(default_factory=dict)  # member id -> target assignment
    subscription_metadata: dict[str, TopicMetadata] = field(default_factory=dict)  # subscribed topic -> metadata

    @property
    def is_empty(self) -> bool:
        return not self.members

    @property
    def state(self) -> str:
        """Kafka's ConsumerGroupState name."""
        if not self.members:
            return "Empty"
        if self.group_epoch > self.assignment_epoch:
            return "Assigning"
        if any(not m.is_reconciled_to(self.assignment_epoch) for m in self.members.values()):
            return "Reconciling"
        return "Stable"

    def static_member(self, instance_id: str | None) -> ConsumerGroupMember | None:
        if instance_id is None:
            return None
        return next((m for m in self.members.values() if m.instance_id == instance_id), None)

    def partition_epoch(self, topic_id: uuid.UUID, partition: int, skip: str | None = None) -> int:
        """The epoch of the member currently holding (or still revoking) this partition, else -1; ``skip``: a
        member whose own holdings do not count (a partition it is revoking may go straight back to it, as in
        Kafka's later CurrentAssignmentBuilder: only one member can hold a partition)."""
        for m in self.members.values():
            if m.member_id == skip:
                continue
            if partition in m.assigned.get(topic_id, ()) or partition in m.pending_revocation.get(topic_id, ()):
                return m.member_epoch
        return -1

    def preferred_assignor(self, default: str) -> str:
        """The ServerAssignor most members chose (ties: by name), else ``default``."""
        counts: dict[str, int] = {}
        for m in self.members.values():
            if m.server_assignor:
                counts[m.server_assignor] = counts.get(m.server_assignor, 0) + 1
        if not counts:
            return default
        return min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]

    def to_json(self) -> JsonObject:
        return {"epoch": self.group_epoch, "aepoch": self.assignment_epoch,
                "members": [m.to_json(self.target.get(m.member_id)) for m in self.members.values()],
                "subs": {name: [str(tid), n] for name, (tid, n) in sorted(self.subscription_metadata.items())}}

    @classmethod
    def from_json(cls, group_id: str, v: JsonObject) -> ConsumerGroup:
        group = cls(group_id, int(v.get("epoch", 0)), int(v.get("aepoch", 0)))
        for raw in v.get("members", []):
            member = ConsumerGroupMember.from_json(raw)
            group.members[member.member_id] = member
            group.target[member.member_id] = ConsumerGroupMember.decode_assignment(raw.get("target", {}))
        group.subscription_metadata = {name: (uuid.UUID(tid), int(n)) for name, (tid, n) in v.get("subs", {}).items()}
        return group


@dataclass(frozen=True)
class GroupListing:
    group_id: str
    protocol_type: str
    state: str
    group_type: str


# -- assignors ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberSpec:
    member_id: str
    instance_id: str | None
    topics: frozenset[uuid.UUID]  # subscribed topics that exist


TopicsById = dict[uuid.UUID, tuple[str, int]]  # topic id -> (name, partitions)
Assignor = Callable[[list[MemberSpec], TopicsById, dict[str, Assignment]], dict[str, Assignment]]


def uniform_assignor(members: list[MemberSpec], topics: TopicsById,
                     current: dict[str, Assignment]) -> dict[str, Assignment]:
    """Kafka's "uniform" assignor: balanced first, then sticky. Homogeneous subscriptions follow Kafka's
    UniformHomogeneousAssignmentBuilder; heterogeneous ones a balanced sticky greedy of our own."""
    if not members:
        return {}
    subscribed = members[0].topics & topics.keys()
    if all(m.topics & topics.keys() == subscribed for m in members):
        return _uniform_homogeneous(members, topics, current, subscribed)
    return _uniform_heterogeneous(members, topics, current)


def _uniform_homogeneous(members: list[MemberSpec], topics: TopicsById, current: dict[str, Assignment],
                         subscribed: frozenset[uuid.UUID]) -> dict[str, Assignment]:
    """Every member has a quota (total // members, the first total % members one more); each keeps its previous
    partitions up to its quota, and the partitions left over fill the members below quota, in order."""
    ordered = sorted(members, key=lambda m: m.member_id)
    order = sorted(subscribed, key=lambda t: topics[t][0])
    held = {(tid, p) for m in ordered for tid, ps in current.get(m.member_id, {}).items() if tid in subscribed
            for p in ps if p < topics[tid][1]}
    unassigned = [(tid, p) for tid in order for p in range(topics[tid][1]) if (tid, p) not in held]
    total = sum(topics[t][1] for t in subscribed)
    quota_min, extra = divmod(total, len(ordered))
    out: dict[str, Assignment] = {}
    unfilled: list[tuple[str, int]] = []
    taken: set[tuple[uuid.UUID, int]] = set()
    for m in ordered:
        quota = quota_min + (1 if extra > 0 else 0)
        extra -= 1 if extra > 0 else 0
        kept: Assignment = {}
        for tid in sorted(current.get(m.member_id, {}), key=lambda t: topics[t][0] if t in topics else ""):
            if tid not in subscribed:
                continue
            for p in sorted(current[m.member_id][tid]):
                if p >= topics[tid][1] or (tid, p) in taken:
                    continue
                if quota > 0:
                    kept.setdefault(tid, set()).add(p)
                    taken.add((tid, p))
                    quota -= 1
                else:
                    unassigned.append((tid, p))
        out[m.member_id] = kept
        if quota > 0:
            unfilled.append((m.member_id, quota))
    index = 0
    for member_id, quota in unfilled:
        for _ in range(quota):
            if index >= len(unassigned):
                break
            tid, p = unassigned[index]
            index += 1
            out[member_id].setdefault(tid, set()).add(p)
    return out


def _uniform_heterogeneous(members: list[MemberSpec], topics: TopicsById,
                           current: dict[str, Assignment]) -> dict[str, Assignment]:
    """Members keep the partitions they had where they still subscribe; free partitions (of the topics with the
    fewest subscribers first) go to the least loaded eligible member; then partitions move from a member to an
    eligible one with at least two fewer, until no such move remains (balance over stickiness)."""
    out: dict[str, Assignment] = {m.member_id: {} for m in members}
    count = {m.member_id: 0 for m in members}
    owner: dict[tuple[uuid.UUID, int], str] = {}
    for m in sorted(members, key=lambda m: m.member_id):
        for tid, parts in current.get(m.member_id, {}).items():
            if tid not in m.topics or tid not in topics:
                continue
            for p in sorted(parts):
                if p < topics[tid][1] and (tid, p) not in owner:
                    owner[(tid, p)] = m.member_id
                    out[m.member_id].setdefault(tid, set()).add(p)
                    count[m.member_id] += 1
    subscribers: dict[uuid.UUID, list[str]] = {
        tid: sorted(m.member_id for m in members if tid in m.topics) for tid in topics}
    # free partitions, the most constrained topics first
    free = [(tid, p) for tid in sorted(topics, key=lambda t: (len(subscribers[t]), topics[t][0]))
            for p in range(topics[tid][1]) if (tid, p) not in owner and subscribers[tid]]
    for tid, p in free:
        chosen = min(subscribers[tid], key=lambda mid: (count[mid], mid))
        owner[(tid, p)] = chosen
        out[chosen].setdefault(tid, set()).add(p)
        count[chosen] += 1
    moved = True
    while moved:
        moved = False
        for donor in sorted(count, key=lambda mid: (-count[mid], mid)):
            for tid in sorted(out[donor], key=lambda t: topics[t][0]):
                for p in sorted(out[donor][tid], reverse=True):
                    takers = [mid for mid in subscribers[tid] if count[mid] <= count[donor] - 2]
                    if not takers:
                        continue
                    taker = min(takers, key=lambda mid: (count[mid], mid))
                    out[donor][tid].discard(p)
                    out[taker].setdefault(tid, set()).add(p)
                    count[donor] -= 1
                    count[taker] += 1
                    moved = True
                    break
                if moved:
                    break
            if moved:
                break
    return {mid: {t: ps for t, ps in a.items() if ps} for mid, a in out.items()}


def range_assignor(members: list[MemberSpec], topics: TopicsById,
                   current: dict[str, Assignment]) -> dict[str, Assignment]:
    """Contiguous ranges per topic (Kafka's server-side RangeAssignor): the subscribed members, static ones first by
    instance id, then dynamic ones by member id, each take partitions // members, the first partitions % members
    one more, so co-partitioned topics line up and static members keep their ranges across restarts."""
    out: dict[str, Assignment] = {m.member_id: {} for m in members}
    for tid in sorted(topics, key=lambda t: topics[t][0]):
        subscribed = sorted((m for m in members if tid in m.topics),
                            key=lambda m: (0, m.instance_id) if m.instance_id is not None else (1, m.member_id))
        if not subscribed:
            continue
        n = topics[tid][1]
        quota, extra = divmod(n, len(subscribed))
        start = 0
        for i, m in enumerate(subscribed):
            size = quota + (1 if i < extra else 0)
            if size:
                out[m.member_id][tid] = set(range(start, start + size))
            start += size
    return out


ASSIGNORS: dict[str, Assignor] = {"uniform": uniform_assignor, "range": range_assignor}


# -- reconciliation (Kafka's CurrentAssignmentBuilder) -----------------------------------------------------


def _owns_any(owned: Assignment | None, partitions: Assignment) -> bool:
    if owned is None:  # not reported: assume the member still holds them
        return True
    return any(p in partitions.get(tid, ()) for tid, ps in owned.items() for p in ps)


def reconcile(group: ConsumerGroup, member: ConsumerGroupMember, target_epoch: int, target: Assignment,
              owned: Assignment | None) -> None:
    """Move ``member`` one step towards ``target`` (in place): revoke first, assign only released partitions."""
    if member.is_reconciled_to(target_epoch):
        return
    if member.state == STABLE:
        if member.member_epoch != target_epoch:
            _next_assignment(group, member, member.member_epoch, target_epoch, target, owned)
    elif member.state == UNREVOKED_PARTITIONS:
        if _owns_any(owned, member.pending_revocation):
            return
        _next_assignment(group, member, min(member.member_epoch + 1, target_epoch), target_epoch, target, owned)
    elif member.state == UNRELEASED_PARTITIONS:
        _next_assignment(group, member, member.member_epoch, target_epoch, target, owned)
    else:  # an unknown state: fence the member unless it already gave everything up
        if owned is None or owned:
            raise GroupError(ErrorCode.FENCED_MEMBER_EPOCH, "The consumer group member is in a unknown state. "
                             "The member must abandon all its partitions and rejoin.")
        _next_assignment(group, member, target_epoch, target_epoch, target, owned)


def _next_assignment(group: ConsumerGroup, member: ConsumerGroupMember, epoch: int, target_epoch: int,
                     target: Assignment, owned: Assignment | None) -> None:
    unreleased = False
    assigned: Assignment = {}
    revoking: Assignment = {}
    pending: Assignment = {}
    for tid in set(target) | set(member.assigned):
        want = target.get(tid, set())
        have = member.assigned.get(tid, set())
        keep = have & want
        give_up = have - keep
        new = want - keep
        blocked = {p for p in new if group.partition_epoch(tid, p, skip=member.member_id) != -1}
        if blocked:
            unreleased = True
            new -= blocked
        if keep:
            assigned[tid] = keep
        if give_up:
            revoking[tid] = give_up
        if new:
            pending[tid] = new
    if revoking and _owns_any(owned, revoking):
        member.state = UNREVOKED_PARTITIONS
        member.update_epoch(epoch)
        member.assigned = assigned
        member.pending_revocation = revoking
        return
    for tid, ps in pending.items():
        assigned.setdefault(tid, set()).update(ps)
    member.state = UNRELEASED_PARTITIONS if unreleased else STABLE
    member.update_epoch(target_epoch)
    member.assigned = assigned
    member.pending_revocation = {}


# -- the coordinator ------------------------------------------------------------------------------------


class ConsumerGroupCoordinator:
    def __init__(self, core: BrokerCore) -> None:
        self.core = core
        self.groups: dict[str, ConsumerGroup] = {}
        self._deadlines: list[tuple[int, str, str, str]] = []  # heap of (at ms, group, member, kind)
        self._persisted: dict[str, JsonObject] = {}
        core.internal.register("cgroup", self._restore)

    # -- interfaces for other handlers --------------------------------------------------------------

    def get(self, group_id: str) -> ConsumerGroup | None:
        return self.groups.get(group_id)

    def listing(self) -> list[GroupListing]:
        return [GroupListing(g.group_id, "consumer", g.state, "consumer") for g in self.groups.values()]

    def validate_offset_commit(self, group_id: str, member_id: str, member_epoch: int) -> ErrorCode:
        """Kafka's ConsumerGroup.validateOffsetCommit (also its OffsetFetch check): epoch < 0 from outside the
        group (admin, manual assignment) only while the group is empty; otherwise a member with that exact epoch."""
        group = self.groups.get(group_id)
        if group is None:
            return ErrorCode.NONE if member_epoch < 0 else ErrorCode.GROUP_ID_NOT_FOUND
        if member_epoch < 0 and not group.members:
            return ErrorCode.NONE
        member = group.members.get(member_id)
        if member is None:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if member_epoch != member.member_epoch:
            return ErrorCode.STALE_MEMBER_EPOCH
        return ErrorCode.NONE

    def delete(self, group_id: str) -> ErrorCode:
        group = self.groups.get(group_id)
        if group is None:
            return ErrorCode.GROUP_ID_NOT_FOUND
        if group.members:
            return ErrorCode.NON_EMPTY_GROUP
        del self.groups[group_id]
        self._persisted.pop(group_id, None)
        self.core.internal.write(GROUP_TOPIC, group_id, [(self._key(group_id), None)])
        return ErrorCode.NONE

    def delete_group(self, group_id: str) -> ErrorCode:
        """The name the classic coordinator's DeleteGroups calls (it deletes the offsets itself)."""
        return self.delete(group_id)

    def subscribed_topics(self, group_id: str) -> set[str]:
        """Topics the group's members subscribe to (names and regex matches), for OffsetDelete."""
        group = self.groups.get(group_id)
        if group is None:
            return set()
        return {name for member in group.members.values() for name in self._resolve(member)}

    @property
    def assignor_names(self) -> list[str]:
        names = [n.strip() for n in self.core.config.group_consumer_assignors.split(",") if n.strip()]
        return [n for n in names if n in ASSIGNORS] or ["uniform"]

    # -- ConsumerGroupHeartbeat -------------------------------------------------------------------

    def validate_heartbeat(self, req: ConsumerGroupHeartbeatRequest, version: int) -> None:
        """GroupCoordinatorService.throwIfConsumerGroupHeartbeatRequestIsInvalid (Kafka 4.0), in its order."""
        def blank(value: str | None) -> bool:
            return value is not None and not value.strip()

        if (version >= CONSUMER_GENERATED_MEMBER_ID_REQUIRED_VERSION or req.member_epoch > 0
                or req.member_epoch == LEAVE_GROUP_MEMBER_EPOCH) and blank(req.member_id):
            raise GroupError(ErrorCode.INVALID_REQUEST, "MemberId can't be empty.")
        if blank(req.group_id):
            raise GroupError(ErrorCode.INVALID_REQUEST, "GroupId can't be empty.")
        if blank(req.instance_id):
            raise GroupError(ErrorCode.INVALID_REQUEST, "InstanceId can't be empty.")
        if blank(req.rack_id):
            raise GroupError(ErrorCode.INVALID_REQUEST, "RackId can't be empty.")
        if req.member_epoch == 0:
            if req.rebalance_timeout_ms == -1:
                raise GroupError(ErrorCode.INVALID_REQUEST, "RebalanceTimeoutMs must be provided in first request.")
            if req.topic_partitions is None or req.topic_partitions:
                raise GroupError(ErrorCode.INVALID_REQUEST, "TopicPartitions must be empty when (re-)joining.")
            if req.subscribed_topic_names is None and req.subscribed_topic_regex is None:
                raise GroupError(ErrorCode.INVALID_REQUEST, "Either SubscribedTopicNames or SubscribedTopicRegex "
                                 "must be non-null when (re-)joining.")
        elif req.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH:
            if req.instance_id is None:
                raise GroupError(ErrorCode.INVALID_REQUEST, "InstanceId can't be null.")
        elif req.member_epoch < LEAVE_GROUP_STATIC_MEMBER_EPOCH:
            raise GroupError(ErrorCode.INVALID_REQUEST, "MemberEpoch is invalid.")
        names = self.assignor_names
        if req.server_assignor is not None and req.server_assignor not in names:
            raise GroupError(ErrorCode.UNSUPPORTED_ASSIGNOR, f"ServerAssignor {req.server_assignor} is not "
                             f"supported. Supported assignors: {', '.join(names)}.")

    def heartbeat(self, req: ConsumerGroupHeartbeatRequest, version: int, client_id: str,
                  client_host: str) -> ConsumerGroupHeartbeatResponse:
        """One ConsumerGroupHeartbeat (already validated, at the right coordinator); errors as responses."""
        try:
            if req.member_epoch in (LEAVE_GROUP_MEMBER_EPOCH, LEAVE_GROUP_STATIC_MEMBER_EPOCH):
                return self._leave(req)
            return self._heartbeat(req, client_id, client_host)
        except GroupError as err:
            return ConsumerGroupHeartbeatResponse(error_code=int(err.code), error_message=err.message)

    def _group_for(self, group_id: str, create: bool) -> ConsumerGroup:
        group = self.groups.get(group_id)
        classic_group = self.core.groups.get(group_id)
        if group is None and classic_group is not None and not classic_group.is_empty:
            raise GroupError(ErrorCode.GROUP_ID_NOT_FOUND, f"Group {group_id} is not a consumer group")
        if group is None:
            if not create:
                raise GroupError(ErrorCode.GROUP_ID_NOT_FOUND, f"Consumer group {group_id} not found.")
            group = ConsumerGroup(group_id)
        return group

    def _drop_empty_classic_group(self, group_id: str) -> None:
        """Kafka deletes an Empty classic group of this id (its offsets stay) when a consumer group takes the id."""
        self.core.groups.drop_empty_group(group_id)

    def _heartbeat(self, req: ConsumerGroupHeartbeatRequest, client_id: str,
                   client_host: str) -> ConsumerGroupHeartbeatResponse:
        now = self.core.now_ms
        joining = req.member_epoch == 0
        group = self._group_for(req.group_id, joining)
        member_id = req.member_id or new_member_id()
        owned = assignment_from_request(req.topic_partitions)
        max_size = self.core.config.group_consumer_max_size
        if len(group.members) >= max_size and member_id not in group.members:
            raise GroupError(ErrorCode.GROUP_MAX_SIZE_REACHED, "The consumer group has reached its maximum "
                             f"capacity of {max_size} members.")

        replaced: ConsumerGroupMember | None = None
        if req.instance_id is None:
            existing = group.members.get(member_id)
            if existing is None:
                if not joining:
                    raise GroupError(ErrorCode.UNKNOWN_MEMBER_ID,
                                     f"Member {member_id} is not a member of group {group.group_id}.")
                existing = ConsumerGroupMember(member_id)
            self._check_epoch(existing, req.member_epoch, owned)
            member = existing
        else:
            static = group.static_member(req.instance_id)
            if joining:
                if static is None:
                    member = group.members.get(member_id) or ConsumerGroupMember(member_id)
                else:
                    if static.member_epoch != LEAVE_GROUP_STATIC_MEMBER_EPOCH:
                        raise GroupError(ErrorCode.UNRELEASED_INSTANCE_ID, f"Static member {member_id} with instance "
                                         f"id {req.instance_id} cannot join the group because the instance id is "
                                         f"owned by {static.member_id} member.")
                    replaced = static
                    # the new instance takes over the old one's assignment under its own member id
                    member = dataclasses.replace(static, member_id=member_id, member_epoch=0, previous_member_epoch=0,
                                                 assigned=copy_assignment(static.assigned),
                                                 pending_revocation=copy_assignment(static.pending_revocation),
                                                 rebalance_deadline_ms=None, rebalance_epoch=None)
            else:
                if static is None:
                    raise GroupError(ErrorCode.UNKNOWN_MEMBER_ID, f"Instance id {req.instance_id} is unknown.")
                if static.member_id != member_id:
                    raise GroupError(ErrorCode.FENCED_INSTANCE_ID, f"Static member {member_id} with instance id "
                                     f"{req.instance_id} was fenced by member {static.member_id}.")
                self._check_epoch(static, req.member_epoch, owned)
                member = static

        # 1. the member's new subscription; the group epoch moves when subscriptions or their topics changed
        before = member.subscription_key()
        if req.subscribed_topic_regex is not None and req.subscribed_topic_regex != member.subscribed_topic_regex \
                and req.subscribed_topic_regex:
            compile_topic_regex(req.subscribed_topic_regex)
        if req.instance_id is not None:
            member.instance_id = req.instance_id
        if req.rack_id is not None:
            member.rack_id = req.rack_id
        if req.rebalance_timeout_ms != -1:
            member.rebalance_timeout_ms = req.rebalance_timeout_ms
        if req.server_assignor is not None:
            member.server_assignor = req.server_assignor
        if req.subscribed_topic_names is not None:
            member.subscribed_topic_names = sorted(set(req.subscribed_topic_names))
        if req.subscribed_topic_regex is not None:
            member.subscribed_topic_regex = req.subscribed_topic_regex  # librdkafka sends "" for none
        member.client_id = client_id
        member.client_host = client_host

        if replaced is not None:
            del group.members[replaced.member_id]
            group.target[member.member_id] = group.target.pop(replaced.member_id, {})
        group.members[member.member_id] = member
        bump = group.group_epoch == 0 or member.subscription_key() != before
        metadata = self._subscription_metadata(group)
        if metadata != group.subscription_metadata:
            group.subscription_metadata = metadata
            bump = True
        if bump:
            group.group_epoch += 1
            log.info("group %s: epoch %d", group.group_id, group.group_epoch)
        if group.group_id not in self.groups:
            self.groups[group.group_id] = group
            self._drop_empty_classic_group(group.group_id)

        # 2. a new target assignment when the group epoch moved past it
        if group.group_epoch > group.assignment_epoch:
            self._compute_target(group)
        target = group.target.get(member.member_id, {})

        # 3. one reconciliation step for this member
        assigned_before = copy_assignment(member.assigned)
        reconcile(group, member, group.assignment_epoch, target, owned)
        if member.state == UNREVOKED_PARTITIONS:
            if member.rebalance_deadline_ms is None or member.rebalance_epoch != member.member_epoch:
                member.rebalance_deadline_ms = now + max(0, member.rebalance_timeout_ms)
                member.rebalance_epoch = member.member_epoch
                self._schedule(member.rebalance_deadline_ms, group.group_id, member.member_id, "rebalance")
        else:
            member.rebalance_deadline_ms = member.rebalance_epoch = None
        member.session_deadline_ms = now + self.core.config.group_consumer_session_timeout_ms
        self._schedule(member.session_deadline_ms, group.group_id, member.member_id, "session")
        self._persist(group)

        resp = ConsumerGroupHeartbeatResponse(member_id=member.member_id, member_epoch=member.member_epoch,
                                              heartbeat_interval_ms=self.core.config.group_consumer_heartbeat_interval_ms)
        full = joining or (req.rebalance_timeout_ms != -1 and req.subscribed_topic_names is not None
                           and req.topic_partitions is not None)
        if full or assigned_before != member.assigned:
            resp.assignment = ConsumerGroupHeartbeatResponse.Assignment(topic_partitions=[
                ConsumerGroupHeartbeatResponse.TopicPartitions(tid, sorted(ps))
                for tid, ps in sorted(member.assigned.items(), key=lambda kv: str(kv[0])) if ps])
        return resp

    @staticmethod
    def _check_epoch(member: ConsumerGroupMember, received: int, owned: Assignment | None) -> None:
        if received > member.member_epoch:
            raise GroupError(ErrorCode.FENCED_MEMBER_EPOCH, f"The consumer group member has a greater member epoch "
                             f"({received}) than the one known by the group coordinator ({member.member_epoch}). "
                             "The member must abandon all its partitions and rejoin.")
        if received < member.member_epoch:
            subset = owned is not None and all(
                p in member.assigned.get(tid, ()) for tid, ps in owned.items() for p in ps)
            if received != member.previous_member_epoch or not subset:
                raise GroupError(ErrorCode.FENCED_MEMBER_EPOCH, f"The consumer group member has a smaller member "
                                 f"epoch ({received}) than the one known by the group coordinator "
                                 f"({member.member_epoch}). The member must abandon all its partitions and rejoin.")

    def _leave(self, req: ConsumerGroupHeartbeatRequest) -> ConsumerGroupHeartbeatResponse:
        group = self._group_for(req.group_id, create=False)
        if req.instance_id is None:
            member = group.members.get(req.member_id)
            if member is None:
                raise GroupError(ErrorCode.UNKNOWN_MEMBER_ID,
                                 f"Member {req.member_id} is not a member of group {group.group_id}.")
        else:
            static = group.static_member(req.instance_id)
            if static is None:
                raise GroupError(ErrorCode.UNKNOWN_MEMBER_ID, f"Instance id {req.instance_id} is unknown.")
            if static.member_id != req.member_id:
                raise GroupError(ErrorCode.FENCED_INSTANCE_ID, f"Static member {req.member_id} with instance id "
                                 f"{req.instance_id} was fenced by member {static.member_id}.")
            member = static
            if req.member_epoch == LEAVE_GROUP_STATIC_MEMBER_EPOCH:
                # a static member leaving for a while: it keeps its assignment (and its session timeout runs)
                member.member_epoch = LEAVE_GROUP_STATIC_MEMBER_EPOCH
                member.pending_revocation = {}
                member.rebalance_deadline_ms = None
                self._persist(group)
                log.info("group %s: static member %s (instance %s) left temporarily", group.group_id,
                         member.member_id, member.instance_id)
                return ConsumerGroupHeartbeatResponse(member_id=member.member_id,
                                                      member_epoch=LEAVE_GROUP_STATIC_MEMBER_EPOCH)
        self._fence(group, member, "left the group")
        return ConsumerGroupHeartbeatResponse(member_id=req.member_id, member_epoch=req.member_epoch)

    def _fence(self, group: ConsumerGroup, member: ConsumerGroupMember, reason: str) -> None:
        """Remove ``member``: its partitions are free at once, the group epoch moves."""
        log.info("group %s: member %s removed: %s", group.group_id, member.member_id, reason)
        group.members.pop(member.member_id, None)
        group.target.pop(member.member_id, None)
        group.subscription_metadata = self._subscription_metadata(group)
        group.group_epoch += 1
        self._persist(group)

    # -- assignment -------------------------------------------------------------------------------------

    def _resolve(self, member: ConsumerGroupMember) -> set[str]:
        """The topic names a member subscribes to: its names, plus existing non-internal topics its regex matches."""
        names = set(member.subscribed_topic_names)
        if member.subscribed_topic_regex:
            try:
                pattern = compile_topic_regex(member.subscribed_topic_regex)
            except GroupError:
                return names
            names.update(t.name for t in self.core.cluster.topics.values()
                         if not t.internal and pattern.fullmatch(t.name))
        return names

    def _subscription_metadata(self, group: ConsumerGroup) -> dict[str, TopicMetadata]:
        out: dict[str, TopicMetadata] = {}
        for member in group.members.values():
            for name in self._resolve(member):
                topic = self.core.cluster.topics.get(name)
                if topic is not None:
                    out[name] = (topic.topic_id, len(topic.partitions))
        return out

    def _compute_target(self, group: ConsumerGroup) -> None:
        assignor_name = group.preferred_assignor(self.assignor_names[0])
        assignor = ASSIGNORS.get(assignor_name, uniform_assignor)
        topics: TopicsById = {tid: (name, n) for name, (tid, n) in group.subscription_metadata.items()}
        specs = []
        for m in group.members.values():
            ids = frozenset(group.subscription_metadata[n][0] for n in self._resolve(m)
                            if n in group.subscription_metadata)
            specs.append(MemberSpec(m.member_id, m.instance_id, ids))
        group.target = assignor(specs, topics, {mid: copy_assignment(a) for mid, a in group.target.items()})
        group.assignment_epoch = group.group_epoch
        log.info("group %s: target assignment for epoch %d with %r", group.group_id, group.group_epoch, assignor_name)

    # -- deadlines --------------------------------------------------------------------------------------

    def _schedule(self, at_ms: int, group_id: str, member_id: str, kind: str) -> None:
        heapq.heappush(self._deadlines, (at_ms, group_id, member_id, kind))
        self.core.schedule(at_ms)

    def _live(self, entry: tuple[int, str, str, str]) -> ConsumerGroupMember | None:
        at, group_id, member_id, kind = entry
        group = self.groups.get(group_id)
        member = group.members.get(member_id) if group is not None else None
        if member is None:
            return None
        if kind == "session" and member.session_deadline_ms == at:
            return member
        if kind == "rebalance" and member.rebalance_deadline_ms == at:
            return member
        return None

    def next_deadline(self) -> int | None:
        while self._deadlines and self._live(self._deadlines[0]) is None:
            heapq.heappop(self._deadlines)
        return self._deadlines[0][0] if self._deadlines else None

    def tick(self, now_ms: int) -> None:
        changed = False
        while self._deadlines and self._deadlines[0][0] <= now_ms:
            entry = heapq.heappop(self._deadlines)
            member = self._live(entry)
            if member is None:
                continue
            group = self.groups[entry[1]]
            reason = ("the member session expired" if entry[3] == "session" else
                      f"it failed to transition from epoch {member.member_epoch} within "
                      f"{member.rebalance_timeout_ms}ms")
            self._fence(group, member, reason)
            changed = True
        if changed:
            self.core.appended()

    # -- persistence ------------------------------------------------------------------------------------

    @staticmethod
    def _key(group_id: str) -> JsonObject:
        return {"t": "cgroup", "g": group_id}

    def _persist(self, group: ConsumerGroup) -> None:
        value = group.to_json()
        if self._persisted.get(group.group_id) == value:
            return
        self.core.internal.write(GROUP_TOPIC, group.group_id, [(self._key(group.group_id), value)])
        self._persisted[group.group_id] = value

    def _restore(self, key: JsonObject, value: JsonObject | None, timestamp: int) -> None:
        group_id = str(key["g"])
        if value is None:
            self.groups.pop(group_id, None)
            self._persisted.pop(group_id, None)
            return
        group = ConsumerGroup.from_json(group_id, value)
        self.groups[group_id] = group
        self._persisted[group_id] = value
        now = self.core.now_ms
        deadline = now + self.core.config.group_consumer_session_timeout_ms
        for member in group.members.values():
            member.session_deadline_ms = deadline
            self._schedule(deadline, group_id, member.member_id, "session")
            if member.state == UNREVOKED_PARTITIONS:  # as Kafka's onLoaded: the revocation clock starts again
                member.rebalance_deadline_ms = now + max(0, member.rebalance_timeout_ms)
                member.rebalance_epoch = member.member_epoch
                self._schedule(member.rebalance_deadline_ms, group_id, member.member_id, "rebalance")


def describe_assignment(core: BrokerCore, assignment: Iterable[tuple[uuid.UUID, set[int]]]) -> list[tuple[uuid.UUID, str, list[int]]]:
    """(topic id, name, partitions) for the topics that still exist, for ConsumerGroupDescribe."""
    out = []
    for tid, ps in assignment:
        topic = core.cluster.by_id.get(tid)
        if topic is not None and ps:
            out.append((tid, topic.name, sorted(ps)))
    return sorted(out, key=lambda t: t[1])
