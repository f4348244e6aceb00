"""Our Kafka broker against a trivial sink, side by side in one run: is the broker what limits a librdkafka client?

``python -m bench.kafka_broker [--quick] [--profile [auto|py-spy|cprofile]] [--profile-only]``

Both servers run as separate processes on 127.0.0.1, each one single-threaded Python interpreter:

* ours: ``python -m broker --host 127.0.0.1 --port 0`` (in-memory log, the embedded default);
* the sink: ``python -m bench.kafka_broker --sink --port 0``, an asyncio server in this file
  that speaks just enough Kafka on ``wire``'s codecs for the clients here. It advertises the
  same API version ranges as ours (so librdkafka picks the same request versions), answers
  ApiVersions, Metadata (any topic: one partition led by itself), ListOffsets and
  OffsetForLeaderEpoch; it answers Produce at once without validating or storing anything
  (it only counts offsets, so both servers can be asked how many records they acknowledged);
  and for topics named ``fixed-SIZE-N-K`` it serves Fetch from one pre-built batch of K
  records of SIZE bytes, repeated with patched base offsets up to N messages, filling each
  response the way ours does (whole batches up to the partition's max bytes, the first one
  always). K is the median records per batch ours holds for the same workload, so both serve
  the same shape of bytes. No data means a long poll of max_wait_ms, as ours does.

The sink is about the floor a Python server reaches with these codecs, so ``ours/sink`` near 1
says the client (or the machine) is the limit; well below 1 with ours' process near a full core
says our broker is. The report ends with that verdict for each throughput row.

Metrics, each as ours, sink and ours/sink (the median of ``rounds`` runs alternating which
server goes first, after the same untimed warm-up on both):

* produce throughput (messages/s, and MB/s of message values, MB = 10^6 bytes) for 100 B and
  1 KiB values: confluent-kafka (acks=1, linger.ms=5, batch.size default, no compression;
  produce() in a loop, then flush(); timed from the first produce() to the end of flush()), and
  kcat (``kcat -P -l FILE -X acks=1 -X linger.ms=5``, the wall time of the whole process).
  Afterwards both servers are asked (ListOffsets) how many records they acknowledged;
* consume throughput of N pre-produced messages: confluent-kafka Consumer ``assign`` from the
  beginning (timed from assign() to the N-th message), and ``kcat -C -e -o beginning -c N``
  (the wall time of the whole process). Both clients get a local queue that holds a whole run
  (``queued.min.messages``, ``queued.max.messages.kbytes``): with librdkafka's defaults the
  fetcher fills its queue within a fetch or two at these rates and then pauses for
  ``fetch.queue.backoff.ms`` (1 s), which measures that pause rather than either server;
* produce latency p50/p99 at acks=1, one 100 B message in flight (confluent-kafka, linger.ms=0:
  produce() then poll() until its delivery callback; timed from produce() to the callback);
* start-up: spawn until the ``listening`` line, and spawn until a first ApiVersions is answered
  (polled with a 1 ms back-off);
* RSS (``VmRSS`` of ``/proc/PID/status``) after start-up and after the whole workload.

Beside the throughput rows (and per request on the latency row): the CPU each server process
used during the timed part, as % of one core and as CPU microseconds per message; the client's
(this process with librdkafka's threads, or the kcat process); and what every other process on
the machine used meanwhile (from ``/proc/stat``; other work on a 2-core machine skews every
figure). No figure is asserted anywhere.

``--profile`` then profiles ours under three workloads (confluent-kafka produce, consume, and
one-in-flight produce latency): with py-spy when it is installed (``pip install py-spy``;
sampling, one broker attached phase by phase), else with cProfile (``python -m cProfile -m
broker``, a fresh broker per phase), and prints where the busy time goes by file and function.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.measure import fmt, percentile, python_floor_ms, rss_kib, table
from wire.errors import DecodeError
from wire.framing import FrameBuffer, frame
from wire.kafka.codec import UnsupportedRequestError, decode_request, decode_response, encode_request, encode_response
from wire.kafka.headers import RequestHeader
from wire.kafka.messages.api_versions import ApiVersionsRequest, ApiVersionsResponse
from wire.kafka.messages.fetch import FetchRequest, FetchResponse
from wire.kafka.messages.list_offsets import ListOffsetsRequest, ListOffsetsResponse
from wire.kafka.messages.metadata import MetadataRequest, MetadataResponse
from wire.kafka.messages.offset_for_leader_epoch import OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse
from wire.kafka.messages.produce import ProduceRequest, ProduceResponse

HOST = "127.0.0.1"
KINDS = ("ours", "sink")
MB = 1_000_000
#: the APIs the sink serves (Produce, Fetch, ListOffsets, Metadata, ApiVersions, OffsetForLeaderEpoch)
SINK_APIS = (0, 1, 2, 3, 18, 23)
FIXED_TOPIC = re.compile(r"fixed-(\d+)-(\d+)-(\d+)")
#: every librdkafka client here: quiet (errors are checked in code) and named
CLIENT_CONF: dict[str, Any] = {"client.id": "wiretwin-bench", "log_level": 3, "log.connection.close": False}
PRODUCE_CONF: dict[str, Any] = {"acks": 1, "linger.ms": 5, "compression.type": "none"}
LATENCY_CONF: dict[str, Any] = {"acks": 1, "linger.ms": 0, "compression.type": "none"}
#: librdkafka's default local queue (queued.min.messages=100000) fills within a fetch or two at these rates, and
#: then the fetcher pauses (fetch.queue.backoff.ms, 1 s in 2.16; similar in 2.0) whatever the broker does: the
#: consumer idles most of the time. Both clients get a queue that holds a whole run instead.
CONSUME_QUEUE: dict[str, int] = {"queued.min.messages": 10_000_000, "queued.max.messages.kbytes": 2_000_000}
CONSUME_CONF: dict[str, Any] = {"group.id": "wiretwin-bench", "enable.auto.commit": False,
                                "enable.auto.offset.store": False, "enable.partition.eof": False, **CONSUME_QUEUE}
KCAT_PRODUCE_X = ("acks=1", "linger.ms=5", "compression.codec=none")
LATENCY_SIZE = 100
SLOWER = 0.8  # ours/sink below this is "clearly slower"
#: extra environment for both servers (``--server-env KEY=VALUE``), e.g. glibc malloc tunables
SERVER_ENV: dict[str, str] = {}
SATURATED = 85.0  # % of a core at which a single-threaded server is taken as saturated
WAIT_S = 120.0  # upper bound for any one run; every run finishes far sooner


# -- sizes -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sizes:
    produce_n: dict[int, int]  # message size -> messages per produce run
    consume_n: dict[int, int]  # message size -> messages pre-produced and read per consume run
    rounds: int  # runs per throughput figure (median), alternating which server goes first
    latency_n: int  # samples per latency figure (taken in ``rounds`` slices)
    startups: int  # start-ups per server for the start-up figures (median)
    warm_n: int  # untimed messages produced and consumed on each server before measuring

    def describe(self) -> str:
        prod = ", ".join(f"{n:,} x {s} B" for s, n in self.produce_n.items())
        cons = ", ".join(f"{n:,} x {s} B" for s, n in self.consume_n.items())
        return (f"produce runs: {prod}; consume runs: {cons}; median of {self.rounds} round(s) alternating which"
                f" server goes first; latency n={self.latency_n}; start-up median of {self.startups}")


QUICK = Sizes(produce_n={100: 300_000, 1024: 80_000}, consume_n={100: 300_000, 1024: 80_000}, rounds=1,
              latency_n=300, startups=1, warm_n=5_000)
FULL = Sizes(produce_n={100: 1_000_000, 1024: 250_000}, consume_n={100: 1_000_000, 1024: 250_000}, rounds=5,
             latency_n=3_000, startups=3, warm_n=50_000)


def size_label(size: int) -> str:
    return f"{size} B" if size < 1024 else f"{size // 1024} KiB"


# == the sink ===================================================================================

_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")
_LENGTH_AT, _LAST_DELTA_AT, _BATCH_MIN = 8, 23, 61  # v2 batch: batchLength, lastOffsetDelta, header size


def topic_id_for(name: str) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"wiretwin-sink/{name}")


def fixed_batch_tail(size: int, count: int) -> bytes:
    """A v2 batch of ``count`` records of ``size`` bytes (no key, no headers, as librdkafka sends them),
    without its 8-byte base offset: the sink prefixes each copy with the offset it serves it at."""
    from wire.kafka.records import BatchBuilder
    builder = BatchBuilder(base_offset=0)
    value = bytes(i % 251 for i in range(size))
    ts = int(time.time() * 1000)
    for _ in range(count):
        builder.append(value, timestamp=ts)
    return builder.build()[8:]


class Sink:
    """The request handling of the trivial sink, sans-IO: a request payload in, (response frame, delay) out."""

    def __init__(self, host: str, port: int, apis: dict[int, tuple[int, int]]) -> None:
        self.host = host
        self.port = port
        self.apis = apis
        self.next_offset: dict[tuple[str, int], int] = {}  # offsets handed out to produced records
        self.topics: dict[uuid.UUID, str] = {}
        self.tails: dict[tuple[int, int], bytes] = {}
        self.handlers: dict[int, Callable[[Any, int], tuple[Any, float]]] = {
            0: self.produce, 1: self.fetch, 2: self.list_offsets, 3: self.metadata, 18: self.api_versions,
            23: self.offset_for_leader_epoch,
        }

    def handle(self, payload: bytes) -> tuple[bytes | None, float]:
        try:
            decoded = decode_request(payload)
        except UnsupportedRequestError as exc:
            if exc.header.api_key != 18:
                raise
            return self._kip511(exc.header.correlation_id), 0.0
        h = decoded.header
        lo, hi = self.apis.get(h.api_key, (0, -1))
        if not lo <= h.api_version <= hi:
            if h.api_key == 18:
                return self._kip511(h.correlation_id), 0.0
            raise ValueError(f"API {h.api_key} v{h.api_version} is not served by the sink")
        body, delay = self.handlers[h.api_key](decoded.body, h.api_version)
        if body is None:
            return None, 0.0
        return frame(encode_response(h.correlation_id, h.api_key, h.api_version, body)), delay

    def _kip511(self, correlation_id: int) -> bytes:
        lo, hi = self.apis[18]
        body = ApiVersionsResponse(error_code=35, api_keys=[ApiVersionsResponse.ApiVersion(18, lo, hi)])
        return frame(encode_response(correlation_id, 18, 0, body))

    # -- the APIs --

    def api_versions(self, req: ApiVersionsRequest, version: int) -> tuple[Any, float]:
        keys = [ApiVersionsResponse.ApiVersion(k, lo, hi) for k, (lo, hi) in sorted(self.apis.items())]
        return ApiVersionsResponse(error_code=0, api_keys=keys, throttle_time_ms=0), 0.0

    def _topic(self, name: str) -> uuid.UUID:
        tid = topic_id_for(name)
        self.topics[tid] = name
        return tid

    def high_watermark(self, name: str, partition: int) -> int:
        fixed = FIXED_TOPIC.fullmatch(name)
        if fixed is not None:
            return int(fixed.group(2))
        return self.next_offset.get((name, partition), 0)

    def metadata(self, req: MetadataRequest, version: int) -> tuple[Any, float]:
        R = MetadataResponse
        names = sorted(set(self.topics.values())) if req.topics is None else [
            t.name if t.name is not None else self.topics.get(t.topic_id, "") for t in req.topics]
        resp = R(brokers=[R.MetadataResponseBroker(1, self.host, self.port, None)], cluster_id="wiretwin-sink",
                 controller_id=1)
        for name in names:
            resp.topics.append(R.MetadataResponseTopic(
                error_code=0, name=name, topic_id=self._topic(name), is_internal=False,
                partitions=[R.MetadataResponsePartition(0, 0, 1, 0, [1], [1], [])]))
        return resp, 0.0

    def produce(self, req: ProduceRequest, version: int) -> tuple[Any, float]:
        R = ProduceResponse
        resp = R()
        for topic in req.topic_data:
            parts = []
            for pdata in topic.partition_data:
                records = pdata.records or b""
                count, pos, end = 0, 0, len(records)
                while end - pos >= _BATCH_MIN:  # count offsets from the batch headers; nothing is validated
                    count += _I32.unpack_from(records, pos + _LAST_DELTA_AT)[0] + 1
                    pos += 12 + _I32.unpack_from(records, pos + _LENGTH_AT)[0]
                key = (topic.name, pdata.index)
                base = self.next_offset.get(key, 0)
                self.next_offset[key] = base + count
                parts.append(R.PartitionProduceResponse(index=pdata.index, error_code=0, base_offset=base,
                                                        log_start_offset=0))
            resp.responses.append(R.TopicProduceResponse(topic.name, parts))
        return (None if req.acks == 0 else resp), 0.0

    def _tail(self, size: int, count: int) -> bytes:
        tail = self.tails.get((size, count))
        if tail is None:
            tail = self.tails[(size, count)] = fixed_batch_tail(size, count)
        return tail

    def _records(self, name: str, offset: int, room: int, first: bool) -> bytes:
        fixed = FIXED_TOPIC.fullmatch(name)
        if fixed is None:
            return b""  # nothing is stored
        size, hwm, per_batch = (int(g) for g in fixed.groups())
        parts: list[bytes] = []
        total = 0
        while offset < hwm:
            count = min(per_batch, hwm - offset)
            tail = self._tail(size, count)
            length = 8 + len(tail)
            if parts and total + length > room:
                break
            if not parts and length > room and not first:
                break
            parts += (_I64.pack(offset), tail)
            total += length
            offset += count
        return b"".join(parts)

    def fetch(self, req: FetchRequest, version: int) -> tuple[Any, float]:
        R = FetchResponse
        resp = R(session_id=0)  # no fetch sessions: a client asking for one is declined, as KIP-227 allows
        total = 0
        budget = req.max_bytes if version >= 3 else 0x7FFFFFFF
        for t in req.topics:
            name = self.topics.get(t.topic_id, "") if version >= 13 else t.topic
            out = R.FetchableTopicResponse(topic=t.topic, topic_id=t.topic_id)
            resp.responses.append(out)
            for p in t.partitions:
                pd = R.PartitionData(partition_index=p.partition, high_watermark=-1, last_stable_offset=-1,
                                     log_start_offset=-1, records=b"")
                out.partitions.append(pd)
                if not name:
                    pd.error_code = 100  # UNKNOWN_TOPIC_ID
                    continue
                hwm = self.high_watermark(name, p.partition)
                pd.high_watermark = pd.last_stable_offset = hwm
                pd.log_start_offset = 0
                pd.aborted_transactions = [] if req.isolation_level == 1 else None
                room = min(p.partition_max_bytes, budget - total) if version >= 3 else p.partition_max_bytes
                if room > 0 or total == 0:
                    pd.records = self._records(name, p.fetch_offset, max(room, 0), total == 0)
                    total += len(pd.records)
        delay = req.max_wait_ms / 1000 if total == 0 and total < req.min_bytes else 0.0
        return resp, min(delay, 5.0)

    def list_offsets(self, req: ListOffsetsRequest, version: int) -> tuple[Any, float]:
        R = ListOffsetsResponse
        resp = R()
        for t in req.topics:
            out = R.ListOffsetsTopicResponse(t.name)
            resp.topics.append(out)
            for p in t.partitions:
                offset = self.high_watermark(t.name, p.partition_index) if p.timestamp == -1 else 0
                res = R.ListOffsetsPartitionResponse(partition_index=p.partition_index,
                                                     leader_epoch=0 if version >= 4 else -1)
                if version == 0:
                    res.old_style_offsets = [offset]
                else:
                    res.offset, res.timestamp = offset, -1
                out.partitions.append(res)
        return resp, 0.0

    def offset_for_leader_epoch(self, req: OffsetForLeaderEpochRequest, version: int) -> tuple[Any, float]:
        R = OffsetForLeaderEpochResponse
        resp = R()
        for t in req.topics:
            out = R.OffsetForLeaderTopicResult(t.topic)
            resp.topics.append(out)
            for p in t.partitions:
                out.partitions.append(R.EpochEndOffset(partition=p.partition, leader_epoch=0,
                                                       end_offset=self.high_watermark(t.topic, p.partition)))
        return resp, 0.0


class SinkConnection(asyncio.Protocol):
    """One client connection: requests handled in order; a parked (long-poll) Fetch holds the ones behind it."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.frames = FrameBuffer()
        self.transport: asyncio.Transport | None = None
        self.parked = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.frames.feed(data)
        self._pump()

    def _pump(self) -> None:
        transport = self.transport
        assert transport is not None
        while not self.parked and not transport.is_closing():
            try:
                payload = self.frames.next_frame()
                if payload is None:
                    return
                out, delay = self.sink.handle(payload)
            except (DecodeError, ValueError) as exc:
                print(f"sink: closing a connection: {exc}", file=sys.stderr, flush=True)
                transport.close()
                return
            if out is None:
                continue
            if delay > 0:
                self.parked = True
                asyncio.get_running_loop().call_later(delay, self._release, out)
                return
            transport.write(out)

    def _release(self, out: bytes) -> None:
        self.parked = False
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(out)
            self._pump()


