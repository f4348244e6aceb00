"""Classic consumer groups (JoinGroup/SyncGroup/Heartbeat/LeaveGroup): membership, generations, rebalances.

This module owns the classic group coordinator, modelled on Kafka 3.9/4.0's
``GroupMetadataManager``/``ClassicGroup``: groups move through Empty,
PreparingRebalance, CompletingRebalance and Stable (Dead once deleted); a
rebalance collects every member's JoinGroup (members that do not rejoin within
the rebalance timeout are removed, static members excepted), picks the protocol
all members support with the most votes, elects a leader, and the leader's
SyncGroup hands every member its assignment. An Empty group's first rebalance
waits ``group.initial.rebalance.delay.ms``, extended while new members keep
arriving (up to the rebalance timeout). Members expire when they miss their
session timeout; new dynamic members first get MEMBER_ID_REQUIRED (v4+); static
members (``group.instance.id``) rejoin under a new member id and keep their
assignment without a rebalance when their protocols did not change, which
fences the old id (FENCED_INSTANCE_ID).

Nothing here waits: a JoinGroup or SyncGroup that must wait gets a ``Reply``
that is filled later (by another member's request or by ``tick``), and its
handler polls it through ``broker.core.Pending``. Every state change that can
fill a reply calls ``core.appended()`` so parked polls look again. Deadlines
(rebalance, initial delay, pending sync, session expiry) live in one timer heap
keyed like Kafka's timer keys (scheduling a key again replaces it);
``next_deadline`` is its earliest live entry.

Group metadata (protocol type, generation, protocol, leader, members with their
subscription for the chosen protocol, assignment and static instance id) is
written as ``"group"`` records to ``__consumer_offsets`` when Kafka writes its
GroupMetadata record (a new group, a generation that ends Empty, the leader's
assignment, a static member replaced), with a tombstone when the group is
deleted. On start-up the records rebuild the groups (Stable with members, else
Empty) and every member must heartbeat within its session timeout, as after a
coordinator failover.
"""

from __future__ import annotations

import base64
import heapq
import itertools
import logging
import struct
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from broker.state.internal import GROUP_TOPIC, JsonObject
from wire.kafka.error_codes import ErrorCode

if TYPE_CHECKING:
    from broker.core import BrokerCore

log = logging.getLogger("broker.groups")

EMPTY = "Empty"
PREPARING_REBALANCE = "PreparingRebalance"
COMPLETING_REBALANCE = "CompletingRebalance"
STABLE = "Stable"
DEAD = "Dead"
STATES = (EMPTY, PREPARING_REBALANCE, COMPLETING_REBALANCE, STABLE, DEAD)
CAN_REBALANCE_FROM = (STABLE, COMPLETING_REBALANCE, EMPTY)  # PreparingRebalance's valid previous states

CONSUMER_PROTOCOL_TYPE = "consumer"
NEW_MEMBER_JOIN_TIMEOUT_MS = 5 * 60 * 1000  # Kafka's classicGroupNewMemberJoinTimeoutMs
UNKNOWN_MEMBER_ID = ""

Protocols = list[tuple[str, bytes]]  # (protocol name, member metadata), in the member's order of preference
TimerKey = tuple[str, str, str]  # (kind, group id, member id)


@dataclass
class JoinResult:
    """What a JoinGroup response says, before it is shaped for a version."""

    error: ErrorCode = ErrorCode.NONE
    member_id: str = ""
    generation_id: int = -1
    protocol_type: str | None = None
    protocol_name: str | None = None
    leader: str = ""
    skip_assignment: bool = False
    members: list[tuple[str, str | None, bytes]] = field(default_factory=list)  # (id, instance id, metadata)


@dataclass
class SyncResult:
    """What a SyncGroup response says, before it is shaped for a version."""

    error: ErrorCode = ErrorCode.NONE
    protocol_type: str | None = None
    protocol_name: str | None = None
    assignment: bytes = b""


ResultT = TypeVar("ResultT")


class Reply(Generic[ResultT]):
    """A response slot a parked request polls (Kafka's response future): filled once, later fills ignored."""

    __slots__ = ("result",)

    def __init__(self) -> None:
        self.result: ResultT | None = None

    @property
    def done(self) -> bool:
        return self.result is not None

    def complete(self, result: ResultT) -> bool:
        if self.result is not None:
            return False
        self.result = result
        return True


@dataclass
class ClassicMember:
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout_ms: int
    session_timeout_ms: int
    protocol_type: str
    protocols: Protocols
    assignment: bytes = b""
    awaiting_join: Reply[JoinResult] | None = None
    awaiting_sync: Reply[SyncResult] | None = None
    is_new: bool = False

    @property
    def protocol_names(self) -> list[str]:
        return [name for name, _ in self.protocols]

    def metadata(self, protocol_name: str | None) -> bytes:
        for name, metadata in self.protocols:
            if name == protocol_name:
                return metadata
        return b""

    def vote(self, candidates: set[str]) -> str:
        """The first of this member's protocols (its preference order) that every member supports."""
        return next(name for name in self.protocol_names if name in candidates)

    @property
    def has_satisfied_heartbeat(self) -> bool:
        """A member waiting in a rebalance (JoinGroup or SyncGroup parked) needs no heartbeat; a new one does."""
        if self.is_new:
            return False
        return self.awaiting_join is not None or self.awaiting_sync is not None


def parse_subscribed_topics(metadata: bytes) -> list[str] | None:
    """Topics of a ConsumerProtocol subscription (the v0 prefix every version shares), None if unreadable."""
    try:
        version, count = struct.unpack_from(">hi", metadata, 0)
        if version < 0 or count < 0:
            return None
        pos, topics = 6, []
        for _ in range(count):
            (length,) = struct.unpack_from(">h", metadata, pos)
            pos += 2
            if length < 0 or pos + length > len(metadata):
                return None
            topics.append(metadata[pos:pos + length].decode())
            pos += length
        return topics
    except (struct.error, UnicodeDecodeError):
        return None


