"""EndTxn (26): commit or abort a transaction; markers are written before the answer.

NOT_COORDINATOR off the transaction coordinator; INVALID_PRODUCER_ID_MAPPING,
PRODUCER_FENCED (INVALID_PRODUCER_EPOCH before v2), INVALID_TXN_STATE for an end that
does not follow (commit after abort, end of an Empty transaction),
CONCURRENT_TRANSACTIONS while one is completing. v5 is transaction version 2 (KIP-890
part 2): the epoch is bumped on every transaction and the response carries the producer
id and epoch to use next.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.handlers import handles
from broker.handlers.init_producer_id import fenced_error
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.end_txn import EndTxnRequest, EndTxnResponse

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext


@handles(26)
def end_txn(core: BrokerCore, ctx: RequestContext, req: EndTxnRequest, version: int) -> EndTxnResponse:
    if req.transactional_id and not core.txns.is_coordinator(ctx.node_id, req.transactional_id):
        return EndTxnResponse(error_code=ErrorCode.NOT_COORDINATOR)
    result = core.txns.end_transaction(req.transactional_id, req.producer_id, req.producer_epoch, req.committed,
                                       bump_epoch=version >= 5)
    error = fenced_error(result.error, version, 2)
    if error == ErrorCode.TRANSACTION_ABORTABLE and version < 4:
        error = ErrorCode.INVALID_TXN_STATE
    resp = EndTxnResponse(error_code=error)
    if version >= 5:
        resp.producer_id, resp.producer_epoch = result.producer_id, result.producer_epoch
    return resp
