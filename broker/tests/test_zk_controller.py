"""``broker.zk.controller``: the controller's decisions as scenario tables over ``ZkView``s, and Kafka's
rack-unaware replica assignment (against the examples in AdminUtils' own documentation)."""

from __future__ import annotations

import random
import uuid

import pytest

from broker.zk import controller
from broker.zk.layout import NO_TOPIC_ID
from broker.zk.model import (
    AddPartitions, BrokerRegistration, CompleteDeletion, PartitionState, SetPartitionStates, TopicAssignment,
    ZkView, ZkWrite,
)

ME = 1
TID = uuid.UUID(int=7)


def view(live: list[int], topics: dict[str, dict[int, list[int]]],
         states: dict[tuple[str, int], PartitionState] | None = None, *, controller_id: int | None = ME,
         deletions: frozenset[str] = frozenset(), epoch: int = 4, epoch_version: int = 3) -> ZkView:
    return ZkView(
        cluster_id="c", brokers={b: BrokerRegistration(b, "h", 9000 + b) for b in live},
        controller_id=controller_id, controller_epoch=epoch, controller_epoch_version=epoch_version,
        topics={name: TopicAssignment(name, TID, parts) for name, parts in topics.items()},
        states=dict(states or {}), deletions=deletions)


def st(leader: int, leader_epoch: int, isr: list[int], version: int = 0, controller_epoch: int = 4) -> PartitionState:
    return PartitionState(leader, leader_epoch, isr, controller_epoch, zk_version=version)


def only_states(writes: list[ZkWrite]) -> dict[tuple[str, int], PartitionState]:
    out: dict[tuple[str, int], PartitionState] = {}
    for write in writes:
        assert isinstance(write, SetPartitionStates)
        assert write.controller_epoch_version == 3  # fenced on /controller_epoch's version
        out.update(write.states)
    return out


# -- not the controller ----------------------------------------------------------------------------

def test_only_the_controller_decides() -> None:
    v = view([1, 2], {"t": {0: [1, 2]}}, controller_id=2)
    assert controller.decide(v, ME) == []
    v.controller_id = None
    assert controller.decide(v, ME) == []


# -- new partitions ----------------------------------------------------------------------------------

NEW_PARTITIONS = [
    # live brokers, assignment, expected state (None: no state yet)
    ([1, 2, 3], [2, 3, 1], st(2, 0, [2, 3, 1], version=-1)),
    ([1, 3], [2, 3, 1], st(3, 0, [3, 1], version=-1)),      # first *live* replica leads, ISR = live replicas
    ([1], [2, 3], None),                                    # no live replica: no state (Kafka: stays NewPartition)
    ([1, 2, 3], [3], st(3, 0, [3], version=-1)),
]


@pytest.mark.parametrize(("live", "replicas", "expected"), NEW_PARTITIONS)
def test_initial_state(live: list[int], replicas: list[int], expected: PartitionState | None) -> None:
    writes = controller.decide(view(live, {"t": {0: replicas}}), ME)
    assert only_states(writes).get(("t", 0)) == expected


def test_one_write_per_topic_for_missing_states_only() -> None:
    v = view([1, 2], {"a": {0: [1, 2], 1: [2, 1]}, "b": {0: [2]}}, {("a", 0): st(1, 0, [1, 2])})
    writes = controller.decide(v, ME)
    assert writes == [SetPartitionStates({("a", 1): st(2, 0, [2, 1], version=-1)}, 3),
                      SetPartitionStates({("b", 0): st(2, 0, [2], version=-1)}, 3)]


# -- brokers going and coming ----------------------------------------------------------------------------

