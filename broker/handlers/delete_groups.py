"""DeleteGroups (42): delete empty groups and their committed offsets.

Per group, as Kafka 4.0 answers: NOT_COORDINATOR when another broker
coordinates it; NON_EMPTY_GROUP while it has members (any state but Empty);
GROUP_ID_NOT_FOUND when it is unknown; otherwise the group's committed offsets
are deleted (tombstones) and the group's metadata gets a tombstone in
``__consumer_offsets`` (``broker.state.groups.GroupCoordinator.delete``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.handlers import handles
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.delete_groups import DeleteGroupsRequest, DeleteGroupsResponse

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext


@handles(42)
def delete_groups(core: BrokerCore, ctx: RequestContext, req: DeleteGroupsRequest, version: int) -> DeleteGroupsResponse:
    resp = DeleteGroupsResponse()
    for group_id in req.groups_names:
        if not core.groups.is_coordinator(group_id, ctx.node_id):
            error = ErrorCode.NOT_COORDINATOR
        else:
            error = core.groups.delete(group_id)
        resp.results.append(DeleteGroupsResponse.DeletableGroupResult(group_id, int(error)))
    return resp
