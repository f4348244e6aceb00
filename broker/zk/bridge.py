"""The kazoo side of ZooKeeper mode: one broker's session, its watches, and the writes it performs.

``ZkBridge`` owns a kazoo client (threading handler) and everything that
touches ZooKeeper for one broker; the broker core never sees kazoo. It:

* ``start()`` (blocking; the trio shell calls it from a worker thread): creates
  the chroot of ``zookeeper.connect`` if missing (as Kafka does), opens the
  session, makes sure Kafka's persistent paths exist, reads or creates
  ``/cluster/id``, registers the ephemeral ``/brokers/ids/<id>`` (v5 JSON) and
  delivers a first full snapshot (``ClusterIdKnown``, ``BrokersChanged``,
  ``ControllerChanged``, ``TopicsChanged``, ``PartitionStatesChanged``,
  ``DeletionsRequested``, ``PreferredElectionRequested``) with every watch armed;
* then follows ZooKeeper: kazoo's watch callbacks and session-state listener
  only mark what became stale; one refresher thread of the bridge re-reads it
  (re-arming the one-shot watches) and delivers the new snapshot through
  ``deliver``. A lost session is delivered as ``SessionLost``; when kazoo has a
  new session the broker registers again and everything is read again;
* ``apply(write)`` (blocking, any thread) performs one ``ZkWrite`` the way
  Kafka's ``KafkaZkClient``/``AdminZkClient`` does; a lost race (NodeExists,
  BadVersion, NoNode, a fenced controller) is delivered as ``WriteFailed``.
  Topic rewrites (``AddPartitions``) are one multi, conditional on the topic
  znode's version read (``TopicAssignment.zk_version``) and, for the
  controller's, on ``/controller_epoch``'s; after a lost one the topics are read
  again. The resulting changes come back through the watches like anyone else's;
* keeps the notification queues short as Kafka's brokers do: while this broker
  is the controller it consumes ``/isr_change_notification`` entries (the
  states themselves are watched directly), and every broker purges
  ``/config/changes`` entries older than 15 minutes;
* follows dynamic configs as Kafka's ``DynamicConfigManager`` does: every new
  ``/config/changes/config_change_<seq>`` names an entity path; ``brokers/...``
  makes it read ``/config/brokers/<default>`` and its own ``/config/brokers/<id>``
  again (``BrokerConfigsChanged``), ``users/...``, ``clients/...`` and ``ips/...``
  every quota entity (``QuotaConfigsChanged``). Both are read at start-up and on
  every new session too, so a config written straight into ZooKeeper with a
  notification (``kafka-configs.sh --zookeeper``) is picked up like our own;
* follows ``/admin/reassign_partitions`` (``LegacyReassignmentRequested``) and
  rewrites or deletes it for the controller (``SetLegacyReassignment``);
* follows ``/feature`` (``FeaturesChanged``, with its znode version) as Kafka's
  ``FinalizedFeatureChangeListener`` does, and writes it for the controller
  (``SetFeatureZNode``);
* ``allocate_producer_id_block()`` claims the next block of producer ids in
  ``/latest_producer_id_block`` (Kafka's ``ZkProducerIdManager``);
* ``stop()`` closes the session, so the ephemerals go at once.

The JSON and the paths are ``broker.zk.layout``'s; this module only moves bytes.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from kazoo.client import KazooClient
from kazoo.exceptions import (
    BadVersionError, KazooException, NodeExistsError, NoNodeError, RolledBackError,
)
from kazoo.handlers.threading import SequentialThreadingHandler
from kazoo.protocol.serialization import Create
from kazoo.protocol.states import KazooState, WatchedEvent
from kazoo.security import OPEN_ACL_UNSAFE

from broker.zk import layout
from broker.zk.model import (
    FeaturesChanged, SetFeatureZNode, LegacyReassignmentRequested, SetLegacyReassignment,
    BrokerConfigsChanged, ClaimProducerIds, ProducerIdsClaimed, QuotaConfigsChanged, SetEntityConfig,
    AddPartitions, BrokerRegistration, BrokersChanged, ClusterIdKnown, CompleteDeletion, ControllerChanged,
    CompletePreferredElection, CreateTopic, DeletionsRequested, ElectController, MarkForDeletion, PartitionState,
    PartitionStatesChanged, PreferredElectionRequested, SessionLost, SetPartitionStates, SetTopicConfig, TopicAssignment, TopicsChanged, WriteFailed, ZkEvent, ZkWrite,
)

log = logging.getLogger("broker.zk.bridge")

# what a watch or a state change marks stale; the refresher re-reads these in this order
_CONTROLLER = "controller"
_BROKERS = "brokers"
_TOPICS = "topics"
_DELETIONS = "deletions"
_PREFERRED = "preferred"  # /admin/preferred_replica_election
_ISR_CHANGES = "isr_changes"  # the controller's housekeeping of /isr_change_notification
_CONFIG_CHANGES = "config_changes"  # new /config/changes notifications; every broker's purge of old ones
_BROKER_CONFIGS = "broker_configs"  # /config/brokers/<default> and /config/brokers/<own id>
_QUOTAS = "quotas"  # /config/users, /config/clients, /config/ips
_FEATURE = "feature"  # /feature (FinalizedFeatureChangeListener)
_REASSIGN = "reassign"  # /admin/reassign_partitions (legacy reassignment requests)
_LOST = "lost"
_CONNECTED = "connected"
_STOP = "stop"
_ALL = (_BROKERS, _CONTROLLER, _TOPICS, _DELETIONS, _PREFERRED, _ISR_CHANGES, _CONFIG_CHANGES, _BROKER_CONFIGS,
        _QUOTAS, _FEATURE, _REASSIGN)

CONFIG_CHANGE_EXPIRATION_MS = 15 * 60 * 1000  # ZkNodeChangeNotificationListener's changeExpirationMs
PRODUCER_ID_BLOCK_SIZE = layout.PRODUCER_ID_BLOCK_SIZE

Marker = str | tuple[str, int]  # a name above, or (topic, partition) for one partition state
R = TypeVar("R")


class BrokerIdInUseError(RuntimeError):
    """``/brokers/ids/<id>`` belongs to another live session (another broker with our id)."""


class WriteLost(Exception):
    """A write lost a race; the message says how (the ``reason`` of ``WriteFailed``)."""


class ZkBridge:
    def __init__(self, connect: str, broker_id: int, registration: BrokerRegistration, session_timeout_ms: int,
                 deliver: Callable[[ZkEvent], None], *, cluster_id: str | None = None,
                 connection_timeout_ms: int | None = None, registration_wait_ms: int | None = None,
                 clock_ms: Callable[[], int] = lambda: int(time.time() * 1000)) -> None:
        """``connect`` is ``zookeeper.connect`` (``host:port[,host:port...][/chroot]``). ``cluster_id`` is used
        only when ``/cluster/id`` has to be created. ``registration_wait_ms`` (default: the session timeout)
        is how long to wait for a stale registration of this broker id (a previous session not yet expired)
        to go before failing as Kafka does."""
        self.hosts, self.chroot = layout.split_connect(connect)
        self.broker_id = broker_id
        self.registration = registration
        self.session_timeout_ms = session_timeout_ms
        self.deliver = deliver
        self.configured_cluster_id = cluster_id
        self.connection_timeout_s = (connection_timeout_ms or max(session_timeout_ms, 10_000)) / 1000
        self.registration_wait_s = (registration_wait_ms if registration_wait_ms is not None
                                    else session_timeout_ms) / 1000
        self.clock_ms = clock_ms
        self.cluster_id: str | None = None
        self.client: KazooClient | None = None
        self._marks: queue.SimpleQueue[Marker] = queue.SimpleQueue()
        self._watchers: dict[Marker, Callable[[WatchedEvent], None]] = {}
        self._known_states: set[tuple[str, int]] = set()
        self._sessions: list[int] = []  # ids of this bridge's sessions, newest last
        self._session_lost = False
        self._is_controller = False
        self._refresher: threading.Thread | None = None
        self._stopped = False
        self._last_config_change = -1  # sequence number of the newest /config/changes entry processed

    # -- life cycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        if self.chroot:
            self._ensure_chroot()
        client = KazooClient(
            hosts=self.hosts + self.chroot, timeout=self.session_timeout_ms / 1000,
            handler=SequentialThreadingHandler(),
            connection_retry={"max_tries": -1, "delay": 0.05, "backoff": 2, "max_delay": 1.0},
            command_retry={"max_tries": 5, "delay": 0.05, "backoff": 2, "max_delay": 1.0,
                           "ignore_expire": False},
        )
        self.client = client
        try:
            client.start(timeout=self.connection_timeout_s)
            self._sessions.append(client.client_id[0])
            for path in layout.PERSISTENT_PATHS:
                self._ensure_null_path(client, path)
            self.cluster_id = self._cluster_id()
            self._register()
        except BaseException:
            self._stopped = True
            client.stop()
            client.close()
            raise
        client.add_listener(self._on_session_state)
        self.deliver(ClusterIdKnown(self.cluster_id))
        self._refresh(set(_ALL))
        self._refresher = threading.Thread(target=self._refresh_loop, name=f"zk-bridge-{self.broker_id}",
                                           daemon=True)
        self._refresher.start()

    def stop(self) -> None:
        """Close the session (its ephemerals go at once) and stop delivering."""
        if self._stopped:
            return
        self._stopped = True
        self._marks.put(_STOP)
        if self._refresher is not None and self._refresher is not threading.current_thread():
            self._refresher.join(timeout=10)
        client = self.client
        if client is not None:
            try:
                client.stop()
            finally:
                client.close()

    def _ensure_chroot(self) -> None:
        """Kafka creates the chroot path itself before using it."""
        bootstrap = KazooClient(hosts=self.hosts, timeout=self.session_timeout_ms / 1000,
                                handler=SequentialThreadingHandler())
        bootstrap.start(timeout=self.connection_timeout_s)
        try:
            self._ensure_null_path(bootstrap, self.chroot)
        finally:
            bootstrap.stop()
            bootstrap.close()

    def _create_null(self, client: KazooClient, path: str) -> None:
        """Create a persistent znode with *null* data, as Kafka's ``createRecursive`` does for the znodes that
        carry none (``/brokers/ids``, ``.../partitions/<p>``, deletion markers, ...). kazoo's public ``create``
        always sends bytes (an empty array, not null), so this sends kazoo's own ``Create`` request through
        its request queue (kazoo 2.x); without that internal API it falls back to empty data."""
        call = getattr(client, "_call", None)
        if call is None:
            client.create(path, b"")
            return
        result = client.handler.async_result()
        call(Create((client.chroot or "") + path, None, client.default_acl or OPEN_ACL_UNSAFE, 0), result)
        result.get(timeout=self.connection_timeout_s)

    def _ensure_null_path(self, client: KazooClient, path: str) -> None:
        """``makeSurePersistentPathExists``: every missing component of ``path`` created with null data."""
        parts = [p for p in path.split("/") if p]
        for depth in range(1, len(parts) + 1):
            current = "/" + "/".join(parts[:depth])
            if client.exists(current) is None:
                try:
                    self._create_null(client, current)
                except NodeExistsError:
                    pass

    def _zk(self) -> KazooClient:
        assert self.client is not None, "ZkBridge.start() first"
        return self.client

    def _cluster_id(self) -> str:
        """Read ``/cluster/id`` or create it (with the configured id, else a new Kafka Uuid)."""
        client = self._zk()
        try:
            data, _ = client.get(layout.CLUSTER_ID)
            return layout.decode_cluster_id(data)
        except NoNodeError:
            pass
        new_id = self.configured_cluster_id or layout.uuid_to_kafka(layout.new_kafka_uuid())
        self._ensure_null_path(client, layout.CLUSTER)
        try:
            client.create(layout.CLUSTER_ID, layout.encode_cluster_id(new_id))
            return new_id
        except NodeExistsError:  # another broker created it first
            data, _ = client.get(layout.CLUSTER_ID)
            return layout.decode_cluster_id(data)

    def _register(self) -> None:
        """Kafka's checked ephemeral create of ``/brokers/ids/<id>``: a node of one of our own earlier
        sessions is replaced; one of another session is waited for (it goes when that session expires) up to
        ``registration_wait_ms``, then registration fails with Kafka's message."""
        client = self._zk()
        path = layout.broker_path(self.broker_id)
        data = layout.encode_broker(self.registration)
        deadline = time.monotonic() + self.registration_wait_s
        while True:
            try:
                client.create(path, data, ephemeral=True, makepath=True)
                return
            except NodeExistsError:
                pass
            gone = threading.Event()
            stat = client.exists(path, watch=lambda _event, gone=gone: gone.set())
            if stat is None:
                continue
            session = client.client_id[0]
            owner = stat.ephemeralOwner
            if owner == session:
                return
            if owner in self._sessions:  # ours, from a session that expired (ZOOKEEPER-2985): re-create
                try:
                    client.delete(path)
                except NoNodeError:
                    pass
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not gone.wait(remaining):
                raise BrokerIdInUseError(
                    f"Error while creating ephemeral at {path}, node already exists and owner "
                    f"'0x{owner:x}' does not match current session '0x{session:x}'")

    # -- watches and the refresher ------------------------------------------------------------------

    def _mark(self, marker: Marker) -> None:
        self._marks.put(marker)

    def _watcher(self, marker: Marker) -> Callable[[WatchedEvent], None]:
        """One callable per marker, so kazoo (which keeps a set of watchers per path) never piles them up."""
        watcher = self._watchers.get(marker)
        if watcher is None:
            def watcher(_event: WatchedEvent, marker: Marker = marker) -> None:
                self._mark(marker)
            self._watchers[marker] = watcher
        return watcher

    def _on_session_state(self, state: str) -> None:
        """kazoo's connection thread: never block here, only mark."""
        if state == KazooState.LOST:
            self._mark(_LOST)
        elif state == KazooState.CONNECTED:
            self._mark(_CONNECTED)

    def _refresh_loop(self) -> None:
        while True:
            pending = {self._marks.get()}
            while True:  # take everything marked meanwhile: one read per stale thing
                try:
                    pending.add(self._marks.get_nowait())
                except queue.Empty:
                    break
            if _STOP in pending or self._stopped:
                return
            try:
                if _LOST in pending:
                    self._session_lost = True
                    self.deliver(SessionLost())
                if _CONNECTED in pending:
                    self._on_connected()
                    pending |= set(_ALL)
                    self._known_states = set()  # read every state again (a new session has no watches)
                if self._zk().state == KazooState.CONNECTED:
                    self._refresh(pending)
            except KazooException as exc:  # connection trouble: the state listener marks everything again
                log.info("ZooKeeper refresh interrupted (%s); will read again on reconnection", exc)
            except Exception:
                log.exception("ZooKeeper refresh failed")

    def _on_connected(self) -> None:
        client = self._zk()
        session = client.client_id[0] if client.client_id else None
        if session is not None and session not in self._sessions:
            self._sessions.append(session)
        if self._session_lost:
            self._session_lost = False
            log.info("new ZooKeeper session 0x%x: registering broker %d again", session or 0, self.broker_id)
            self._register()

    def _refresh(self, pending: set[Marker]) -> None:
        if _CONFIG_CHANGES in pending:
            pending |= self._new_config_changes()
        if _FEATURE in pending:
            self.deliver(self._read_feature())
        if _BROKERS in pending:
            self.deliver(BrokersChanged(self._read_brokers()))
        if _CONTROLLER in pending:
            changed = self._read_controller()
            was_controller, self._is_controller = self._is_controller, changed.controller_id == self.broker_id
            if self._is_controller and not was_controller:
                pending.add(_ISR_CHANGES)
            self.deliver(changed)
        states: dict[tuple[str, int], PartitionState | None] = {}
        if _TOPICS in pending:
            topics, configs = self._read_topics()
            self.deliver(TopicsChanged(topics, configs))
            keys = {(name, p) for name, a in topics.items() for p in a.partitions}
            known, self._known_states = self._known_states, keys
            for key in sorted(known - keys):
                states[key] = None
            for key in sorted(keys - known):
                if key not in pending:  # (a state marked by its own watch is read below)
                    state = self._read_state(key)  # arms the watch; a partition without a state yet is not news
                    if state is not None:
                        states[key] = state
        for marker in sorted((m for m in pending if isinstance(m, tuple)), key=repr):
            if marker in self._known_states:
                states[marker] = self._read_state(marker)
        if states:
            self.deliver(PartitionStatesChanged(states))
        if _DELETIONS in pending:
            children = self._children(layout.DELETE_TOPICS, _DELETIONS)
            self.deliver(DeletionsRequested(frozenset(children)))
        if _PREFERRED in pending:
            self.deliver(PreferredElectionRequested(self._read_admin_request(
                layout.PREFERRED_REPLICA_ELECTION, _PREFERRED, layout.decode_preferred_election,
                frozenset[tuple[str, int]]())))
        if _REASSIGN in pending:
            self.deliver(LegacyReassignmentRequested(self._read_admin_request(
                layout.REASSIGN_PARTITIONS, _REASSIGN, layout.decode_reassign_partitions,
                dict[tuple[str, int], list[int]]())))
        if _ISR_CHANGES in pending and self._is_controller:
            self._consume_isr_changes()
        if _BROKER_CONFIGS in pending:
            self.deliver(self._read_broker_configs())
        if _QUOTAS in pending:
            self.deliver(QuotaConfigsChanged(self._read_quota_configs()))
        if _CONFIG_CHANGES in pending:
            self._purge_config_changes()

    def _consume_isr_changes(self) -> None:
        """Kafka's controller reads ``/isr_change_notification`` entries, refreshes the partitions they name and
        deletes them. Our brokers watch every partition state already, so consuming is deleting."""
        client = self._zk()
        for child in sorted(self._children(layout.ISR_CHANGES, _ISR_CHANGES)):
            if child.startswith("isr_change_"):
                try:
                    client.delete(f"{layout.ISR_CHANGES}/{child}")
                except NoNodeError:
                    pass

    def _new_config_changes(self) -> set[Marker]:
        """``ZkNodeChangeNotificationListener.processNotifications``: the entity paths of the notifications newer
        than the last one processed, as what to read again (``brokers/...``: the broker configs; quota entity
        types: every quota entity; ``topics/...`` are followed by their own data watches)."""
        client = self._zk()
        marks: set[Marker] = set()
        newest = self._last_config_change
        for child in sorted(self._children(layout.CONFIG_CHANGES, _CONFIG_CHANGES)):
            seq = layout.config_change_sequence(child)
            if seq is None or seq <= self._last_config_change:
                continue
            newest = max(newest, seq)
            try:
                data, _ = client.get(f"{layout.CONFIG_CHANGES}/{child}")
                entity_path = layout.decode_config_change(data)
            except NoNodeError:
                continue
            except layout.LayoutError as exc:
                log.warning("ignoring unreadable config change %s: %s", child, exc)
                continue
            kind = entity_path.split("/", 1)[0]
            if kind == "brokers":
                marks.add(_BROKER_CONFIGS)
            elif kind in layout.QUOTA_TYPES:
                marks.add(_QUOTAS)
        self._last_config_change = newest
        return marks

    def _read_config(self, path: str) -> dict[str, str]:
        """``fetchEntityConfig``: a missing znode or unreadable data is an empty config."""
        try:
            data, _ = self._zk().get(path)
        except NoNodeError:
            return {}
        try:
            return layout.decode_config(data)
        except layout.LayoutError as exc:
            log.warning("ignoring unreadable config %s: %s", path, exc)
            return {}

    def _read_broker_configs(self) -> BrokerConfigsChanged:
        return BrokerConfigsChanged(self._read_config(layout.broker_config_path(None)),
                                    self._read_config(layout.broker_config_path(self.broker_id)))

    def _plain_children(self, path: str) -> list[str]:
        try:
            return sorted(self._zk().get_children(path))
        except NoNodeError:
            return []

    def _read_quota_configs(self) -> dict[str, dict[str, str]]:
        """``fetchAllEntityConfigs`` of users, clients and ips, and ``fetchAllChildEntityConfigs(users, clients)``,
        keyed by entity path."""
        entities: dict[str, dict[str, str]] = {}
        for kind in layout.QUOTA_TYPES:
            for name in self._plain_children(f"{layout.CONFIG}/{kind}"):
                entities[f"{kind}/{name}"] = self._read_config(layout.config_path(kind, name))
                if kind == "users":
                    for client_id in self._plain_children(f"{layout.CONFIG}/users/{name}/clients"):
                        path = f"users/{name}/clients/{client_id}"
                        entities[path] = self._read_config(f"{layout.CONFIG}/{path}")
        return entities

    def _purge_config_changes(self) -> None:
        """``ZkNodeChangeNotificationListener.purgeObsoleteNotifications``: entries older than 15 minutes go."""
        client = self._zk()
        cutoff = self.clock_ms() - CONFIG_CHANGE_EXPIRATION_MS
        for child in sorted(self._children(layout.CONFIG_CHANGES, _CONFIG_CHANGES)):
            path = f"{layout.CONFIG_CHANGES}/{child}"
            stat = client.exists(path)
            if stat is not None and stat.ctime < cutoff:
                try:
                    client.delete(path)
                except NoNodeError:
                    pass

    def _children(self, path: str, marker: Marker) -> list[str]:
        """Children of ``path`` with a children watch; a missing ``path`` (someone deleted a persistent path) has
        none, and an exists watch tells when it is back."""
        client = self._zk()
        watcher = self._watcher(marker)
        while True:
            try:
                return list(client.get_children(path, watch=watcher))
            except NoNodeError:
                if client.exists(path, watch=watcher) is None:
                    return []

    def _get_watched(self, path: str, marker: Marker) -> tuple[bytes, Any] | None:
        """Data and stat of ``path`` with a data watch, or None with an exists watch (so its creation is seen)."""
        client = self._zk()
        watcher = self._watcher(marker)
        while True:
            try:
                data, stat = client.get(path, watch=watcher)
                return data, stat
            except NoNodeError:
                if client.exists(path, watch=watcher) is None:
                    return None

    def _read_brokers(self) -> dict[int, BrokerRegistration]:
        client = self._zk()
        brokers: dict[int, BrokerRegistration] = {}
        for child in self._children(layout.BROKER_IDS, _BROKERS):
            try:
                broker_id = int(child)
            except ValueError:
                continue
            try:
                data, stat = client.get(layout.broker_path(broker_id), watch=self._watcher(_BROKERS))
            except NoNodeError:
                continue  # went away meanwhile: the children watch has fired
            try:  # the broker epoch is the registration's czxid, as KafkaZkClient.registerBroker returns it
                brokers[broker_id] = replace(layout.decode_broker(broker_id, data), epoch=stat.czxid)
            except layout.LayoutError as exc:
                log.warning("ignoring unreadable broker registration: %s", exc)
        return brokers

    def _read_controller(self) -> ControllerChanged:
        found = self._get_watched(layout.CONTROLLER, _CONTROLLER)
        controller_id = None
        if found is not None:
            try:
                controller_id = layout.decode_controller(found[0])
            except layout.LayoutError as exc:
                log.warning("unreadable %s: %s", layout.CONTROLLER, exc)
        epoch = self._get_watched(layout.CONTROLLER_EPOCH, _CONTROLLER)
        if epoch is None:
            return ControllerChanged(controller_id, 0, -1)
        return ControllerChanged(controller_id, layout.decode_controller_epoch(epoch[0]), epoch[1].version)

    def _read_topics(self) -> tuple[dict[str, TopicAssignment], dict[str, dict[str, str]]]:
        client = self._zk()
        watcher = self._watcher(_TOPICS)
        topics: dict[str, TopicAssignment] = {}
        for name in sorted(self._children(layout.TOPICS, _TOPICS)):
            try:
                data, stat = client.get(layout.topic_path(name), watch=watcher)
                topics[name] = layout.decode_topic(name, data, stat.version)
            except NoNodeError:
                continue
            except layout.LayoutError as exc:
                log.warning("ignoring unreadable topic: %s", exc)
        configs: dict[str, dict[str, str]] = {}
        for name in sorted(self._children(layout.CONFIG_TOPICS, _TOPICS)):
            try:
                data, _ = client.get(layout.topic_config_path(name), watch=watcher)
            except NoNodeError:
                continue
            if name in topics:
                try:
                    configs[name] = layout.decode_config(data)
                except layout.LayoutError as exc:
                    log.warning("ignoring unreadable config of %s: %s", name, exc)
        return topics, configs

    def _read_feature(self) -> FeaturesChanged:
        """``/feature`` with a data watch (an exists watch while absent); unreadable data is None at its version."""
        found = self._get_watched(layout.FEATURE, _FEATURE)
        if found is None:
            return FeaturesChanged(None, -1)
        try:
            return FeaturesChanged(layout.decode_feature(found[0]), found[1].version)
        except layout.LayoutError as exc:
            log.error("Unable to deserialize feature ZK node at path: %s: %s", layout.FEATURE, exc)
            return FeaturesChanged(None, found[1].version)

    def _read_admin_request(self, path: str, marker: Marker, decode: Callable[[bytes], R], unreadable: R) -> R | None:
        """An admin znode the old tools create (``/admin/reassign_partitions``, ``/admin/preferred_replica_election``),
        watched: None while absent; unreadable data is logged and read as ``unreadable`` (nothing requested), as
        Kafka's controller ignores it."""
        found = self._get_watched(path, marker)
        if found is None:
            return None
        try:
            return decode(found[0])
        except layout.LayoutError as exc:
            log.warning("ignoring unreadable %s: %s", path, exc)
            return unreadable

    def _read_state(self, key: tuple[str, int]) -> PartitionState | None:
        path = layout.partition_state_path(*key)
        found = self._get_watched(path, key)
        if found is None:
            return None
        try:
            return layout.decode_partition_state(found[0], found[1].version, path)
        except layout.LayoutError as exc:
            log.warning("ignoring unreadable partition state: %s", exc)
            return None

    # -- producer ids ---------------------------------------------------------------------------------------

    def allocate_producer_id_block(self, block_size: int = PRODUCER_ID_BLOCK_SIZE) -> tuple[int, int]:
        """Claim the next ``block_size`` producer ids for this broker (blocking): read
        ``/latest_producer_id_block``, write the block after it conditionally on the version read (or create
        it from 0), retry when another broker won. Returns (first id, last id)."""
        client = self._zk()
        while True:
            try:
                data, stat = client.get(layout.PRODUCER_ID_BLOCK)
            except NoNodeError:
                data, stat = b"", None
            if data:
                _, _, last_end = layout.decode_producer_id_block(data)
                first = last_end + 1
            else:
                first = 0
            last = first + block_size - 1
            encoded = layout.encode_producer_id_block(self.broker_id, first, last)
            try:
                if stat is None:
                    client.create(layout.PRODUCER_ID_BLOCK, encoded, makepath=True)
                else:
                    client.set(layout.PRODUCER_ID_BLOCK, encoded, version=stat.version)
                return first, last
            except (BadVersionError, NodeExistsError):
                continue

    # -- writes -------------------------------------------------------------------------------------------

    def apply(self, write: ZkWrite) -> None:
        """Perform one write; a lost race is delivered as ``WriteFailed`` (never raised). The states a failed
        ``SetPartitionStates`` named are read again, as Kafka's controller re-reads a partition state after a
        BadVersion, so the next decision starts from what ZooKeeper holds."""
        try:
            self._apply(write)
            return
        except WriteLost as lost:
            reason = str(lost)
        except KazooException as exc:  # a lost race (NodeExists, BadVersion, ...), connection loss, expiry
            reason = f"{type(exc).__name__}: {exc}"
        if isinstance(write, SetPartitionStates):
            for key in write.states:
                self._mark(key)
        if isinstance(write, SetFeatureZNode):
            self._mark(_FEATURE)
        if isinstance(write, SetLegacyReassignment):
            self._mark(_REASSIGN)
        if isinstance(write, AddPartitions):  # decide again from what ZooKeeper holds now
            self._mark(_TOPICS)
        self.deliver(WriteFailed(write, reason))

    def _apply(self, write: ZkWrite) -> None:
        if isinstance(write, ClaimProducerIds):
            first, last = self.allocate_producer_id_block()
            self.deliver(ProducerIdsClaimed(first, last))
            return
        if isinstance(write, CreateTopic):
            self._create_topic(write)
        elif isinstance(write, AddPartitions):
            self._set_topic_assignment(write)
        elif isinstance(write, SetTopicConfig):
            self._set_topic_config(write)
        elif isinstance(write, SetEntityConfig):
            self._set_entity_config(write)
        elif isinstance(write, MarkForDeletion):
            client = self._zk()
            if client.exists(layout.topic_path(write.topic)) is None:
                raise WriteLost(f"UnknownTopicOrPartition: topic {write.topic} does not exist")
            try:
                self._create_null(client, layout.delete_topic_path(write.topic))
            except NodeExistsError:
                raise WriteLost(f"TopicAlreadyMarkedForDeletion: topic {write.topic} is already marked for deletion")
        elif isinstance(write, SetPartitionStates):
            self._set_partition_states(write)
        elif isinstance(write, CompleteDeletion):
            self._complete_deletion(write.topic)
        elif isinstance(write, CompletePreferredElection):
            self._zk().delete(layout.PREFERRED_REPLICA_ELECTION)
        elif isinstance(write, ElectController):
            self._elect(write.broker_id)
        elif isinstance(write, SetFeatureZNode):
            self._set_feature(write)
        elif isinstance(write, SetLegacyReassignment):
            self._set_legacy_reassignment(write)
        else:  # pragma: no cover - the union is closed
            raise TypeError(f"not a ZooKeeper write: {write!r}")

    def _set_config(self, path: str, configs: dict[str, str]) -> None:
        """``setOrCreateEntityConfigs``: set, or create when missing."""
        client = self._zk()
        data = layout.encode_config(configs)
        try:
            client.set(path, data)
        except NoNodeError:
            try:
                client.create(path, data, makepath=True)
            except NodeExistsError:
                client.set(path, data)

    def _create_topic(self, write: CreateTopic) -> None:
        """``AdminZkClient.createTopicWithAssignment``: refuse an existing (or to-be-deleted) topic, write the
        config, then the assignment (whose creation is what the controller reacts to)."""
        client = self._zk()
        name = write.assignment.name
        if client.exists(layout.topic_path(name)) is not None:
            raise WriteLost(f"TopicExists: topic '{name}' already exists")
        if client.exists(layout.delete_topic_path(name)) is not None:
            raise WriteLost(f"TopicExists: topic '{name}' is marked for deletion")
        self._set_config(layout.topic_config_path(name), write.configs)
        try:
            client.create(layout.topic_path(name), layout.encode_topic(write.assignment), makepath=True)
        except NodeExistsError:
            raise WriteLost(f"TopicExists: topic '{name}' already exists")

    def _set_topic_config(self, write: SetTopicConfig) -> None:
        """``AdminZkClient.changeTopicConfig``: the topic must exist; config, then a v2 change notification."""
        client = self._zk()
        if client.exists(layout.topic_path(write.topic)) is None:
            raise WriteLost(f"UnknownTopicOrPartition: topic {write.topic} does not exist")
        self._set_config(layout.topic_config_path(write.topic), write.configs)
        client.create(layout.CONFIG_CHANGE_PREFIX, layout.encode_config_change(f"topics/{write.topic}"),
                      sequence=True, makepath=True)

    def _set_entity_config(self, write: SetEntityConfig) -> None:
        """``AdminZkClient.changeEntityConfig``: ``setOrCreateEntityConfigs`` (missing parents created with null
        data, as ``createRecursive`` does), then a v2 change notification naming the entity path."""
        client = self._zk()
        path = f"{layout.CONFIG}/{write.entity_path}"
        self._ensure_null_path(client, path.rsplit("/", 1)[0])
        self._set_config(path, write.configs)
        client.create(layout.CONFIG_CHANGE_PREFIX, layout.encode_config_change(write.entity_path),
                      sequence=True, makepath=True)

    def _set_partition_states(self, write: SetPartitionStates) -> None:
        """One multi: the controller-epoch check (unless -1), then each state created (version -1) or set on its
        version, plus the ISR-change notification. Parents of new states are created first, as Kafka's
        ``createTopicPartitions`` does, but only for a topic that still exists."""
        client = self._zk()
        for topic, partition in sorted({k for k, s in write.states.items() if s.zk_version < 0}):
            if client.exists(layout.topic_path(topic)) is None:
                raise WriteLost(f"NoNode: {layout.topic_path(topic)}")
            for path in (layout.partitions_path(topic), layout.partition_path(topic, partition)):
                try:
                    self._create_null(client, path)
                except NodeExistsError:
                    pass
        txn = client.transaction()
        if write.controller_epoch_version >= 0:
            txn.check(layout.CONTROLLER_EPOCH, write.controller_epoch_version)
        ops: list[str] = ["/controller_epoch"] if write.controller_epoch_version >= 0 else []
        for (topic, partition), state in sorted(write.states.items()):
            path = layout.partition_state_path(topic, partition)
            data = layout.encode_partition_state(state)
            if state.zk_version < 0:
                txn.create(path, data)
            else:
                txn.set_data(path, data, version=state.zk_version)
            ops.append(path)
        if write.isr_change:
            txn.create(layout.ISR_CHANGE_PREFIX, layout.encode_isr_change(sorted(write.states)), sequence=True)
            ops.append(layout.ISR_CHANGE_PREFIX)
        results = txn.commit()
        for path, result in zip(ops, results):
            if isinstance(result, Exception) and not isinstance(result, RolledBackError):
                raise WriteLost(f"{type(result).__name__}: {path}"
                                + (" (fenced: the controller epoch moved)" if path == "/controller_epoch" else ""))

    def _set_topic_assignment(self, write: AddPartitions) -> None:
        """``setTopicAssignmentRaw``: one multi with the controller-epoch check (unless -1) and the topic znode set
        on the version the assignment was read at (any version when -1)."""
        client = self._zk()
        path = layout.topic_path(write.assignment.name)
        txn = client.transaction()
        ops: list[str] = []
        if write.controller_epoch_version >= 0:
            txn.check(layout.CONTROLLER_EPOCH, write.controller_epoch_version)
            ops.append(layout.CONTROLLER_EPOCH)
        txn.set_data(path, layout.encode_topic(write.assignment), version=write.assignment.zk_version)
        ops.append(path)
        for op, result in zip(ops, txn.commit()):
            if isinstance(result, Exception) and not isinstance(result, RolledBackError):
                raise WriteLost(f"{type(result).__name__}: {op}"
                                + (" (fenced: the controller epoch moved)" if op == layout.CONTROLLER_EPOCH else ""))

    def _set_legacy_reassignment(self, write: SetLegacyReassignment) -> None:
        """``maybeRemoveFromZkReassignment``: set the partitions left, or delete the znode (fenced)."""
        client = self._zk()
        txn = client.transaction()
        if write.controller_epoch_version >= 0:
            txn.check(layout.CONTROLLER_EPOCH, write.controller_epoch_version)
        if write.partitions is None:
            txn.delete(layout.REASSIGN_PARTITIONS)
        else:
            txn.set_data(layout.REASSIGN_PARTITIONS, layout.encode_reassign_partitions(write.partitions))
        failures = [r for r in txn.commit() if isinstance(r, Exception) and not isinstance(r, RolledBackError)]
        if failures:
            raise WriteLost(f"{type(failures[0]).__name__}: {layout.REASSIGN_PARTITIONS}")

    def _set_feature(self, write: SetFeatureZNode) -> None:
        """``createFeatureZNode`` / ``updateFeatureZNode``, in one multi with the controller-epoch check."""
        client = self._zk()
        txn = client.transaction()
        if write.controller_epoch_version >= 0:
            txn.check(layout.CONTROLLER_EPOCH, write.controller_epoch_version)
        data = layout.encode_feature(write.node)
        if write.zk_version < 0:
            txn.create(layout.FEATURE, data)
        else:
            txn.set_data(layout.FEATURE, data, version=write.zk_version)
        failures = [r for r in txn.commit() if isinstance(r, Exception) and not isinstance(r, RolledBackError)]
        if failures:
            raise WriteLost(f"{type(failures[0]).__name__}: {layout.FEATURE}")

    def _complete_deletion(self, topic: str) -> None:
        """``TopicDeletionManager.completeDeleteTopic``: the topic subtree (states first), its config, the marker."""
        client = self._zk()
        for path in (layout.topic_path(topic), layout.topic_config_path(topic), layout.delete_topic_path(topic)):
            try:
                client.delete(path, recursive=True)
            except NoNodeError:
                pass

    def _elect(self, broker_id: int) -> None:
        """``registerControllerAndIncrementControllerEpoch``: read (or create with 0) ``/controller_epoch``, then
        one multi creating the ephemeral ``/controller`` and setting the epoch + 1 on the version read."""
        client = self._zk()
        try:
            data, stat = client.get(layout.CONTROLLER_EPOCH)
        except NoNodeError:
            try:
                client.create(layout.CONTROLLER_EPOCH, layout.encode_controller_epoch(0))
            except NodeExistsError:
                pass
            data, stat = client.get(layout.CONTROLLER_EPOCH)
        epoch, version = layout.decode_controller_epoch(data), stat.version
        txn = client.transaction()
        txn.create(layout.CONTROLLER, layout.encode_controller(broker_id, self.clock_ms()), ephemeral=True)
        txn.set_data(layout.CONTROLLER_EPOCH, layout.encode_controller_epoch(epoch + 1), version=version)
        results = txn.commit()
        failures = [r for r in results if isinstance(r, Exception) and not isinstance(r, RolledBackError)]
        if failures:
            raise WriteLost(f"ControllerMoved: {type(failures[0]).__name__} while electing broker {broker_id} "
                            f"(epoch {epoch} -> {epoch + 1})")
