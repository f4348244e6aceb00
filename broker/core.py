"""The pure broker core: decoded requests and the time in, responses (or waits) out.

``BrokerCore`` owns the cluster state. ``handle`` dispatches a decoded request
to its registered handler, which returns the response message, ``None`` (no
response: acks=0) or ``Pending`` (a long poll: the shell waits until the
deadline or until ``data_version`` moves, then calls ``poll`` again). Nothing
here sleeps, awaits or touches a socket; time is passed in as milliseconds.
"""

from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from broker.config import BrokerConfig
from broker.handlers import REGISTRY, load_all
from broker.state.cleaner import CleanerSettings, apply_retention, compact
from broker.state.cluster import BrokerInfo, Cluster, Partition, Topic
from broker.state.configs import Effective, topic_config
from broker.state.dynamic import DynamicConfigs
from broker.state.fetch_sessions import FetchSessionCache
from broker.state.consumer_groups import ConsumerGroupCoordinator
from broker.state.filelog import FileLog, FlushPolicy, load_metadata, save_metadata, topic_dir
from broker.state.groups import GroupCoordinator
from broker.state.internal import InternalLogs
from broker.state.offsets import OffsetStore
from broker.state.producers import ProducerTable
from broker.state.transactions import TransactionCoordinator
from broker.zk.metadata import ZkMetadata
from wire.kafka._message import Message
from wire.kafka.error_codes import ErrorCode
from wire.kafka.headers import RequestHeader

log = logging.getLogger("broker")

# APIs whose coordinator-state records (__consumer_offsets, __transaction_state) must reach the partition's ISR
# before the answer, as Kafka appends them with acks=all: JoinGroup, LeaveGroup, SyncGroup, InitProducerId,
# AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, TxnOffsetCommit, DeleteGroups, OffsetDelete,
# ConsumerGroupHeartbeat (OffsetCommit waits in its own handler, with its own timeout error)
COORDINATOR_STATE_APIS = frozenset({11, 13, 14, 22, 24, 25, 26, 28, 42, 47, 68})
COORDINATOR_STATE_TIMEOUT_MS = 5000  # offsets.commit.timeout.ms, which Kafka also uses for group and txn state


def when_state_replicated(core: BrokerCore, ctx: RequestContext, resp: Message,
                          written: list[tuple[Partition, int]]) -> Pending:
    """Hold ``resp`` until every written batch is below its partition's high watermark. If this broker stops
    leading such a partition meanwhile, the state may be lost: a top-level error code becomes NOT_COORDINATOR
    (the client finds the new coordinator and retries), and COORDINATOR_NOT_AVAILABLE after the timeout, as
    Kafka's coordinators map NOT_LEADER_OR_FOLLOWER and REQUEST_TIMED_OUT of their appends."""

    def fail(code: ErrorCode) -> Message:
        if getattr(resp, "error_code", None) == 0:
            setattr(resp, "error_code", int(code))
        return resp

    def poll(now_ms: int, expired: bool) -> Message | None:
        if any(p.leader != ctx.node_id for p, _ in written):
            return fail(ErrorCode.NOT_COORDINATOR)
        if all(p.log.high_watermark > last for p, last in written):
            return resp
        return fail(ErrorCode.COORDINATOR_NOT_AVAILABLE) if expired else None

    return Pending(core.now_ms + COORDINATOR_STATE_TIMEOUT_MS, poll)


@dataclass
class RequestContext:
    """Where a request came from: which broker (listener) it reached, on which connection."""

    node_id: int
    header: RequestHeader
    connection_id: int = 0
    client_host: str = "127.0.0.1"

    @property
    def client_id(self) -> str | None:
        return self.header.client_id


def _remove_dirs(root: Path, topic: Topic) -> None:
    for partition in topic.partitions:
        if hasattr(partition.log, "close"):
            partition.log.close()
        shutil.rmtree(topic_dir(root, topic.name, partition.index), ignore_errors=True)


