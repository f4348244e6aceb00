"""InitProducerId (22): producer ids for idempotent producers, and for transactional ids epoch bumps and fencing.

A null transactional id gets a fresh producer id at epoch 0 from any broker (as Kafka:
KIP-360 recovery of an idempotent producer also gets a new id). A transactional id
goes to its coordinator (NOT_COORDINATOR elsewhere) and through
``broker.state.transactions``: transaction timeout checked against
``transaction.max.timeout.ms``, the epoch bumped (fencing the previous producer), an
ongoing transaction aborted first (CONCURRENT_TRANSACTIONS: retry). PRODUCER_FENCED is
INVALID_PRODUCER_EPOCH before v4, as Kafka answers older clients.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.handlers import handles
from broker.state.producers import ProducerIdsExhausted
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.init_producer_id import InitProducerIdRequest, InitProducerIdResponse

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext


def fenced_error(error: ErrorCode, version: int, fenced_since: int) -> ErrorCode:
    """PRODUCER_FENCED (KIP-588) is INVALID_PRODUCER_EPOCH for versions before ``fenced_since``."""
    return ErrorCode.INVALID_PRODUCER_EPOCH if error == ErrorCode.PRODUCER_FENCED and version < fenced_since else error


@handles(22)
def init_producer_id(core: BrokerCore, ctx: RequestContext, req: InitProducerIdRequest,
                     version: int) -> InitProducerIdResponse:
    if (req.producer_id == -1) != (req.producer_epoch == -1):  # an id without an epoch, or the reverse
        return InitProducerIdResponse(error_code=ErrorCode.INVALID_REQUEST, producer_id=-1, producer_epoch=-1)
    try:
        if req.transactional_id is None:
            pid, epoch = core.producers.init_producer(None, req.producer_id, req.producer_epoch)
            return InitProducerIdResponse(error_code=0, producer_id=pid, producer_epoch=epoch)
        if req.transactional_id and not core.txns.is_coordinator(ctx.node_id, req.transactional_id):
            return InitProducerIdResponse(error_code=ErrorCode.NOT_COORDINATOR, producer_id=-1, producer_epoch=-1)
        result = core.txns.init_producer_id(req.transactional_id, req.transaction_timeout_ms, req.producer_id,
                                            req.producer_epoch)
    except ProducerIdsExhausted:  # ZooKeeper mode, between two id blocks: Kafka's retriable answer
        return InitProducerIdResponse(error_code=ErrorCode.COORDINATOR_LOAD_IN_PROGRESS, producer_id=-1,
                                      producer_epoch=-1)
    return InitProducerIdResponse(error_code=fenced_error(result.error, version, 4),
                                  producer_id=result.producer_id, producer_epoch=result.producer_epoch)