class ClassicGroup:
    """One classic group's membership and state (Kafka's ClassicGroup)."""

    def __init__(self, group_id: str, state: str = EMPTY, generation_id: int = 0, protocol_type: str | None = None,
                 protocol_name: str | None = None, leader_id: str | None = None, state_timestamp: int = -1) -> None:
        self.group_id = group_id
        self.state = state
        self.previous_state: str | None = None
        self.state_timestamp = state_timestamp  # wall ms of the last transition
        self.generation_id = generation_id
        self.protocol_type = protocol_type
        self.protocol_name = protocol_name
        self.leader_id = leader_id
        self.members: dict[str, ClassicMember] = {}  # in joining order
        self.static_members: dict[str, str] = {}  # group instance id -> member id
        self.pending_join_members: set[str] = set()  # ids handed out with MEMBER_ID_REQUIRED, not yet joined
        self.pending_sync_members: set[str] = set()
        self.supported_protocols: Counter[str] = Counter()  # protocol name -> members supporting it
        self.subscribed_topics: set[str] | None = None
        self.new_member_added = False  # a member joined during the initial delay: extend it

    # -- the interface other coordinators read ------------------------------------------------

    @property
    def is_empty(self) -> bool:
        return self.state == EMPTY

    # -- membership ------------------------------------------------------------------------------

    def is_leader(self, member_id: str) -> bool:
        return self.leader_id == member_id

    def add(self, member: ClassicMember, reply: Reply[JoinResult] | None = None) -> None:
        if member.group_instance_id is not None:
            self.static_members[member.group_instance_id] = member.member_id
        if not self.members:
            self.protocol_type = member.protocol_type
        if self.leader_id is None:
            self.leader_id = member.member_id
        self.members[member.member_id] = member
        self.supported_protocols.update(member.protocol_names)
        member.awaiting_join = reply
        self.pending_join_members.discard(member.member_id)

    def remove(self, member_id: str) -> None:
        removed = self.members.pop(member_id, None)
        if removed is not None:
            self.supported_protocols.subtract(removed.protocol_names)
            if removed.group_instance_id is not None:
                self.static_members.pop(removed.group_instance_id, None)
        if self.is_leader(member_id):
            self.leader_id = next(iter(self.members), None)
        self.pending_join_members.discard(member_id)
        self.pending_sync_members.discard(member_id)

    def update_member(self, member: ClassicMember, protocols: Protocols, rebalance_timeout_ms: int,
                      session_timeout_ms: int, reply: Reply[JoinResult] | None) -> None:
        self.supported_protocols.subtract(member.protocol_names)
        member.protocols = protocols
        self.supported_protocols.update(member.protocol_names)
        member.rebalance_timeout_ms = rebalance_timeout_ms
        member.session_timeout_ms = session_timeout_ms
        member.awaiting_join = reply

    def replace_static_member(self, instance_id: str, old_member_id: str, new_member_id: str) -> ClassicMember:
        """The static member under ``instance_id`` continues as ``new_member_id``; the old id is fenced at once."""
        old = self.members.pop(old_member_id)
        if old.awaiting_join is not None:
            old.awaiting_join.complete(JoinResult(ErrorCode.FENCED_INSTANCE_ID, member_id=old_member_id))
            old.awaiting_join = None
        if old.awaiting_sync is not None:
            old.awaiting_sync.complete(SyncResult(ErrorCode.FENCED_INSTANCE_ID))
            old.awaiting_sync = None
        new = ClassicMember(new_member_id, old.group_instance_id, old.client_id, old.client_host,
                            old.rebalance_timeout_ms, old.session_timeout_ms, old.protocol_type, old.protocols,
                            old.assignment)
        self.members[new_member_id] = new
        if self.is_leader(old_member_id):
            self.leader_id = new_member_id
        self.static_members[instance_id] = new_member_id
        return new

    def complete_join(self, member: ClassicMember, result: JoinResult) -> bool:
        if member.awaiting_join is None:
            return False
        member.awaiting_join.complete(result)
        member.awaiting_join = None
        return True

    def complete_sync(self, member: ClassicMember, result: SyncResult) -> bool:
        if member.awaiting_sync is None:
            return False
        member.awaiting_sync.complete(result)
        member.awaiting_sync = None
        return True

    @property
    def awaiting_join_count(self) -> int:
        return sum(1 for m in self.members.values() if m.awaiting_join is not None)

    @property
    def has_all_members_joined(self) -> bool:
        return len(self.members) == self.awaiting_join_count and not self.pending_join_members

    def not_yet_rejoined(self) -> list[ClassicMember]:
        return [m for m in self.members.values() if m.awaiting_join is None]

    def rebalance_timeout_ms(self) -> int:
        return max((m.rebalance_timeout_ms for m in self.members.values()), default=0)

    def validate_member(self, member_id: str, group_instance_id: str | None) -> ErrorCode:
        """Kafka's validateMember: a static id must map to this member id (else FENCED_INSTANCE_ID), and the
        member must exist (else UNKNOWN_MEMBER_ID)."""
        if group_instance_id is not None:
            existing = self.static_members.get(group_instance_id)
            if existing is None:
                return ErrorCode.UNKNOWN_MEMBER_ID
            if existing != member_id:
                return ErrorCode.FENCED_INSTANCE_ID
        return ErrorCode.NONE if member_id in self.members else ErrorCode.UNKNOWN_MEMBER_ID

    # -- protocols -------------------------------------------------------------------------------

    def candidate_protocols(self) -> set[str]:
        return {name for name, count in self.supported_protocols.items() if count == len(self.members)}

    def supports_protocols(self, protocol_type: str, names: Iterable[str]) -> bool:
        names = list(names)
        if self.state == EMPTY:
            return bool(protocol_type) and bool(names)
        return self.protocol_type == protocol_type and any(
            self.supported_protocols.get(name, 0) == len(self.members) for name in names)

    def select_protocol(self) -> str:
        """Each member votes for its most preferred protocol among those all members support; most votes wins
        (ties: the protocol the earliest-joined member voted for)."""
        candidates = self.candidate_protocols()
        votes: Counter[str] = Counter(m.vote(candidates) for m in self.members.values())
        best = max(votes.values())
        return next(name for name in votes if votes[name] == best)

    def compute_subscribed_topics(self) -> set[str] | None:
        if self.protocol_type != CONSUMER_PROTOCOL_TYPE:
            return None
        if not self.members:
            return set()
        if self.protocol_name is None:
            return None
        topics: set[str] = set()
        for member in self.members.values():
            parsed = parse_subscribed_topics(member.metadata(self.protocol_name))
            if parsed is None:
                return None
            topics.update(parsed)
        return topics

    # -- state -------------------------------------------------------------------------------------

    @property
    def can_rebalance(self) -> bool:
        return self.state in CAN_REBALANCE_FROM

    def transition(self, state: str, wall_ms: int) -> None:
        self.previous_state, self.state = self.state, state
        self.state_timestamp = wall_ms

    def maybe_elect_new_joined_leader(self) -> bool:
        """Keep the leader if it rejoined, else make the first rejoined member leader; False if nobody rejoined."""
        if self.leader_id is None:
            return False
        leader = self.members.get(self.leader_id)
        if leader is not None and leader.awaiting_join is not None:
            return True
        for member in self.members.values():
            if member.awaiting_join is not None:
                self.leader_id = member.member_id
                return True
        return False

    def init_next_generation(self, wall_ms: int) -> None:
        self.generation_id += 1
        if self.members:
            self.protocol_name = self.select_protocol()
            self.subscribed_topics = self.compute_subscribed_topics()
            self.transition(COMPLETING_REBALANCE, wall_ms)
        else:
            self.protocol_name = None
            self.subscribed_topics = self.compute_subscribed_topics()
            self.transition(EMPTY, wall_ms)
        self.pending_sync_members.clear()

    def current_members(self) -> list[tuple[str, str | None, bytes]]:
        """The members as the leader's JoinGroup response lists them, with their metadata for the protocol."""
        return [(m.member_id, m.group_instance_id, m.metadata(self.protocol_name)) for m in self.members.values()]


