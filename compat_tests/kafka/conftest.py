"""Shared pieces of the Kafka conformance suite: expected records, a raw wire client, a stored-batch oracle.

Every client test produces records it fully determines (key, value, headers,
partition, explicit timestamp), reads them back through the client under test
by assign/seek (no consumer groups yet) and compares the EXACT records with
``Rec`` tuples. Independently of the client, ``stored_batches`` reads the
partition back over the wire with our own codecs (Metadata to find the leader,
then Fetch v12), so a test can also check what the client actually sent: the
compression codec of every batch, producer ids of idempotent batches.

Payloads are compressible text (clients skip compression that does not shrink
a batch). ``RawKafka`` is a blocking socket client on ``wire.kafka.codec`` for
the tests that need exact bytes (KIP-511, acks=0, NOT_LEADER_OR_FOLLOWER) and
for topic set-up that must not depend on the client under test.
"""

from __future__ import annotations

import itertools
import json
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from broker.testing import RunningBroker
from broker.testing import wait_for as broker_wait_for
from wire.framing import FrameBuffer, frame
from wire.kafka.codec import decode_response, encode_request
from wire.kafka.compression import CompressionType
from wire.kafka.headers import RequestHeader
from wire.kafka.messages.create_topics import CreateTopicsRequest
from wire.kafka.messages.fetch import FetchRequest
from wire.kafka.messages.metadata import MetadataRequest
from wire.kafka.records import RecordBatch, split_batches

WAIT = 15.0  # upper bound for any wait; every step finishes far sooner
BASE_TS = 1_700_000_000_000  # explicit record timestamps start here (well in the past: CreateTime is kept as sent)
CODECS = {"none": CompressionType.NONE, "gzip": CompressionType.GZIP, "snappy": CompressionType.SNAPPY,
          "lz4": CompressionType.LZ4, "zstd": CompressionType.ZSTD}

RAW_CLIENT_ID = "wiretwin-raw"

Header = tuple[str, bytes | None]


class Rec(NamedTuple):
    """One record as every client can report it; compared exactly."""

    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[Header, ...] = ()


def value_for(tag: str, i: int) -> bytes:
    """A compressible value (~400 bytes of repeated text) unique to ``tag`` and ``i``."""
    return (f"{tag}-{i:04d}|" + "wiretwin conformance payload " * 14).encode()


def expected(tag: str, partition: int, count: int, first_offset: int = 0, ts0: int = BASE_TS,
             headers: bool = True, null_header: bool = True, keys: bool = True) -> list[Rec]:
    """``count`` records for one partition: key ``tag-ki`` (null when ``keys`` is False), headers ``src``,
    ``seq`` and a repeated ``src`` (with a null value when ``null_header``), timestamps ``ts0 + 1000*i``."""
    out = []
    for i in range(count):
        hdrs: tuple[Header, ...] = ((("src", tag.encode()), ("seq", str(i).encode()),
                                     ("src", None if null_header else b"again")) if headers else ())
        out.append(Rec(partition, first_offset + i, ts0 + 1000 * i, f"{tag}-k{i}".encode() if keys else None,
                       value_for(tag, i), hdrs))
    return out


def host_port(bootstrap: str) -> tuple[str, int]:
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    return host, int(port)


# -- a blocking raw client on our own codecs --------------------------------------------------------


class RawKafka:
    """One TCP connection speaking the Kafka framing with ``wire.kafka.codec``."""

    def __init__(self, host: str, port: int, client_id: str = RAW_CLIENT_ID) -> None:
        self.sock = socket.create_connection((host, port), timeout=WAIT)
        self.frames = FrameBuffer()
        self.client_id = client_id
        self._ids = itertools.count(1)

    @classmethod
    def to(cls, bootstrap: str) -> RawKafka:
        return cls(*host_port(bootstrap))

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawKafka:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, api_key: int, version: int, body: Any, correlation_id: int | None = None) -> int:
        cid = next(self._ids) if correlation_id is None else correlation_id
        self.send_raw(encode_request(RequestHeader(api_key, version, cid, self.client_id), body))
        return cid

    def send_raw(self, payload: bytes) -> None:
        self.sock.sendall(frame(payload))

    def recv_frame(self, timeout: float = WAIT) -> bytes:
        """The next response payload (without its length prefix)."""
        self.sock.settimeout(timeout)
        while True:
            payload = self.frames.next_frame()
            if payload is not None:
                return bytes(payload)
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("broker closed the connection")
            self.frames.feed(data)

    def request(self, api_key: int, version: int, body: Any) -> Any:
        cid = self.send(api_key, version, body)
        header, resp = decode_response(self.recv_frame(), api_key, version)
        assert header.correlation_id == cid
        return resp