LIVENESS = [
    # (live brokers, replicas, current state, expected new state or None for "no write")
    ("steady", [1, 2, 3], [1, 2, 3], st(1, 5, [1, 2, 3], 7), None),
    ("leader dies: first live ISR member in assignment order",
     [1, 3], [2, 3, 1], st(2, 5, [1, 2, 3], 7), st(3, 6, [1, 3], 7)),
    ("leader dies, assignment order beats ISR order",
     [1, 3], [2, 1, 3], st(2, 5, [3, 1, 2], 7), st(1, 6, [3, 1], 7)),
    ("follower dies: ISR shrinks, epoch bumps (Kafka's removeReplicasFromIsr)",
     [1, 2], [1, 2, 3], st(1, 5, [1, 2, 3], 7), st(1, 6, [1, 2], 7)),
    ("dead replica outside the ISR: nothing", [1, 2], [1, 2, 3], st(1, 5, [1, 2], 7), None),
    ("leader dies, live replica not in ISR: no unclean election, ISR keeps one",
     [1, 3], [2, 3], st(2, 5, [2], 7), st(-1, 6, [2], 7)),
    ("all ISR dead: leader -1, ISR keeps the old leader", [1], [2, 3], st(2, 5, [3, 2], 7), st(-1, 6, [2], 7)),
    ("offline and already minimal: nothing", [1], [2, 3], st(-1, 6, [2], 7), None),
    ("ISR member comes back: it leads", [1, 2], [3, 2], st(-1, 6, [2], 7), st(2, 7, [2], 7)),
    ("non-ISR replica comes back: still offline", [1, 3], [3, 2], st(-1, 6, [2], 7), None),
    ("leaderless with a live ISR member: elect it", [1, 2, 3], [1, 2, 3], st(-1, 2, [3, 2], 1),
     st(2, 3, [3, 2], 1)),
]


@pytest.mark.parametrize(("name", "live", "replicas", "state", "expected"), LIVENESS, ids=[c[0] for c in LIVENESS])
def test_liveness(name: str, live: list[int], replicas: list[int], state: PartitionState,
                  expected: PartitionState | None) -> None:
    v = view(live, {"t": {0: replicas}}, {("t", 0): state})
    writes = controller.decide(v, ME)
    if expected is None:
        assert writes == []
    else:
        # conditional on the version read; stamped with the current controller epoch
        assert only_states(writes) == {("t", 0): PartitionState(expected.leader, expected.leader_epoch, expected.isr,
                                                                4, zk_version=state.zk_version)}


def test_decisions_are_idempotent_once_applied() -> None:
    """Level-triggered: applying the decided states (as ZooKeeper would, version + 1) leaves nothing to do."""
    v = view([1, 3], {"t": {0: [2, 3, 1], 1: [2, 1], 2: [2]}, "n": {0: [3, 1]}},
             {("t", 0): st(2, 5, [2, 3, 1], 1), ("t", 1): st(1, 0, [1, 2], 4), ("t", 2): st(2, 1, [2], 2)})
    for _ in range(2):
        for key, state in only_states(controller.decide(v, ME)).items():
            v.states[key] = PartitionState(state.leader, state.leader_epoch, state.isr, state.controller_epoch,
                                           zk_version=state.zk_version + 1)
    assert controller.decide(v, ME) == []
    assert v.states[("t", 0)].leader == 3 and v.states[("t", 1)].isr == [1]
    assert v.states[("t", 2)].leader == -1 and v.states[("n", 0)] == PartitionState(3, 0, [3, 1], 4, 0)


# -- deletion and topic ids ------------------------------------------------------------------------------

def test_deletion_completes_and_the_topic_is_left_alone() -> None:
    v = view([1], {"gone": {0: [2]}, "kept": {0: [1]}}, {("kept", 0): st(1, 0, [1])},
             deletions=frozenset({"gone", "never-existed"}))
    assert controller.decide(v, ME) == [CompleteDeletion("gone"), CompleteDeletion("never-existed")]


def test_topic_without_id_gets_one() -> None:
    v = view([1], {}, {})
    v.topics["old"] = TopicAssignment("old", NO_TOPIC_ID, {0: [1]})
    new_id = uuid.UUID(int=42)
    writes = controller.decide(v, ME, new_topic_id=lambda _view, _assignment: new_id)
    assert writes[0] == AddPartitions(TopicAssignment("old", new_id, {0: [1]}), v.controller_epoch_version)
    assert only_states(writes[1:]) == {("old", 0): st(1, 0, [1], version=-1)}
    # by default the id is the same each time the controller decides on the same view, and new otherwise
    again = [controller.decide(v, ME)[0] for _ in range(2)]
    assert again[0] == again[1] and isinstance(again[0], AddPartitions)
    assert again[0].assignment.topic_id not in (NO_TOPIC_ID, new_id)
    v.controller_epoch += 1
    other = controller.decide(v, ME)[0]
    assert isinstance(other, AddPartitions) and other.assignment.topic_id != again[0].assignment.topic_id


