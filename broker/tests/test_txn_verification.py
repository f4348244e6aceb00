"""KIP-890 verification with a transaction coordinator in another broker process: the pure part.

``broker.state.txn_verification`` with the Produce and TxnOffsetCommit handlers, on a
one-process core whose transactions are made to count as coordinated elsewhere
(``TxnVerifier.remote``), the answers fed in by hand as the shell would: which batches
wait for the coordinator, how its answers become Produce / TxnOffsetCommit errors (Kafka
3.9's AddPartitionsToTxnManager, ReplicaManager and maybeConvertOffsetCommitError), and
that a held answer goes out when the verification is answered and times out otherwise.
The wire side, between real broker shells, is in ``test_zk_txn_verification.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from broker.core import BrokerCore, CloseConnection, NoResponse, Pending
from broker.state.dynamic import broker_config_problem
from broker.state.internal import GROUP_TOPIC
from broker.state.txn_verification import (
    Verification, manager_error, produce_error, txn_offset_commit_error,
)
from broker.tests.test_transactions import NOW, TID, call, init, make_core, txn_batch
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.add_offsets_to_txn import AddOffsetsToTxnRequest
from wire.kafka.messages.add_partitions_to_txn import AddPartitionsToTxnRequest as APReq
from wire.kafka.messages.produce import ProduceRequest
from wire.kafka.messages.txn_offset_commit import TxnOffsetCommitRequest as TOReq

E = ErrorCode


def remote_core(monkeypatch: pytest.MonkeyPatch, **cfg: Any) -> BrokerCore:
    """A core whose transactions all count as coordinated by another broker process (when verification is on)."""
    core = make_core(brokers=3, **cfg)
    verifier = core.txns.verifier
    monkeypatch.setattr(verifier, "remote", lambda tid: bool(tid) and verifier.enabled)
    return core


def coordinator(core: BrokerCore) -> int:
    return core.internal.coordinator("__transaction_state", TID)


def add(core: BrokerCore, pid: int, epoch: int, partition: int) -> int:
    req = APReq(v3_and_below_transactional_id=TID, v3_and_below_producer_id=pid, v3_and_below_producer_epoch=epoch,
                v3_and_below_topics=[APReq.AddPartitionsToTxnTopic("t", [partition])])
    resp = call(core, 24, 3, req, node=coordinator(core))
    return int(resp.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code)


def produce(core: BrokerCore, records: bytes, partition: int = 0, version: int = 9, acks: int = -1) -> Any:
    req = ProduceRequest(transactional_id=TID, acks=acks, timeout_ms=1000, topic_data=[
        ProduceRequest.TopicProduceData("t", [ProduceRequest.PartitionProduceData(partition, records)])])
    leader = core.cluster.partition("t", partition).leader  # type: ignore[union-attr]
    return call(core, 0, version, req, node=leader)


def answer(result: Any, now: int = NOW, expired: bool = False) -> Any:
    assert isinstance(result, Pending)
    return result.poll(now, expired)


def first(resp: Any) -> Any:
    return resp.responses[0].partition_responses[0]


def log_end(core: BrokerCore, partition: int = 0) -> int:
    return core.cluster.partition("t", partition).log.next_offset  # type: ignore[union-attr]


def test_the_mappings_of_verification_answers() -> None:
    # AddPartitionsToTxnManager
    assert manager_error(E.PRODUCER_FENCED, False) == E.INVALID_PRODUCER_EPOCH
    assert manager_error(E.PRODUCER_FENCED, True) == E.INVALID_PRODUCER_EPOCH
    assert manager_error(E.TRANSACTION_ABORTABLE, False) == E.INVALID_TXN_STATE
    assert manager_error(E.TRANSACTION_ABORTABLE, True) == E.TRANSACTION_ABORTABLE
    assert manager_error(E.INVALID_PRODUCER_ID_MAPPING, True) == E.INVALID_PRODUCER_ID_MAPPING
    assert manager_error(E.NONE, False) == E.NONE
    # ReplicaManager.appendRecords: retriable ones become NOT_ENOUGH_REPLICAS, with the underlying error named
    for retriable in (E.CONCURRENT_TRANSACTIONS, E.NETWORK_EXCEPTION, E.COORDINATOR_LOAD_IN_PROGRESS,
                      E.COORDINATOR_NOT_AVAILABLE, E.NOT_COORDINATOR):
        code, message = produce_error(retriable)
        assert code == E.NOT_ENOUGH_REPLICAS and message is not None and message.endswith(retriable.name)
    assert produce_error(E.CONCURRENT_TRANSACTIONS, epoch_bump=True) == (E.CONCURRENT_TRANSACTIONS, None)
    assert produce_error(E.INVALID_TXN_STATE) == (E.INVALID_TXN_STATE, "Partition was not added to the transaction")
    assert produce_error(E.TRANSACTION_ABORTABLE) == (E.TRANSACTION_ABORTABLE, None)
    assert produce_error(E.INVALID_PRODUCER_EPOCH) == (E.INVALID_PRODUCER_EPOCH, None)
    # the group coordinator's maybeConvertOffsetCommitError
    assert txn_offset_commit_error(E.NETWORK_EXCEPTION) == E.COORDINATOR_LOAD_IN_PROGRESS
    assert txn_offset_commit_error(E.NOT_ENOUGH_REPLICAS) == E.COORDINATOR_NOT_AVAILABLE
    assert txn_offset_commit_error(E.NOT_LEADER_OR_FOLLOWER) == E.NOT_COORDINATOR
    for same in (E.NONE, E.INVALID_TXN_STATE, E.TRANSACTION_ABORTABLE, E.INVALID_PRODUCER_EPOCH,
                 E.CONCURRENT_TRANSACTIONS, E.NOT_COORDINATOR, E.COORDINATOR_NOT_AVAILABLE):
        assert txn_offset_commit_error(same) == same


def test_a_verification_answer_maps_per_partition() -> None:
    core = make_core()
    verifier = core.txns.verifier
    v = Verification(TID, 1, 0, [("t", 0), ("t", 1)], 2, abortable_supported=False)
    verifier.answered(v, 0, {("t", 1): E.TRANSACTION_ABORTABLE})
    assert v.errors == {("t", 0): E.NONE, ("t", 1): E.INVALID_TXN_STATE}  # an unlisted partition is verified
    v = Verification(TID, 1, 0, [("t", 0)], 2, abortable_supported=True)
    verifier.answered(v, E.CLUSTER_AUTHORIZATION_FAILED, {})
    assert v.errors == {("t", 0): E.INVALID_TXN_STATE}
    verifier.failed(v)  # too late: the first answer stands
    assert v.errors == {("t", 0): E.INVALID_TXN_STATE}
    v = Verification(TID, 1, 0, [("t", 0)], 2, abortable_supported=True)
    verifier.failed(v)
    assert v.errors == {("t", 0): E.NETWORK_EXCEPTION}
    # codes this broker does not know (a newer coordinator), top-level or per partition: no ValueError
    v = Verification(TID, 1, 0, [("t", 0)], 2, abortable_supported=True)
    verifier.answered(v, 9999, {})
    assert v.errors == {("t", 0): E.UNKNOWN_SERVER_ERROR}
    v = Verification(TID, 1, 0, [("t", 0)], 2, abortable_supported=True)
    verifier.answered(v, 0, {("t", 0): 9999})
    assert v.errors == {("t", 0): E.UNKNOWN_SERVER_ERROR}


def test_the_first_transactional_batch_waits_for_the_coordinator(monkeypatch: pytest.MonkeyPatch) -> None:
    core = remote_core(monkeypatch)
    verifier = core.txns.verifier
    _, pid, epoch = init(core, node=coordinator(core))
    # not added: the coordinator says TRANSACTION_ABORTABLE, which a v9 producer gets as INVALID_TXN_STATE
    held = produce(core, txn_batch([b"a"], pid, epoch, 0))
    assert isinstance(held, Pending) and held.deadline_ms == NOW + core.config.request_timeout_ms
    [v] = verifier.take()
    assert (v.transactional_id, v.producer_id, v.producer_epoch, v.partitions, v.add) == (TID, pid, epoch,
                                                                                          [("t", 0)], False)
    assert v.coordinator == verifier.coordinator(TID) and v.coordinator > 0
    assert answer(held) is None  # no answer yet
    verifier.answered(v, 0, {("t", 0): E.TRANSACTION_ABORTABLE})
    out = first(answer(held))
    assert (out.error_code, out.error_message, out.base_offset) == (E.INVALID_TXN_STATE,
                                                                   "Partition was not added to the transaction", -1)
    assert log_end(core) == 0  # nothing written
    # v11 knows TRANSACTION_ABORTABLE
    held = produce(core, txn_batch([b"a"], pid, epoch, 0), version=11)
    [v] = verifier.take()
    verifier.answered(v, 0, {("t", 0): E.TRANSACTION_ABORTABLE})
    assert first(answer(held)).error_code == E.TRANSACTION_ABORTABLE
    # a fenced producer
    held = produce(core, txn_batch([b"a"], pid, epoch, 0))
    [v] = verifier.take()
    verifier.answered(v, 0, {("t", 0): E.PRODUCER_FENCED})
    assert first(answer(held)).error_code == E.INVALID_PRODUCER_EPOCH
    # a coordinator that is busy completing the transaction: retriable
    held = produce(core, txn_batch([b"a"], pid, epoch, 0))
    [v] = verifier.take()
    verifier.answered(v, 0, {("t", 0): E.CONCURRENT_TRANSACTIONS})
    assert first(answer(held)).error_code == E.NOT_ENOUGH_REPLICAS
    assert log_end(core) == 0
    # verified: appended once the answer is in; the next batch of the transaction is not verified again
    assert add(core, pid, epoch, 0) == 0  # (the local coordinator also has it: the append checks it)
    held = produce(core, txn_batch([b"a"], pid, epoch, 0))
    [v] = verifier.take()
    verifier.answered(v, 0, {})
    out = first(answer(held))
    assert (out.error_code, out.base_offset) == (0, 0) and log_end(core) == 1
    out = first(produce(core, txn_batch([b"b"], pid, epoch, 1)))
    assert (out.error_code, out.base_offset) == (0, 1) and verifier.take() == []


def test_a_marker_written_while_verifying_voids_the_verification(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kafka's VerificationGuard: the coordinator said yes, but the transaction ended in the partition before
    the answer came (its marker was written): the batch is not appended, so no transaction is left hanging."""
    core = remote_core(monkeypatch)
    verifier = core.txns.verifier
    _, pid, epoch = init(core, node=coordinator(core))
    held = produce(core, txn_batch([b"a"], pid, epoch, 0))
    [v] = verifier.take()
    assert core.txns.write_marker("t", 0, pid, epoch, False, 0)  # the abort marker, as by WriteTxnMarkers
    end = log_end(core)
    verifier.answered(v, 0, {})
    out = first(answer(held))
    assert out.error_code == E.INVALID_TXN_STATE and log_end(core) == end
    assert core.producers.guards == {} and core.producers.open_transactions("t", 0) == {}
    # two verifications in flight share the guard; the first append lets the second through (transaction open)
    assert add(core, pid, epoch, 0) == 0
    one = produce(core, txn_batch([b"a"], pid, epoch, 0))
    two = produce(core, txn_batch([b"b"], pid, epoch, 1))
    v1, v2 = verifier.take()
    assert len(core.producers.guards) == 1
    verifier.answered(v1, 0, {})
    assert first(answer(one)).error_code == 0
    verifier.answered(v2, 0, {})
    assert first(answer(two)).error_code == 0 and core.producers.guards == {}


