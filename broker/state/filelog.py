"""Durable partition logs for ``--data-dir``: segment files of raw batches, flush policy, crash recovery.

Layout, as Kafka's: ``DIR/<topic>-<partition>/<base offset, 20 digits>.log``
segment files holding the stored batches back to back (the exact bytes served
to consumers), rolled at ``log.segment.bytes``, each with its offset index
``<base offset>.index`` in Kafka's format: 8-byte entries (offset relative to
the segment's base offset, byte position of the batch in the segment, both
big-endian int32), one for the last offset of the first batch written after
every ``index.interval.bytes`` (4096) of data. ``DIR/__wiretwin_metadata.json``
holds the cluster id, the topics (id, partition layout, leader epochs,
configs), written atomically (temp file, fsync, rename).

Flush policy (``log.flush.interval.messages`` / ``log.flush.interval.ms``):
``1`` message means fsync after every append, before the producer is
acknowledged; otherwise a segment is fsynced once that many messages or
milliseconds have accumulated, or left to the OS (Kafka's default).

Recovery after a crash reads each segment, checks every batch's length, magic
and CRC, truncates a segment at its first damaged or incomplete batch (a torn
tail), so every batch acknowledged under flush-every-message survives, and
rebuilds the segment's offset index. After a clean shutdown (the
``.wiretwin_cleanshutdown`` marker, as Kafka's ``.kafka_cleanshutdown``) the
segments and their indexes are trusted: batches are split by their length
fields without CRC checks, and each index is checked against the batches it
points at; a segment whose index does not match is recovered like a crash.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
import re
import struct
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from broker.state.log import PartitionLog, StoredBatch
from wire.errors import DecodeError
from wire.kafka.records import RecordBatch, split_entries

log = logging.getLogger("broker.filelog")

METADATA_FILE = "__wiretwin_metadata.json"
START_FILE = "log-start-offset"  # the log start offset moved by DeleteRecords or retention
HW_FILE = "high-watermark"  # ZooKeeper mode: the high watermark, checkpointed (Kafka's replication-offset-checkpoint)
CLEAN_SHUTDOWN_FILE = ".wiretwin_cleanshutdown"
INDEX_INTERVAL_BYTES = 4096  # index.interval.bytes
_SEGMENT = re.compile(r"^(\d{20})\.log$")
_INDEX_ENTRY = struct.Struct(">ii")  # relative offset, position


def index_entries(batches: list[tuple[int, int, int]], segment_base: int) -> list[tuple[int, int]]:
    """The sparse index of one segment, from its batches as (last offset, position, size), oldest first:
    (relative offset, position) of the first batch after every INDEX_INTERVAL_BYTES, as Kafka's LogSegment
    writes it (the check happens before a batch is counted, so the first batch is never indexed)."""
    out = []
    since = 0
    for last_offset, position, size in batches:
        if since > INDEX_INTERVAL_BYTES:
            out.append((last_offset - segment_base, position))
            since = 0
        since += size
    return out


def read_index(path: Path) -> list[tuple[int, int]]:
    """The entries of an offset index file; a torn last entry is ignored."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    usable = len(data) - len(data) % _INDEX_ENTRY.size
    return [_INDEX_ENTRY.unpack_from(data, i) for i in range(0, usable, _INDEX_ENTRY.size)]


@dataclass
class FlushPolicy:
    messages: int = 2**63 - 1  # log.flush.interval.messages (1 = every append)
    interval_ms: int = 2**63 - 1  # log.flush.interval.ms

    @property
    def every_append(self) -> bool:
        return self.messages <= 1