# -- preferred leader rebalance ------------------------------------------------------------------------

def test_preferred_leader_rebalance() -> None:
    states = {("t", 0): st(2, 3, [1, 2], 5), ("t", 1): st(2, 1, [2, 1], 1), ("t", 2): st(3, 0, [3], 0),
              ("t", 3): st(3, 0, [3, 1], 0)}
    v = view([1, 2, 3], {"t": {0: [1, 2], 1: [2, 1], 2: [1, 3], 3: [1, 3]}}, states)
    writes = controller.preferred_leader_writes(v, ME)
    # broker 1 prefers t-0, t-2, t-3 and leads none; t-2's ISR lacks it
    assert only_states(writes) == {("t", 0): st(1, 4, [1, 2], 5), ("t", 3): st(1, 1, [3, 1], 0)}
    assert controller.preferred_leader_writes(v, 2) == []  # not the controller
    v.brokers.pop(1)
    assert controller.preferred_leader_writes(v, ME) == []  # the preferred leader is not live


def test_rebalance_threshold() -> None:
    """10% by default: 1 of 10 partitions off its preferred leader is not an imbalance, 2 of 10 is."""
    topics = {"t": {p: [1, 2] for p in range(10)}}
    states = {("t", p): st(1, 0, [1, 2]) for p in range(10)}
    states[("t", 0)] = st(2, 1, [1, 2])
    assert controller.preferred_leader_writes(view([1, 2], topics, states), ME) == []
    states[("t", 1)] = st(2, 1, [1, 2])
    assert set(only_states(controller.preferred_leader_writes(view([1, 2], topics, states), ME))) == \
        {("t", 0), ("t", 1)}


# -- replica assignment -------------------------------------------------------------------------------

def test_assignment_matches_kafkas_documented_example() -> None:
    """AdminUtils' javadoc: 5 brokers, 10 partitions, 3 replicas, start index 0."""
    assert controller.assign_replicas([0, 1, 2, 3, 4], 10, 3, start_index=0) == [
        [0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 0], [4, 0, 1],
        [0, 2, 3], [1, 3, 4], [2, 4, 0], [3, 0, 1], [4, 1, 2],
    ]
    # "if there is another partition to assign (partition #6 of a 6-broker cluster) 6 -> 0,4,2"
    six = controller.assign_replicas([0, 1, 2, 3, 4, 5], 7, 3, start_index=0)
    assert six[0] == [0, 1, 2] and six[6] == [0, 2, 3]


def test_assignment_spread_and_seeded_start() -> None:
    brokers = [1, 2, 3]
    first = controller.assign_replicas(brokers, 6, 2, rng=random.Random(5))
    assert first == controller.assign_replicas(brokers, 6, 2, rng=random.Random(5))  # deterministic with a seed
    for replicas in first:
        assert len(set(replicas)) == 2 and set(replicas) <= set(brokers)
    leaders = [r[0] for r in first]
    assert sorted(leaders) == [1, 1, 2, 2, 3, 3]  # leaders round-robin
    starts = {controller.assign_replicas(brokers, 1, 1, rng=random.Random(seed))[0][0] for seed in range(50)}
    assert starts == {1, 2, 3}  # the start is random without a fixed index


def test_assignment_for_added_partitions() -> None:
    brokers = [0, 1, 2, 3, 4]
    whole = controller.assign_replicas(brokers, 10, 3, start_index=0)
    start = controller.start_index_for_new_partitions(brokers, whole[0])
    added = controller.assign_replicas(brokers, 4, 3, start_index=start, start_partition=6)
    assert [r[0] for r in added] == [r[0] for r in whole[6:10]]  # leaders continue the round-robin
    assert added == [[1, 2, 3], [2, 3, 4], [3, 4, 0], [4, 0, 1]]  # the shift restarts (as in Kafka)


