"""OffsetFetch (9): a group's committed offsets, one group (v0-7) or several (v8+).

A partition without a committed offset answers offset -1, empty metadata and
no error, as Kafka does (also for unknown topics); a null topic list (v2+)
means every offset the group has. With ``require_stable`` (v7+) a partition
whose offset a still-open transaction is committing answers
UNSTABLE_OFFSET_COMMIT, so the consumer retries rather than read a stale
position. v9 names the member (KIP-848): a KIP-848 group checks its member
epoch. Group-level errors (NOT_COORDINATOR) sit in every partition for v0-1, in
the top-level error code for v2-7 and in the group's entry for v8+.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.handlers import handles
from broker.handlers._common import group_coordinator_error
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.offset_fetch import OffsetFetchRequest, OffsetFetchResponse

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext

OResp = OffsetFetchResponse
# (topic, [(partition, offset, leader epoch, metadata, error)])
FetchedPartition = tuple[int, int, int, str | None, int]
Fetched = list[tuple[str, list[FetchedPartition]]]


def _group_error(core: BrokerCore, ctx: RequestContext, group_id: str, member_id: str | None,
                 member_epoch: int) -> ErrorCode | None:
    error = group_coordinator_error(core, ctx, group_id)
    if error is None and member_id is not None and core.consumer_groups.get(group_id) is not None:
        return core.consumer_groups.validate_offset_commit(group_id, member_id, member_epoch) or None
    return error


def _fetch(core: BrokerCore, group_id: str, wanted: list[tuple[str, list[int]]] | None, require_stable: bool) -> Fetched:
    if wanted is None:
        by_topic: dict[str, list[int]] = {}
        for topic, index in sorted(core.offsets.group_offsets(group_id)):
            by_topic.setdefault(topic, []).append(index)
        wanted = list(by_topic.items())
    out: Fetched = []
    for topic, indexes in wanted:
        parts: list[FetchedPartition] = []
        for index in indexes:
            if require_stable and core.offsets.is_unstable(group_id, (topic, index)):
                parts.append((index, -1, -1, "", int(ErrorCode.UNSTABLE_OFFSET_COMMIT)))
                continue
            committed = core.offsets.fetch(group_id, (topic, index))
            if committed is None:
                parts.append((index, -1, -1, "", 0))
            else:
                parts.append((index, committed.offset, committed.leader_epoch, committed.metadata, 0))
        out.append((topic, parts))
    return out


@handles(9)
def offset_fetch(core: BrokerCore, ctx: RequestContext, req: OffsetFetchRequest, version: int) -> OffsetFetchResponse:
    if version >= 8:
        resp = OResp()
        for group in req.groups:
            error = _group_error(core, ctx, group.group_id, group.member_id if version >= 9 else None,
                                 group.member_epoch)
            entry = OResp.OffsetFetchResponseGroup(group_id=group.group_id, error_code=int(error or 0))
            resp.groups.append(entry)
            if error is not None:
                continue
            wanted = None if group.topics is None else [(t.name, list(t.partition_indexes)) for t in group.topics]
            for topic, parts in _fetch(core, group.group_id, wanted, req.require_stable):
                entry.topics.append(OResp.OffsetFetchResponseTopics(name=topic, partitions=[
                    OResp.OffsetFetchResponsePartitions(i, o, e, m, err) for i, o, e, m, err in parts]))
        return resp
    error = _group_error(core, ctx, req.group_id, None, -1)
    wanted = None if req.topics is None else [(t.name, list(t.partition_indexes)) for t in req.topics]
    resp = OResp(error_code=int(error or 0))
    if error is not None and version >= 2:
        return resp
    if error is not None:  # v0-1: no top-level error; every partition carries it
        fetched: Fetched = [(t, [(i, -1, -1, "", int(error)) for i in parts]) for t, parts in wanted or []]
    else:
        fetched = _fetch(core, req.group_id, wanted, req.require_stable and version >= 7)
    for topic, parts in fetched:
        resp.topics.append(OResp.OffsetFetchResponseTopic(name=topic, partitions=[
            OResp.OffsetFetchResponsePartition(i, o, e, m, err) for i, o, e, m, err in parts]))
    return resp
