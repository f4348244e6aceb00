"""DescribeProducers (61): the active producers of partitions this broker leads, from the producer state.

Per producer: id, epoch, last sequence, last timestamp, the coordinator epoch of its last
transaction marker (-1 before any) and the first offset of its open transaction (-1
when none). UNKNOWN_TOPIC_OR_PARTITION and NOT_LEADER_OR_FOLLOWER per partition.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.handlers import handles
from broker.handlers._common import led_partition
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.describe_producers import DescribeProducersRequest, DescribeProducersResponse

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext

DResp = DescribeProducersResponse


@handles(61)
def describe_producers(core: BrokerCore, ctx: RequestContext, req: DescribeProducersRequest,
                       version: int) -> DescribeProducersResponse:
    resp = DResp()
    for topic in req.topics:
        out = DResp.TopicResponse(topic.name)
        resp.topics.append(out)
        for index in topic.partition_indexes:
            part = DResp.PartitionResponse(partition_index=index, error_code=0)
            out.partitions.append(part)
            partition = led_partition(core, ctx, topic.name, index)
            if isinstance(partition, ErrorCode):
                part.error_code = partition
                continue
            for pid, state in core.producers.active_producers(topic.name, index):
                part.active_producers.append(DResp.ProducerState(
                    producer_id=pid, producer_epoch=state.epoch, last_sequence=state.last_seq,
                    last_timestamp=state.last_timestamp, coordinator_epoch=state.coordinator_epoch,
                    current_txn_start_offset=-1 if state.txn_first_offset is None else state.txn_first_offset))
    return resp
