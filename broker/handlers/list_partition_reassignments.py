"""ListPartitionReassignments (46): the ongoing reassignments (KIP-455).

ZooKeeper mode: answered by the controller (NOT_CONTROLLER elsewhere, as Kafka 3.9's
``processListPartitionReassignments``) from ``/brokers/topics/<topic>``: each named
partition being reassigned (every one when topics is null) with its full replica set and
its adding and removing replicas; partitions not being reassigned, or unknown, are left
out. Without ZooKeeper nothing is ever being reassigned: the answer is empty.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.handlers import handles
from broker.zk.controller import reassignments
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.list_partition_reassignments import (
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
    ListPartitionReassignmentsResponse_OngoingPartitionReassignment,
)

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext

Resp = ListPartitionReassignmentsResponse


@handles(46)
def list_partition_reassignments(core: BrokerCore, ctx: RequestContext, req: ListPartitionReassignmentsRequest,
                                 version: int) -> ListPartitionReassignmentsResponse:
    zk = core.zk
    if zk is None:
        return Resp(throttle_time_ms=0, error_code=0, error_message=None, topics=[])
    if zk.view.controller_id != zk.node_id:
        return Resp(throttle_time_ms=0, error_code=ErrorCode.NOT_CONTROLLER,
                    error_message="This is not the correct controller for this cluster.")
    named = None if req.topics is None else [(t.name, p) for t in req.topics for p in t.partition_indexes]
    by_topic: dict[str, list[ListPartitionReassignmentsResponse_OngoingPartitionReassignment]] = {}
    for (topic, index), (replicas, adding, removing) in reassignments(zk.view, named).items():
        by_topic.setdefault(topic, []).append(Resp.OngoingPartitionReassignment(index, replicas, adding, removing))
    return Resp(throttle_time_ms=0, error_code=0, error_message=None,
                topics=[Resp.OngoingTopicReassignment(topic, parts) for topic, parts in by_topic.items()])
