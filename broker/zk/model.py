"""ZooKeeper mode's vocabulary: what ZooKeeper tells the broker core, and what the core asks to be written.

The broker core stays sans-IO in ZooKeeper mode too. A bridge (``broker.zk.bridge``)
runs kazoo in worker threads, turns znode contents and watch firings into the
*events* below and feeds them to the core through the trio shell; the core (and
the controller logic in ``broker.zk.controller`` when this broker is the
controller) answers with *writes*, which the shell hands back to the bridge.
Every value here is plain data: decoded znode contents, never JSON text (the
JSON formats live in ``broker.zk.layout``).

``ZkView`` is the core's picture of the cluster as ZooKeeper holds it; it is
what the controller decides from.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


# -- znode contents, decoded ---------------------------------------------------------------------

@dataclass(frozen=True)
class BrokerRegistration:
    """``/brokers/ids/<id>`` (v5): where a live broker listens."""

    broker_id: int
    host: str
    port: int
    rack: str | None = None
    timestamp_ms: int = 0
    listener: str = "PLAINTEXT"  # the listener name of ``host:port`` in ``endpoints``
    features: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (min, max) supported
    epoch: int = -1  # the broker epoch: the czxid of the znode (KIP-380), -1 when not read from ZooKeeper


@dataclass(frozen=True)
class TopicAssignment:
    """``/brokers/topics/<topic>`` (v3): partition -> ordered replicas (first = preferred leader). During a
    reassignment (KIP-455) a partition's replicas are the full set, target replicas first, and ``adding`` /
    ``removing`` name the replicas being added and removed (partitions not being reassigned are absent).
    ``zk_version`` is the znode's version as read (-1 for a topic not read from ZooKeeper, e.g. a new one): an
    ``AddPartitions`` of an assignment sets the znode only if it is still at that version."""

    name: str
    topic_id: uuid.UUID
    partitions: dict[int, list[int]]
    adding: dict[int, list[int]] = field(default_factory=dict)
    removing: dict[int, list[int]] = field(default_factory=dict)
    zk_version: int = -1

    def reassigning(self, partition: int) -> bool:
        return bool(self.adding.get(partition) or self.removing.get(partition))

    def target(self, partition: int) -> list[int]:
        """``targetReplicas``: the replicas without those being removed."""
        removing = self.removing.get(partition, [])
        return [r for r in self.partitions.get(partition, []) if r not in removing]

    def origin(self, partition: int) -> list[int]:
        """``originReplicas``: the replicas without those being added."""
        adding = self.adding.get(partition, [])
        return [r for r in self.partitions.get(partition, []) if r not in adding]


@dataclass(frozen=True)
class PartitionState:
    """``/brokers/topics/<topic>/partitions/<p>/state``; ``zk_version`` is the znode's version (the
    partition epoch that conditional updates compare), -1 when not read from ZooKeeper."""

    leader: int  # -1: no leader
    leader_epoch: int
    isr: list[int]
    controller_epoch: int
    zk_version: int = -1


FEATURE_DISABLED, FEATURE_ENABLED = 0, 1  # FeatureZNodeStatus ids


@dataclass(frozen=True)
class FeatureZNode:
    """``/feature`` (KIP-584): ``version`` 1 (levels as min and max) or 2 (max only, IBP >= 3.3), ``status``
    ``FEATURE_ENABLED`` or ``FEATURE_DISABLED``, and the finalized feature levels, name -> level."""

    version: int
    status: int
    features: dict[str, int]


# -- events: ZooKeeper -> core --------------------------------------------------------------------

@dataclass(frozen=True)
class ClusterIdKnown:
    cluster_id: str


@dataclass(frozen=True)
class BrokersChanged:
    """The full set of live brokers (children of ``/brokers/ids`` and their data)."""

    brokers: dict[int, BrokerRegistration]


@dataclass(frozen=True)
class ControllerChanged:
    """``/controller`` holder (None while nobody holds it) and ``/controller_epoch`` (value and znode
    version: the controller's writes are fenced on that version)."""

    controller_id: int | None
    controller_epoch: int
    controller_epoch_version: int = -1


@dataclass(frozen=True)
class TopicsChanged:
    """Every topic's assignment and configs (``/brokers/topics/*``, ``/config/topics/*``); a topic missing
    here no longer exists."""

    topics: dict[str, TopicAssignment]
    configs: dict[str, dict[str, str]]


@dataclass(frozen=True)
class PartitionStatesChanged:
    """Current states of some partitions, (topic, partition) -> state (None: the state znode is gone)."""

    states: dict[tuple[str, int], PartitionState | None]


@dataclass(frozen=True)
class DeletionsRequested:
    """Children of ``/admin/delete_topics``: topics marked for deletion."""

    topics: frozenset[str]


@dataclass(frozen=True)
class PreferredElectionRequested:
    """``/admin/preferred_replica_election`` as written by the old tools (the partitions named), or None when
    the znode is absent."""

    partitions: frozenset[tuple[str, int]] | None


@dataclass(frozen=True)
class LegacyReassignmentRequested:
    """``/admin/reassign_partitions`` as the old ``kafka-reassign-partitions.sh --zookeeper`` wrote it: the
    target replicas of each partition named, or None when the znode is absent."""

    partitions: dict[tuple[str, int], list[int]] | None


@dataclass(frozen=True)
class BrokerConfigsChanged:
    """Dynamic broker configs as ZooKeeper holds them: ``/config/brokers/<default>`` and this broker's own
    ``/config/brokers/<id>`` (empty when the znode is absent)."""

    default: dict[str, str]
    broker: dict[str, str]


@dataclass(frozen=True)
class QuotaConfigsChanged:
    """Every client quota entity's config: entity path (``users/alice``, ``clients/<default>``,
    ``users/alice/clients/c1``, ``ips/1.2.3.4``; names sanitized as in the znode paths) -> its config."""

    entities: dict[str, dict[str, str]]


@dataclass(frozen=True)
class FeaturesChanged:
    """``/feature`` as read: its contents (None when absent or unreadable) and its znode version, which is the
    finalized features epoch brokers report (-1 when absent)."""

    node: FeatureZNode | None
    zk_version: int


@dataclass(frozen=True)
class WriteFailed:
    """A write could not be applied (a lost race: BadVersion, NodeExists, NoNode); ``write`` names it."""

    write: ZkWrite
    reason: str


@dataclass(frozen=True)
class ProducerIdsClaimed:
    """A block of producer ids this broker claimed in ``/latest_producer_id_block`` (first..last, inclusive)."""

    first: int
    last: int


@dataclass(frozen=True)
class SessionLost:
    """The broker's ZooKeeper session expired: its registration (and /controller if held) are gone."""


ZkEvent = (ClusterIdKnown | BrokersChanged | ControllerChanged | TopicsChanged | PartitionStatesChanged
           | DeletionsRequested | PreferredElectionRequested | WriteFailed | SessionLost | ProducerIdsClaimed
           | BrokerConfigsChanged | QuotaConfigsChanged | FeaturesChanged | LegacyReassignmentRequested)


# -- writes: core -> ZooKeeper ---------------------------------------------------------------------

@dataclass(frozen=True)
class CreateTopic:
    """Write ``/brokers/topics/<topic>`` and ``/config/topics/<topic>`` (as the admin path does); fails if
    the topic exists."""

    assignment: TopicAssignment
    configs: dict[str, str]


@dataclass(frozen=True)
class AddPartitions:
    """Rewrite ``/brokers/topics/<topic>`` (more partitions, a reassignment started or completed, a topic id
    given; same topic id otherwise). Conditional, in one multi: the znode is set only at
    ``assignment.zk_version`` (the version the new assignment was decided from; -1: any version), and, unless
    ``controller_epoch_version`` is -1 (an admin write such as CreatePartitions), only while
    ``/controller_epoch`` is at that version (a deposed controller is fenced, as Kafka's
    ``setTopicAssignmentRaw(..., controllerContext.epochZkVersion)``). Several writers rebuild the whole znode
    from their view, so an unconditional set could silently undo another's change; a lost race is
    ``WriteFailed`` and the topic is read again."""

    assignment: TopicAssignment
    controller_epoch_version: int = -1


@dataclass(frozen=True)
class SetTopicConfig:
    """Write ``/config/topics/<topic>`` and a ``/config/changes/config_change_`` notification."""

    topic: str
    configs: dict[str, str]


@dataclass(frozen=True)
class SetEntityConfig:
    """``AdminZkClient.changeEntityConfig`` for brokers and quota entities: write ``/config/<entity_path>``
    (created with null-data parents when missing) and a ``/config/changes/config_change_`` notification naming
    ``entity_path`` (``brokers/<default>``, ``brokers/1``, ``users/alice/clients/c1``, ...)."""

    entity_path: str
    configs: dict[str, str]


@dataclass(frozen=True)
class MarkForDeletion:
    """Create ``/admin/delete_topics/<topic>`` (the controller does the rest)."""

    topic: str


@dataclass(frozen=True)
class SetPartitionStates:
    """Controller or leader writes of partition states, each conditional on its ``zk_version`` (-1: create
    the partition's znodes); one multi-op, so all or none. ``controller_epoch_version`` fences a
    deposed controller (the multi checks ``/controller_epoch``'s version) unless it is -1 (a leader's
    ISR change); ``isr_change`` also writes an ``/isr_change_notification`` entry."""

    states: dict[tuple[str, int], PartitionState]
    controller_epoch_version: int = -1
    isr_change: bool = False


@dataclass(frozen=True)
class CompletePreferredElection:
    """The controller is done with ``/admin/preferred_replica_election``: delete it."""


@dataclass(frozen=True)
class CompleteDeletion:
    """The controller removes a deleted topic: its assignment, partitions, config and the marker."""

    topic: str


@dataclass(frozen=True)
class ElectController:
    """Try to become controller: create ephemeral ``/controller`` and bump ``/controller_epoch`` in one multi."""

    broker_id: int


@dataclass(frozen=True)
class ClaimProducerIds:
    """Claim the next block of producer ids in ``/latest_producer_id_block`` (answered by ProducerIdsClaimed)."""

    broker_id: int


@dataclass(frozen=True)
class SetFeatureZNode:
    """The controller's write of ``/feature``: created when ``zk_version`` is -1, else set on that version;
    fenced on ``/controller_epoch``'s version (unless -1) like the controller's other writes."""

    node: FeatureZNode
    zk_version: int
    controller_epoch_version: int = -1


@dataclass(frozen=True)
class SetLegacyReassignment:
    """The controller's update of ``/admin/reassign_partitions`` (``maybeRemoveFromZkReassignment``): the
    partitions still to reassign, or None to delete the znode; fenced on ``/controller_epoch``'s version."""

    partitions: dict[tuple[str, int], list[int]] | None
    controller_epoch_version: int = -1


ZkWrite = (CreateTopic | AddPartitions | SetTopicConfig | MarkForDeletion | SetPartitionStates | CompleteDeletion
           | CompletePreferredElection | ElectController | ClaimProducerIds | SetEntityConfig | SetFeatureZNode
           | SetLegacyReassignment)


# -- the core's picture --------------------------------------------------------------------------

@dataclass
class ZkView:
    """What ZooKeeper says, as last heard: the controller decides from this."""

    cluster_id: str | None = None
    brokers: dict[int, BrokerRegistration] = field(default_factory=dict)
    controller_id: int | None = None
    controller_epoch: int = 0
    controller_epoch_version: int = -1
    topics: dict[str, TopicAssignment] = field(default_factory=dict)
    configs: dict[str, dict[str, str]] = field(default_factory=dict)
    states: dict[tuple[str, int], PartitionState] = field(default_factory=dict)
    deletions: frozenset[str] = frozenset()
    preferred_election: frozenset[tuple[str, int]] | None = None  # /admin/preferred_replica_election
    feature: FeatureZNode | None = None  # /feature (None: absent or unreadable)
    feature_version: int = -1  # its znode version, -1 when absent
    feature_heard: bool = False  # /feature has been read at least once
    legacy_reassignment: dict[tuple[str, int], list[int]] | None = None  # /admin/reassign_partitions


# -- the bridge's shape -----------------------------------------------------------------------------

class Bridge(Protocol):
    """What the trio shell needs of a bridge to ZooKeeper (``broker.zk.bridge.ZkBridge``, or an in-memory
    stand-in in tests). ``start`` and ``apply`` block (the shell calls them from worker threads); events go to
    the ``deliver`` callable the bridge was made with, from any thread."""

    def start(self) -> None: ...

    def apply(self, write: ZkWrite) -> None: ...

    def stop(self) -> None: ...


# (connect string, broker id, registration, session timeout ms, deliver) -> bridge
BridgeFactory = Callable[[str, int, BrokerRegistration, int, Callable[[ZkEvent], None]], Bridge]
