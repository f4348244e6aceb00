"""Producer state: producer id allocation, per-partition sequences, open and aborted transactions.

What a partition leader knows about its producers, as Kafka's ProducerStateManager:

- for each (producer id, partition) the epoch and the last five batches (first/last
  sequence and offsets): a retried batch that matches one of them is acknowledged
  again with its original offset, a gap is OUT_OF_ORDER_SEQUENCE_NUMBER, an older
  epoch is INVALID_PRODUCER_EPOCH;
- the first offset of each producer's open transaction in the partition (the last
  stable offset is the smallest of them, else the high watermark) and the aborted
  transactions (producer id, first offset, offset of the ABORT marker) that
  read_committed fetches list;
- the last timestamp and the coordinator epoch of the last marker (DescribeProducers);
- KIP-890 verification guards (``start_verification``): while a leader verifies a producer's
  transaction with a coordinator in another broker process, the producer's next transactional
  append or a marker in the partition clears the guard, and the verified batch is appended
  only if its guard still stands (or the transaction is open there by then).

Producer ids are allocated here for idempotent producers (always a fresh id, epoch 0,
as Kafka does for a null transactional id) and for the transaction coordinator.
With a data dir the end of the allocated id block is kept in a small file, so ids are
never handed out twice across restarts; the partition state itself is rebuilt at
start-up from the batch headers in the logs (``rebuild``).
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from wire.errors import DecodeError
from wire.kafka.error_codes import ErrorCode
from wire.kafka.records import BatchHeader, EndTxnMarker, RecordBatch

if TYPE_CHECKING:
    from broker.state.log import StoredBatch

WINDOW = 5
ID_BLOCK = 1000  # producer ids are reserved (and persisted) in blocks, as Kafka's controller hands them out
ID_FILE = "__wiretwin_producer_ids.json"

TopicPartition = tuple[str, int]


@dataclass
class BatchMeta:
    first_seq: int
    last_seq: int
    base_offset: int
    last_offset: int


@dataclass
class PartitionProducerState:
    epoch: int
    batches: deque[BatchMeta] = field(default_factory=lambda: deque(maxlen=WINDOW))
    last_timestamp: int = -1
    coordinator_epoch: int = -1  # from the last transaction marker
    txn_first_offset: int | None = None  # first offset of this producer's open transaction here

    @property
    def last_seq(self) -> int:
        return self.batches[-1].last_seq if self.batches else -1


@dataclass
class AbortedTxn:
    producer_id: int
    first_offset: int
    last_offset: int  # the offset of the ABORT marker


@dataclass
class PartitionTxns:
    """One partition's transactions: open ones by producer id, aborted ones in marker order."""

    open: dict[int, int] = field(default_factory=dict)  # producer id -> first offset
    aborted: list[AbortedTxn] = field(default_factory=list)


@dataclass(eq=False)
class VerificationGuard:
    """KIP-890: a producer's transaction on a partition is being verified with its coordinator. The verified
    append must still find this guard (Kafka's VerificationGuard): the producer's next transactional append or
    a transaction marker there clears it, so an answer that arrives after the transaction ended is refused."""

    users: int = 0  # verifications in flight sharing it


class ProducerIdsExhausted(RuntimeError):
    """ZooKeeper mode: every claimed block of producer ids is used up (a new one is being claimed)."""


