"""OffsetDelete (47): remove a group's committed offsets for partitions it no longer consumes.

Kafka's rules: the group must exist (GROUP_ID_NOT_FOUND) and be coordinated
here (NOT_COORDINATOR); a classic group with members that is not a consumer
group (protocol type other than "consumer") is NON_EMPTY_GROUP; for a group
with members, partitions of topics some member is subscribed to answer
GROUP_SUBSCRIBED_TO_TOPIC; partitions of unknown topics answer
UNKNOWN_TOPIC_OR_PARTITION; everything else is deleted (a tombstone in
``__consumer_offsets``), also where nothing was committed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.handlers import handles
from broker.handlers._common import group_coordinator_error
from broker.state.offsets import TopicPartition
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.offset_delete import OffsetDeleteRequest, OffsetDeleteResponse

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext

DResp = OffsetDeleteResponse


def subscribed_topics(core: BrokerCore, group_id: str) -> set[str] | None:
    """Topics the members of ``group_id`` subscribe to (empty when it has no members), or None when the group
    does not exist at all (no members, no offsets)."""
    consumer_group = core.consumer_groups.get(group_id)
    if consumer_group is not None:
        return set(core.consumer_groups.subscribed_topics(group_id))
    classic = core.groups.get(group_id)
    if classic is not None:
        return set(core.groups.subscribed_topics(group_id))
    return set() if core.offsets.has_offsets(group_id) else None


@handles(47)
def offset_delete(core: BrokerCore, ctx: RequestContext, req: OffsetDeleteRequest, version: int) -> OffsetDeleteResponse:
    error = group_coordinator_error(core, ctx, req.group_id)
    if error is not None:
        return DResp(error_code=error)
    classic = core.groups.get(req.group_id)
    if classic is not None and not classic.is_empty and classic.protocol_type != "consumer":
        return DResp(error_code=ErrorCode.NON_EMPTY_GROUP)
    subscribed = subscribed_topics(core, req.group_id)
    if subscribed is None:
        return DResp(error_code=ErrorCode.GROUP_ID_NOT_FOUND)
    resp = DResp()
    gone: list[TopicPartition] = []
    for topic in req.topics:
        out = DResp.OffsetDeleteResponseTopic(name=topic.name)
        resp.topics.append(out)
        known = core.cluster.topics.get(topic.name)
        for p in topic.partitions:
            if topic.name in subscribed:
                code = ErrorCode.GROUP_SUBSCRIBED_TO_TOPIC
            elif known is None or not 0 <= p.partition_index < len(known.partitions):
                code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            else:
                code = ErrorCode.NONE
                gone.append((topic.name, p.partition_index))
            out.partitions.append(DResp.OffsetDeleteResponsePartition(p.partition_index, int(code)))
    core.offsets.delete(req.group_id, gone)
    return resp
