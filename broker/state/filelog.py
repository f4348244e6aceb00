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
        self.dir.mkdir(parents=True, exist_ok=True)
        self._recover()

    def _segments(self) -> list[Path]:
        return sorted(p for p in self.dir.iterdir() if _SEGMENT.match(p.name))

    def _recover(self) -> None:
        for path in self._segments():
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
        if self.batches:
            self.log_start_offset = self.batches[0].base_offset
        self.high_watermark = self.next_offset

    def _open_segment(self, base_offset: int) -> None:
        self.close()
        path = self.dir / f"{base_offset:020d}.log"
        self._file = open(path, "ab")
        self._segment_size = path.stat().st_size

    def append(self, data: bytearray, header: object, leader_epoch: int) -> tuple[int, int]:
        base, last = super().append(data, header, leader_epoch)  # type: ignore[arg-type]
        if self._file is None or self._segment_size >= self.segment_bytes:
            segments = self._segments()
            if self._file is None and segments and self._segment_size < self.segment_bytes:
                self._file = open(segments[-1], "ab")
                self._segment_size = segments[-1].stat().st_size
            if self._file is None or self._segment_size >= self.segment_bytes:
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
