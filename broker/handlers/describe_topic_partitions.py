"""DescribeTopicPartitions (75, KIP-966): topics with their partitions, paged by a cursor as Kafka pages them.

Topics are described in name order (every topic when the request names none), starting at the
cursor's topic and partition. At most ``min(response_partition_limit, 2000)`` partitions are
returned (2000 is Kafka's max.request.partition.size.limit); when a topic is cut short, next_cursor
names it and its first partition left out; when the limit is used up exactly and topics remain,
next_cursor names the next topic at partition 0 (it need not exist). An unknown topic is
UNKNOWN_TOPIC_OR_PARTITION (INVALID_TOPIC_EXCEPTION for an illegal name); a negative cursor
partition, or a cursor topic missing from a non-empty topic list, is INVALID_REQUEST for every topic.
ELR lists are empty (no ELR without replication), offline replicas empty, the ISR every replica.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.handlers import handles
from broker.handlers._common import topic_name_error
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.describe_topic_partitions import (
    DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse,
)

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext

DResp = DescribeTopicPartitionsResponse
MAX_PARTITION_LIMIT = 2000  # max.request.partition.size.limit
# every topic operation allowed, as without an authorizer: READ..DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS
TOPIC_OPERATIONS = sum(1 << op for op in (3, 4, 5, 6, 7, 8, 10, 11))


@handles(75)
def describe_topic_partitions(core: BrokerCore, ctx: RequestContext, req: DescribeTopicPartitionsRequest,
                              version: int) -> DescribeTopicPartitionsResponse:
    resp = DResp()
    names = [t.name for t in req.topics]
    cursor = req.cursor
    start_topic = cursor.topic_name if cursor is not None else ""
    if cursor is not None and (cursor.partition_index < 0 or (names and cursor.topic_name not in names)):
        resp.topics = [DResp.DescribeTopicPartitionsResponseTopic(error_code=ErrorCode.INVALID_REQUEST, name=n)
                       for n in names]
        return resp
    todo = sorted(n for n in set(names or core.cluster.topics) if n >= start_topic)
    remaining = min(req.response_partition_limit, MAX_PARTITION_LIMIT)
    for name in todo:
        if remaining <= 0:
            resp.next_cursor = DResp.Cursor(topic_name=name, partition_index=0)
            break
        topic = core.cluster.topics.get(name)
        if topic is None:
            error = topic_name_error(name) or ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            resp.topics.append(DResp.DescribeTopicPartitionsResponseTopic(error_code=error, name=name))
            continue
        first = cursor.partition_index if cursor is not None and name == cursor.topic_name else 0
        upper = min(len(topic.partitions), first + remaining)
        resp.topics.append(DResp.DescribeTopicPartitionsResponseTopic(
            error_code=0, name=name, topic_id=topic.topic_id, is_internal=topic.internal,
            topic_authorized_operations=TOPIC_OPERATIONS,
            partitions=[DResp.DescribeTopicPartitionsResponsePartition(
                error_code=0, partition_index=p.index, leader_id=p.leader, leader_epoch=p.leader_epoch,
                replica_nodes=list(p.replicas), isr_nodes=p.isr, eligible_leader_replicas=[], last_known_elr=[],
                offline_replicas=[]) for p in topic.partitions[first:upper]]))
        if upper < len(topic.partitions):
            resp.next_cursor = DResp.Cursor(topic_name=name, partition_index=upper)
            break
        remaining -= max(0, upper - first)
    return resp
