"""ListGroups (16): the groups this broker coordinates, optionally filtered by state (v4+) and type (v5+).

As Kafka 4.0 lists them: classic groups with their protocol type and state;
groups that only have committed offsets as Empty classic groups without a
protocol type (Kafka's "simple" groups); KIP-848 groups from the consumer group
coordinator (type "consumer"). Each broker lists only the groups whose
``__consumer_offsets`` partition it leads, so admin clients ask every broker.
The filters compare case-insensitively; an unknown type matches nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.handlers import handles
from broker.state.groups import EMPTY
from wire.kafka.messages.list_groups import ListGroupsRequest, ListGroupsResponse

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext

LResp = ListGroupsResponse
CLASSIC = "classic"

Listed = tuple[str, str, str, str]  # (group id, protocol type, state, group type)


def all_groups(core: BrokerCore) -> list[Listed]:
    """Every group known to this process: classic, KIP-848, and those with only committed offsets."""
    seen: dict[str, Listed] = {}
    for cg in core.consumer_groups.listing():
        seen[cg.group_id] = (cg.group_id, cg.protocol_type, cg.state, cg.group_type)
    for group in core.groups.groups.values():
        if group.group_id not in seen or not group.is_empty:  # an Empty classic group yields to a KIP-848 one
            seen[group.group_id] = (group.group_id, group.protocol_type or "", group.state, CLASSIC)
    for group_id in core.offsets.groups():
        seen.setdefault(group_id, (group_id, "", EMPTY, CLASSIC))
    return list(seen.values())


@handles(16)
def list_groups(core: BrokerCore, ctx: RequestContext, req: ListGroupsRequest, version: int) -> ListGroupsResponse:
    states = {s.strip().lower() for s in req.states_filter} if version >= 4 else set()
    types = {t.strip().lower() for t in req.types_filter} if version >= 5 else set()
    resp = LResp()
    for group_id, protocol_type, state, group_type in all_groups(core):
        if states and state.lower() not in states or types and group_type.lower() not in types:
            continue
        if not core.groups.is_coordinator(group_id, ctx.node_id):
            continue
        listed = LResp.ListedGroup(group_id=group_id, protocol_type=protocol_type)
        if version >= 4:
            listed.group_state = state
        if version >= 5:
            listed.group_type = group_type
        resp.groups.append(listed)
    return resp
