"""Golden request frames captured from real Kafka clients (kafka-python 3.0.12, confluent-kafka 2.16.1).

The frames in golden/kafka_frames/clients.json were recorded on loopback between each
client and a broker (see the file's "source"): ApiVersions (v4 from kafka-python, v3 from
librdkafka, both flexible with header v2), Metadata v13, and Produce (v9 from
kafka-python, v10 from librdkafka) carrying one magic-2 batch. Each must decode to
the values the client was asked to send and re-encode to the identical bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from wire.kafka.codec import decode_request, encode_request
from wire.kafka.messages.api_versions import ApiVersionsRequest
from wire.kafka.messages.metadata import MetadataRequest
from wire.kafka.messages.produce import ProduceRequest
from wire.kafka.records import RecordBatch, split_batches

DATA = json.loads((Path(__file__).parent / "golden" / "kafka_frames" / "clients.json").read_text())
FRAMES: list[dict[str, Any]] = DATA["frames"]


@pytest.mark.parametrize("frame", FRAMES, ids=lambda f: f"{f['client'].split()[0]}-{f['api']}-v{f['api_version']}")
def test_frame_decodes_and_reencodes_identically(frame: dict[str, Any]) -> None:
    raw = bytes.fromhex(frame["hex"])
    decoded = decode_request(raw)
    assert (decoded.header.api_key, decoded.header.api_version) == (frame["api_key"], frame["api_version"])
    assert encode_request(decoded.header, decoded.body) == raw


def _by(client_prefix: str, api: str) -> Any:
    for f in FRAMES:
        if f["client"].startswith(client_prefix) and f["api"] == api:
            return decode_request(bytes.fromhex(f["hex"]))
    raise AssertionError(f"no {api} frame from {client_prefix}")


def test_api_versions_identify_the_clients() -> None:
    kp = _by("kafka-python", "ApiVersions")
    ck = _by("confluent-kafka", "ApiVersions")
    assert kp.header.api_version == 4 and ck.header.api_version == 3
    assert kp.header.version == 2 and ck.header.version == 2  # flexible: request header v2
    assert isinstance(kp.body, ApiVersionsRequest) and isinstance(ck.body, ApiVersionsRequest)
    assert (kp.body.client_software_name, kp.body.client_software_version) == ("kafka-python", "3.0.12")
    assert ck.body.client_software_name == "confluent-kafka-python"
    assert ck.body.client_software_version.startswith("2.16.1")
    assert kp.header.client_id == "golden-kp" and ck.header.client_id == "golden-ck"


def test_metadata_requests_name_the_topic() -> None:
    for client in ("kafka-python", "confluent-kafka"):
        md = _by(client, "Metadata")
        assert isinstance(md.body, MetadataRequest) and md.header.api_version == 13
        names = [t.name for t in md.body.topics or []]
        assert names in ([], ["golden"])


@pytest.mark.parametrize(("client", "version"), [("kafka-python", 9), ("confluent-kafka", 10)])
def test_produce_carries_the_record_the_client_was_given(client: str, version: int) -> None:
    req = _by(client, "Produce")
    assert isinstance(req.body, ProduceRequest) and req.header.api_version == version
    assert req.body.acks == 1
    (topic,) = req.body.topic_data
    (part,) = topic.partition_data
    assert (topic.name, part.index) == ("golden", 0)
    assert part.records is not None
    (batch,) = split_batches(part.records)
    assert isinstance(batch, RecordBatch)
    batch.validate()
    (record,) = batch.records()
    assert (record.key, record.value, record.timestamp) == (b"k", b"v" * 10, 1700000000000)
