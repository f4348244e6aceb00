"""DescribeTransactions (65): state, producer id/epoch, timeout, start time and partitions of transactional ids.

Each id is answered by its coordinator: NOT_COORDINATOR from another broker,
TRANSACTIONAL_ID_NOT_FOUND for an id the coordinator does not know (or that
expired). The partitions are those of the ongoing transaction (none once it completed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.handlers import handles
from broker.state.transactions import TxnState
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.describe_transactions import DescribeTransactionsRequest, DescribeTransactionsResponse

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext

DResp = DescribeTransactionsResponse


@handles(65)
def describe_transactions(core: BrokerCore, ctx: RequestContext, req: DescribeTransactionsRequest,
                          version: int) -> DescribeTransactionsResponse:
    resp = DResp()
    for tid in req.transactional_ids:
        out = DResp.TransactionState(error_code=0, transactional_id=tid, transaction_state="",
                                     transaction_timeout_ms=0, transaction_start_time_ms=-1, producer_id=-1,
                                     producer_epoch=-1)
        resp.transaction_states.append(out)
        meta = core.txns.get(tid) if tid else None
        if tid and not core.txns.is_coordinator(ctx.node_id, tid):
            out.error_code = ErrorCode.NOT_COORDINATOR
        elif meta is None or meta.state == TxnState.DEAD:
            out.error_code = ErrorCode.TRANSACTIONAL_ID_NOT_FOUND
        else:
            out.transaction_state = meta.state.value
            out.transaction_timeout_ms = meta.timeout_ms
            out.transaction_start_time_ms = meta.start_ms
            out.producer_id, out.producer_epoch = meta.producer_id, meta.producer_epoch
            by_topic: dict[str, list[int]] = {}
            for topic, index in meta.partitions:
                by_topic.setdefault(topic, []).append(index)
            out.topics = [DResp.TopicData(topic, parts) for topic, parts in by_topic.items()]
    return resp
