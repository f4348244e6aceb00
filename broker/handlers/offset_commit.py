"""OffsetCommit (8): store a group's consumed positions, after checking the committer belongs to the group.

Checks, in Kafka's order: the broker must coordinate the group
(NOT_COORDINATOR); the committer must be a member of the current generation
(classic) or hold the current member epoch (KIP-848, v9+), or commit as an
outsider (generation -1, no member id) to a group without members
(``broker.handlers._common.group_commit_error``); then per partition: the topic
partition must exist (UNKNOWN_TOPIC_OR_PARTITION) and the metadata fit
``offset.metadata.max.bytes`` (OFFSET_METADATA_TOO_LARGE). Accepted offsets are
written to ``__consumer_offsets`` before the response (``broker.state.offsets``); in ZooKeeper mode
the response waits until the partition's in-sync replicas have them (acks=all).
v1 carries a commit timestamp and v2-4 a retention time, which set an explicit
expiry; otherwise offsets expire by ``offsets.retention.minutes``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.core import Pending
from broker.handlers import handles
from broker.handlers._common import group_commit_error, group_coordinator_error
from broker.state.internal import GROUP_TOPIC
from broker.state.offsets import CommittedOffset, TopicPartition
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.offset_commit import OffsetCommitRequest, OffsetCommitResponse

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext

OResp = OffsetCommitResponse
METADATA_MAX_BYTES = 4096  # offset.metadata.max.bytes
OFFSETS_COMMIT_TIMEOUT_MS = 5000  # offsets.commit.timeout.ms


def _expiry(core: BrokerCore, req: OffsetCommitRequest, commit_timestamp: int, version: int) -> int:
    """An explicit expiry (wall ms) from v1's commit timestamp or v2-4's retention time, else -1."""
    if version == 1 and commit_timestamp >= 0:
        return commit_timestamp + core.config.offsets_retention_minutes * 60_000
    if 2 <= version <= 4 and req.retention_time_ms >= 0:
        return core.wall_ms() + req.retention_time_ms
    return -1


@handles(8)
def offset_commit(core: BrokerCore, ctx: RequestContext, req: OffsetCommitRequest,
                  version: int) -> OffsetCommitResponse | Pending:
    group_error = group_coordinator_error(core, ctx, req.group_id)
    if group_error is None and version >= 1:
        group_error = group_commit_error(core, req.group_id, req.member_id, req.generation_id_or_member_epoch,
                                         req.group_instance_id, version) or None
    resp = OResp()
    accepted: dict[TopicPartition, CommittedOffset] = {}
    now = core.wall_ms()
    for topic in req.topics:
        out = OResp.OffsetCommitResponseTopic(name=topic.name)
        resp.topics.append(out)
        known = core.cluster.topics.get(topic.name)
        for p in topic.partitions:
            error: ErrorCode | int = ErrorCode.NONE
            if group_error is not None:
                error = group_error
            elif known is None or not 0 <= p.partition_index < len(known.partitions):
                error = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
            elif p.committed_metadata is not None and len(p.committed_metadata.encode()) > METADATA_MAX_BYTES:
                error = ErrorCode.OFFSET_METADATA_TOO_LARGE
            else:
                accepted[(topic.name, p.partition_index)] = CommittedOffset(
                    p.committed_offset, p.committed_leader_epoch, p.committed_metadata, now,
                    _expiry(core, req, p.commit_timestamp, version))
            out.partitions.append(OResp.OffsetCommitResponsePartition(p.partition_index, int(error)))
    last = core.offsets.commit(req.group_id, accepted)
    if core.zk is None or last is None:
        return resp
    # ZooKeeper mode: answer once the commit is on every in-sync replica of the group's partition, as Kafka
    # appends offsets with acks=all (offsets.commit.required.acks); REQUEST_TIMED_OUT after
    # offsets.commit.timeout.ms, and the client retries
    partition = core.internal.partition_of(GROUP_TOPIC, req.group_id)

    def poll(now_ms: int, expired: bool) -> OffsetCommitResponse | None:
        if partition.log.high_watermark > last:
            return resp
        if not expired:
            return None
        for topic in resp.topics:
            for p in topic.partitions:
                if p.error_code == 0:
                    p.error_code = ErrorCode.REQUEST_TIMED_OUT
        return resp

    return Pending(core.now_ms + OFFSETS_COMMIT_TIMEOUT_MS, poll)