async def _serve_sink(host: str, port: int, apis: dict[int, tuple[int, int]]) -> None:
    loop = asyncio.get_running_loop()
    sink = Sink(host, port, apis)
    server = await loop.create_server(lambda: SinkConnection(sink), host, port)
    sink.port = server.sockets[0].getsockname()[1]
    print(f"listening {host}:{sink.port}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def parse_apis(spec: str) -> dict[int, tuple[int, int]]:
    """``"0:0-12,1:0-17"`` -> {0: (0, 12), 1: (0, 17)}."""
    out = {}
    for part in spec.split(","):
        key, _, rng = part.partition(":")
        lo, _, hi = rng.partition("-")
        out[int(key)] = (int(lo), int(hi))
    return out


def sink_main(host: str, port: int, apis: str) -> int:
    asyncio.run(_serve_sink(host, port, parse_apis(apis)))
    return 0


# == processes ===================================================================================

def ours_api_ranges() -> dict[int, tuple[int, int]]:
    """The version range ours advertises for each API the sink serves (read from the handler registry)."""
    from broker.handlers import load_all
    registry = load_all()
    return {key: (registry[key].min_version, registry[key].max_version) for key in SINK_APIS}



_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    """The fields of ``/proc/PID/stat`` after the command name (field 3 of stat(5) is index 0)."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process so far (clock-tick resolution)."""
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14 and 15 of stat(5))


