"""Wire rules no client library lets a test observe directly, checked on a raw socket with exact bytes.

* KIP-511: an ApiVersions request at a version the broker does not know (v99)
  gets error UNSUPPORTED_VERSION (35) in the v0 body layout, with response
  header v0, listing only ApiVersions' own range; the connection stays usable.
* acks=0: a Produce with acks=0 gets no response at all, so the next response
  on the connection answers the next request; one that fails (here: sent to a
  broker that does not lead the partition) closes the connection, as Kafka
  does so the producer refreshes its metadata.
* Bytes after a complete request body are ignored (librdkafka sends some);
  FindCoordinator names this broker for groups and transactional ids at every
  version (batched keys from v4), INVALID_REQUEST for other key types.
* Three brokers in one process: Produce, Fetch, ListOffsets, DeleteRecords and
  OffsetForLeaderEpoch for a partition sent to a non-leader answer
  NOT_LEADER_OR_FOLLOWER (6); sent to the leader they succeed.
"""

from __future__ import annotations

import struct

import pytest

from broker.testing import RunningBroker
from compat_tests.kafka.conftest import (
    BASE_TS, RawKafka, Rec, TopicName, broker_address, create_topic, decode, host_port, leaders, stored_records,
)
from wire.kafka.headers import RequestHeader
from wire.kafka.messages.api_versions import ApiVersionsRequest
from wire.kafka.messages.delete_records import DeleteRecordsRequest
from wire.kafka.messages.fetch import FetchRequest
from wire.kafka.messages.find_coordinator import FindCoordinatorRequest
from wire.kafka.messages.list_offsets import ListOffsetsRequest
from wire.kafka.messages.offset_for_leader_epoch import OffsetForLeaderEpochRequest
from wire.kafka.messages.produce import ProduceRequest
from wire.kafka.records import BatchBuilder

NOT_LEADER_OR_FOLLOWER = 6


def batch(values: list[bytes], ts: int = BASE_TS) -> bytes:
    b = BatchBuilder()
    for i, v in enumerate(values):
        b.append(v, b"k%d" % i, [("h", b"v")], timestamp=ts + i)
    return b.build()


def produce_req(topic: str, partition: int, records: bytes, acks: int) -> ProduceRequest:
    return ProduceRequest(acks=acks, timeout_ms=5000, topic_data=[ProduceRequest.TopicProduceData(
        topic, [ProduceRequest.PartitionProduceData(partition, records)])])


def test_api_versions_v99_gets_the_kip511_v0_error_body(bootstrap: str) -> None:
    with RawKafka.to(bootstrap) as raw:
        # a v99 request as a newer client would send it: request header v2 (client id, empty tag buffer)
        header = struct.pack(">hhih", 18, 99, 7, 4) + b"next" + b"\x00"
        raw.send_raw(header + b"\x05newer\x021\x00")  # some v3-style body the broker cannot know
        payload = raw.recv_frame()
        # header v0 (no tag buffer); body v0: error_code, [api_key, min, max] with only ApiVersions; no throttle
        assert len(payload) == 4 + 2 + 4 + 6
        correlation_id, error, count, key, lo, hi = struct.unpack(">ihihhh", payload)
        assert (correlation_id, error, count, key, lo) == (7, 35, 1, 18, 0)
        assert hi >= 3

        # the connection is still open; the client retries at the advertised maximum and gets the full table
        resp = raw.request(18, hi, ApiVersionsRequest(client_software_name="raw", client_software_version="1"))
        assert resp.error_code == 0
        assert {k.api_key: (k.min_version, k.max_version) for k in resp.api_keys}[18] == (0, hi)
        assert {0, 1, 2, 3, 18, 19, 20, 21, 22, 37, 60} <= {k.api_key for k in resp.api_keys}


