"""Produce (0): validate each partition's batches, check idempotent sequences, append, acknowledge.

Validation follows Kafka's LogValidator on the raw bytes: a batch that is cut
short or fails its CRC is CORRUPT_MESSAGE; a batch that breaks the producer
rules (offset range, count, control flag) or is not magic 2 at Produce v3+ is
INVALID_RECORD; a batch over message.max.bytes is MESSAGE_TOO_LARGE. Old
Produce versions (v0-2) carry magic 0/1 message sets, which are stored
up-converted to v2. acks=0 gets no response at all; when it fails the
connection is closed instead, as Kafka does.

Idempotence and transactions (``broker.state.producers``, ``broker.state.transactions``):
a batch with a producer id is checked against that producer's epoch and sequences
(duplicates acknowledged at their first offset); a transactional batch must belong to a
partition added to the ongoing transaction of its producer id and epoch (as Kafka's
partition leader verifies with the coordinator, KIP-890): otherwise INVALID_TXN_STATE,
TRANSACTION_ABORTABLE from v11, INVALID_PRODUCER_EPOCH for a fenced producer; v12 with
transaction version 2 adds the partition itself. A plain batch from a producer with a
transaction open in the partition is INVALID_TXN_STATE. The first offset of each open
transaction is recorded: it bounds the last stable offset.

ZooKeeper mode, a transaction another broker process coordinates
(``broker.state.txn_verification``, ``transaction.partition.verification.enable``): the first
transactional batch of a producer's transaction on a partition this broker leads waits
until that coordinator has confirmed the partition is in the transaction (AddPartitionsToTxn
v4 ``verify_only``, sent by the shell; at most ``request.timeout.ms``), and is then appended
only if no marker ended the producer's transaction there meanwhile (the verification guard,
``ProducerTable.start_verification``: else INVALID_TXN_STATE); partitions it refuses
get its error as Kafka's ReplicaManager maps it (INVALID_TXN_STATE, TRANSACTION_ABORTABLE
from v11, INVALID_PRODUCER_EPOCH, NOT_ENOUGH_REPLICAS for a retriable one or no answer) and
nothing is appended to them (acks=0: nothing is answered, a refusal closes the connection).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import bisect
from dataclasses import dataclass

from broker.core import CloseConnection, NoResponse, Pending
from broker.handlers import handles
from broker.handlers._common import leader_error
from broker.state.log import PartitionLog
from broker.state.txn_verification import Verification, produce_error
from wire.errors import DecodeError, UnsupportedVersionError
from wire.kafka.error_codes import ErrorCode
from wire.kafka.legacy_records import up_convert
from wire.kafka.messages.produce import (
    ProduceRequest, ProduceRequest_PartitionProduceData, ProduceResponse, ProduceResponse_PartitionProduceResponse,
)
from wire.kafka.records import (
    NO_PRODUCER_ID, InvalidRecordError, RecordBatch, entry_magic, set_log_append_time, split_batches,
)

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext

log = logging.getLogger("broker.produce")

PResp = ProduceResponse


def _append(core: BrokerCore, ctx: RequestContext, topic_name: str, index: int, records: bytes | None,
            version: int, transactional_id: str | None = None, acks: int = 1,
            waits: list[Wait] | None = None) -> ProduceResponse_PartitionProduceResponse:
    out = PResp.PartitionProduceResponse(index=index, base_offset=-1)
    partition = core.cluster.partition(topic_name, index)
    if partition is None:
        out.error_code = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
        return out
    error = leader_error(ctx, partition)
    if error is not None:
        out.error_code = error
        return out
    log_ = partition.log
    out.log_start_offset = log_.log_start_offset
    if not records:
        out.error_code = ErrorCode.INVALID_RECORD
        return out
    try:
        magic = entry_magic(records)
        if magic != 2:
            if version >= 3:
                raise InvalidRecordError(f"Produce v{version} requires magic 2 batches, got magic {magic}")
            records = up_convert(records)
        batches = split_batches(records)
        max_bytes = _max_message_bytes(core, topic_name, ctx.node_id)
        for batch in batches:
            if len(batch) > max_bytes:
                out.error_code = ErrorCode.MESSAGE_TOO_LARGE
                return out
            batch.validate()
            batch.check_client_batch()
    except InvalidRecordError as exc:
        out.error_code, out.error_message = ErrorCode.INVALID_RECORD, str(exc)
        return out
    except UnsupportedVersionError as exc:
        out.error_code, out.error_message = ErrorCode.INVALID_RECORD, str(exc)
        return out
    except DecodeError as exc:
        log.info("corrupt batch for %s-%d from %s: %s", topic_name, index, ctx.client_id, exc)
        out.error_code = ErrorCode.CORRUPT_MESSAGE
        return out
    if core.zk is not None and acks == -1:
        min_isr = _min_insync_replicas(core, topic_name)
        if len(partition.isr) < min_isr:
            out.error_code = ErrorCode.NOT_ENOUGH_REPLICAS
            out.error_message = (f"The size of the current ISR {partition.isr} is insufficient to satisfy the "
                                 f"min.isr requirement of {min_isr} for partition {topic_name}-{index}")
            return out
    log_append_time = partition_config(core, topic_name, "message.timestamp.type", ctx.node_id) == "LogAppendTime"
    first_base = -1
    required = -1  # the offset the high watermark must reach before acks=all is answered
    appended = False
    for batch in batches:
        h = batch.header
        if h.producer_id != NO_PRODUCER_ID:
            if h.is_transactional:
                code = core.txns.check_produce(transactional_id, h.producer_id, h.producer_epoch, (topic_name, index),
                                               version)
            else:  # (an id another broker handed out is accepted by ProducerTable.check, as Kafka's leaders do)
                code = core.producers.check_transactional(h.producer_id, topic_name, index, False)
            duplicate = None
            if code == ErrorCode.NONE:
                code, duplicate = core.producers.check(h.producer_id, h.producer_epoch, topic_name, index,
                                                       h.base_sequence, h.records_count)
            if code != ErrorCode.NONE:
                out.error_code = code
                break
            if duplicate is not None:
                first_base = duplicate.base_offset if first_base < 0 else first_base
                required = max(required, duplicate.last_offset + 1)
                continue
        data = bytearray(batch.buffer)  # the one copy: its base offset is patched in place
        header = h
        if log_append_time:
            set_log_append_time(data, core.wall_ms())
            header = RecordBatch(data).header  # its max timestamp changed
        base, last = log_.append(data, header, partition.leader_epoch)
        required = max(required, last + 1)
        appended = True
        if h.producer_id != NO_PRODUCER_ID:
            core.producers.record(h.producer_id, h.producer_epoch, topic_name, index, h.base_sequence,
                                  h.records_count, base, last, h.is_transactional, header.max_timestamp)
        if first_base < 0:
            first_base = base
    if appended:  # (batches before a refused one stay appended: make them visible)
        if core.zk is None:  # one process: the replicas share this log
            log_.advance_high_watermark()
        else:  # ZooKeeper mode: the high watermark moves as the ISR replicates (at once without followers)
            from broker.replication.leader import replication

            replication(core).maybe_advance_hw((topic_name, index), partition, core.now_ms)
        log_.maybe_flush(core.now_ms)
        core.appended()
    if out.error_code:
        return out
    if waits is not None and required > log_.high_watermark:
        waits.append(Wait(out, topic_name, index, _epoch_at(log_, required - 1), required))
    out.base_offset = first_base
    if log_append_time:
        out.log_append_time_ms = core.wall_ms()
    return out


def _epoch_at(plog: PartitionLog, offset: int) -> int | None:
    """The partition leader epoch of the batch holding ``offset`` (None: no such batch any more)."""
    i = bisect.bisect_right(plog._bases, offset) - 1
    if i < 0 or i >= len(plog.batches) or plog.batches[i].last_offset < offset:
        return None
    return int.from_bytes(plog.batches[i].data[12:16], "big", signed=True)


@dataclass
class Wait:
    """An acks=all partition answer held until the high watermark reaches ``required``."""

    out: ProduceResponse_PartitionProduceResponse
    topic: str
    index: int
    leader_epoch: int | None  # of the batch holding required - 1 when the wait began
    required: int


def _min_insync_replicas(core: BrokerCore, topic_name: str) -> int:
    try:
        return int(partition_config(core, topic_name, "min.insync.replicas") or 1)
    except ValueError:
        return 1


def _max_message_bytes(core: BrokerCore, topic_name: str, node_id: int) -> int:
    """The topic's max.message.bytes: its override, else this broker's (dynamic or static) message.max.bytes."""
    try:
        return int(partition_config(core, topic_name, "max.message.bytes", node_id) or core.config.message_max_bytes)
    except ValueError:
        return core.config.message_max_bytes


def _settle(core: BrokerCore, ctx: RequestContext, wait: Wait, expired: bool) -> bool:
    """Whether an acks=all answer is decided (its error code set when it failed), as Kafka's
    Partition.checkEnoughReplicasReachOffset: done once the high watermark reaches the appended offsets
    (NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR has meanwhile shrunk below min.insync.replicas),
    NOT_LEADER_OR_FOLLOWER once leadership moved, REQUEST_TIMED_OUT at the deadline."""
    partition = core.cluster.partition(wait.topic, wait.index)
    if (partition is None or partition.leader != ctx.node_id
            or _epoch_at(partition.log, wait.required - 1) != wait.leader_epoch):
        # no longer the leader, or the records were truncated away meanwhile (a new leader epoch with this
        # broker still leading, e.g. after a dead follower left the ISR, keeps the wait going)
        wait.out.error_code = ErrorCode.NOT_LEADER_OR_FOLLOWER
        return True
    if partition.log.high_watermark >= wait.required:
        if len(partition.isr) < _min_insync_replicas(core, wait.topic):
            wait.out.error_code = ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND
        return True
    if expired:
        wait.out.error_code = ErrorCode.REQUEST_TIMED_OUT
        return True
    return False


def partition_config(core: BrokerCore, topic_name: str, key: str, node_id: int | None = None) -> str | None:
    """A topic config in effect on this broker: the topic's override, else the broker's value (None: no topic)."""
    topic = core.cluster.topics.get(topic_name)
    return None if topic is None else core.topic_setting(topic.configs, key, node_id).value


def _unanswered(resp: ProduceResponse) -> CloseConnection | None:
    """acks=0: no response; but a failure closes the connection, so the producer notices and refreshes its
    metadata."""
    failed = [f"{t.name}-{p.index}: {ErrorCode(p.error_code).name}" for t in resp.responses
              for p in t.partition_responses if p.error_code]
    return CloseConnection("acks=0 produce failed: " + ", ".join(failed)) if failed else None


def _needs_verification(core: BrokerCore, ctx: RequestContext, topic_name: str, index: int, records: bytes | None,
                        transactional_id: str | None) -> tuple[int, int] | None:
    """(producer id, epoch) when this partition's batches must first be verified with a transaction coordinator in
    another broker process (Kafka's ReplicaManager: the first transactional batch's producer, unless the partition
    already has an ongoing transaction of it); None otherwise, and for anything ``_append`` refuses anyway."""
    if not records or not core.txns.verifier.remote(transactional_id):
        return None
    partition = core.cluster.partition(topic_name, index)
    if partition is None or leader_error(ctx, partition) is not None:
        return None
    try:
        if entry_magic(records) != 2:
            return None
        batches = split_batches(records)
    except (InvalidRecordError, UnsupportedVersionError, DecodeError):
        return None
    for batch in batches:
        h = batch.header
        if h.producer_id != NO_PRODUCER_ID and h.is_transactional:
            if core.txns.verifier.needed(transactional_id, h.producer_id, (topic_name, index)):
                return h.producer_id, h.producer_epoch
            return None
    return None


def _transactional_producers(req: ProduceRequest) -> set[tuple[int, int]]:
    """(producer id, epoch) of every transactional batch in the request (what cannot be read is left to
    ``_append`` to refuse)."""
    found: set[tuple[int, int]] = set()
    for topic in req.topic_data:
        for pdata in topic.partition_data:
            if not pdata.records:
                continue
            try:
                if entry_magic(pdata.records) != 2:
                    continue
                batches = split_batches(pdata.records)
            except (InvalidRecordError, UnsupportedVersionError, DecodeError):
                continue
            found.update((b.header.producer_id, b.header.producer_epoch) for b in batches
                         if b.header.producer_id != NO_PRODUCER_ID and b.header.is_transactional)
    return found


@handles(0)
def produce(core: BrokerCore, ctx: RequestContext, req: ProduceRequest,
            version: int) -> ProduceResponse | CloseConnection | Pending | None:
    if req.transactional_id is not None and len(_transactional_producers(req)) > 1:
        # Kafka 3.9's ReplicaManager.handleProduceAppend throws InvalidPidMappingException before appending
        # anything: every partition gets the error (acks=0: the connection is closed, as for any acks=0 error)
        if req.acks == 0:
            return CloseConnection("Transactional records contained more than one producer ID")
        return PResp(responses=[PResp.TopicProduceResponse(topic.name, [PResp.PartitionProduceResponse(
            index=p.index, error_code=ErrorCode.INVALID_PRODUCER_ID_MAPPING, base_offset=-1)
            for p in topic.partition_data]) for topic in req.topic_data])
    resp = PResp()
    bad_acks = req.acks not in (-1, 0, 1)
    waits: list[Wait] | None = [] if core.zk is not None and req.acks == -1 else None
    # partitions held for the coordinator's verification: (their answer list, its slot, topic, partition data)
    held: list[tuple[list[ProduceResponse_PartitionProduceResponse], int, str, ProduceRequest_PartitionProduceData]] = []
    producer: tuple[int, int] | None = None
    for topic in req.topic_data:
        parts: list[ProduceResponse_PartitionProduceResponse] = []
        for pdata in topic.partition_data:
            if bad_acks:
                parts.append(PResp.PartitionProduceResponse(index=pdata.index, error_code=ErrorCode.INVALID_REQUIRED_ACKS,
                                                            base_offset=-1))
                continue
            verify = _needs_verification(core, ctx, topic.name, pdata.index, pdata.records, req.transactional_id)
            if verify is not None:  # (one producer: several were refused above)
                producer = verify
                held.append((parts, len(parts), topic.name, pdata))
                parts.append(PResp.PartitionProduceResponse(index=pdata.index, base_offset=-1))
                continue
            parts.append(_append(core, ctx, topic.name, pdata.index, pdata.records, version,
                                 req.transactional_id, req.acks, waits))
        resp.responses.append(PResp.TopicProduceResponse(topic.name, parts))
    if req.acks == 0 and not held:
        return _unanswered(resp)
    if not held and not waits:  # nothing to wait for: the common case answers without building the waits below
        return resp
    verification: Verification | None = None
    guards = []
    if held:
        assert producer is not None and req.transactional_id
        guards = [core.producers.start_verification(producer[0], name, pdata.index) for _, _, name, pdata in held]
        verification = core.txns.verifier.start(req.transactional_id, producer[0], producer[1],
                                                [(name, pdata.index) for _, _, name, pdata in held], version >= 11,
                                                add=version >= 12)
    pending: list[Wait] = list(waits or [])
    answer: Pending | None = None

    def verified(now_ms: int) -> None:
        """The coordinator answered (or not in time): append what it verified, refuse the rest."""
        assert verification is not None
        core.now_ms = now_ms
        late: list[Wait] | None = [] if waits is not None else None
        assert producer is not None
        for (parts, slot, name, pdata), guard in zip(held, guards):
            error = verification.error((name, pdata.index))
            if error == ErrorCode.NONE and not core.producers.guard_holds(producer[0], name, pdata.index, guard):
                # the transaction ended here meanwhile (a marker): Kafka's UnifiedLog refuses the append
                parts[slot] = PResp.PartitionProduceResponse(
                    index=pdata.index, error_code=ErrorCode.INVALID_TXN_STATE, base_offset=-1,
                    error_message=f"Attempting to append a transactional batch of producer {producer[0]} without "
                                  "a valid verification (the transaction ended while it was verified)")
            elif error == ErrorCode.NONE:
                parts[slot] = _append(core, ctx, name, pdata.index, pdata.records, version, req.transactional_id,
                                      req.acks, late)
            else:
                code, message = produce_error(error, epoch_bump=version >= 12)
                parts[slot] = PResp.PartitionProduceResponse(index=pdata.index, error_code=code, base_offset=-1,
                                                             error_message=message)
            core.producers.end_verification(producer[0], name, pdata.index, guard)
        pending.extend(late or [])
        if pending and answer is not None:  # the acks=all wait starts now, with the request's own timeout
            answer.deadline_ms = now_ms + max(0, req.timeout_ms)

    def poll(now_ms: int, expired: bool) -> ProduceResponse | CloseConnection | NoResponse | None:
        nonlocal pending, verification
        if verification is not None:
            if not verification.done and not expired:
                return None
            if not verification.done:  # request.timeout.ms passed without an answer: Kafka's NETWORK_EXCEPTION
                core.txns.verifier.failed(verification)
            verified(now_ms)
            verification = None
            if req.acks == 0:
                return _unanswered(resp) or NoResponse()
            if pending:
                return None
        # ZooKeeper mode, acks=all: answer once the ISR has the records
        pending = [w for w in pending if not _settle(core, ctx, w, expired)]
        return None if pending else resp

    now = poll(core.now_ms, False)
    if now is None:
        deadline = core.config.request_timeout_ms if verification is not None else req.timeout_ms
        answer = Pending(core.now_ms + max(0, deadline), poll)
        return answer
    return None if isinstance(now, NoResponse) else now

