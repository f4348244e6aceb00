"""KIP-890 part 1 between broker processes (ZooKeeper mode): a partition leader asks the transaction's coordinator.

Kafka 3.9 with ``transaction.partition.verification.enable=true`` (its default) does not
append the first transactional batch of a producer to a partition (nor store a
transactional offset commit in a ``__consumer_offsets`` partition) before the
transaction's coordinator, the leader of the transactional id's ``__transaction_state``
partition, has confirmed that the partition is in the producer's ongoing transaction: its
ReplicaManager hands the partitions to the AddPartitionsToTxnManager, which sends
AddPartitionsToTxn v4 with ``verify_only`` to that broker. Later batches of the same
transaction on the partition (the partition's producer state has an ongoing transaction
of that producer) are not verified again.

This module is the pure part of that for transactions another broker process
coordinates (a transaction this process coordinates is checked in place, by
``TransactionCoordinator.check_produce`` / ``check_txn_offset_commit``):

- ``TxnVerifier.needed`` / ``offsets_needed``: which batches (commits) need it;
- ``TxnVerifier.start``: a ``Verification`` for the coordinator of the moment (the
  leader of the ``__transaction_state`` partition, if it is a live broker: else it is
  answered COORDINATOR_NOT_AVAILABLE at once, as Kafka's ``getTransactionCoordinator``),
  queued in ``outbox``; the trio shell takes it, sends AddPartitionsToTxn v4
  (``verify_only``, batched per coordinator; with transaction version 2, Produce v12 and
  TxnOffsetCommit v5, the partitions are added instead, as Kafka 4.0 does) and reports the answer with ``answered``
  (per-partition errors), or ``failed`` (NETWORK_EXCEPTION for a connection error or
  ``request.timeout.ms``, as Kafka's manager for a disconnect or time-out);
- the mappings: ``manager_error`` (AddPartitionsToTxnManager: PRODUCER_FENCED becomes
  INVALID_PRODUCER_EPOCH, TRANSACTION_ABORTABLE becomes INVALID_TXN_STATE unless the
  client's version knows it, a top-level CLUSTER_AUTHORIZATION_FAILED becomes
  INVALID_TXN_STATE), then ``produce_error`` (ReplicaManager.appendRecords:
  CONCURRENT_TRANSACTIONS, NETWORK_EXCEPTION, COORDINATOR_LOAD_IN_PROGRESS,
  COORDINATOR_NOT_AVAILABLE and NOT_COORDINATOR become NOT_ENOUGH_REPLICAS, which clients
  retry without a metadata refresh) or ``txn_offset_commit_error`` (the group
  coordinator's ``maybeConvertOffsetCommitError``: NETWORK_EXCEPTION becomes
  COORDINATOR_LOAD_IN_PROGRESS, NOT_ENOUGH_REPLICAS COORDINATOR_NOT_AVAILABLE, ...).

The handlers hold their answer in a ``Pending`` until ``Verification.done``, for at most
``request.timeout.ms`` (then the verification counts as failed with NETWORK_EXCEPTION), and
append (store) a verified batch (offset commit) only if its verification guard
(``ProducerTable.start_verification``) still stands: a marker of the producer in the partition
meanwhile makes it INVALID_TXN_STATE, as Kafka's UnifiedLog refuses an append without a valid
guard.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from broker.state.internal import GROUP_TOPIC, TXN_TOPIC, partition_for
from wire.kafka.error_codes import ErrorCode

if TYPE_CHECKING:
    from broker.core import BrokerCore

TopicPartition = tuple[str, int]
VERIFICATION_KEY = "transaction.partition.verification.enable"

# ReplicaManager: retriable verification errors older clients may not retry become NOT_ENOUGH_REPLICAS
_PRODUCE_RETRIABLE = frozenset({ErrorCode.CONCURRENT_TRANSACTIONS, ErrorCode.NETWORK_EXCEPTION,
                                ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, ErrorCode.COORDINATOR_NOT_AVAILABLE,
                                ErrorCode.NOT_COORDINATOR})


@dataclass
class Verification:
    """One transaction's partitions to verify with its coordinator (broker ``coordinator``)."""

    transactional_id: str
    producer_id: int
    producer_epoch: int
    partitions: list[TopicPartition]
    coordinator: int
    abortable_supported: bool  # the client's version knows TRANSACTION_ABORTABLE (Produce v11+, TxnOffsetCommit v4+)
    add: bool = False  # transaction version 2 (Produce v12, TxnOffsetCommit v5): add the partitions, not verify
    errors: dict[TopicPartition, ErrorCode] | None = None  # the answer, mapped as the manager maps it
    messages: dict[TopicPartition, str] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.errors is not None

    def error(self, tp: TopicPartition) -> ErrorCode:
        assert self.errors is not None
        return self.errors.get(tp, ErrorCode.NONE)