def test_acks0_produce_gets_no_response(bootstrap: str, topic_name: TopicName) -> None:
    topic = topic_name()
    create_topic(bootstrap, topic)
    with RawKafka.to(bootstrap) as raw:
        raw.send(0, 9, produce_req(topic, 0, batch([b"zero-1", b"zero-2"]), acks=0), correlation_id=100)
        raw.send(18, 3, ApiVersionsRequest(client_software_name="raw", client_software_version="1"), correlation_id=101)
        correlation_id, resp = decode(raw.recv_frame(), 18, 3)
        assert correlation_id == 101 and resp.error_code == 0
        # acks=1 on the same connection is answered, after the acks=0 batch
        raw.send(0, 9, produce_req(topic, 0, batch([b"one"]), acks=1), correlation_id=102)
        correlation_id, resp = decode(raw.recv_frame(), 0, 9)
        assert correlation_id == 102
        part = resp.responses[0].partition_responses[0]
        assert (part.error_code, part.base_offset) == (0, 2)
    assert stored_records(bootstrap, topic, 0) == [
        Rec(0, 0, BASE_TS, b"k0", b"zero-1", (("h", b"v"),)),
        Rec(0, 1, BASE_TS + 1, b"k1", b"zero-2", (("h", b"v"),)),
        Rec(0, 2, BASE_TS, b"k0", b"one", (("h", b"v"),)),
    ]


def test_acks0_produce_that_fails_closes_the_connection(kafka_cluster: RunningBroker,
                                                        topic_name: TopicName) -> None:
    bootstrap = kafka_cluster.bootstrap_servers
    topic = topic_name()
    create_topic(bootstrap, topic, partitions=3)
    leader = leaders(bootstrap, topic)[0]
    follower = next(n for n in (1, 2, 3) if n != leader)
    with RawKafka(*broker_address(bootstrap, follower)) as raw:
        raw.send(0, 9, produce_req(topic, 0, batch([b"lost"]), acks=0))
        raw.send(18, 3, ApiVersionsRequest(client_software_name="raw", client_software_version="1"))
        with pytest.raises(ConnectionError):
            raw.recv_frame()
    assert stored_records(bootstrap, topic, 0) == []


def test_non_leader_answers_not_leader_or_follower(kafka_cluster: RunningBroker,
                                                    topic_name: TopicName) -> None:
    bootstrap = kafka_cluster.bootstrap_servers
    topic = topic_name()
    create_topic(bootstrap, topic, partitions=3, replication=3)
    layout = leaders(bootstrap, topic)
    assert sorted(layout.values()) == [1, 2, 3]  # round-robin leadership

    def requests(partition: int) -> list[tuple[int, int, object]]:
        return [
            (0, 9, produce_req(topic, partition, batch([b"v"]), acks=1)),
            (0, 3, produce_req(topic, partition, batch([b"v"]), acks=-1)),
            (1, 12, FetchRequest(max_wait_ms=0, min_bytes=0, max_bytes=1 << 20, session_epoch=-1, topics=[
                FetchRequest.FetchTopic(topic=topic, partitions=[FetchRequest.FetchPartition(
                    partition=partition, fetch_offset=0, partition_max_bytes=1 << 20)])])),
            (1, 4, FetchRequest(max_wait_ms=0, min_bytes=0, max_bytes=1 << 20, topics=[
                FetchRequest.FetchTopic(topic=topic, partitions=[FetchRequest.FetchPartition(
                    partition=partition, fetch_offset=0, partition_max_bytes=1 << 20)])])),
            (2, 7, ListOffsetsRequest(replica_id=-1, topics=[ListOffsetsRequest.ListOffsetsTopic(
                topic, [ListOffsetsRequest.ListOffsetsPartition(partition, timestamp=-1)])])),
            (2, 1, ListOffsetsRequest(replica_id=-1, topics=[ListOffsetsRequest.ListOffsetsTopic(
                topic, [ListOffsetsRequest.ListOffsetsPartition(partition, timestamp=-2)])])),
            (21, 2, DeleteRecordsRequest(topics=[DeleteRecordsRequest.DeleteRecordsTopic(
                topic, [DeleteRecordsRequest.DeleteRecordsPartition(partition, 0)])], timeout_ms=1000)),
            (23, 4, OffsetForLeaderEpochRequest(replica_id=-1, topics=[
                OffsetForLeaderEpochRequest.OffsetForLeaderTopic(topic, [
                    OffsetForLeaderEpochRequest.OffsetForLeaderPartition(partition, 0, 0)])])),
        ]

    def partition_error(api_key: int, resp: object) -> int:
        if api_key == 0:
            return resp.responses[0].partition_responses[0].error_code  # type: ignore[attr-defined]
        if api_key == 1:
            return resp.responses[0].partitions[0].error_code  # type: ignore[attr-defined]
        return resp.topics[0].partitions[0].error_code  # type: ignore[attr-defined]

    for partition, leader in layout.items():
        for node in (1, 2, 3):
            with RawKafka(*broker_address(bootstrap, node)) as raw:
                for api_key, version, body in requests(partition):
                    code = partition_error(api_key, raw.request(api_key, version, body))
                    want = 0 if node == leader else NOT_LEADER_OR_FOLLOWER
                    assert code == want, (partition, node, leader, api_key, version)
        # only the leader's two produces landed
        assert [r.value for r in stored_records(bootstrap, topic, partition)] == [b"v", b"v"]