def test_no_answer_within_the_request_timeout_is_retriable(monkeypatch: pytest.MonkeyPatch) -> None:
    core = remote_core(monkeypatch, request_timeout_ms=2000)
    verifier = core.txns.verifier
    _, pid, epoch = init(core, node=coordinator(core))
    held = produce(core, txn_batch([b"a"], pid, epoch, 0))
    assert isinstance(held, Pending) and held.deadline_ms == NOW + 2000
    [v] = verifier.take()
    out = first(answer(held, NOW + 2000, expired=True))
    assert out.error_code == E.NOT_ENOUGH_REPLICAS and "NETWORK_EXCEPTION" in out.error_message
    assert v.errors == {("t", 0): E.NETWORK_EXCEPTION} and log_end(core) == 0
    verifier.answered(v, 0, {})  # a late answer changes nothing
    assert v.errors == {("t", 0): E.NETWORK_EXCEPTION}
    # no live coordinator: answered at once (Kafka's getTransactionCoordinator: COORDINATOR_NOT_AVAILABLE)
    monkeypatch.setattr(verifier, "coordinator", lambda tid: -1)
    out = first(produce(core, txn_batch([b"a"], pid, epoch, 0)))
    assert out.error_code == E.NOT_ENOUGH_REPLICAS and "COORDINATOR_NOT_AVAILABLE" in out.error_message
    assert verifier.take() == []


