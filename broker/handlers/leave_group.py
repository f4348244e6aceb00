"""LeaveGroup (13): members leave a classic group (one member v0-2, a batch with per-member errors v3+).

The rules are ``broker.state.groups.GroupCoordinator.leave`` (Kafka 3.9/4.0's):
an unknown group answers UNKNOWN_MEMBER_ID per member; a member named only by
its group instance id (admin removal of a static member) is found through it;
FENCED_INSTANCE_ID when the instance id maps to another member id. v0-2 carry a
single member and its error becomes the top-level error, as Kafka's
``LeaveGroupResponse`` does for old versions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.handlers import handles
from wire.kafka.messages.leave_group import LeaveGroupRequest, LeaveGroupResponse

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext


@handles(13)
def leave_group(core: BrokerCore, ctx: RequestContext, req: LeaveGroupRequest, version: int) -> LeaveGroupResponse:
    if version < 3:
        members: list[tuple[str, str | None]] = [(req.member_id, None)]
    else:
        members = [(m.member_id, m.group_instance_id) for m in req.members]
    error, results = core.groups.leave(ctx.node_id, req.group_id, members)
    if version < 3:
        return LeaveGroupResponse(error_code=int(error or (results[0][2] if results else 0)))
    return LeaveGroupResponse(error_code=int(error), members=[
        LeaveGroupResponse.MemberResponse(member_id, instance_id, int(member_error))
        for member_id, instance_id, member_error in results])
