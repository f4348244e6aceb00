"""The coordinators' internal logs: ``__consumer_offsets`` and ``__transaction_state``.

Group metadata, committed offsets and transaction state are kept as records in
these two compacted topics, partitioned like Kafka's: the coordinator of a key
(a group id or a transactional id) is the leader of partition
``abs(javaHashCode(key)) % partitions``. The records are our own format: key and
value are compact JSON objects; the key's ``"t"`` field names the record type
(``"offset"``, ``"group"``, ``"txn"``, ...) and a ``None`` value is a tombstone.
So the state persists with ``--data-dir`` like any log, is compacted by the
log cleaner, and moves with partition leadership. On start-up ``replay`` reads
the logs back, oldest first, and hands each record to the restorer registered
for its type.

The topics are created on first use (as Kafka creates them on the first
FindCoordinator), with ``offsets.topic.num.partitions`` and
``transaction.state.log.num.partitions`` partitions. In ZooKeeper mode the
creation is a write to ZooKeeper; until the topic comes back from there, its
keys have no coordinator (-1), which FindCoordinator answers with
COORDINATOR_NOT_AVAILABLE, as Kafka does while it creates the topic.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from wire.errors import DecodeError
from wire.kafka.records import BatchBuilder, RecordBatch, split_batches

if TYPE_CHECKING:
    from broker.core import BrokerCore
    from broker.state.cluster import Partition, Topic

log = logging.getLogger("broker.internal")

GROUP_TOPIC = "__consumer_offsets"
TXN_TOPIC = "__transaction_state"
INTERNAL_TOPICS = (GROUP_TOPIC, TXN_TOPIC)

JsonObject = dict[str, Any]
Restorer = Callable[[JsonObject, JsonObject | None, int], None]  # (key, value or None, record timestamp)


def java_string_hash(text: str) -> int:
    """Java's ``String.hashCode`` (over UTF-16 code units), as a signed 32-bit int."""
    h = 0
    data = text.encode("utf-16-be")
    for i in range(0, len(data), 2):
        h = (31 * h + ((data[i] << 8) | data[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h & 0x80000000 else h


def partition_for(key: str, partitions: int) -> int:
    """Kafka's ``Utils.abs(key.hashCode) % partitions`` (``Utils.abs`` masks the sign bit)."""
    return (java_string_hash(key) & 0x7FFFFFFF) % partitions


def encode_json(obj: JsonObject) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


class InternalLogs:
    """Writes coordinator records into the internal topics and replays them on start-up."""

    def __init__(self, core: BrokerCore) -> None:
        self.core = core
        self.restorers: dict[str, Restorer] = {}
        self._requested: set[str] = set()  # ZooKeeper mode: creations asked for
        # while the core handles a request whose answer must wait for replication: (partition, last offset)
        # of every batch written meanwhile
        self.written: list[tuple[Partition, int]] | None = None

    def partition_count(self, topic: str) -> int:
        cfg = self.core.config
        return cfg.offsets_topic_num_partitions if topic == GROUP_TOPIC else cfg.transaction_state_log_num_partitions

    def topic(self, name: str) -> Topic | None:
        """The internal topic, created now if it does not exist yet (in ZooKeeper mode: asked for, and None
        until ZooKeeper reports it)."""
        existing = self.core.cluster.topics.get(name)
        if existing is not None:
            return existing
        configs = {"cleanup.policy": "compact", "compression.type": "producer"}
        zk = self.core.zk
        if zk is not None:
            if name not in self._requested:
                self._requested.add(name)
                replication = min(self.core.config.internal_topics_replication_factor, max(1, len(zk.view.brokers)))
                zk.create_topic(name, self.partition_count(name), replication, configs)
            return None
        replication = min(self.core.config.default_replication_factor, len(self.core.cluster.brokers))
        return self.core.cluster.create_topic(name, self.partition_count(name), replication, configs, internal=True)

    def partition_index(self, topic: str, key: str) -> int:
        return partition_for(key, self.partition_count(topic))

    def partition_of(self, topic: str, key: str) -> Partition:
        """The partition of ``topic`` whose leader coordinates ``key`` (the topic must exist: callers have
        found this broker to be the key's coordinator)."""
        t = self.topic(topic)
        if t is None:
            raise RuntimeError(f"{topic} does not exist yet; no coordinator for {key!r}")
        return t.partitions[partition_for(key, len(t.partitions))]

    def coordinator(self, topic: str, key: str) -> int:
        """Node id of the coordinator for ``key`` (a group id in GROUP_TOPIC, a transactional id in TXN_TOPIC);
        -1 while there is none (the topic is being created, or the partition has no leader)."""
        t = self.topic(topic)
        if t is None:
            return -1
        return t.partitions[partition_for(key, len(t.partitions))].leader

    def write(self, topic: str, coordinator_key: str, records: list[tuple[JsonObject, JsonObject | None]]
              ) -> int | None:
        """Append ``records`` (key, value or None for a tombstone) as one batch to the partition that
        coordinates ``coordinator_key``, and make them visible (high watermark) and durable per flush policy.
        Returns the batch's last offset (None when nothing was written); in ZooKeeper mode the high watermark
        passes it once the partition's ISR has the batch."""
        if not records:
            return None
        partition = self.partition_of(topic, coordinator_key)
        zk = self.core.zk
        if zk is not None and (partition.leader != zk.node_id or not partition.local):
            # ZooKeeper mode: only the partition's leader writes; state held for a partition this broker does
            # not lead (replayed at start-up, or left from before it lost leadership) is stale, and writing it
            # into a follower's log would make that log diverge from the leader's
            log.debug("%s-%d: not the leader; %d coordinator records not written", topic, partition.index,
                      len(records))
            return None
        builder = BatchBuilder()
        now = self.core.wall_ms()
        for key, value in records:
            builder.append(None if value is None else encode_json(value), encode_json(key), timestamp=now)
        data = bytearray(builder.build())
        plog = partition.log
        _, last = plog.append(data, RecordBatch(data).header, partition.leader_epoch)
        if self.core.zk is None:
            plog.advance_high_watermark()
        else:  # the high watermark follows the ISR, as for any partition
            from broker.replication.leader import replication

            replication(self.core).maybe_advance_hw((topic, partition.index), partition, self.core.now_ms)
        plog.maybe_flush(self.core.now_ms)
        if self.written is not None:
            self.written.append((partition, last))
        return last

    def register(self, record_type: str, restorer: Restorer) -> None:
        if record_type in self.restorers:
            raise RuntimeError(f"restorer for {record_type!r} registered twice")
        self.restorers[record_type] = restorer

    def records(self, topic: str, only: int | None = None) -> Iterator[tuple[JsonObject, JsonObject | None, int]]:
        """Every record of ``topic`` (or of its partition ``only``), partition by partition, oldest first:
        (key, value, timestamp)."""
        t = self.core.cluster.topics.get(topic)
        if t is None:
            return
        for partition in t.partitions:
            if only is not None and partition.index != only:
                continue
            plog = partition.log
            data = plog.read(plog.log_start_offset, 1 << 62, upper=plog.next_offset)
            try:
                batches = split_batches(data, allow_truncated_tail=True)
            except DecodeError:
                log.exception("%s-%d: unreadable batches; coordinator state from it is lost", topic, partition.index)
                continue
            for batch in batches:
                if batch.is_control:
                    continue
                for record in batch.records():
                    if record.key is None:
                        continue
                    try:
                        key = json.loads(record.key)
                        value = None if record.value is None else json.loads(record.value)
                    except ValueError:
                        log.warning("%s-%d offset %d: not a wiretwin record; skipped", topic, partition.index,
                                    record.offset)
                        continue
                    yield key, value, record.timestamp

    def replay(self) -> None:
        """Rebuild the coordinators' state from the internal logs (start-up with ``--data-dir``)."""
        for topic in INTERNAL_TOPICS:
            self._restore(topic, self.records(topic))

    def replay_partition(self, topic: str, index: int) -> None:
        """Load one internal partition's records: this broker just became its leader (ZooKeeper mode)."""
        self._restore(topic, self.records(topic, only=index))

    def _restore(self, topic: str, records: Iterator[tuple[JsonObject, JsonObject | None, int]]) -> None:
        for key, value, timestamp in records:
            restorer = self.restorers.get(str(key.get("t")))
            if restorer is None:
                log.warning("%s: record of unknown type %r skipped", topic, key.get("t"))
                continue
            restorer(key, value, timestamp)
