"""Durable partition logs for ``--data-dir``: segment files of raw batches, flush policy, crash recovery.

Layout, as Kafka's: ``DIR/<topic>-<partition>/<base offset, 20 digits>.log``
segment files holding the stored batches back to back (the exact bytes served
to consumers), rolled at ``log.segment.bytes``; ``DIR/__wiretwin_metadata.json``
holds the cluster id, the topics (id, partition layout, configs), written
atomically (temp file, fsync, rename).

Flush policy (``log.flush.interval.messages`` / ``log.flush.interval.ms``):
``1`` message means fsync after every append, before the producer is
acknowledged; otherwise a segment is fsynced once that many messages or
milliseconds have accumulated, or left to the OS (Kafka's default).

Recovery reads each segment, checks every batch's length, magic and CRC, and
truncates a segment at its first damaged or incomplete batch (a torn tail from
a crash), so every batch acknowledged under flush-every-message survives.
"""

from __future__ import annotations

import json
import logging
import os
import re
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
_SEGMENT = re.compile(r"^(\d{20})\.log$")


@dataclass
class FlushPolicy:
    messages: int = 2**63 - 1  # log.flush.interval.messages (1 = every append)
    interval_ms: int = 2**63 - 1  # log.flush.interval.ms

    @property
    def every_append(self) -> bool:
        return self.messages <= 1


class FileLog(PartitionLog):
    """A PartitionLog whose appends also go to segment files, recovered on start."""

    def __init__(self, directory: Path, policy: FlushPolicy, segment_bytes: int = 1 << 30) -> None:
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
        self.dir.mkdir(parents=True, exist_ok=True)
        self._recover()

    def _segments(self) -> list[Path]:
        return sorted(p for p in self.dir.iterdir() if _SEGMENT.match(p.name))

    def _recover(self) -> None:
        segments = self._segments()
        self._seg_bases = [int(p.name[:20]) for p in segments]
        for path in segments:
            data = path.read_bytes()
            good = 0
            try:
                entries = split_entries(data, allow_truncated_tail=True)
            except DecodeError:
                entries = []
            for entry in entries:
                try:
                    batch = RecordBatch(entry)
                    batch.validate()
                except DecodeError as exc:
                    log.warning("%s: damaged batch at byte %d (%s): truncating", path, good, exc)
                    break
                raw = bytes(entry)
                h = batch.header
                stored = StoredBatch(h.base_offset, h.base_offset + h.last_offset_delta, h.max_timestamp, raw,
                                     h.producer_id, h.is_transactional, h.is_control)
                self.batches.append(stored)
                self._bases.append(stored.base_offset)
                self.size_bytes += len(raw)
                self.next_offset = stored.last_offset + 1
                good += len(raw)
            if good != len(data):
                with open(path, "r+b") as f:
                    f.truncate(good)
                    os.fsync(f.fileno())
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
        self.high_watermark = self.next_offset

    def _open_segment(self, base_offset: int) -> None:
        self.close()
        path = self.dir / f"{base_offset:020d}.log"
        self._file = open(path, "ab")
        self._segment_size = path.stat().st_size
        if not self._seg_bases or self._seg_bases[-1] != base_offset:
            self._seg_bases.append(base_offset)
        self._roll_pending = False

    def append(self, data: bytearray, header: object, leader_epoch: int) -> tuple[int, int]:
        base, last = super().append(data, header, leader_epoch)  # type: ignore[arg-type]
        if self._file is None or self._segment_size >= self.segment_bytes or self._roll_pending:
            segments = self._segments()
            if self._file is None and segments and not self._roll_pending:
                self._file = open(segments[-1], "ab")
                self._segment_size = segments[-1].stat().st_size
            if self._file is None or self._segment_size >= self.segment_bytes or self._roll_pending:
                self._open_segment(base)
        assert self._file is not None
        raw = self.batches[-1].data
        self._file.write(raw)
        self._segment_size += len(raw)
        self._unflushed += last - base + 1
        if self.policy.every_append or self._unflushed >= self.policy.messages:
            self.flush()
        return base, last

    def maybe_flush(self, now_ms: int) -> None:
        if self._unflushed and now_ms - self._last_flush_ms >= self.policy.interval_ms:
            self.flush()
            self._last_flush_ms = now_ms

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()
            os.fsync(self._file.fileno())
        self._unflushed = 0

    def close(self) -> None:
        if self._file is not None:
            self._file.flush()
            self._file.close()
            self._file = None

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


def save_metadata(root: Path, cluster_id: str, topics: list[dict[str, object]]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    final = root / METADATA_FILE
    tmp = final.with_suffix(".tmp")
    with open(tmp, "w") as f:
        json.dump({"version": 1, "cluster_id": cluster_id, "topics": topics}, f, indent=1, sort_keys=True)
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
