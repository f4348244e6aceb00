"""Idempotent producers: producer id allocation and per-partition sequence checks.

For each (producer id, partition) the broker remembers the epoch and the last
five batches (first/last sequence and offsets), as Kafka does: a retried batch
that matches one of them is acknowledged again with its original offset, a gap
is OUT_OF_ORDER_SEQUENCE_NUMBER, an older epoch is fenced.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from wire.kafka.error_codes import ErrorCode

WINDOW = 5


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


@dataclass
class ProducerTable:
    next_id: int = 1000
    epochs: dict[int, int] = field(default_factory=dict)  # producer id -> current epoch
    states: dict[tuple[int, str, int], PartitionProducerState] = field(default_factory=dict)
    transactional: dict[str, int] = field(default_factory=dict)  # transactional id -> producer id

    def init_producer(self, transactional_id: str | None, producer_id: int = -1, epoch: int = -1) -> tuple[int, int]:
        """A new id (epoch 0), or for a transactional id the same id with the next epoch."""
        if transactional_id is not None and transactional_id in self.transactional:
            pid = self.transactional[transactional_id]
            new_epoch = self.epochs[pid] + 1
            if new_epoch > 32767:
                pid, new_epoch = self._allocate(), 0
                self.transactional[transactional_id] = pid
            self.epochs[pid] = new_epoch
            return pid, new_epoch
        if producer_id >= 0 and producer_id in self.epochs and epoch == self.epochs[producer_id]:
            self.epochs[producer_id] = epoch + 1  # KIP-360 epoch bump
            return producer_id, epoch + 1
        pid = self._allocate()
        self.epochs[pid] = 0
        if transactional_id is not None:
            self.transactional[transactional_id] = pid
        return pid, 0

    def _allocate(self) -> int:
        pid = self.next_id
        self.next_id += 1
        return pid

    def check(self, producer_id: int, epoch: int, topic: str, partition: int, first_seq: int,
              count: int) -> tuple[ErrorCode, BatchMeta | None]:
        """(NONE, None) to append; (NONE, meta) for a duplicate of ``meta``; or an error."""
        current = self.epochs.get(producer_id)
        if current is None:
            return ErrorCode.UNKNOWN_PRODUCER_ID, None
        if epoch < current:
            return ErrorCode.INVALID_PRODUCER_EPOCH, None
        state = self.states.get((producer_id, topic, partition))
        if state is None or epoch > state.epoch:
            if first_seq != 0 and state is not None:
                return ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, None
            return ErrorCode.NONE, None
        last_seq = (first_seq + count - 1) & 0x7FFFFFFF
        for meta in state.batches:
            if meta.first_seq == first_seq and meta.last_seq == last_seq:
                return ErrorCode.NONE, meta
        expected = (state.batches[-1].last_seq + 1) & 0x7FFFFFFF if state.batches else 0
        if first_seq != expected:
            return ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER, None
        return ErrorCode.NONE, None

    def record(self, producer_id: int, epoch: int, topic: str, partition: int, first_seq: int, count: int,
               base_offset: int, last_offset: int) -> None:
        key = (producer_id, topic, partition)
        state = self.states.get(key)
        if state is None or epoch > state.epoch:
            state = PartitionProducerState(epoch)
            self.states[key] = state
        state.batches.append(BatchMeta(first_seq, (first_seq + count - 1) & 0x7FFFFFFF, base_offset, last_offset))
