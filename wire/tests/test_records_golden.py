"""Golden bytes: batches captured from librdkafka and built by kafka-python decode to the known records.

The fixtures are annotated hex under ``golden/kafka/`` (``#`` starts a comment); how each was
captured is written at its top and in ``golden/kafka/README.md``. ``expected.json`` holds the
records the producers were given.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from wire.kafka import legacy_records as L
from wire.kafka import records as R
from wire.kafka.compression import CompressionType
from wire.kafka.records import Record

GOLDEN = Path(__file__).parent / "golden" / "kafka"
EXPECTED: dict[str, Any] = json.loads((GOLDEN / "expected.json").read_text())


def load_hex(name: str) -> bytes:
    text = (GOLDEN / f"{name}.hex").read_text()
    return bytes.fromhex("".join(line.split("#", 1)[0].strip() for line in text.splitlines()))


def _b(value: str | None) -> bytes | None:
    return None if value is None else value.encode()


def expected_records(name: str) -> list[Record]:
    return [Record(r["offset"], r["timestamp"], _b(r["key"]), _b(r["value"]),
                   tuple((k, _b(v)) for k, v in r["headers"])) for r in EXPECTED[name]["records"]]


def test_every_fixture_is_listed() -> None:
    assert sorted(p.stem for p in GOLDEN.glob("*.hex")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECTED.items() if e["magic"] == 2))
def test_v2_golden(name: str) -> None:
    meta = EXPECTED[name]
    data = load_hex(name)
    batches = R.split_batches(data)
    for batch in batches:
        batch.validate()
        assert batch.header.compression == CompressionType.from_name(meta["compression"])
        assert batch.header.is_transactional == meta["transactional"]
        assert batch.header.has_producer_id == meta["has_producer_id"]
        if batch.header.has_producer_id:
            batch.check_client_batch()
    assert [r for b in batches for r in b.records()] == expected_records(name)
    for key in ("producer_id", "producer_epoch", "base_sequence"):
        if key in meta:
            assert getattr(batches[0].header, key) == meta[key]


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECTED.items() if e["magic"] < 2))
def test_legacy_golden(name: str) -> None:
    meta = EXPECTED[name]
    data = load_hex(name)
    got = L.read_message_set(data)
    assert [r.magic for r in got] == [meta["magic"]] * len(got)
    assert [r.to_record() for r in got] == expected_records(name)
    for entry in R.split_entries(data):
        assert L.LegacyMessage(entry).compression == CompressionType.from_name(meta["compression"])


def test_librdkafka_snappy_is_raw_and_kafka_python_snappy_is_xerial() -> None:
    raw = R.split_batches(load_hex("librdkafka_v2_snappy"))[0].payload
    xerial = R.split_batches(load_hex("kafka_python_v2_snappy"))[0].payload
    assert bytes(xerial[:8]) == bytes.fromhex("82534e4150505900")
    assert bytes(raw[:8]) != bytes.fromhex("82534e4150505900")


@pytest.mark.parametrize("name", ["librdkafka_v2_none", "librdkafka_v2_idempotent", "librdkafka_v2_txn_commit"])
def test_our_builder_reproduces_uncompressed_librdkafka_batches_byte_for_byte(name: str) -> None:
    data = load_hex(name)
    (batch,) = R.split_batches(data)
    h = batch.header
    rebuilt = R.build_batch(
        batch.records(), base_offset=h.base_offset, partition_leader_epoch=h.partition_leader_epoch,
        producer_id=h.producer_id, producer_epoch=h.producer_epoch, base_sequence=h.base_sequence,
        is_transactional=h.is_transactional,
    )
    assert rebuilt == data


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECTED.items() if e["magic"] == 2))
def test_golden_v2_survives_offset_patching_and_down_conversion(name: str) -> None:
    data = load_hex(name)
    moved, next_offset = R.assign_offsets(data, 1000, partition_leader_epoch=7)
    batches = R.split_batches(moved)
    for b in batches:
        b.validate()
    expected = expected_records(name)
    assert [r.offset for b in batches for r in b.records()] == [r.offset + 1000 for r in expected]
    if EXPECTED[name]["compression"] != "zstd":
        down = L.read_message_set(L.down_convert(data, 1))
        assert [(r.offset, r.timestamp, r.key, r.value) for r in down] == [
            (r.offset, r.timestamp, r.key, r.value) for r in expected]
