"""TxnOffsetCommit (28): a consumer group's offsets committed inside a transaction.

Answered by the group's coordinator (NOT_COORDINATOR elsewhere). The member is checked
as for OffsetCommit (v3+ carries member id, generation and group instance id, KIP-447:
UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, FENCED_INSTANCE_ID from the group coordinator); the producer against the transaction
(INVALID_PRODUCER_ID_MAPPING, INVALID_PRODUCER_EPOCH for a fenced one, and the group
must have been added with AddOffsetsToTxn: INVALID_TXN_STATE, TRANSACTION_ABORTABLE
from v4; v5 adds it itself, transaction version 2). The offsets then wait in
``core.offsets`` under the producer id and become committed offsets when the
transaction commits (dropped when it aborts). Unknown partitions are
UNKNOWN_TOPIC_OR_PARTITION, metadata over 4096 bytes OFFSET_METADATA_TOO_LARGE.

ZooKeeper mode, a transaction another broker process coordinates
(``broker.state.txn_verification``, ``transaction.partition.verification.enable``): unless
this group coordinator already holds offsets of the producer's transaction for a group of
the same ``__consumer_offsets`` partition, the answer waits (at most ``request.timeout.ms``)
until that coordinator has confirmed the partition is in the transaction (AddPartitionsToTxn
v4 ``verify_only``) and no marker of the producer reached that partition meanwhile (the
verification guard, else INVALID_TXN_STATE); a refusal is its error as Kafka's group coordinator maps it
(INVALID_TXN_STATE, TRANSACTION_ABORTABLE from v4, INVALID_PRODUCER_EPOCH, CONCURRENT_TRANSACTIONS,
COORDINATOR_LOAD_IN_PROGRESS for no answer, ...), and nothing is stored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.core import Pending
from broker.handlers import handles
from broker.handlers._common import group_coordinator_error
from broker.state.offsets import CommittedOffset
from broker.state.txn_verification import txn_offset_commit_error
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.txn_offset_commit import TxnOffsetCommitRequest, TxnOffsetCommitResponse

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext

TResp = TxnOffsetCommitResponse
MAX_METADATA = 4096  # offset.metadata.max.bytes


def _member_error(core: BrokerCore, req: TxnOffsetCommitRequest) -> ErrorCode:
    """The group coordinator's commit check: a KIP-848 group's member epoch rules, else the classic group's
    generation rules for a transactional commit."""
    if core.consumer_groups.get(req.group_id) is not None:
        return core.consumer_groups.validate_offset_commit(req.group_id, req.member_id, req.generation_id)
    return core.groups.validate_commit(req.group_id, req.member_id, req.generation_id, req.group_instance_id,
                                       transactional=True)


@handles(28)
def txn_offset_commit(core: BrokerCore, ctx: RequestContext, req: TxnOffsetCommitRequest,
                      version: int) -> TxnOffsetCommitResponse | Pending:
    verifier = core.txns.verifier
    if (group_coordinator_error(core, ctx, req.group_id) is None and any(t.partitions for t in req.topics)
            and verifier.offsets_needed(req.transactional_id, req.producer_id, req.group_id)):
        tp = verifier.offsets_partition(req.group_id)
        guard = core.producers.start_verification(req.producer_id, *tp)
        verification = verifier.start(req.transactional_id, req.producer_id, req.producer_epoch, [tp], version >= 4,
                                      add=version >= 5)

        def poll(now_ms: int, expired: bool) -> TxnOffsetCommitResponse | None:
            if not verification.done and not expired:
                return None
            if not verification.done:  # request.timeout.ms passed without an answer: Kafka's NETWORK_EXCEPTION
                verifier.failed(verification)
            core.now_ms = now_ms
            error = txn_offset_commit_error(verification.error(tp))
            if (error == ErrorCode.NONE and not core.producers.guard_holds(req.producer_id, *tp, guard)
                    and verifier.offsets_needed(req.transactional_id, req.producer_id, req.group_id)):
                error = ErrorCode.INVALID_TXN_STATE  # a marker ended the transaction there meanwhile
            core.producers.end_verification(req.producer_id, *tp, guard)
            return _commit(core, ctx, req, version, error)

        answer = poll(core.now_ms, False)
        return answer if answer is not None else Pending(core.now_ms + core.config.request_timeout_ms, poll)
    return _commit(core, ctx, req, version, ErrorCode.NONE)


def _commit(core: BrokerCore, ctx: RequestContext, req: TxnOffsetCommitRequest, version: int,
            verification_error: ErrorCode) -> TxnOffsetCommitResponse:
    """The commit once verified (``verification_error``: the remote coordinator's refusal, mapped)."""
    errors: dict[tuple[str, int], ErrorCode] = {}
    offsets: dict[tuple[str, int], CommittedOffset] = {}
    wall = core.wall_ms()
    for topic in req.topics:
        for p in topic.partitions:
            tp = (topic.name, p.partition_index)
            if core.cluster.partition(*tp) is None:
                errors[tp] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            elif p.committed_metadata is not None and len(p.committed_metadata.encode()) > MAX_METADATA:
                errors[tp] = ErrorCode.OFFSET_METADATA_TOO_LARGE
            else:
                offsets[tp] = CommittedOffset(p.committed_offset, p.committed_leader_epoch, p.committed_metadata, wall)
    error = group_coordinator_error(core, ctx, req.group_id) or verification_error
    if error == ErrorCode.NONE and offsets:  # Kafka's order: the transaction verification, then the member
        error = core.txns.check_txn_offset_commit(req.transactional_id, req.producer_id, req.producer_epoch,
                                                  req.group_id, version)
        if error == ErrorCode.PRODUCER_FENCED:
            error = ErrorCode.INVALID_PRODUCER_EPOCH
        error = error or _member_error(core, req)
        if error == ErrorCode.NONE:
            core.txns.txn_offset_commit(req.transactional_id, req.group_id, offsets, req.producer_id)
    for tp in offsets:
        errors[tp] = error
    resp = TResp()
    for topic in req.topics:
        resp.topics.append(TResp.TxnOffsetCommitResponseTopic(topic.name, [
            TResp.TxnOffsetCommitResponsePartition(p.partition_index, errors[(topic.name, p.partition_index)])
            for p in topic.partitions]))
    return resp