def known_error(code: int) -> ErrorCode:
    """An error code from another broker; one this broker does not know is UNKNOWN_SERVER_ERROR."""
    try:
        return ErrorCode(code)
    except ValueError:
        return ErrorCode.UNKNOWN_SERVER_ERROR


def manager_error(code: int, abortable_supported: bool) -> ErrorCode:
    """A partition's verification error as Kafka's AddPartitionsToTxnManager hands it back."""
    error = known_error(code)
    if error == ErrorCode.PRODUCER_FENCED:
        return ErrorCode.INVALID_PRODUCER_EPOCH  # producers expect this one here
    if error == ErrorCode.TRANSACTION_ABORTABLE and not abortable_supported:
        return ErrorCode.INVALID_TXN_STATE
    return error


def produce_error(error: ErrorCode, epoch_bump: bool = False) -> tuple[ErrorCode, str | None]:
    """A verification error as a Produce partition error, with Kafka's message (ReplicaManager.appendRecords;
    ``epoch_bump``: transaction version 2, whose CONCURRENT_TRANSACTIONS Kafka 4.0 passes on as it is)."""
    if error == ErrorCode.INVALID_TXN_STATE:
        return error, "Partition was not added to the transaction"
    if error in _PRODUCE_RETRIABLE and not (epoch_bump and error == ErrorCode.CONCURRENT_TRANSACTIONS):
        return ErrorCode.NOT_ENOUGH_REPLICAS, ("Unable to verify the partition has been added to the transaction. "
                                               f"Underlying error: {error.name}")
    return error, None


def txn_offset_commit_error(error: ErrorCode) -> ErrorCode:
    """A verification error as a TxnOffsetCommit error (Kafka's GroupMetadataManager.maybeConvertOffsetCommitError)."""
    if error == ErrorCode.NETWORK_EXCEPTION:
        return ErrorCode.COORDINATOR_LOAD_IN_PROGRESS
    if error in (ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.NOT_ENOUGH_REPLICAS,
                 ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND):
        return ErrorCode.COORDINATOR_NOT_AVAILABLE
    if error in (ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.KAFKA_STORAGE_ERROR):
        return ErrorCode.NOT_COORDINATOR
    if error in (ErrorCode.MESSAGE_TOO_LARGE, ErrorCode.RECORD_LIST_TOO_LARGE, ErrorCode.INVALID_FETCH_SIZE):
        return ErrorCode.INVALID_COMMIT_OFFSET_SIZE
    return error


