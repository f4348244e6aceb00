"""Fetch (1): raw batches from the requested offsets, with the long poll of max_wait_ms / min_bytes.

Partitions are named by topic (v0-12) or topic id (v13+). Data is served up to
the high watermark (read_uncommitted) or the last stable offset
(read_committed; without open transactions they are equal), one partition's
first batch whole even above partition_max_bytes, as Kafka does. When fewer
than min_bytes are available the handler returns ``Pending`` and the shell polls
again when data arrives or at max_wait_ms. Incremental fetch sessions (KIP-227)
are answered sessionless (session id 0), which clients accept and fall back to
full fetches. Versions 0-3 get their batches down-converted to magic 0/1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.core import Pending
from broker.handlers import handles
from broker.handlers._common import leader_error
from wire.errors import DecodeError, EncodeError
from wire.kafka.error_codes import ErrorCode
from wire.kafka.legacy_records import down_convert
from wire.kafka.messages.fetch import FetchRequest, FetchResponse
from wire.primitives import ZERO_UUID

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext

FResp = FetchResponse


def _read(core: BrokerCore, ctx: RequestContext, req: FetchRequest, version: int) -> tuple[FetchResponse, int]:
    resp = FResp(session_id=0)
    total = 0
    budget = req.max_bytes if version >= 3 else 0x7FFFFFFF
    read_committed = req.isolation_level == 1
    for wanted in req.topics:
        if version >= 13:
            topic = core.cluster.by_id.get(wanted.topic_id)
            name = topic.name if topic is not None else ""
        else:
            topic = core.cluster.topics.get(wanted.topic)
            name = wanted.topic
        out_topic = FResp.FetchableTopicResponse(topic=name, topic_id=wanted.topic_id if version >= 13 else ZERO_UUID)
        resp.responses.append(out_topic)
        for fp in wanted.partitions:
            pd = FResp.PartitionData(partition_index=fp.partition, high_watermark=-1, last_stable_offset=-1,
                                     log_start_offset=-1, records=b"")
            out_topic.partitions.append(pd)
            if topic is None or not 0 <= fp.partition < len(topic.partitions):
                pd.error_code = ErrorCode.UNKNOWN_TOPIC_ID if version >= 13 else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
                continue
            partition = topic.partitions[fp.partition]
            error = leader_error(ctx, partition)
            if error is not None:
                pd.error_code = error
                continue
            plog = partition.log
            pd.high_watermark = plog.high_watermark
            pd.last_stable_offset = plog.high_watermark
            pd.log_start_offset = plog.log_start_offset
            pd.aborted_transactions = [] if read_committed else None
            if not plog.log_start_offset <= fp.fetch_offset <= plog.high_watermark:
                pd.error_code = ErrorCode.OFFSET_OUT_OF_RANGE
                continue
            room = min(fp.partition_max_bytes, budget - total) if version >= 3 else fp.partition_max_bytes
            data = plog.read(fp.fetch_offset, max(room, 0), first_whole=total == 0) if room > 0 or total == 0 else b""
            if data and version < 4:
                try:
                    data = down_convert(data, 1 if version >= 2 else 0)
                except (EncodeError, DecodeError):
                    pd.error_code = ErrorCode.UNSUPPORTED_COMPRESSION_TYPE
                    data = b""
            pd.records = data
            total += len(data)
    return resp, total


@handles(1)
def fetch(core: BrokerCore, ctx: RequestContext, req: FetchRequest, version: int) -> FetchResponse | Pending:
    if req.session_id != 0:
        return FResp(error_code=ErrorCode.FETCH_SESSION_ID_NOT_FOUND, session_id=0)
    resp, total = _read(core, ctx, req, version)
    if total >= req.min_bytes or req.max_wait_ms <= 0 or _has_errors(resp):
        return resp
    deadline = core.now_ms + req.max_wait_ms
    seen = core.data_version

    def poll(now_ms: int, expired: bool) -> FetchResponse | None:
        nonlocal seen
        if not expired and core.data_version == seen:
            return None
        seen = core.data_version
        again, got = _read(core, ctx, req, version)
        if expired or got >= req.min_bytes or _has_errors(again):
            return again
        return None

    return Pending(deadline, poll)


def _has_errors(resp: FetchResponse) -> bool:
    return any(p.error_code for t in resp.responses for p in t.partitions)
