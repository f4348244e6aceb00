"""An in-memory stand-in for ZooKeeper's side of ZooKeeper mode, for brokers that share one process.

``MemoryZooKeeper`` holds what Kafka keeps in ZooKeeper, as decoded values
(``broker.zk.model``), and gives each broker a ``MemoryBridge`` with the same
shape as the kazoo bridge: ``start`` registers the broker (its "session"),
``apply`` performs a write with ZooKeeper's conditional semantics (a stale
version or an existing node is a lost race, reported as ``WriteFailed``; topic
assignments carry their znode version, 0 when created, + 1 on each rewrite),
``stop`` ends the session (its registration and, if held, ``/controller`` go).
Every change is delivered to every started bridge as the same snapshot events
the kazoo bridge sends, in the order the snapshots were taken (each bridge's ``BrokerConfigsChanged`` carrying the
default and its own broker's entry). Dynamic configs of brokers and quota
entities live under their entity paths (``brokers/<default>``,
``users/alice/clients/c1``); ``write_config`` stands for an old tool writing one
straight into ZooKeeper. It lets tests run a controller, failover and
replication between brokers in one process, in milliseconds; the kazoo bridge
is tested against real ZooKeeper servers separately.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import replace

from broker.zk.layout import PRODUCER_ID_BLOCK_SIZE
from broker.zk.model import (
    LegacyReassignmentRequested, SetLegacyReassignment,
    BrokerConfigsChanged, QuotaConfigsChanged, SetEntityConfig, FeatureZNode, FeaturesChanged, SetFeatureZNode,
    AddPartitions, ClaimProducerIds, ProducerIdsClaimed, BrokerRegistration, BrokersChanged, ClusterIdKnown, CompleteDeletion, ControllerChanged,
    CompletePreferredElection, CreateTopic, DeletionsRequested, PreferredElectionRequested, ElectController, MarkForDeletion, PartitionState, PartitionStatesChanged,
    SetPartitionStates, SetTopicConfig, TopicAssignment, TopicsChanged, WriteFailed, ZkEvent, ZkWrite,
)


class MemoryZooKeeper:
    def __init__(self, cluster_id: str = "wiretwin-memory-zk") -> None:
        self.lock = threading.RLock()
        # Snapshots are taken and delivered under this lock, so every bridge gets them in the order they
        # were taken: two threads changing the tree must not deliver an older snapshot after a newer one (a
        # broker would keep a stale view: the kazoo bridge re-reads on every watch, this one does not).
        self.delivering = threading.Lock()
        self.cluster_id = cluster_id
        self.brokers: dict[int, BrokerRegistration] = {}
        self.controller_id: int | None = None
        self.controller_epoch = 0
        self.controller_epoch_version = 0
        self.topics: dict[str, TopicAssignment] = {}
        self.configs: dict[str, dict[str, str]] = {}
        self.states: dict[tuple[str, int], PartitionState] = {}
        self.deletions: set[str] = set()
        self.preferred_election: frozenset[tuple[str, int]] | None = None  # /admin/preferred_replica_election
        self.isr_notifications = 0
        self.producer_id_block_end = -1  # /latest_producer_id_block's block_end
        self.entity_configs: dict[str, dict[str, str]] = {}  # /config/<entity path> of brokers and quota entities
        self.config_changes: list[str] = []  # the entity paths of /config/changes notifications, in order
        self.legacy_reassignment: dict[tuple[str, int], list[int]] | None = None  # /admin/reassign_partitions
        self.feature: FeatureZNode | None = None  # /feature
        self.feature_version = -1
        self.bridges: list[MemoryBridge] = []
        self.zxid = 0  # stands for ZooKeeper's zxid: registrations take the next one as their czxid (broker epoch)

    def bridge(self, connect: str, broker_id: int, registration: BrokerRegistration, session_timeout_ms: int,
               deliver: Callable[[ZkEvent], None]) -> MemoryBridge:
        """A ``BridgeFactory`` (``BrokerServer(config, bridge_factory=zk.bridge)``)."""
        return MemoryBridge(self, broker_id, registration, deliver)

    # -- snapshots -------------------------------------------------------------------------------

    def snapshot(self) -> list[ZkEvent]:
        with self.lock:
            return [
                ClusterIdKnown(self.cluster_id),
                BrokersChanged(dict(self.brokers)),
                ControllerChanged(self.controller_id, self.controller_epoch, self.controller_epoch_version),
                TopicsChanged(dict(self.topics), {k: dict(v) for k, v in self.configs.items()}),
                PartitionStatesChanged({k: v for k, v in self.states.items()}),
                DeletionsRequested(frozenset(self.deletions)),
                PreferredElectionRequested(self.preferred_election),
                FeaturesChanged(self.feature, self.feature_version),
                LegacyReassignmentRequested(None if self.legacy_reassignment is None
                                            else dict(self.legacy_reassignment)),
            ]

    def broker_configs(self, broker_id: int) -> BrokerConfigsChanged:
        with self.lock:
            return BrokerConfigsChanged(dict(self.entity_configs.get("brokers/<default>", {})),
                                        dict(self.entity_configs.get(f"brokers/{broker_id}", {})))

    def quota_configs(self) -> QuotaConfigsChanged:
        with self.lock:
            return QuotaConfigsChanged({path: dict(c) for path, c in self.entity_configs.items()
                                        if not path.startswith("brokers/")})

    def _broadcast(self) -> None:
        with self.delivering:
            events = [*self.snapshot(), self.quota_configs()]
            for bridge in list(self.bridges):
                for event in [*events, self.broker_configs(bridge.broker_id)]:
                    bridge.deliver(event)

    def write_config(self, entity_path: str, configs: dict[str, str]) -> None:
        """What ``kafka-configs.sh --zookeeper`` did: ``/config/<entity_path>`` and a change notification."""
        with self.lock:
            self.entity_configs[entity_path] = dict(configs)
            self.config_changes.append(entity_path)
        self._broadcast()

    # -- sessions --------------------------------------------------------------------------------

    def register(self, bridge: MemoryBridge) -> None:
        with self.lock:
            if bridge.broker_id in self.brokers:
                raise RuntimeError(f"/brokers/ids/{bridge.broker_id} exists: another session holds it")
            self.zxid += 1
            self.brokers[bridge.broker_id] = replace(bridge.registration, epoch=self.zxid)
            self.bridges.append(bridge)
        self._broadcast()

    def expire(self, broker_id: int) -> None:
        """End a broker's session: its ephemeral registration and ``/controller`` (if it held it) go."""
        with self.lock:
            self.brokers.pop(broker_id, None)
            self.bridges = [b for b in self.bridges if b.broker_id != broker_id]
            if self.controller_id == broker_id:
                self.controller_id = None
        self._broadcast()

    def request_reassignment(self, partitions: dict[tuple[str, int], list[int]]) -> None:
        """What the old ``kafka-reassign-partitions.sh --zookeeper`` did: create ``/admin/reassign_partitions``."""
        with self.lock:
            self.legacy_reassignment = dict(partitions)
        self._broadcast()

    def request_preferred_election(self, partitions: frozenset[tuple[str, int]]) -> None:
        """What the old ``kafka-preferred-replica-election.sh`` did: create the znode naming the partitions."""
        with self.lock:
            self.preferred_election = partitions
        self._broadcast()

    # -- writes ----------------------------------------------------------------------------------

    def apply(self, write: ZkWrite) -> str | None:
        """Perform ``write``; the reason it lost a race, or None."""
        with self.lock:
            reason = self._apply(write)
        if reason is None:
            self._broadcast()
        return reason

    def _apply(self, write: ZkWrite) -> str | None:
        if isinstance(write, ElectController):
            if self.controller_id is not None:
                return "NodeExists: /controller"
            self.controller_id = write.broker_id
            self.controller_epoch += 1
            self.controller_epoch_version += 1
        elif isinstance(write, CreateTopic):
            name = write.assignment.name
            if name in self.topics:
                return f"NodeExists: /brokers/topics/{name}"
            self.topics[name] = replace(write.assignment, zk_version=0)
            self.configs[name] = dict(write.configs)
        elif isinstance(write, AddPartitions):
            if write.controller_epoch_version >= 0 and write.controller_epoch_version != self.controller_epoch_version:
                return "BadVersion: /controller_epoch"
            known = self.topics.get(write.assignment.name)
            if known is None:
                return f"NoNode: /brokers/topics/{write.assignment.name}"
            if write.assignment.zk_version >= 0 and write.assignment.zk_version != known.zk_version:
                return f"BadVersion: /brokers/topics/{write.assignment.name}"
            self.topics[write.assignment.name] = replace(write.assignment, zk_version=known.zk_version + 1)
        elif isinstance(write, SetTopicConfig):
            self.configs[write.topic] = dict(write.configs)
        elif isinstance(write, SetEntityConfig):
            self.entity_configs[write.entity_path] = dict(write.configs)
            self.config_changes.append(write.entity_path)
        elif isinstance(write, MarkForDeletion):
            self.deletions.add(write.topic)
        elif isinstance(write, SetPartitionStates):
            if write.controller_epoch_version >= 0 and write.controller_epoch_version != self.controller_epoch_version:
                return "BadVersion: /controller_epoch"
            for key, state in write.states.items():
                current = self.states.get(key)
                if state.zk_version < 0 and current is not None:
                    return f"NodeExists: {key[0]}-{key[1]} state"
                if state.zk_version >= 0 and (current is None or current.zk_version != state.zk_version):
                    return f"BadVersion: {key[0]}-{key[1]} state"
            for key, state in write.states.items():
                self.states[key] = replace(state, zk_version=state.zk_version + 1)
            if write.isr_change:
                self.isr_notifications += 1
        elif isinstance(write, SetLegacyReassignment):
            if write.controller_epoch_version >= 0 and write.controller_epoch_version != self.controller_epoch_version:
                return "BadVersion: /controller_epoch"
            self.legacy_reassignment = None if write.partitions is None else dict(write.partitions)
        elif isinstance(write, SetFeatureZNode):
            if write.controller_epoch_version >= 0 and write.controller_epoch_version != self.controller_epoch_version:
                return "BadVersion: /controller_epoch"
            if write.zk_version != self.feature_version:
                return "NodeExists: /feature" if write.zk_version < 0 else "BadVersion: /feature"
            self.feature, self.feature_version = write.node, self.feature_version + 1
        elif isinstance(write, CompletePreferredElection):
            if self.preferred_election is None:
                return "NoNode: /admin/preferred_replica_election"
            self.preferred_election = None
        elif isinstance(write, CompleteDeletion):
            self.topics.pop(write.topic, None)
            self.configs.pop(write.topic, None)
            self.deletions.discard(write.topic)
            for key in [k for k in self.states if k[0] == write.topic]:
                del self.states[key]
        return None


class MemoryBridge:
    def __init__(self, zk: MemoryZooKeeper, broker_id: int, registration: BrokerRegistration,
                 deliver: Callable[[ZkEvent], None]) -> None:
        self.zk = zk
        self.broker_id = broker_id
        self.registration = registration
        self.deliver = deliver
        self.id = uuid.uuid4()

    def start(self) -> None:
        self.zk.register(self)

    def apply(self, write: ZkWrite) -> None:
        if isinstance(write, ClaimProducerIds):
            with self.zk.lock:
                first = self.zk.producer_id_block_end + 1
                self.zk.producer_id_block_end = first + PRODUCER_ID_BLOCK_SIZE - 1
            self.deliver(ProducerIdsClaimed(first, first + PRODUCER_ID_BLOCK_SIZE - 1))
            return
        reason = self.zk.apply(write)
        if reason is not None:
            self.deliver(WriteFailed(write, reason))

    def stop(self) -> None:
        if any(b is self for b in self.zk.bridges):
            self.zk.expire(self.broker_id)
