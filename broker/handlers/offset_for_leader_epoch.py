"""OffsetForLeaderEpoch (23): the end offset of a leader epoch, so clients can detect log truncation (KIP-320).

Every partition here has had one leader epoch since its log began, so the epoch
history is a single entry: the current epoch ends at the log end offset, an
older one at 0, a newer one is unknown (-1, -1). The caller's
``current_leader_epoch`` is checked first: older than ours is FENCED_LEADER_EPOCH,
newer is UNKNOWN_LEADER_EPOCH.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.handlers import handles
from broker.handlers._common import led_partition
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.offset_for_leader_epoch import OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext

OResp = OffsetForLeaderEpochResponse


@handles(23)
def offset_for_leader_epoch(core: BrokerCore, ctx: RequestContext, req: OffsetForLeaderEpochRequest,
                            version: int) -> OffsetForLeaderEpochResponse:
    resp = OResp()
    for t in req.topics:
        out = OResp.OffsetForLeaderTopicResult(t.topic)
        resp.topics.append(out)
        for p in t.partitions:
            res = OResp.EpochEndOffset(partition=p.partition)
            out.partitions.append(res)
            partition = led_partition(core, ctx, t.topic, p.partition)
            if isinstance(partition, ErrorCode):
                res.error_code = partition
                continue
            current = partition.leader_epoch
            if p.current_leader_epoch != -1 and p.current_leader_epoch < current:
                res.error_code = ErrorCode.FENCED_LEADER_EPOCH
            elif p.current_leader_epoch > current:
                res.error_code = ErrorCode.UNKNOWN_LEADER_EPOCH
            elif p.leader_epoch == current:
                res.leader_epoch, res.end_offset = current, partition.log.next_offset
            elif p.leader_epoch < current:
                res.leader_epoch, res.end_offset = p.leader_epoch, 0
    return resp