@pytest.mark.parametrize(("brokers", "partitions", "replication", "message"), [
    ([1], 0, 1, "Number of partitions must be larger than 0."),
    ([1], 1, 0, "Replication factor must be larger than 0."),
    ([1, 2], 1, 3, "Replication factor: 3 larger than available brokers: 2."),
])
def test_assignment_errors(brokers: list[int], partitions: int, replication: int, message: str) -> None:
    with pytest.raises(controller.AssignmentError, match=message.replace(".", r"\.")):
        controller.assign_replicas(brokers, partitions, replication)


# -- ElectLeaders on the controller -----------------------------------------------------------------------------

def test_requested_elections_preferred_and_unclean() -> None:
    from wire.kafka.error_codes import ErrorCode as E

    v = view([1, 2, 3], {"t": {0: [1, 2, 3], 1: [2, 3, 1], 2: [3, 1, 2], 3: [1, 2, 3]}, "gone": {0: [1]}},
             {("t", 0): st(2, 3, [2, 1], 5), ("t", 1): st(2, 0, [2, 3, 1]), ("t", 2): st(1, 2, [1, 2], 1),
              ("t", 3): st(-1, 6, [1], 4), ("gone", 0): st(1, 0, [1])}, deletions=frozenset({"gone"}))
    states, results = controller.requested_election(v, ME, controller.PREFERRED_ELECTION,
                                                    [("t", 0), ("t", 1), ("t", 2), ("t", 9), ("gone", 0)])
    assert states == {("t", 0): st(1, 4, [2, 1], 5)}  # the preferred replica 1 is live and in sync
    assert {k: r[0] for k, r in results.items()} == {
        ("t", 1): E.ELECTION_NOT_NEEDED, ("t", 2): E.PREFERRED_LEADER_NOT_AVAILABLE,  # 3 is not in the ISR
        ("t", 9): E.UNKNOWN_TOPIC_OR_PARTITION, ("gone", 0): E.INVALID_TOPIC_EXCEPTION}
    assert results[("t", 2)][1] == ("Failed to elect leader for partition t-2 under strategy "
                                    "PreferredReplicaPartitionLeaderElectionStrategy")
    # every partition: the ones needing no election are left out
    states, results = controller.requested_election(v, ME, controller.PREFERRED_ELECTION, None)
    assert set(states) == {("t", 0), ("t", 3)} and ("t", 1) not in results  # t-3: leaderless, 1 in its ISR
    # unclean: only a leaderless partition; a live replica outside the ISR may take it, alone in the ISR
    dead = view([2, 3], {"t": {0: [1, 2, 3], 1: [1, 2]}}, {("t", 0): st(-1, 6, [1], 4), ("t", 1): st(2, 1, [2])})
    states, results = controller.requested_election(dead, ME, controller.UNCLEAN_ELECTION, [("t", 0), ("t", 1)])
    assert states == {("t", 0): st(2, 7, [2], 4)}
    assert results == {("t", 1): (E.ELECTION_NOT_NEEDED, controller.NOT_NEEDED)}
    nobody = view([3], {"t": {0: [1, 2]}}, {("t", 0): st(-1, 2, [1])})
    _, results = controller.requested_election(nobody, ME, controller.UNCLEAN_ELECTION, [("t", 0)])
    assert results[("t", 0)][0] == E.ELIGIBLE_LEADERS_NOT_AVAILABLE


def test_requested_elections_on_another_broker_are_not_controller() -> None:
    from wire.kafka.error_codes import ErrorCode as E

    v = view([1, 2], {"t": {0: [1, 2]}}, {("t", 0): st(2, 0, [2, 1])}, controller_id=2)
    assert controller.requested_election(v, ME, controller.PREFERRED_ELECTION, [("t", 0)]) == (
        {}, {("t", 0): (E.NOT_CONTROLLER, None)})


def test_a_preferred_election_znode_is_carried_out_then_deleted() -> None:
    from dataclasses import replace as with_

    from broker.zk.model import CompletePreferredElection

    v = view([1, 2], {"t": {0: [1, 2], 1: [2, 1]}}, {("t", 0): st(2, 3, [2, 1], 5), ("t", 1): st(2, 0, [2, 1])})
    assert controller.decide(v, ME) == []
    asked = with_(v, preferred_election=frozenset({("t", 0), ("t", 1), ("nope", 0)}))
    assert controller.decide(asked, ME) == [SetPartitionStates({("t", 0): st(1, 4, [2, 1], 5)}, 3),
                                            CompletePreferredElection()]
    assert controller.decide(asked, 2) == []  # only the controller acts on it


