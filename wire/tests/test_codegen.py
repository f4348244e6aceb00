"""The Kafka code generator: committed output matches the schemas, and the 3.9/4.0 merge keeps every version."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from wire.kafka.codegen.__main__ import default_schema_dir, drift
from wire.kafka.codegen.emit import condition
from wire.kafka.messages import APIS
from wire.kafka.messages.consumer_group_heartbeat import ConsumerGroupHeartbeatRequest
from wire.kafka.messages.leader_and_isr import LeaderAndIsrRequest
from wire.kafka.messages.list_offsets import ListOffsetsRequest
from wire.kafka.messages.vote import VoteRequest

SCHEMAS = default_schema_dir()
REPO = Path(__file__).resolve().parents[2]


def _schemas_or_fail() -> Path:
    if not SCHEMAS.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"the schema directory {SCHEMAS} is missing in CI")
        pytest.skip(f"schemas not present at {SCHEMAS} (outside the source checkout)")
    return SCHEMAS


def _load(path: Path) -> dict:  # type: ignore[type-arg]
    return json.loads(re.sub(r"^\s*//.*$", "", path.read_text(), flags=re.M))  # type: ignore[no-any-return]


def test_committed_output_matches_the_schemas() -> None:
    schema_dir = _schemas_or_fail()
    assert drift(schema_dir) == []


def test_check_command_exits_zero_and_detects_drift(tmp_path: Path) -> None:
    schema_dir = _schemas_or_fail()
    ok = subprocess.run([sys.executable, "-m", "wire.kafka.codegen", "--check", "--schemas", str(schema_dir)],
                        cwd=REPO, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    # a schema set with one field renamed must be reported as drift
    altered = tmp_path / "kafka-protocol"
    (altered / "kafka-4.0").mkdir(parents=True)
    for src in schema_dir.glob("*.json"):
        (altered / src.name).write_bytes(src.read_bytes())
    for src in (schema_dir / "kafka-4.0").glob("*.json"):
        text = src.read_text()
        if src.name == "SyncGroupRequest.json":
            text = text.replace('"GroupId"', '"TheGroupId"')
        (altered / "kafka-4.0" / src.name).write_text(text)
    bad = subprocess.run([sys.executable, "-m", "wire.kafka.codegen", "--check", "--schemas", str(altered)],
                         cwd=REPO, capture_output=True, text=True)
    assert bad.returncode == 1
    assert "sync_group.py" in bad.stderr


def test_every_api_key_in_the_schemas_is_generated_with_the_union_of_versions() -> None:
    schema_dir = _schemas_or_fail()
    for path in schema_dir.glob("*Request.json"):
        old = _load(path)
        new = _load(schema_dir / "kafka-4.0" / path.name)
        info = APIS[old["apiKey"]]
        versions: set[int] = set()
        for raw in (old, new):
            spec = raw["validVersions"]
            if spec != "none":
                lo, _, hi = spec.partition("-")
                versions |= set(range(int(lo), int(hi or lo) + 1))
        assert info.versions == versions, path.name


def test_versions_removed_in_4_0_keep_their_3_9_fields() -> None:
    fields = {f.attr: f for f in ListOffsetsRequest.FIELDS}
    assert ListOffsetsRequest.VERSIONS == frozenset(range(0, 11))
    partition_fields = {f.attr: f for f in ListOffsetsRequest.ListOffsetsPartition.FIELDS}
    assert partition_fields["max_num_offsets"].versions == {0}  # only in the 3.9 file
    assert fields["timeout_ms"].versions == {10}  # only in the 4.0 file
    # removed entirely in 4.0: served from 3.9
    assert LeaderAndIsrRequest.VERSIONS == frozenset(range(0, 8))
    # 4.0-only version
    assert 1 in ConsumerGroupHeartbeatRequest.VERSIONS
    # where 4.0 covers every 3.9 version, 4.0 wins wholesale (Vote renamed fields)
    partition = {f.attr for f in VoteRequest.PartitionData.FIELDS}
    assert "replica_epoch" in partition and "candidate_epoch" not in partition


def test_removed_version_encodes_with_its_own_fields() -> None:
    req = ListOffsetsRequest(replica_id=-1, topics=[ListOffsetsRequest.ListOffsetsTopic(
        name="t", partitions=[ListOffsetsRequest.ListOffsetsPartition(partition_index=0, timestamp=-1,
                                                                      max_num_offsets=1)])])
    body = req.encode(0)
    # v0: replica_id, topics[ name, partitions[ index, timestamp, max_num_offsets ] ]
    assert body == (b"\xff\xff\xff\xff" + b"\x00\x00\x00\x01" + b"\x00\x01t" + b"\x00\x00\x00\x01"
                    + b"\x00\x00\x00\x00" + b"\xff" * 8 + b"\x00\x00\x00\x01")
    assert ListOffsetsRequest.decode(body, 0) == req


@pytest.mark.parametrize(
    ("subset", "universe", "expected"),
    [
        ({3, 4, 5}, {0, 1, 2, 3, 4, 5}, "version >= 3"),
        ({0, 1}, {0, 1, 2, 3}, "version <= 1"),
        ({2}, {0, 1, 2, 3}, "version == 2"),
        ({1, 2}, {0, 1, 2, 3}, "1 <= version <= 2"),
        ({0, 1, 2, 3}, {0, 1, 2, 3}, "True"),
        (set(), {0, 1}, "False"),
        ({0, 3}, {0, 1, 2, 3}, "version <= 0 or version >= 3"),
    ],
)
def test_version_conditions(subset: set[int], universe: set[int], expected: str) -> None:
    assert condition(frozenset(subset), frozenset(universe)) == expected