def test_what_is_not_verified(monkeypatch: pytest.MonkeyPatch) -> None:
    core = remote_core(monkeypatch)
    verifier = core.txns.verifier
    _, pid, epoch = init(core, node=coordinator(core))
    # an idempotent (not transactional) batch
    plain = txn_batch([b"p"], pid + 100, 0, 0, transactional=False)
    assert first(produce(core, plain)).error_code == 0 and verifier.take() == []
    # acks=0: held as well, then no response, or the connection closed for a refusal (as for any acks=0 failure)
    held = produce(core, txn_batch([b"a"], pid, epoch, 0), partition=1, acks=0)
    [v] = verifier.take()
    verifier.answered(v, 0, {("t", 1): E.TRANSACTION_ABORTABLE})
    closed = answer(held)
    assert isinstance(closed, CloseConnection) and "INVALID_TXN_STATE" in closed.reason
    assert add(core, pid, epoch, 1) == 0
    held = produce(core, txn_batch([b"a"], pid, epoch, 0), partition=1, acks=0)
    [v] = verifier.take()
    verifier.answered(v, 0, {})
    assert isinstance(answer(held), NoResponse) and log_end(core, 1) == 1
    monkeypatch.setattr(verifier, "coordinator", lambda tid: -1)  # answered at once: closed at once
    assert isinstance(produce(core, txn_batch([b"b"], pid + 1, epoch, 0), partition=0, acks=0), CloseConnection)
    monkeypatch.undo()
    monkeypatch.setattr(verifier, "remote", lambda tid: bool(tid) and verifier.enabled)
    # a partition this broker does not lead: NOT_LEADER_OR_FOLLOWER as before
    req = ProduceRequest(transactional_id=TID, acks=-1, timeout_ms=1000, topic_data=[
        ProduceRequest.TopicProduceData("t", [ProduceRequest.PartitionProduceData(0, txn_batch([b"a"], pid, epoch, 0))])])
    leader = core.cluster.partition("t", 0).leader  # type: ignore[union-attr]
    other = next(n for n in (1, 2, 3) if n != leader)
    assert first(call(core, 0, 9, req, node=other)).error_code == E.NOT_LEADER_OR_FOLLOWER
    assert verifier.take() == []


