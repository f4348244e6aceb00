"""Fetch (1): raw batches from the requested offsets, with the long poll and incremental sessions.

Partitions are named by topic (v0-12) or topic id (v13+). Data is served up to
the high watermark (read_uncommitted) or the last stable offset (read_committed:
the first offset of the earliest open transaction in the partition, else the high
watermark; ``broker.state.producers`` keeps them). read_committed responses (v4+)
list the aborted transactions (producer id, first offset) overlapping the returned
batches, so the consumer drops their records; read_uncommitted ones carry none
(null). One partition's
first batch whole even above partition_max_bytes, as Kafka does. When fewer
than min_bytes are available the handler returns ``Pending`` and the shell polls
again when data arrives or at max_wait_ms. Fetch sessions (KIP-227, v7+) follow
``broker.state.fetch_sessions``. Versions 0-3 get batches down-converted to
magic 0/1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.core import Pending
from broker.handlers import handles
from broker.handlers._common import leader_error
from broker.state.fetch_sessions import FINAL_EPOCH, INITIAL_EPOCH, FetchSession, SessionPartition
from wire.errors import DecodeError, EncodeError
from wire.kafka.error_codes import ErrorCode
from wire.kafka.legacy_records import down_convert
from wire.kafka.messages.fetch import (
    FetchRequest, FetchResponse, FetchResponse_FetchableTopicResponse, FetchResponse_PartitionData,
)
from wire.primitives import ZERO_UUID

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext

FResp = FetchResponse


def _wanted(core: BrokerCore, req: FetchRequest, version: int) -> list[SessionPartition]:
    """The partitions a request names, resolved to topic names (v13+ names topics by id)."""
    out = []
    for t in req.topics:
        if version >= 13:
            topic = core.cluster.by_id.get(t.topic_id)
            name = topic.name if topic is not None else ""
        else:
            name = t.topic
        for p in t.partitions:
            out.append(SessionPartition(name, t.topic_id, p.partition, p.fetch_offset, p.partition_max_bytes))
    return out


def _update_session(core: BrokerCore, session: FetchSession, req: FetchRequest, version: int) -> None:
    for sp in _wanted(core, req, version):
        old = session.partitions.get((sp.topic, sp.partition))
        if old is not None:
            sp.last_hw, sp.last_lso, sp.last_log_start = old.last_hw, old.last_lso, old.last_log_start
        session.partitions[(sp.topic, sp.partition)] = sp
    for forgotten in req.forgotten_topics_data:
        if version >= 13:
            topic = core.cluster.by_id.get(forgotten.topic_id)
            name = topic.name if topic is not None else ""
        else:
            name = forgotten.topic
        for index in forgotten.partitions:
            session.partitions.pop((name, index), None)


def _read_one(core: BrokerCore, ctx: RequestContext, sp: SessionPartition, room: int, first: bool,
              read_committed: bool, version: int, replica: bool = False) -> FetchResponse_PartitionData:
    pd = FResp.PartitionData(partition_index=sp.partition, high_watermark=-1, last_stable_offset=-1,
                             log_start_offset=-1, records=b"")
    topic = core.cluster.topics.get(sp.topic)
    if topic is None or not 0 <= sp.partition < len(topic.partitions) or (
            version >= 13 and topic.topic_id != sp.topic_id):
        pd.error_code = ErrorCode.UNKNOWN_TOPIC_ID if version >= 13 else ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        return pd
    partition = topic.partitions[sp.partition]
    error = leader_error(ctx, partition)
    if error is not None:
        pd.error_code = error
        return pd
    plog = partition.log
    pd.high_watermark = plog.high_watermark
    lso = core.producers.last_stable_offset(sp.topic, sp.partition, plog.high_watermark)
    pd.last_stable_offset = lso
    pd.log_start_offset = plog.log_start_offset
    pd.aborted_transactions = [] if read_committed else None
    if not plog.log_start_offset <= sp.fetch_offset <= plog.next_offset:
        pd.error_code = ErrorCode.OFFSET_OUT_OF_RANGE
        return pd
    upper = plog.next_offset if replica else lso if read_committed else plog.high_watermark
    data = plog.read(sp.fetch_offset, max(room, 0), upper=upper, first_whole=first) if room > 0 or first else b""
    if read_committed and data and core.producers.has_aborted(sp.topic, sp.partition):
        aborted = core.producers.aborted_between(sp.topic, sp.partition, sp.fetch_offset, _end_offset(data))
        pd.aborted_transactions = [FResp.AbortedTransaction(a.producer_id, a.first_offset) for a in aborted]
    if data and version < 4:
        try:
            data = down_convert(data, 1 if version >= 2 else 0)
        except (EncodeError, DecodeError):
            pd.error_code = ErrorCode.UNSUPPORTED_COMPRESSION_TYPE
            data = b""
    pd.records = data
    return pd


def _end_offset(data: bytes) -> int:
    """The offset after the last batch of ``data`` (v2 batches back to back, as the log stores them)."""
    pos = last = 0
    while pos + 12 <= len(data):
        last = pos
        pos += 12 + int.from_bytes(data[pos + 8:pos + 12], "big")
    return int.from_bytes(data[last:last + 8], "big") + int.from_bytes(data[last + 23:last + 27], "big") + 1


Sent = list[tuple[SessionPartition, FetchResponse_PartitionData]]


def _mark_sent(sent: Sent) -> None:
    """Remember what the client has now been told, so the next incremental response carries only news."""
    for sp, pd in sent:
        sp.last_hw, sp.last_lso, sp.last_log_start = pd.high_watermark, pd.last_stable_offset, pd.log_start_offset


def _read(core: BrokerCore, ctx: RequestContext, req: FetchRequest, version: int, parts: list[SessionPartition],
          session: FetchSession | None, incremental: bool, replica: bool = False) -> tuple[FetchResponse, int, Sent]:
    resp = FResp(session_id=session.id if session is not None else 0)
    sent: Sent = []
    total = 0
    budget = req.max_bytes if version >= 3 else 0x7FFFFFFF
    by_topic: dict[str, FetchResponse_FetchableTopicResponse] = {}
    for sp in parts:
        room = min(sp.max_bytes, budget - total) if version >= 3 else sp.max_bytes
        pd = _read_one(core, ctx, sp, room, total == 0, req.isolation_level == 1, version, replica)
        total += len(pd.records or b"")
        news = (pd.error_code != 0 or bool(pd.records) or pd.high_watermark != sp.last_hw
                or pd.last_stable_offset != sp.last_lso or pd.log_start_offset != sp.last_log_start)
        if incremental and not news:
            continue
        sent.append((sp, pd))
        out_topic = by_topic.get(sp.topic)
        if out_topic is None:
            out_topic = FResp.FetchableTopicResponse(topic=sp.topic, topic_id=sp.topic_id if version >= 13 else ZERO_UUID)
            by_topic[sp.topic] = out_topic
            resp.responses.append(out_topic)
        out_topic.partitions.append(pd)
    return resp, total, sent


@handles(1)
def fetch(core: BrokerCore, ctx: RequestContext, req: FetchRequest, version: int) -> FetchResponse | Pending:
    sessions = core.fetch_sessions
    session: FetchSession | None = None
    incremental = False
    if version >= 7 and req.session_epoch == INITIAL_EPOCH:
        # a full fetch that opens a session; with a session id, that old session is closed first (KIP-227),
        # which is how a client starts over after an error or a reconnect
        if req.session_id != 0:
            sessions.close(req.session_id)
        session = sessions.open()
        _update_session(core, session, req, version)
        parts = list(session.partitions.values())
    elif version >= 7 and req.session_id != 0:
        existing = sessions.get(req.session_id)
        if existing is None:
            return FResp(error_code=ErrorCode.FETCH_SESSION_ID_NOT_FOUND, session_id=0)
        if req.session_epoch == FINAL_EPOCH:
            sessions.close(req.session_id)
            parts = _wanted(core, req, version)
        elif req.session_epoch != existing.next_epoch:
            return FResp(error_code=ErrorCode.INVALID_FETCH_SESSION_EPOCH, session_id=0)
        else:
            session = existing
            session.next_epoch = session.next_epoch % 0x7FFFFFFF + 1
            _update_session(core, session, req, version)
            parts = list(session.partitions.values())
            incremental = True
    else:
        parts = _wanted(core, req, version)
    replica_id = req.replica_state.replica_id if version >= 15 else req.replica_id
    replica = replica_id >= 0 and core.zk is not None
    if replica:
        fenced = _follower_fetched(core, ctx, req, version, replica_id)
        if fenced:
            return fenced
    resp, total, sent = _read(core, ctx, req, version, parts, session, incremental, replica)
    if total >= req.min_bytes or req.max_wait_ms <= 0 or _has_errors(resp):
        _mark_sent(sent)
        return resp
    deadline = core.now_ms + req.max_wait_ms
    seen = core.data_version

    def poll(now_ms: int, expired: bool) -> FetchResponse | None:
        nonlocal seen
        if not expired and core.data_version == seen:
            return None
        seen = core.data_version
        again, got, sent_now = _read(core, ctx, req, version, parts, session, incremental, replica)
        if expired or got >= req.min_bytes or _has_errors(again):
            _mark_sent(sent_now)
            return again
        return None

    return Pending(deadline, poll)


def _follower_fetched(core: BrokerCore, ctx: RequestContext, req: FetchRequest, version: int,
                      replica_id: int) -> FetchResponse | None:
    """A follower's Fetch (ZooKeeper mode): check its view of the leader epoch, record its fetch offsets (its
    log end offsets), which may move the ISR and the high watermark. A response when every partition is
    answered with an epoch error, else None (the read goes on; epoch errors are answered per partition)."""
    from broker.replication.leader import replication

    rep = replication(core)
    errors: dict[tuple[str, int], int] = {}
    moved = False
    for t in req.topics:
        topic = core.cluster.by_id.get(t.topic_id) if version >= 13 else core.cluster.topics.get(t.topic)
        if topic is None:
            continue
        for p in t.partitions:
            if not 0 <= p.partition < len(topic.partitions):
                continue
            partition = topic.partitions[p.partition]
            if partition.leader != ctx.node_id:
                continue
            if p.current_leader_epoch >= 0 and p.current_leader_epoch != partition.leader_epoch:
                errors[(topic.name, p.partition)] = (ErrorCode.FENCED_LEADER_EPOCH
                                                     if p.current_leader_epoch < partition.leader_epoch
                                                     else ErrorCode.UNKNOWN_LEADER_EPOCH)
                continue
            moved = rep.follower_fetched((topic.name, p.partition), partition, replica_id, p.fetch_offset,
                                         core.now_ms) or moved
    if moved:
        core.appended()  # acks=all producers and consumers parked on the high watermark look again
    if not errors:
        return None
    resp = FResp()
    for t in req.topics:
        name = t.topic
        if version >= 13:
            topic = core.cluster.by_id.get(t.topic_id)
            name = topic.name if topic is not None else ""
        out = FResp.FetchableTopicResponse(topic=name, topic_id=t.topic_id if version >= 13 else ZERO_UUID)
        for p in t.partitions:
            out.partitions.append(FResp.PartitionData(
                partition_index=p.partition, error_code=errors.get((name, p.partition), ErrorCode.NONE),
                high_watermark=-1, last_stable_offset=-1, log_start_offset=-1, records=b""))
        resp.responses.append(out)
    return resp


def _has_errors(resp: FetchResponse) -> bool:
    return bool(resp.error_code) or any(p.error_code for t in resp.responses for p in t.partitions)
