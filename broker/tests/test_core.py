"""BrokerCore and BrokerConnection without sockets: produce/fetch, idempotence, long polls, KIP-511, bad input."""

from __future__ import annotations

from typing import Any

from broker.config import BrokerConfig
from broker.connection import BrokerConnection, Close, Incoming, Reply
from broker.core import BrokerCore, CloseConnection, Pending, RequestContext
from broker.state.cluster import BrokerInfo
from wire.framing import FrameBuffer, frame
from wire.kafka.codec import decode_response, encode_request
from wire.kafka.error_codes import ErrorCode
from wire.kafka.headers import RequestHeader
from wire.kafka.messages.api_versions import ApiVersionsRequest, ApiVersionsResponse
from wire.kafka.messages.fetch import FetchRequest
from wire.kafka.messages.produce import ProduceRequest
from wire.kafka.records import BatchBuilder, CompressionType, split_batches


def make_core(brokers: int = 1, **cfg: Any) -> BrokerCore:
    config = BrokerConfig(port=0, brokers=brokers, **cfg)
    return BrokerCore(config, [BrokerInfo(n, "127.0.0.1", 9000 + n) for n in config.node_ids])


def ctx(key: int, version: int, node_id: int = 1) -> RequestContext:
    return RequestContext(node_id, RequestHeader(key, version, 1, "test"))


def batch(values: list[bytes], pid: int = -1, epoch: int = -1, seq: int = -1,
          compression: CompressionType = CompressionType.NONE) -> bytes:
    b = BatchBuilder(base_offset=0, compression=compression, producer_id=pid, producer_epoch=epoch,
                     base_sequence=seq)
    for v in values:
        b.append(v, b"k", timestamp=1000)
    return b.build()


def produce(core: BrokerCore, topic: str, records: bytes, acks: int = 1, partition: int = 0,
            version: int = 9, node_id: int = 1) -> Any:
    req = ProduceRequest(acks=acks, timeout_ms=1000, topic_data=[ProduceRequest.TopicProduceData(
        topic, [ProduceRequest.PartitionProduceData(partition, records)])])
    return core.handle(ctx(0, version, node_id), req, 0)


def fetch_req(topic: str, offset: int, max_wait: int = 0, min_bytes: int = 1) -> FetchRequest:
    return FetchRequest(max_wait_ms=max_wait, min_bytes=min_bytes, max_bytes=1 << 20, isolation_level=0,
                        topics=[FetchRequest.FetchTopic(topic=topic, partitions=[
                            FetchRequest.FetchPartition(partition=0, fetch_offset=offset, partition_max_bytes=1 << 20)])])


def test_produce_then_fetch_returns_the_same_bytes_with_offsets() -> None:
    core = make_core()
    core.cluster.create_topic("t", 1, 1)
    first = produce(core, "t", batch([b"a", b"b"], compression=CompressionType.GZIP))
    second = produce(core, "t", batch([b"c"]))
    assert first.responses[0].partition_responses[0].base_offset == 0
    assert second.responses[0].partition_responses[0].base_offset == 2
    resp = core.handle(ctx(1, 12), fetch_req("t", 1), 0)
    part = resp.responses[0].partitions[0]
    assert (part.error_code, part.high_watermark) == (0, 3)
    offsets = [r.offset for b in split_batches(part.records) for r in b.records()]
    assert offsets == [0, 1, 2]  # the batch containing offset 1 is served whole, as Kafka does


def test_produce_errors() -> None:
    core = make_core(message_max_bytes=200)
    core.cluster.create_topic("t", 1, 1)
    bad_crc = bytearray(batch([b"x"]))
    bad_crc[-1] ^= 0xFF
    assert produce(core, "t", bytes(bad_crc)).responses[0].partition_responses[0].error_code == ErrorCode.CORRUPT_MESSAGE
    big = batch([b"y" * 500])
    assert produce(core, "t", big).responses[0].partition_responses[0].error_code == ErrorCode.MESSAGE_TOO_LARGE
    assert produce(core, "nope", batch([b"z"])).responses[0].partition_responses[0].error_code == \
        ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert produce(core, "t", batch([b"z"]), acks=2).responses[0].partition_responses[0].error_code == \
        ErrorCode.INVALID_REQUIRED_ACKS
    assert produce(core, "t", batch([b"z"]), acks=0) is None  # no response at all


