"""--data-dir: topics and acknowledged batches survive a crash; a torn tail is truncated at the last valid batch."""

from __future__ import annotations

from pathlib import Path

from broker.config import BrokerConfig
from broker.core import BrokerCore
from broker.state.cluster import BrokerInfo
from broker.tests.test_core import batch, fetch_req, ctx, produce
from wire.kafka.records import split_batches


def durable_core(root: Path, **cfg: object) -> BrokerCore:
    config = BrokerConfig(port=0, data_dir=root, flush_messages=1, **cfg)  # type: ignore[arg-type]
    return BrokerCore(config, [BrokerInfo(1, "127.0.0.1", 9001)])


def values(core: BrokerCore, topic: str) -> list[bytes | None]:
    resp = core.handle(ctx(1, 12), fetch_req(topic, 0), 0)
    return [r.value for b in split_batches(resp.responses[0].partitions[0].records) for r in b.records()]


def test_acknowledged_batches_survive_a_crash_and_a_torn_tail(tmp_path: Path) -> None:
    core = durable_core(tmp_path)
    topic = core.cluster.create_topic("orders", 2, 1, {"retention.ms": "1000"})
    for i in range(5):
        resp = produce(core, "orders", batch([b"v%d" % i]))
        assert resp.responses[0].partition_responses[0].error_code == 0
    # crash: no close(); then half a batch lands at the end of the segment
    segment = next((tmp_path / "orders-0").glob("*.log"))
    with open(segment, "ab") as f:
        f.write(batch([b"torn"])[:30])
    again = durable_core(tmp_path)
    restored = again.cluster.topics["orders"]
    assert restored.topic_id == topic.topic_id and len(restored.partitions) == 2
    assert restored.configs == {"retention.ms": "1000"}
    assert values(again, "orders") == [b"v0", b"v1", b"v2", b"v3", b"v4"]
    assert again.cluster.partition("orders", 0).log.high_watermark == 5
    # appends continue after the cut, and survive the next restart
    assert produce(again, "orders", batch([b"v5"])).responses[0].partition_responses[0].base_offset == 5
    again.close()
    third = durable_core(tmp_path)
    assert values(third, "orders")[-1] == b"v5"
    assert third.cluster.cluster_id == core.cluster.cluster_id


def test_deleted_topics_stay_deleted_and_segments_roll(tmp_path: Path) -> None:
    core = durable_core(tmp_path, log_segment_bytes=200)
    core.cluster.create_topic("gone", 1, 1)
    core.cluster.create_topic("kept", 1, 1)
    for i in range(6):
        produce(core, "kept", batch([b"x" * 50]))
    assert len(list((tmp_path / "kept-0").glob("*.log"))) > 1
    core.cluster.delete_topic(core.cluster.topics["gone"])
    core.close()
    again = durable_core(tmp_path, log_segment_bytes=200)
    assert "gone" not in again.cluster.topics and not (tmp_path / "gone-0").exists()
    assert again.cluster.partition("kept", 0).log.next_offset == 6