def minor_faults(pid: int) -> int:
    """Minor page faults of a live process so far (field 10 of stat(5)): first touches of fresh memory."""
    return int(_stat(pid)[7])


def own_cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def children_cpu_seconds() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def machine_cpu_seconds() -> float:
    """CPU seconds all cores have spent busy since boot (``/proc/stat``: everything but idle and iowait)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / _TICK


class RawKafka:
    """A blocking connection speaking Kafka on ``wire``'s codecs (set-up, checks, the start-up probe)."""

    def __init__(self, address: str, timeout: float = 10.0) -> None:
        host, _, port = address.rpartition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.frames = FrameBuffer()
        self.correlation = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawKafka:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, api_key: int, version: int, body: Any) -> Any:
        self.correlation += 1
        self.sock.sendall(frame(encode_request(RequestHeader(api_key, version, self.correlation, "wiretwin-bench"),
                                               body)))
        while True:
            payload = self.frames.next_frame()
            if payload is not None:
                header, resp = decode_response(payload, api_key, version)
                if header.correlation_id != self.correlation:
                    raise RuntimeError(f"correlation id {header.correlation_id}, expected {self.correlation}")
                return resp
            data = self.sock.recv(1 << 20)
            if not data:
                raise ConnectionError("the server closed the connection")
            self.frames.feed(data)

    def api_versions(self) -> Any:
        return self.request(18, 3, ApiVersionsRequest(client_software_name="wiretwin-bench",
                                                      client_software_version="1"))

    def ensure_topic(self, topic: str) -> None:
        """A Metadata request naming ``topic`` (ours auto-creates it), so no timed run creates a topic."""
        resp = self.request(3, 12, MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=topic)],
                                                   allow_auto_topic_creation=True))
        if resp.topics[0].error_code:
            raise RuntimeError(f"metadata {topic}: error {resp.topics[0].error_code}")

    def end_offset(self, topic: str) -> int:
        req = ListOffsetsRequest(replica_id=-1, topics=[ListOffsetsRequest.ListOffsetsTopic(
            topic, [ListOffsetsRequest.ListOffsetsPartition(partition_index=0, timestamp=-1)])])
        part = self.request(2, 5, req).topics[0].partitions[0]
        if part.error_code:
            raise RuntimeError(f"list offsets {topic}: error {part.error_code}")
        return int(part.offset)

    def records_per_batch(self, topic: str, limit: int = 8 << 20) -> list[int]:
        """The record count of each batch stored at the start of ``topic`` (up to ``limit`` bytes)."""
        from wire.kafka.records import split_batches
        req = FetchRequest(max_wait_ms=0, min_bytes=0, max_bytes=limit, isolation_level=0, session_epoch=-1,
                           topics=[FetchRequest.FetchTopic(topic=topic, partitions=[FetchRequest.FetchPartition(
                               partition=0, fetch_offset=0, partition_max_bytes=limit)])])
        pd = self.request(1, 12, req).responses[0].partitions[0]
        if pd.error_code:
            raise RuntimeError(f"fetch {topic}: error {pd.error_code}")
        return [b.records_count for b in split_batches(pd.records or b"", allow_truncated_tail=True)]

    def delete_topic(self, topic: str) -> None:
        from wire.kafka.messages.delete_topics import DeleteTopicsRequest
        resp = self.request(20, 4, DeleteTopicsRequest(topic_names=[topic], timeout_ms=10_000))
        if resp.responses[0].error_code:
            raise RuntimeError(f"delete {topic}: error {resp.responses[0].error_code}")