class FileLog(PartitionLog):
    """A PartitionLog whose appends also go to segment files, recovered on start."""

    def __init__(self, directory: Path, policy: FlushPolicy, segment_bytes: int = 1 << 30,
                 checkpointed_hw: bool = False) -> None:
        """``checkpointed_hw`` (ZooKeeper mode, where followers may not have what the leader appended): the
        high watermark comes back from its checkpoint, not from the log end."""
        self.checkpointed_hw = checkpointed_hw
        super().__init__()
        self.dir = directory
        self.policy = policy
        self.segment_bytes = segment_bytes
        self._file: BinaryIO | None = None
        self._segment_size = 0
        self._unflushed = 0
        self._last_flush_ms = 0
        self._seg_bases: list[int] = []  # base offsets of the segment files, oldest first
        self._roll_pending = False
        self._index: BinaryIO | None = None  # the active segment's offset index
        self._since_index = 0  # bytes appended to the active segment since its last index entry
        self.dir.mkdir(parents=True, exist_ok=True)
        self._recover()

    def _segments(self) -> list[Path]:
        return sorted(p for p in self.dir.iterdir() if _SEGMENT.match(p.name))

    def _load_segment(self, path: Path, trusted: bool) -> list[StoredBatch] | None:
        """The batches of one segment file. Trusted (clean shutdown): split by length, checked against the
        offset index, None when they disagree. Otherwise every batch is validated and the file is truncated
        at the first damaged or incomplete one."""
        data = path.read_bytes()
        out: list[StoredBatch] = []
        good = 0
        try:
            entries = split_entries(data, allow_truncated_tail=not trusted)
        except DecodeError:
            if trusted:
                return None
            entries = []
        for entry in entries:
            try:
                batch = RecordBatch(entry)
                if not trusted:
                    batch.validate()
            except DecodeError as exc:
                if trusted:
                    return None
                log.warning("%s: damaged batch at byte %d (%s): truncating", path, good, exc)
                break
            h = batch.header
            out.append(StoredBatch(h.base_offset, h.base_offset + h.last_offset_delta, h.max_timestamp, bytes(entry),
                                   h.producer_id, h.is_transactional, h.is_control))
            good += len(entry)
        if trusted:
            base = int(path.name[:20])
            if read_index(path.with_suffix(".index")) != self._index_of(out, base):
                return None
        elif good != len(data):
            with open(path, "r+b") as f:
                f.truncate(good)
                os.fsync(f.fileno())
        return out

    @staticmethod
    def _index_of(batches: list[StoredBatch], segment_base: int) -> list[tuple[int, int]]:
        spans = []
        position = 0
        for b in batches:
            spans.append((b.last_offset, position, len(b.data)))
            position += len(b.data)
        return index_entries(spans, segment_base)

    def _write_index(self, segment_base: int, batches: list[StoredBatch]) -> None:
        """Rewrite one segment's offset index from its batches (after recovery or compaction)."""
        path = self._path(segment_base).with_suffix(".index")
        tmp = path.with_suffix(".index.tmp")
        with open(tmp, "wb") as f:
            f.writelines(_INDEX_ENTRY.pack(rel, pos) for rel, pos in self._index_of(batches, segment_base))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def lookup(self, offset: int) -> tuple[int, int]:
        """(segment base offset, byte position) from which to scan for ``offset``: the offset index's entry
        for the greatest indexed offset below ``offset`` in the segment holding it (Kafka's
        OffsetIndex.lookup), or the segment start."""
        k = bisect.bisect_right(self._seg_bases, offset) - 1
        if k < 0:
            return (self._seg_bases[0] if self._seg_bases else 0), 0
        base = self._seg_bases[k]
        entries = read_index(self._path(base).with_suffix(".index"))
        i = bisect.bisect_left(entries, (offset - base, -1)) - 1
        return base, entries[i][1] if i >= 0 else 0

    def _recover(self) -> None:
        segments = self._segments()
        self._seg_bases = [int(p.name[:20]) for p in segments]
        marker = self.dir / CLEAN_SHUTDOWN_FILE
        clean = marker.exists()
        if clean:
            marker.unlink()  # until the next clean close, a crash must be assumed
        for path in segments:
            loaded = self._load_segment(path, trusted=True) if clean else None
            if loaded is None:
                if clean:
                    log.warning("%s: offset index does not match the segment; recovering it", path)
                loaded = self._load_segment(path, trusted=False)
                assert loaded is not None
                self._write_index(int(path.name[:20]), loaded)
            for stored in loaded:
                self.batches.append(stored)
                self._bases.append(stored.base_offset)
                self.size_bytes += len(stored.data)
                self.next_offset = stored.last_offset + 1
        if self._seg_bases:  # a segment emptied by retention or compaction still marks its offsets
            self.next_offset = max(self.next_offset, self._seg_bases[-1])
            self.log_start_offset = self._seg_bases[0]
        checkpoint = self.dir / START_FILE
        if checkpoint.exists():  # DeleteRecords may have moved it inside the first segment
            try:
                self.log_start_offset = max(self.log_start_offset, int(checkpoint.read_text().strip()))
            except ValueError:
                log.warning("%s: unreadable log start offset checkpoint, ignored", checkpoint)
        self.log_start_offset = min(self.log_start_offset, self.next_offset)
        self._drop_below_start()
        self.rebuild_epochs()
        self.high_watermark = self.next_offset
        if self.checkpointed_hw:  # records above the checkpoint may never have reached the other replicas
            saved = self._read_offset(self.dir / HW_FILE)
            self.high_watermark = max(self.log_start_offset, min(saved if saved is not None else 0, self.next_offset))

    def _open_segment(self, base_offset: int) -> None:
        self.close()
        path = self._path(base_offset)
        self._file = open(path, "ab")
        self._index = open(path.with_suffix(".index"), "ab")
        self._segment_size = path.stat().st_size
        self._since_index = self._segment_size  # conservative: index the next batch of a reopened segment
        if not self._seg_bases or self._seg_bases[-1] != base_offset:
            self._seg_bases.append(base_offset)
            self._since_index = 0
        self._roll_pending = False

    def append(self, data: bytearray, header: object, leader_epoch: int) -> tuple[int, int]:
        base, last = super().append(data, header, leader_epoch)  # type: ignore[arg-type]
        self._write_last(base, last)
        return base, last

    def _store_replica(self, stored: StoredBatch, leader_epoch: int) -> None:
        super()._store_replica(stored, leader_epoch)
        self._write_last(stored.base_offset, stored.last_offset)

    def _write_last(self, base: int, last: int) -> None:
        """Write the batch just stored (offsets base..last) to the active segment, rolling as needed."""
        if self._file is None or self._segment_size >= self.segment_bytes or self._roll_pending:
            if self._file is None and self._seg_bases and not self._roll_pending:
                self._open_segment(self._seg_bases[-1])
                self._since_index = self._tail_since_index()
            if self._file is None or self._segment_size >= self.segment_bytes or self._roll_pending:
                self._open_segment(base)
        assert self._file is not None and self._index is not None
        raw = self.batches[-1].data
        if self._since_index > INDEX_INTERVAL_BYTES:
            self._index.write(_INDEX_ENTRY.pack(last - self._seg_bases[-1], self._segment_size))
            self._since_index = 0
        self._file.write(raw)
        self._segment_size += len(raw)
        self._since_index += len(raw)
        self._unflushed += last - base + 1
        if self.policy.every_append or self._unflushed >= self.policy.messages:
            self.flush()

    def truncate_to(self, offset: int) -> None:
        """Truncate the segment files too: segments starting at or after the new log end go, the one holding
        it is cut at the first removed batch and its index rewritten."""
        if offset >= self.next_offset:
            return
        super().truncate_to(offset)
        end = self.next_offset
        self.close()
        gone = [b for b in self._seg_bases if b >= end]
        self._seg_bases = [b for b in self._seg_bases if b < end]
        for base in gone:
            self._path(base).unlink(missing_ok=True)
            self._path(base).with_suffix(".index").unlink(missing_ok=True)
        if self._seg_bases:
            base = self._seg_bases[-1]
            batches = [b for b in self.batches if b.base_offset >= base]
            with open(self._path(base), "r+b") as f:
                f.truncate(sum(len(b.data) for b in batches))
                os.fsync(f.fileno())
            self._write_index(base, batches)
        else:  # nothing left to say where the log ends: an empty segment at the new end does
            self._open_segment(end)
            self.flush()

    def reset_to(self, offset: int) -> None:
        super().reset_to(offset)
        self.close()
        for base in self._seg_bases:
            self._path(base).unlink(missing_ok=True)
            self._path(base).with_suffix(".index").unlink(missing_ok=True)
        self._seg_bases = []
        self._open_segment(offset)
        self.flush()
        self._save_start()

    def maybe_flush(self, now_ms: int) -> None:
        if self._unflushed and now_ms - self._last_flush_ms >= self.policy.interval_ms:
            self.flush()
            self._last_flush_ms = now_ms

    def _tail_since_index(self) -> int:
        """Bytes of the active segment after the batch its last index entry points at (reopening it)."""
        spans = self.segment_spans()
        first, stop = spans[-1] if spans else (0, 0)
        index = self._index_of(self.batches[first:stop], self._seg_bases[-1])
        start = index[-1][1] if index else 0
        return self._segment_size - start if index else self._segment_size

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
        if self._index is not None:
            self._index.flush()
        self._unflushed = 0

    def close(self, clean: bool = False) -> None:
        """Close the active segment; ``clean`` (broker shutdown) also fsyncs and leaves the clean-shutdown
        marker, so the next start trusts the segments and their indexes."""
        if self._file is not None:
            self._file.flush()
            if clean:
                os.fsync(self._file.fileno())
            self._file.close()
            self._file = None
        if self._index is not None:
            self._index.flush()
            if clean:
                os.fsync(self._index.fileno())
            self._index.close()
            self._index = None
        if clean:
            if self.checkpointed_hw:
                self.checkpoint_high_watermark(sync=True)
            (self.dir / CLEAN_SHUTDOWN_FILE).touch()

    # -- the log cleaner's primitives ---------------------------------------------------------

    def _path(self, base: int) -> Path:
        return self.dir / f"{base:020d}.log"

    def segment_spans(self) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        i = 0
        for k, _ in enumerate(self._seg_bases):
            upper = self._seg_bases[k + 1] if k + 1 < len(self._seg_bases) else None
            first = i
            while i < len(self.batches) and (upper is None or self.batches[i].base_offset < upper):
                i += 1
            spans.append((first, i))
        if i < len(self.batches):  # batches without a segment file cannot happen; be safe
            spans.append((i, len(self.batches)))
        return spans

    def maybe_roll(self, wall_ms: int, segment_ms: int) -> None:
        """segment.ms: the next append starts a new segment once the active one's first batch is that old."""
        spans = self.segment_spans()
        if spans and spans[-1][0] < spans[-1][1]:
            first = self.batches[spans[-1][0]]
            if wall_ms - first.max_timestamp > segment_ms:
                self._roll_pending = True

    @staticmethod
    def _read_offset(path: Path) -> int | None:
        try:
            return int(path.read_text().strip())
        except FileNotFoundError:
            return None
        except ValueError:
            log.warning("%s: unreadable checkpoint, ignored", path)
            return None

    def checkpoint_high_watermark(self, sync: bool = False) -> None:
        """Write the high watermark checkpoint (atomically; fsynced when ``sync``)."""
        tmp = self.dir / (HW_FILE + ".tmp")
        with open(tmp, "w") as f:
            f.write(str(self.high_watermark))
            if sync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, self.dir / HW_FILE)

    def _save_start(self) -> None:
        tmp = self.dir / (START_FILE + ".tmp")
        with open(tmp, "w") as f:
            f.write(str(self.log_start_offset))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.dir / START_FILE)

    def _unlink_segments(self, count: int) -> None:
        """Remove the oldest ``count`` segment files; when that is all of them, roll an empty one at the log
        end so that a restart knows where the log ends."""
        if count >= len(self._seg_bases):
            self.close()
            self._roll_pending = True
        gone, self._seg_bases = self._seg_bases[:count], self._seg_bases[count:]
        for base in gone:
            self._path(base).unlink(missing_ok=True)
            self._path(base).with_suffix(".index").unlink(missing_ok=True)
        if not self._seg_bases:
            self._open_segment(self.next_offset)
            self.flush()

    def delete_segments(self, count: int) -> None:
        count = min(count, len(self._seg_bases))
        super().delete_segments(count)
        self._unlink_segments(count)
        self._save_start()

    def delete_before(self, offset: int) -> None:
        super().delete_before(offset)
        self._save_start()
        spans = self.segment_spans()
        whole = 0
        for k, (first, stop) in enumerate(spans[:-1]):
            upper = self._seg_bases[k + 1]
            if first == stop and upper <= self.log_start_offset:
                whole += 1
            else:
                break
        if whole:
            self._unlink_segments(whole)

    def replace_batches(self, replacements: dict[int, bytes | None]) -> None:
        spans = self.segment_spans()
        touched = [k for k, (first, stop) in enumerate(spans) if any(first <= i < stop for i in replacements)]
        touched_bases = [self._seg_bases[k] for k in touched]
        active = len(self._seg_bases) - 1
        assert active not in touched, "compaction never rewrites the active segment"
        super().replace_batches(replacements)
        spans = self.segment_spans()
        for k, base in zip(touched, touched_bases):
            first, stop = spans[k]
            path = self._path(base)
            tmp = path.with_suffix(".cleaned")
            with open(tmp, "wb") as f:
                f.writelines(batch.data for batch in self.batches[first:stop])
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            self._write_index(base, self.batches[first:stop])


def save_metadata(root: Path, cluster_id: str, topics: list[dict[str, object]],
                  dynamic_configs: dict[str, object] | None = None) -> None:
    """``dynamic_configs``: dynamic broker configs and client quotas (``DynamicConfigs.to_json``) of a broker
    without ZooKeeper; left out when there are none."""
    root.mkdir(parents=True, exist_ok=True)
    final = root / METADATA_FILE
    tmp = final.with_suffix(".tmp")
    data: dict[str, object] = {"version": 1, "cluster_id": cluster_id, "topics": topics}
    if dynamic_configs:
        data["dynamic_configs"] = dynamic_configs
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)


def load_metadata(root: Path) -> dict[str, object] | None:
    path = root / METADATA_FILE
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a metadata object")
    return data


def topic_dir(root: Path, topic: str, partition: int) -> Path:
    return root / f"{topic}-{partition}"


__all__ = ["FileLog", "FlushPolicy", "load_metadata", "save_metadata", "topic_dir", "uuid"]
