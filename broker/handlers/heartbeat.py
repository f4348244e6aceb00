"""Heartbeat (12): a classic group member says it is alive; the answer tells it whether to rejoin.

The rules are ``broker.state.groups.GroupCoordinator.heartbeat`` (Kafka 3.9/4.0's):
INVALID_GROUP_ID, NOT_COORDINATOR, UNKNOWN_MEMBER_ID (unknown group or member, or
an Empty group), FENCED_INSTANCE_ID (v3+ static members), ILLEGAL_GENERATION,
REBALANCE_IN_PROGRESS while the group prepares a rebalance (the heartbeat still
counts), NONE otherwise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.handlers import handles
from wire.kafka.messages.heartbeat import HeartbeatRequest, HeartbeatResponse

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext


@handles(12)
def heartbeat(core: BrokerCore, ctx: RequestContext, req: HeartbeatRequest, version: int) -> HeartbeatResponse:
    error = core.groups.heartbeat(ctx.node_id, req.group_id, req.member_id,
                                  req.group_instance_id if version >= 3 else None, req.generation_id)
    return HeartbeatResponse(error_code=int(error))