class _Timers:
    """Deadlines by key, like Kafka's coordinator timer: scheduling a key again replaces its deadline."""

    def __init__(self, core: BrokerCore) -> None:
        self.core = core
        self.entries: dict[TimerKey, tuple[int, int, Callable[[], None]]] = {}
        self.heap: list[tuple[int, int, TimerKey]] = []
        self.tokens = itertools.count()

    def schedule(self, key: TimerKey, at_ms: int, action: Callable[[], None]) -> None:
        token = next(self.tokens)
        self.entries[key] = (at_ms, token, action)
        heapq.heappush(self.heap, (at_ms, token, key))
        if len(self.heap) > 4 * len(self.entries) + 64:  # drop replaced entries now and then
            self.heap = [(at, tok, k) for k, (at, tok, _) in self.entries.items()]
            heapq.heapify(self.heap)
        self.core.schedule(at_ms)

    def cancel(self, key: TimerKey) -> None:
        self.entries.pop(key, None)

    def _live_top(self) -> tuple[int, int, TimerKey] | None:
        while self.heap:
            at, token, key = self.heap[0]
            entry = self.entries.get(key)
            if entry is not None and entry[1] == token:
                return self.heap[0]
            heapq.heappop(self.heap)
        return None

    def next_deadline(self) -> int | None:
        top = self._live_top()
        return None if top is None else top[0]

    def pop_due(self, now_ms: int) -> Callable[[], None] | None:
        top = self._live_top()
        if top is None or top[0] > now_ms:
            return None
        heapq.heappop(self.heap)
        return self.entries.pop(top[2])[2]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: Any) -> bytes:
    return base64.b64decode(text) if text else b""


