"""ListOffsets (2): earliest (-2), latest (-1), max timestamp (-3) and first offset at or after a timestamp.

With isolation_level read_committed (v2+) the latest offset is the last stable offset
(the first offset of the earliest open transaction, else the high watermark) and a
timestamp lookup finds only offsets below it, as Kafka's Partition.fetchOffsetForTimestamp.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.handlers import handles
from broker.handlers._common import led_partition
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.list_offsets import ListOffsetsRequest, ListOffsetsResponse
from wire.kafka.records import RecordBatch

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext
    from broker.state.log import PartitionLog

LResp = ListOffsetsResponse
LATEST, EARLIEST, MAX_TIMESTAMP = -1, -2, -3


def _by_timestamp(plog: PartitionLog, timestamp: int) -> tuple[int, int]:
    """(offset, timestamp) of the first record with timestamp >= ``timestamp``, else (-1, -1)."""
    for batch in plog.batches:
        if batch.max_timestamp < timestamp or batch.last_offset < plog.log_start_offset or batch.is_control:
            continue
        for record in RecordBatch(batch.data).records():
            if record.offset >= plog.log_start_offset and record.timestamp >= timestamp:
                return record.offset, record.timestamp
    return -1, -1


@handles(2)
def list_offsets(core: BrokerCore, ctx: RequestContext, req: ListOffsetsRequest, version: int) -> ListOffsetsResponse:
    resp = LResp()
    for topic in req.topics:
        out = LResp.ListOffsetsTopicResponse(topic.name)
        resp.topics.append(out)
        for p in topic.partitions:
            res = LResp.ListOffsetsPartitionResponse(partition_index=p.partition_index)
            out.partitions.append(res)
            partition = led_partition(core, ctx, topic.name, p.partition_index)
            if isinstance(partition, ErrorCode):
                res.error_code = partition
                continue
            plog = partition.log
            fetchable = plog.high_watermark
            if version >= 2 and req.isolation_level == 1:
                fetchable = core.producers.last_stable_offset(topic.name, p.partition_index, plog.high_watermark)
            if p.timestamp == LATEST:
                offset, ts = fetchable, -1
            elif p.timestamp == EARLIEST:
                offset, ts = plog.log_start_offset, -1
            elif p.timestamp == MAX_TIMESTAMP:
                best = plog.max_timestamp()
                offset, ts = best if best is not None else (-1, -1)
            else:
                offset, ts = _by_timestamp(plog, p.timestamp)
                if offset >= fetchable:
                    offset, ts = -1, -1
            res.leader_epoch = partition.leader_epoch if version >= 4 else -1
            if version == 0:
                res.old_style_offsets = [offset] if offset >= 0 else []
            else:
                res.offset, res.timestamp = offset, ts
    return resp
