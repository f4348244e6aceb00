"""Segment offset indexes (``<base>.index``, Kafka's 8-byte entries) and the clean-shutdown fast path."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from broker.state.filelog import CLEAN_SHUTDOWN_FILE, INDEX_INTERVAL_BYTES, FileLog, FlushPolicy, read_index
from broker.tests.test_durable_log import durable_core, values
from broker.tests.test_core import batch, ctx, fetch_req, produce
from wire.kafka.records import BatchBuilder, RecordBatch, split_batches


def append(plog: FileLog, value: bytes, n: int = 1) -> None:
    b = BatchBuilder()
    for i in range(n):
        b.append(value, b"k%d" % i, timestamp=1000)
    data = bytearray(b.build())
    plog.append(data, RecordBatch(data).header, 0)
    plog.advance_high_watermark()


def positions(plog: FileLog) -> dict[int, tuple[int, int]]:
    """base offset -> (last offset, byte position in its segment) of every batch (one segment here)."""
    out, pos = {}, 0
    for b in plog.batches:
        out[b.base_offset] = (b.last_offset, pos)
        pos += len(b.data)
    return out


def test_index_entries_follow_kafkas_interval_rule(tmp_path: Path) -> None:
    plog = FileLog(tmp_path / "t-0", FlushPolicy())
    for i in range(40):
        append(plog, bytes([65 + i % 26]) * 700, n=2)  # ~1.4 KB batches: an entry about every third batch
    plog.close()
    entries = read_index(tmp_path / "t-0" / f"{0:020d}.index")
    assert len(entries) >= 10
    layout = positions(plog)
    by_position = {pos: (base, last) for base, (last, pos) in layout.items()}
    since = 0
    expected = []
    for base, (last, pos) in sorted(layout.items()):
        if since > INDEX_INTERVAL_BYTES:
            expected.append((last, pos))
            since = 0
        since += len(plog.batches[sorted(layout).index(base)].data)
    assert entries == expected
    for rel, pos in entries:  # every entry names a batch start and that batch's last offset
        assert by_position[pos][1] == rel
    # lookup: the scan for an offset starts at or before its batch, never after it
    for offset in range(0, plog.next_offset, 7):
        base, pos = plog.lookup(offset)
        assert base == 0
        containing = max(p for b, (last, p) in layout.items() if b <= offset)
        assert pos <= containing


def test_clean_shutdown_is_trusted_and_a_crash_is_recovered(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    core = durable_core(tmp_path)
    core.cluster.create_topic("t", 1, 1)
    for i in range(30):
        produce(core, "t", batch([b"x" * 300, b"v%d" % i]))
    core.close()
    part = tmp_path / "t-0"
    assert (part / CLEAN_SHUTDOWN_FILE).exists()
    index = part / f"{0:020d}.index"
    good_index = index.read_bytes()
    assert good_index and len(good_index) % 8 == 0

    again = durable_core(tmp_path)  # trusted: the index matches, nothing is rewritten
    assert not (part / CLEAN_SHUTDOWN_FILE).exists()  # a crash from now on must be recovered
    assert values(again, "t")[1::2] == [b"v%d" % i for i in range(30)]
    again.close()

    index.write_bytes(good_index[:-8] + b"\0\0\0\1\0\0\0\7")  # a wrong entry: the segment is recovered
    with caplog.at_level(logging.WARNING, logger="broker.filelog"):
        third = durable_core(tmp_path)
    assert "does not match" in caplog.text
    assert index.read_bytes() == good_index  # rebuilt from the batches
    produce(third, "t", batch([b"after"]))  # crash now: no close, no marker
    fourth = durable_core(tmp_path)
    assert values(fourth, "t")[-1] == b"after"
    assert index.read_bytes()[:len(good_index)] == good_index  # rebuilt after the crash, the old entries kept


def test_segments_roll_with_their_own_index_and_retention_removes_both(tmp_path: Path) -> None:
    core = durable_core(tmp_path, log_segment_bytes=6000)
    core.cluster.create_topic("r", 1, 1)
    for i in range(40):
        produce(core, "r", batch([b"y" * 500, b"z%d" % i]))
    part = tmp_path / "r-0"
    logs = sorted(part.glob("*.log"))
    assert len(logs) > 2 and [p.with_suffix(".index").exists() for p in logs] == [True] * len(logs)
    plog = core.cluster.partition("r", 0).log
    assert isinstance(plog, FileLog)
    plog.delete_segments(1)
    assert not logs[0].exists() and not logs[0].with_suffix(".index").exists()
    core.close()
    again = durable_core(tmp_path, log_segment_bytes=6000)
    start = again.cluster.partition("r", 0).log.log_start_offset
    assert start > 0
    resp = again.handle(ctx(1, 12), fetch_req("r", start), 0)
    got = [r.value for b in split_batches(resp.responses[0].partitions[0].records) for r in b.records()]
    assert got[-1] == b"z39"


def test_a_moved_leaders_epoch_survives_a_restart(tmp_path: Path) -> None:
    from broker.config import BrokerConfig
    from broker.core import BrokerCore
    from broker.state.cluster import BrokerInfo

    def core() -> BrokerCore:
        config = BrokerConfig(port=0, brokers=2, data_dir=tmp_path)
        return BrokerCore(config, [BrokerInfo(n, "127.0.0.1", 9000 + n) for n in config.node_ids])

    first = core()
    first.cluster.create_topic("m", 1, 2)
    first.cluster.move_leader("m", 0, 2)
    first.cluster.move_leader("m", 0, 1)
    first.close()
    p = core().cluster.partition("m", 0)
    assert p is not None and (p.leader, p.leader_epoch) == (1, 2)


def test_zookeeper_mode_logs_restore_the_checkpointed_high_watermark_not_the_log_end(tmp_path: Path) -> None:
    """Records above the high watermark may never have reached the other replicas: after a restart they stay
    invisible until the ISR has them again (replication moves the watermark), as with Kafka's checkpoint."""
    directory = tmp_path / "t-0"
    plog = FileLog(directory, FlushPolicy(messages=1), checkpointed_hw=True)
    for i in range(4):
        append(plog, b"v%d" % i)
    assert plog.next_offset == 4
    plog.high_watermark = 2  # only two are replicated
    plog.checkpoint_high_watermark()
    crashed = FileLog(directory, FlushPolicy(), checkpointed_hw=True)  # no close: a crash
    assert (crashed.next_offset, crashed.high_watermark) == (4, 2)
    crashed.high_watermark = 3
    crashed.close(clean=True)  # a clean shutdown checkpoints the current high watermark
    assert FileLog(directory, FlushPolicy(), checkpointed_hw=True).high_watermark == 3
    assert FileLog(directory, FlushPolicy()).high_watermark == 4  # one process: the log end, as before
    fresh = FileLog(tmp_path / "u-0", FlushPolicy(messages=1), checkpointed_hw=True)
    append(fresh, b"x")
    assert FileLog(tmp_path / "u-0", FlushPolicy(), checkpointed_hw=True).high_watermark == 0  # no checkpoint yet