# -- /feature (maybeSetupFeatureVersioning) -------------------------------------------------------------

def _feature_view(node: object, version: int, *, controller_id: int | None = ME, heard: bool = True) -> ZkView:
    from broker.zk.model import FeatureZNode

    v = view([1, 2], {}, controller_id=controller_id)
    assert node is None or isinstance(node, FeatureZNode)
    v.feature, v.feature_version, v.feature_heard = node, version, heard
    return v


def test_feature_znode_setup_on_failover() -> None:
    from broker.zk.model import FeatureZNode, SetFeatureZNode

    enabled = FeatureZNode(2, 1, {})
    # absent, IBP 3.9: created (version -1) enabled, v2, with the default finalized features (none in ZK mode)
    assert controller.feature_writes(_feature_view(None, -1), ME) == [SetFeatureZNode(enabled, -1, 3)]
    # with supported features, each finalized at its max, kraft.version at 0 (defaultFinalizedFeatures)
    assert controller.feature_writes(_feature_view(None, -1), ME, supported={"kraft.version": (0, 1), "x": (1, 4)}) \
        == [SetFeatureZNode(FeatureZNode(2, 1, {"kraft.version": 0, "x": 4}), -1, 3)]
    # already as wanted: nothing; enabled with features: kept
    assert controller.feature_writes(_feature_view(enabled, 0), ME) == []
    kept = FeatureZNode(2, 1, {"x": 2})
    assert controller.feature_writes(_feature_view(kept, 5), ME) == []
    # disabled (written under an older IBP): enabled with no features, on its version
    assert controller.feature_writes(_feature_view(FeatureZNode(1, 0, {"x": 2}), 4), ME) == \
        [SetFeatureZNode(enabled, 4, 3)]
    # v1 enabled under IBP >= 3.3: rewritten as v2 with the same features
    assert controller.feature_writes(_feature_view(FeatureZNode(1, 1, {"x": 2}), 1), ME) == \
        [SetFeatureZNode(FeatureZNode(2, 1, {"x": 2}), 1, 3)]
    # IBP 3.2: v1; IBP < 2.7: disabled, features cleared
    assert controller.feature_writes(_feature_view(None, -1), ME, controller.parse_ibp("3.2-IV0")) == \
        [SetFeatureZNode(FeatureZNode(1, 1, {}), -1, 3)]
    assert controller.feature_writes(_feature_view(kept, 5), ME, controller.parse_ibp("2.6")) == \
        [SetFeatureZNode(FeatureZNode(1, 0, {}), 5, 3)]
    # not the controller, not read yet, unreadable: nothing
    assert controller.feature_writes(_feature_view(None, -1, controller_id=2), ME) == []
    assert controller.feature_writes(_feature_view(None, -1, heard=False), ME) == []
    assert controller.feature_writes(_feature_view(None, 3), ME) == []


def test_parse_ibp() -> None:
    assert controller.parse_ibp(None) == (3, 9)
    assert controller.parse_ibp("3.9-IV0") == (3, 9)
    assert controller.parse_ibp("2.7") == (2, 7)
    assert controller.parse_ibp("0.10.2-IV0") == (0, 10)
    assert controller.parse_ibp("junk") == (3, 9)


# -- controlled shutdown (doControlledShutdown) ------------------------------------------------------------

def _cs_view(controller_id: int | None = ME) -> ZkView:
    v = view([1, 2, 3], {"t": {0: [2, 1, 3], 1: [1, 2, 3], 2: [3, 2], 3: [2], 4: [2, 3]}},
             {("t", 0): st(2, 5, [2, 1, 3], version=7), ("t", 1): st(1, 0, [1, 2, 3]),
              ("t", 2): st(3, 1, [3, 2], version=2), ("t", 3): st(2, 0, [2]), ("t", 4): st(2, 3, [2], version=4)},
             controller_id=controller_id)
    v.brokers = {b: BrokerRegistration(b, "h", 9000 + b, epoch=100 + b) for b in (1, 2, 3)}
    return v