@dataclass
class Pending:
    """A response that waits: ``poll(now_ms, expired)`` returns it once ready (always when expired, unless that
    poll moved ``deadline_ms`` on: a Produce held for a transaction's verification then waits for acks=all)."""

    deadline_ms: int
    poll: Callable[[int, bool], Message | CloseConnection | NoResponse | None]


@dataclass
class CloseConnection:
    """No response, and the connection is closed: how Kafka tells an acks=0 producer that its Produce failed
    (so it refreshes metadata), since that producer reads no response."""

    reason: str


@dataclass
class NoResponse:
    """What a ``Pending`` poll returns when the request ends without a response (a held acks=0 Produce)."""


HandlerResult = Message | Pending | CloseConnection | None


@dataclass
class BrokerCore:
    config: BrokerConfig
    brokers: list[BrokerInfo]
    now_ms: int = 0
    cluster: Cluster = field(init=False)
    producers: ProducerTable = field(default_factory=ProducerTable)
    fetch_sessions: FetchSessionCache = field(default_factory=FetchSessionCache)
    data_version: int = 0  # bumped on every append, so parked fetches know to look again
    wall_offset: int = 0  # wall-clock ms = now_ms + wall_offset (record timestamps)
    next_clean_ms: int = field(init=False)  # when the log cleaner runs next (core time)
    # the coordinators (consumer groups, offsets, transactions), rebuilt from the internal logs on start-up
    internal: InternalLogs = field(init=False)
    offsets: OffsetStore = field(init=False)
    groups: GroupCoordinator = field(init=False)
    consumer_groups: ConsumerGroupCoordinator = field(init=False)
    txns: TransactionCoordinator = field(init=False)
    scheduled_ms: int | None = None  # the earliest deadline a handler added since the shell last looked
    zk: ZkMetadata | None = field(init=False)  # ZooKeeper mode: the view of ZooKeeper and writes to it
    # dynamic broker configs and client quotas: from ZooKeeper in ZooKeeper mode, else kept here (and in the
    # --data-dir metadata file)
    dynamic: DynamicConfigs = field(default_factory=DynamicConfigs)
    next_offsets_expiry_ms: int = field(init=False)  # when committed offsets are next checked for retention

    def __post_init__(self) -> None:
        load_all()
        self.next_clean_ms = self.now_ms + self.config.retention_check_interval_ms
        self.next_offsets_expiry_ms = self.now_ms + self.config.offsets_retention_check_interval_ms
        self._load_cluster()
        self.zk = ZkMetadata(self) if self.config.zookeeper_connect else None
        if self.zk is not None:  # producer ids come in blocks claimed in /latest_producer_id_block
            self.producers.use_range(0, 0)
        self.internal = InternalLogs(self)
        self.offsets = OffsetStore(self.internal)
        self.groups = GroupCoordinator(self)
        self.consumer_groups = ConsumerGroupCoordinator(self)
        self.txns = TransactionCoordinator(self)
        self.internal.replay()
        if self.zk is None:  # (ZooKeeper mode: per partition, as this broker becomes its leader)
            self.txns.recover()  # finish the transactions that were in flight (markers) once their state is back

    def _load_cluster(self) -> None:
        root = self.config.data_dir
        if root is None:
            self.cluster = Cluster(self.config.cluster_id, self.brokers)
            return
        policy = FlushPolicy(self.config.flush_messages, self.config.flush_ms)
        saved = load_metadata(root)
        cluster_id = str(saved["cluster_id"]) if saved else self.config.cluster_id
        self.cluster = Cluster(
            cluster_id, self.brokers,
            log_factory=lambda topic, index: FileLog(topic_dir(root, topic, index), policy,
                                                     self.config.log_segment_bytes,
                                                     checkpointed_hw=bool(self.config.zookeeper_connect)),
            on_delete=lambda topic: _remove_dirs(root, topic),
        )
        topics = saved.get("topics", []) if saved else []
        assert isinstance(topics, list)
        for t in topics:
            assert isinstance(t, dict)
            parts = t["partitions"]
            self.cluster.restore_topic(t["name"], uuid.UUID(t["id"]), [(int(p[0]), list(p[1])) for p in parts],
                                       t.get("configs"), bool(t.get("internal")),
                                       [int(p[2]) if len(p) > 2 else 0 for p in parts])
        if saved and not self.config.zookeeper_connect:
            self.dynamic = DynamicConfigs.from_json(saved.get("dynamic_configs"))
        self.cluster.on_change = lambda c: self._save_metadata(root)
        self._save_metadata(root)

    def _save_metadata(self, root: Path) -> None:
        dynamic = None if self.config.zookeeper_connect else self.dynamic.to_json()
        save_metadata(root, self.cluster.cluster_id, self.cluster.describe(),
                      dynamic if dynamic and any(dynamic.values()) else None)

    def dynamic_changed(self) -> None:
        """Dynamic broker configs or client quotas changed here: a --data-dir broker without ZooKeeper saves
        them in its metadata file (in ZooKeeper mode they are written to ZooKeeper by the handlers)."""
        self.cluster._changed()

    def dynamic_layers(self, node_id: int | None = None) -> tuple[dict[str, str], dict[str, str]]:
        """(cluster-wide default, per-broker) dynamic broker configs of ``node_id`` (default: this process's
        first broker, the only one in ZooKeeper mode)."""
        nid = self.config.node_ids[0] if node_id is None else node_id
        return self.dynamic.default, self.dynamic.brokers.get(nid, {})

    def topic_setting(self, overrides: dict[str, str], name: str, node_id: int | None = None) -> Effective:
        """A topic config's effective value with its source and synonyms: the topic's override, else this
        broker's dynamic, static or default value of the synonym."""
        from broker.handlers.describe_configs import broker_setting
        from broker.state.configs import TOPIC_CONFIGS

        default, broker = self.dynamic_layers(node_id)
        key = TOPIC_CONFIGS[name].broker_key
        value = broker_setting(self, key) if key is not None else None
        return topic_config(name, overrides, {} if key is None or value is None else {key: value}, default, broker)

    def close(self) -> None:
        """Flush and close every durable log, marking each as cleanly shut down."""
        for topic in self.cluster.topics.values():
            for partition in topic.partitions:
                partition.log.close(clean=True)

    def supports(self, api_key: int, version: int) -> bool:
        reg = REGISTRY.get(api_key)
        return reg is not None and reg.min_version <= version <= reg.max_version

    def handle(self, ctx: RequestContext, request: Any, now_ms: int) -> HandlerResult:
        self.now_ms = now_ms
        reg = REGISTRY[ctx.header.api_key]
        if not reg.exposed(self.zk is not None):  # Kafka: "Received request api key ... which is not enabled"
            return CloseConnection(f"API key {ctx.header.api_key} is not served by a "
                                   f"{'ZooKeeper-mode' if self.zk is not None else 'KRaft-mode'} broker")
        if self.zk is None or ctx.header.api_key not in COORDINATOR_STATE_APIS:
            return reg.handler(self, ctx, request, ctx.header.api_version)
        # ZooKeeper mode: group and transaction state is answered once the coordinator partition's ISR has it
        written: list[tuple[Partition, int]] = []
        self.internal.written = written
        try:
            result = reg.handler(self, ctx, request, ctx.header.api_version)
        finally:
            self.internal.written = None
        if not written or not isinstance(result, Message):
            return result
        return when_state_replicated(self, ctx, result, written)

    def wall_ms(self) -> int:
        return self.now_ms + self.wall_offset

    def appended(self) -> None:
        self.data_version += 1

    # -- the log cleaner: retention and compaction, every log.retention.check.interval.ms ------

    def schedule(self, at_ms: int) -> None:
        """A handler added work due at ``at_ms`` (a rebalance or session deadline): the shell, which may be
        sleeping until a later deadline, looks at ``next_deadline`` again after this request."""
        if self.scheduled_ms is None or at_ms < self.scheduled_ms:
            self.scheduled_ms = at_ms

    def take_scheduled(self) -> int | None:
        at, self.scheduled_ms = self.scheduled_ms, None
        return at

    def next_deadline(self) -> int | None:
        """When ``tick`` has work next (core time, ms): the log cleaner or a coordinator's deadline."""
        due = [self.next_clean_ms, self.next_offsets_expiry_ms]
        for service in (self.groups, self.consumer_groups, self.txns, self.zk):
            at = service.next_deadline() if service is not None else None
            if at is not None:
                due.append(at)
        return min(due)

    def tick(self, now_ms: int) -> None:
        """Run what is due at ``now_ms``: the coordinators' deadlines (rebalances, session expiry,
        transaction timeouts), and the log cleaner once its check interval has passed."""
        self.now_ms = now_ms
        for service in (self.groups, self.consumer_groups, self.txns, self.zk):
            if service is not None:
                service.tick(now_ms)
        if now_ms >= self.next_offsets_expiry_ms:
            self.next_offsets_expiry_ms = now_ms + max(1, self.config.offsets_retention_check_interval_ms)
            self.expire_offsets()
        if now_ms < self.next_clean_ms:
            return
        self.next_clean_ms = now_ms + max(1, self.config.retention_check_interval_ms)
        self.clean_logs()

    def expire_offsets(self) -> int:
        """offsets.retention.minutes: a group without members loses offsets committed longer ago than that (or
        past their explicit v1-v4 expiry); groups with members keep theirs. Returns how many expired."""
        retention_ms = self.config.offsets_retention_minutes * 60_000
        expired = 0
        for group_id in self.offsets.groups():
            classic, consumer = self.groups.get(group_id), self.consumer_groups.get(group_id)
            if (classic is not None and not classic.is_empty) or (consumer is not None and not consumer.is_empty):
                continue
            expired += self.offsets.expire(group_id, self.wall_ms(), retention_ms)
        if expired:
            log.info("offsets retention: %d committed offsets expired", expired)
        return expired

    def clean_logs(self) -> None:
        """One cleaner pass over every partition: retention where cleanup.policy has delete, compaction where
        it has compact (Kafka's LogManager.cleanupLogs and LogCleaner), at the current wall-clock time."""
        from broker.handlers.describe_configs import broker_settings

        settings = broker_settings(self)
        default, broker = self.dynamic_layers()
        wall = self.wall_ms()
        changed = False
        for topic in list(self.cluster.topics.values()):
            def value(name: str, overrides: dict[str, str] = topic.configs) -> str:
                return topic_config(name, overrides, settings, default, broker).value

            try:
                cs = CleanerSettings(value("cleanup.policy"), int(value("retention.ms")),
                                     int(value("retention.bytes")), int(value("delete.retention.ms")),
                                     int(value("min.compaction.lag.ms")))
                segment_bytes, segment_ms = int(value("segment.bytes")), int(value("segment.ms"))
            except ValueError:
                log.warning("topic %s: unreadable cleaner settings; skipped", topic.name)
                continue
            for partition in topic.partitions:
                plog = partition.log
                if isinstance(plog, FileLog):
                    plog.segment_bytes = segment_bytes
                    plog.maybe_roll(wall, segment_ms)
                try:
                    start = plog.log_start_offset
                    if cs.delete and apply_retention(plog, cs, wall):
                        log.info("%s-%d: retention moved the log start offset %d -> %d", topic.name,
                                 partition.index, start, plog.log_start_offset)
                        changed = True
                    if cs.compact and compact(plog, cs, wall):
                        changed = True
                except Exception:  # one bad log must not stop the cleaner for the others
                    log.exception("log cleaner failed on %s-%d", topic.name, partition.index)
        if changed:
            self.data_version += 1
