"""Encode/decode cost of ``wire``'s codecs against other implementations, as ratios.

    python -m bench.wire_codecs [--quick]

Every number comes from one process run: each implementation is timed with
timeit-style loops (calls per loop calibrated to a minimum loop time, best of N
loops, ours and the other interleaved so both see the same load), and the table
reports ``other / ours`` for each (message, operation, other implementation). Absolute microseconds are printed for orientation only;
machines are noisy, so nothing here asserts a threshold.

Workloads (built once, with ``wire``'s dataclasses; the other implementations get
the same bytes decoded by themselves, and the same values re-encoded):

* ProduceRequest v9: one topic, 4 partitions, each a ~16 KB uncompressed RecordBatch v2.
* FetchResponse v12 and v16: 2 topics x 4 partitions with ~16 KB batches (v16 with
  topic ids, current-leader tagged fields and node endpoints).
* MetadataRequest v12 (20 topics) and MetadataResponse v12 (3 brokers, 20 topics x
  10 partitions, 3 replicas each).
* ZooKeeper GetData round: RequestHeader + GetDataRequest and ReplyHeader +
  GetDataResponse (with Stat). kazoo only implements the client half (encode the
  request, decode the reply), so it is compared on that half; the oracle on both.

Others: the construct oracle (``wire/tests/oracle``), kafka-python 3.0.12's
``kafka.protocol`` classes, and kazoo's ``kazoo.protocol.serialization``.
Each "agree" column says whether the other implementation produced the same
bytes as ours (encode) or read our bytes back to the same re-encoding (decode).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import timeit
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wire.kafka.messages.fetch import FetchResponse
from wire.kafka.messages.metadata import MetadataRequest, MetadataResponse
from wire.kafka.messages.produce import ProduceRequest
from wire.tests.oracle import kafka_messages as oracle_kafka
from wire.tests.oracle import zk as oracle_zk
from wire.tests.oracle.kafka_types import plain
from wire.tests.oracle.records import RECORD_BATCH

# --- timing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    repeat: int  # timed loops per implementation; the best one counts
    min_loop_s: float  # calls per loop are raised until one loop takes at least this long


FULL = Settings(repeat=15, min_loop_s=0.05)
QUICK = Settings(repeat=2, min_loop_s=0.003)


def calibrate(timer: timeit.Timer, min_loop_s: float) -> int:
    """Calls per loop so that one loop lasts at least ``min_loop_s``."""
    number = 1
    while True:
        elapsed = timer.timeit(number)
        if elapsed >= min_loop_s or number >= 1 << 20:
            return number
        number *= 2 if elapsed <= 0 else max(2, min(10, int(min_loop_s / elapsed * 1.2) + 1))


def paired_best_us(ours: Callable[[], object], other: Callable[[], object],
                   settings: Settings) -> tuple[float, float]:
    """Best time per call (µs) of each, with their loops interleaved (ours, other, ours, ...)
    so that both see the same machine load; the ratio is what matters."""
    timers = (timeit.Timer(ours), timeit.Timer(other))
    numbers = [calibrate(t, settings.min_loop_s) for t in timers]
    best = [float("inf"), float("inf")]
    for _ in range(settings.repeat):
        for i, (timer, number) in enumerate(zip(timers, numbers, strict=True)):
            best[i] = min(best[i], timer.timeit(number) / number)
    return best[0] * 1e6, best[1] * 1e6


# --- cases ---------------------------------------------------------------------------------


@dataclass
class Other:
    name: str
    fn: Callable[[], object]
    agrees: bool


@dataclass
class Case:
    message: str
    op: str
    ours: Callable[[], object]
    others: list[Other] = field(default_factory=list)


@dataclass
class Row:
    message: str
    op: str
    ours_us: float
    other: str
    other_us: float
    agrees: bool

    @property
    def ratio(self) -> float:
        return self.other_us / self.ours_us


# --- workloads -----------------------------------------------------------------------------


def record_batch(size: int, seed: int, base_offset: int = 0) -> bytes:
    """An uncompressed RecordBatch v2 of about ``size`` bytes (built by the oracle, CRC and all)."""
    rng = random.Random(seed)
    records = []
    total = 61
    ts = 1_700_000_000_000
    i = 0
    while total < size:
        value = bytes(rng.getrandbits(8) for _ in range(150))
        records.append({
            "attributes": 0, "timestamp_delta": i, "offset_delta": i,
            "key": f"key-{i}".encode(), "value": value,
            "headers": [{"key": "trace", "value": b"abc"}] if i % 8 == 0 else [],
        })
        total += 150 + 20
        i += 1
    batch = {
        "base_offset": base_offset, "partition_leader_epoch": 3, "attributes": 0,
        "last_offset_delta": len(records) - 1, "base_timestamp": ts, "max_timestamp": ts + len(records) - 1,
        "producer_id": 1234, "producer_epoch": 0, "base_sequence": 0, "records": records,
    }
    return bytes(RECORD_BATCH.build(batch))


def produce_request(batches: list[bytes]) -> ProduceRequest:
    return ProduceRequest(
        transactional_id=None, acks=-1, timeout_ms=30_000,
        topic_data=[ProduceRequest.TopicProduceData(
            name="bench-topic",
            partition_data=[ProduceRequest.PartitionProduceData(index=p, records=b) for p, b in enumerate(batches)],
        )],
    )


def fetch_response(version: int, batches: list[bytes]) -> FetchResponse:
    topics = []
    for t in range(2):
        partitions = []
        for p in range(4):
            partitions.append(FetchResponse.PartitionData(
                partition_index=p, error_code=0, high_watermark=100_000 + p, last_stable_offset=100_000 + p,
                log_start_offset=0, aborted_transactions=[] if p % 2 else None, preferred_read_replica=-1,
                records=batches[(t * 4 + p) % len(batches)],
                current_leader=(FetchResponse.LeaderIdAndEpoch(leader_id=1, leader_epoch=7)
                                if version >= 16 else FetchResponse.LeaderIdAndEpoch()),
            ))
        if version >= 13:
            topics.append(FetchResponse.FetchableTopicResponse(topic_id=uuid.UUID(int=t + 1), partitions=partitions))
        else:
            topics.append(FetchResponse.FetchableTopicResponse(topic=f"bench-topic-{t}", partitions=partitions))
    nodes = ([FetchResponse.NodeEndpoint(node_id=1, host="broker-1.example", port=9092, rack="r1")]
             if version >= 16 else [])
    return FetchResponse(throttle_time_ms=0, error_code=0, session_id=42, responses=topics, node_endpoints=nodes)


def metadata_request() -> MetadataRequest:
    return MetadataRequest(
        topics=[MetadataRequest.MetadataRequestTopic(name=f"topic-{i:02d}") for i in range(20)],
        allow_auto_topic_creation=False, include_topic_authorized_operations=False,
    )


def metadata_response() -> MetadataResponse:
    brokers = [MetadataResponse.MetadataResponseBroker(node_id=n, host=f"broker-{n}.example", port=9092, rack=f"r{n}")
               for n in range(3)]
    topics = []
    for t in range(20):
        partitions = [
            MetadataResponse.MetadataResponsePartition(
                error_code=0, partition_index=p, leader_id=p % 3, leader_epoch=5,
                replica_nodes=[(p + r) % 3 for r in range(3)], isr_nodes=[(p + r) % 3 for r in range(3)],
                offline_replicas=[],
            )
            for p in range(10)
        ]
        topics.append(MetadataResponse.MetadataResponseTopic(
            error_code=0, name=f"topic-{t:02d}", topic_id=uuid.UUID(int=t + 1), is_internal=False,
            partitions=partitions, topic_authorized_operations=-2147483648,
        ))
    return MetadataResponse(throttle_time_ms=0, brokers=brokers, cluster_id="bench-cluster", controller_id=0,
                            topics=topics)


# --- Kafka cases ---------------------------------------------------------------------------


def _kafka_python_class(name: str) -> Any:
    from kafka.protocol.consumer import FetchResponse as KFetchResponse
    from kafka.protocol.metadata import MetadataRequest as KMetadataRequest
    from kafka.protocol.metadata import MetadataResponse as KMetadataResponse
    from kafka.protocol.producer import ProduceRequest as KProduceRequest

    classes: dict[str, Any] = {
        "ProduceRequest": KProduceRequest, "FetchResponse": KFetchResponse,
        "MetadataRequest": KMetadataRequest, "MetadataResponse": KMetadataResponse,
    }
    return classes[name]


def kafka_cases(obj: Any, version: int) -> list[Case]:
    """Encode and decode cases for one of our message objects against construct and kafka-python."""
    cls = type(obj)
    name: str = cls.NAME
    label = f"{name} v{version}"
    data = obj.encode(version)
    assert cls.decode(data, version) == obj

    oracle = oracle_kafka.message(name, version)
    value = plain(oracle.parse(data))
    oracle_bytes = oracle.build(value)

    kcls = _kafka_python_class(name)
    kobj = kcls.decode(data, version=version, header=False)
    # A decoded kafka-python object carries its version but no header slot, so
    # encode(version=...) trips over it; encode() uses the decoded version.
    kbytes = kobj.encode(header=False)
    kdecoded_again = kcls.decode(kbytes, version=version, header=False).encode(header=False)

    enc = Case(label, "encode", lambda: obj.encode(version), [
        Other("construct", lambda: oracle.build(value), oracle_bytes == data),
        Other("kafka-python", lambda: kobj.encode(header=False), kbytes == data),
    ])
    dec = Case(label, "decode", lambda: cls.decode(data, version), [
        Other("construct", lambda: oracle.parse(data), plain(oracle.parse(data)) == value),
        Other("kafka-python", lambda: kcls.decode(data, version=version, header=False), kdecoded_again == data),
    ])
    return [enc, dec]


# --- ZooKeeper case ------------------------------------------------------------------------

ZK_PATH = "/brokers/topics/bench-topic/partitions/0/state"
ZK_DATA = b'{"controller_epoch":3,"leader":1,"version":1,"leader_epoch":7,"isr":[1,2,3]}'
ZK_STAT = (4294967301, 4294967350, 1_700_000_000_000, 1_700_000_100_000, 12, 0, 0, 0, len(ZK_DATA), 0, 4294967301)
ZK_XID = 17
ZK_ZXID = 4294967399
GET_DATA = 4


def zk_cases() -> list[Case]:
    """A GetData round: the client encodes the request and decodes the reply; the server the reverse."""
    from kazoo.protocol import serialization as kz

    from wire.zk import protocol as zk
    from wire.zk.records import GetDataRequest, GetDataResponse, ReplyHeader, Stat

    stat_names = ["czxid", "mzxid", "ctime", "mtime", "version", "cversion", "aversion", "ephemeral_owner",
                  "data_length", "num_children", "pzxid"]
    stat = dict(zip(stat_names, ZK_STAT, strict=True))
    o_req_header, o_req = oracle_zk.REQUEST_HEADER, oracle_zk.GET_DATA_REQUEST
    o_rep_header, o_rep = oracle_zk.REPLY_HEADER, oracle_zk.GET_DATA_RESPONSE
    get_data = zk.OpCode.getData

    def ours_encode_request() -> bytes:
        return zk.encode_request(ZK_XID, get_data, GetDataRequest(ZK_PATH, True))

    def ours_encode_reply() -> bytes:
        return zk.encode_reply(ZK_XID, ZK_ZXID, 0, GetDataResponse(ZK_DATA, Stat(*ZK_STAT)))

    request = ours_encode_request()
    reply = ours_encode_reply()

    def ours_decode_reply() -> tuple[Any, Any]:
        return zk.decode_reply(reply, get_data)

    def ours_decode_request() -> Any:
        return zk.decode_request(request)

    def oracle_encode_request() -> bytes:
        return bytes(o_req_header.build({"xid": ZK_XID, "type": GET_DATA})
                     + o_req.build({"path": ZK_PATH, "watch": True}))

    def oracle_decode_reply() -> tuple[Any, Any]:
        header = o_rep_header.parse(reply)
        return header, o_rep.parse(reply[o_rep_header.sizeof():])

    def oracle_decode_request() -> tuple[Any, Any]:
        header = o_req_header.parse(request)
        return header, o_req.parse(request[o_req_header.sizeof():])

    def oracle_encode_reply() -> bytes:
        return bytes(o_rep_header.build({"xid": ZK_XID, "zxid": ZK_ZXID, "err": 0})
                     + o_rep.build({"data": ZK_DATA, "stat": stat}))

    def kazoo_encode_request() -> bytes:
        # what kazoo's ConnectionHandler._submit writes: xid, type, then the request record
        b = bytearray(kz.int_struct.pack(ZK_XID))
        b.extend(kz.int_struct.pack(kz.GetData.type))
        b += kz.GetData(ZK_PATH, True).serialize()
        return bytes(b)

    def kazoo_decode_reply() -> tuple[Any, Any]:
        header, offset = kz.ReplyHeader.deserialize(reply, 0)
        return header, kz.GetData.deserialize(reply, offset)

    assert ours_decode_reply() == (ReplyHeader(ZK_XID, ZK_ZXID, 0), GetDataResponse(ZK_DATA, Stat(*ZK_STAT)))
    oh, orq = oracle_decode_reply()
    oracle_reply_ok = (plain(oh), plain(orq)) == ({"xid": ZK_XID, "zxid": ZK_ZXID, "err": 0},
                                                   {"data": ZK_DATA, "stat": stat})
    kh, (kdata, kstat) = kazoo_decode_reply()
    kazoo_reply_ok = tuple(kh) == (ZK_XID, ZK_ZXID, 0) and kdata == ZK_DATA and tuple(kstat) == ZK_STAT
    qh, qr = oracle_decode_request()
    oracle_request_ok = (plain(qh), plain(qr)) == ({"xid": ZK_XID, "type": GET_DATA}, {"path": ZK_PATH, "watch": True})

    label = "ZK GetData round"
    return [
        Case(label, "client: enc req+dec reply", lambda: (ours_encode_request(), ours_decode_reply()), [
            Other("construct", lambda: (oracle_encode_request(), oracle_decode_reply()),
                  oracle_encode_request() == request and oracle_reply_ok),
            Other("kazoo", lambda: (kazoo_encode_request(), kazoo_decode_reply()),
                  kazoo_encode_request() == request and kazoo_reply_ok),
        ]),
        Case(label, "server: dec req+enc reply", lambda: (ours_decode_request(), ours_encode_reply()), [
            Other("construct", lambda: (oracle_decode_request(), oracle_encode_reply()),
                  oracle_request_ok and oracle_encode_reply() == reply),
        ]),
    ]


# --- running -----------------------------------------------------------------------------


def build_cases() -> list[Case]:
    batches = [record_batch(16 * 1024, seed=i, base_offset=1000 * i) for i in range(4)]
    cases: list[Case] = []
    cases += kafka_cases(produce_request(batches), 9)
    cases += kafka_cases(fetch_response(12, batches), 12)
    cases += kafka_cases(fetch_response(16, batches), 16)
    cases += kafka_cases(metadata_request(), 12)
    cases += kafka_cases(metadata_response(), 12)
    cases += zk_cases()
    return cases


def run(settings: Settings) -> list[Row]:
    rows: list[Row] = []
    for case in build_cases():
        for other in case.others:
            ours_us, other_us = paired_best_us(case.ours, other.fn, settings)
            rows.append(Row(case.message, case.op, ours_us, other.name, other_us, other.agrees))
    return rows


HEADER = ("message", "op", "ours µs", "other", "other µs", "other/ours", "agree")


def format_table(rows: list[Row]) -> str:
    cells = [HEADER] + [
        (r.message, r.op, f"{r.ours_us:.1f}", r.other, f"{r.other_us:.1f}", f"{r.ratio:.1f}x",
         "yes" if r.agrees else "NO")
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(HEADER))]
    right = {2, 4, 5}
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.wire_codecs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few, short loops: a smoke run for CI (seconds)")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    start = time.perf_counter()
    rows = run(settings)
    print(format_table(rows))
    mode = "quick" if args.quick else "full"
    print(f"\n{mode} run: best of {settings.repeat} interleaved loops of >= {settings.min_loop_s * 1e3:g} ms each; "
          f"{time.perf_counter() - start:.1f} s. other/ours > 1 means ours is faster.")
    return 0 if all(r.agrees for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