def test_controlled_shutdown_moves_leadership_and_shrinks_isrs() -> None:
    decision = controller.controlled_shutdown(_cs_view(), ME, 2, 102)
    assert decision.error_code == 0 and decision.message is None
    states = only_states(list(decision.writes))
    assert states == {
        # led by 2: the first live ISR replica in assignment order that is not shutting down leads; ISR without 2
        ("t", 0): st(1, 6, [1, 3], version=7),
        # followed by 2 and 2 in the ISR: out of the ISR, leader unchanged, leader epoch + 1
        ("t", 1): st(1, 1, [1, 3]),
        ("t", 2): st(3, 2, [3], version=2),
        # ("t", 3): a single replica is not acted on; ("t", 4): 2 leads, nobody else in the ISR: unchanged
    }
    # the answer once these are written: what 2 still leads among replicated partitions
    v = _cs_view()
    v.states.update(states)
    assert controller.partitions_led_by(v, 2) == [("t", 4)]
    assert controller.partitions_led_by(v, 1) == [("t", 0), ("t", 1)]


def test_controlled_shutdown_skips_brokers_already_shutting_down() -> None:
    decision = controller.controlled_shutdown(_cs_view(), ME, 2, 102, shutting_down={1})
    states = only_states(list(decision.writes))
    assert states[("t", 0)] == st(3, 6, [3], version=7)  # 1 is shutting down: 3 takes over, 1 and 2 leave the ISR


def test_controlled_shutdown_ignores_topics_being_deleted() -> None:
    v = _cs_view()
    v.deletions = frozenset({"t"})
    assert controller.controlled_shutdown(v, ME, 2, 102).writes == ()
    assert controller.partitions_led_by(v, 2) == []


def test_controlled_shutdown_errors_as_kafka() -> None:
    from wire.kafka.error_codes import ErrorCode

    # not the controller: ControllerMovedException, which Errors maps to STALE_CONTROLLER_EPOCH
    assert controller.controlled_shutdown(_cs_view(controller_id=3), ME, 2, 102).error_code == \
        ErrorCode.STALE_CONTROLLER_EPOCH
    stale = controller.controlled_shutdown(_cs_view(), ME, 2, 101)
    assert stale.error_code == ErrorCode.STALE_BROKER_EPOCH and stale.writes == ()
    assert stale.message == ("Received controlled shutdown request from an old broker epoch 101 for broker 2. "
                             "Current broker epoch is 102.")
    assert controller.controlled_shutdown(_cs_view(), ME, 2, 103).error_code == 0  # newer epochs are fine
    assert controller.controlled_shutdown(_cs_view(), ME, 2, -1).error_code == 0  # v0/v1: no epoch, no check
    unknown = controller.controlled_shutdown(_cs_view(), ME, 9, -1)
    assert (unknown.error_code, unknown.message) == (ErrorCode.BROKER_NOT_AVAILABLE, "Broker id 9 does not exist.")
    # an epoch for an unregistered broker: Kafka's liveBrokerIdAndEpochs(id) throws before that check
    assert controller.controlled_shutdown(_cs_view(), ME, 9, 5).error_code == ErrorCode.UNKNOWN_SERVER_ERROR


def test_preferred_rebalance_leaves_shutting_down_brokers_out() -> None:
    v = view([1, 2], {"t": {0: [2, 1]}}, {("t", 0): st(1, 3, [1, 2])})
    assert only_states(controller.preferred_leader_writes(v, ME)) == {("t", 0): st(2, 4, [1, 2])}
    assert controller.preferred_leader_writes(v, ME, excluded=frozenset({2})) == []


# -- partition reassignment (KIP-455) ---------------------------------------------------------------------