@dataclass
class Server:
    """One started server process and how long it took to become ready."""

    kind: str  # "ours" or "sink"
    proc: subprocess.Popen[bytes]
    address: str
    to_listening_ms: float  # spawn until the ``listening`` line
    to_api_versions_ms: float  # spawn until a first ApiVersions is answered
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_kib(self) -> int:
        return rss_kib(self.proc.pid)

    def cpu(self) -> float:
        return cpu_seconds(self.proc.pid)

    def raw(self) -> RawKafka:
        return RawKafka(self.address)

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.kind} server exited with {self.proc.returncode}: "
                               f"{self.log.read_text(errors='replace')[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def server_command(kind: str, apis: dict[int, tuple[int, int]], profile_to: Path | None = None) -> list[str]:
    if kind == "ours":
        prefix = [sys.executable] + (["-m", "cProfile", "-o", str(profile_to)] if profile_to else [])
        return [*prefix, "-m", "broker", "--host", HOST, "--port", "0"]
    spec = ",".join(f"{k}:{lo}-{hi}" for k, (lo, hi) in sorted(apis.items()))
    return [sys.executable, "-m", "bench.kafka_broker", "--sink", "--host", HOST, "--port", "0", "--apis", spec]


def start_server(kind: str, apis: dict[int, tuple[int, int]], workdir: Path, timeout: float = 30.0,
                 profile_to: Path | None = None) -> Server:
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / f"{kind}.log"
    cmd = server_command(kind, apis, profile_to)
    with open(log, "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, cwd=Path(__file__).resolve().parent.parent,
                                env={**os.environ, **SERVER_ENV})
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()  # the server prints it first, flushed
    to_listening = (time.perf_counter() - t0) * 1000
    if not line.startswith("listening "):
        proc.kill()
        proc.wait()
        raise RuntimeError(f"{kind}: no listening line ({line!r}): {log.read_text(errors='replace')[-3000:]}")
    address = line.split()[1].split(",")[0]
    deadline = t0 + timeout
    while True:
        try:
            with RawKafka(address, timeout=2.0) as raw:
                if raw.api_versions().error_code == 0:
                    break
        except (OSError, DecodeError):
            pass
        if proc.poll() is not None or time.perf_counter() > deadline:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"{kind} server never answered ApiVersions: {log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.001)
    to_api = (time.perf_counter() - t0) * 1000
    return Server(kind, proc, address, to_listening, to_api, log)


# == workloads ===================================================================================

@dataclass(frozen=True)
class Run:
    """One timed run: messages moved, seconds, and the CPU seconds used meanwhile by the server, the client
    and the whole machine (all cores)."""

    messages: int
    seconds: float
    server_cpu: float
    client_cpu: float
    machine_cpu: float
    server_faults: int  # minor page faults of the server process

    @property
    def rate(self) -> float:
        return self.messages / self.seconds

    @property
    def others_cpu(self) -> float:
        """CPU seconds used by other processes on the machine meanwhile (they skew every figure)."""
        return max(0.0, self.machine_cpu - self.server_cpu - self.client_cpu)


class Meter:
    """Wall clock and CPU counters around one timed part: the server's, the client's (this process, librdkafka's
    threads included, or the waited-for children) and the machine's."""

    def __init__(self, server: Server, client: str) -> None:
        self.server = server
        self.client_cpu = own_cpu_seconds if client == "self" else children_cpu_seconds
        self.t0 = self.server0 = self.client0 = self.machine0 = 0.0
        self.faults0 = 0

    def start(self) -> None:
        self.server0, self.client0, self.machine0 = self.server.cpu(), self.client_cpu(), machine_cpu_seconds()
        self.faults0 = minor_faults(self.server.pid)
        self.t0 = time.perf_counter()

    def stop(self, messages: int) -> Run:
        elapsed = time.perf_counter() - self.t0
        return Run(messages, elapsed, self.server.cpu() - self.server0, self.client_cpu() - self.client0,
                   machine_cpu_seconds() - self.machine0, minor_faults(self.server.pid) - self.faults0)


@contextmanager
def producer(bootstrap: str, conf: dict[str, Any]) -> Iterator[Any]:
    from confluent_kafka import Producer
    p = Producer({**CLIENT_CONF, **conf, "bootstrap.servers": bootstrap})
    try:
        yield p
    finally:
        p.flush(10)
        del p
        gc.collect()


