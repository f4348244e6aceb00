"""kafkajs 2.2.4 (npm) against the broker: ApiVersions v2, Metadata v6, Produce v7, admin.

kafkajs never uses a flexible version of a core API. It can only consume
through a consumer group (not built yet), so it produces here and the records
are read back with our own codecs and compared exactly. Snappy and LZ4 come
from ``kafkajs-snappy`` (raw snappy) and ``kafkajs-lz4`` (LZ4 frame); zstd
needs ``@kafkajs/zstd``, a native module that is not used, so kafkajs covers
none/gzip/snappy/lz4. Header values cannot be null in kafkajs; a repeated key
is an array, sent as adjacent headers. Scenarios live in ``node/driver.js``
(one JSON line per step); ``node/node_modules`` comes from ``npm ci``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from broker.testing import RunningBroker
from compat_tests.kafka.conftest import (
    BASE_TS, CODECS, NODE_DIR, WAIT, ApiLog, Rec, TopicName, create_topic, ensure_node_modules, expected, leaders,
    stored_batches, wait_stored,
)

# partition, acks, codec, idempotent
PLAN: list[tuple[int, int, str, bool]] = [
    (0, 0, "gzip", False),
    (1, 1, "snappy", False),
    (2, -1, "lz4", True),
    (3, -1, "none", False),
]
COUNT = 5


@pytest.fixture(scope="session")
def driver() -> Path:
    return ensure_node_modules()


def run(driver: Path, scenario: str, spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    proc = subprocess.run(["node", str(driver), scenario, json.dumps(spec)], cwd=NODE_DIR, capture_output=True,
                          text=True, timeout=WAIT * 4)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    steps = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return {s["step"]: s for s in steps}


def records(tag: str, partition: int, count: int = COUNT, **kw: Any) -> list[Rec]:
    """``expected`` records with kafkajs's header layout: ``{src: [tag, "again"], seq: i}``."""
    return [r._replace(headers=(("src", tag.encode()), ("src", b"again"), ("seq", str(r.offset).encode())))
            for r in expected(tag, partition, count, **kw)]


def as_messages(recs: list[Rec]) -> list[dict[str, Any]]:
    return [{"partition": r.partition, "key": r.key.decode() if r.key else None, "value": r.value.decode()
             if r.value else None, "timestamp": r.timestamp,
             "headers": {"src": [r.headers[0][1].decode(), "again"], "seq": r.headers[2][1].decode()}}  # type: ignore
            for r in recs]


def test_produce_every_acks_and_codec(driver: Path, bootstrap: str, api_log: ApiLog, topic_name: TopicName) -> None:
    topic = topic_name()
    create_topic(bootstrap, topic, partitions=len(PLAN))
    sends, want = [], {}
    for partition, acks, codec, idempotent in PLAN:
        recs = want[partition] = records(f"kjs-{codec}", partition)
        sends.append({"acks": acks, "compression": codec, "idempotent": idempotent, "messages": as_messages(recs)})
    steps = run(driver, "produce", {"brokers": [bootstrap], "topic": topic, "sends": sends})

    for i, (partition, acks, codec, idempotent) in enumerate(PLAN):
        step = steps[f"send-{i}"]
        assert "error" not in step, step
        if acks != 0:
            assert [(m["partition"], m["errorCode"], m["baseOffset"]) for m in step["result"]] == [(partition, 0, "0")]
        wait_stored(bootstrap, topic, partition, COUNT)
        batches = stored_batches(bootstrap, topic, partition)
        assert {b.compression for b in batches} == {CODECS[codec]}, codec
        assert all((b.producer_id >= 0) == idempotent for b in batches)
        assert [r for b in batches for r in b.records] == want[partition]
    assert api_log.by_key() == {18: {2}, 3: {6}, 22: {1}, 0: {7}}