def test_verification_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    core = remote_core(monkeypatch, extra={"transaction.partition.verification.enable": "false"})
    assert not core.txns.verifier.enabled
    _, pid, epoch = init(core, node=coordinator(core))
    assert add(core, pid, epoch, 0) == 0
    out = first(produce(core, txn_batch([b"a"], pid, epoch, 0)))
    assert out.error_code == 0 and core.txns.verifier.take() == []
    core.dynamic.default["transaction.partition.verification.enable"] = "true"  # dynamic values win
    assert core.txns.verifier.enabled
    core.dynamic.brokers[1] = {"transaction.partition.verification.enable": "false"}  # this broker's own first
    assert not core.txns.verifier.enabled
    # a dynamic value is validated as Kafka's ConfigDef BOOLEAN
    assert broker_config_problem({"transaction.partition.verification.enable": "FALSE"}) is None
    assert broker_config_problem({"transaction.partition.verification.enable": "maybe"}) == (
        "Invalid value maybe for configuration transaction.partition.verification.enable: Expected value to be "
        "either true or false")


def txn_offset_commit(core: BrokerCore, pid: int, epoch: int, group: str, version: int = 3) -> Any:
    req = TOReq(transactional_id=TID, group_id=group, producer_id=pid, producer_epoch=epoch, topics=[
        TOReq.TxnOffsetCommitRequestTopic("t", [TOReq.TxnOffsetCommitRequestPartition(0, 5, -1, "m")])])
    return call(core, 28, version, req, node=core.internal.coordinator(GROUP_TOPIC, group))


