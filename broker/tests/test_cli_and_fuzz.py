"""``python -m broker`` as a process, and the connection + core fed mutated requests (only this connection may close)."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from pathlib import Path

from broker.config import BrokerConfig
from broker.connection import BrokerConnection, Close, Incoming, Reply
from broker.core import BrokerCore, CloseConnection, Pending
from broker.state.cluster import BrokerInfo
from wire.framing import frame
from wire.kafka.codec import encode_request
from wire.kafka.headers import RequestHeader
from wire.kafka.messages.api_versions import ApiVersionsRequest
from wire.kafka.messages.fetch import FetchRequest
from wire.kafka.messages.list_offsets import ListOffsetsRequest
from wire.kafka.messages.metadata import MetadataRequest
from wire.kafka.messages.produce import ProduceRequest
from wire.kafka.records import BatchBuilder


def test_cli_prints_listening_first_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    props = tmp_path / "server.properties"
    props.write_text(f"broker.id=7\nlisteners=PLAINTEXT://127.0.0.1:9092\nlog.dirs={tmp_path / 'logs'}\n"
                     "num.partitions=2\n")
    proc = subprocess.Popen([sys.executable, "-m", "broker", str(props), "--port", "0", "--brokers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert first.startswith("listening ")
        addresses = first.removeprefix("listening ").split(",")
        assert len(addresses) == 2 and all(a.startswith("127.0.0.1:") and not a.endswith(":9092") for a in addresses)
        from kafka import KafkaProducer
        producer = KafkaProducer(bootstrap_servers=addresses[0], acks=1)
        metadata = producer.send("cli-topic", b"kept").get(timeout=15)
        producer.close()
        assert metadata.offset == 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        proc.kill()
    assert (tmp_path / "logs" / "__wiretwin_metadata.json").exists()  # log.dirs from the file was used
    assert len(list((tmp_path / "logs").glob("cli-topic-*"))) == 2  # num.partitions from the file


def _seed_requests() -> list[bytes]:
    batch = BatchBuilder(base_offset=0)
    batch.append(b"v", b"k", timestamp=1000)
    records = batch.build()
    out = []
    for version in (0, 3):
        out.append(encode_request(RequestHeader(18, version, 1, "f"), ApiVersionsRequest("f", "1")))
    for version in (1, 4, 9, 12):
        out.append(encode_request(RequestHeader(3, version, 2, "f"), MetadataRequest(
            topics=[MetadataRequest.MetadataRequestTopic(name="t")])))
    for version in (3, 7, 9):
        out.append(encode_request(RequestHeader(0, version, 3, "f"), ProduceRequest(acks=1, timeout_ms=100, topic_data=[
            ProduceRequest.TopicProduceData("t", [ProduceRequest.PartitionProduceData(0, records)])])))
    for version in (4, 11, 12):
        out.append(encode_request(RequestHeader(1, version, 4, "f"), FetchRequest(
            max_wait_ms=0, min_bytes=0, max_bytes=1 << 20, topics=[FetchRequest.FetchTopic(
                topic="t", partitions=[FetchRequest.FetchPartition(partition=0, fetch_offset=0,
                                                                   partition_max_bytes=1 << 20)])])))
    out.append(encode_request(RequestHeader(2, 7, 5, "f"), ListOffsetsRequest(replica_id=-1, topics=[
        ListOffsetsRequest.ListOffsetsTopic("t", [ListOffsetsRequest.ListOffsetsPartition(0, timestamp=-1)])])))
    return out


def _mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(4)
        if kind == 0 and b:
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif kind == 1 and b:
            del b[rng.randrange(len(b)):]
        elif kind == 2:
            b.insert(rng.randrange(len(b) + 1), rng.randrange(256))
        elif kind == 3 and len(b) > 4:
            i = rng.randrange(len(b) - 4)
            b[i:i + 4] = rng.randrange(-(2**31), 2**31).to_bytes(4, "big", signed=True)
    return bytes(b)


def test_mutated_requests_never_escape_the_connection() -> None:
    """Every mutated request is answered, ignored or closes its connection; nothing raises out of the core."""
    config = BrokerConfig(port=0)
    core = BrokerCore(config, [BrokerInfo(1, "127.0.0.1", 9001)])
    core.cluster.create_topic("t", 1, 1)
    rng = random.Random(20261130)
    seeds = _seed_requests()
    outcomes = {"answered": 0, "closed": 0, "none": 0}
    for i in range(3000):
        conn = BrokerConnection(node_id=1, connection_id=i)
        conn.receive_data(frame(_mutate(rng, rng.choice(seeds))))
        event = conn.next_event()
        if isinstance(event, Close) or event is None:
            outcomes["closed" if isinstance(event, Close) else "none"] += 1
            continue
        if isinstance(event, Reply):
            outcomes["answered"] += 1
            continue
        assert isinstance(event, Incoming)
        result = core.handle(event.ctx, event.request, i)
        if isinstance(result, Pending):
            result = result.poll(i + 10**6, True)
        if result is not None and not isinstance(result, CloseConnection):
            conn.respond(event.ctx, result)  # must encode
        outcomes["answered"] += 1
    assert outcomes["answered"] > 100 and outcomes["closed"] > 100  # both paths were exercised
    # the broker still serves a well-formed request afterwards
    good = BrokerConnection(node_id=1)
    good.receive_data(frame(seeds[0]))
    assert isinstance(good.next_event(), Incoming)