class GroupCoordinator:
    def __init__(self, core: BrokerCore) -> None:
        self.core = core
        self.groups: dict[str, ClassicGroup] = {}
        self.timers = _Timers(core)
        self.writes = 0  # group records written (so a join can tell whether it persisted anything)
        core.internal.register("group", self._restore)
        self._schedule_cleanup()

    # -- the core's hooks --------------------------------------------------------------------------

    def next_deadline(self) -> int | None:
        return self.timers.next_deadline()

    def tick(self, now_ms: int) -> None:
        ran = False
        while (action := self.timers.pop_due(now_ms)) is not None:
            try:
                action()
            except Exception:  # a bug in one deadline must not stop the broker's deadline task
                log.exception("group coordinator deadline failed")
            ran = True
        if ran:
            self.core.appended()

    # -- interfaces other handlers use -------------------------------------------------------------

    def get(self, group_id: str) -> ClassicGroup | None:
        return self.groups.get(group_id)

    def subscribed_topics(self, group_id: str) -> set[str]:
        """Topics the members of a classic consumer group subscribe to (empty when unknown)."""
        group = self.groups.get(group_id)
        if group is None or group.subscribed_topics is None:
            return set()
        return set(group.subscribed_topics)

    def validate_commit(self, group_id: str, member_id: str, generation_id: int, group_instance_id: str | None,
                        *, version: int | None = None, transactional: bool = False) -> ErrorCode:
        """Kafka's OffsetCommit/TxnOffsetCommit checks for a classic group (``version``: the OffsetCommit
        version, v9+ answers GROUP_ID_NOT_FOUND for an unknown group with a generation)."""
        group = self.groups.get(group_id)
        if group is None:
            if generation_id < 0:
                return ErrorCode.NONE  # a simple (admin or manually assigned) consumer's group
            if self.core.offsets.has_offsets(group_id):  # Kafka's simple group: exists, Empty, no members
                return ErrorCode.UNKNOWN_MEMBER_ID
            if version is not None and version >= 9 and not transactional:
                return ErrorCode.GROUP_ID_NOT_FOUND
            return ErrorCode.ILLEGAL_GENERATION
        if group.state == DEAD:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        if generation_id < 0 and group.state == EMPTY:
            return ErrorCode.NONE
        if generation_id >= 0 or member_id or group_instance_id is not None:
            error = group.validate_member(member_id, group_instance_id)
            if error:
                return error
            if generation_id != group.generation_id:
                return ErrorCode.ILLEGAL_GENERATION
        elif not transactional and group.state != EMPTY:
            return ErrorCode.UNKNOWN_MEMBER_ID
        if not transactional and group.state == COMPLETING_REBALANCE:
            return ErrorCode.REBALANCE_IN_PROGRESS
        return ErrorCode.NONE

    def is_coordinator(self, group_id: str, node_id: int) -> bool:
        return self.core.internal.coordinator(GROUP_TOPIC, group_id) == node_id

    def consumer_protocol_group(self, group_id: str) -> Any:
        """The KIP-848 group of this id, if the consumer group coordinator has one."""
        return self.core.consumer_groups.get(group_id)

    def live(self, group_id: str) -> ClassicGroup | None:
        """The classic group of this id, unless a consumer-protocol group has taken the id over: an Empty
        classic group is replaced when a KIP-848 member creates a group of the same id (as Kafka converts it)."""
        group = self.groups.get(group_id)
        if group is not None and group.is_empty and self.consumer_protocol_group(group_id) is not None:
            return None
        return group

    def _consumer_group_blocks_join(self, group_id: str) -> bool:
        """A classic JoinGroup to a consumer-protocol group: an empty one gives the id back to the classic
        protocol (Kafka 4.0 deletes it and creates a classic group); a non-empty one refuses the member."""
        consumer_group = self.consumer_protocol_group(group_id)
        if consumer_group is None or self.live(group_id) is not None:
            return False
        if not consumer_group.is_empty:
            return True
        self.core.consumer_groups.delete_group(group_id)
        shadowed = self.groups.get(group_id)
        if shadowed is not None:  # an Empty classic group the consumer group had taken over: start afresh
            self._remove_group(shadowed)
        return False

    # -- JoinGroup ---------------------------------------------------------------------------------

    def join(self, node_id: int, group_id: str, member_id: str, group_instance_id: str | None, protocol_type: str,
             protocols: Protocols, session_timeout_ms: int, rebalance_timeout_ms: int, version: int,
             client_id: str, client_host: str) -> Reply[JoinResult]:
        reply: Reply[JoinResult] = Reply()
        cfg = self.core.config
        if not group_id:
            reply.complete(JoinResult(ErrorCode.INVALID_GROUP_ID, member_id=member_id))
        elif not cfg.group_min_session_timeout_ms <= session_timeout_ms <= cfg.group_max_session_timeout_ms:
            reply.complete(JoinResult(ErrorCode.INVALID_SESSION_TIMEOUT, member_id=member_id))
        elif not self.is_coordinator(group_id, node_id):
            reply.complete(JoinResult(ErrorCode.NOT_COORDINATOR))
        elif self._consumer_group_blocks_join(group_id):
            # Kafka 4.0 would admit a classic member into a non-empty consumer-protocol group (online
            # migration); this broker does not mix the protocols in one group
            reply.complete(JoinResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, member_id=UNKNOWN_MEMBER_ID))
        else:
            if version == 0:
                rebalance_timeout_ms = session_timeout_ms
            unique: dict[str, bytes] = {}
            for name, metadata in protocols:  # one entry per protocol name, as Kafka's keyed collection
                unique.setdefault(name, metadata)
            protocols = list(unique.items())
            request = _JoinRequest(group_id, member_id, group_instance_id, protocol_type, protocols,
                                   session_timeout_ms, rebalance_timeout_ms, version, client_id, client_host)
            self._join(request, reply)
            self.core.appended()
        return reply

    def _join(self, req: _JoinRequest, reply: Reply[JoinResult]) -> None:
        unknown = req.member_id == UNKNOWN_MEMBER_ID
        group = self.groups.get(req.group_id)
        is_new_group = group is None
        if group is None:
            if not unknown:
                reply.complete(JoinResult(ErrorCode.UNKNOWN_MEMBER_ID, member_id=req.member_id))
                return
            group = ClassicGroup(req.group_id, state_timestamp=self.core.wall_ms())
            self.groups[req.group_id] = group
        writes = self.writes
        if not self._accept_joining_member(group, req.member_id):
            group.remove(req.member_id)
            reply.complete(JoinResult(ErrorCode.GROUP_MAX_SIZE_REACHED, member_id=UNKNOWN_MEMBER_ID))
        elif unknown:
            self._join_new_member(group, req, reply)
        else:
            self._join_existing_member(group, req, reply)
        if is_new_group and self.writes == writes:
            self._store(group)

    def _accept_joining_member(self, group: ClassicGroup, member_id: str) -> bool:
        max_size = self.core.config.group_max_size
        if group.state in (EMPTY, DEAD):
            return True
        if group.state == PREPARING_REBALANCE:
            member = group.members.get(member_id)
            return (member is not None and member.awaiting_join is not None) or group.awaiting_join_count < max_size
        return member_id in group.members or len(group.members) < max_size

    def _join_new_member(self, group: ClassicGroup, req: _JoinRequest, reply: Reply[JoinResult]) -> None:
        if group.state == DEAD:
            reply.complete(JoinResult(ErrorCode.COORDINATOR_NOT_AVAILABLE, member_id=UNKNOWN_MEMBER_ID))
            return
        if not group.supports_protocols(req.protocol_type, [name for name, _ in req.protocols]):
            reply.complete(JoinResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, member_id=UNKNOWN_MEMBER_ID))
            return
        new_member_id = f"{req.group_instance_id if req.group_instance_id is not None else req.client_id}-{uuid.uuid4()}"
        if req.group_instance_id is not None:
            existing = group.static_members.get(req.group_instance_id)
            if existing is not None:
                self._update_static_member(group, req, existing, new_member_id, reply)
            else:
                self._add_member_then_rebalance(group, req, new_member_id, reply)
        elif req.version >= 4:
            group.pending_join_members.add(new_member_id)
            self._schedule_heartbeat_expiry(group.group_id, new_member_id, req.session_timeout_ms)
            reply.complete(JoinResult(ErrorCode.MEMBER_ID_REQUIRED, member_id=new_member_id))
        else:
            self._add_member_then_rebalance(group, req, new_member_id, reply)

    def _join_existing_member(self, group: ClassicGroup, req: _JoinRequest, reply: Reply[JoinResult]) -> None:
        member_id = req.member_id
        if group.state == DEAD:
            reply.complete(JoinResult(ErrorCode.COORDINATOR_NOT_AVAILABLE, member_id=member_id))
            return
        if not group.supports_protocols(req.protocol_type, [name for name, _ in req.protocols]):
            reply.complete(JoinResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL, member_id=member_id))
            return
        if member_id in group.pending_join_members:
            self._add_member_then_rebalance(group, req, member_id, reply)
            return
        error = group.validate_member(member_id, req.group_instance_id)
        if error:
            reply.complete(JoinResult(error, member_id=member_id))
            return
        member = group.members[member_id]
        if group.state == PREPARING_REBALANCE:
            self._update_member_then_rebalance(group, member, req, reply)
        elif group.state == COMPLETING_REBALANCE:
            if member.protocols == req.protocols:
                # the same metadata again (it lost the first response): the current generation once more
                reply.complete(self._join_result(group, member_id, with_members=group.is_leader(member_id)))
            else:
                self._update_member_then_rebalance(group, member, req, reply)
        elif group.state == STABLE:
            if group.is_leader(member_id) or member.protocols != req.protocols:
                # the leader rejoining forces a rebalance (how it reacts to metadata changes), as do new protocols
                self._update_member_then_rebalance(group, member, req, reply)
            else:
                reply.complete(self._join_result(group, member_id, with_members=False))
        else:  # Empty: let the member reset its generation and rejoin
            reply.complete(JoinResult(ErrorCode.UNKNOWN_MEMBER_ID, member_id=member_id))

    def _join_result(self, group: ClassicGroup, member_id: str, with_members: bool, leader: str | None = None,
                     skip_assignment: bool = False) -> JoinResult:
        return JoinResult(ErrorCode.NONE, member_id=member_id, generation_id=group.generation_id,
                          protocol_type=group.protocol_type, protocol_name=group.protocol_name,
                          leader=(group.leader_id or "") if leader is None else leader,
                          skip_assignment=skip_assignment, members=group.current_members() if with_members else [])

    def _update_member_then_rebalance(self, group: ClassicGroup, member: ClassicMember, req: _JoinRequest,
                                      reply: Reply[JoinResult]) -> None:
        group.update_member(member, req.protocols, req.rebalance_timeout_ms, req.session_timeout_ms, reply)
        self._maybe_prepare_rebalance_or_complete_join(group)

    def _add_member_then_rebalance(self, group: ClassicGroup, req: _JoinRequest, member_id: str,
                                   reply: Reply[JoinResult]) -> None:
        member = ClassicMember(member_id, req.group_instance_id, req.client_id, req.client_host,
                               req.rebalance_timeout_ms, req.session_timeout_ms, req.protocol_type,
                               list(req.protocols), is_new=True)
        if group.state == PREPARING_REBALANCE and group.previous_state == EMPTY:
            group.new_member_added = True  # the initial delay is extended
        group.add(member, reply)
        # a new member cannot heartbeat yet (no member id) and a parked JoinGroup hides a disconnect, so its
        # join gets Kafka's fixed new-member timeout instead of the session timeout
        self._schedule_heartbeat_expiry(group.group_id, member_id, NEW_MEMBER_JOIN_TIMEOUT_MS)
        self._maybe_prepare_rebalance_or_complete_join(group)

    def _update_static_member(self, group: ClassicGroup, req: _JoinRequest, old_member_id: str, new_member_id: str,
                              reply: Reply[JoinResult]) -> None:
        assert req.group_instance_id is not None
        old_leader = group.leader_id or ""
        member = group.replace_static_member(req.group_instance_id, old_member_id, new_member_id)
        self.timers.cancel(("hb", group.group_id, old_member_id))
        self._schedule_heartbeat_expiry(group.group_id, new_member_id, member.session_timeout_ms)
        group.update_member(member, req.protocols, req.rebalance_timeout_ms, req.session_timeout_ms, reply)
        if group.state == STABLE:
            if group.protocol_name == group.select_protocol():
                # nothing the assignment depends on changed: persist the new member id, no rebalance
                self._store(group)
                if req.version >= 9:
                    is_leader = group.is_leader(new_member_id)
                    result = self._join_result(group, new_member_id, with_members=is_leader, skip_assignment=is_leader)
                else:
                    # before v9 the old leader id is returned, so a rejoining static leader does not reassign
                    result = self._join_result(group, new_member_id, with_members=False, leader=old_leader)
                group.complete_join(member, result)
            else:
                self._maybe_prepare_rebalance_or_complete_join(group)
        elif group.state == COMPLETING_REBALANCE:
            # the leader may already be assigning to the old member id: rebalance again
            self._prepare_rebalance(group)
        else:
            self._maybe_complete_join_phase(group)

    # -- rebalance ---------------------------------------------------------------------------------

    def _maybe_prepare_rebalance_or_complete_join(self, group: ClassicGroup) -> None:
        if group.can_rebalance:
            self._prepare_rebalance(group)
        else:
            self._maybe_complete_join_phase(group)

    def _prepare_rebalance(self, group: ClassicGroup) -> None:
        if group.state == COMPLETING_REBALANCE:
            self._reset_and_propagate_assignment_error(group, ErrorCode.REBALANCE_IN_PROGRESS)
        self._remove_sync_expiration(group)
        initial = group.state == EMPTY
        group_id = group.group_id
        if initial:
            delay = self.core.config.group_initial_rebalance_delay_ms
            remaining = max(group.rebalance_timeout_ms() - delay, 0)
            self.timers.schedule(("join", group_id, ""), self.core.now_ms + delay,
                                 lambda: self._try_complete_initial_rebalance(group_id, delay, remaining))
        group.transition(PREPARING_REBALANCE, self.core.wall_ms())
        log.info("group %s: preparing to rebalance (generation %d)", group_id, group.generation_id)
        if not initial:
            if group.has_all_members_joined:
                self._complete_join(group)
            else:
                self.timers.schedule(("join", group_id, ""), self.core.now_ms + group.rebalance_timeout_ms(),
                                     lambda: self._complete_join_by_id(group_id))

    def _try_complete_initial_rebalance(self, group_id: str, delay: int, remaining: int) -> None:
        group = self.groups.get(group_id)
        if group is None:
            return
        if group.new_member_added and remaining != 0:
            group.new_member_added = False
            new_delay = min(self.core.config.group_initial_rebalance_delay_ms, remaining)
            new_remaining = max(remaining - delay, 0)
            self.timers.schedule(("join", group_id, ""), self.core.now_ms + new_delay,
                                 lambda: self._try_complete_initial_rebalance(group_id, new_delay, new_remaining))
        else:
            self._complete_join(group)

    def _maybe_complete_join_phase(self, group: ClassicGroup) -> None:
        if group.state != PREPARING_REBALANCE or group.previous_state == EMPTY or not group.has_all_members_joined:
            return  # not rebalancing, the initial delay still runs, or members are still to rejoin
        self._complete_join(group)

    def _complete_join_by_id(self, group_id: str) -> None:
        group = self.groups.get(group_id)
        if group is not None:
            self._complete_join(group)

    def _complete_join(self, group: ClassicGroup) -> None:
        """End the join phase: drop dynamic members that did not rejoin, start the next generation, answer
        every parked JoinGroup (the leader gets the members) and wait for SyncGroup."""
        group_id = group.group_id
        self.timers.cancel(("join", group_id, ""))
        for member in group.not_yet_rejoined():
            if member.group_instance_id is None:
                group.remove(member.member_id)
                self.timers.cancel(("hb", group_id, member.member_id))
                log.info("group %s: member %s did not rejoin in time; removed", group_id, member.member_id)
        if group.state == DEAD:
            return
        if not group.maybe_elect_new_joined_leader() and group.members:
            # nobody rejoined: wait another rebalance timeout until sessions remove the silent members
            self.timers.schedule(("join", group_id, ""), self.core.now_ms + group.rebalance_timeout_ms(),
                                 lambda: self._complete_join_by_id(group_id))
            return
        group.init_next_generation(self.core.wall_ms())
        if group.state == EMPTY:
            log.info("group %s: generation %d is empty", group_id, group.generation_id)
            self._store(group)
            return
        log.info("group %s: generation %d with %d members, protocol %s", group_id, group.generation_id,
                 len(group.members), group.protocol_name)
        for member in list(group.members.values()):
            group.complete_join(member, self._join_result(group, member.member_id,
                                                          with_members=group.is_leader(member.member_id)))
            self._schedule_heartbeat_expiry(group_id, member.member_id, member.session_timeout_ms)
            member.is_new = False
            group.pending_sync_members.add(member.member_id)
        generation = group.generation_id
        self.timers.schedule(("sync", group_id, ""), self.core.now_ms + group.rebalance_timeout_ms(),
                             lambda: self._expire_pending_sync(group_id, generation))

    def _expire_pending_sync(self, group_id: str, generation_id: int) -> None:
        group = self.groups.get(group_id)
        if group is None or generation_id != group.generation_id:
            return
        if group.state in (COMPLETING_REBALANCE, STABLE) and group.pending_sync_members:
            for member_id in list(group.pending_sync_members):
                group.remove(member_id)
                self.timers.cancel(("hb", group_id, member_id))
            log.info("group %s: members that sent no SyncGroup in time removed", group_id)
            self._prepare_rebalance(group)

    def _remove_sync_expiration(self, group: ClassicGroup) -> None:
        group.pending_sync_members.clear()
        self.timers.cancel(("sync", group.group_id, ""))

    def _remove_pending_sync_member(self, group: ClassicGroup, member_id: str) -> None:
        group.pending_sync_members.discard(member_id)
        if group.state in (DEAD, EMPTY, PREPARING_REBALANCE) or not group.pending_sync_members:
            self.timers.cancel(("sync", group.group_id, ""))

    def _reset_and_propagate_assignment_error(self, group: ClassicGroup, error: ErrorCode) -> None:
        for member in group.members.values():
            member.assignment = b""
        self._propagate_assignment(group, error)

    def _set_and_propagate_assignment(self, group: ClassicGroup, assignment: dict[str, bytes]) -> None:
        for member in group.members.values():
            member.assignment = assignment.get(member.member_id, b"")
        self._propagate_assignment(group, ErrorCode.NONE)

    def _propagate_assignment(self, group: ClassicGroup, error: ErrorCode) -> None:
        ok = error == ErrorCode.NONE
        for member in list(group.members.values()):
            result = SyncResult(error, group.protocol_type if ok else None, group.protocol_name if ok else None,
                                member.assignment)
            if group.complete_sync(member, result):
                self._schedule_heartbeat_expiry(group.group_id, member.member_id, member.session_timeout_ms)

    # -- sessions ----------------------------------------------------------------------------------

    def _schedule_heartbeat_expiry(self, group_id: str, member_id: str, timeout_ms: int) -> None:
        self.timers.schedule(("hb", group_id, member_id), self.core.now_ms + timeout_ms,
                             lambda: self._expire_heartbeat(group_id, member_id))

    def _expire_heartbeat(self, group_id: str, member_id: str) -> None:
        group = self.groups.get(group_id)
        if group is None or group.state == DEAD:
            return
        if member_id in group.pending_join_members:
            group.remove(member_id)
            if group.state == PREPARING_REBALANCE and group.has_all_members_joined:
                self._complete_join(group)
            return
        member = group.members.get(member_id)
        if member is not None and not member.has_satisfied_heartbeat:
            log.info("group %s: member %s session expired; removed", group_id, member_id)
            self._remove_member_and_update(group, member)

    def _remove_member_and_update(self, group: ClassicGroup, member: ClassicMember) -> None:
        # a new member may still have a JoinGroup parked: answer it so an active client joins again
        group.complete_join(member, JoinResult(ErrorCode.UNKNOWN_MEMBER_ID, member_id=UNKNOWN_MEMBER_ID))
        group.remove(member.member_id)
        if group.state in (STABLE, COMPLETING_REBALANCE):
            self._maybe_prepare_rebalance_or_complete_join(group)
        elif group.state == PREPARING_REBALANCE and group.has_all_members_joined:
            self._complete_join(group)

    # -- SyncGroup ---------------------------------------------------------------------------------

    def sync(self, node_id: int, group_id: str, member_id: str, group_instance_id: str | None, generation_id: int,
             protocol_type: str | None, protocol_name: str | None,
             assignments: list[tuple[str, bytes]]) -> Reply[SyncResult]:
        reply: Reply[SyncResult] = Reply()
        if not group_id:
            reply.complete(SyncResult(ErrorCode.INVALID_GROUP_ID))
            return reply
        if not self.is_coordinator(group_id, node_id):
            reply.complete(SyncResult(ErrorCode.NOT_COORDINATOR))
            return reply
        group = self.groups.get(group_id)
        if group is None or group.is_empty:
            reply.complete(SyncResult(ErrorCode.UNKNOWN_MEMBER_ID))
            return reply
        error = self._validate_sync(group, member_id, group_instance_id, generation_id, protocol_type, protocol_name)
        if error:
            reply.complete(SyncResult(error))
        elif group.state == PREPARING_REBALANCE:
            reply.complete(SyncResult(ErrorCode.REBALANCE_IN_PROGRESS))
        elif group.state == COMPLETING_REBALANCE:
            group.members[member_id].awaiting_sync = reply
            self._remove_pending_sync_member(group, member_id)
            if group.is_leader(member_id):
                given = dict(assignments)
                full = {m: given.get(m, b"") for m in group.members}
                self._store(group, full)
                if group.state == COMPLETING_REBALANCE and generation_id == group.generation_id:
                    self._set_and_propagate_assignment(group, full)
                    group.transition(STABLE, self.core.wall_ms())
                    log.info("group %s: generation %d is stable", group_id, group.generation_id)
            self.core.appended()
        elif group.state == STABLE:
            self._remove_pending_sync_member(group, member_id)
            member = group.members[member_id]
            reply.complete(SyncResult(ErrorCode.NONE, group.protocol_type, group.protocol_name, member.assignment))
        return reply

    @staticmethod
    def _validate_sync(group: ClassicGroup, member_id: str, group_instance_id: str | None, generation_id: int,
                       protocol_type: str | None, protocol_name: str | None) -> ErrorCode:
        if group.state == DEAD:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        error = group.validate_member(member_id, group_instance_id)
        if error:
            return error
        if generation_id != group.generation_id:
            return ErrorCode.ILLEGAL_GENERATION
        if _inconsistent(protocol_type, group.protocol_type) or _inconsistent(protocol_name, group.protocol_name):
            return ErrorCode.INCONSISTENT_GROUP_PROTOCOL
        return ErrorCode.NONE

    # -- Heartbeat and LeaveGroup -----------------------------------------------------------------

    def heartbeat(self, node_id: int, group_id: str, member_id: str, group_instance_id: str | None,
                  generation_id: int) -> ErrorCode:
        if not group_id:
            return ErrorCode.INVALID_GROUP_ID
        if not self.is_coordinator(group_id, node_id):
            return ErrorCode.NOT_COORDINATOR
        group = self.groups.get(group_id)
        if group is None:
            return ErrorCode.UNKNOWN_MEMBER_ID  # also for a consumer-protocol group: no classic member there
        if group.state == DEAD:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE
        error = group.validate_member(member_id, group_instance_id)
        if error:
            return error
        if generation_id != group.generation_id:
            return ErrorCode.ILLEGAL_GENERATION
        if group.state == EMPTY:
            return ErrorCode.UNKNOWN_MEMBER_ID
        member = group.members[member_id]
        self._schedule_heartbeat_expiry(group_id, member_id, member.session_timeout_ms)
        return ErrorCode.REBALANCE_IN_PROGRESS if group.state == PREPARING_REBALANCE else ErrorCode.NONE

    def leave(self, node_id: int, group_id: str,
              members: list[tuple[str, str | None]]) -> tuple[ErrorCode, list[tuple[str, str | None, ErrorCode]]]:
        """Remove members (by member id, or by instance id with an empty member id); returns the top-level
        error and one (member id, instance id, error) per member asked."""
        if not group_id:
            return ErrorCode.INVALID_GROUP_ID, []
        if not self.is_coordinator(group_id, node_id):
            return ErrorCode.NOT_COORDINATOR, []
        group = self.groups.get(group_id)
        if group is None:
            return ErrorCode.NONE, [(m, i, ErrorCode.UNKNOWN_MEMBER_ID) for m, i in members]
        if group.state == DEAD:
            return ErrorCode.COORDINATOR_NOT_AVAILABLE, []
        results: list[tuple[str, str | None, ErrorCode]] = []
        left = False
        for member_id, instance_id in members:
            if member_id == UNKNOWN_MEMBER_ID:
                static_id = group.static_members.get(instance_id) if instance_id is not None else None
                if static_id is None:
                    results.append((member_id, instance_id, ErrorCode.UNKNOWN_MEMBER_ID))
                    continue
                self._remove_current_member(group, static_id)
            elif member_id in group.pending_join_members:
                group.remove(member_id)
                self.timers.cancel(("hb", group_id, member_id))
            else:
                error = group.validate_member(member_id, instance_id)
                if error:
                    results.append((member_id, instance_id, error))
                    continue
                self._remove_current_member(group, member_id)
            results.append((member_id, instance_id, ErrorCode.NONE))
            left = True
            log.info("group %s: member %s left", group_id, member_id or instance_id)
        if left:
            if group.state in (STABLE, COMPLETING_REBALANCE):
                self._maybe_prepare_rebalance_or_complete_join(group)
            elif group.state == PREPARING_REBALANCE:
                self._maybe_complete_join_phase(group)
            self.core.appended()
        return ErrorCode.NONE, results

    def _remove_current_member(self, group: ClassicGroup, member_id: str) -> None:
        self.timers.cancel(("hb", group.group_id, member_id))
        member = group.members[member_id]
        group.complete_join(member, JoinResult(ErrorCode.UNKNOWN_MEMBER_ID, member_id=UNKNOWN_MEMBER_ID))
        group.remove(member_id)

    # -- DeleteGroups and clean-up -----------------------------------------------------------------

    def delete(self, group_id: str) -> ErrorCode:
        """DeleteGroups for one group coordinated here: only an Empty group (or one with only offsets) goes,
        with its committed offsets."""
        group = self.live(group_id)
        if group is not None:
            if group.state == DEAD:
                return ErrorCode.GROUP_ID_NOT_FOUND
            if group.state != EMPTY:
                return ErrorCode.NON_EMPTY_GROUP
            self.core.offsets.delete_group(group_id)
            self._remove_group(group)
            return ErrorCode.NONE
        consumer_group = self.consumer_protocol_group(group_id)
        if consumer_group is not None:
            if not consumer_group.is_empty:
                return ErrorCode.NON_EMPTY_GROUP
            self.core.offsets.delete_group(group_id)
            self.core.consumer_groups.delete_group(group_id)
            shadowed = self.groups.get(group_id)
            if shadowed is not None:
                self._remove_group(shadowed)
            return ErrorCode.NONE
        if self.core.offsets.has_offsets(group_id):
            self.core.offsets.delete_group(group_id)
            return ErrorCode.NONE
        return ErrorCode.GROUP_ID_NOT_FOUND

    def drop_empty_group(self, group_id: str) -> None:
        """A KIP-848 group takes this id over: an Empty classic group of it goes (tombstone written), its
        committed offsets stay, as Kafka converts the group."""
        group = self.groups.get(group_id)
        if group is not None and group.is_empty:
            self._remove_group(group)

    def _remove_group(self, group: ClassicGroup) -> None:
        """Forget ``group`` (Dead) and write its tombstone."""
        for member_id in [*group.members, *group.pending_join_members]:
            self.timers.cancel(("hb", group.group_id, member_id))
        self.timers.cancel(("join", group.group_id, ""))
        self.timers.cancel(("sync", group.group_id, ""))
        group.transition(DEAD, self.core.wall_ms())
        del self.groups[group.group_id]
        self.core.internal.write(GROUP_TOPIC, group.group_id, [({"t": "group", "g": group.group_id}, None)])
        self.writes += 1
        self.core.appended()

    def _schedule_cleanup(self) -> None:
        interval = max(1, self.core.config.offsets_retention_check_interval_ms)
        self.timers.schedule(("cleanup", "", ""), self.core.now_ms + interval, self._cleanup)

    def _cleanup(self) -> None:
        """Kafka's periodic group metadata clean-up: an Empty group without committed offsets is deleted."""
        for group in list(self.groups.values()):
            if group.state == EMPTY and not group.pending_join_members and not self.core.offsets.has_offsets(
                    group.group_id):
                log.info("group %s: empty and without offsets; deleted", group.group_id)
                self._remove_group(group)
        self._schedule_cleanup()

    # -- persistence -------------------------------------------------------------------------------

    def _store(self, group: ClassicGroup, assignment: dict[str, bytes] | None = None) -> None:
        """Write the group's metadata record (Kafka's GroupMetadataValue), with ``assignment`` or the members'."""
        members = [{
            "id": m.member_id, "instance": m.group_instance_id, "client_id": m.client_id, "host": m.client_host,
            "rebalance_timeout": m.rebalance_timeout_ms, "session_timeout": m.session_timeout_ms,
            "subscription": _b64(m.metadata(group.protocol_name)),
            "assignment": _b64(assignment.get(m.member_id, b"") if assignment is not None else m.assignment),
        } for m in group.members.values()]
        value: JsonObject = {"protocol_type": group.protocol_type or "", "generation": group.generation_id,
                             "protocol": group.protocol_name, "leader": group.leader_id,
                             "state_ts": group.state_timestamp, "members": members}
        self.core.internal.write(GROUP_TOPIC, group.group_id, [({"t": "group", "g": group.group_id}, value)])
        self.writes += 1

    def _restore(self, key: JsonObject, value: JsonObject | None, timestamp: int) -> None:
        group_id = str(key["g"])
        old = self.groups.pop(group_id, None)
        if old is not None:
            for member_id in old.members:
                self.timers.cancel(("hb", group_id, member_id))
        if value is None:
            return
        members = value.get("members") or []
        protocol = value.get("protocol")
        group = ClassicGroup(group_id, STABLE if members else EMPTY, int(value.get("generation", 0)),
                             value.get("protocol_type") or None, protocol, value.get("leader"),
                             int(value.get("state_ts", -1)))
        for m in members:
            session = int(m["session_timeout"])
            rebalance = int(m.get("rebalance_timeout", -1))
            member = ClassicMember(str(m["id"]), m.get("instance"), str(m.get("client_id", "")), str(m.get("host", "")),
                                   session if rebalance == -1 else rebalance, session, group.protocol_type or "",
                                   [(protocol or "", _unb64(m.get("subscription")))], _unb64(m.get("assignment")))
            group.add(member)
            self._schedule_heartbeat_expiry(group_id, member.member_id, session)
        group.subscribed_topics = group.compute_subscribed_topics()
        self.groups[group_id] = group


@dataclass
class _JoinRequest:
    group_id: str
    member_id: str
    group_instance_id: str | None
    protocol_type: str
    protocols: Protocols
    session_timeout_ms: int
    rebalance_timeout_ms: int
    version: int
    client_id: str
    client_host: str


def _inconsistent(requested: str | None, current: str | None) -> bool:
    return requested is not None and current is not None and requested != current