def test_reassign_starts_with_the_full_replica_set() -> None:
    from wire.kafka.error_codes import ErrorCode

    v = view([1, 2, 3, 4], {"t": {0: [1, 2], 1: [2, 3]}}, {("t", 0): st(1, 0, [1, 2]), ("t", 1): st(2, 0, [2, 3])})
    writes, results = controller.reassign(v, ME, {("t", 0): [3, 2], ("t", 1): [2, 3, 9], ("t", 7): [1],
                                                  ("u", 0): [1], ("t", 2): None})
    assert results[("t", 0)] == (0, None)
    assert results[("t", 1)][0] == ErrorCode.INVALID_REPLICA_ASSIGNMENT  # 9 is not a live broker
    assert results[("t", 1)][1] == ("Replica assignment has brokers that are not alive. Replica list: "
                                    "ArrayBuffer(9), live broker list: Set(1, 2, 3, 4)")
    assert results[("t", 7)] == results[("u", 0)] == (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                                                      "The partition does not exist.")
    assert results[("t", 2)] == (ErrorCode.NO_REASSIGNMENT_IN_PROGRESS, "No partition reassignment is in progress.")
    (write,) = writes
    assert isinstance(write, AddPartitions)
    assert write.assignment.partitions == {0: [3, 2, 1], 1: [2, 3]}  # target, then the rest of the origin
    assert (write.assignment.adding, write.assignment.removing) == ({0: [3]}, {0: [1]})
    for bad, message in (([], "Empty replica list specified in partition reassignment."),
                         ([1, 1], "Duplicate replica ids in partition reassignment replica list: ArrayBuffer(1, 1)"),
                         ([-1], "Invalid broker id in replica list: ArrayBuffer(-1)")):
        assert controller.reassign(v, ME, {("t", 0): bad})[1][("t", 0)] == (ErrorCode.INVALID_REPLICA_ASSIGNMENT,
                                                                            message)
    # cancelling an ongoing reassignment goes back to the origin replicas
    moving = view([1, 2, 3], {"t": {0: [3, 2, 1]}})
    moving.topics["t"] = TopicAssignment("t", TID, {0: [3, 2, 1]}, adding={0: [3]}, removing={0: [1]})
    (cancel,), results = controller.reassign(moving, ME, {("t", 0): None})
    assert results[("t", 0)] == (0, None)
    assert isinstance(cancel, AddPartitions)
    assert (cancel.assignment.partitions, cancel.assignment.adding, cancel.assignment.removing) == ({0: [2, 1]}, {}, {})
    assert controller.reassignments(moving, None) == {("t", 0): ([3, 2, 1], [3], [1])}
    assert controller.reassignments(moving, [("t", 1)]) == {}


def _reassigning(isr: list[int], leader: int = 1, live: list[int] = [1, 2, 3]) -> ZkView:  # noqa: B006
    v = view(live, {"t": {0: [3, 2, 1]}}, {("t", 0): st(leader, 4, isr, version=6)})
    v.topics["t"] = TopicAssignment("t", TID, {0: [3, 2, 1]}, adding={0: [3]}, removing={0: [1]})
    return v


def test_reassignment_waits_for_the_target_replicas_then_moves_leadership_then_completes() -> None:
    assert controller.decide(_reassigning([1, 2]), ME) == []  # 3 not in the ISR yet
    # 3 caught up: leadership moves to the first live in-sync target replica, 1 leaves the ISR
    assert only_states(controller.decide(_reassigning([1, 2, 3]), ME)) == {("t", 0): st(3, 5, [2, 3], version=6)}
    # once that is in place: the assignment becomes the target, without the reassignment entries
    (done,) = controller.decide(_reassigning([2, 3], leader=3), ME)
    assert isinstance(done, AddPartitions)
    assert (done.assignment.partitions, done.assignment.adding, done.assignment.removing) == ({0: [3, 2]}, {}, {})
    # a leader already among the targets keeps leading; only the removed replica leaves the ISR
    assert only_states(controller.decide(_reassigning([2, 1, 3], leader=2), ME)) == \
        {("t", 0): st(2, 5, [2, 3], version=6)}