def decode(payload: bytes, api_key: int, version: int) -> tuple[int, Any]:
    """(correlation id, body) of a response payload."""
    header, body = decode_response(payload, api_key, version)
    return header.correlation_id, body


def metadata(bootstrap: str, topics: list[str] | None = None) -> Any:
    with RawKafka.to(bootstrap) as raw:
        req = MetadataRequest(topics=None if topics is None else [MetadataRequest.MetadataRequestTopic(name=t)
                                                                   for t in topics],
                              allow_auto_topic_creation=False)
        return raw.request(3, 12, req)


def broker_address(bootstrap: str, node_id: int) -> tuple[str, int]:
    md = metadata(bootstrap, [])
    for b in md.brokers:
        if b.node_id == node_id:
            return b.host, b.port
    raise AssertionError(f"no broker {node_id} in {md.brokers}")


def leaders(bootstrap: str, topic: str) -> dict[int, int]:
    """partition -> leader node id."""
    md = metadata(bootstrap, [topic])
    (t,) = md.topics
    assert t.error_code == 0, t
    return {p.partition_index: p.leader_id for p in t.partitions}


def topic_id(bootstrap: str, topic: str) -> Any:
    (t,) = metadata(bootstrap, [topic]).topics
    return t.topic_id


def create_topic(bootstrap: str, name: str, partitions: int = 1, replication: int = 1,
                 configs: dict[str, str] | None = None) -> None:
    """CreateTopics v7 to the controller, without any client under test."""
    md = metadata(bootstrap, [])
    with RawKafka(*broker_address(bootstrap, md.controller_id)) as raw:
        topic = CreateTopicsRequest.CreatableTopic(
            name=name, num_partitions=partitions, replication_factor=replication,
            configs=[CreateTopicsRequest.CreatableTopicConfig(k, v) for k, v in (configs or {}).items()])
        resp = raw.request(19, 7, CreateTopicsRequest(topics=[topic], timeout_ms=5000))
    assert resp.topics[0].error_code == 0, resp


@dataclass
class StoredBatch:
    base_offset: int
    compression: CompressionType
    producer_id: int
    base_sequence: int
    records: list[Rec]


def stored_batches(bootstrap: str, topic: str, partition: int, offset: int = 0) -> list[StoredBatch]:
    """Every batch of a partition from ``offset`` to the high watermark, read with a raw Fetch v12 from its
    leader and decoded with our codecs."""
    leader = leaders(bootstrap, topic)[partition]
    out: list[StoredBatch] = []
    with RawKafka(*broker_address(bootstrap, leader)) as raw:
        while True:
            req = FetchRequest(max_wait_ms=0, min_bytes=0, max_bytes=64 << 20, isolation_level=0, session_epoch=-1,
                               topics=[FetchRequest.FetchTopic(topic=topic, partitions=[FetchRequest.FetchPartition(
                                   partition=partition, fetch_offset=offset, partition_max_bytes=64 << 20)])])
            resp = raw.request(1, 12, req)
            pd = resp.responses[0].partitions[0]
            assert pd.error_code == 0, pd
            batches = split_batches(pd.records or b"", allow_truncated_tail=True)
            if not batches:
                return out
            for b in batches:
                h = b.header
                recs = [Rec(partition, r.offset, r.timestamp, r.key, r.value, tuple(r.headers))
                        for r in RecordBatch(bytes(b)).records()]
                out.append(StoredBatch(b.base_offset, CompressionType(h.compression), h.producer_id,
                                       h.base_sequence, recs))
                offset = b.next_offset
            if offset >= pd.high_watermark:
                return out


def wait_for_leaders(admin: Any, topic: str, partitions: int) -> dict[int, int]:
    """Partition -> leader id from a kafka-python admin client, once metadata names a leader for
    each. On a cluster CreateTopics answers once the broker it went to knows every leader (Kafka's
    DelayedCreatePartitions); the broker that Metadata goes to may learn them a moment later."""
    def leaders() -> dict[int, int] | None:
        found = {p["partition_index"]: p["leader_id"] for p in admin.describe_topics([topic])[0]["partitions"]}
        return found if len(found) == partitions and all(leader >= 0 for leader in found.values()) else None
    result: dict[int, int] = wait_for(leaders, what=f"a leader for every partition of {topic!r} in metadata")
    return result


