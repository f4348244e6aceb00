"""The log cleaner's policy: time and size retention, and key compaction, over one partition log.

Pure functions of the log, the topic's effective settings and the wall-clock
time (ms); the logs provide the primitives (``segment_spans``,
``delete_segments``, ``replace_batches``).

Retention (``cleanup.policy`` contains ``delete``) drops whole segments, oldest
first: those whose newest timestamp is more than ``retention.ms`` old, then
more while the log exceeds ``retention.bytes``. Only segments wholly below the
high watermark go. As in Kafka the active segment may go too (a durable log
rolls a new, empty one at the log end).

Compaction (``cleanup.policy`` contains ``compact``) works on the cleanable
part: the segments before the active one, up to the first segment holding a
batch newer than ``min.compaction.lag.ms`` or not below the high watermark.
There it keeps the newest record of every key, records without a key, and
tombstones (null values) until they are older than ``delete.retention.ms``.
Batches are rewritten at their original offsets (v2 keeps gaps), with their
producer id, epoch, base sequence, timestamps, codec and leader epoch;
control and transactional batches are left as they are. A batch that loses
every record disappears, except the last batch of a producer, which stays
empty to keep that producer's sequence (as Kafka's cleaner does).
"""

from __future__ import annotations

from dataclasses import dataclass

from broker.state.log import PartitionLog
from wire.kafka.records import BatchBuilder, Record, RecordBatch


@dataclass
class CleanerSettings:
    cleanup_policy: str = "delete"
    retention_ms: int = 7 * 24 * 3600 * 1000
    retention_bytes: int = -1
    delete_retention_ms: int = 86400000
    min_compaction_lag_ms: int = 0

    @property
    def delete(self) -> bool:
        return "delete" in self.cleanup_policy

    @property
    def compact(self) -> bool:
        return "compact" in self.cleanup_policy


def apply_retention(plog: PartitionLog, settings: CleanerSettings, wall_ms: int) -> int:
    """Delete the segments retention lets go; returns how many."""
    spans = plog.segment_spans()
    batches = plog.batches

    def deletable(span: tuple[int, int]) -> bool:
        return all(b.last_offset < plog.high_watermark for b in batches[span[0]:span[1]])

    count = 0
    if settings.retention_ms >= 0:
        for span in spans:
            seg = batches[span[0]:span[1]]
            newest = max((b.max_timestamp for b in seg), default=-1)
            if not deletable(span) or (seg and wall_ms - newest <= settings.retention_ms):
                break
            if not seg and span is spans[-1]:
                break  # an empty active segment: nothing to delete
            count += 1
    if settings.retention_bytes >= 0:
        excess = sum(len(b.data) for b in batches) - settings.retention_bytes
        for span in spans[:count]:
            excess -= sum(len(b.data) for b in batches[span[0]:span[1]])
        for span in spans[count:]:
            size = sum(len(b.data) for b in batches[span[0]:span[1]])
            if excess - size < 0 or not deletable(span) or span[0] == span[1] and span is spans[-1]:
                break
            excess -= size
            count += 1
    if count:
        plog.delete_segments(count)
    return count


def cleanable_end(plog: PartitionLog, settings: CleanerSettings, wall_ms: int) -> int:
    """Index of the first batch compaction must not touch."""
    end = 0
    for first, stop in plog.segment_spans()[:-1]:  # never the active segment
        seg = plog.batches[first:stop]
        if any(b.last_offset >= plog.high_watermark or wall_ms - b.max_timestamp < settings.min_compaction_lag_ms
               for b in seg):
            break
        end = stop
    return end


def compact(plog: PartitionLog, settings: CleanerSettings, wall_ms: int) -> int:
    """Compact the cleanable part of the log; returns how many records were removed."""
    end = cleanable_end(plog, settings, wall_ms)
    upto = plog.batches[end - 1].last_offset if end else -1
    if plog.cleaned is not None and plog.cleaned == (upto, False):
        return 0  # nothing new to clean since the last pass, and no tombstone waiting to expire
    decoded: dict[int, tuple[RecordBatch, list[Record]]] = {}
    latest: dict[bytes, int] = {}
    for i in range(end):
        stored = plog.batches[i]
        if stored.is_control or stored.is_transactional:
            continue
        batch = RecordBatch(stored.data)
        records = batch.records()
        decoded[i] = (batch, records)
        for record in records:
            if record.key is not None:
                latest[record.key] = record.offset
    last_of_producer: dict[int, int] = {}
    for i, stored in enumerate(plog.batches):
        if stored.producer_id >= 0:
            last_of_producer[stored.producer_id] = i
    replacements: dict[int, bytes | None] = {}
    removed = 0
    tombstones = False
    for i, (batch, records) in decoded.items():
        keep = [r for r in records
                if r.key is None or (latest[r.key] == r.offset
                                     and (r.value is not None or wall_ms - r.timestamp <= settings.delete_retention_ms))]
        tombstones = tombstones or any(r.key is not None and r.value is None for r in keep)
        if len(keep) == len(records):
            continue
        removed += len(records) - len(keep)
        h = batch.header
        if not keep and last_of_producer.get(h.producer_id) != i:
            replacements[i] = None
            continue
        builder = BatchBuilder(base_offset=h.base_offset, compression=h.compression,
                               timestamp_type=h.timestamp_type, producer_id=h.producer_id,
                               producer_epoch=h.producer_epoch, base_sequence=h.base_sequence,
                               partition_leader_epoch=h.partition_leader_epoch)
        for record in keep:
            builder.append_record(record)
        replacements[i] = builder.build(last_offset_delta=h.last_offset_delta, max_timestamp=h.max_timestamp)
    if replacements:
        plog.replace_batches(replacements)
    plog.cleaned = (upto, tombstones)
    return removed
