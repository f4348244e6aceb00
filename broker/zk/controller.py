"""The ZooKeeper-mode controller's decisions, as pure functions of a ``ZkView``.

Whichever broker holds ``/controller`` calls ``decide(view, broker_id)`` after
every change of its view and sends the writes it returns; the function is
level-triggered (it looks at the state, not at what just happened), so running
it again on the same view gives the same writes and, once they are back in the
view, none. No kazoo, no I/O, no clock. What it decides, following Kafka 3.9's
``KafkaController`` (unclean leader election disabled, its default):

* a topic without an id (written by an old tool: v1/v2 JSON) gets one
  (``AddPartitions`` rewriting the znode with the same partitions), as Kafka's
  controller does for topics without ids;
* a partition with no state znode yet (new topic, or partitions added) gets its
  initial state: leader = first live replica in assignment order, ISR = the
  live replicas, leader epoch 0 (no state while no replica is live);
* a partition whose leader is not live (broker gone) or is -1 elects the first
  replica in assignment order that is live and in the ISR (a broker coming back
  in the ISR thus takes over a leaderless partition); the ISR shrinks to its
  live members; with nobody to elect the leader is -1 and the ISR keeps one
  member (Kafka never empties it); leader epoch + 1;
* a partition whose live leader has dead ISR members: the ISR shrinks, leader
  epoch + 1 (Kafka's ``removeReplicasFromIsr`` bumps the epoch too);
* a partition being reassigned (KIP-455, ``reassignment_step``) waits until its
  target replicas are all in the ISR, then gets a leader among them and loses the
  removed replicas from its ISR, then its assignment becomes the target (one
  ``AddPartitions`` per topic); ``reassign`` starts or cancels reassignments;
* ``/admin/reassign_partitions`` (``legacy_reassignment_writes``) starts those
  reassignments and takes each partition out of the znode when it is done;
* a topic marked in ``/admin/delete_topics`` is not touched any more and is
  removed (``CompleteDeletion``: states, partitions, assignment, config,
  marker); a marker for a topic that does not exist is removed too.

Every ``SetPartitionStates`` is one write per topic, conditional on each
state's znode version and fenced by ``view.controller_epoch_version``; every
``AddPartitions`` (topic id, reassignment started or completed) is conditional on
the topic znode's version it was decided from and fenced the same way, so two
rewrites decided from one view cannot undo each other (the loser is
``WriteFailed``, the topic is read again and the decision made again).
``preferred_leader_writes`` is Kafka's auto leader rebalance (the core runs it
on a timer, ``leader.imbalance.check.interval.seconds``, default 300 s).
``assign_replicas`` is ``AdminUtils.assignReplicasToBrokers`` (rack-unaware).
``controlled_shutdown`` is ``doControlledShutdown`` (ControlledShutdown, API key 7).
``feature_writes`` is ``KafkaController.maybeSetupFeatureVersioning``, which the
core runs once each time this broker becomes controller (``onControllerFailover``).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from broker.zk.layout import NO_TOPIC_ID, new_kafka_uuid, uuid_to_kafka
from broker.zk.model import (
    FEATURE_DISABLED, FEATURE_ENABLED, FeatureZNode, SetFeatureZNode, SetLegacyReassignment,
    AddPartitions, CompleteDeletion, CompletePreferredElection, PartitionState, SetPartitionStates, TopicAssignment, ZkView, ZkWrite,
)

LEADER_IMBALANCE_PER_BROKER_PERCENTAGE = 10  # leader.imbalance.per.broker.percentage
LEADER_IMBALANCE_CHECK_INTERVAL_MS = 300_000  # leader.imbalance.check.interval.seconds = 300
NO_LEADER = -1


class AssignmentError(ValueError):
    """Kafka's InvalidPartitionsException / InvalidReplicationFactorException, with Kafka's messages."""


def topic_id_for_legacy_topic(view: ZkView, assignment: TopicAssignment) -> uuid.UUID:
    """The id the controller gives a topic written without one. Kafka draws a random one; ours is derived from
    the cluster, the controller epoch and the topic, so that deciding again on the same view asks for the same
    id (the core may send the write more than once before it comes back); never zero, never starting "-"."""
    seed = f"{view.cluster_id}/{view.controller_epoch}/{assignment.name}/{sorted(assignment.partitions.items())}"
    for attempt in range(1000):
        candidate = uuid.uuid5(uuid.NAMESPACE_URL, f"wiretwin-topic-id:{seed}:{attempt}")
        if candidate.int != 0 and not uuid_to_kafka(candidate).startswith("-"):
            return candidate
    return new_kafka_uuid()  # pragma: no cover - 1000 misses in a row cannot happen in practice


def decide(view: ZkView, broker_id: int, *,
           new_topic_id: Callable[[ZkView, TopicAssignment], uuid.UUID] = topic_id_for_legacy_topic,
           shutting_down: frozenset[int] = frozenset()) -> list[ZkWrite]:
    """The writes the controller ``broker_id`` makes for ``view`` (none unless it holds ``/controller``).
    Brokers in controlled shutdown (``shutting_down``) stay live but are not elected leader of a partition that
    lost its leader (``isReplicaOnline`` leaves them out)."""
    if view.controller_id != broker_id:
        return []
    live = set(view.brokers)
    writes: list[ZkWrite] = []
    for topic in sorted(view.deletions):
        writes.append(CompleteDeletion(topic))
    for name in sorted(view.topics):
        if name in view.deletions:
            continue
        assignment = view.topics[name]
        if assignment.topic_id == NO_TOPIC_ID:
            writes.append(AddPartitions(replace(assignment, topic_id=new_topic_id(view, assignment)),
                                        view.controller_epoch_version))
        states: dict[tuple[str, int], PartitionState] = {}
        completed: dict[int, list[int]] = {}
        for index in sorted(assignment.partitions):
            key = (name, index)
            replicas = assignment.partitions[index]
            current = view.states.get(key)
            new = (initial_state(replicas, live, view.controller_epoch) if current is None
                   else after_liveness_change(current, replicas, live, view.controller_epoch, shutting_down))
            if new is None and current is not None:
                new, done = reassignment_step(assignment, index, current, live - shutting_down, view.controller_epoch)
                if done:
                    completed[index] = assignment.target(index)
            if new is not None:
                states[key] = new
        if states:
            writes.append(SetPartitionStates(states, view.controller_epoch_version))
        if completed and assignment.topic_id != NO_TOPIC_ID:
            writes.append(AddPartitions(replace(
                assignment, partitions={**assignment.partitions, **completed},
                adding={p: r for p, r in assignment.adding.items() if p not in completed},
                removing={p: r for p, r in assignment.removing.items() if p not in completed}),
                view.controller_epoch_version))
    writes.extend(legacy_reassignment_writes(view, broker_id))
    if view.preferred_election is not None:  # the old tools' request: elect, then delete the znode
        changing = {k for w in writes if isinstance(w, SetPartitionStates) for k in w.states}
        elected, _ = requested_election(view, broker_id, PREFERRED_ELECTION, view.preferred_election - changing,
                                        shutting_down)
        by_topic: dict[str, dict[tuple[str, int], PartitionState]] = {}
        for key, state in elected.items():
            by_topic.setdefault(key[0], {})[key] = state
        writes.extend(SetPartitionStates(group, view.controller_epoch_version) for _, group in sorted(by_topic.items()))
        writes.append(CompletePreferredElection())
    return writes


# What a Kafka 3.9 broker in ZooKeeper mode supports (``KafkaServer``'s ``BrokerFeatures.createEmpty()``): no
# feature, so the controller finalizes none (``defaultFinalizedFeatures`` of nothing) and ApiVersions lists none.
ZK_SUPPORTED_FEATURES: dict[str, tuple[int, int]] = {}
DEFAULT_IBP = (3, 9)  # inter.broker.protocol.version's default in 3.9 (3.9-IV0)


def parse_ibp(text: str | None) -> tuple[int, int]:
    """``inter.broker.protocol.version`` ("2.7", "2.7-IV0", "3.9-IV0", "0.10.2") -> (major, minor); 0.x keeps
    its second number as minor ("0.10.2" -> (0, 10)). Unreadable or absent: the default, 3.9."""
    if not text:
        return DEFAULT_IBP
    parts = text.strip().split("-", 1)[0].split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return DEFAULT_IBP


def default_finalized_features(supported: dict[str, tuple[int, int]]) -> dict[str, int]:
    """``BrokerFeatures.defaultFinalizedFeatures``: every supported feature at its highest level, except
    ``kraft.version`` at 0."""
    return {name: 0 if name == "kraft.version" else hi for name, (_lo, hi) in supported.items()}


def feature_writes(view: ZkView, broker_id: int, ibp: tuple[int, int] = DEFAULT_IBP,
                   supported: dict[str, tuple[int, int]] | None = None) -> list[ZkWrite]:
    """``maybeSetupFeatureVersioning`` on controller failover. IBP >= 2.7 enables versioning: an absent
    ``/feature`` is created enabled with the default finalized features, an enabled one keeps its features, a
    disabled one is enabled with none; IBP < 2.7 disables it (status 0, no features). The znode version is 2
    from IBP 3.3 on (``FeatureZNode.apply``), else 1. Nothing is written when the znode already equals the
    result (version included), nor while ``/feature`` is unread or unreadable (Kafka's decode would fail)."""
    if view.controller_id != broker_id or not view.feature_heard:
        return []
    current = view.feature
    if current is None and view.feature_version >= 0:
        return []  # present but unreadable: Kafka's controller would fail over on it; we leave it alone
    version = 2 if ibp >= (3, 3) else 1
    if ibp >= (2, 7):
        if current is None:
            features = default_finalized_features(ZK_SUPPORTED_FEATURES if supported is None else supported)
        else:
            features = dict(current.features) if current.status == FEATURE_ENABLED else {}
        new = FeatureZNode(version, FEATURE_ENABLED, features)
    else:
        new = FeatureZNode(version, FEATURE_DISABLED, {})
    if new == current:
        return []
    return [SetFeatureZNode(new, view.feature_version, view.controller_epoch_version)]


def reassignment_step(assignment: TopicAssignment, index: int, state: PartitionState, live: set[int],
                      controller_epoch: int) -> tuple[PartitionState | None, bool]:
    # ``live``: the brokers online for an election (Kafka's isReplicaOnline: not those in controlled shutdown)
    """A reassignment's progress (KIP-455, ``onPartitionReassignment``), level-triggered: (a state to write, or
    None; whether the assignment can now be completed). While some target replica is not in the ISR nothing
    happens (the added replicas catch up; their leader adds them to the ISR). Once the ISR holds every target
    replica, the leader moves if it is not a live target replica (``ReassignPartitionLeaderElectionStrategy``:
    the first target replica that is live and in the ISR) and the replicas being removed leave the ISR, leader
    epoch + 1; once that state is in place, the assignment becomes the target replicas (the caller rewrites
    ``/brokers/topics/<topic>`` without the partition's adding/removing entries). A partition not being
    reassigned whose ISR names a broker that is no longer a replica (a cancelled reassignment) loses it the
    same way."""
    replicas = assignment.partitions.get(index, [])
    if not assignment.reassigning(index):
        if all(r in replicas for r in state.isr) or not replicas:
            return None, False
        target, removing = list(replicas), [r for r in state.isr if r not in replicas]
    else:
        target, removing = assignment.target(index), assignment.removing.get(index, [])
        if not set(target) <= set(state.isr):
            return None, False
    leader_ok = state.leader in target and state.leader in live
    if leader_ok and not any(r in state.isr for r in removing):
        return None, assignment.reassigning(index)
    leader = state.leader
    if not leader_ok:
        eligible = [r for r in target if r in live and r in state.isr]
        if not eligible:
            return None, False
        leader = eligible[0]
    isr = [r for r in state.isr if r not in removing] or [leader]
    return PartitionState(leader, state.leader_epoch + 1, isr, controller_epoch, zk_version=state.zk_version), False


ReassignmentResults = dict[tuple[str, int], tuple[int, str | None]]


def reassign(view: ZkView, broker_id: int, requested: dict[tuple[str, int], list[int] | None],
             shutting_down: Iterable[int] = ()) -> tuple[list[ZkWrite], ReassignmentResults]:
    """AlterPartitionReassignments on the controller (``processApiPartitionReassignment``): for each partition
    a target replica list (None: cancel), validated as Kafka does (INVALID_REPLICA_ASSIGNMENT for an empty list,
    duplicates, negative ids or added brokers that are not live; NO_REASSIGNMENT_IN_PROGRESS to cancel none;
    UNKNOWN_TOPIC_OR_PARTITION for a partition that does not exist or a topic being deleted), then
    ``reassignTo``: replicas = target then origin (distinct), adding = those not in the origin, removing =
    those not in the target; a cancellation reassigns to the origin. Returns one ``AddPartitions`` per topic
    and an (error code, message) per partition (0, None when started). The caller checks the controller."""
    from wire.kafka.error_codes import ErrorCode

    live = set(view.brokers) - set(shutting_down)
    results: ReassignmentResults = {}
    changed: dict[str, TopicAssignment] = {}
    for key in sorted(requested):
        topic, index = key
        target = requested[key]
        assignment = changed.get(topic) or view.topics.get(topic)
        replicas = assignment.partitions.get(index) if assignment is not None else None
        current = assignment if assignment is not None and replicas is not None else None
        origin = current.origin(index) if current is not None else []
        if target is not None:
            problem = None
            if not target:
                problem = "Empty replica list specified in partition reassignment."
            elif len(set(target)) != len(target):
                problem = f"Duplicate replica ids in partition reassignment replica list: {_scala_list(target)}"
            elif any(r < 0 for r in target):
                problem = f"Invalid broker id in replica list: {_scala_list(target)}"
            else:
                adding = [r for r in _distinct(target + origin) if r not in origin]
                if not set(adding) <= live:
                    problem = (f"Replica assignment has brokers that are not alive. Replica list: "
                               f"{_scala_list(adding)}, live broker list: Set({', '.join(map(str, sorted(live)))})")
            if problem is not None:
                results[key] = (ErrorCode.INVALID_REPLICA_ASSIGNMENT, problem)
                continue
        if current is not None and not current.reassigning(index) and target is None:
            results[key] = (ErrorCode.NO_REASSIGNMENT_IN_PROGRESS, "No partition reassignment is in progress.")
            continue
        if current is None or topic in view.deletions:
            if target is None and current is None:
                results[key] = (ErrorCode.NO_REASSIGNMENT_IN_PROGRESS, "No partition reassignment is in progress.")
            else:
                results[key] = (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "The partition does not exist.")
            continue
        goal = origin if target is None else list(target)
        full = _distinct(goal + origin)
        adding = [r for r in full if r not in origin]
        removing = [r for r in full if r not in goal]
        new_adding = {p: r for p, r in current.adding.items() if p != index}
        new_removing = {p: r for p, r in current.removing.items() if p != index}
        if adding:
            new_adding[index] = adding
        if removing:
            new_removing[index] = removing
        changed[topic] = replace(current, partitions={**current.partitions, index: full}, adding=new_adding,
                                 removing=new_removing)
        results[key] = (ErrorCode.NONE, None)
    return [AddPartitions(a, view.controller_epoch_version) for _, a in sorted(changed.items())], results


def legacy_reassignment_writes(view: ZkView, broker_id: int) -> list[ZkWrite]:
    """``/admin/reassign_partitions`` (the old tool's request), level-triggered: a named partition not being
    reassigned towards its target starts towards it (``reassign``), even one being reassigned towards another
    target (Kafka's ``processZkPartitionReassignment``: "The latest reassignment (whether by API or through zk)
    always takes precedence"; an AlterPartitionReassignments that takes a partition over removes it from the
    znode before it rewrites the topic, ``maybeRemoveFromZkReassignment``, so one still named here is the
    latest); one being reassigned towards it waits; it leaves the znode once its replicas are the target (done),
    or when it cannot start (the partition does not exist, or the target is invalid: Kafka's own znode path
    skips validating it); an empty znode is deleted."""
    if view.legacy_reassignment is None or view.controller_id != broker_id:
        return []
    start: dict[tuple[str, int], list[int] | None] = {}
    keep: dict[tuple[str, int], list[int]] = {}
    for key, target in view.legacy_reassignment.items():
        assignment = view.topics.get(key[0])
        replicas = assignment.partitions.get(key[1]) if assignment is not None else None
        if assignment is None or replicas is None or key[0] in view.deletions:
            continue  # failed: removed from the znode
        if assignment.reassigning(key[1]) and assignment.target(key[1]) == list(target):
            keep[key] = list(target)
        elif assignment.reassigning(key[1]) or list(replicas) != list(target):
            start[key] = list(target)
    writes: list[ZkWrite] = []
    if start:
        started, results = reassign(view, broker_id, start)
        writes.extend(started)
        keep.update({key: list(target) for key, target in start.items() if target is not None
                     and results.get(key, (1, None))[0] == 0})
    if keep != view.legacy_reassignment:
        writes.append(SetLegacyReassignment(keep or None, view.controller_epoch_version))
    return writes


def reassignments(view: ZkView, partitions: Iterable[tuple[str, int]] | None
                  ) -> dict[tuple[str, int], tuple[list[int], list[int], list[int]]]:
    """ListPartitionReassignments: (replicas, adding, removing) of every named partition being reassigned
    (all of them when ``partitions`` is None); others are left out."""
    keys = ([(t, p) for t, a in view.topics.items() for p in a.partitions] if partitions is None
            else list(partitions))
    out: dict[tuple[str, int], tuple[list[int], list[int], list[int]]] = {}
    for topic, index in sorted(set(keys)):
        assignment = view.topics.get(topic)
        # (a znode may name adding/removing replicas of a partition it does not have: not a reassignment)
        if assignment is not None and index in assignment.partitions and assignment.reassigning(index):
            out[(topic, index)] = (list(assignment.partitions[index]), list(assignment.adding.get(index, [])),
                                   list(assignment.removing.get(index, [])))
    return out


def _distinct(values: Iterable[int]) -> list[int]:
    return list(dict.fromkeys(values))


def _scala_list(values: Iterable[int]) -> str:
    return f"ArrayBuffer({', '.join(map(str, values))})"


def initial_state(replicas: Sequence[int], live: set[int], controller_epoch: int) -> PartitionState | None:
    """A new partition's first state (the znode is created: ``zk_version`` -1), or None while no replica is
    live (Kafka leaves such a partition in NewPartition, without a state znode)."""
    live_replicas = [r for r in replicas if r in live]
    if not live_replicas:
        return None
    return PartitionState(live_replicas[0], 0, live_replicas, controller_epoch, zk_version=-1)


def after_liveness_change(state: PartitionState, replicas: Sequence[int], live: set[int],
                          controller_epoch: int, shutting_down: frozenset[int] = frozenset()) -> PartitionState | None:
    """The state after brokers came or went (None: nothing to change). Conditional on the state's version."""
    live_isr = [r for r in state.isr if r in live]
    if state.leader != NO_LEADER and state.leader in live:
        if live_isr == list(state.isr):
            return None
        leader, isr = state.leader, live_isr  # the live leader is in its own ISR, so this is never empty
    else:
        electable = [r for r in replicas if r in live and r not in shutting_down and r in state.isr]
        if electable:
            leader, isr = electable[0], live_isr
        else:  # offline: Kafka removes dead replicas from the ISR one by one but never the last one
            leader = NO_LEADER
            isr = [state.leader] if state.leader in state.isr else list(state.isr[:1])
            if state.leader == NO_LEADER and isr and len(state.isr) == 1:
                return None
            if leader == state.leader and isr == list(state.isr):
                return None
    return PartitionState(leader, state.leader_epoch + 1, isr, controller_epoch, zk_version=state.zk_version)


def preferred_leader_writes(view: ZkView, broker_id: int, *,
                            imbalance_percentage: int = LEADER_IMBALANCE_PER_BROKER_PERCENTAGE,
                            excluded: frozenset[int] = frozenset()) -> list[ZkWrite]:
    """Kafka's auto leader rebalance: for each broker whose share of partitions it is the preferred (first)
    replica of but does not lead exceeds ``imbalance_percentage``, move leadership of those partitions back
    to it when it is live and in the ISR (leader epoch + 1, ISR unchanged). Brokers in controlled shutdown
    (``excluded``) are not live for this, as ``isReplicaOnline`` leaves them out."""
    if view.controller_id != broker_id:
        return []
    live = set(view.brokers) - excluded
    preferred_of: dict[int, list[tuple[str, int]]] = {}
    for name, assignment in view.topics.items():
        if name in view.deletions:
            continue
        for index, replicas in assignment.partitions.items():
            if replicas and (name, index) in view.states:
                preferred_of.setdefault(replicas[0], []).append((name, index))
    by_topic: dict[str, dict[tuple[str, int], PartitionState]] = {}
    for preferred in sorted(preferred_of):
        keys = preferred_of[preferred]
        imbalanced = [k for k in keys if view.states[k].leader != preferred]
        if preferred not in live or not imbalanced or len(imbalanced) * 100 <= imbalance_percentage * len(keys):
            continue
        for key in sorted(imbalanced):
            state = view.states[key]
            if preferred in state.isr:
                by_topic.setdefault(key[0], {})[key] = replace(
                    state, leader=preferred, leader_epoch=state.leader_epoch + 1,
                    controller_epoch=view.controller_epoch)
    return [SetPartitionStates(states, view.controller_epoch_version) for _, states in sorted(by_topic.items())]


PREFERRED_ELECTION, UNCLEAN_ELECTION = 0, 1
NOT_NEEDED = "Leader election not needed for topic partition"
Election = tuple[dict[tuple[str, int], PartitionState], dict[tuple[str, int], tuple[int, str | None]]]


def requested_election(view: ZkView, broker_id: int, election_type: int,
                       partitions: Iterable[tuple[str, int]] | None, shutting_down: Iterable[int] = ()) -> Election:
    """ElectLeaders on the ZooKeeper-mode controller (``KafkaController.processReplicaLeaderElection``): the new
    states to write, and an (error code, message) for every named partition that gets no new state. ``None``
    partitions means every partition, and then the ones that need no election are left out of the results.

    Preferred: the first replica takes over when it is live and in the ISR; already leading is
    ELECTION_NOT_NEEDED; otherwise PREFERRED_LEADER_NOT_AVAILABLE. Unclean: only a partition without a live
    leader is elected, from the live ISR first and else any live replica (data may be lost, as the name says);
    none live is ELIGIBLE_LEADERS_NOT_AVAILABLE. A broker that is not the controller answers NOT_CONTROLLER.
    Brokers in controlled shutdown count as offline here (Kafka's ``isReplicaOnline``): never elected, and a
    leader that is shutting down can be replaced by an unclean election."""
    from wire.kafka.error_codes import ErrorCode

    every = partitions is None
    keys = sorted(view.states if every else set(partitions or ()))
    states: dict[tuple[str, int], PartitionState] = {}
    results: dict[tuple[str, int], tuple[int, str | None]] = {}
    if view.controller_id != broker_id:
        return states, {key: (ErrorCode.NOT_CONTROLLER, None) for key in keys}
    live = set(view.brokers) - set(shutting_down)
    strategy = ("PreferredReplicaPartitionLeaderElectionStrategy" if election_type == PREFERRED_ELECTION
                else "OfflinePartitionLeaderElectionStrategy(true)")
    for key in keys:
        topic, index = key
        replicas = view.topics[topic].partitions.get(index) if topic in view.topics else None
        state = view.states.get(key)
        if election_type not in (PREFERRED_ELECTION, UNCLEAN_ELECTION):
            results[key] = (ErrorCode.INVALID_REQUEST, f"Unknown election type {election_type}")
            continue
        if not replicas or state is None:
            results[key] = (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "The partition does not exist.")
            continue
        if topic in view.deletions:
            results[key] = (ErrorCode.INVALID_TOPIC_EXCEPTION, "The topic is being deleted")
            continue
        failed = (ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE if election_type == PREFERRED_ELECTION
                  else ErrorCode.ELIGIBLE_LEADERS_NOT_AVAILABLE,
                  f"Failed to elect leader for partition {topic}-{index} under strategy {strategy}")
        if election_type == PREFERRED_ELECTION:
            if state.leader == replicas[0]:
                results[key] = (ErrorCode.ELECTION_NOT_NEEDED, NOT_NEEDED)
            elif replicas[0] in live and replicas[0] in state.isr:
                states[key] = replace(state, leader=replicas[0], leader_epoch=state.leader_epoch + 1,
                                      controller_epoch=view.controller_epoch)
            else:
                results[key] = failed
            continue
        if state.leader in live:
            results[key] = (ErrorCode.ELECTION_NOT_NEEDED, NOT_NEEDED)
            continue
        candidates = [r for r in replicas if r in live and r in state.isr] or [r for r in replicas if r in live]
        if not candidates:
            results[key] = failed
            continue
        leader = candidates[0]
        isr = [r for r in state.isr if r in live] if leader in state.isr else [leader]
        states[key] = replace(state, leader=leader, leader_epoch=state.leader_epoch + 1, isr=isr,
                              controller_epoch=view.controller_epoch)
    if every:
        results = {k: r for k, r in results.items() if r[0] != ErrorCode.ELECTION_NOT_NEEDED}
    return states, results


def assign_replicas(brokers: Iterable[int], partitions: int, replication: int, *,
                    start_index: int | None = None, start_partition: int = 0,
                    rng: random.Random | None = None) -> list[list[int]]:
    """``AdminUtils.assignReplicasToBrokers`` without racks: partition ``start_partition + i`` gets the
    broker at ``(partition + start_index) % n`` as first replica, the followers shifted by
    ``nextReplicaShift`` (which grows by one every ``n`` partitions) so that each round differs.
    ``start_index`` (also the first shift) is random unless given, as Kafka's ``fixedStartIndex``;
    ``rng`` makes the random choice reproducible. Returns the replica lists of the new partitions in order."""
    broker_list = list(brokers)
    if partitions <= 0:
        raise AssignmentError("Number of partitions must be larger than 0.")
    if replication <= 0:
        raise AssignmentError("Replication factor must be larger than 0.")
    if replication > len(broker_list):
        raise AssignmentError(f"Replication factor: {replication} larger than available brokers: {len(broker_list)}.")
    n = len(broker_list)
    chooser = rng if rng is not None else random.Random()
    first_index = start_index if start_index is not None and start_index >= 0 else chooser.randrange(n)
    shift = start_index if start_index is not None and start_index >= 0 else chooser.randrange(n)
    out: list[list[int]] = []
    partition = max(0, start_partition)
    for _ in range(partitions):
        if partition > 0 and partition % n == 0:
            shift += 1
        first = (partition + first_index) % n
        replicas = [broker_list[first]]
        for j in range(replication - 1):
            replicas.append(broker_list[(first + 1 + (shift + j) % (n - 1)) % n])
        out.append(replicas)
        partition += 1
    return out


def start_index_for_new_partitions(brokers: Sequence[int], existing_partition0: Sequence[int]) -> int:
    """Kafka's start index when adding partitions: the position of the first broker whose id is at least the
    first replica of partition 0 (0 if none)."""
    if not existing_partition0:
        return 0
    for position, broker in enumerate(brokers):
        if broker >= existing_partition0[0]:
            return position
    return 0


# -- controlled shutdown (ControlledShutdown, API key 7) ------------------------------------------------

@dataclass(frozen=True)
class ShutdownDecision:
    """The controller's answer to a ControlledShutdown: an error (0: none) with the writes that move the
    broker's leaderships away and take it out of ISRs (one ``SetPartitionStates`` per topic)."""

    error_code: int
    message: str | None = None
    writes: tuple[ZkWrite, ...] = ()


def controlled_shutdown(view: ZkView, controller_id: int, broker_id: int, broker_epoch: int,
                        shutting_down: Iterable[int] = ()) -> ShutdownDecision:
    """``KafkaController.doControlledShutdown`` as a decision over the view, ``shutting_down`` being the
    brokers already shutting down (``broker_id`` joins them when this returns no error):

    * not the controller: STALE_CONTROLLER_EPOCH (Kafka throws ``ControllerMovedException``, which
      ``Errors`` maps to code 11);
    * a broker epoch (v2+; -1 is "unknown", not checked) older than the czxid of the broker's registration:
      STALE_BROKER_EPOCH; an epoch for a broker that is not registered: UNKNOWN_SERVER_ERROR (Kafka's lookup
      of the live broker's epoch throws ``NoSuchElementException``);
    * a broker not registered (v0/v1, no epoch): BROKER_NOT_AVAILABLE "Broker id <id> does not exist.";
    * otherwise, for every partition with a state, more than one replica including the broker, of a topic
      not being deleted: one it leads gets as leader the first replica in assignment order that is live, in
      the ISR and not shutting down (``ControlledShutdownPartitionLeaderElectionStrategy``), the ISR loses the
      shutting-down brokers, leader epoch + 1; none eligible: unchanged (it stays in the answer's remaining
      partitions). One it follows and is in the ISR of leaves the ISR unless it is the last member (the
      ``OfflineReplica`` transition's ``removeReplicasFromIsr``), leader epoch + 1."""
    from wire.kafka.error_codes import ErrorCode

    if view.controller_id != controller_id:
        return ShutdownDecision(ErrorCode.STALE_CONTROLLER_EPOCH, "Controller moved to another broker. "
                                                                   "Aborting controlled shutdown")
    registration = view.brokers.get(broker_id)
    if broker_epoch != -1:
        if registration is None:
            return ShutdownDecision(ErrorCode.UNKNOWN_SERVER_ERROR, f"key not found: {broker_id}")
        if broker_epoch < registration.epoch:
            return ShutdownDecision(
                ErrorCode.STALE_BROKER_EPOCH,
                f"Received controlled shutdown request from an old broker epoch {broker_epoch} for broker "
                f"{broker_id}. Current broker epoch is {registration.epoch}.")
    if registration is None:
        return ShutdownDecision(ErrorCode.BROKER_NOT_AVAILABLE, f"Broker id {broker_id} does not exist.")
    down = set(shutting_down) | {broker_id}
    live = set(view.brokers) - down
    writes: list[ZkWrite] = []
    for name in sorted(view.topics):
        if name in view.deletions:
            continue
        states: dict[tuple[str, int], PartitionState] = {}
        for index, replicas in sorted(view.topics[name].partitions.items()):
            state = view.states.get((name, index))
            if state is None or broker_id not in replicas or len(replicas) <= 1:
                continue
            if state.leader == broker_id:
                eligible = [r for r in replicas if r in live and r in state.isr]
                if eligible:
                    states[(name, index)] = replace(
                        state, leader=eligible[0], leader_epoch=state.leader_epoch + 1,
                        isr=[r for r in state.isr if r not in down], controller_epoch=view.controller_epoch)
            elif broker_id in state.isr:
                isr = list(state.isr) if len(state.isr) == 1 else [r for r in state.isr if r != broker_id]
                states[(name, index)] = replace(state, leader_epoch=state.leader_epoch + 1, isr=isr,
                                                controller_epoch=view.controller_epoch)
        if states:
            writes.append(SetPartitionStates(states, view.controller_epoch_version))
    return ShutdownDecision(ErrorCode.NONE, None, tuple(writes))


def partitions_led_by(view: ZkView, broker_id: int) -> list[tuple[str, int]]:
    """``partitionLeadersOnBroker``: what a ControlledShutdown answers as remaining, the partitions with more
    than one replica, of topics not being deleted, that the broker still leads."""
    return sorted(k for k, s in view.states.items()
                  if s.leader == broker_id and k[0] in view.topics and k[0] not in view.deletions
                  and len(view.topics[k[0]].partitions.get(k[1], ())) > 1)
