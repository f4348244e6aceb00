"""JoinGroup (11): join a classic group, waiting (``Pending``) until the join phase of the rebalance completes.

The rules are ``broker.state.groups.GroupCoordinator.join`` (Kafka 3.9/4.0's):
INVALID_GROUP_ID, INVALID_SESSION_TIMEOUT (outside group.min/max.session.timeout.ms),
NOT_COORDINATOR, MEMBER_ID_REQUIRED for a new dynamic member (v4+), static
membership (v5+), GROUP_MAX_SIZE_REACHED, INCONSISTENT_GROUP_PROTOCOL. This
module shapes the result for the version: v0 has no rebalance timeout (the
session timeout is used), the protocol name is "" before v7 and null for none
from v7, the protocol type appears from v7 and SkipAssignment from v9.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.core import Pending
from broker.handlers import handles
from broker.state.groups import NEW_MEMBER_JOIN_TIMEOUT_MS, JoinResult
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.join_group import JoinGroupRequest, JoinGroupResponse

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext


def join_response(result: JoinResult, version: int) -> JoinGroupResponse:
    resp = JoinGroupResponse(error_code=int(result.error), generation_id=result.generation_id, leader=result.leader,
                             member_id=result.member_id)
    if version < 7:
        resp.protocol_name = result.protocol_name or ""
    else:
        resp.protocol_name = result.protocol_name or None
        resp.protocol_type = result.protocol_type
    if version >= 9:
        resp.skip_assignment = result.skip_assignment
    resp.members = [JoinGroupResponse.JoinGroupResponseMember(member_id, instance_id if version >= 5 else None,
                                                              metadata)
                    for member_id, instance_id, metadata in result.members]
    return resp


@handles(11)
def join_group(core: BrokerCore, ctx: RequestContext, req: JoinGroupRequest, version: int) -> JoinGroupResponse | Pending:
    reply = core.groups.join(
        ctx.node_id, req.group_id, req.member_id, req.group_instance_id if version >= 5 else None,
        req.protocol_type, [(p.name, p.metadata) for p in req.protocols], req.session_timeout_ms,
        req.rebalance_timeout_ms, version, ctx.client_id or "", "/" + ctx.client_host)
    if reply.result is not None:
        return join_response(reply.result, version)
    # answered when the join phase completes (at the latest after the rebalance timeout, or the new-member
    # timeout); the deadline only guards against a reply that is never filled
    deadline = core.now_ms + max(req.rebalance_timeout_ms, req.session_timeout_ms) + NEW_MEMBER_JOIN_TIMEOUT_MS

    def poll(now_ms: int, expired: bool) -> JoinGroupResponse | None:
        if reply.result is not None:
            return join_response(reply.result, version)
        if expired:
            return join_response(JoinResult(ErrorCode.REBALANCE_IN_PROGRESS, member_id=req.member_id), version)
        return None

    return Pending(deadline, poll)
