"""DeleteRecords (21): move a partition's log start offset forward (-1 means the high watermark)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.handlers import handles
from broker.handlers._common import led_partition
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.delete_records import DeleteRecordsRequest, DeleteRecordsResponse

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext

DResp = DeleteRecordsResponse


@handles(21)
def delete_records(core: BrokerCore, ctx: RequestContext, req: DeleteRecordsRequest, version: int) -> DeleteRecordsResponse:
    resp = DResp()
    for t in req.topics:
        out = DResp.DeleteRecordsTopicResult(t.name)
        resp.topics.append(out)
        for p in t.partitions:
            res = DResp.DeleteRecordsPartitionResult(p.partition_index, low_watermark=-1)
            out.partitions.append(res)
            partition = led_partition(core, ctx, t.name, p.partition_index)
            if isinstance(partition, ErrorCode):
                res.error_code = partition
                continue
            plog = partition.log
            target = plog.high_watermark if p.offset == -1 else p.offset
            if target < 0 or target > plog.high_watermark:
                res.error_code = ErrorCode.OFFSET_OUT_OF_RANGE
                continue
            plog.delete_before(target)
            res.low_watermark = plog.log_start_offset
    return resp
