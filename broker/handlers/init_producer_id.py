"""InitProducerId (22): producer ids for idempotent producers (transactional ids: epoch bump and fencing)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.handlers import handles
from wire.kafka.messages.init_producer_id import InitProducerIdRequest, InitProducerIdResponse

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext


@handles(22)
def init_producer_id(core: BrokerCore, ctx: RequestContext, req: InitProducerIdRequest,
                     version: int) -> InitProducerIdResponse:
    pid, epoch = core.producers.init_producer(req.transactional_id, req.producer_id, req.producer_epoch)
    return InitProducerIdResponse(error_code=0, producer_id=pid, producer_epoch=epoch)