def commit_error(resp: Any) -> int:
    return int(resp.topics[0].partitions[0].error_code)


def test_a_txn_offset_commit_waits_for_the_coordinator(monkeypatch: pytest.MonkeyPatch) -> None:
    core = remote_core(monkeypatch)
    verifier = core.txns.verifier
    _, pid, epoch = init(core, node=coordinator(core))
    held = txn_offset_commit(core, pid, epoch, "g")
    [v] = verifier.take()
    assert v.partitions == [core.txns.offsets_partition("g")]
    assert answer(held) is None
    verifier.answered(v, 0, {v.partitions[0]: E.TRANSACTION_ABORTABLE})
    assert commit_error(answer(held)) == E.INVALID_TXN_STATE
    held = txn_offset_commit(core, pid, epoch, "g", version=4)
    [v] = verifier.take()
    verifier.answered(v, 0, {v.partitions[0]: E.TRANSACTION_ABORTABLE})
    assert commit_error(answer(held)) == E.TRANSACTION_ABORTABLE
    held = txn_offset_commit(core, pid, epoch, "g")
    [v] = verifier.take()
    verifier.answered(v, 0, {v.partitions[0]: E.PRODUCER_FENCED})
    assert commit_error(answer(held)) == E.INVALID_PRODUCER_EPOCH
    held = txn_offset_commit(core, pid, epoch, "g")
    verifier.take()
    assert commit_error(answer(held, NOW + 30_000, expired=True)) == E.COORDINATOR_LOAD_IN_PROGRESS
    assert not core.offsets.is_unstable("g", ("t", 0))  # nothing stored
    # verified: the offsets wait for the transaction; the next commit of it is not verified again
    resp = call(core, 25, 0, AddOffsetsToTxnRequest(transactional_id=TID, producer_id=pid, producer_epoch=epoch,
                                                    group_id="g"), node=coordinator(core))
    assert resp.error_code == 0
    held = txn_offset_commit(core, pid, epoch, "g")
    [v] = verifier.take()
    core.txns.write_marker(*v.partitions[0], pid, epoch, False, 0)  # a marker while it is verified: void
    verifier.answered(v, 0, {})
    assert commit_error(answer(held)) == E.INVALID_TXN_STATE and not core.offsets.is_unstable("g", ("t", 0))
    held = txn_offset_commit(core, pid, epoch, "g")
    [v] = verifier.take()
    verifier.answered(v, 0, {})
    assert commit_error(answer(held)) == 0 and core.offsets.is_unstable("g", ("t", 0))
    assert core.producers.guards == {}
    assert commit_error(txn_offset_commit(core, pid, epoch, "g")) == 0 and verifier.take() == []


def test_a_poll_that_fails_costs_its_connection_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A held answer is finished in the shell (a verified Produce appends in its poll): a bug there closes that
    connection, as a bug in a handler does, and the broker goes on serving."""
    import dataclasses

    import trio

    from broker.config import BrokerConfig
    from broker.handlers import REGISTRY
    from broker.replication.client import KafkaConnection
    from broker.testing import RunningBroker
    from wire.kafka.messages.api_versions import ApiVersionsRequest

    def broken(now_ms: int, expired: bool) -> Any:
        raise RuntimeError("a bug in a poll")

    monkeypatch.setitem(REGISTRY, 0, dataclasses.replace(REGISTRY[0], handler=lambda *a: Pending(0, broken)))
    with RunningBroker(BrokerConfig(port=0)) as broker:
        host, port = broker.bootstrap_servers.split(":")

        async def go(api_key: int, version: int, body: Any) -> Any:
            conn = await KafkaConnection.open(host, int(port), "poll-bug")
            try:
                return await conn.request(api_key, version, body)
            finally:
                await conn.aclose()

        with pytest.raises(trio.BrokenResourceError):
            trio.run(go, 0, 9, ProduceRequest(acks=1, timeout_ms=1000))
        assert trio.run(go, 18, 3, ApiVersionsRequest()).error_code == 0