def stored_records(bootstrap: str, topic: str, partition: int, offset: int = 0) -> list[Rec]:
    return [r for b in stored_batches(bootstrap, topic, partition, offset) for r in b.records if r.offset >= offset]


def wait_for(check: Callable[[], Any], timeout: float = WAIT, what: str = "condition") -> Any:
    """Poll ``check`` (each call is itself a bounded client call, so no pause between) until it returns
    something truthy."""
    return broker_wait_for(check, what, timeout, interval=0)


def wait_stored(bootstrap: str, topic: str, partition: int, count: int) -> list[Rec]:
    """Records of a partition once it holds ``count`` (acks=0 producers get no acknowledgement to wait on)."""
    def check() -> list[Rec] | None:
        recs = stored_records(bootstrap, topic, partition)
        return recs if len(recs) >= count else None
    return wait_for(check, what=f"{count} records in {topic}-{partition}")  # type: ignore[no-any-return]


def by_partition(records: Iterable[Rec]) -> dict[int, list[Rec]]:
    out: dict[int, list[Rec]] = {}
    for r in sorted(records):
        out.setdefault(r.partition, []).append(r)
    return out


class ApiLog:
    """Every request the broker core handles: (api key, version, client id, decoded request), in arrival order."""

    def __init__(self, broker: RunningBroker) -> None:
        core = broker.server.core
        assert core is not None
        self.seen: list[tuple[int, int, str | None, Any]] = []
        handle = core.handle

        def recording(ctx: Any, request: Any, now_ms: int) -> Any:
            self.seen.append((ctx.header.api_key, ctx.header.api_version, ctx.header.client_id, request))
            return handle(ctx, request, now_ms)

        core.handle = recording  # type: ignore[method-assign]

    def by_key(self) -> dict[int, set[int]]:
        """API key -> versions used by the clients under test (this suite's raw client left out)."""
        out: dict[int, set[int]] = {}
        for key, version, client, _ in list(self.seen):
            if client != RAW_CLIENT_ID:
                out.setdefault(key, set()).add(version)
        return out

    def requests(self, api_key: int) -> list[Any]:
        return [req for key, _, client, req in list(self.seen) if key == api_key and client != RAW_CLIENT_ID]


@pytest.fixture
def broker(kafka_broker: RunningBroker) -> RunningBroker:
    return kafka_broker


@pytest.fixture
def api_log(kafka_broker: RunningBroker) -> ApiLog:
    return ApiLog(kafka_broker)


@pytest.fixture
def bootstrap(kafka_broker: RunningBroker) -> str:
    return kafka_broker.bootstrap_servers


_topic_ids = itertools.count(1)


TopicName = Callable[..., str]


@pytest.fixture
def topic_name(request: pytest.FixtureRequest) -> Iterator[TopicName]:
    """Unique, legal topic names derived from the test name."""
    base = request.node.name.replace("[", ".").replace("]", "").replace("/", "_")[:120]

    def make(suffix: str = "t") -> str:
        return f"{base}.{suffix}.{next(_topic_ids)}"

    yield make


# -- kafkajs (node) ------------------------------------------------------------------------------------

NODE_DIR = Path(__file__).parent / "node"
KAFKAJS_VERSION = "2.2.4"
_node_lock = threading.Lock()
_node_ready = False


def ensure_node_modules() -> Path:
    """``node/node_modules`` installed (``npm ci`` from the committed lock file) once per run; the driver path.

    Skips when node or npm is missing; fails when the install does.
    """
    global _node_ready
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("node and npm are needed for the kafkajs tests: ./run-tests installs them")
    with _node_lock:
        if not _node_ready:
            installed = NODE_DIR / "node_modules" / "kafkajs" / "package.json"
            if not installed.exists() or json.loads(installed.read_text())["version"] != KAFKAJS_VERSION:
                proc = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, capture_output=True,
                                      text=True, timeout=600)
                if proc.returncode != 0:
                    pytest.fail(f"npm ci in {NODE_DIR} failed:\n{proc.stdout}\n{proc.stderr}")
            _node_ready = True
    return NODE_DIR / "driver.js"
