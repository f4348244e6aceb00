"""One partition's log: stored batches as the raw bytes producers sent, with offsets assigned.

A batch is validated (header, CRC, record count) by the caller, then appended
here with its base offset (and partition leader epoch) patched in place; the
bytes are served back to consumers unchanged. Lookups by offset use a sorted
index of base offsets. This in-memory log is the embedded default; the
segment-file log for ``--data-dir`` keeps the same interface.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from wire.kafka.records import BatchHeader


@dataclass(slots=True)
class StoredBatch:
    base_offset: int
    last_offset: int
    max_timestamp: int
    data: bytes | bytearray  # never mutated once stored
    producer_id: int = -1
    is_transactional: bool = False
    is_control: bool = False


@dataclass
class PartitionLog:
    log_start_offset: int = 0
    next_offset: int = 0  # the log end offset
    high_watermark: int = 0
    batches: list[StoredBatch] = field(default_factory=list)
    _bases: list[int] = field(default_factory=list)
    size_bytes: int = 0
    # the compactor's mark: (last offset of the cleanable part, tombstones kept) after its last pass
    cleaned: tuple[int, bool] | None = None
    # the leader epoch history (Kafka's leader-epoch-checkpoint), from the batches' partition leader epochs:
    # (epoch, start offset of its first batch), epochs increasing
    epochs: list[tuple[int, int]] = field(default_factory=list)

    def append(self, data: bytearray, header: BatchHeader, leader_epoch: int) -> tuple[int, int]:
        """Store one validated v2 batch at the log end; return (base offset, last offset)."""
        base = self.next_offset
        count_span = header.last_offset_delta + 1
        data[0:8] = base.to_bytes(8, "big", signed=True)
        data[12:16] = leader_epoch.to_bytes(4, "big", signed=True)
        last = base + count_span - 1
        stored = StoredBatch(base, last, header.max_timestamp, data, header.producer_id,
                             header.is_transactional, header.is_control)
        self._store(stored, leader_epoch)
        return base, last

    def _store(self, stored: StoredBatch, leader_epoch: int) -> None:
        self.batches.append(stored)
        self._bases.append(stored.base_offset)
        self.next_offset = stored.last_offset + 1
        self.size_bytes += len(stored.data)
        if not self.epochs or leader_epoch > self.epochs[-1][0]:
            self.epochs.append((leader_epoch, stored.base_offset))

    # -- replication: a follower's copy of the leader's log ---------------------------------------

    def append_replica(self, data: bytes | bytearray) -> list[StoredBatch]:
        """Append v2 batches fetched from the leader verbatim: their base offsets and partition leader
        epochs are kept. Batches entirely below the log end offset (already held) are skipped; a batch that
        overlaps the log end or is not a v2 batch raises ValueError. Returns the batches stored."""
        from wire.kafka.records import RecordBatch, split_entries

        out: list[StoredBatch] = []
        for entry in split_entries(bytes(data), allow_truncated_tail=True):  # a fetch may end mid-batch
            if len(entry) < 61 or entry[16] != 2:
                raise ValueError("replica data must be v2 record batches")
            batch = RecordBatch(entry)
            batch.validate()  # the CRC, as a follower checks what it appends (DecodeError otherwise)
            h = batch.header
            last = h.base_offset + h.last_offset_delta
            if last < self.next_offset:
                continue
            if h.base_offset < self.next_offset:
                raise ValueError(f"batch {h.base_offset}-{last} overlaps the log end offset {self.next_offset}")
            stored = StoredBatch(h.base_offset, last, h.max_timestamp, bytes(entry), h.producer_id,
                                 h.is_transactional, h.is_control)
            self._store_replica(stored, h.partition_leader_epoch)
            out.append(stored)
        return out

    def _store_replica(self, stored: StoredBatch, leader_epoch: int) -> None:
        """Store one fetched batch (durable logs also write it to their segment)."""
        self._store(stored, leader_epoch)

    def truncate_to(self, offset: int) -> None:
        """Remove every batch that holds ``offset`` or later (a batch straddling it goes whole, as Kafka's
        LogSegment.truncateTo); the log end offset moves back, the high watermark no further than it."""
        if offset >= self.next_offset:
            return
        keep = bisect.bisect_left(self._bases, offset)
        if keep > 0 and self.batches[keep - 1].last_offset >= offset:
            keep -= 1
        new_end = self.batches[keep].base_offset if keep < len(self.batches) else offset
        new_end = max(min(new_end, offset), self.log_start_offset)
        for batch in self.batches[keep:]:
            self.size_bytes -= len(batch.data)
        del self.batches[keep:]
        del self._bases[keep:]
        self.next_offset = new_end
        self.high_watermark = min(self.high_watermark, new_end)
        self.epochs = [(e, start) for e, start in self.epochs if start < new_end]
        if self.cleaned is not None and self.cleaned[0] >= new_end:
            self.cleaned = None

    def reset_to(self, offset: int) -> None:
        """Drop the whole log and start it empty at ``offset`` (a follower behind the leader's log start
        offset, as Kafka's truncateFullyAndStartAt)."""
        self.batches.clear()
        self._bases.clear()
        self.size_bytes = 0
        self.epochs = []
        self.cleaned = None
        self.log_start_offset = self.next_offset = self.high_watermark = offset

    def rebuild_epochs(self) -> None:
        """The leader epoch history from the stored batches' headers (after recovery or rewriting)."""
        self.epochs = []
        for batch in self.batches:
            epoch = int.from_bytes(batch.data[12:16], "big", signed=True)
            if not self.epochs or epoch > self.epochs[-1][0]:
                self.epochs.append((epoch, batch.base_offset))

    @property
    def latest_epoch(self) -> int:
        """The leader epoch of the newest batch (-1: none)."""
        return self.epochs[-1][0] if self.epochs else -1

    def end_offset_for_epoch(self, epoch: int, current_epoch: int | None = None) -> tuple[int, int]:
        """(epoch, end offset) as Kafka's LeaderEpochFileCache.endOffsetFor answers a follower: the largest
        epoch <= ``epoch`` in the history and the start offset of the next higher one (the log end offset
        for the latest epoch); (-1, -1) for an epoch newer than any. ``current_epoch`` (a leader's epoch,
        which may have no batch yet) counts as the latest epoch, starting at the log end."""
        history = list(self.epochs)
        if current_epoch is not None and (not history or current_epoch > history[-1][0]):
            history.append((current_epoch, self.next_offset))
        if epoch < 0 or not history:
            return -1, -1
        if epoch == history[-1][0]:
            return epoch, self.next_offset
        higher = next((k for k, (e, _) in enumerate(history) if e > epoch), None)
        if higher is None:
            return -1, -1
        if higher == 0:
            return epoch, history[0][1]
        return history[higher - 1][0], history[higher][1]

    def maybe_flush(self, now_ms: int) -> None:
        """Durable logs flush here when their interval has passed; memory logs have nothing to do."""

    def close(self, clean: bool = False) -> None:
        """Durable logs flush and close their files (``clean``: at shutdown, marking the log as cleanly
        closed); memory logs have nothing to do."""

    def advance_high_watermark(self, offset: int | None = None) -> None:
        self.high_watermark = self.next_offset if offset is None else offset

    def read(self, offset: int, max_bytes: int, upper: int | None = None, first_whole: bool = True) -> bytes:
        """Raw batches from the one containing ``offset`` up to ``upper`` (exclusive, default HW), at most
        ``max_bytes`` except that the first batch is returned whole even when larger (as Kafka does)."""
        limit = self.high_watermark if upper is None else upper
        i = bisect.bisect_right(self._bases, offset) - 1
        if i < 0:
            i = 0
        out: list[bytes | bytearray] = []
        total = 0
        while i < len(self.batches):
            batch = self.batches[i]
            i += 1
            if batch.last_offset < offset:
                continue
            if batch.base_offset >= limit:
                break
            if out and total + len(batch.data) > max_bytes:
                break
            if not out and len(batch.data) > max_bytes and not first_whole:
                break
            out.append(batch.data)
            total += len(batch.data)
        return b"".join(out)

    def max_timestamp(self) -> tuple[int, int] | None:
        best: tuple[int, int] | None = None
        for batch in self.batches:
            if best is None or batch.max_timestamp > best[1]:
                best = (batch.last_offset, batch.max_timestamp)
        return best

    def delete_before(self, offset: int) -> None:
        """DeleteRecords: move the log start offset; drop batches entirely below it."""
        self.log_start_offset = max(self.log_start_offset, min(offset, self.high_watermark))
        self._drop_below_start()

    def _drop_below_start(self) -> None:
        n = 0
        while n < len(self.batches) and self.batches[n].last_offset < self.log_start_offset:
            self.size_bytes -= len(self.batches[n].data)
            n += 1
        if n:
            del self.batches[:n]
            del self._bases[:n]

    # -- the log cleaner's primitives (policy lives in broker.state.cleaner) --------------------

    def segment_spans(self) -> list[tuple[int, int]]:
        """(first batch index, end index) of each segment, oldest first; the last one is the active segment.
        In memory every batch is a segment of its own."""
        return [(i, i + 1) for i in range(len(self.batches))]

    def delete_segments(self, count: int) -> None:
        """Retention: drop the oldest ``count`` segments whole; the log start offset moves to the first
        remaining batch (the log end when none remains), never past the high watermark."""
        spans = self.segment_spans()
        if count <= 0 or not spans:
            return
        end = spans[min(count, len(spans)) - 1][1]
        new_start = self.batches[end].base_offset if end < len(self.batches) else self.next_offset
        self.log_start_offset = max(self.log_start_offset, min(new_start, self.high_watermark))
        for batch in self.batches[:end]:
            self.size_bytes -= len(batch.data)
        del self.batches[:end]
        del self._bases[:end]

    def replace_batches(self, replacements: dict[int, bytes | None]) -> None:
        """Compaction: batch index -> its rewritten bytes (same offsets), or None to drop it."""
        kept: list[StoredBatch] = []
        for i, batch in enumerate(self.batches):
            if i not in replacements:
                kept.append(batch)
                continue
            data = replacements[i]
            self.size_bytes -= len(batch.data)
            if data is None:
                continue
            h = BatchHeader.unpack(data)
            kept.append(StoredBatch(h.base_offset, h.base_offset + h.last_offset_delta, h.max_timestamp, data,
                                    h.producer_id, h.is_transactional, h.is_control))
            self.size_bytes += len(data)
        self.batches = kept
        self._bases = [b.base_offset for b in kept]
        self.rebuild_epochs()