def confluent_produce(server: Server, topic: str, n: int, size: int) -> Run:
    """``n`` messages of ``size`` bytes through confluent-kafka's Producer (acks=1, linger.ms=5)."""
    errors: list[Any] = []

    def on_delivery(err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(err)

    conf = {**PRODUCE_CONF, "delivery.report.only.error": True, "on_delivery": on_delivery}
    with producer(server.address, conf) as p:
        p.produce(topic, b"w" * size)  # untimed: connection, topic metadata, one delivered message
        if p.flush(30) or errors:
            raise RuntimeError(f"{server.kind}: warm-up message not delivered: {errors}")
        value = b"x" * size
        produce, poll = p.produce, p.poll
        gc.collect()
        meter = Meter(server, "self")
        meter.start()
        for i in range(n):
            while True:
                try:
                    produce(topic, value)
                    break
                except BufferError:  # the local queue is full: serve delivery reports and retry
                    poll(0.001)
            if not i & 1023:
                poll(0)
        left = p.flush(WAIT_S)
        run = meter.stop(n)
    if left or errors:
        raise RuntimeError(f"{server.kind}: {left} messages undelivered, {len(errors)} errors: {errors[:3]}")
    return run


def kcat_produce(server: Server, topic: str, n: int, path: Path) -> Run:
    """``kcat -P -l FILE`` (one message per line), timed as the whole process."""
    cmd = ["kcat", "-P", "-b", server.address, "-t", topic, "-p", "0", "-q"]
    for prop in KCAT_PRODUCE_X:
        cmd += ["-X", prop]
    cmd += ["-l", str(path)]
    gc.collect()
    meter = Meter(server, "children")
    meter.start()
    proc = subprocess.run(cmd, capture_output=True, timeout=WAIT_S)
    run = meter.stop(n)
    if proc.returncode != 0 or proc.stderr.strip():
        raise RuntimeError(f"{server.kind}: kcat -P exited {proc.returncode}: {proc.stderr.decode()[-2000:]}")
    return run


def confluent_consume(server: Server, topic: str, n: int) -> Run:
    """Read ``n`` messages from offset 0 with confluent-kafka's Consumer (assign, no subscription)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
    c = Consumer({**CLIENT_CONF, **CONSUME_CONF, "bootstrap.servers": server.address})
    try:
        c.list_topics(topic, timeout=30)  # untimed: connection and metadata
        consume = c.consume
        got, last = 0, -1
        gc.collect()
        meter = Meter(server, "self")
        meter.start()
        deadline = time.perf_counter() + WAIT_S
        c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        while got < n:
            msgs = consume(num_messages=min(10_000, n - got), timeout=1.0)  # returns at that count
            if msgs:
                bad = next((m.error() for m in msgs if m.error() is not None), None)
                if bad is not None:
                    raise RuntimeError(f"{server.kind}: consume error {bad}")
                got += len(msgs)
                offset = msgs[-1].offset()
                last = -1 if offset is None else offset
            elif time.perf_counter() > deadline:
                raise TimeoutError(f"{server.kind}: consumed {got} of {n}")
        run = meter.stop(got)
    finally:
        c.close()
    if got != n or last != n - 1:
        raise RuntimeError(f"{server.kind}: consumed {got} messages up to offset {last}, expected {n} up to {n - 1}")
    return run


def kcat_consume(server: Server, topic: str, n: int, out: Path) -> Run:
    """``kcat -C -e -o beginning -c N`` printing each offset, timed as the whole process."""
    cmd = ["kcat", "-C", "-b", server.address, "-t", topic, "-p", "0", "-o", "beginning", "-e", "-c", str(n),
           "-q", "-f", "%o\n"]
    for prop in CONSUME_QUEUE:
        cmd += ["-X", f"{prop}={CONSUME_QUEUE[prop]}"]
    gc.collect()
    with open(out, "wb") as sink_file:
        meter = Meter(server, "children")
        meter.start()
        proc = subprocess.run(cmd, stdout=sink_file, stderr=subprocess.PIPE, timeout=WAIT_S)
        run = meter.stop(n)
    if proc.returncode != 0:
        raise RuntimeError(f"{server.kind}: kcat -C exited {proc.returncode}: {proc.stderr.decode()[-2000:]}")
    lines = out.read_bytes().split()
    if len(lines) != n or int(lines[-1]) != n - 1:
        raise RuntimeError(f"{server.kind}: kcat read {len(lines)} messages (last {lines[-1:]!r}), expected {n}")
    return run


def produce_latency(server: Server, topic: str, n: int) -> tuple[list[float], Run]:
    """Microseconds from produce() to the delivery callback, one message in flight (acks=1, linger.ms=0), and
    the CPU used meanwhile."""
    samples: list[float] = []
    done: list[int] = []

    def on_delivery(err: Any, msg: Any) -> None:
        if err is not None:
            raise RuntimeError(f"{server.kind}: delivery failed: {err}")
        done.append(time.perf_counter_ns())

    value = b"l" * LATENCY_SIZE
    meter = Meter(server, "self")
    with producer(server.address, LATENCY_CONF) as p:
        for i in range(20 + n):  # the first 20 are an untimed warm-up (connection, metadata)
            if i == 20:
                meter.start()
            done.clear()
            t0 = time.perf_counter_ns()
            p.produce(topic, value, on_delivery=on_delivery)
            deadline = time.perf_counter() + 30
            while not done:
                p.poll(1.0)
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"{server.kind}: no delivery report")
            if i >= 20:
                samples.append((done[0] - t0) / 1000)
        run = meter.stop(n)
    return samples, run


def kcat_overhead_ms(server: Server, topic: str) -> float:
    """Wall time of ``kcat -L`` for one topic: kcat's own start-up, connection and metadata, which the
    kcat rows include."""
    t0 = time.perf_counter()
    subprocess.run(["kcat", "-L", "-b", server.address, "-t", topic, "-q"], capture_output=True, check=True,
                   timeout=WAIT_S)
    return (time.perf_counter() - t0) * 1000



def write_lines(path: Path, n: int, size: int) -> Path:
    line = bytes(ord("a") + i % 26 for i in range(size)) + b"\n"
    with open(path, "wb") as f:
        for _ in range(n // 1000):
            f.write(line * 1000)
        f.write(line * (n % 1000))
    return path


# == the table ====================================================================================

@dataclass
class Row:
    metric: str
    unit: str
    ours: float | None
    sink: float | None
    #: throughput rows (medians over the rounds): "srv ours"/"srv sink" (server CPU, % of a core), "us ours"/"us sink"
    #: (server CPU microseconds per message), "client ours"/"client sink" (% of a core), "others" (% of a core)
    cpu: dict[str, float] = field(default_factory=dict)

    def ratio(self) -> float | None:
        if self.ours is None or self.sink is None or self.sink == 0:
            return None
        return self.ours / self.sink


HEAD = ["metric", "unit", "ours", "sink", "ours/sink", "srv cpu% ours/sink", "srv cpu us/msg ours/sink",
        "client cpu% ours/sink", "others cpu%"]



def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}%"


def render(rows: Sequence[Row]) -> str:
    cells = []
    for r in rows:
        ratio = r.ratio()
        c = r.cpu

        def pair(a: str, b: str, show: Callable[[float | None], str]) -> str:
            return "-" if not c else f"{show(c.get(a))}/{show(c.get(b))}"

        cells.append([r.metric, r.unit, fmt(r.ours), fmt(r.sink), "n/a" if ratio is None else f"{ratio:.2f}",
                      pair("srv ours", "srv sink", _pct), pair("us ours", "us sink", fmt),
                      pair("client ours", "client sink", _pct), _pct(c["others"]) if c else "-"])
    return table(HEAD, cells, right=set(range(2, len(HEAD))))



# == one run =====================================================================================

@dataclass
class Result:
    rows: list[Row]
    notes: list[str]
    load: float = 0.0


def _median_cpu(runs: Sequence[Run], attr: str) -> float:
    return statistics.median(getattr(r, attr) / r.seconds * 100 for r in runs)


def cpu_figures(runs: dict[str, list[Run]]) -> dict[str, float]:
    out = {}
    for kind, rs in runs.items():
        out[f"srv {kind}"] = _median_cpu(rs, "server_cpu")
        out[f"us {kind}"] = statistics.median(r.server_cpu / r.messages * 1e6 for r in rs)
        out[f"client {kind}"] = _median_cpu(rs, "client_cpu")
        out[f"faults {kind}"] = statistics.median(r.server_faults / r.messages for r in rs)
    out["others"] = _median_cpu([r for rs in runs.values() for r in rs], "others_cpu")
    return out


def run_all(sizes: Sizes, root: Path) -> Result:
    apis = ours_api_ranges()
    started: dict[str, list[Server]] = {k: [] for k in KINDS}
    for i in range(sizes.startups - 1):  # extra start-ups, one at a time
        for kind in KINDS:
            server = start_server(kind, apis, root / f"startup{i}")
            server.stop()
            started[kind].append(server)
    notes: list[str] = []
    rows: list[Row] = []

    def order(rnd: int) -> Sequence[str]:
        return KINDS if rnd % 2 == 0 else tuple(reversed(KINDS))

    with ExitStack() as stack:
        servers: dict[str, Server] = {}
        for kind in KINDS:
            server = start_server(kind, apis, root / kind)
            stack.callback(server.stop)
            servers[kind] = server
            started[kind].append(server)
        idle_rss = {kind: s.rss_kib() for kind, s in servers.items()}
        all_sizes = sorted(set(sizes.produce_n) | set(sizes.consume_n))
        files = {size: write_lines(root / f"lines-{size}.txt", n, size) for size, n in sizes.produce_n.items()}

        # untimed warm-up, the same on both: a produce run and a consume run of each client
        for kind, server in servers.items():
            for size in all_sizes:
                warm = f"warm-{size}"
                with server.raw() as raw:
                    raw.ensure_topic(warm)
                confluent_produce(server, warm, sizes.warm_n, size)  # plus one warm-up message
                held = warm if kind == "ours" else f"fixed-{size}-{sizes.warm_n + 1}-1000"
                confluent_consume(server, held, sizes.warm_n + 1)
                kcat_consume(server, held, sizes.warm_n + 1, root / "kcat-out.txt")
            produce_latency(server, "warm-latency", 50)

        # the consume data: produced into ours (untimed) by confluent-kafka; the sink serves the same shape
        consume_topic: dict[tuple[str, int], str] = {}
        for size, n in sizes.consume_n.items():
            topic = f"consume-{size}"
            with servers["ours"].raw() as raw:
                raw.ensure_topic(topic)
            confluent_produce(servers["ours"], topic, n - 1, size)  # plus its one warm-up message: n
            with servers["ours"].raw() as raw:
                if raw.end_offset(topic) != n:
                    raise RuntimeError(f"ours holds {raw.end_offset(topic)} messages in {topic}, expected {n}")
                counts = raw.records_per_batch(topic)
            per_batch = int(statistics.median(counts))
            consume_topic[("ours", size)] = topic
            consume_topic[("sink", size)] = f"fixed-{size}-{n}-{per_batch}"
            notes.append(f"consume {size_label(size)}: ours holds {n:,} messages as confluent-kafka batched them"
                         f" (median {per_batch} records per batch, first {counts[:4]}); the sink serves batches"
                         f" of {per_batch}")

        counter = iter(range(1 << 30))

        def throughput(metric: str, size: int, fn: Callable[[Server, int], Run]) -> None:
            runs: dict[str, list[Run]] = {k: [] for k in KINDS}
            for rnd in range(sizes.rounds):
                for kind in order(rnd):
                    servers[kind].check_alive()
                    runs[kind].append(fn(servers[kind], rnd))
            rate = {k: statistics.median(r.rate for r in v) for k, v in runs.items()}
            rows.append(Row(metric, "msg/s", rate["ours"], rate["sink"], cpu_figures(runs)))
            rows.append(Row(metric, "MB/s", rate["ours"] * size / MB, rate["sink"] * size / MB))

        def produce_run(client: str, size: int, n: int) -> Callable[[Server, int], Run]:
            def fn(server: Server, rnd: int) -> Run:
                topic = f"p-{client}-{size}-{next(counter)}"
                with server.raw() as raw:
                    raw.ensure_topic(topic)
                if client == "confluent-kafka":
                    run, expect = confluent_produce(server, topic, n, size), n + 1
                else:
                    run, expect = kcat_produce(server, topic, n, files[size]), n
                with server.raw() as raw:  # both count what they acknowledged
                    got = raw.end_offset(topic)
                    if got != expect:
                        raise RuntimeError(f"{server.kind}: {topic} ends at {got}, expected {expect}")
                    if server.kind == "ours":
                        raw.delete_topic(topic)  # keeps ours' memory bounded; the sink stores nothing
                return run
            return fn

        for client in ("confluent-kafka", "kcat"):
            for size, n in sizes.produce_n.items():
                throughput(f"produce {client} {size_label(size)}", size, produce_run(client, size, n))

        for client in ("confluent-kafka", "kcat"):
            for size, n in sizes.consume_n.items():
                def consume_fn(server: Server, rnd: int, client: str = client, size: int = size,
                               n: int = n) -> Run:
                    topic = consume_topic[(server.kind, size)]
                    if client == "confluent-kafka":
                        return confluent_consume(server, topic, n)
                    return kcat_consume(server, topic, n, root / "kcat-out.txt")
                throughput(f"consume {client} {size_label(size)}", size, consume_fn)

        samples: dict[str, list[float]] = {k: [] for k in KINDS}
        latency_runs: dict[str, list[Run]] = {k: [] for k in KINDS}
        per_round = max(1, sizes.latency_n // sizes.rounds)
        for rnd in range(sizes.rounds):
            for kind in order(rnd):
                got, run = produce_latency(servers[kind], f"latency-{rnd}", per_round)
                samples[kind] += got
                latency_runs[kind].append(run)
        for q in (50, 99):  # the cpu columns (on p50) are per request
            rows.append(Row(f"produce latency acks=1 {LATENCY_SIZE} B p{q}", "us", percentile(samples["ours"], q),
                            percentile(samples["sink"], q), cpu_figures(latency_runs) if q == 50 else {}))

        def median_of(kind: str, attr: str) -> float:
            return statistics.median(getattr(s, attr) for s in started[kind])

        rows.append(Row("start-up: spawn to listening line", "ms", median_of("ours", "to_listening_ms"),
                        median_of("sink", "to_listening_ms")))
        rows.append(Row("start-up: spawn to first ApiVersions answer", "ms", median_of("ours", "to_api_versions_ms"),
                        median_of("sink", "to_api_versions_ms")))
        after = {kind: s.rss_kib() for kind, s in servers.items()}
        rows.append(Row("RSS after start-up", "MiB", idle_rss["ours"] / 1024, idle_rss["sink"] / 1024))
        rows.append(Row("RSS after the workload", "MiB", after["ours"] / 1024, after["sink"] / 1024))
        stored = sum(sizes.consume_n[s] * s for s in sizes.consume_n) + sum(sizes.warm_n * s for s in all_sizes)
        notes.append(f"after the workload ours still holds the warm-up and consume topics ({stored / MB:.0f} MB of"
                     f" values); every produce run's topic was deleted after it was checked")
        notes.append(f"start-up: a bare `python -c pass` takes {python_floor_ms():.0f} ms here"
                     + ("; PYTHONDONTWRITEBYTECODE is set, so both servers compile their (editable) sources at"
                        " every start" if os.environ.get("PYTHONDONTWRITEBYTECODE") else ""))
        overhead = {kind: kcat_overhead_ms(s, "warm-latency") for kind, s in servers.items()}
        notes.append(f"kcat rows include kcat's own start-up: `kcat -L` for one topic takes"
                     f" {overhead['ours']:.0f} ms (ours) / {overhead['sink']:.0f} ms (sink)")
        for server in servers.values():
            server.check_alive()
        load = os.getloadavg()[0]
    return Result(rows, notes, load)


def report(result: Result, sizes: Sizes) -> str:
    import confluent_kafka
    ck = confluent_kafka.version()
    ck_version = ck if isinstance(ck, str) else ck[0]
    kcat = subprocess.run(["kcat", "-V"], capture_output=True, text=True).stdout
    kcat_version = re.search(r"Version (\S+) .*?librdkafka (\S+)", kcat)
    kv = f"kcat {kcat_version.group(1)} (librdkafka {kcat_version.group(2)})" if kcat_version else "kcat ?"
    lines = [
        f"== Kafka broker: ours (python -m broker, in-memory log) vs a trivial sink (asyncio, stores nothing) ==",
        f"both as separate processes on {HOST}; clients: confluent-kafka {ck_version}"
        f" (librdkafka {confluent_kafka.libversion()[0]}), {kv}; load average {result.load:.2f} on"
        f" {os.cpu_count()} CPUs",
        sizes.describe(),
        *([f"both servers run with extra environment: {' '.join(f'{k}={v}' for k, v in SERVER_ENV.items())}"]
          if SERVER_ENV else []),
        "cpu columns, medians over the rounds: srv = the server process, % of one core during the timed part"
        " and CPU microseconds per message; client = this process with librdkafka's threads, or the kcat"
        " process; others = every other process on the machine meanwhile (noise). For us, ms and MiB rows"
        " lower is better.",
        "",
        render(result.rows),
        "",
        *(f"note: {n}" for n in result.notes),
    ]
    lines += ["", f"verdict per throughput row (ours/sink < {SLOWER} counts as clearly slower; a single-threaded server"
              f" at >= {SATURATED:.0f}% of a core is saturated; on {os.cpu_count()} cores the client competes with it):"]
    for r in result.rows:
        if r.unit != "msg/s" or r.ours is None:
            continue
        ratio, busy, us, us_sink = r.ratio() or 0.0, r.cpu["srv ours"], r.cpu["us ours"], r.cpu["us sink"]
        ceiling = 1e6 / us if us > 0 else float("inf")
        cost = us / us_sink if us_sink > 0 else float("inf")
        machine = busy + r.cpu["client ours"] + r.cpu["others"]
        if ratio < SLOWER and busy >= SATURATED:
            verdict = "OURS IS THE BOTTLENECK (a full core)"
        elif ratio < SLOWER and cost >= 1.5:
            verdict = (f"OURS LIMITS IT: {cost:.1f}x the sink's CPU per message, on a machine that client, broker"
                       f" and others keep {machine / (os.cpu_count() or 1):.0f}% busy")
        elif ratio < SLOWER:
            verdict = "slower than the sink, not explained by its CPU (noise?)"
        else:
            verdict = "not the broker"
        lines.append(f"  {r.metric}: ours/sink {ratio:.2f}, ours at {busy:.0f}% of a core, {us:.2f} us CPU/msg"
                     f" ({cost:.1f}x the sink's; one core would carry ~{ceiling:,.0f} msg/s, {ceiling / r.ours:.1f}x"
                     f" the rate reached), minor page faults/msg {r.cpu['faults ours']:.2f} ours /"
                     f" {r.cpu['faults sink']:.2f} sink: {verdict}")
    lat = next((r for r in result.rows if r.metric.startswith("produce latency") and r.cpu), None)
    if lat is not None and lat.ours is not None and lat.sink is not None:
        lines.append(f"  produce latency (one request in flight): p50 {lat.ours:.0f} us ours, {lat.sink:.0f} us sink;"
                     f" server CPU per request {lat.cpu['us ours']:.0f} us ours, {lat.cpu['us sink']:.0f} us sink"
                     f" (the per-request overhead; this machine's wake-ups alone cost tens of us)")
    return "\n".join(lines)


# == profiling ====================================================================================

PROFILE_TOP = 14
IDLE_LEAVES = ("epoll_wait ", "select ", "poll ")  # native leaves where a thread waits for I/O
_FRAME = re.compile(r"^(?P<name>.*) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


def py_spy_binary() -> str | None:
    found = shutil.which("py-spy")
    local = Path(sys.executable).parent / "py-spy"
    return found or (str(local) if local.exists() else None)


@dataclass
class Phase:
    """One profiled workload: what runs untimed before sampling starts, and what is sampled."""

    name: str
    prepare: Callable[[Server], None]
    work: Callable[[Server], None]


def profile_phases(sizes: Sizes, root: Path) -> list[Phase]:
    def produce(server: Server) -> None:
        for size, n in sizes.produce_n.items():
            topic = f"prof-produce-{size}-{next(_prof_ids)}"
            with server.raw() as raw:
                raw.ensure_topic(topic)
            confluent_produce(server, topic, n, size)
            with server.raw() as raw:
                raw.delete_topic(topic)

    def fill(server: Server) -> None:
        for size, n in sizes.consume_n.items():
            with server.raw() as raw:
                raw.ensure_topic(f"prof-consume-{size}")
            confluent_produce(server, f"prof-consume-{size}", n - 1, size)

    def consume(server: Server) -> None:
        for _ in range(2):
            for size, n in sizes.consume_n.items():
                confluent_consume(server, f"prof-consume-{size}", n)

    def latency(server: Server) -> None:
        produce_latency(server, "prof-latency", max(sizes.latency_n, 3000))

    def nothing(server: Server) -> None:
        pass

    sizes_text = " + ".join(size_label(s) for s in sizes.produce_n)
    return [
        Phase(f"produce: confluent-kafka acks=1 linger.ms=5, {sizes_text}", nothing, produce),
        Phase(f"consume: confluent-kafka from the beginning, {sizes_text}, twice", fill, consume),
        Phase(f"produce latency: one {LATENCY_SIZE} B message in flight, linger.ms=0,"
              f" {max(sizes.latency_n, 3000)} requests",
              nothing, latency),
    ]


_prof_ids = iter(range(1 << 30))


def run_profile(tool: str, sizes: Sizes, root: Path) -> str:
    """Profile ours under each phase's workload, a fresh broker per phase. py-spy (sampling, ``--native``) is
    attached after the phase's preparation; cProfile (deterministic, with its own overhead on call-heavy code)
    profiles the whole broker process, preparation included."""
    apis = ours_api_ranges()
    spy = py_spy_binary()
    if tool == "py-spy" and spy is None:
        tool = "cprofile"
        out = ["py-spy is not installed (pip install py-spy): falling back to cProfile", ""]
    else:
        out = []
    for i, phase in enumerate(profile_phases(sizes, root)):
        workdir = root / f"profile{i}"
        stats = workdir / "broker.pstats"
        server = start_server("ours", apis, workdir, profile_to=stats if tool == "cprofile" else None)
        try:
            phase.prepare(server)
            cpu0 = server.cpu()
            t0 = time.perf_counter()
            if tool == "py-spy":
                assert spy is not None
                raw_out = workdir / "py-spy.txt"
                rate = 500
                # --native: C frames too (syscalls, memcpy), so copies show up under the line that makes them
                recorder = subprocess.Popen([spy, "record", "--pid", str(server.pid), "--rate", str(rate), "--native",
                                             "--format", "raw", "--output", str(raw_out)],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                time.sleep(1.0)  # attached and sampling (idle samples are not recorded)
                t0, cpu0 = time.perf_counter(), server.cpu()
                try:
                    phase.work(server)
                finally:
                    seconds, busy = time.perf_counter() - t0, server.cpu() - cpu0
                    recorder.send_signal(signal.SIGINT)
                    _, err = recorder.communicate(timeout=60)
                if not raw_out.exists():
                    raise RuntimeError(f"py-spy wrote nothing: {err.decode()[-2000:]}")
                body = summarize_collapsed(raw_out.read_text(), rate * seconds)
            else:
                phase.work(server)
                seconds, busy = time.perf_counter() - t0, server.cpu() - cpu0
        finally:
            server.stop()
        if tool == "cprofile":
            body = summarize_pstats(stats)
        out += [f"-- {tool} of ours, {phase.name}: {seconds:.1f} s, ours busy {busy:.2f} CPU-s"
                f" ({busy / seconds * 100:.0f}% of a core) --", body, ""]
    return "\n".join(out).rstrip()


def _short(path: str) -> str:
    root = str(Path(__file__).resolve().parent.parent) + os.sep
    if path.startswith(root):
        return path[len(root):]
    for marker in ("site-packages" + os.sep, "python3.11" + os.sep, "python3.12" + os.sep, "python3.13" + os.sep):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def _area(file: str) -> str:
    """A frame's file, grouped: broker/<file>, wire/<file>, trio/, selectors+socket (stdlib), ..."""
    f = _short(file)
    if f.startswith(("broker/", "wire/", "zkserver/")):
        return f
    if f.startswith("trio/"):
        return "trio/ (scheduler, sockets)"
    return f"{f} (stdlib/other)" if "/" not in f else f.split("/", 1)[0] + "/"


def _is_python(file: str) -> bool:
    return file.endswith(".py") or file.startswith("<")


def summarize_collapsed(text: str, possible: float = 0.0) -> str:
    """py-spy's raw (collapsed, ``--native``) stacks: own samples per file and per function, native leaves
    (syscalls, libc's unnamed memcpy) charged to the Python line that called them, and inclusive samples of
    broker/ and wire/ functions."""
    own: dict[str, int] = {}
    native: dict[str, int] = {}
    incl: dict[str, int] = {}
    area: dict[str, int] = {}
    total = native_total = waiting = 0
    for line in text.splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        count = int(count_s)
        if stack.rsplit(";", 1)[-1].startswith(IDLE_LEAVES):
            waiting += count  # blocked in the kernel waiting for I/O: py-spy may record it, it is not work
            continue
        total += count
        frames: list[tuple[str, str, str]] = []  # name, short file, line
        for f in stack.split(";"):
            m = _FRAME.match(f)
            frames.append((m.group("name"), _short(m.group("file")), m.group("line") or "") if m else (f, "", ""))
        py = [fr for fr in frames if _is_python(fr[1])]
        if not py:
            continue
        caller_name, caller_file, caller_line = py[-1]
        area[_area(caller_file)] = area.get(_area(caller_file), 0) + count
        fn = f"{caller_file}:{caller_name}"
        own[fn] = own.get(fn, 0) + count
        leaf_name, leaf_file, _ = frames[-1]
        if not _is_python(leaf_file):
            native_total += count
            what = "libc (unnamed symbol: memcpy/memmove)" if leaf_name.startswith("0x") else leaf_name
            key = f"{what} <- {caller_file}:{caller_line} ({caller_name})"
            native[key] = native.get(key, 0) + count
        for name, file, _line in {(n, f, "") for n, f, _l in py}:
            incl[f"{file}:{name}"] = incl.get(f"{file}:{name}", 0) + count

    def pct(n: int) -> str:
        return f"{n / max(total, 1) * 100:5.1f}%"

    lines = [f"{total} busy samples ({waiting} more blocked in epoll_wait are left out), {pct(native_total).strip()}"
             " of them in native code (C, libc, syscalls); percentages are of the busy samples"
             + (f"; busy samples / (rate x seconds) = {total / possible * 100:.0f}% of a core" if possible else ""),
             "own time by file (native time charged to the Python file that called it):"]
    lines += [f"  {pct(n)}  {a}" for a, n in sorted(area.items(), key=lambda kv: -kv[1])[:PROFILE_TOP]]
    lines.append("own time by Python function (including the native code it called):")
    lines += [f"  {pct(n)}  {f}" for f, n in sorted(own.items(), key=lambda kv: -kv[1])[:PROFILE_TOP]]
    if native:
        lines.append("native leaves, by the Python line that called them:")
        lines += [f"  {pct(n)}  {k}" for k, n in sorted(native.items(), key=lambda kv: -kv[1])[:PROFILE_TOP]]
    lines.append("inclusive time, broker/ and wire/ functions:")
    ours = [(f, n) for f, n in incl.items() if f.startswith(("broker/", "wire/")) and "__main__" not in f]
    lines += [f"  {pct(n)}  {f}" for f, n in sorted(ours, key=lambda kv: -kv[1])[:PROFILE_TOP]]
    return "\n".join(lines)


def summarize_pstats(path: Path) -> str:
    import pstats
    raw: dict[Any, Any] = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]

    def idle(name: str) -> bool:
        return "poll" in name and ("epoll" in name or "select" in name)

    busy = sum(tt for (_f, _l, name), (_cc, _nc, tt, _ct, _c) in raw.items() if not idle(name))
    lines = [f"{busy:.2f} s of own time outside epoll (cProfile's overhead inflates call-heavy code)",
             "own time by function:"]
    by_tt = sorted(((k, v) for k, v in raw.items() if not idle(k[2])), key=lambda kv: -kv[1][2])
    for (file, line, name), (_cc, nc, tt, _ct, _c) in by_tt[:PROFILE_TOP]:
        lines.append(f"  {tt / busy * 100:5.1f}%  {tt:7.3f} s {nc:9d} calls  {_short(file)}:{line}({name})")
    lines.append("inclusive time, broker/ and wire/ functions:")
    ours = [(k, v) for k, v in raw.items() if _short(k[0]).startswith(("broker/", "wire/"))]
    for (file, line, name), (_cc, nc, _tt, ct, _c) in sorted(ours, key=lambda kv: -kv[1][3])[:PROFILE_TOP]:
        lines.append(f"  {ct / busy * 100:5.1f}%  {ct:7.3f} s {nc:9d} calls  {_short(file)}:{line}({name})")
    return "\n".join(lines)


