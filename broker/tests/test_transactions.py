"""Idempotence and transactions at the core: coordinator, markers, LSO, aborted lists, timeouts, recovery.

Requests are built and handled as the connection would (``core.handle`` with a
RequestContext), at the versions the clients in CLIENTS.md use and at the version
boundaries where Kafka's error codes change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from broker.config import BrokerConfig
from broker.core import BrokerCore
from broker.state.cluster import BrokerInfo
from broker.state.internal import GROUP_TOPIC, TXN_TOPIC
from broker.state.transactions import TxnState
from broker.tests.test_core import ctx
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.add_offsets_to_txn import AddOffsetsToTxnRequest
from wire.kafka.messages.add_partitions_to_txn import AddPartitionsToTxnRequest as APReq
from wire.kafka.messages.describe_producers import DescribeProducersRequest
from wire.kafka.messages.describe_transactions import DescribeTransactionsRequest
from wire.kafka.messages.end_txn import EndTxnRequest
from wire.kafka.messages.fetch import FetchRequest
from wire.kafka.messages.init_producer_id import InitProducerIdRequest
from wire.kafka.messages.list_offsets import ListOffsetsRequest
from wire.kafka.messages.list_transactions import ListTransactionsRequest
from wire.kafka.messages.produce import ProduceRequest
from wire.kafka.messages.txn_offset_commit import TxnOffsetCommitRequest as TOReq
from wire.kafka.records import BatchBuilder, ControlRecordType, EndTxnMarker, RecordBatch, split_batches

NOW = 1_000_000
TID = "txn-a"


def make_core(brokers: int = 1, data_dir: Path | None = None, **cfg: Any) -> BrokerCore:
    config = BrokerConfig(port=0, brokers=brokers, data_dir=data_dir, transaction_state_log_num_partitions=3,
                          offsets_topic_num_partitions=3, offsets_retention_check_interval_ms=10**12, **cfg)
    core = BrokerCore(config, [BrokerInfo(n, "127.0.0.1", 9000 + n) for n in config.node_ids], now_ms=NOW)
    if "t" not in core.cluster.topics:
        core.cluster.create_topic("t", 2, 1)
    return core


def call(core: BrokerCore, key: int, version: int, req: Any, node: int = 1, now: int = NOW) -> Any:
    return core.handle(ctx(key, version, node), req, now)


def init(core: BrokerCore, tid: str | None = TID, timeout: int = 60_000, pid: int = -1, epoch: int = -1,
         version: int = 4, node: int = 1) -> tuple[int, int, int]:
    r = call(core, 22, version, InitProducerIdRequest(transactional_id=tid, transaction_timeout_ms=timeout,
                                                      producer_id=pid, producer_epoch=epoch), node)
    return r.error_code, r.producer_id, r.producer_epoch


def add(core: BrokerCore, pid: int, epoch: int, parts: list[tuple[str, int]], tid: str = TID,
        version: int = 3) -> list[int]:
    by_topic: dict[str, list[int]] = {}
    for t, p in parts:
        by_topic.setdefault(t, []).append(p)
    r = call(core, 24, version, APReq(v3_and_below_transactional_id=tid, v3_and_below_producer_id=pid,
                                      v3_and_below_producer_epoch=epoch,
                                      v3_and_below_topics=[APReq.AddPartitionsToTxnTopic(t, ps)
                                                           for t, ps in by_topic.items()]))
    return [p.partition_error_code for t in r.results_by_topic_v3_and_below for p in t.results_by_partition]


def end(core: BrokerCore, pid: int, epoch: int, commit: bool, tid: str = TID, version: int = 3,
        now: int = NOW) -> Any:
    return call(core, 26, version, EndTxnRequest(transactional_id=tid, producer_id=pid, producer_epoch=epoch,
                                                 committed=commit), now=now)


def txn_batch(values: list[bytes], pid: int, epoch: int, seq: int, transactional: bool = True) -> bytes:
    b = BatchBuilder(producer_id=pid, producer_epoch=epoch, base_sequence=seq, is_transactional=transactional)
    for v in values:
        b.append(v, None, timestamp=NOW)
    return b.build()


def produce(core: BrokerCore, records: bytes, partition: int = 0, version: int = 9, tid: str | None = TID,
            topic: str = "t") -> Any:
    req = ProduceRequest(transactional_id=tid, acks=-1, timeout_ms=1000, topic_data=[
        ProduceRequest.TopicProduceData(topic, [ProduceRequest.PartitionProduceData(partition, records)])])
    return call(core, 0, version, req).responses[0].partition_responses[0]


def fetch(core: BrokerCore, offset: int = 0, committed: bool = False, partition: int = 0,
          topic: str = "t") -> Any:
    req = FetchRequest(max_wait_ms=0, min_bytes=0, max_bytes=1 << 20, isolation_level=1 if committed else 0,
                       topics=[FetchRequest.FetchTopic(topic=topic, partitions=[FetchRequest.FetchPartition(
                           partition=partition, fetch_offset=offset, partition_max_bytes=1 << 20)])])
    return call(core, 1, 11, req).responses[0].partitions[0]


def data_offsets(pd: Any) -> list[int]:
    return [r.offset for b in split_batches(pd.records or b"") if not b.is_control for r in b.records()]


def markers(core: BrokerCore, topic: str = "t", partition: int = 0) -> list[tuple[int, int, int, bool]]:
    """(offset, producer id, epoch, committed) of every transaction marker in a partition."""
    plog = core.cluster.partition(topic, partition).log  # type: ignore[union-attr]
    out = []
    for b in split_batches(plog.read(0, 1 << 30, upper=plog.next_offset)):
        if b.is_control:
            marker = EndTxnMarker.from_record(b.records()[0])
            out.append((b.base_offset, b.header.producer_id, b.header.producer_epoch, marker.committed))
    return out


def txn_state(core: BrokerCore, tid: str = TID) -> TxnState:
    meta = core.txns.get(tid)
    assert meta is not None
    return meta.state


# -- InitProducerId ---------------------------------------------------------------------------


def test_init_producer_id_bumps_the_epoch_and_fences_the_previous_producer() -> None:
    core = make_core()
    err, pid, epoch = init(core)
    assert (err, epoch) == (0, 0)
    assert init(core) == (0, pid, 1)  # same id, next epoch
    # the old producer (epoch 0) is fenced everywhere, with each version's error code
    assert add(core, pid, 0, [("t", 0)]) == [ErrorCode.PRODUCER_FENCED]
    assert add(core, pid, 0, [("t", 0)], version=1) == [ErrorCode.INVALID_PRODUCER_EPOCH]
    assert end(core, pid, 0, True).error_code == ErrorCode.PRODUCER_FENCED
    assert end(core, pid, 0, True, version=1).error_code == ErrorCode.INVALID_PRODUCER_EPOCH
    assert produce(core, txn_batch([b"z"], pid, 0, 0)).error_code == ErrorCode.INVALID_PRODUCER_EPOCH
    assert add(core, pid + 1, 1, [("t", 0)]) == [ErrorCode.INVALID_PRODUCER_ID_MAPPING]
    assert add(core, pid, 1, [("t", 0)], tid="unknown") == [ErrorCode.INVALID_PRODUCER_ID_MAPPING]


def test_init_producer_id_errors_and_idempotent_producers() -> None:
    core = make_core(brokers=3, transaction_max_timeout_ms=60_000)
    node = core.internal.coordinator(TXN_TOPIC, TID)
    other = next(n for n in (1, 2, 3) if n != node)
    assert init(core, node=other)[0] == ErrorCode.NOT_COORDINATOR
    assert init(core, timeout=60_001, node=node)[0] == ErrorCode.INVALID_TRANSACTION_TIMEOUT
    assert init(core, timeout=0, node=node)[0] == ErrorCode.INVALID_TRANSACTION_TIMEOUT
    assert init(core, tid="", node=node)[0] == ErrorCode.INVALID_REQUEST
    # a null transactional id: any broker, a fresh producer id at epoch 0 every time (KIP-360 included)
    first = init(core, tid=None, node=other)
    again = init(core, tid=None, pid=first[1], epoch=0, node=other)
    assert first[0] == again[0] == 0 and first[2] == again[2] == 0 and again[1] != first[1]


def test_reinit_aborts_the_ongoing_transaction_and_asks_for_a_retry() -> None:
    core = make_core()
    _, pid, epoch = init(core)
    assert add(core, pid, epoch, [("t", 0)]) == [0]
    assert produce(core, txn_batch([b"a", b"b"], pid, epoch, 0)).error_code == 0
    assert init(core) == (ErrorCode.CONCURRENT_TRANSACTIONS, -1, -1)
    assert txn_state(core) == TxnState.COMPLETE_ABORT
    assert markers(core) == [(2, pid, 1, False)]  # aborted under the fencing epoch
    assert init(core) == (0, pid, 2)  # the retry bumps once more
    assert fetch(core, committed=True).last_stable_offset == 3


def test_kip360_resume_retry_and_fencing() -> None:
    core = make_core()
    _, pid, _ = init(core)
    assert init(core, pid=pid, epoch=0) == (0, pid, 1)  # resume after an error: bump
    assert init(core, pid=pid, epoch=0) == (0, pid, 1)  # a retry of that bump: same epoch
    assert init(core, pid=pid + 7, epoch=1) == (ErrorCode.PRODUCER_FENCED, -1, -1)
    assert init(core, pid=pid + 7, epoch=1, version=3)[0] == ErrorCode.INVALID_PRODUCER_EPOCH
    assert init(core, pid=pid, version=4)[0] == ErrorCode.INVALID_REQUEST  # id without epoch
    assert init(core) == (0, pid, 2)  # a new producer fences that one
    assert init(core, pid=pid, epoch=1) == (ErrorCode.PRODUCER_FENCED, -1, -1)


def test_an_exhausted_epoch_rotates_to_a_new_producer_id() -> None:
    core = make_core()
    _, pid, _ = init(core)
    meta = core.txns.get(TID)
    assert meta is not None
    meta.producer_epoch = 32766
    err, new_pid, epoch = init(core)
    assert (err, epoch) == (0, 0) and new_pid != pid
    assert meta.last_producer_id == pid


# -- AddPartitionsToTxn, Produce checks -------------------------------------------------------


def test_transactional_produce_needs_the_partition_in_the_transaction() -> None:
    core = make_core()
    _, pid, epoch = init(core)
    batch = txn_batch([b"a"], pid, epoch, 0)
    assert produce(core, batch).error_code == ErrorCode.INVALID_TXN_STATE
    assert produce(core, batch, version=11).error_code == ErrorCode.TRANSACTION_ABORTABLE
    assert add(core, pid, epoch, [("t", 0), ("nope", 0)]) == [ErrorCode.OPERATION_NOT_ATTEMPTED,
                                                              ErrorCode.UNKNOWN_TOPIC_OR_PARTITION]
    assert add(core, pid, epoch, [("t", 0)]) == [0]
    assert txn_state(core) == TxnState.ONGOING
    assert produce(core, batch).base_offset == 0
    assert produce(core, batch).base_offset == 0  # a retried duplicate: its first offset again
    # a plain batch from a producer with an open transaction here
    plain = txn_batch([b"p"], pid, epoch, 1, transactional=False)
    assert produce(core, plain).error_code == ErrorCode.INVALID_TXN_STATE
    # partition 1 is not in the transaction; Produce v12 (transaction version 2) adds it itself
    assert produce(core, txn_batch([b"b"], pid, epoch, 0), partition=1, version=11).error_code == \
        ErrorCode.TRANSACTION_ABORTABLE
    assert produce(core, txn_batch([b"b"], pid, epoch, 0), partition=1, version=12).error_code == 0
    meta = core.txns.get(TID)
    assert meta is not None and meta.partitions == [("t", 0), ("t", 1)]


def test_transactional_records_of_two_producers_in_one_request_append_nothing() -> None:
    """Kafka 3.9's handleProduceAppend: "Transactional records contained more than one producer ID" before any
    append, for every partition (acks=0: the connection is closed)."""
    from broker.core import CloseConnection

    core = make_core()
    _, pid, epoch = init(core)
    assert add(core, pid, epoch, [("t", 0), ("t", 1)]) == [0, 0]
    parts = [ProduceRequest.PartitionProduceData(0, txn_batch([b"a"], pid, epoch, 0)),
             ProduceRequest.PartitionProduceData(1, txn_batch([b"b"], pid + 1, 0, 0))]
    for acks in (-1, 1):
        resp = call(core, 0, 9, ProduceRequest(transactional_id=TID, acks=acks, timeout_ms=1000,
                                               topic_data=[ProduceRequest.TopicProduceData("t", parts)]))
        assert [(p.index, p.error_code, p.base_offset) for p in resp.responses[0].partition_responses] == \
            [(0, ErrorCode.INVALID_PRODUCER_ID_MAPPING, -1), (1, ErrorCode.INVALID_PRODUCER_ID_MAPPING, -1)]
    assert isinstance(call(core, 0, 9, ProduceRequest(transactional_id=TID, acks=0, timeout_ms=1000,
                                                      topic_data=[ProduceRequest.TopicProduceData("t", parts)])),
                      CloseConnection)
    assert [core.cluster.partition("t", p).log.next_offset for p in (0, 1)] == [0, 0]  # type: ignore[union-attr]
    assert produce(core, txn_batch([b"a"], pid, epoch, 0)).base_offset == 0  # one producer: appended


def test_add_partitions_v4_batches_transactions_and_verifies() -> None:
    core = make_core()
    _, pid, epoch = init(core)
    _, pid_b, epoch_b = init(core, tid="txn-b")
    txn = APReq.AddPartitionsToTxnTransaction
    topics = [APReq.AddPartitionsToTxnTopic("t", [0, 1])]
    req = APReq(transactions=[txn(TID, pid, epoch, False, topics), txn("txn-b", pid_b, epoch_b, True, topics)])
    resp = call(core, 24, 4, req)
    codes = {r.transactional_id: [p.partition_error_code for t in r.topic_results for p in t.results_by_partition]
             for r in resp.results_by_transaction}
    assert codes == {TID: [0, 0], "txn-b": [ErrorCode.TRANSACTION_ABORTABLE] * 2}  # verify only: not added
    resp = call(core, 24, 5, APReq(transactions=[txn(TID, pid, epoch, True, topics),
                                                 txn("txn-b", pid_b, epoch_b, True, topics)]))
    codes = {r.transactional_id: [p.partition_error_code for t in r.topic_results for p in t.results_by_partition]
             for r in resp.results_by_transaction}
    assert codes == {TID: [0, 0], "txn-b": [ErrorCode.TRANSACTION_ABORTABLE] * 2}
    assert txn_state(core, "txn-b") == TxnState.EMPTY


# -- EndTxn and markers -------------------------------------------------------------------------


def test_end_txn_writes_markers_in_every_partition_of_the_transaction() -> None:
    core = make_core()
    _, pid, epoch = init(core)
    assert end(core, pid, epoch, True).error_code == ErrorCode.INVALID_TXN_STATE  # nothing begun
    add(core, pid, epoch, [("t", 0), ("t", 1)])
    produce(core, txn_batch([b"a"], pid, epoch, 0))
    version_before = core.data_version
    assert end(core, pid, epoch, True).error_code == 0
    assert core.data_version > version_before  # parked fetches wake up
    assert markers(core, "t", 0) == [(1, pid, epoch, True)]
    assert markers(core, "t", 1) == [(0, pid, epoch, True)]  # even where nothing was written
    control = split_batches(core.cluster.partition("t", 0).log.read(1, 1 << 20))[0]  # type: ignore[union-attr]
    assert control.is_control and control.is_transactional and control.control_type() == ControlRecordType.COMMIT
    assert txn_state(core) == TxnState.COMPLETE_COMMIT
    assert end(core, pid, epoch, True).error_code == 0  # a retry of the commit
    assert end(core, pid, epoch, False).error_code == ErrorCode.INVALID_TXN_STATE
    # the next transaction continues the sequence, then aborts
    add(core, pid, epoch, [("t", 0)])
    assert produce(core, txn_batch([b"b"], pid, epoch, 1)).base_offset == 2
    assert end(core, pid, epoch, False).error_code == 0
    assert markers(core)[-1] == (3, pid, epoch, False)
    assert end(core, pid, epoch, True).error_code == ErrorCode.INVALID_TXN_STATE


def test_end_txn_v5_bumps_the_epoch_every_transaction() -> None:
    core = make_core()
    _, pid, epoch = init(core)
    add(core, pid, epoch, [("t", 0)])
    produce(core, txn_batch([b"a"], pid, epoch, 0))
    resp = end(core, pid, epoch, True, version=5)
    assert (resp.error_code, resp.producer_id, resp.producer_epoch) == (0, pid, epoch + 1)
    assert markers(core) == [(1, pid, epoch + 1, True)]
    retry = end(core, pid, epoch, True, version=5)
    assert (retry.error_code, retry.producer_epoch) == (0, epoch + 1)
    assert end(core, pid, epoch, True).error_code == ErrorCode.PRODUCER_FENCED  # the old epoch is gone
    empty_abort = end(core, pid, epoch + 1, False, version=5)  # v2 may abort an empty transaction: epoch moves
    assert (empty_abort.error_code, empty_abort.producer_epoch) == (0, epoch + 2)
    add(core, pid, epoch + 2, [("t", 0)])
    assert produce(core, txn_batch([b"b"], pid, epoch + 2, 0), version=12).error_code == 0  # new epoch: seq 0


# -- LSO, read_committed, aborted transactions -------------------------------------------------------


def test_last_stable_offset_and_aborted_transactions_in_fetch() -> None:
    core = make_core()
    _, a, ea = init(core, tid="a")
    _, b, eb = init(core, tid="b")
    produce(core, txn_batch([b"plain"], -1, -1, -1, transactional=False), tid=None)  # 0
    add(core, a, ea, [("t", 0)], tid="a")
    add(core, b, eb, [("t", 0)], tid="b")
    produce(core, txn_batch([b"a1", b"a2"], a, ea, 0), tid="a")  # 1-2
    produce(core, txn_batch([b"b1"], b, eb, 0), tid="b")  # 3
    produce(core, txn_batch([b"a3"], a, ea, 2), tid="a")  # 4
    committed = fetch(core, committed=True)
    assert (committed.high_watermark, committed.last_stable_offset) == (5, 1)
    assert data_offsets(committed) == [0] and committed.aborted_transactions == []
    uncommitted = fetch(core)
    assert data_offsets(uncommitted) == [0, 1, 2, 3, 4] and uncommitted.aborted_transactions is None
    assert uncommitted.last_stable_offset == 1
    assert end(core, a, ea, False, tid="a").error_code == 0  # marker at 5
    assert fetch(core, committed=True).last_stable_offset == 3  # b is still open
    assert end(core, b, eb, True, tid="b").error_code == 0  # marker at 6
    committed = fetch(core, committed=True)
    assert (committed.high_watermark, committed.last_stable_offset) == (7, 7)
    assert data_offsets(committed) == [0, 1, 2, 3, 4]  # the consumer drops the aborted ones itself
    assert [(t.producer_id, t.first_offset) for t in committed.aborted_transactions] == [(a, 1)]
    assert fetch(core, 6, committed=True).aborted_transactions == []  # past the aborted range
    lo = call(core, 2, 5, ListOffsetsRequest(replica_id=-1, isolation_level=1, topics=[
        ListOffsetsRequest.ListOffsetsTopic("t", [ListOffsetsRequest.ListOffsetsPartition(0, timestamp=-1)])]))
    assert lo.topics[0].partitions[0].offset == 7


def test_read_committed_list_offsets_latest_is_the_lso() -> None:
    core = make_core()
    _, pid, epoch = init(core)
    produce(core, txn_batch([b"x"], -1, -1, -1, transactional=False), tid=None)
    add(core, pid, epoch, [("t", 0)])
    produce(core, txn_batch([b"y"], pid, epoch, 0))

    def latest(isolation: int, version: int = 5) -> int:
        r = call(core, 2, version, ListOffsetsRequest(replica_id=-1, isolation_level=isolation, topics=[
            ListOffsetsRequest.ListOffsetsTopic("t", [ListOffsetsRequest.ListOffsetsPartition(0, timestamp=-1)])]))
        return int(r.topics[0].partitions[0].offset)

    assert (latest(1), latest(0), latest(0, version=1)) == (1, 2, 2)


# -- timeouts and expiration --------------------------------------------------------------------


def test_a_transaction_past_its_timeout_is_aborted_and_its_producer_fenced() -> None:
    core = make_core(transaction_abort_timed_out_transaction_cleanup_interval_ms=1000)
    _, pid, epoch = init(core, timeout=5000)
    add(core, pid, epoch, [("t", 0)])
    produce(core, txn_batch([b"a"], pid, epoch, 0))
    assert core.next_deadline() <= NOW + 1000
    core.tick(NOW + 4000)
    assert txn_state(core) == TxnState.ONGOING
    core.tick(NOW + 6000)
    assert txn_state(core) == TxnState.COMPLETE_ABORT
    assert markers(core) == [(1, pid, epoch + 1, False)]
    assert fetch(core, committed=True).last_stable_offset == 2
    assert end(core, pid, epoch, True, now=NOW + 6000).error_code == ErrorCode.PRODUCER_FENCED
    assert produce(core, txn_batch([b"b"], pid, epoch, 1)).error_code == ErrorCode.INVALID_PRODUCER_EPOCH
    assert init(core, pid=pid, epoch=epoch)[0] == ErrorCode.PRODUCER_FENCED


def test_an_idle_transactional_id_expires() -> None:
    core = make_core(transactional_id_expiration_ms=10_000,
                     transaction_abort_timed_out_transaction_cleanup_interval_ms=1000)
    init(core)
    core.tick(NOW + 5000)
    assert core.txns.get(TID) is not None
    core.tick(NOW + 11_000)
    assert core.txns.get(TID) is None
    resp = call(core, 65, 0, DescribeTransactionsRequest(transactional_ids=[TID]))
    assert resp.transaction_states[0].error_code == ErrorCode.TRANSACTIONAL_ID_NOT_FOUND


# -- offsets in transactions ------------------------------------------------------------------------


def txn_offset_commit(core: BrokerCore, pid: int, epoch: int, group: str, offset: int, version: int = 3,
                      node: int = 1) -> int:
    req = TOReq(transactional_id=TID, group_id=group, producer_id=pid, producer_epoch=epoch, topics=[
        TOReq.TxnOffsetCommitRequestTopic("t", [TOReq.TxnOffsetCommitRequestPartition(0, offset, -1, "m")])])
    return int(call(core, 28, version, req, node).topics[0].partitions[0].error_code)


def test_txn_offset_commit_is_visible_only_after_the_commit() -> None:
    core = make_core()
    _, pid, epoch = init(core)
    assert txn_offset_commit(core, pid, epoch, "g", 5) == ErrorCode.INVALID_TXN_STATE  # no AddOffsetsToTxn
    assert txn_offset_commit(core, pid, epoch, "g", 5, version=4) == ErrorCode.TRANSACTION_ABORTABLE
    resp = call(core, 25, 0, AddOffsetsToTxnRequest(transactional_id=TID, producer_id=pid, producer_epoch=epoch,
                                                    group_id="g"))
    assert resp.error_code == 0
    meta = core.txns.get(TID)
    assert meta is not None and meta.partitions == [core.txns.offsets_partition("g")]
    assert meta.partitions[0][0] == GROUP_TOPIC
    assert txn_offset_commit(core, pid, epoch + 1, "g", 5) == ErrorCode.INVALID_PRODUCER_EPOCH
    assert txn_offset_commit(core, pid + 1, epoch, "g", 5) == ErrorCode.INVALID_PRODUCER_ID_MAPPING
    assert txn_offset_commit(core, pid, epoch, "g", 5) == 0
    assert core.offsets.fetch("g", ("t", 0)) is None and core.offsets.is_unstable("g", ("t", 0))
    assert end(core, pid, epoch, True).error_code == 0
    found = core.offsets.fetch("g", ("t", 0))
    assert found is not None and (found.offset, found.metadata) == (5, "m")
    assert not core.offsets.is_unstable("g", ("t", 0))
    # an aborted transaction's offsets never become committed
    call(core, 25, 0, AddOffsetsToTxnRequest(transactional_id=TID, producer_id=pid, producer_epoch=epoch,
                                             group_id="g"))
    assert txn_offset_commit(core, pid, epoch, "g", 9) == 0
    assert end(core, pid, epoch, False).error_code == 0
    found = core.offsets.fetch("g", ("t", 0))
    assert found is not None and found.offset == 5
    # TxnOffsetCommit v5 (transaction version 2) adds the group itself
    assert txn_offset_commit(core, pid, epoch, "g", 7, version=5) == 0
    assert txn_state(core) == TxnState.ONGOING


def test_txn_offset_commit_at_the_wrong_broker() -> None:
    core = make_core(brokers=3)
    node = core.internal.coordinator(GROUP_TOPIC, "g")
    other = next(n for n in (1, 2, 3) if n != node)
    assert txn_offset_commit(core, 1, 0, "g", 5, node=other) == ErrorCode.NOT_COORDINATOR


# -- Describe/ListTransactions, DescribeProducers ------------------------------------------------------


def test_describe_and_list_transactions() -> None:
    core = make_core()
    _, a, ea = init(core, tid="a")
    _, b, _ = init(core, tid="b")
    add(core, a, ea, [("t", 1), ("t", 0)], tid="a")
    resp = call(core, 65, 0, DescribeTransactionsRequest(transactional_ids=["a", "b", "zzz"]))
    sa, sb, sz = resp.transaction_states
    assert (sa.error_code, sa.transaction_state, sa.producer_id, sa.producer_epoch, sa.transaction_timeout_ms) == (
        0, "Ongoing", a, ea, 60_000)
    assert sa.transaction_start_time_ms == NOW and [(t.topic, t.partitions) for t in sa.topics] == [("t", [1, 0])]
    assert (sb.transaction_state, sb.topics, sb.transaction_start_time_ms) == ("Empty", [], -1)
    assert sz.error_code == ErrorCode.TRANSACTIONAL_ID_NOT_FOUND

    def listed(version: int = 1, **filters: Any) -> tuple[list[tuple[str, int, str]], list[str]]:
        r = call(core, 66, version, ListTransactionsRequest(**filters), now=NOW + 500)
        return [(s.transactional_id, s.producer_id, s.transaction_state) for s in r.transaction_states], \
            r.unknown_state_filters

    assert listed() == ([("a", a, "Ongoing"), ("b", b, "Empty")], [])
    assert listed(state_filters=["Ongoing", "Bogus"]) == ([("a", a, "Ongoing")], ["Bogus"])
    assert listed(state_filters=["Bogus"]) == ([], ["Bogus"])
    assert listed(producer_id_filters=[b]) == ([("b", b, "Empty")], [])
    # running longer than the filter: a has run 500 ms; b never started (start time -1), which Kafka's
    # filter (now - start > duration) lets through
    assert listed(duration_filter=100)[0] == [("a", a, "Ongoing"), ("b", b, "Empty")]
    assert listed(duration_filter=1000)[0] == [("b", b, "Empty")]
    assert listed(version=0, duration_filter=1000)[0] == [("a", a, "Ongoing"), ("b", b, "Empty")]


def test_describe_producers_lists_sequences_and_open_transactions() -> None:
    core = make_core()
    idem = init(core, tid=None)[1]
    _, pid, epoch = init(core)
    produce(core, txn_batch([b"i1", b"i2"], idem, 0, 0, transactional=False), tid=None)
    add(core, pid, epoch, [("t", 0)])
    produce(core, txn_batch([b"t1"], pid, epoch, 0))
    resp = call(core, 61, 0, DescribeProducersRequest(topics=[DescribeProducersRequest.TopicRequest("t", [0, 9])]))
    part, missing = resp.topics[0].partitions
    assert missing.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    got = {(s.producer_id, s.producer_epoch, s.last_sequence, s.current_txn_start_offset, s.coordinator_epoch)
           for s in part.active_producers}
    assert got == {(idem, 0, 1, -1, -1), (pid, epoch, 0, 2, -1)}
    end(core, pid, epoch, True)
    resp = call(core, 61, 0, describe_producers_req("t", 0))
    states = {s.producer_id: s for s in resp.topics[0].partitions[0].active_producers}
    assert states[pid].current_txn_start_offset == -1 and states[pid].coordinator_epoch >= 0


def describe_producers_req(topic: str, partition: int) -> DescribeProducersRequest:
    return DescribeProducersRequest(topics=[DescribeProducersRequest.TopicRequest(topic, [partition])])


# -- restart recovery ---------------------------------------------------------------------------------


def test_restart_aborts_in_flight_completes_acknowledged_commits_and_keeps_idempotence(tmp_path: Path) -> None:
    core = make_core(data_dir=tmp_path, flush_messages=1)
    idem = init(core, tid=None)[1]
    assert produce(core, txn_batch([b"i0"], idem, 0, 0, transactional=False), tid=None).base_offset == 0
    # "a": ongoing with data when the broker stops
    _, a, ea = init(core, tid="a")
    add(core, a, ea, [("t", 0)], tid="a")
    produce(core, txn_batch([b"a0", b"a1"], a, ea, 0), tid="a")  # 1-2
    # "c": its commit was acknowledged (PrepareCommit persisted) but the broker stopped before the markers
    _, c, ec = init(core, tid="c")
    add(core, c, ec, [("t", 0)], tid="c")
    call(core, 25, 0, AddOffsetsToTxnRequest(transactional_id="c", producer_id=c, producer_epoch=ec, group_id="g"))
    produce(core, txn_batch([b"c0"], c, ec, 0), tid="c")  # 3
    req = TOReq(transactional_id="c", group_id="g", producer_id=c, producer_epoch=ec, topics=[
        TOReq.TxnOffsetCommitRequestTopic("t", [TOReq.TxnOffsetCommitRequestPartition(0, 42, -1, "")])])
    assert call(core, 28, 3, req).topics[0].partitions[0].error_code == 0
    meta_c = core.txns.get("c")
    assert meta_c is not None
    meta_c.state = TxnState.PREPARE_COMMIT
    core.txns._persist(meta_c)  # the write-ahead record of EndTxn(commit), then a crash
    # "d": committed before the stop
    _, d, ed = init(core, tid="d")
    add(core, d, ed, [("t", 1)], tid="d")
    produce(core, txn_batch([b"d0"], d, ed, 0), partition=1, tid="d")
    end(core, d, ed, True, tid="d")
    assert fetch(core, committed=True).last_stable_offset == 1
    core.close()

    again = make_core(data_dir=tmp_path, flush_messages=1)
    assert txn_state(again, "a") == TxnState.COMPLETE_ABORT
    assert txn_state(again, "c") == TxnState.COMPLETE_COMMIT
    assert txn_state(again, "d") == TxnState.COMPLETE_COMMIT
    assert sorted((pid, committed) for _, pid, _, committed in markers(again)) == [(a, False), (c, True)]
    pd = fetch(again, committed=True)
    assert pd.last_stable_offset == pd.high_watermark == 6
    assert [(t.producer_id, t.first_offset) for t in pd.aborted_transactions] == [(a, 1)]
    found = again.offsets.fetch("g", ("t", 0))
    assert found is not None and found.offset == 42
    # the aborted producer was fenced; its successor gets the next epoch
    assert init(again, tid="a") == (0, a, ea + 2)
    # idempotence survives: a retried batch is a duplicate at its original offset, a gap is refused
    assert produce(again, txn_batch([b"i0"], idem, 0, 0, transactional=False), tid=None).base_offset == 0
    assert produce(again, txn_batch([b"i2"], idem, 0, 5, transactional=False), tid=None).error_code == \
        ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    assert produce(again, txn_batch([b"i1"], idem, 0, 1, transactional=False), tid=None).base_offset == 6
    # new producer ids never reuse one handed out before the restart
    assert init(again, tid=None)[1] > max(idem, a, c, d)
    again.close()

    third = make_core(data_dir=tmp_path, flush_messages=1)  # nothing left to recover: no new markers
    assert len(markers(third)) == 2
    assert fetch(third, committed=True).last_stable_offset == 7
    third.close()


def test_a_transaction_open_in_a_log_that_no_coordinator_knows_is_aborted_on_restart(tmp_path: Path) -> None:
    core = make_core(data_dir=tmp_path, flush_messages=1)
    _, pid, epoch = init(core)
    add(core, pid, epoch, [("t", 0)])
    produce(core, txn_batch([b"x"], pid, epoch, 0))
    core.close()
    # lose the coordinator's records (as if __transaction_state were gone)
    for part in tmp_path.glob(f"{TXN_TOPIC}-*"):
        for seg in part.glob("*.log"):
            seg.write_bytes(b"")
    again = make_core(data_dir=tmp_path, flush_messages=1)
    assert again.txns.get(TID) is None
    assert markers(again) == [(1, pid, epoch, False)]
    assert fetch(again, committed=True).last_stable_offset == 2
    again.close()


def test_control_batches_are_skipped_by_the_internal_replay_and_marker_shape() -> None:
    core = make_core()
    _, pid, epoch = init(core)
    call(core, 25, 0, AddOffsetsToTxnRequest(transactional_id=TID, producer_id=pid, producer_epoch=epoch, group_id="g"))
    assert end(core, pid, epoch, True).error_code == 0
    topic, index = core.txns.offsets_partition("g")
    (offset, mpid, mepoch, committed), = markers(core, topic, index)
    assert (mpid, mepoch, committed) == (pid, epoch, True)
    plog = core.cluster.partition(topic, index).log  # type: ignore[union-attr]
    header = RecordBatch(plog.batches[-1].data).header
    assert header.is_control and header.is_transactional and header.base_offset == offset
    assert list(core.internal.records(GROUP_TOPIC)) == []  # the marker is no coordinator record
    assert core.offsets.fetch("g", ("t", 0)) is None


def test_a_parked_read_committed_fetch_wakes_when_the_transaction_commits() -> None:
    from broker.core import Pending

    core = make_core()
    _, pid, epoch = init(core)
    add(core, pid, epoch, [("t", 0)])
    produce(core, txn_batch([b"a"], pid, epoch, 0))
    req = FetchRequest(max_wait_ms=500, min_bytes=1, max_bytes=1 << 20, isolation_level=1, topics=[
        FetchRequest.FetchTopic(topic="t", partitions=[FetchRequest.FetchPartition(
            partition=0, fetch_offset=0, partition_max_bytes=1 << 20)])])
    parked = call(core, 1, 11, req)
    assert isinstance(parked, Pending)
    assert parked.poll(NOW + 10, False) is None  # nothing new: still waiting
    end(core, pid, epoch, True)
    woken = parked.poll(NOW + 20, False)
    assert woken is not None
    pd = woken.responses[0].partitions[0]
    assert data_offsets(pd) == [0] and pd.last_stable_offset == 2


def test_aborted_transactions_below_the_log_start_are_forgotten() -> None:
    core = make_core()
    _, pid, epoch = init(core)
    for i in range(2):
        add(core, pid, epoch, [("t", 0)])
        produce(core, txn_batch([b"x"], pid, epoch, i))
        end(core, pid, epoch, False)
        if i == 0:
            core.cluster.partition("t", 0).log.delete_before(2)  # type: ignore[union-attr]
    aborted = fetch(core, 2, committed=True).aborted_transactions
    assert [(a.producer_id, a.first_offset) for a in aborted] == [(pid, 2)]
    assert len(core.producers.partitions[("t", 0)].aborted) == 1