@dataclass
class ProducerTable:
    next_id: int = 1000
    epochs: dict[int, int] = field(default_factory=dict)  # producer id -> current (highest known) epoch
    states: dict[tuple[int, str, int], PartitionProducerState] = field(default_factory=dict)
    partitions: dict[TopicPartition, PartitionTxns] = field(default_factory=dict)
    id_file: Path | None = None  # with a data dir: where the end of the reserved id block is kept
    block_end: int = 0
    id_limit: int = 1 << 62  # ids this table hands out stay below this (ZooKeeper mode: the current block's end)
    blocks: deque[tuple[int, int]] = field(default_factory=deque)  # ZooKeeper mode: claimed blocks not yet used
    guards: dict[tuple[int, str, int], VerificationGuard] = field(default_factory=dict)  # (pid, topic, partition)

    # -- producer ids ---------------------------------------------------------------------------

    def attach(self, data_dir: Path) -> None:
        """Keep the reserved id block under ``data_dir`` and never reuse an id reserved before a restart."""
        self.id_file = data_dir / ID_FILE
        if self.id_file.exists():
            try:
                saved = int(json.loads(self.id_file.read_text())["block_end"])
            except (ValueError, KeyError, TypeError):
                saved = 0
            self.next_id = max(self.next_id, saved)
        self.block_end = self.next_id  # the next allocation reserves a fresh block

    def add_block(self, first: int, last: int) -> None:
        """ZooKeeper mode: a block of ids this broker claimed; used once the current one runs out."""
        self.blocks.append((first, last))
        if self.next_id >= self.id_limit:
            self._next_block()

    def _next_block(self) -> bool:
        if not self.blocks:
            return False
        first, last = self.blocks.popleft()
        self.next_id, self.id_limit = first, last + 1
        return True

    def ids_left(self) -> int:
        """Ids left in the current block and the claimed ones after it."""
        return max(0, self.id_limit - self.next_id) + sum(last - first + 1 for first, last in self.blocks)

    def use_range(self, first: int, limit: int) -> None:
        """Hand out ids only from [first, limit): brokers in separate processes then never hand out the same
        id (ZooKeeper mode gives each broker id its own range)."""
        self.next_id = max(self.next_id, first)
        self.id_limit = limit

    def allocate(self) -> int:
        """A new producer id (epoch 0 is registered for it)."""
        if self.next_id >= self.id_limit and not self._next_block():
            raise ProducerIdsExhausted("no producer id block claimed yet")
        pid = self.next_id
        self.next_id += 1
        if self.id_file is not None and self.next_id > self.block_end:
            self.block_end = pid + ID_BLOCK
            tmp = self.id_file.with_suffix(".tmp")
            with open(tmp, "w") as f:
                json.dump({"block_end": self.block_end}, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.id_file)
        self.epochs[pid] = 0
        return pid

    def seen(self, producer_id: int, epoch: int) -> None:
        """``producer_id`` is in use at ``epoch`` (a coordinator bump, a marker, a restored batch)."""
        if producer_id < 0:
            return
        if epoch > self.epochs.get(producer_id, -1):
            self.epochs[producer_id] = epoch
        if self.next_id <= producer_id < self.id_limit:
            self.next_id = producer_id + 1

    def init_producer(self, transactional_id: str | None = None, producer_id: int = -1,
                      epoch: int = -1) -> tuple[int, int]:
        """An idempotent producer's id: always a fresh one at epoch 0, whatever id it had (as Kafka does:
        its KIP-360 recovery gets a new id). Transactional ids go to the transaction coordinator."""
        return self.allocate(), 0

    # -- appends --------------------------------------------------------------------------------

    def check(self, producer_id: int, epoch: int, topic: str, partition: int, first_seq: int,
              count: int) -> tuple[ErrorCode, BatchMeta | None]:
        """(NONE, None) to append; (NONE, meta) for a duplicate of ``meta``; or an error."""
        current = self.epochs.get(producer_id)
        if current is None:  # never seen here (another broker handed it out): its state starts now, as Kafka 2.5+
            return ErrorCode.NONE, None
        if epoch < current:
            return ErrorCode.INVALID_PRODUCER_EPOCH, None
        state = self.states.get((producer_id, topic, partition))
        if state is None:  # nothing known here (a new producer, or its batches are gone): any sequence
            return ErrorCode.NONE, None
        if epoch != state.epoch:  # a new epoch starts at sequence 0
            return (ErrorCode.NONE if first_seq == 0 else ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER), None
        last_seq = (first_seq + count - 1) & 0x7FFFFFFF
        for meta in state.batches:
            if meta.first_seq == first_seq and meta.last_seq == last_seq:
                return ErrorCode.NONE, meta
        if first_seq != (state.last_seq + 1) & 0x7FFFFFFF:
            return ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, None
        return ErrorCode.NONE, None

    def check_transactional(self, producer_id: int, topic: str, partition: int, transactional: bool) -> ErrorCode:
        """A plain batch from a producer with an open transaction here is INVALID_TXN_STATE (Kafka's
        ProducerAppendInfo)."""
        state = self.states.get((producer_id, topic, partition))
        if not transactional and state is not None and state.txn_first_offset is not None:
            return ErrorCode.INVALID_TXN_STATE
        return ErrorCode.NONE

    def _state(self, producer_id: int, epoch: int, topic: str, partition: int) -> PartitionProducerState:
        key = (producer_id, topic, partition)
        state = self.states.get(key)
        if state is None:
            state = self.states[key] = PartitionProducerState(epoch)
        elif epoch != state.epoch:
            state.epoch = epoch
            state.batches.clear()
        return state

    def record(self, producer_id: int, epoch: int, topic: str, partition: int, first_seq: int, count: int,
               base_offset: int, last_offset: int, transactional: bool = False, timestamp: int = -1) -> None:
        state = self._state(producer_id, epoch, topic, partition)
        self.seen(producer_id, epoch)
        if first_seq >= 0:
            state.batches.append(BatchMeta(first_seq, (first_seq + count - 1) & 0x7FFFFFFF, base_offset,
                                           last_offset))
        state.last_timestamp = max(state.last_timestamp, timestamp)
        if transactional and state.txn_first_offset is None:
            self.guards.pop((producer_id, topic, partition), None)
            state.txn_first_offset = base_offset
            self.partitions.setdefault((topic, partition), PartitionTxns()).open[producer_id] = base_offset

    def end_transaction(self, producer_id: int, epoch: int, topic: str, partition: int, committed: bool,
                        marker_offset: int, coordinator_epoch: int, timestamp: int = -1) -> None:
        """A COMMIT/ABORT marker was appended at ``marker_offset``: the producer's open transaction here
        (if any) ends; an aborted one is indexed for read_committed fetches."""
        state = self._state(producer_id, epoch, topic, partition)
        self.seen(producer_id, epoch)
        state.coordinator_epoch = coordinator_epoch
        state.last_timestamp = max(state.last_timestamp, timestamp)
        first, state.txn_first_offset = state.txn_first_offset, None
        self.guards.pop((producer_id, topic, partition), None)
        txns = self.partitions.setdefault((topic, partition), PartitionTxns())
        txns.open.pop(producer_id, None)
        if first is not None and not committed:
            txns.aborted.append(AbortedTxn(producer_id, first, marker_offset))

    def start_verification(self, producer_id: int, topic: str, partition: int) -> VerificationGuard:
        """A verification of the producer's transaction here begins: its guard (shared with one in flight)."""
        guard = self.guards.setdefault((producer_id, topic, partition), VerificationGuard())
        guard.users += 1
        return guard

    def guard_holds(self, producer_id: int, topic: str, partition: int, guard: VerificationGuard) -> bool:
        """May the verified batch be appended? Its transaction is open here already, or nothing cleared the
        guard since the verification began (Kafka's UnifiedLog check before appending)."""
        txns = self.partitions.get((topic, partition))
        return (txns is not None and producer_id in txns.open) or self.guards.get((producer_id, topic, partition)) is guard

    def end_verification(self, producer_id: int, topic: str, partition: int, guard: VerificationGuard) -> None:
        guard.users -= 1
        key = (producer_id, topic, partition)
        if guard.users <= 0 and self.guards.get(key) is guard:
            del self.guards[key]

    def rebuild(self, topic: str, partition: int, batches: Iterable[StoredBatch]) -> None:
        """Start-up: replay the producer batches and transaction markers of one partition's log (headers
        only; marker records are tiny), so sequences, open transactions and aborted ones survive a restart."""
        for stored in batches:
            if stored.producer_id < 0:
                continue
            h = BatchHeader.unpack(stored.data)
            if h.is_control:
                try:
                    marker = EndTxnMarker.from_record(RecordBatch(stored.data).records()[0])
                except (DecodeError, IndexError):
                    continue  # not a transaction marker
                self.end_transaction(h.producer_id, h.producer_epoch, topic, partition, marker.committed,
                                     h.base_offset, marker.coordinator_epoch, h.max_timestamp)
            else:
                self.record(h.producer_id, h.producer_epoch, topic, partition, h.base_sequence,
                            h.last_offset_delta + 1, h.base_offset, h.base_offset + h.last_offset_delta,
                            h.is_transactional, h.max_timestamp)

    # -- reads ----------------------------------------------------------------------------------

    def last_stable_offset(self, topic: str, partition: int, high_watermark: int) -> int:
        """The first offset of the earliest open transaction, else the high watermark."""
        txns = self.partitions.get((topic, partition))
        if txns is None or not txns.open:
            return high_watermark
        return min(high_watermark, min(txns.open.values()))

    def has_aborted(self, topic: str, partition: int) -> bool:
        txns = self.partitions.get((topic, partition))
        return txns is not None and bool(txns.aborted)

    def aborted_between(self, topic: str, partition: int, start: int, end: int) -> list[AbortedTxn]:
        """Aborted transactions overlapping [start, end): last offset >= start and first offset < end."""
        txns = self.partitions.get((topic, partition))
        if txns is None:
            return []
        return [a for a in txns.aborted if a.last_offset >= start and a.first_offset < end]

    def open_transactions(self, topic: str, partition: int) -> dict[int, int]:
        txns = self.partitions.get((topic, partition))
        return dict(txns.open) if txns is not None else {}

    def active_producers(self, topic: str, partition: int) -> list[tuple[int, PartitionProducerState]]:
        return sorted((pid, st) for (pid, t, p), st in self.states.items() if t == topic and p == partition)

    def forget_partition(self, topic: str, partition: int, log_start_offset: int) -> None:
        """Drop aborted-transaction entries wholly below the log start offset (retention, DeleteRecords)."""
        txns = self.partitions.get((topic, partition))
        if txns is not None:
            txns.aborted = [a for a in txns.aborted if a.last_offset >= log_start_offset]

    def drop_topic(self, topic: str) -> None:
        """A deleted topic's producer state goes with it (a topic re-created under the name starts clean)."""
        for key in [k for k in self.states if k[1] == topic]:
            del self.states[key]
        for tp in [tp for tp in self.partitions if tp[0] == topic]:
            del self.partitions[tp]
