"""SyncGroup (14): the leader hands out the assignment; followers wait (``Pending``) until it does.

The rules are ``broker.state.groups.GroupCoordinator.sync`` (Kafka 3.9/4.0's):
UNKNOWN_MEMBER_ID for an unknown or empty group, FENCED_INSTANCE_ID,
ILLEGAL_GENERATION, INCONSISTENT_GROUP_PROTOCOL when the protocol type or name
(v5+) differs from the group's, REBALANCE_IN_PROGRESS while members rejoin. From
v5 the protocol type and name are mandatory (INCONSISTENT_GROUP_PROTOCOL when
either is null, checked before anything else, as Kafka's request handler does).
In ZooKeeper mode the assignment is stored with acks=all: the leader's SyncGroup waits in the core
(``COORDINATOR_STATE_APIS``), and a follower's waits here until the ISR has the stored group.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.core import Pending
from broker.handlers import handles
from broker.state.groups import NEW_MEMBER_JOIN_TIMEOUT_MS, SyncResult
from broker.state.internal import GROUP_TOPIC
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.sync_group import SyncGroupRequest, SyncGroupResponse

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext


def sync_response(result: SyncResult, version: int) -> SyncGroupResponse:
    resp = SyncGroupResponse(error_code=int(result.error), assignment=result.assignment)
    if version >= 5:
        resp.protocol_type, resp.protocol_name = result.protocol_type, result.protocol_name
    return resp


@handles(14)
def sync_group(core: BrokerCore, ctx: RequestContext, req: SyncGroupRequest, version: int) -> SyncGroupResponse | Pending:
    if version >= 5 and (req.protocol_type is None or req.protocol_name is None):
        return sync_response(SyncResult(ErrorCode.INCONSISTENT_GROUP_PROTOCOL), version)
    reply = core.groups.sync(
        ctx.node_id, req.group_id, req.member_id, req.group_instance_id if version >= 3 else None, req.generation_id,
        req.protocol_type if version >= 5 else None, req.protocol_name if version >= 5 else None,
        [(a.member_id, a.assignment) for a in req.assignments])
    if reply.result is not None:
        return sync_response(reply.result, version)
    group = core.groups.get(req.group_id)
    wait_ms = group.rebalance_timeout_ms() if group is not None else 0
    deadline = core.now_ms + wait_ms + NEW_MEMBER_JOIN_TIMEOUT_MS  # the pending-sync expiry answers before this

    stored_below: list[int] = []  # ZooKeeper mode: the log end of the group's partition when the result came

    def poll(now_ms: int, expired: bool) -> SyncGroupResponse | None:
        if reply.result is not None:
            if core.zk is not None and reply.result.error == ErrorCode.NONE:
                # as the leader's own SyncGroup, a follower hears its assignment once the ISR has it
                partition = core.internal.partition_of(GROUP_TOPIC, req.group_id)
                if partition.leader != ctx.node_id:
                    return sync_response(SyncResult(ErrorCode.NOT_COORDINATOR), version)
                if not stored_below:
                    stored_below.append(partition.log.next_offset)
                if partition.log.high_watermark < stored_below[0]:
                    return sync_response(SyncResult(ErrorCode.COORDINATOR_NOT_AVAILABLE), version) if expired else None
            return sync_response(reply.result, version)
        if expired:
            return sync_response(SyncResult(ErrorCode.REBALANCE_IN_PROGRESS), version)
        return None

    return Pending(deadline, poll)
