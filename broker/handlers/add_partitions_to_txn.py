"""AddPartitionsToTxn (24): partitions join a transaction; v4+ also the batched broker form with verify_only.

v0-3 (clients): one transactional id. Unknown partitions are UNKNOWN_TOPIC_OR_PARTITION and
the others then OPERATION_NOT_ATTEMPTED, as Kafka answers; otherwise every partition gets
the coordinator's answer (NOT_COORDINATOR off the coordinator, INVALID_PRODUCER_ID_MAPPING,
PRODUCER_FENCED (INVALID_PRODUCER_EPOCH before v2), CONCURRENT_TRANSACTIONS while
completing). v4+ (broker to coordinator, KIP-890): a batch of transactions, each either
added or, with ``verify_only``, checked partition by partition (TRANSACTION_ABORTABLE
for one not in the transaction, PRODUCER_FENCED, ...: the coordinator's errors as they are,
for the broker that asked to map per its client's version, as Kafka's KafkaApis does).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.handlers import handles
from broker.handlers.init_producer_id import fenced_error
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.add_partitions_to_txn import (
    AddPartitionsToTxnRequest, AddPartitionsToTxnRequest_AddPartitionsToTxnTopic, AddPartitionsToTxnResponse,
    AddPartitionsToTxnResponse_AddPartitionsToTxnTopicResult,
)

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext

AResp = AddPartitionsToTxnResponse
TopicResults = list[AddPartitionsToTxnResponse_AddPartitionsToTxnTopicResult]


def _results(topics: list[AddPartitionsToTxnRequest_AddPartitionsToTxnTopic],
             errors: dict[tuple[str, int], ErrorCode]) -> TopicResults:
    out: TopicResults = []
    for topic in topics:
        out.append(AResp.AddPartitionsToTxnTopicResult(topic.name, [
            AResp.AddPartitionsToTxnPartitionResult(p, errors[(topic.name, p)]) for p in topic.partitions]))
    return out


def _one(core: BrokerCore, ctx: RequestContext, tid: str, pid: int, epoch: int,
         topics: list[AddPartitionsToTxnRequest_AddPartitionsToTxnTopic], verify_only: bool,
         version: int) -> TopicResults:
    partitions = [(t.name, p) for t in topics for p in t.partitions]
    unknown = {tp for tp in partitions if core.cluster.partition(*tp) is None}
    errors: dict[tuple[str, int], ErrorCode]
    if unknown:
        errors = {tp: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION if tp in unknown else ErrorCode.OPERATION_NOT_ATTEMPTED
                  for tp in partitions}
    elif tid and not core.txns.is_coordinator(ctx.node_id, tid):
        errors = {tp: ErrorCode.NOT_COORDINATOR for tp in partitions}
    elif verify_only:
        errors = core.txns.verify_partitions(tid, pid, epoch, partitions)
    else:
        error = core.txns.add_partitions(tid, pid, epoch, partitions)
        errors = {tp: error for tp in partitions}
    if not verify_only:  # the verification's own errors go back as they are (the asking broker maps them)
        errors = {tp: fenced_error(error, version, 2) for tp, error in errors.items()}
    return _results(topics, errors)


@handles(24)
def add_partitions_to_txn(core: BrokerCore, ctx: RequestContext, req: AddPartitionsToTxnRequest,
                          version: int) -> AddPartitionsToTxnResponse:
    if version <= 3:
        return AResp(results_by_topic_v3_and_below=_one(
            core, ctx, req.v3_and_below_transactional_id, req.v3_and_below_producer_id,
            req.v3_and_below_producer_epoch, req.v3_and_below_topics, False, version))
    resp = AResp(error_code=0)
    for txn in req.transactions:
        resp.results_by_transaction.append(AResp.AddPartitionsToTxnResult(txn.transactional_id, _one(
            core, ctx, txn.transactional_id, txn.producer_id, txn.producer_epoch, txn.topics, txn.verify_only,
            version)))
    return resp
