"""ConsumerGroupHeartbeat (68): the KIP-848 consumer group protocol's only membership call (join, heartbeat,
acknowledge revocations, leave), served by ``broker.state.consumer_groups``.

Order as Kafka 4.0's GroupCoordinatorService: the request is validated first
(INVALID_REQUEST, UNSUPPORTED_ASSIGNOR), then it must reach the group's
coordinator (NOT_COORDINATOR), then the group coordinator answers. v0 lets the
server generate the member id; v1 (librdkafka 2.16, KIP-1082) requires the
client's own and adds SubscribedTopicRegex.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.handlers import handles
from broker.handlers._common import group_coordinator_error
from broker.state.consumer_groups import GroupError
from wire.kafka.messages.consumer_group_heartbeat import (
    ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse,
)

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext


@handles(68)
def consumer_group_heartbeat(core: BrokerCore, ctx: RequestContext, req: ConsumerGroupHeartbeatRequest,
                             version: int) -> ConsumerGroupHeartbeatResponse:
    try:
        core.consumer_groups.validate_heartbeat(req, version)
    except GroupError as err:
        return ConsumerGroupHeartbeatResponse(error_code=int(err.code), error_message=err.message)
    error = group_coordinator_error(core, ctx, req.group_id)
    if error is not None:
        return ConsumerGroupHeartbeatResponse(error_code=int(error), error_message=None)
    # Kafka reports the client address as Java's InetAddress.toString(): "/127.0.0.1"
    return core.consumer_groups.heartbeat(req, version, ctx.client_id or "", "/" + ctx.client_host)
