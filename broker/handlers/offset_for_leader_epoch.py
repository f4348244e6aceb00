"""OffsetForLeaderEpoch (23): the end offset of a leader epoch, so clients can detect log truncation (KIP-320).

The epoch history is the log's (``PartitionLog.epochs``, from the partition leader
epochs its batches carry) with the current leader epoch as its latest entry,
answered as Kafka's LeaderEpochFileCache.endOffsetFor: the current epoch ends at
the log end offset; an older one as the largest epoch at or below it, ending where
the next higher epoch starts; a newer one is unknown (-1, -1). A follower (replica
id >= 0, ZooKeeper mode) truncates to this after a leader change. The caller's
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
            else:
                res.leader_epoch, res.end_offset = partition.log.end_offset_for_epoch(p.leader_epoch, current)
    return resp