class TxnVerifier:
    def __init__(self, core: BrokerCore) -> None:
        self.core = core
        self.outbox: list[Verification] = []  # to send; the shell takes them

    @property
    def enabled(self) -> bool:
        """transaction.partition.verification.enable (default true): a dynamic per-broker or cluster-wide value,
        else the static one."""
        default, broker = self.core.dynamic_layers()
        value = broker.get(VERIFICATION_KEY, default.get(VERIFICATION_KEY, self.core.config.extra.get(VERIFICATION_KEY)))
        return value is None or value.strip().lower() == "true"

    def remote(self, transactional_id: str | None) -> bool:
        """Is ``transactional_id``'s transaction to be verified with a coordinator in another broker process?"""
        return bool(transactional_id) and self.core.zk is not None and self.enabled and \
            self.core.txns.coordinated_elsewhere(transactional_id)

    def needed(self, transactional_id: str | None, producer_id: int, tp: TopicPartition) -> bool:
        """Does a transactional batch of ``producer_id`` for ``tp`` (led here) need the coordinator's word? Only
        for a transaction another broker process coordinates, and only while the partition has no ongoing
        transaction of that producer (its first batch in this transaction)."""
        return self.remote(transactional_id) and producer_id not in self.core.producers.open_transactions(*tp)

    def offsets_needed(self, transactional_id: str | None, producer_id: int, group_id: str) -> bool:
        """Does a TxnOffsetCommit need it? As ``needed`` for the group's ``__consumer_offsets`` partition, whose
        ongoing transaction of the producer is the offsets it already holds for a group of that partition."""
        if not self.remote(transactional_id):
            return False
        count = self.core.internal.partition_count(GROUP_TOPIC)
        index = partition_for(group_id, count)
        held = self.core.offsets.pending.get(producer_id, {})
        return not any(partition_for(g, count) == index for g in held)

    def offsets_partition(self, group_id: str) -> TopicPartition:
        return GROUP_TOPIC, partition_for(group_id, self.core.internal.partition_count(GROUP_TOPIC))

    def start(self, transactional_id: str, producer_id: int, producer_epoch: int, partitions: list[TopicPartition],
              abortable_supported: bool, add: bool = False) -> Verification:
        """Ask the transaction's coordinator about ``partitions`` (answered COORDINATOR_NOT_AVAILABLE at once when
        there is no live coordinator); ``add``: transaction version 2, the coordinator adds them (Kafka 4.0's
        ``addOrVerifyTransaction``)."""
        coordinator = self.coordinator(transactional_id)
        v = Verification(transactional_id, producer_id, producer_epoch, list(dict.fromkeys(partitions)),
                         coordinator, abortable_supported, add)
        if coordinator < 0:
            v.errors = {tp: ErrorCode.COORDINATOR_NOT_AVAILABLE for tp in v.partitions}
        else:
            self.outbox.append(v)
        return v

    def coordinator(self, transactional_id: str) -> int:
        """The live broker leading the transactional id's ``__transaction_state`` partition, else -1 (the topic
        is not there yet, the partition has no leader, or its leader is not registered)."""
        topic = self.core.cluster.topics.get(TXN_TOPIC)
        if topic is None or not topic.partitions:
            return -1
        leader = topic.partitions[partition_for(transactional_id, len(topic.partitions))].leader
        return leader if leader >= 0 and leader in self.core.cluster.brokers else -1

    def take(self) -> list[Verification]:
        out, self.outbox = self.outbox, []
        return out

    def answered(self, v: Verification, top_error: int, partition_errors: dict[TopicPartition, int]) -> None:
        """The coordinator answered: a top-level error applies to every partition (CLUSTER_AUTHORIZATION_FAILED
        as INVALID_TXN_STATE); a partition it did not list is verified."""
        if v.done:
            return
        if top_error:
            code = ErrorCode.INVALID_TXN_STATE if top_error == ErrorCode.CLUSTER_AUTHORIZATION_FAILED else top_error
            v.errors = {tp: known_error(code) for tp in v.partitions}
            return
        v.errors = {tp: manager_error(partition_errors.get(tp, 0), v.abortable_supported) for tp in v.partitions}

    def failed(self, v: Verification, error: ErrorCode = ErrorCode.NETWORK_EXCEPTION) -> None:
        """No answer (connection error, request.timeout.ms): every partition gets ``error``."""
        if not v.done:
            v.errors = {tp: error for tp in v.partitions}