def test_admin(driver: Path, broker: RunningBroker, bootstrap: str, topic_name: TopicName) -> None:
    topic, other = topic_name("a"), topic_name("b")
    recs = records("kjs-admin", 3)
    steps = run(driver, "admin", {"brokers": [bootstrap], "topic": topic, "other": other,
                                  "records": as_messages(recs), "timestamp": BASE_TS + 2500})
    assert steps["create"]["result"] is True
    assert steps["create-again"]["result"] is False  # kafkajs maps TOPIC_ALREADY_EXISTS to false
    assert steps["create-bad-rf"]["error"]["errors"][0]["type"] == "INVALID_REPLICATION_FACTOR"
    assert steps["create-bad-name"]["error"]["errors"][0]["type"] == "INVALID_TOPIC_EXCEPTION"
    assert "error" not in steps["create-partitions"]
    assert steps["create-partitions-fewer"]["error"]["type"] == "INVALID_PARTITIONS"
    (meta,) = steps["metadata"]["result"]["topics"]
    assert meta["name"] == topic
    assert [(p["partitionId"], p["leader"], p["replicas"], p["isr"], p["partitionErrorCode"])
            for p in sorted(meta["partitions"], key=lambda p: p["partitionId"])] == [(i, 1, [1], [1], 0)
                                                                                     for i in range(4)]
    assert topic in steps["list"]["result"] and other not in steps["list"]["result"]
    assert [(m["partition"], m["baseOffset"]) for m in steps["produce"]["result"]] == [(3, "0")]

    assert "error" not in steps["delete-records"], steps["delete-records"]
    assert steps["delete-records-beyond"]["error"]["cause"]["partitions"] == [
        {"partition": 3, "error": {"name": "KafkaJSProtocolError", "type": "OFFSET_OUT_OF_RANGE", "code": 1}}]
    offsets = sorted(steps["offsets"]["result"], key=lambda o: o["partition"])
    assert [(o["partition"], o["low"], o["high"], o["offset"]) for o in offsets] == [
        (0, "0", "0", "0"), (1, "0", "0", "0"), (2, "0", "0", "0"), (3, "2", "5", "5")]
    by_ts = sorted(steps["offsets-by-timestamp"]["result"], key=lambda o: o["partition"])
    # partitions with no record at or after the timestamp answer -1, which kafkajs replaces by the high watermark
    assert [(o["partition"], o["offset"]) for o in by_ts] == [(0, "0"), (1, "0"), (2, "0"), (3, "3")]

    cluster = steps["cluster"]["result"]
    assert (cluster["clusterId"], cluster["controller"]) == (broker.config.cluster_id, 1)
    assert [(b["nodeId"], b["host"], b["port"]) for b in cluster["brokers"]] == [
        (1, "127.0.0.1", broker.server.ports[0])]
    assert "error" not in steps["delete"]
    assert topic not in steps["list-after"]["result"]
    # retriable for kafkajs, so it gives up after its retries
    assert steps["delete-again"]["error"]["cause"]["type"] == "UNKNOWN_TOPIC_OR_PARTITION"


def test_three_brokers_route_by_leader(driver: Path, kafka_cluster: RunningBroker,
                                       topic_name: TopicName) -> None:
    bootstrap = kafka_cluster.bootstrap_servers
    topic = topic_name()
    create_topic(bootstrap, topic, partitions=3, replication=3)
    assert leaders(bootstrap, topic) == {0: 1, 1: 2, 2: 3}
    want = [r for p in range(3) for r in records(f"kjs-c{p}", p, 3)]
    steps = run(driver, "produce", {"brokers": [bootstrap.split(",")[1]], "topic": topic, "sends": [
        {"acks": -1, "compression": "gzip", "idempotent": True, "messages": as_messages(want)}]})
    assert sorted((m["partition"], m["errorCode"], m["baseOffset"]) for m in steps["send-0"]["result"]) == [
        (0, 0, "0"), (1, 0, "0"), (2, 0, "0")]
    for p in range(3):
        assert [r for b in stored_batches(bootstrap, topic, p) for r in b.records] == [r for r in want
                                                                                       if r.partition == p]
