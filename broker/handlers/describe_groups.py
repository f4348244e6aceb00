"""DescribeGroups (15): state, protocol and members of classic groups.

As Kafka 4.0 answers: a group coordinated elsewhere gets NOT_COORDINATOR; a
Stable group lists each member with its metadata for the chosen protocol and
its assignment, other states list members without metadata; a group that only
has committed offsets is an Empty classic group with no protocol type; an
unknown id, or the id of a consumer-protocol (KIP-848) group, is "Dead" with no
error before v6 and GROUP_ID_NOT_FOUND from v6 ("Group X not found." /
"Group X is not a classic group."). Members' group instance ids appear from v4;
with ``include_authorized_operations`` (v3+) a described group carries the
operations allowed on it, which without an authorizer are all a group supports
(READ, DELETE, DESCRIBE).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.handlers import handles
from broker.state.groups import DEAD, EMPTY, STABLE
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.describe_groups import (
    DescribeGroupsRequest, DescribeGroupsResponse, DescribeGroupsResponse_DescribedGroup,
)

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext

DResp = DescribeGroupsResponse
# AclOperation codes READ (3), DELETE (6), DESCRIBE (8) as Kafka's 32-bit field
GROUP_OPERATIONS = (1 << 3) | (1 << 6) | (1 << 8)


def _not_found(group_id: str, message: str, version: int) -> DescribeGroupsResponse_DescribedGroup:
    described = DResp.DescribedGroup(group_id=group_id, group_state=DEAD)
    if version >= 6:
        described.error_code, described.error_message = ErrorCode.GROUP_ID_NOT_FOUND, message
    return described


def describe_one(core: BrokerCore, ctx: RequestContext, group_id: str, version: int) -> DescribeGroupsResponse_DescribedGroup:
    if not core.groups.is_coordinator(group_id, ctx.node_id):
        return DResp.DescribedGroup(group_id=group_id, error_code=ErrorCode.NOT_COORDINATOR)
    group = core.groups.live(group_id)
    if group is None:
        if core.groups.consumer_protocol_group(group_id) is not None:
            return _not_found(group_id, f"Group {group_id} is not a classic group.", version)
        if core.offsets.has_offsets(group_id):
            return DResp.DescribedGroup(group_id=group_id, group_state=EMPTY, protocol_type="")
        return _not_found(group_id, f"Group {group_id} not found.", version)
    stable = group.state == STABLE
    described = DResp.DescribedGroup(group_id=group_id, group_state=group.state,
                                     protocol_type=group.protocol_type or "",
                                     protocol_data=(group.protocol_name or "") if stable else "")
    for member in group.members.values():
        described.members.append(DResp.DescribedGroupMember(
            member_id=member.member_id, group_instance_id=member.group_instance_id if version >= 4 else None,
            client_id=member.client_id, client_host=member.client_host,
            member_metadata=member.metadata(group.protocol_name) if stable else b"",
            member_assignment=member.assignment))
    return described


@handles(15)
def describe_groups(core: BrokerCore, ctx: RequestContext, req: DescribeGroupsRequest, version: int) -> DescribeGroupsResponse:
    resp = DResp()
    for group_id in req.groups:
        described = describe_one(core, ctx, group_id, version)
        if version >= 3 and req.include_authorized_operations and described.error_code == 0:
            described.authorized_operations = GROUP_OPERATIONS
        resp.groups.append(described)
    return resp
