"""kcat 1.7.1 (Debian, librdkafka 2.0.2) against the broker: ApiVersions v3, Metadata v4, Produce v7,
Fetch v11, ListOffsets v2.

kcat cannot set a record's timestamp when producing (records get CreateTime
"now"), so its produced records are compared exactly against what the broker
stored (read back with our own codecs), and the explicit-timestamp paths
(``-o s@TS``, ``-Q``) are checked on records with known timestamps written with
a raw Produce. "Latest" is ``-o end`` without ``-e``: kcat reports reaching the
end on stderr, and only then are new records produced; it must print exactly
those. kcat has no admin commands; ``-L`` (metadata) and ``-Q`` (offsets for
times) are checked.
"""

from __future__ import annotations

import json
import select
import subprocess
import time
from typing import Any


from broker.testing import RunningBroker
from compat_tests.kafka.conftest import (
    BASE_TS, CODECS, WAIT, ApiLog, RawKafka, Rec, TopicName, create_topic, expected, leaders, stored_batches,
    stored_records, wait_stored,
)
from wire.kafka.messages.produce import ProduceRequest
from wire.kafka.records import BatchBuilder


# partition, extra -X settings, codec
PLAN: list[tuple[int, list[str], str]] = [
    (0, ["acks=0"], "snappy"),
    (1, ["acks=1"], "gzip"),
    (2, ["acks=all", "enable.idempotence=true"], "lz4"),
    (3, ["acks=all"], "zstd"),
]
COUNT = 5