# == main =========================================================================================

def main(argv: list[str] | None = None) -> int:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(prog="python -m bench.kafka_broker", description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of every metric")
    parser.add_argument("--profile", nargs="?", const="auto", choices=["auto", "cprofile", "py-spy"],
                        help="afterwards, profile ours under the confluent-kafka workloads (default: py-spy when"
                             " installed, else cProfile)")
    parser.add_argument("--profile-only", action="store_true", help="skip the table, only profile")
    parser.add_argument("--server-env", action="append", default=[], metavar="KEY=VALUE",
                        help="extra environment for both servers (repeatable), e.g. MALLOC_TRIM_THRESHOLD_=1073741824")
    parser.add_argument("--sink", action="store_true", help=argparse.SUPPRESS)  # run the sink server itself
    parser.add_argument("--host", default=HOST, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--apis", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sink:
        return sink_main(args.host, args.port, args.apis)
    for item in args.server_env:
        key, eq, value = item.partition("=")
        if not eq:
            parser.error(f"--server-env wants KEY=VALUE, got {item!r}")
        SERVER_ENV[key] = value
    for tool in ("kcat",):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed (apt-get install kcat)", file=sys.stderr)
            return 2
    sizes = QUICK if args.quick else FULL
    with tempfile.TemporaryDirectory(prefix="kafkabench-") as tmp:
        if not args.profile_only:
            t0 = time.perf_counter()
            result = run_all(sizes, Path(tmp))
            print(report(result, sizes))
            print(f"(took {time.perf_counter() - t0:.1f} s)", flush=True)
        if args.profile or args.profile_only:
            print()
            tool = args.profile or "auto"
            if tool == "auto":
                tool = "py-spy" if py_spy_binary() else "cprofile"
            print(run_profile(tool, sizes, Path(tmp)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
