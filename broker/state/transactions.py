"""The transaction coordinator: transactional ids, their producer id/epoch, state machine, markers, timeouts.

Follows Kafka's TransactionCoordinator and TransactionMetadata (3.9/4.0):

- ``init_producer_id``: a transactional id gets a producer id at epoch 0, then an epoch
  bump on every InitProducerId, which fences the previous holder (its older epoch is
  refused everywhere); an ongoing transaction is first aborted under a bumped epoch and
  the caller told CONCURRENT_TRANSACTIONS, so its retry bumps again; KIP-360 requests
  carrying the producer id/epoch resume or are PRODUCER_FENCED; an exhausted epoch
  rotates to a new producer id.
- states Empty, Ongoing, PrepareCommit, PrepareAbort, CompleteCommit, CompleteAbort,
  Dead (PrepareEpochFence exists only inside a fence here); the partitions of the
  ongoing transaction (AddPartitionsToTxn, AddOffsetsToTxn's ``__consumer_offsets``
  partition, or implicitly with transaction version 2: Produce v12, TxnOffsetCommit v5);
- ``end_transaction``: PrepareCommit/PrepareAbort is persisted, a COMMIT/ABORT control
  batch is appended to every partition of the transaction with the producer id and
  epoch, the transactional offsets are completed, then CompleteCommit/CompleteAbort is
  persisted. EndTxn v5 (KIP-890 part 2) bumps the epoch on every transaction.
- every ``transaction.abort.timed.out.transaction.cleanup.interval.ms`` a transaction
  older than its timeout is aborted under a bumped epoch (the zombie is fenced), and an
  idle transactional id older than ``transactional.id.expiration.ms`` is removed.

Durability: every state change is a ``"txn"`` record in ``__transaction_state`` (key
``{"t": "txn", "id": ...}``, value the metadata, including the offsets a transaction
committed, so they survive until it completes; a tombstone when the id expires). At
start-up the per-partition producer state is rebuilt from the logs' batch headers, the
records are replayed, and ``recover`` finishes what was in flight: Ongoing and
PrepareAbort transactions are aborted (markers written), PrepareCommit ones completed,
and any transaction open in a log that no coordinator state accounts for is aborted.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from broker.state.internal import GROUP_TOPIC, TXN_TOPIC, JsonObject
from broker.state.offsets import CommittedOffset
from broker.state.txn_verification import TxnVerifier
from wire.kafka.error_codes import ErrorCode
from wire.kafka.records import RecordBatch, build_end_txn_marker

if TYPE_CHECKING:
    from broker.core import BrokerCore

log = logging.getLogger("broker.txn")

TopicPartition = tuple[str, int]
NO_PRODUCER_ID = -1
NO_EPOCH = -1
MAX_EPOCH = 32767


def epoch_exhausted(epoch: int) -> bool:
    """Kafka keeps one epoch in reserve (for the fence of a timed-out transaction)."""
    return epoch >= MAX_EPOCH - 1


class TxnState(str, enum.Enum):
    EMPTY = "Empty"
    ONGOING = "Ongoing"
    PREPARE_COMMIT = "PrepareCommit"
    PREPARE_ABORT = "PrepareAbort"
    COMPLETE_COMMIT = "CompleteCommit"
    COMPLETE_ABORT = "CompleteAbort"
    DEAD = "Dead"
    PREPARE_EPOCH_FENCE = "PrepareEpochFence"


STATE_NAMES = {s.value: s for s in TxnState}
COMPLETE = (TxnState.EMPTY, TxnState.COMPLETE_COMMIT, TxnState.COMPLETE_ABORT)
PREPARING = (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT, TxnState.PREPARE_EPOCH_FENCE)


@dataclass
class TransactionMetadata:
    transactional_id: str
    producer_id: int
    producer_epoch: int
    timeout_ms: int
    last_producer_id: int = NO_PRODUCER_ID
    last_producer_epoch: int = NO_EPOCH
    state: TxnState = TxnState.EMPTY
    partitions: list[TopicPartition] = field(default_factory=list)  # in the order they were added
    start_ms: int = -1  # wall clock, when the transaction became Ongoing
    last_update_ms: int = -1  # wall clock
    offsets: dict[str, dict[TopicPartition, CommittedOffset]] = field(default_factory=dict)  # TxnOffsetCommit
    next_producer_id: int = NO_PRODUCER_ID  # v2 epoch overflow: the id taken once the markers are written

    def to_json(self) -> JsonObject:
        return {"pid": self.producer_id, "epoch": self.producer_epoch, "last_pid": self.last_producer_id,
                "last_epoch": self.last_producer_epoch, "timeout": self.timeout_ms, "state": self.state.value,
                "partitions": [[t, p] for t, p in self.partitions], "start": self.start_ms,
                "update": self.last_update_ms, "next_pid": self.next_producer_id,
                "offsets": {g: [[t, p, o.to_json()] for (t, p), o in offs.items()] for g, offs in self.offsets.items()}}

    @classmethod
    def from_json(cls, transactional_id: str, v: JsonObject) -> TransactionMetadata:
        offsets = {str(g): {(str(t), int(p)): CommittedOffset.from_json(o) for t, p, o in offs}
                   for g, offs in dict(v.get("offsets", {})).items()}
        return cls(transactional_id, int(v["pid"]), int(v["epoch"]), int(v["timeout"]), int(v.get("last_pid", -1)),
                   int(v.get("last_epoch", -1)), STATE_NAMES[str(v["state"])],
                   [(str(t), int(p)) for t, p in v.get("partitions", [])], int(v.get("start", -1)),
                   int(v.get("update", -1)), offsets, int(v.get("next_pid", -1)))


@dataclass
class RemoteMarker:
    """A transaction marker for a partition another broker process leads (ZooKeeper mode): the shell sends
    it there with WriteTxnMarkers and calls ``TransactionCoordinator.marker_written`` once it is written."""

    transactional_id: str
    topic: str
    partition: int
    producer_id: int
    producer_epoch: int
    committed: bool
    coordinator_epoch: int


@dataclass
class InitResult:
    error: ErrorCode
    producer_id: int = NO_PRODUCER_ID
    producer_epoch: int = NO_EPOCH


class TransactionCoordinator:
    def __init__(self, core: BrokerCore) -> None:
        self.core = core
        self.txns: dict[str, TransactionMetadata] = {}
        self.by_producer: dict[int, str] = {}  # producer id -> transactional id
        self.next_check_ms = core.now_ms + self.interval_ms
        self.remote_markers: list[RemoteMarker] = []  # to send (ZooKeeper mode); the shell takes them
        self.awaiting: dict[str, set[TopicPartition]] = {}  # transactional id -> remote markers not yet written
        self.verifier = TxnVerifier(core)  # KIP-890 verification with coordinators in other processes
        core.internal.register("txn", self._restore)
        if core.config.data_dir is not None:
            core.producers.attach(core.config.data_dir)
        for topic in core.cluster.topics.values():
            for partition in topic.partitions:
                core.producers.rebuild(topic.name, partition.index, partition.log.batches)

    @property
    def interval_ms(self) -> int:
        return max(1, self.core.config.transaction_abort_timed_out_transaction_cleanup_interval_ms)

    # -- lookups ------------------------------------------------------------------------------

    def is_coordinator(self, node_id: int, transactional_id: str) -> bool:
        return self.core.internal.coordinator(TXN_TOPIC, transactional_id) == node_id

    def get(self, transactional_id: str) -> TransactionMetadata | None:
        return self.txns.get(transactional_id)

    def for_producer(self, producer_id: int) -> TransactionMetadata | None:
        tid = self.by_producer.get(producer_id)
        return None if tid is None else self.txns.get(tid)

    def coordinator_epoch(self, transactional_id: str) -> int:
        return self.core.internal.partition_of(TXN_TOPIC, transactional_id).leader_epoch

    # -- InitProducerId -----------------------------------------------------------------------

    def init_producer_id(self, transactional_id: str, timeout_ms: int, expected_pid: int = NO_PRODUCER_ID,
                         expected_epoch: int = NO_EPOCH) -> InitResult:
        if transactional_id == "":
            return InitResult(ErrorCode.INVALID_REQUEST)
        if timeout_ms <= 0 or timeout_ms > self.core.config.transaction_max_timeout_ms:
            return InitResult(ErrorCode.INVALID_TRANSACTION_TIMEOUT)
        expected = None if expected_pid == NO_PRODUCER_ID and expected_epoch == NO_EPOCH else (
            expected_pid, expected_epoch)
        meta = self.txns.get(transactional_id)
        if meta is None:  # a new transactional id: a fresh producer id, whose epoch bump below makes 0
            meta = TransactionMetadata(transactional_id, self.core.producers.allocate(), NO_EPOCH, timeout_ms)
            self.txns[transactional_id] = meta
        if meta.state in PREPARING or meta.state == TxnState.DEAD:
            return InitResult(ErrorCode.CONCURRENT_TRANSACTIONS)
        if expected is not None and not self._valid_producer_id(meta, *expected):
            return InitResult(ErrorCode.PRODUCER_FENCED)
        if meta.state == TxnState.ONGOING:
            # abort the ongoing transaction under a bumped epoch (fencing its producer) and make the caller
            # retry, so that its own epoch is bumped once more (or a new id taken when that exhausts it)
            self._fence_and_abort(meta)
            return InitResult(ErrorCode.CONCURRENT_TRANSACTIONS)
        if epoch_exhausted(meta.producer_epoch) and (expected is None or expected[1] == meta.producer_epoch):
            meta.last_producer_id = meta.producer_id
            meta.last_producer_epoch = meta.producer_epoch if expected is not None else NO_EPOCH
            meta.producer_id, meta.producer_epoch = self.core.producers.allocate(), 0
        elif expected is None:
            meta.producer_epoch, meta.last_producer_epoch = meta.producer_epoch + 1, NO_EPOCH
        elif meta.producer_epoch == NO_EPOCH or expected[1] == meta.producer_epoch:
            meta.producer_epoch, meta.last_producer_epoch = meta.producer_epoch + 1, meta.producer_epoch
        elif expected[1] != meta.last_producer_epoch:  # equal: a retry of a bump that succeeded, nothing to do
            return InitResult(ErrorCode.PRODUCER_FENCED)
        meta.state, meta.partitions, meta.start_ms, meta.offsets = TxnState.EMPTY, [], -1, {}
        meta.timeout_ms = timeout_ms
        self._bind(meta)
        self._persist(meta)
        return InitResult(ErrorCode.NONE, meta.producer_id, meta.producer_epoch)

    @staticmethod
    def _valid_producer_id(meta: TransactionMetadata, pid: int, epoch: int) -> bool:
        """Kafka's isValidProducerId: a just-created id, the current id, or the previous one whose epoch ran
        out (a retry of the rotation)."""
        return (meta.producer_epoch == NO_EPOCH or pid == meta.producer_id
                or (pid == meta.last_producer_id and epoch_exhausted(epoch)))

    # -- AddPartitionsToTxn / AddOffsetsToTxn / verification -----------------------------------

    def _check_producer(self, meta: TransactionMetadata | None, pid: int, epoch: int) -> ErrorCode:
        if meta is None or meta.producer_id != pid:
            return ErrorCode.INVALID_PRODUCER_ID_MAPPING
        if meta.producer_epoch != epoch:
            return ErrorCode.PRODUCER_FENCED
        if meta.state in PREPARING or meta.state == TxnState.DEAD:
            return ErrorCode.CONCURRENT_TRANSACTIONS
        return ErrorCode.NONE

    def add_partitions(self, transactional_id: str, pid: int, epoch: int,
                       partitions: list[TopicPartition]) -> ErrorCode:
        if not transactional_id:
            return ErrorCode.INVALID_REQUEST
        meta = self.txns.get(transactional_id)
        error = self._check_producer(meta, pid, epoch)
        if error != ErrorCode.NONE or meta is None:
            return error
        new = [tp for tp in dict.fromkeys(partitions) if tp not in meta.partitions]
        if meta.state == TxnState.ONGOING and not new:
            return ErrorCode.NONE
        if meta.state != TxnState.ONGOING:
            meta.state, meta.start_ms, meta.partitions, meta.offsets = TxnState.ONGOING, self.core.wall_ms(), [], {}
            self.core.schedule(max(self.next_check_ms, self.core.now_ms))
        meta.partitions.extend(new)
        self._persist(meta)
        return ErrorCode.NONE

    def add_offsets(self, transactional_id: str, pid: int, epoch: int, group_id: str) -> ErrorCode:
        """The group's ``__consumer_offsets`` partition joins the transaction (its marker completes the
        transaction's offsets), as Kafka's AddOffsetsToTxn does."""
        return self.add_partitions(transactional_id, pid, epoch, [self.offsets_partition(group_id)])

    def offsets_partition(self, group_id: str) -> TopicPartition:
        self.core.internal.topic(GROUP_TOPIC)  # exists (or is being created) for the marker to land in
        return GROUP_TOPIC, self.core.internal.partition_index(GROUP_TOPIC, group_id)

    def verify_partitions(self, transactional_id: str, pid: int, epoch: int,
                          partitions: list[TopicPartition]) -> dict[TopicPartition, ErrorCode]:
        """AddPartitionsToTxn v4+ ``verify_only``: which partitions are in the ongoing transaction
        (TRANSACTION_ABORTABLE for those that are not)."""
        if not transactional_id:
            return {tp: ErrorCode.INVALID_REQUEST for tp in partitions}
        meta = self.txns.get(transactional_id)
        error = self._check_producer(meta, pid, epoch)
        if error != ErrorCode.NONE or meta is None:
            return {tp: error for tp in partitions}
        return {tp: ErrorCode.NONE if tp in meta.partitions and meta.state == TxnState.ONGOING
                else ErrorCode.TRANSACTION_ABORTABLE for tp in partitions}

    def check_produce(self, transactional_id: str | None, pid: int, epoch: int, tp: TopicPartition,
                      version: int) -> ErrorCode:
        """May this transactional batch be appended? (The partition leader's verification with the
        coordinator, KIP-890 part 1; Produce v12 with transaction version 2 adds the partition itself.)
        In ZooKeeper mode a transaction coordinated by another broker process is not checked here: the
        produce handler has asked that coordinator first (``broker.state.txn_verification``) when the batch
        needed it."""
        if self.coordinated_elsewhere(transactional_id):
            return ErrorCode.NONE
        meta = self.txns.get(transactional_id) if transactional_id else self.for_producer(pid)
        if meta is None or meta.producer_id != pid:
            return ErrorCode.INVALID_PRODUCER_ID_MAPPING
        if epoch != meta.producer_epoch:
            return ErrorCode.INVALID_PRODUCER_EPOCH
        if meta.state in PREPARING:
            return ErrorCode.NOT_ENOUGH_REPLICAS  # Kafka's retriable stand-in for CONCURRENT_TRANSACTIONS
        if meta.state == TxnState.ONGOING and tp in meta.partitions:
            return ErrorCode.NONE
        if version >= 12 and meta.state in (TxnState.ONGOING, *COMPLETE):
            return self.add_partitions(meta.transactional_id, pid, epoch, [tp])
        return ErrorCode.TRANSACTION_ABORTABLE if version >= 11 else ErrorCode.INVALID_TXN_STATE

    # -- TxnOffsetCommit ----------------------------------------------------------------------

    def check_txn_offset_commit(self, transactional_id: str, pid: int, epoch: int, group_id: str,
                                version: int) -> ErrorCode:
        """The verification Kafka's group coordinator asks before a TxnOffsetCommit: the group's offsets
        partition must be in the producer's ongoing transaction (v5, transaction version 2, adds it). When
        another broker process coordinates the transaction (ZooKeeper mode) the handler has asked it instead
        (``broker.state.txn_verification``)."""
        if self.coordinated_elsewhere(transactional_id):
            return ErrorCode.NONE
        meta = self.txns.get(transactional_id)
        if meta is None or meta.producer_id != pid:
            return ErrorCode.INVALID_PRODUCER_ID_MAPPING
        if epoch != meta.producer_epoch:
            return ErrorCode.INVALID_PRODUCER_EPOCH
        if meta.state in PREPARING:
            return ErrorCode.CONCURRENT_TRANSACTIONS
        tp = self.offsets_partition(group_id)
        if meta.state == TxnState.ONGOING and tp in meta.partitions:
            return ErrorCode.NONE
        if version >= 5:
            return self.add_partitions(transactional_id, pid, epoch, [tp])
        return ErrorCode.TRANSACTION_ABORTABLE if version >= 4 else ErrorCode.INVALID_TXN_STATE

    def txn_offset_commit(self, transactional_id: str, group_id: str,
                          offsets: dict[TopicPartition, CommittedOffset], producer_id: int) -> None:
        """Keep ``offsets`` pending under the producer until its transaction ends (checked before). When
        another broker coordinates the transaction, they wait in this group coordinator's store for the
        marker that broker sends (WriteTxnMarkers)."""
        if self.coordinated_elsewhere(transactional_id):
            self.core.offsets.add_pending(producer_id, group_id, offsets)
            return
        meta = self.txns[transactional_id]
        meta.offsets.setdefault(group_id, {}).update(offsets)
        self._persist(meta)
        self.core.offsets.add_pending(meta.producer_id, group_id, offsets)

    # -- EndTxn -------------------------------------------------------------------------------

    def end_transaction(self, transactional_id: str, pid: int, epoch: int, commit: bool,
                        bump_epoch: bool = False) -> InitResult:
        """EndTxn; ``bump_epoch`` is transaction version 2 (EndTxn v5): every transaction ends under a new
        epoch, returned to the producer."""
        if not transactional_id:
            return InitResult(ErrorCode.INVALID_REQUEST)
        meta = self.txns.get(transactional_id)
        if meta is None:
            return InitResult(ErrorCode.INVALID_PRODUCER_ID_MAPPING)
        if bump_epoch:
            return self._end_v2(meta, pid, epoch, commit)
        if meta.producer_id != pid:
            return InitResult(ErrorCode.INVALID_PRODUCER_ID_MAPPING)
        if meta.producer_epoch != epoch:
            return InitResult(ErrorCode.PRODUCER_FENCED)
        done = InitResult(ErrorCode.NONE, meta.producer_id, meta.producer_epoch)
        wanted = TxnState.COMPLETE_COMMIT if commit else TxnState.COMPLETE_ABORT
        preparing = TxnState.PREPARE_COMMIT if commit else TxnState.PREPARE_ABORT
        if meta.state == TxnState.ONGOING:
            self._complete(meta, commit)
            return done
        if meta.state == wanted:
            return done  # a retry of an EndTxn that succeeded
        if meta.state == preparing:
            return InitResult(ErrorCode.CONCURRENT_TRANSACTIONS)
        return InitResult(ErrorCode.INVALID_TXN_STATE)

    def _end_v2(self, meta: TransactionMetadata, pid: int, epoch: int, commit: bool) -> InitResult:
        retry_bump = meta.producer_epoch == epoch + 1
        retry_overflow = (pid == meta.last_producer_id and epoch == MAX_EPOCH - 1 and meta.producer_epoch == 0)
        is_retry = retry_bump or retry_overflow
        if meta.state in (TxnState.ONGOING, TxnState.EMPTY, TxnState.DEAD, TxnState.PREPARE_EPOCH_FENCE):
            valid = epoch == meta.producer_epoch
        elif meta.state in (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT):
            valid = retry_bump
        else:
            valid = is_retry or epoch == meta.producer_epoch
        if not valid:
            return InitResult(ErrorCode.PRODUCER_FENCED)
        if meta.producer_id != pid and not retry_overflow:
            return InitResult(ErrorCode.INVALID_PRODUCER_ID_MAPPING)
        wanted = TxnState.COMPLETE_COMMIT if commit else TxnState.COMPLETE_ABORT
        current = InitResult(ErrorCode.NONE, meta.producer_id, meta.producer_epoch)
        if meta.state == TxnState.ONGOING:
            self._complete(meta, commit, bump=True)
        elif meta.state in COMPLETE:
            if is_retry:
                return current if meta.state == wanted else InitResult(ErrorCode.INVALID_TXN_STATE)
            if commit:
                return InitResult(ErrorCode.INVALID_TXN_STATE)
            meta.partitions = []  # aborting an empty transaction: only the epoch moves
            self._complete(meta, False, bump=True)
        elif meta.state in (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT):
            same = (meta.state == TxnState.PREPARE_COMMIT) == commit
            return InitResult(ErrorCode.CONCURRENT_TRANSACTIONS if same else ErrorCode.INVALID_TXN_STATE)
        else:
            return InitResult(ErrorCode.INVALID_TXN_STATE)
        return InitResult(ErrorCode.NONE, meta.producer_id, meta.producer_epoch)

    # -- completion: markers ------------------------------------------------------------------

    def _fence_and_abort(self, meta: TransactionMetadata) -> None:
        """Abort the ongoing transaction under the next epoch, so the producer that owns it is fenced."""
        meta.producer_epoch = min(meta.producer_epoch + 1, MAX_EPOCH)
        meta.last_producer_epoch = NO_EPOCH
        self._bind(meta)
        self._complete(meta, False)

    def _complete(self, meta: TransactionMetadata, commit: bool, bump: bool = False) -> None:
        """Prepare (persisted), write the markers, complete the offsets, Complete (persisted)."""
        if bump:  # transaction version 2: the markers carry the next epoch (or a new id once it runs out)
            if epoch_exhausted(meta.producer_epoch):
                meta.next_producer_id = self.core.producers.allocate()
            meta.last_producer_epoch = meta.producer_epoch
            meta.producer_epoch += 1
            self._bind(meta)
        meta.state = TxnState.PREPARE_COMMIT if commit else TxnState.PREPARE_ABORT
        self._persist(meta)
        self._write_markers(meta, commit)
        if self.awaiting.get(meta.transactional_id):
            return  # completed by marker_written once the other brokers have their markers (Kafka's way too)
        self._finish(meta, commit)

    def _finish(self, meta: TransactionMetadata, commit: bool) -> None:
        """Every marker is written: the offsets are committed (or dropped) and the transaction is complete."""
        offsets = self.core.offsets
        for group_id, committed in meta.offsets.items():  # restored after a restart: back into the store
            offsets.add_pending(meta.producer_id, group_id, committed)
        offsets.complete_transaction(meta.producer_id, commit)
        meta.last_producer_epoch = meta.producer_epoch  # as Kafka's prepareComplete
        if meta.next_producer_id != NO_PRODUCER_ID:
            meta.last_producer_id, meta.producer_id = meta.producer_id, meta.next_producer_id
            meta.producer_epoch, meta.next_producer_id = 0, NO_PRODUCER_ID
            self._bind(meta)
        meta.state = TxnState.COMPLETE_COMMIT if commit else TxnState.COMPLETE_ABORT
        meta.partitions, meta.offsets = [], {}
        self._persist(meta)
        self.core.appended()

    def _write_markers(self, meta: TransactionMetadata, commit: bool) -> None:
        coordinator_epoch = self.coordinator_epoch(meta.transactional_id)
        for topic, index in meta.partitions:
            if self._led_elsewhere(topic, index):
                self.awaiting.setdefault(meta.transactional_id, set()).add((topic, index))
                self.remote_markers.append(RemoteMarker(meta.transactional_id, topic, index, meta.producer_id,
                                                        meta.producer_epoch, commit, coordinator_epoch))
                continue
            self.write_marker(topic, index, meta.producer_id, meta.producer_epoch, commit, coordinator_epoch)

    def _led_elsewhere(self, topic: str, index: int) -> bool:
        """ZooKeeper mode: another broker process leads this partition (its marker goes by WriteTxnMarkers)."""
        partition = self.core.cluster.partition(topic, index)
        return (self.core.zk is not None and partition is not None
                and partition.leader != self.core.config.node_ids[0])

    def coordinated_elsewhere(self, transactional_id: str | None) -> bool:
        """ZooKeeper mode: another broker process coordinates this transactional id."""
        if self.core.zk is None or not transactional_id:
            return False
        return not self.is_coordinator(self.core.config.node_ids[0], transactional_id)

    def take_remote_markers(self) -> list[RemoteMarker]:
        out, self.remote_markers = self.remote_markers, []
        return out

    def marker_written(self, marker: RemoteMarker) -> None:
        """Another broker wrote ``marker``; the transaction completes once all its markers are written."""
        waiting = self.awaiting.get(marker.transactional_id)
        if waiting is None:
            return
        waiting.discard((marker.topic, marker.partition))
        meta = self.txns.get(marker.transactional_id)
        if waiting or meta is None or meta.state not in (TxnState.PREPARE_COMMIT, TxnState.PREPARE_ABORT):
            return
        del self.awaiting[marker.transactional_id]
        self._finish(meta, meta.state == TxnState.PREPARE_COMMIT)

    def retry_marker(self, marker: RemoteMarker) -> None:
        """Sending ``marker`` failed (its leader moved, or a connection error): try again, to the leader now,
        which may be this broker."""
        if marker.transactional_id not in self.awaiting:
            return
        if self._led_elsewhere(marker.topic, marker.partition):
            self.remote_markers.append(marker)
            return
        self.write_marker(marker.topic, marker.partition, marker.producer_id, marker.producer_epoch,
                          marker.committed, marker.coordinator_epoch)
        self.marker_written(marker)

    def write_marker(self, topic: str, index: int, pid: int, epoch: int, commit: bool,
                     coordinator_epoch: int) -> bool:
        """Append a COMMIT/ABORT marker to a partition this broker leads; False when it does not lead it."""
        partition = self.core.cluster.partition(topic, index)
        if partition is None:  # the topic was deleted meanwhile
            return True
        node_id = self.core.config.node_ids[0]
        if self.core.zk is not None and (partition.leader != node_id or not partition.local):
            return False  # led by another broker process: the marker goes there (WriteTxnMarkers)
        wall = self.core.wall_ms()
        data = bytearray(build_end_txn_marker(commit=commit, producer_id=pid, producer_epoch=epoch,
                                              coordinator_epoch=coordinator_epoch, timestamp=wall))
        plog = partition.log
        base, _ = plog.append(data, RecordBatch(data).header, partition.leader_epoch)
        if self.core.zk is None:  # one process: the replicas share this log
            plog.advance_high_watermark()
        else:  # ZooKeeper mode: the high watermark moves as the ISR replicates
            from broker.replication.leader import replication

            replication(self.core).maybe_advance_hw((topic, index), partition, self.core.now_ms)
        plog.maybe_flush(self.core.now_ms)
        self.core.producers.end_transaction(pid, epoch, topic, index, commit, base, coordinator_epoch, wall)
        if not commit:  # aborted transactions wholly below the log start (retention, DeleteRecords) are no news
            self.core.producers.forget_partition(topic, index, plog.log_start_offset)
        return True

    # -- Describe/ListTransactions ------------------------------------------------------------

    def list_transactions(self, node_id: int, states: set[TxnState], producer_ids: set[int],
                          duration_ms: int) -> list[TransactionMetadata]:
        wall = self.core.wall_ms()
        out = []
        for tid, meta in sorted(self.txns.items()):
            if meta.state == TxnState.DEAD or not self.is_coordinator(node_id, tid):
                continue
            if producer_ids and meta.producer_id not in producer_ids:
                continue
            if states and meta.state not in states:
                continue
            if duration_ms >= 0 and wall - meta.start_ms <= duration_ms:
                continue
            out.append(meta)
        return out

    # -- timeouts and expiration --------------------------------------------------------------

    def next_deadline(self) -> int | None:
        return self.next_check_ms if self.txns else None

    def tick(self, now_ms: int) -> None:
        if now_ms < self.next_check_ms:
            return
        self.next_check_ms = now_ms + self.interval_ms
        wall = self.core.wall_ms()
        expiration = self.core.config.transactional_id_expiration_ms
        for tid, meta in list(self.txns.items()):
            if meta.state == TxnState.ONGOING and meta.start_ms + meta.timeout_ms < wall:
                log.info("transaction %s (producer %d epoch %d) timed out after %d ms: aborting", tid,
                         meta.producer_id, meta.producer_epoch, meta.timeout_ms)
                self._fence_and_abort(meta)
            elif meta.state in COMPLETE and meta.last_update_ms + expiration <= wall:
                log.info("transactional id %s expired", tid)
                meta.state = TxnState.DEAD
                self.core.internal.write(TXN_TOPIC, tid, [(_key(tid), None)])
                del self.txns[tid]
                if self.by_producer.get(meta.producer_id) == tid:
                    del self.by_producer[meta.producer_id]

    # -- persistence and recovery -------------------------------------------------------------

    def _bind(self, meta: TransactionMetadata) -> None:
        self.by_producer[meta.producer_id] = meta.transactional_id
        self.core.producers.seen(meta.producer_id, meta.producer_epoch)

    def _persist(self, meta: TransactionMetadata) -> None:
        meta.last_update_ms = self.core.wall_ms()
        self.core.internal.write(TXN_TOPIC, meta.transactional_id, [(_key(meta.transactional_id), meta.to_json())])

    def _restore(self, key: JsonObject, value: JsonObject | None, timestamp: int) -> None:
        tid = str(key["id"])
        if value is None:
            gone = self.txns.pop(tid, None)
            if gone is not None and self.by_producer.get(gone.producer_id) == tid:
                del self.by_producer[gone.producer_id]
            return
        meta = TransactionMetadata.from_json(tid, value)
        self.txns[tid] = meta
        self._bind(meta)
        for pid in (meta.last_producer_id, meta.next_producer_id):
            self.core.producers.seen(pid, 0)

    def recover(self, partition: int | None = None) -> None:
        """After the internal logs are replayed: finish in-flight transactions, abort orphaned ones. In
        ZooKeeper mode this runs per ``__transaction_state`` partition as this broker becomes its leader, and
        orphans are left alone (another broker may coordinate them)."""
        for tid, meta in list(self.txns.items()):
            if partition is not None and self.core.internal.partition_index(TXN_TOPIC, tid) != partition:
                continue
            if meta.state == TxnState.ONGOING:
                log.info("recovery: transaction %s was ongoing: aborted", tid)
                self._fence_and_abort(meta)
            elif meta.state in (TxnState.PREPARE_ABORT, TxnState.PREPARE_EPOCH_FENCE):
                log.info("recovery: transaction %s was aborting: abort completed", tid)
                self._complete(meta, False)
            elif meta.state == TxnState.PREPARE_COMMIT:
                log.info("recovery: transaction %s was committing: commit completed", tid)
                self._complete(meta, True)
        if self.core.zk is not None:
            self.core.appended()
            return
        producers = self.core.producers
        for (topic, index), txns in list(producers.partitions.items()):
            for pid, first in list(txns.open.items()):
                state = producers.states.get((pid, topic, index))
                epoch = state.epoch if state is not None else 0
                log.warning("recovery: %s-%d has a transaction of producer %d open since offset %d that no "
                            "coordinator knows: aborted", topic, index, pid, first)
                self.write_marker(topic, index, pid, epoch, False, -1)
        self.core.appended()


def _key(transactional_id: str) -> JsonObject:
    return {"t": "txn", "id": transactional_id}