def kcat(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run(["kcat", *args], input=stdin, capture_output=True, timeout=WAIT + 15)
    assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc


def produce(bootstrap: str, topic: str, partition: int, lines: list[tuple[str, str]], codec: str,
            settings: list[str], headers: list[str]) -> None:
    args = ["-P", "-b", bootstrap, "-t", topic, "-p", str(partition), "-K", "\t", "-X", f"compression.codec={codec}"]
    for s in settings:
        args += ["-X", s]
    for h in headers:
        args += ["-H", h]
    kcat(*args, stdin="".join(f"{k}\t{v}\n" for k, v in lines).encode())


def parse(stdout: bytes) -> list[Rec]:
    out = []
    for line in stdout.decode().splitlines():
        m: dict[str, Any] = json.loads(line)
        assert m["tstype"] == "create"
        flat = m.get("headers") or []
        headers = tuple((flat[i], None if flat[i + 1] is None else flat[i + 1].encode())
                        for i in range(0, len(flat), 2))
        out.append(Rec(m["partition"], m["offset"], m["ts"], None if m["key"] is None else m["key"].encode(),
                       None if m["payload"] is None else m["payload"].encode(), headers))
    return out


def consume(bootstrap: str, topic: str, partition: int | None, offset: str) -> list[Rec]:
    """``kcat -C -e -J`` from ``offset`` (beginning | end | N | -N | s@TS) to the end of one partition, or of
    every partition when ``partition`` is None; sorted by partition and offset."""
    where = [] if partition is None else ["-p", str(partition)]
    return sorted(parse(kcat("-C", "-b", bootstrap, "-t", topic, *where, "-o", offset, "-e", "-J").stdout))


def raw_produce(bootstrap: str, topic: str, recs: list[Rec]) -> None:
    b = BatchBuilder()
    for r in recs:
        b.append(r.value, r.key, r.headers, timestamp=r.timestamp)
    req = ProduceRequest(acks=-1, timeout_ms=5000, topic_data=[ProduceRequest.TopicProduceData(
        topic, [ProduceRequest.PartitionProduceData(recs[0].partition, b.build())])])
    with RawKafka.to(bootstrap) as raw:
        resp = raw.request(0, 9, req)
    assert resp.responses[0].partition_responses[0].error_code == 0


def test_produce_every_acks_and_codec_then_consume(bootstrap: str, api_log: ApiLog, topic_name: TopicName) -> None:
    topic = topic_name()
    create_topic(bootstrap, topic, partitions=len(PLAN))
    before = int(time.time() * 1000)
    for partition, settings, codec in PLAN:
        recs = expected(f"kcat-{codec}", partition, COUNT)
        lines = [(r.key.decode(), r.value.decode()) for r in recs]  # type: ignore[union-attr]
        produce(bootstrap, topic, partition, lines, codec, settings, [f"src=kcat-{codec}", "flag"])
    after = int(time.time() * 1000)

    stored: dict[int, list[Rec]] = {}
    for partition, settings, codec in PLAN:
        wait_stored(bootstrap, topic, partition, COUNT)
        batches = stored_batches(bootstrap, topic, partition)
        assert {b.compression for b in batches} == {CODECS[codec]}, codec
        assert all((b.producer_id >= 0) == ("enable.idempotence=true" in settings) for b in batches)
        recs = stored[partition] = [r for b in batches for r in b.records]
        # what kcat sent: keys, values, the same two headers on every record (one with a null value), "now"
        headers = (("src", f"kcat-{codec}".encode()), ("flag", None))
        assert [r._replace(timestamp=0) for r in recs] == [
            s._replace(timestamp=0, headers=headers) for s in expected(f"kcat-{codec}", partition, COUNT)]
        assert all(before <= r.timestamp <= after for r in recs)

    everything = sorted(r for recs in stored.values() for r in recs)
    assert consume(bootstrap, topic, None, "beginning") == everything
    assert consume(bootstrap, topic, None, "-2") == [r for r in everything if r.offset >= COUNT - 2]  # from the end
    assert consume(bootstrap, topic, None, "3") == [r for r in everything if r.offset >= 3]
    assert consume(bootstrap, topic, None, "end") == []
    assert api_log.by_key() == {18: {3}, 3: {4}, 22: {4}, 0: {7}, 1: {11}, 2: {2}}


def test_consume_from_a_timestamp_and_query_offsets(bootstrap: str, topic_name: TopicName) -> None:
    topic = topic_name()
    create_topic(bootstrap, topic)
    recs = expected("kcat-ts", 0, COUNT)
    raw_produce(bootstrap, topic, recs)
    assert consume(bootstrap, topic, 0, f"s@{BASE_TS + 2500}") == recs[3:]
    assert consume(bootstrap, topic, 0, f"s@{BASE_TS}") == recs
    for ts, offset in ((BASE_TS + 2500, 3), (BASE_TS - 1, 0), (BASE_TS + 99_000, -1)):
        out = kcat("-Q", "-b", bootstrap, "-t", f"{topic}:0:{ts}")
        assert out.stdout.decode().splitlines() == [f"{topic} [0] offset {offset}"]


def test_latest_sees_only_new_records(bootstrap: str, topic_name: TopicName) -> None:
    topic = topic_name()
    create_topic(bootstrap, topic)
    raw_produce(bootstrap, topic, expected("kcat-old", 0, 2))
    proc = subprocess.Popen(["kcat", "-C", "-b", bootstrap, "-t", topic, "-p", "0", "-o", "end", "-c", "2", "-J"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + WAIT
        seen: list[str] = []
        while not (seen and seen[-1].startswith(f"% Reached end of topic {topic} [0] at offset 2")):
            ready, _, _ = select.select([proc.stderr], [], [], max(0.0, deadline - time.monotonic()))
            assert ready, f"kcat did not reach the end of the partition: {seen}"
            line = proc.stderr.readline().decode()
            assert line, f"kcat exited early: {seen}"
            seen.append(line)
        new = expected("kcat-new", 0, 2, first_offset=2, ts0=BASE_TS + 60_000)
        raw_produce(bootstrap, topic, new)
        stdout, _ = proc.communicate(timeout=WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert parse(stdout) == new


def test_metadata_listing(kafka_cluster: RunningBroker, topic_name: TopicName) -> None:
    bootstrap = kafka_cluster.bootstrap_servers
    topic = topic_name()
    create_topic(bootstrap, topic, partitions=3, replication=2)
    md = json.loads(kcat("-L", "-J", "-b", bootstrap.split(",")[1], "-t", topic).stdout)
    assert md["controllerid"] == 1
    assert sorted((b["id"], b["name"]) for b in md["brokers"]) == [
        (i + 1, f"127.0.0.1:{port}") for i, port in enumerate(kafka_cluster.server.ports)]
    (t,) = md["topics"]
    assert t["topic"] == topic and "error" not in t
    assert [(p["partition"], p["leader"], [r["id"] for r in p["replicas"]], [r["id"] for r in p["isrs"]])
            for p in t["partitions"]] == [(0, 1, [1, 2], [1, 2]), (1, 2, [2, 3], [2, 3]), (2, 3, [3, 1], [3, 1])]


def test_three_brokers_route_by_leader(kafka_cluster: RunningBroker, topic_name: TopicName) -> None:
    bootstrap = kafka_cluster.bootstrap_servers
    one = bootstrap.split(",")[2]
    topic = topic_name()
    create_topic(bootstrap, topic, partitions=3, replication=3)
    assert leaders(bootstrap, topic) == {0: 1, 1: 2, 2: 3}
    for p in range(3):
        produce(one, topic, p, [(f"k{p}-{i}", f"value {p} {i} " * 20) for i in range(3)], "gzip", ["acks=all"],
                [f"p={p}"])
    everything = []
    for p in range(3):
        stored = stored_records(bootstrap, topic, p)
        assert [(r.offset, r.key, r.headers) for r in stored] == [(i, f"k{p}-{i}".encode(), (("p", str(p).encode()),))
                                                                  for i in range(3)]
        everything += stored
    assert consume(one, topic, None, "beginning") == everything