def test_idempotent_retries_are_acknowledged_once_and_gaps_refused() -> None:
    core = make_core()
    core.cluster.create_topic("t", 1, 1)
    pid, epoch = core.producers.init_producer(None)
    ok = produce(core, "t", batch([b"a", b"b"], pid, epoch, 0))
    retry = produce(core, "t", batch([b"a", b"b"], pid, epoch, 0))
    assert ok.responses[0].partition_responses[0].base_offset == 0
    assert retry.responses[0].partition_responses[0].base_offset == 0  # duplicate: original offset
    assert core.cluster.partition("t", 0).log.next_offset == 2
    gap = produce(core, "t", batch([b"c"], pid, epoch, 5))
    assert gap.responses[0].partition_responses[0].error_code == ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    # a producer id this broker never handed out (another broker did): accepted, its state starts here
    unknown = produce(core, "t", batch([b"c"], 999_999, 0, 7))
    assert unknown.responses[0].partition_responses[0].error_code == 0
    again = produce(core, "t", batch([b"c"], 999_999, 0, 7))
    assert again.responses[0].partition_responses[0].base_offset == unknown.responses[0].partition_responses[0].base_offset


def test_long_poll_waits_for_data_or_deadline() -> None:
    core = make_core()
    core.cluster.create_topic("t", 1, 1)
    pending = core.handle(ctx(1, 12), fetch_req("t", 0, max_wait=500), 100)
    assert isinstance(pending, Pending) and pending.deadline_ms == 600
    assert pending.poll(200, False) is None  # nothing new
    produce(core, "t", batch([b"late"]))
    got = pending.poll(300, False)
    assert got is not None and got.responses[0].partitions[0].records
    empty = core.handle(ctx(1, 12), fetch_req("t", 1, max_wait=500), 0)
    assert isinstance(empty, Pending)
    expired = empty.poll(500, True)
    assert expired is not None and expired.responses[0].partitions[0].records == b""


def test_non_leader_gets_not_leader_or_follower() -> None:
    core = make_core(brokers=3)
    topic = core.cluster.create_topic("t", 3, 1)
    leaders = {p.index: p.leader for p in topic.partitions}
    assert sorted(leaders.values()) == [1, 2, 3]
    wrong = next(n for n in (1, 2, 3) if n != leaders[0])
    resp = produce(core, "t", batch([b"x"]), partition=0, node_id=wrong)
    assert resp.responses[0].partition_responses[0].error_code == ErrorCode.NOT_LEADER_OR_FOLLOWER
    right = produce(core, "t", batch([b"x"]), partition=0, node_id=leaders[0])
    assert right.responses[0].partition_responses[0].error_code == 0


def _decode_frames(data: bytes) -> list[bytes]:
    fb = FrameBuffer()
    fb.feed(data)
    out = []
    while (f := fb.next_frame()) is not None:
        out.append(f)
    return out


def test_kip511_unknown_api_versions_version_gets_a_v0_error_body() -> None:
    make_core()
    conn = BrokerConnection(node_id=1)
    assert RequestHeader(18, 99, 42, "future").version == 2  # a version newer than any: still header v2
    raw = bytearray(b"\x00\x12\x00\x63\x00\x00\x00\x2a\x00\x06future\x00")  # key 18, v99, corr 42, client id, tags
    conn.receive_data(frame(bytes(raw)))
    event = conn.next_event()
    assert isinstance(event, Reply)
    (body,) = _decode_frames(event.data)
    header, resp = decode_response(body, 18, 0)
    assert header.correlation_id == 42
    assert isinstance(resp, ApiVersionsResponse) and resp.error_code == ErrorCode.UNSUPPORTED_VERSION
    assert [(k.api_key, k.min_version) for k in resp.api_keys] == [(18, 0)]


