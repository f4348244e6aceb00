"""AddOffsetsToTxn (25): a consumer group's offsets join a transaction.

The group's ``__consumer_offsets`` partition is added to the transaction (so the
transaction's marker lands there too, as in Kafka). Errors as AddPartitionsToTxn:
NOT_COORDINATOR off the transaction coordinator, INVALID_PRODUCER_ID_MAPPING,
PRODUCER_FENCED (INVALID_PRODUCER_EPOCH before v2), CONCURRENT_TRANSACTIONS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.handlers import handles
from broker.handlers.init_producer_id import fenced_error
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.add_offsets_to_txn import AddOffsetsToTxnRequest, AddOffsetsToTxnResponse

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext


@handles(25)
def add_offsets_to_txn(core: BrokerCore, ctx: RequestContext, req: AddOffsetsToTxnRequest,
                       version: int) -> AddOffsetsToTxnResponse:
    if req.transactional_id and not core.txns.is_coordinator(ctx.node_id, req.transactional_id):
        return AddOffsetsToTxnResponse(error_code=ErrorCode.NOT_COORDINATOR)
    error = core.txns.add_offsets(req.transactional_id, req.producer_id, req.producer_epoch, req.group_id)
    if error == ErrorCode.TRANSACTION_ABORTABLE and version < 4:
        error = ErrorCode.INVALID_TXN_STATE
    return AddOffsetsToTxnResponse(error_code=fenced_error(error, version, 2))
