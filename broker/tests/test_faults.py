"""Fault injection in the broker: error responses per API (no execution), drop, stop/start a broker, move a leader."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from broker.config import BrokerConfig
from broker.faults import error_response
from broker.handlers import REGISTRY, load_all
from broker.testing import RunningBroker
from broker.tests.test_core import batch, make_core
from wire.framing import FrameBuffer, frame
from wire.kafka.codec import decode_response, encode_request
from wire.kafka.error_codes import ErrorCode
from wire.kafka.headers import RequestHeader
from wire.kafka.messages.add_partitions_to_txn import AddPartitionsToTxnRequest
from wire.kafka.messages.create_topics import CreateTopicsRequest
from wire.kafka.messages.delete_topics import DeleteTopicsRequest
from wire.kafka.messages.describe_configs import DescribeConfigsRequest
from wire.kafka.messages.end_txn import EndTxnRequest
from wire.kafka.messages.fetch import FetchRequest
from wire.kafka.messages.find_coordinator import FindCoordinatorRequest
from wire.kafka.messages.init_producer_id import InitProducerIdRequest
from wire.kafka.messages.list_offsets import ListOffsetsRequest
from wire.kafka.messages.metadata import MetadataRequest
from wire.kafka.messages.produce import ProduceRequest

E = ErrorCode.NOT_LEADER_OR_FOLLOWER
TID = uuid.UUID(int=7)


def produce_req(topic: str = "t", partitions: tuple[int, ...] = (0, 1), acks: int = 1) -> ProduceRequest:
    return ProduceRequest(acks=acks, timeout_ms=1000, topic_data=[ProduceRequest.TopicProduceData(
        name=topic, partition_data=[ProduceRequest.PartitionProduceData(index=i, records=batch([b"v"]))
                                    for i in partitions])])


REQUESTS: dict[int, Any] = {
    0: produce_req(),
    1: FetchRequest(max_wait_ms=0, topics=[FetchRequest.FetchTopic(topic="t", topic_id=TID, partitions=[
        FetchRequest.FetchPartition(partition=0), FetchRequest.FetchPartition(partition=2)])]),
    2: ListOffsetsRequest(topics=[ListOffsetsRequest.ListOffsetsTopic(name="t", partitions=[
        ListOffsetsRequest.ListOffsetsPartition(partition_index=0, timestamp=-1)])]),
    3: MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name="t")]),
    10: FindCoordinatorRequest(key="g", coordinator_keys=["g"]),
    19: CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(name="t", num_partitions=1,
                                                                        replication_factor=1)]),
    20: DeleteTopicsRequest(topics=[DeleteTopicsRequest.DeleteTopicState(name="t", topic_id=TID)], topic_names=["t"]),
    22: InitProducerIdRequest(transactional_id=None, transaction_timeout_ms=1000),
    24: AddPartitionsToTxnRequest(
        v3_and_below_transactional_id="x", v3_and_below_topics=[
            AddPartitionsToTxnRequest.AddPartitionsToTxnTopic(name="t", partitions=[0, 1])],
        transactions=[AddPartitionsToTxnRequest.AddPartitionsToTxnTransaction(transactional_id="x", topics=[
            AddPartitionsToTxnRequest.AddPartitionsToTxnTopic(name="t", partitions=[0, 1])])]),
    26: EndTxnRequest(transactional_id="x", producer_id=1, producer_epoch=0, committed=True),
    32: DescribeConfigsRequest(resources=[DescribeConfigsRequest.DescribeConfigsResource(
        resource_type=2, resource_name="t", configuration_keys=None)]),
}


def _errors(api_key: int, resp: Any, version: int) -> list[int]:
    """Every error code the response carries where a client looks for it."""
    if api_key == 0:
        return [p.error_code for t in resp.responses for p in t.partition_responses]
    if api_key == 1:
        return [p.error_code for t in resp.responses for p in t.partitions]
    if api_key == 2:
        return [p.error_code for t in resp.topics for p in t.partitions]
    if api_key == 3:
        return [t.error_code for t in resp.topics]
    if api_key == 10:
        return [c.error_code for c in resp.coordinators] if version >= 4 else [resp.error_code]
    if api_key == 19:
        return [t.error_code for t in resp.topics]
    if api_key == 20:
        return [t.error_code for t in resp.responses]
    if api_key in (22, 26):
        return [resp.error_code]
    if api_key == 24:
        return [resp.error_code] if version >= 4 else [p.partition_error_code for t in resp.results_by_topic_v3_and_below
                                                        for p in t.results_by_partition]
    return [r.error_code for r in resp.results]


def _versions() -> Iterator[tuple[int, int]]:
    load_all()
    for key in sorted(REQUESTS):
        reg = REGISTRY[key]
        for v in range(reg.min_version, reg.max_version + 1):
            yield key, v


@pytest.mark.parametrize("api_key,version", list(_versions()))
def test_error_response_encodes_at_every_version(api_key: int, version: int) -> None:
    core = make_core(brokers=3)
    resp = error_response(api_key, version, REQUESTS[api_key], E, core)
    assert resp is not None
    payload = _roundtrip(api_key, version, resp)
    errors = _errors(api_key, payload, version)
    assert errors and all(e == E for e in errors)
    if api_key == 0:
        assert all(p.base_offset == -1 for t in payload.responses for p in t.partition_responses)
        assert [p.index for p in payload.responses[0].partition_responses] == [0, 1]
    if api_key == 1:
        parts = payload.responses[0].partitions
        assert [p.partition_index for p in parts] == [0, 2]
        assert all(p.high_watermark == -1 and not p.records for p in parts)
    if api_key == 3:
        assert sorted(b.node_id for b in payload.brokers) == [1, 2, 3]
        if version >= 1:
            assert payload.controller_id == 1


def _roundtrip(api_key: int, version: int, resp: Any) -> Any:
    from wire.kafka.codec import encode_response
    data = encode_response(9, api_key, version, resp)
    header, body = decode_response(data, api_key, version)
    assert header.correlation_id == 9
    return body


def test_uncovered_api_has_no_error_response() -> None:
    assert error_response(18, 3, object(), E) is None
    assert error_response(44, 0, object(), E) is None


# -- the shell, over real sockets ---------------------------------------------------------------

class Client:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.frames = FrameBuffer()
        self.cid = 0

    def request(self, api_key: int, version: int, body: Any) -> Any:
        self.cid += 1
        header = RequestHeader(api_key, version, self.cid, "faults-test")
        self.sock.sendall(frame(encode_request(header, body)))
        while True:
            payload = self.frames.next_frame()
            if payload is not None:
                _, resp = decode_response(bytes(payload), api_key, version)
                return resp
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed by the broker")
            self.frames.feed(data)

    def close(self) -> None:
        self.sock.close()


def port_of(broker: RunningBroker, node_id: int) -> int:
    return broker.server.ports[broker.config.node_ids.index(node_id)]


def leader_of(broker: RunningBroker, topic: str, partition: int) -> int:
    return broker.leader(topic, partition)[0]


@pytest.fixture
def cluster() -> Iterator[RunningBroker]:
    with RunningBroker(BrokerConfig(port=0, brokers=3)) as b:
        yield b


def _create(c: Client, name: str, partitions: int) -> None:
    r = c.request(19, 5, CreateTopicsRequest(topics=[CreateTopicsRequest.CreatableTopic(
        name=name, num_partitions=partitions, replication_factor=3)]))
    assert r.topics[0].error_code == 0


def test_fail_next_answers_without_executing_then_serves(cluster: RunningBroker) -> None:
    c = Client(port_of(cluster, 1))
    _create(c, "f", 1)
    leader = leader_of(cluster, "f", 0)
    c.close()
    c = Client(port_of(cluster, leader))
    cluster.fail_next(0, E, 1)
    r = c.request(0, 9, produce_req("f", (0,)))
    p = r.responses[0].partition_responses[0]
    assert (p.error_code, p.base_offset) == (E, -1)
    r = c.request(0, 9, produce_req("f", (0,)))
    p = r.responses[0].partition_responses[0]
    assert (p.error_code, p.base_offset) == (0, 0)  # the failed request was never appended
    # an uncovered API under a fail rule closes the connection
    cluster.fail_next(18, E, 1)
    from wire.kafka.messages.api_versions import ApiVersionsRequest
    with pytest.raises((ConnectionError, OSError)):
        c.request(18, 3, ApiVersionsRequest(client_software_name="x", client_software_version="1"))
    c.close()


def test_drop_next_closes_then_serves(cluster: RunningBroker) -> None:
    cluster.drop_next(3, 1)
    c = Client(port_of(cluster, 1))
    with pytest.raises((ConnectionError, OSError)):
        c.request(3, 12, MetadataRequest(topics=None))
    c.close()
    c = Client(port_of(cluster, 1))
    assert len(c.request(3, 12, MetadataRequest(topics=None)).brokers) == 3
    c.close()


def test_stop_and_start_broker(cluster: RunningBroker) -> None:
    c2 = Client(port_of(cluster, 2))
    assert len(c2.request(3, 12, MetadataRequest(topics=None)).brokers) == 3
    cluster.stop_broker(2)
    with pytest.raises((ConnectionError, OSError)):
        c2.request(3, 12, MetadataRequest(topics=None))
    with pytest.raises(OSError):
        Client(port_of(cluster, 2))
    c1 = Client(port_of(cluster, 1))  # the others keep serving, and still list broker 2
    assert len(c1.request(3, 12, MetadataRequest(topics=None)).brokers) == 3
    cluster.stop_broker(2)  # idempotent
    cluster.start_broker(2)
    cluster.start_broker(2)  # idempotent
    c2 = Client(port_of(cluster, 2))
    assert len(c2.request(3, 12, MetadataRequest(topics=None)).brokers) == 3
    c1.close()
    c2.close()


def test_move_leader_bumps_epoch_and_old_leader_refuses(cluster: RunningBroker) -> None:
    c = Client(port_of(cluster, 1))
    _create(c, "m", 1)
    old, epoch = cluster.leader("m", 0)
    new = 1 + (old % 3)
    cluster.move_leader("m", 0, new)
    assert cluster.leader("m", 0) == (new, epoch + 1)
    md = c.request(3, 12, MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name="m")]))
    part = md.topics[0].partitions[0]
    assert (part.leader_id, part.leader_epoch) == (new, epoch + 1)
    c.close()
    c_old, c_new = Client(port_of(cluster, old)), Client(port_of(cluster, new))
    assert c_old.request(0, 9, produce_req("m", (0,))).responses[0].partition_responses[0].error_code == E
    assert c_new.request(0, 9, produce_req("m", (0,))).responses[0].partition_responses[0].error_code == 0
    c_old.close()
    c_new.close()
    with pytest.raises(KeyError):
        cluster.move_leader("m", 5, 1)