def test_brokers_in_controlled_shutdown_are_not_elected_by_a_reassignment_or_a_requested_election() -> None:
    """Kafka's Reassign and Preferred strategies and the unclean election ask ``isReplicaOnline``, which leaves
    out brokers in controlled shutdown."""
    from wire.kafka.error_codes import ErrorCode

    # the target's first in-sync replica, 3, is shutting down: 2 leads instead
    assert only_states(controller.decide(_reassigning([1, 2, 3]), ME, shutting_down=frozenset({3}))) == \
        {("t", 0): st(2, 5, [2, 3], version=6)}
    # a reassignment led by a shutting-down target replica moves leadership off it
    assert only_states(controller.decide(_reassigning([2, 3], leader=3), ME, shutting_down=frozenset({3}))) == \
        {("t", 0): st(2, 5, [2, 3], version=6)}
    v = view([1, 2, 3], {"t": {0: [2, 1, 3]}}, {("t", 0): st(1, 3, [1, 2, 3])})
    states, results = controller.requested_election(v, ME, controller.PREFERRED_ELECTION, [("t", 0)], {2})
    assert states == {} and results[("t", 0)][0] == ErrorCode.PREFERRED_LEADER_NOT_AVAILABLE
    # an unclean election replaces a leader that is shutting down, with an online replica
    states, _ = controller.requested_election(v, ME, controller.UNCLEAN_ELECTION, [("t", 0)], {1})
    assert states[("t", 0)].leader == 2
    # /admin/preferred_replica_election the same way
    v.preferred_election = frozenset({("t", 0)})
    assert all(not isinstance(w, SetPartitionStates) for w in controller.decide(v, ME, shutting_down=frozenset({2})))


def test_a_cancelled_reassignment_takes_the_dropped_replica_out_of_the_isr() -> None:
    v = view([1, 2, 3], {"t": {0: [2, 1]}}, {("t", 0): st(3, 2, [3, 2, 1])})
    assert only_states(controller.decide(v, ME)) == {("t", 0): st(2, 3, [2, 1])}


def test_legacy_reassignment_znode_starts_waits_and_is_emptied() -> None:
    from broker.zk.model import SetLegacyReassignment

    v = view([1, 2, 3], {"t": {0: [1, 2], 1: [2, 3]}}, {("t", 0): st(1, 0, [1, 2]), ("t", 1): st(2, 0, [2, 3])})
    v.legacy_reassignment = {("t", 0): [3, 2], ("t", 1): [2, 3], ("gone", 0): [1], ("t", 5): [9]}
    writes = controller.decide(v, ME)
    started = [w for w in writes if isinstance(w, AddPartitions)]
    assert [w.assignment.partitions[0] for w in started] == [[3, 2, 1]]
    # t-1 is already there (done), the others cannot start: only t-0 stays in the znode
    assert [w for w in writes if isinstance(w, SetLegacyReassignment)] == \
        [SetLegacyReassignment({("t", 0): [3, 2]}, 3)]
    v.legacy_reassignment = {("t", 0): [3, 2]}
    v.topics["t"] = TopicAssignment("t", TID, {0: [3, 2, 1], 1: [2, 3]}, adding={0: [3]}, removing={0: [1]})
    assert controller.decide(v, ME) == []  # in progress: 3 not in the ISR yet
    v.topics["t"] = TopicAssignment("t", TID, {0: [3, 2], 1: [2, 3]})
    v.states[("t", 0)] = st(3, 1, [3, 2])
    assert controller.decide(v, ME) == [SetLegacyReassignment(None, 3)]  # done: the znode goes
    # a partition named while a reassignment towards another target runs (AlterPartitionReassignments): the
    # znode is the latest request (the API removes what it takes over from the znode first), so it takes over
    v.legacy_reassignment = {("t", 1): [1, 2]}
    v.topics["t"] = TopicAssignment("t", TID, {0: [3, 2], 1: [3, 2]}, adding={1: [3]}, removing={1: [2]})
    writes = controller.decide(v, ME)
    assert [w.assignment for w in writes if isinstance(w, AddPartitions)] == [TopicAssignment(
        "t", TID, {0: [3, 2], 1: [1, 2]}, adding={1: [1]}, removing={})]
    assert not [w for w in writes if isinstance(w, SetLegacyReassignment)]  # it stays until done


def test_a_broker_in_controlled_shutdown_is_not_elected_when_a_leader_dies() -> None:
    """Leader 1 is gone; 2 is in controlled shutdown: still live (it stays in the ISR) but not electable."""
    v = view([2, 3], {"t": {0: [1, 2, 3]}}, {("t", 0): st(1, 2, [1, 2, 3])}, controller_id=3)
    assert only_states(controller.decide(v, 3)) == {("t", 0): st(2, 3, [2, 3])}
    assert only_states(controller.decide(v, 3, shutting_down=frozenset({2}))) == {("t", 0): st(3, 3, [2, 3])}