def test_malformed_and_unknown_requests_close_only_that_connection() -> None:
    make_core()
    conn = BrokerConnection(node_id=1)
    conn.receive_data(frame(b"\x00\x03\x00\x0c\x00"))  # a truncated Metadata header
    assert isinstance(conn.next_event(), Close)
    other = BrokerConnection(node_id=1)
    other.receive_data(frame(encode_request(RequestHeader(18, 3, 1, "c"), ApiVersionsRequest("c", "1"))))
    assert isinstance(other.next_event(), Incoming)
    unknown = BrokerConnection(node_id=1)
    unknown.receive_data(frame(b"\x7f\x00\x00\x00\x00\x00\x00\x01\x00\x00"))  # API key 32512
    assert isinstance(unknown.next_event(), Close)
    huge = BrokerConnection(node_id=1, max_request=100)
    huge.receive_data((1000).to_bytes(4, "big"))
    assert isinstance(huge.next_event(), Close)


def test_api_versions_advertises_only_registered_handlers() -> None:
    core = make_core()
    resp = core.handle(ctx(18, 3), ApiVersionsRequest("c", "1"), 0)
    keys = {k.api_key: (k.min_version, k.max_version) for k in resp.api_keys}
    from broker.handlers import REGISTRY
    # without ZooKeeper (a KRaft broker's listener): everything registered but ControlledShutdown
    assert set(keys) == {key for key, reg in REGISTRY.items() if reg.exposed(False)} == set(REGISTRY) - {7}
    # a ZooKeeper-mode broker: everything but DescribeTopicPartitions (a KRaft-only API in 3.9)
    assert {key for key, reg in REGISTRY.items() if reg.exposed(True)} == set(REGISTRY) - {75}
    assert isinstance(core.handle(ctx(7, 3), None, 0), CloseConnection)  # not served here: the connection goes
    assert keys[0] == (0, 12) and keys[1] == (0, 17) and keys[3] == (0, 13)
    assert 71 not in keys and 72 not in keys  # no telemetry unless implemented


def test_incremental_fetch_sessions_send_only_news() -> None:
    core = make_core()
    core.cluster.create_topic("a", 1, 1)
    core.cluster.create_topic("b", 1, 1)
    produce(core, "a", batch([b"a0"]))
    req = FetchRequest(max_wait_ms=0, min_bytes=0, max_bytes=1 << 20, session_id=0, session_epoch=0, topics=[
        FetchRequest.FetchTopic(topic=t, partitions=[FetchRequest.FetchPartition(partition=0, fetch_offset=0,
                                                                                 partition_max_bytes=1 << 20)])
        for t in ("a", "b")])
    full = core.handle(ctx(1, 12), req, 0)
    assert full.session_id != 0 and {t.topic for t in full.responses} == {"a", "b"}
    # next epoch: the client moved past a0 on "a"; with no news, nothing comes back
    moved = FetchRequest(max_wait_ms=0, min_bytes=0, max_bytes=1 << 20, session_id=full.session_id, session_epoch=1,
                         topics=[FetchRequest.FetchTopic(topic="a", partitions=[FetchRequest.FetchPartition(
                             partition=0, fetch_offset=1, partition_max_bytes=1 << 20)])])
    assert core.handle(ctx(1, 12), moved, 0).responses == []
    nothing = FetchRequest(max_wait_ms=0, min_bytes=0, max_bytes=1 << 20, session_id=full.session_id, session_epoch=1)
    produce(core, "b", batch([b"b0"]))
    nothing.session_epoch = 2
    news = core.handle(ctx(1, 12), nothing, 0)
    assert [t.topic for t in news.responses] == ["b"] and news.responses[0].partitions[0].high_watermark == 1
    nothing.session_epoch = 9
    assert core.handle(ctx(1, 12), nothing, 0).error_code == ErrorCode.INVALID_FETCH_SESSION_EPOCH
    nothing.session_id, nothing.session_epoch = 424242, 1
    assert core.handle(ctx(1, 12), nothing, 0).error_code == ErrorCode.FETCH_SESSION_ID_NOT_FOUND
    # after an error the client starts over: its old session id with epoch 0 closes that session and opens a new one
    req.session_id = full.session_id
    restart = core.handle(ctx(1, 12), req, 0)
    assert restart.error_code == 0 and restart.session_id not in (0, full.session_id)
    assert {t.topic for t in restart.responses} == {"a", "b"}  # a full response
    assert core.fetch_sessions.get(full.session_id) is None


