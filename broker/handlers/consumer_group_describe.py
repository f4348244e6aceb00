"""ConsumerGroupDescribe (69): KIP-848 groups with their epochs, assignor, and every member's subscription,
current and target assignment (topic ids and names), from ``broker.state.consumer_groups``.

Per group: INVALID_GROUP_ID for an empty id, NOT_COORDINATOR at the wrong
broker, GROUP_ID_NOT_FOUND for an unknown group or one that is not a consumer
group (a classic group), as Kafka 4.0 answers. Authorized operations (when
asked) are every group operation, as without an authorizer: READ, DELETE,
DESCRIBE. v1 adds the member type (1: a consumer-protocol member).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.handlers import handles
from broker.handlers._common import group_coordinator_error
from broker.state.consumer_groups import GROUP_AUTHORIZED_OPERATIONS, Assignment, ConsumerGroup, describe_assignment
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.consumer_group_describe import (
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, ConsumerGroupDescribeResponse_Assignment,
    ConsumerGroupDescribeResponse_DescribedGroup,
)

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext

DResp = ConsumerGroupDescribeResponse
CONSUMER_MEMBER_TYPE = 1


def _assignment(core: BrokerCore, assignment: Assignment) -> ConsumerGroupDescribeResponse_Assignment:
    return DResp.Assignment(topic_partitions=[DResp.TopicPartitions(tid, name, parts)
                                              for tid, name, parts in describe_assignment(core, assignment.items())])


def _described(core: BrokerCore, group: ConsumerGroup, operations: int) -> ConsumerGroupDescribeResponse_DescribedGroup:
    default_assignor = core.consumer_groups.assignor_names[0]
    out = DResp.DescribedGroup(error_code=0, group_id=group.group_id, group_state=group.state,
                               group_epoch=group.group_epoch, assignment_epoch=group.assignment_epoch,
                               assignor_name=group.preferred_assignor(default_assignor),
                               authorized_operations=operations)
    for m in group.members.values():
        out.members.append(DResp.Member(
            member_id=m.member_id, instance_id=m.instance_id, rack_id=m.rack_id, member_epoch=m.member_epoch,
            client_id=m.client_id, client_host=m.client_host, subscribed_topic_names=list(m.subscribed_topic_names),
            subscribed_topic_regex=m.subscribed_topic_regex, assignment=_assignment(core, m.assigned),
            target_assignment=_assignment(core, group.target.get(m.member_id, {})), member_type=CONSUMER_MEMBER_TYPE))
    return out


@handles(69)
def consumer_group_describe(core: BrokerCore, ctx: RequestContext, req: ConsumerGroupDescribeRequest,
                            version: int) -> ConsumerGroupDescribeResponse:
    resp = DResp()
    operations = GROUP_AUTHORIZED_OPERATIONS if req.include_authorized_operations else -2**31
    for group_id in req.group_ids:
        if not group_id:
            resp.groups.append(DResp.DescribedGroup(error_code=ErrorCode.INVALID_GROUP_ID, group_id=group_id,
                                                    error_message="Group id must not be empty."))
            continue
        error = group_coordinator_error(core, ctx, group_id)
        if error is not None:
            resp.groups.append(DResp.DescribedGroup(error_code=error, group_id=group_id))
            continue
        group = core.consumer_groups.get(group_id)
        if group is None:
            classic = core.groups.get(group_id) if hasattr(core.groups, "get") else None
            message = f"Group {group_id} is not a consumer group." if classic is not None else (
                f"Group {group_id} not found.")
            resp.groups.append(DResp.DescribedGroup(error_code=ErrorCode.GROUP_ID_NOT_FOUND, group_id=group_id,
                                                    error_message=message))
            continue
        resp.groups.append(_described(core, group, operations))
    return resp