def test_api_versions_v0_with_a_null_client_id(bootstrap: str) -> None:
    """ApiVersions v0 with request header v1 and a null client id is served (aiokafka's first request)."""
    with RawKafka.to(bootstrap) as raw:
        out = bytearray()
        RequestHeader(18, 0, 5, None).encode_into(out)
        raw.send_raw(bytes(out))
        correlation_id, resp = decode(raw.recv_frame(), 18, 0)
        assert correlation_id == 5 and resp.error_code == 0


def test_bytes_after_a_request_body_are_ignored(bootstrap: str, topic_name: TopicName) -> None:
    """librdkafka's all-topics Metadata v9+ leaves a 4-byte array-count placeholder where a 1-byte null compact
    array belongs; Kafka reads the body and ignores the 3 bytes left over, and so must we."""
    topic = topic_name()
    create_topic(bootstrap, topic)
    with RawKafka.to(bootstrap) as raw:
        out = bytearray()
        RequestHeader(3, 13, 9, "rdkafka").encode_into(out)
        out += b"\x00\x00\x00\x00" + b"\x01\x00\x00"  # as librdkafka sends it: null topics (all), 3 spare bytes
        raw.send_raw(bytes(out))
        correlation_id, resp = decode(raw.recv_frame(), 3, 13)
        assert correlation_id == 9 and [t.name for t in resp.topics] == [topic]


def test_find_coordinator_names_the_coordinator_at_every_version(bootstrap: str) -> None:
    """Groups (key type 0) and transactional ids (1) are coordinated by this one broker; share groups (2) are
    not enabled and other key types are invalid: INVALID_REQUEST with node -1, as Kafka answers."""
    host, port = host_port(bootstrap)
    with RawKafka.to(bootstrap) as raw:
        for version in (0, 1, 2, 3):
            for key_type in ((0,) if version == 0 else (0, 1, 2, 9)):
                resp = raw.request(10, version, FindCoordinatorRequest(key="g", key_type=key_type))
                if key_type in (0, 1):
                    assert (resp.error_code, resp.node_id, resp.host, resp.port) == (0, 1, host, port)
                else:
                    assert (resp.error_code, resp.node_id, resp.host, resp.port) == (42, -1, "", -1)
        for version in (4, 5, 6):
            resp = raw.request(10, version, FindCoordinatorRequest(key_type=1, coordinator_keys=["a", "b"]))
            assert [(c.key, c.error_code, c.node_id, c.port) for c in resp.coordinators] == [
                ("a", 0, 1, port), ("b", 0, 1, port)]