def test_offset_for_leader_epoch() -> None:
    from wire.kafka.messages.offset_for_leader_epoch import OffsetForLeaderEpochRequest as O
    core = make_core()
    core.cluster.create_topic("t", 1, 1)
    produce(core, "t", batch([b"a", b"b"]))

    def ask(epoch: int, current: int = -1) -> tuple[int, int, int]:
        req = O(topics=[O.OffsetForLeaderTopic("t", [O.OffsetForLeaderPartition(0, current, epoch)])])
        res = core.handle(ctx(23, 4), req, 0).topics[0].partitions[0]
        return res.error_code, res.leader_epoch, res.end_offset

    assert ask(0) == (0, 0, 2)
    assert ask(5) == (0, -1, -1)
    assert ask(0, current=3)[0] == ErrorCode.UNKNOWN_LEADER_EPOCH


async def test_an_internal_error_costs_only_its_connection() -> None:
    import trio
    import trio.testing

    from broker.server import BrokerServer
    from wire.kafka.codec import encode_request as enc

    server = BrokerServer(BrokerConfig(port=0))
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        assert server.core is not None
        real = server.core.handle

        def broken(ctx_: RequestContext, request: Any, now: int) -> Any:
            if ctx_.header.api_key == 3:
                raise RuntimeError("a bug in a handler")
            return real(ctx_, request, now)

        server.core.handle = broken  # type: ignore[method-assign]
        victim_end, victim_server = trio.testing.memory_stream_pair()
        other_end, other_server = trio.testing.memory_stream_pair()
        nursery.start_soon(server.handle_stream, victim_server, 1)
        nursery.start_soon(server.handle_stream, other_server, 1)
        from wire.kafka.messages.metadata import MetadataRequest
        await victim_end.send_all(frame(enc(RequestHeader(3, 12, 1, "v"), MetadataRequest(topics=None))))
        assert await victim_end.receive_some(100) == b""  # closed without a reply
        await other_end.send_all(frame(enc(RequestHeader(18, 3, 7, "o"), ApiVersionsRequest("o", "1"))))
        reply = await other_end.receive_some(65536)
        header, resp = decode_response(_decode_frames(reply)[0], 18, 3)
        assert header.correlation_id == 7 and resp.error_code == 0
        nursery.cancel_scope.cancel()  # the streams were handed in by the test, so end them with it


def test_describe_configs_reports_defaults_overrides_and_synonyms() -> None:
    from wire.kafka.messages.describe_configs import DescribeConfigsRequest as D
    core = make_core()
    core.cluster.create_topic("t", 1, 1, {"retention.ms": "1000"})
    req = D(resources=[D.DescribeConfigsResource(2, "t", None), D.DescribeConfigsResource(2, "missing", None),
                       D.DescribeConfigsResource(4, "1", ["num.partitions"])], include_synonyms=True)
    topic, missing, broker = core.handle(ctx(32, 4), req, 0).results
    configs = {c.name: c for c in topic.configs}
    assert (configs["retention.ms"].value, configs["retention.ms"].config_source) == ("1000", 1)  # topic override
    assert [(s.name, s.source) for s in configs["retention.ms"].synonyms][0] == ("retention.ms", 1)
    assert (configs["cleanup.policy"].value, configs["cleanup.policy"].config_source) == ("delete", 5)
    assert configs["max.message.bytes"].synonyms[-1].name == "message.max.bytes"
    assert missing.error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert [(c.name, c.value) for c in broker.configs] == [("num.partitions", "1")]
