"""ZooKeeper mode inside the core: apply what ZooKeeper says to the cluster, queue what must be written.

``ZkMetadata`` belongs to a ``BrokerCore`` whose config has ``zookeeper_connect``
(one broker per process). Events from the bridge (``broker.zk.model``) update
its ``ZkView`` and are reconciled into the core's ``Cluster``: the live brokers
and their addresses, the controller, the cluster id, every topic with its
assignment, configs and partition states (leader, leader epoch, ISR). This
broker keeps a log only for partitions it is a replica of; other partitions are
known for Metadata but hold no data here. Topics that vanish from ZooKeeper are
deleted locally, with their logs.

Dynamic broker configs (``BrokerConfigsChanged``: the cluster default and this
broker's own entry) and client quotas (``QuotaConfigsChanged``) replace the
core's ``DynamicConfigs`` as ZooKeeper reports them.

Writes go to ``outbox`` (the shell hands them to the bridge, in order):
topic administration from the handlers (``create_topic``, ``add_partitions``,
``set_topic_configs``, ``mark_for_deletion``), dynamic broker and quota configs
(``set_entity_config``), ``/controller`` elections when
nobody holds it, and, while this broker is the controller, the writes
``broker.zk.controller`` decides from the view. Rewrites of a topic znode
(``AddPartitions``) are conditional on the version they were decided from: one
the controller decided that lost its race is not sent again until the topic has
been read again (then ``decide`` decides afresh); one an admin answer waits for
(``await_rewrite``: CreatePartitions, AlterPartitionReassignments) is decided
again by its ``retry`` from the topic as read again. Partitions an
AlterPartitionReassignments takes out of ``/admin/reassign_partitions``
(``take_from_legacy_reassignment``) are left out of the controller's legacy
decisions until the znode is read back without them.

``/feature`` (``FeaturesChanged``) fills the finalized features cache ApiVersions
reports (``finalized_features``, ``finalized_epoch``); as controller this broker sets
``/feature`` up once per controller epoch (``controller.feature_writes``). As
controller it also answers ControlledShutdown (``controlled_shutdown``: the brokers
shutting down are remembered in ``shutting_down`` and left out of preferred-leader
moves); ``leaving`` marks this broker's own controlled shutdown (it stops following each partition once
ZooKeeper's state takes it out of the ISR: broker/replication/fetcher.py).

Coordinator state follows partition leadership: when this broker becomes the
leader of a partition of ``__consumer_offsets`` or ``__transaction_state``, that
partition's records are replayed into the coordinators, as Kafka loads a
coordinator partition on election.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TypeVar

from broker.state.cluster import BrokerInfo, Partition, Topic
from broker.state.internal import INTERNAL_TOPICS, TXN_TOPIC
from broker.replication.leader import Replication
from broker.state.filelog import FileLog
from broker.state.log import PartitionLog
from broker.zk.layout import PRODUCER_ID_BLOCK_SIZE
from broker.zk.model import (
    LegacyReassignmentRequested, SetLegacyReassignment,
    BrokerConfigsChanged, QuotaConfigsChanged, SetEntityConfig, FEATURE_ENABLED, FeaturesChanged, SetFeatureZNode,
    AddPartitions, ClaimProducerIds, ProducerIdsClaimed, BrokersChanged, ClusterIdKnown, ControllerChanged, CreateTopic, DeletionsRequested,
    ElectController, MarkForDeletion, PartitionState, SetPartitionStates, PartitionStatesChanged, PreferredElectionRequested, SessionLost, SetTopicConfig,
    TopicAssignment, TopicsChanged, WriteFailed, ZkEvent, ZkView, ZkWrite,
)

if TYPE_CHECKING:
    from broker.core import BrokerCore, Pending
    from wire.kafka._message import Message

log = logging.getLogger("broker.zk")

M = TypeVar("M", bound="Message")

HW_CHECKPOINT_INTERVAL_MS = 5000  # replica.high.watermark.checkpoint.interval.ms
ZK_WRITE_TIMEOUT_MS = 30000  # the longest an admin answer waits for its ZooKeeper write


@dataclass
class AwaitedRewrite:
    """A topic rewrite (``AddPartitions``) an admin answer waits for. It is conditional on the topic znode's
    version, so it can lose a race to another writer; then, once the topic has been read again, ``retry``
    decides again from the new view (the new write replaces ``write``) or gives up (None). ``settled``: the
    write was performed, or ``retry`` gave up."""

    write: AddPartitions
    mark: int  # performed once ``writes_done`` reaches it
    retry: Callable[[ZkView], AddPartitions | None]
    failed_at_read: int | None = None  # ``topics_read`` when it lost its race (None: has not lost)
    settled: bool = False
    attempts: int = 1
    abandoned: bool = False  # the answer went out (timed out): a lost write is not decided again


MAX_REWRITE_ATTEMPTS = 10  # a rewrite that keeps losing its race is given up (its answer times out)


class ZkMetadata:
    def __init__(self, core: BrokerCore) -> None:
        self.core = core
        self.node_id = core.config.node_ids[0]
        self.view = ZkView()
        self.outbox: list[ZkWrite] = []
        self.ready = False  # cluster id, brokers and topics have all been heard once
        self._heard: set[str] = set()
        self._election_asked = False
        self._sent: set[str] = set()  # controller writes already queued for the current view (by repr)
        self._led_internal: set[tuple[str, int]] = set()
        self.replication = Replication(core)  # the leader side: followers' positions, ISR, high watermarks
        self.auto_creating: set[str] = set()  # topics auto-created by Metadata, not yet back from ZooKeeper
        self._claiming = False  # a producer id block is being claimed
        self.next_rebalance_ms = core.now_ms + self._rebalance_interval_ms
        self.next_hw_checkpoint_ms = core.now_ms + HW_CHECKPOINT_INTERVAL_MS
        # the finalized features cache (``ZkMetadataCache.features``): None until /feature is read enabled
        self.finalized_features: dict[str, int] | None = None
        self.finalized_epoch = -1  # /feature's znode version; -1 (UNKNOWN_FINALIZED_FEATURES_EPOCH) when none
        self._feature_setup_epoch: int | None = None  # the controller epoch whose /feature set-up was queued
        self._feature_failed_version: int | None = None  # a SetFeatureZNode on this version lost a race
        # as controller: brokers in controlled shutdown (shuttingDownBrokerIds), with their broker epoch then
        self.shutting_down_epochs: dict[int, int] = {}
        self._awaited_failed: dict[int, bool] = {}  # id of a write an answer waits for -> it lost a race
        self.leaving = False  # in its own controlled shutdown: partitions whose ISR dropped it are not followed
        self._writes_taken = 0  # writes handed to the shell so far
        self.writes_done = 0  # writes the shell has performed (or seen fail) so far, in the same order
        self._rewrites: dict[int, AwaitedRewrite] = {}  # id of its current write -> a rewrite an answer awaits
        self.topics_read = 0  # TopicsChanged events applied so far
        # topic -> the znode version an AddPartitions of the controller was sent (or lost its race) on: decisions
        # from that version are not sent again until the topics have been read again (a second rewrite from
        # one version could only lose)
        self._stale_topic_versions: dict[str, int] = {}
        # partitions an AlterPartitionReassignments took over from /admin/reassign_partitions -> the znode's
        # target then: left out of the controller's legacy decisions until the znode is read without them (or
        # naming another target: a newer request)
        self.legacy_taken: dict[tuple[str, int], list[int]] = {}
        self._legacy_removal_pending = False  # a SetLegacyReassignment taking them out is queued, not read back

    # -- events ------------------------------------------------------------------------------

    def apply(self, event: ZkEvent) -> None:
        view = self.view
        if isinstance(event, ClusterIdKnown):
            view.cluster_id = event.cluster_id
            self.core.cluster.cluster_id = event.cluster_id
            self._heard.add("cluster")
        elif isinstance(event, BrokersChanged):
            view.brokers = dict(event.brokers)
            # onBrokerFailure forgets a broker that is gone, or came back with a new registration (a new epoch,
            # even if this snapshot never saw it missing: Kafka treats a changed epoch as a bounced broker)
            self.shutting_down_epochs = {b: e for b, e in self.shutting_down_epochs.items()
                                         if b in view.brokers and view.brokers[b].epoch == e}
            self._heard.add("brokers")
        elif isinstance(event, ControllerChanged):
            view.controller_id = event.controller_id
            view.controller_epoch = event.controller_epoch
            view.controller_epoch_version = event.controller_epoch_version
            self._election_asked = False
            if view.controller_id != self.node_id:
                self.shutting_down_epochs.clear()  # a new controller starts with a fresh context
        elif isinstance(event, TopicsChanged):
            view.topics = dict(event.topics)
            view.configs = {name: dict(c) for name, c in event.configs.items()}
            self.auto_creating -= set(view.topics)
            view.states = {k: s for k, s in view.states.items() if k[0] in view.topics}
            self._heard.add("topics")
            self.topics_read += 1
            # read after the loss (the bridge reads the topics again after one): decide afresh, even on the same
            # version (a loss that was no race, e.g. the connection, or a fence while this broker was deposed)
            self._stale_topic_versions.clear()
        elif isinstance(event, PartitionStatesChanged):
            for key, state in event.states.items():
                if state is None:
                    view.states.pop(key, None)
                else:
                    view.states[key] = state
        elif isinstance(event, DeletionsRequested):
            view.deletions = event.topics
        elif isinstance(event, PreferredElectionRequested):
            view.preferred_election = event.partitions
        elif isinstance(event, LegacyReassignmentRequested):
            view.legacy_reassignment = None if event.partitions is None else dict(event.partitions)
            named = view.legacy_reassignment or {}
            self.legacy_taken = {k: t for k, t in self.legacy_taken.items() if named.get(k) == t}
            self._legacy_removal_pending = False  # read: what is still named is taken out again (_control)
        elif isinstance(event, FeaturesChanged):
            view.feature, view.feature_version, view.feature_heard = event.node, event.zk_version, True
            self._update_feature_cache(event)
            self._heard.add("feature")
        elif isinstance(event, WriteFailed):
            log.info("ZooKeeper write lost a race (%s): %s", type(event.write).__name__, event.reason)
            if id(event.write) in self._awaited_failed:
                self._awaited_failed[id(event.write)] = True
            if isinstance(event.write, SetFeatureZNode):  # decide again once /feature is read again
                self._feature_failed_version = event.write.zk_version
                self._feature_setup_epoch = None
            if isinstance(event.write, CreateTopic):
                self.auto_creating.discard(event.write.assignment.name)
            if isinstance(event.write, SetLegacyReassignment):
                self._legacy_removal_pending = False
            if isinstance(event.write, AddPartitions):
                awaited = self._rewrites.get(id(event.write))
                if awaited is not None:
                    awaited.failed_at_read = self.topics_read
                elif event.write.controller_epoch_version >= 0:  # the controller's own decision: not again
                    self._stale_topic_versions[event.write.assignment.name] = event.write.assignment.zk_version
        elif isinstance(event, ProducerIdsClaimed):
            self.core.producers.add_block(event.first, event.last)
            self._claiming = False
            self._heard.add("producer_ids")
        elif isinstance(event, (BrokerConfigsChanged, QuotaConfigsChanged)):
            if isinstance(event, BrokerConfigsChanged):
                self.core.dynamic.set_broker_props(None, event.default)
                self.core.dynamic.set_broker_props(self.node_id, event.broker)
            else:
                self.core.dynamic.set_quota_entities(event.entities)
            self.core.data_version += 1
            return  # nothing about topics, brokers or leadership changed: no reconciling
        elif isinstance(event, SessionLost):
            log.warning("ZooKeeper session lost: re-registering")
            view.controller_id = None
        self._sent.clear()  # the view moved: decisions may be made again
        if {"cluster", "brokers", "topics"} <= self._heard:
            self._reconcile()
            self._control()
            self._settle_rewrites()
            self.claim_producer_ids()
        self.ready = self.ready or {"cluster", "brokers", "topics", "producer_ids"} <= self._heard
        self.core.data_version += 1  # parked requests (CreateTopics, fetches) look again

    def _update_feature_cache(self, event: FeaturesChanged) -> None:
        """``FinalizedFeatureChangeListener``: an absent, unreadable or disabled ``/feature`` clears the cache; an
        enabled one replaces it, with its znode version as the epoch, unless it finalizes a feature this broker
        does not support (or at a level outside its range) or its epoch is older: then the cache is kept, as
        ``updateFeaturesOrThrow`` refuses the update."""
        from broker.zk.controller import ZK_SUPPORTED_FEATURES

        node = event.node
        if node is None or node.status != FEATURE_ENABLED:
            self.finalized_features, self.finalized_epoch = None, -1
            return
        incompatible = {name: level for name, level in node.features.items()
                        if name not in ZK_SUPPORTED_FEATURES
                        or not ZK_SUPPORTED_FEATURES[name][0] <= level <= ZK_SUPPORTED_FEATURES[name][1]}
        if incompatible:
            log.error("FinalizedFeatureCache update failed since feature compatibility checks failed: %s",
                      incompatible)
            return
        if self.finalized_features is not None and self.finalized_epoch > event.zk_version:
            log.error("FinalizedFeatureCache update failed due to invalid epoch %d (have %d)", event.zk_version,
                      self.finalized_epoch)
            return
        self.finalized_features, self.finalized_epoch = dict(node.features), event.zk_version

    # -- reconcile the cluster with the view ----------------------------------------------------

    def _reconcile(self) -> None:
        cluster = self.core.cluster
        view = self.view
        own = cluster.brokers.get(self.node_id)
        brokers = {i: BrokerInfo(i, r.host, r.port, r.rack) for i, r in view.brokers.items()}
        if own is not None:
            brokers.setdefault(self.node_id, own)
        cluster.brokers = brokers
        cluster.elected_controller = view.controller_id if view.controller_id is not None else -1
        for name in [n for n in cluster.topics if n not in view.topics]:
            self._delete_locally(name)
        for name, assignment in view.topics.items():
            topic = cluster.topics.get(name)
            if topic is not None and topic.topic_id != assignment.topic_id:  # deleted and created again
                self._delete_locally(name)
                topic = None
            if topic is None:
                topic = Topic(name, assignment.topic_id, [], dict(view.configs.get(name, {})), name in INTERNAL_TOPICS)
                cluster.topics[name] = topic
                cluster.by_id[topic.topic_id] = topic
            topic.configs = dict(view.configs.get(name, topic.configs))
            for index in sorted(assignment.partitions):
                self._reconcile_partition(topic, index, assignment.partitions[index])
        cluster._changed()
        self._follow_internal_leadership()

    def _delete_locally(self, name: str) -> None:
        """ZooKeeper no longer has the topic: its logs, committed offsets and producer state go."""
        cluster = self.core.cluster
        cluster.delete_topic(cluster.topics[name])
        self.core.offsets.delete_topic(name)
        self.core.producers.drop_topic(name)

    def _reconcile_partition(self, topic: Topic, index: int, replicas: list[int]) -> None:
        state = self.view.states.get((topic.name, index))
        while len(topic.partitions) <= index:
            topic.partitions.append(Partition(len(topic.partitions), -1, [], log=PartitionLog(), local=False))
        partition = topic.partitions[index]
        partition.replicas = list(replicas)
        if state is None:
            partition.leader, partition.isr = -1, list(replicas)
        else:
            partition.leader, partition.leader_epoch, partition.isr = state.leader, state.leader_epoch, list(state.isr)
        if self.node_id in replicas and not partition.local:
            partition.log = self.core.cluster.log_factory(topic.name, index)
            partition.local = True

    def _follow_internal_leadership(self) -> None:
        led = {(t, p.index) for t in INTERNAL_TOPICS if (topic := self.core.cluster.topics.get(t)) is not None
               for p in topic.partitions if p.leader == self.node_id}
        for topic_name, index in sorted(led - self._led_internal):
            log.info("now coordinator for %s-%d: loading its records", topic_name, index)
            self.core.internal.replay_partition(topic_name, index)
            if topic_name == TXN_TOPIC:  # in-flight transactions of that partition are finished now
                self.core.txns.recover(partition=index)
        self._led_internal = led

    # -- the controller ----------------------------------------------------------------------------

    def _control(self) -> None:
        view = self.view
        if view.controller_id is None:
            if not self._election_asked:
                self._election_asked = True
                self.outbox.append(ElectController(self.node_id))
            return
        if view.controller_id != self.node_id:
            self.legacy_taken.clear()  # a new controller reads the znode afresh, as Kafka's failover does
            return
        from broker.zk import controller as zk_controller

        if (self._feature_setup_epoch != view.controller_epoch and view.feature_heard
                and view.feature_version != self._feature_failed_version):
            self._feature_setup_epoch = view.controller_epoch  # once per failover, as onControllerFailover
            self._feature_failed_version = None
            ibp = zk_controller.parse_ibp(self.core.config.extra.get("inter.broker.protocol.version"))
            self.outbox.extend(zk_controller.feature_writes(view, self.node_id, ibp))
        if self.legacy_taken and view.legacy_reassignment is not None and not self._legacy_removal_pending:
            # the znode still names partitions an API reassignment took over (their removal lost its write):
            # take them out again, so the old tool's --verify can finish and new submissions can be made
            still = {k for k, t in self.legacy_taken.items() if view.legacy_reassignment.get(k) == t}
            if still:
                left = {k: t for k, t in view.legacy_reassignment.items() if k not in still}
                self.outbox.append(SetLegacyReassignment(left or None, view.controller_epoch_version))
                self._legacy_removal_pending = True
        decide_on = view
        if self.legacy_taken and view.legacy_reassignment is not None:  # see take_from_legacy_reassignment
            decide_on = replace(view, legacy_reassignment={
                k: t for k, t in view.legacy_reassignment.items() if self.legacy_taken.get(k) != t})
        for write in zk_controller.decide(decide_on, self.node_id, shutting_down=self.shutting_down):
            if (isinstance(write, AddPartitions)
                    and self._stale_topic_versions.get(write.assignment.name) == write.assignment.zk_version):
                continue  # sent (or lost) on this version: decided again once the topic is read again
            key = repr(write)
            if key not in self._sent:
                self._sent.add(key)
                self.outbox.append(write)
                if isinstance(write, AddPartitions):
                    self._stale_topic_versions[write.assignment.name] = write.assignment.zk_version

    def claim_producer_ids(self) -> None:
        """Claim the next block of producer ids when fewer than half a block is left (and once at start)."""
        if not self._claiming and self.core.producers.ids_left() < PRODUCER_ID_BLOCK_SIZE // 2:
            self._claiming = True
            self.outbox.append(ClaimProducerIds(self.node_id))

    @property
    def _rebalance_interval_ms(self) -> int:
        return max(1, self.core.config.leader_imbalance_check_interval_seconds) * 1000

    def next_deadline(self) -> int | None:
        """The next high-watermark checkpoint, or the controller's next preferred-leader check."""
        if not self.core.config.auto_leader_rebalance_enable:
            return self.next_hw_checkpoint_ms
        return min(self.next_rebalance_ms, self.next_hw_checkpoint_ms)

    def tick(self, now_ms: int) -> None:
        """Kafka's auto leader rebalance (auto.leader.rebalance.enable, leader.imbalance.check.interval.seconds):
        the controller gives leadership back to preferred replicas that are live and in sync. Also checkpoints
        every local partition's high watermark (replica.high.watermark.checkpoint.interval.ms)."""
        if now_ms >= self.next_hw_checkpoint_ms:
            self.next_hw_checkpoint_ms = now_ms + HW_CHECKPOINT_INTERVAL_MS
            for topic in self.core.cluster.topics.values():
                for partition in topic.partitions:
                    if partition.local and isinstance(partition.log, FileLog):
                        partition.log.checkpoint_high_watermark()
        if not self.core.config.auto_leader_rebalance_enable or now_ms < self.next_rebalance_ms:
            return
        self.next_rebalance_ms = now_ms + self._rebalance_interval_ms
        if self.ready and self.view.controller_id == self.node_id:
            from broker.zk import controller as zk_controller

            self.outbox.extend(zk_controller.preferred_leader_writes(self.view, self.node_id,
                                                                     excluded=self.shutting_down))

    def take_writes(self) -> list[ZkWrite]:
        out, self.outbox = self.outbox, []
        self._writes_taken += len(out)
        return out

    def write_performed(self) -> None:
        """The shell performed one more write (in ``take_writes`` order): requests waiting on it may answer.
        (A lost race has been applied as ``WriteFailed`` before: the bridges deliver it from ``apply``.)"""
        self.writes_done += 1
        for key, awaited in list(self._rewrites.items()):
            if awaited.failed_at_read is None and self.writes_done >= awaited.mark:
                awaited.settled = True
                del self._rewrites[key]
        self.core.data_version += 1

    def take_from_legacy_reassignment(self, targets: dict[tuple[str, int], list[int]]) -> None:
        """AlterPartitionReassignments accepted ``targets``: Kafka's ``maybeRemoveFromZkReassignment``
        takes each partition the znode names towards another target out of ``/admin/reassign_partitions``, so the
        API request is the latest. Queued before the topic rewrite; until the znode is read back without them the
        controller's legacy decisions leave them out (a stale read must not start the znode's target again)."""
        named = self.view.legacy_reassignment
        if not named:
            return
        taken = {k: list(named[k]) for k, target in targets.items() if k in named and named[k] != target}
        if not taken:
            return
        self.legacy_taken.update(taken)
        left = {k: t for k, t in named.items() if k not in taken}
        self.outbox.append(SetLegacyReassignment(left or None, self.view.controller_epoch_version))
        self._legacy_removal_pending = True

    def await_rewrite(self, write: AddPartitions, retry: Callable[[ZkView], AddPartitions | None]) -> AwaitedRewrite:
        """Queue ``write`` for an answer that waits on it; see ``AwaitedRewrite``."""
        self.outbox.append(write)
        awaited = AwaitedRewrite(write, self._writes_taken + len(self.outbox), retry)
        self._rewrites[id(write)] = awaited
        return awaited

    def _settle_rewrites(self) -> None:
        """Awaited rewrites that lost their race: once the topic has been read again (its version moved, or a
        read came after the loss) or the controller epoch moved (a fenced write), decide again."""
        view = self.view
        for key, awaited in list(self._rewrites.items()):
            if awaited.failed_at_read is None:
                continue
            if awaited.abandoned or awaited.attempts >= MAX_REWRITE_ATTEMPTS:
                del self._rewrites[key]
                continue
            write = awaited.write
            topic = view.topics.get(write.assignment.name)
            fenced = write.controller_epoch_version >= 0 and view.controller_epoch_version != write.controller_epoch_version
            if (not fenced and topic is not None and topic.zk_version == write.assignment.zk_version
                    and self.topics_read <= awaited.failed_at_read):
                continue  # not read again yet
            del self._rewrites[key]
            again = awaited.retry(view)
            if again is None:
                awaited.settled = True
                continue
            self.outbox.append(again)
            awaited.write, awaited.mark, awaited.failed_at_read = again, self._writes_taken + len(self.outbox), None
            awaited.attempts += 1
            self._rewrites[id(again)] = awaited

    def when_written(self, resp: M) -> M | Pending:
        """Answer ``resp`` once every write queued so far has been performed, as Kafka's admin paths answer after
        their ZooKeeper writes (so a client reading ZooKeeper, or describing, right after sees the change)."""
        from broker.core import Pending

        mark = self._writes_taken + len(self.outbox)
        if self.writes_done >= mark:
            return resp
        return Pending(self.core.now_ms + ZK_WRITE_TIMEOUT_MS,
                       lambda _now, expired: resp if expired or self.writes_done >= mark else None)

    @property
    def shutting_down(self) -> frozenset[int]:
        return frozenset(self.shutting_down_epochs)

    def controlled_shutdown(self, broker_id: int, broker_epoch: int,
                            answer: Callable[[int, list[tuple[str, int]]], M]) -> M | Pending:
        """ControlledShutdown on this broker: the controller's decision (``controller.controlled_shutdown``); on
        success the broker is recorded as shutting down, the writes are queued, and the answer waits (Pending
        with the partitions it still leads, ``partitions_led_by``) until every written state came back from
        ZooKeeper (or was read again after a lost race), at most ``ZK_WRITE_TIMEOUT_MS``."""
        from broker.core import Pending
        from broker.zk import controller as zk_controller

        decision = zk_controller.controlled_shutdown(self.view, self.node_id, broker_id, broker_epoch,
                                                     self.shutting_down)
        if decision.error_code:
            log.info("controlled shutdown of broker %d refused (%d): %s", broker_id, decision.error_code,
                     decision.message)
            return answer(decision.error_code, [])
        self.shutting_down_epochs[broker_id] = self.view.brokers[broker_id].epoch
        writes = [w for w in decision.writes if isinstance(w, SetPartitionStates)]
        log.info("controlled shutdown of broker %d: %d partition states to write", broker_id,
                 sum(len(w.states) for w in writes))
        if not writes:
            return answer(0, zk_controller.partitions_led_by(self.view, broker_id))
        self.outbox.extend(writes)
        for write in writes:
            self._awaited_failed[id(write)] = False

        def settled(write: SetPartitionStates) -> bool:
            """Lost its race, or every state it wrote is back from ZooKeeper (a newer version than written on)."""
            if self._awaited_failed.get(id(write)):
                return True
            return all((now := self.view.states.get(key)) is None or now.zk_version != state.zk_version
                       for key, state in write.states.items())

        def poll(_now: int, expired: bool) -> M | None:
            if not expired and not all(settled(w) for w in writes):
                return None
            for write in writes:
                self._awaited_failed.pop(id(write), None)
            return answer(0, zk_controller.partitions_led_by(self.view, broker_id))

        return Pending(self.core.now_ms + ZK_WRITE_TIMEOUT_MS, poll)

    # -- topic administration from the handlers ---------------------------------------------------

    def create_topic(self, name: str, partitions: int, replication: int, configs: dict[str, str],
                     assignments: list[list[int]] | None = None) -> uuid.UUID:
        """Write a new topic's assignment (computed over the live brokers unless given); it exists once
        ZooKeeper reports it back. Returns the topic id it will have."""
        if not assignments:
            from broker.zk import controller as zk_controller

            assignments = zk_controller.assign_replicas(sorted(self.view.brokers), partitions, replication)
        topic_id = uuid.uuid4()
        self.outbox.append(CreateTopic(TopicAssignment(name, topic_id, dict(enumerate(assignments))), dict(configs)))
        return topic_id

    def request_topic(self, name: str, partitions: int, replication: int) -> None:
        """Auto-creation: ask once for a topic with the defaults (again only after that write failed)."""
        if name not in self.auto_creating:
            self.auto_creating.add(name)
            self.create_topic(name, partitions, replication, {})

    def add_partitions(self, topic: Topic, total: int, assignments: list[list[int]] | None = None) -> None:
        """CreatePartitions (``AdminZkClient.addPartitions``): the topic znode rewritten with the new partitions,
        on the version read. Kafka's admin write is unconditional, but it reads the znode right before; ours
        decides from the view, which may be stale (a reassignment starting or completing meanwhile), so the write
        is conditional and, after a lost race, made again from the topic as read again: the user asked for
        partitions and gets them, without undoing the other change. It is given up (the answer then times out)
        only if the topic is gone or no longer has the partition count the new assignments extend."""
        current = {p.index: list(p.replicas) for p in topic.partitions}
        extra = total - len(current)
        if not assignments:
            from broker.zk import controller as zk_controller

            replication = len(topic.partitions[0].replicas) if topic.partitions else 1
            assignments = zk_controller.assign_replicas(sorted(self.view.brokers), extra, replication)
        chosen = [list(r) for r in assignments]
        base = len(topic.partitions)

        def build(view: ZkView) -> AddPartitions | None:
            known = view.topics.get(topic.name)
            if known is None or len(known.partitions) != base:
                return None
            partitions = {p: list(r) for p, r in known.partitions.items()}
            for offset, replicas in enumerate(chosen):
                partitions[base + offset] = list(replicas)
            # an ongoing reassignment stays as it is; set on the version read
            return AddPartitions(replace(known, partitions=partitions, adding=dict(known.adding),
                                         removing=dict(known.removing)))

        first = build(self.view)
        if first is None:  # the core knows the topic, ZooKeeper's view has another count: the view is the truth
            first = AddPartitions(TopicAssignment(topic.name, topic.topic_id, {**current, **{
                base + offset: list(r) for offset, r in enumerate(chosen)}}))
        self.await_rewrite(first, build)

    def set_topic_configs(self, topic: str, configs: dict[str, str]) -> None:
        self.outbox.append(SetTopicConfig(topic, dict(configs)))

    def set_entity_config(self, entity_path: str, configs: dict[str, str]) -> None:
        """``/config/<entity_path>`` (``brokers/<default>``, ``brokers/1``, ``users/alice/clients/c1``, ...) and
        its change notification."""
        self.outbox.append(SetEntityConfig(entity_path, dict(configs)))

    def mark_for_deletion(self, topic: str) -> None:
        self.outbox.append(MarkForDeletion(topic))

    def topic_ready(self, name: str, topic_id: uuid.UUID | None = None) -> bool:
        """The topic exists here with a leader for every partition (what CreateTopics waits for)."""
        topic = self.core.cluster.topics.get(name)
        if topic is None or (topic_id is not None and topic.topic_id != topic_id) or not topic.partitions:
            return False
        return all(p.leader >= 0 for p in topic.partitions)


__all__ = ["PartitionState", "ZkMetadata"]
