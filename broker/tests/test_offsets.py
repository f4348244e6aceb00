"""FindCoordinator, OffsetCommit/OffsetFetch/OffsetDelete and the internal logs, driven through BrokerCore."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.core import BrokerCore
from broker.state.internal import GROUP_TOPIC, TXN_TOPIC, java_string_hash, partition_for
from broker.state.offsets import CommittedOffset
from broker.tests.test_core import ctx, make_core
from wire.kafka.codec import decode_response, encode_response
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.find_coordinator import FindCoordinatorRequest
from wire.kafka.messages.offset_commit import OffsetCommitRequest
from wire.kafka.messages.offset_delete import OffsetDeleteRequest
from wire.kafka.messages.offset_fetch import OffsetFetchRequest

OCR = OffsetCommitRequest
OFR = OffsetFetchRequest


@pytest.mark.parametrize("text, expected", [("", 0), ("a", 97), ("my-group", 0), ("polygenelubricants", -2**31),
                                            ("héllo", 0), ("😀", 0)])
def test_java_string_hash_matches_java(text: str, expected: int) -> None:
    # reference values of String.hashCode computed by definition (s[0]*31^(n-1) + ... over UTF-16 units)
    units = [int.from_bytes(text.encode("utf-16-be")[i:i + 2], "big") for i in range(0, 2 * len(text.encode("utf-16-be")) // 2, 2)]
    h = 0
    for u in units:
        h = (h * 31 + u) % 2**32
    want = h - 2**32 if h >= 2**31 else h
    assert java_string_hash(text) == want
    if text == "polygenelubricants":  # the classic Integer.MIN_VALUE example: Utils.abs masks it to 0
        assert java_string_hash(text) == -2**31 == expected
        assert partition_for(text, 50) == 0
    if text in ("", "a"):
        assert java_string_hash(text) == expected


def commit(core: BrokerCore, group: str, offsets: dict[tuple[str, int], int], version: int = 8,
           generation: int = -1, member: str = "", metadata: str | None = "m", node_id: int = 1) -> dict[tuple[str, int], int]:
    topics: dict[str, list[OCR.OffsetCommitRequestPartition]] = {}
    for (topic, index), offset in offsets.items():
        topics.setdefault(topic, []).append(OCR.OffsetCommitRequestPartition(index, offset, 3, -1, metadata))
    req = OCR(group_id=group, generation_id_or_member_epoch=generation, member_id=member,
              topics=[OCR.OffsetCommitRequestTopic(t, ps) for t, ps in topics.items()])
    resp = core.handle(ctx(8, version, node_id), req, 0)
    return {(t.name, p.partition_index): p.error_code for t in resp.topics for p in t.partitions}


def fetch_v8(core: BrokerCore, group: str, topics: list[tuple[str, list[int]]] | None, require_stable: bool = False,
             node_id: int = 1) -> tuple[int, dict[tuple[str, int], tuple[int, int, str | None, int]]]:
    wanted = None if topics is None else [OFR.OffsetFetchRequestTopics(t, ps) for t, ps in topics]
    req = OFR(groups=[OFR.OffsetFetchRequestGroup(group_id=group, topics=wanted)], require_stable=require_stable)
    resp = core.handle(ctx(9, 8, node_id), req, 0)
    g = resp.groups[0]
    return g.error_code, {(t.name, p.partition_index): (p.committed_offset, p.committed_leader_epoch, p.metadata,
                                                         p.error_code) for t in g.topics for p in t.partitions}


def test_find_coordinator_creates_the_internal_topic_and_names_the_leader_of_the_keys_partition() -> None:
    core = make_core(brokers=3, offsets_topic_num_partitions=5, transaction_state_log_num_partitions=4)
    assert GROUP_TOPIC not in core.cluster.topics
    resp = core.handle(ctx(10, 3), FindCoordinatorRequest(key="g1", key_type=0), 0)
    topic = core.cluster.topics[GROUP_TOPIC]
    assert topic.internal and len(topic.partitions) == 5 and topic.configs["cleanup.policy"] == "compact"
    leader = topic.partitions[partition_for("g1", 5)].leader
    assert (resp.error_code, resp.node_id, resp.port) == (0, leader, 9000 + leader)
    batched = core.handle(ctx(10, 4), FindCoordinatorRequest(key_type=1, coordinator_keys=["t1", "t2"]), 0)
    txn_topic = core.cluster.topics[TXN_TOPIC]
    assert [(c.key, c.node_id, c.error_code) for c in batched.coordinators] == [
        (k, txn_topic.partitions[partition_for(k, 4)].leader, 0) for k in ("t1", "t2")]
    bad = core.handle(ctx(10, 4), FindCoordinatorRequest(key_type=2, coordinator_keys=["s"]), 0)
    assert bad.coordinators[0].error_code == ErrorCode.INVALID_REQUEST and bad.coordinators[0].node_id == -1
    old = core.handle(ctx(10, 0), FindCoordinatorRequest(key="g1"), 0)
    assert (old.error_code, old.node_id) == (0, leader)
    _, decoded = decode_response(encode_response(1, 10, 0, old), 10, 0)  # v0 has no error message field
    assert (decoded.error_code, decoded.node_id, decoded.port) == (0, leader, 9000 + leader)


def test_commit_then_fetch_round_trips_offset_epoch_and_metadata_at_every_version() -> None:
    core = make_core()
    core.cluster.create_topic("t", 2, 1)
    assert commit(core, "g", {("t", 0): 5, ("t", 1): 7}) == {("t", 0): 0, ("t", 1): 0}
    err, got = fetch_v8(core, "g", [("t", [0, 1])])
    assert err == 0 and got == {("t", 0): (5, 3, "m", 0), ("t", 1): (7, 3, "m", 0)}
    for version in range(0, 8):
        resp = core.handle(ctx(9, version), OFR(group_id="g", topics=[OFR.OffsetFetchRequestTopic("t", [1])]), 0)
        p = resp.topics[0].partitions[0]
        assert (p.committed_offset, p.metadata, p.error_code) == (7, "m", 0)
        assert p.committed_leader_epoch == (3 if version >= 5 else -1) or version < 5
    # a null topic list (v2+) means every committed offset of the group
    err, everything = fetch_v8(core, "g", None)
    assert set(everything) == {("t", 0), ("t", 1)}


def test_fetch_without_commit_answers_minus_one_and_empty_metadata() -> None:
    core = make_core()
    core.cluster.create_topic("t", 1, 1)
    _, got = fetch_v8(core, "nobody", [("t", [0]), ("unknown", [3])])
    assert got == {("t", 0): (-1, -1, "", 0), ("unknown", 3): (-1, -1, "", 0)}


def test_commit_errors_per_partition() -> None:
    core = make_core()
    core.cluster.create_topic("t", 1, 1)
    got = commit(core, "g", {("t", 0): 1, ("t", 5): 1, ("nope", 0): 1})
    assert got == {("t", 0): 0, ("t", 5): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION,
                   ("nope", 0): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION}
    assert commit(core, "g", {("t", 0): 2}, metadata="x" * 5000) == {("t", 0): ErrorCode.OFFSET_METADATA_TOO_LARGE}
    assert fetch_v8(core, "g", [("t", [0])])[1][("t", 0)][0] == 1


def test_requests_at_a_broker_that_does_not_coordinate_the_group_get_not_coordinator() -> None:
    core = make_core(brokers=3, offsets_topic_num_partitions=3)
    core.cluster.create_topic("t", 1, 1)
    coordinator = core.internal.coordinator(GROUP_TOPIC, "g")
    other = next(n for n in (1, 2, 3) if n != coordinator)
    assert commit(core, "g", {("t", 0): 1}, node_id=other) == {("t", 0): ErrorCode.NOT_COORDINATOR}
    assert fetch_v8(core, "g", [("t", [0])], node_id=other)[0] == ErrorCode.NOT_COORDINATOR
    v1 = core.handle(ctx(9, 1, other), OFR(group_id="g", topics=[OFR.OffsetFetchRequestTopic("t", [0])]), 0)
    assert v1.topics[0].partitions[0].error_code == ErrorCode.NOT_COORDINATOR
    v5 = core.handle(ctx(9, 5, other), OFR(group_id="g", topics=[OFR.OffsetFetchRequestTopic("t", [0])]), 0)
    assert v5.error_code == ErrorCode.NOT_COORDINATOR and v5.topics == []
    assert commit(core, "g", {("t", 0): 1}, node_id=coordinator) == {("t", 0): 0}


def test_require_stable_reports_offsets_pending_in_a_transaction() -> None:
    core = make_core()
    core.cluster.create_topic("t", 1, 1)
    commit(core, "g", {("t", 0): 4})
    core.offsets.add_pending(77, "g", {("t", 0): CommittedOffset(9)})
    assert fetch_v8(core, "g", [("t", [0])], require_stable=True)[1][("t", 0)][3] == ErrorCode.UNSTABLE_OFFSET_COMMIT
    assert fetch_v8(core, "g", [("t", [0])])[1][("t", 0)][0] == 4  # without require_stable: the committed one
    core.offsets.complete_transaction(77, committed=True)
    assert fetch_v8(core, "g", [("t", [0])], require_stable=True)[1][("t", 0)][:1] == (9,)
    core.offsets.add_pending(78, "g", {("t", 0): CommittedOffset(20)})
    core.offsets.complete_transaction(78, committed=False)
    assert fetch_v8(core, "g", [("t", [0])])[1][("t", 0)][0] == 9


def test_offset_delete() -> None:
    core = make_core()
    core.cluster.create_topic("t", 2, 1)
    req = OffsetDeleteRequest(group_id="g", topics=[OffsetDeleteRequest.OffsetDeleteRequestTopic(
        "t", [OffsetDeleteRequest.OffsetDeleteRequestPartition(0)])])
    assert core.handle(ctx(47, 0), req, 0).error_code == ErrorCode.GROUP_ID_NOT_FOUND
    commit(core, "g", {("t", 0): 1, ("t", 1): 2})
    resp = core.handle(ctx(47, 0), req, 0)
    assert resp.error_code == 0 and resp.topics[0].partitions[0].error_code == 0
    assert fetch_v8(core, "g", [("t", [0, 1])])[1] == {("t", 0): (-1, -1, "", 0), ("t", 1): (2, 3, "m", 0)}


def test_deleting_a_topic_drops_its_committed_offsets() -> None:
    from wire.kafka.messages.delete_topics import DeleteTopicsRequest

    core = make_core()
    core.cluster.create_topic("t", 1, 1)
    commit(core, "g", {("t", 0): 3})
    core.handle(ctx(20, 5), DeleteTopicsRequest(topic_names=["t"]), 0)
    assert core.offsets.fetch("g", ("t", 0)) is None


def test_offsets_expire_after_retention_when_the_group_has_no_members() -> None:
    core = make_core(offsets_retention_minutes=1, offsets_retention_check_interval_ms=1000)
    core.cluster.create_topic("t", 1, 1)
    commit(core, "g", {("t", 0): 3})
    core.tick(1000)
    assert core.offsets.fetch("g", ("t", 0)) is not None
    core.tick(61_000)  # core time and wall time move together
    assert core.offsets.fetch("g", ("t", 0)) is None


def test_committed_offsets_survive_a_restart_from_the_internal_log(tmp_path: Path) -> None:
    core = make_core(data_dir=tmp_path, offsets_topic_num_partitions=3)
    core.cluster.create_topic("t", 2, 1)
    commit(core, "g", {("t", 0): 5, ("t", 1): 6})
    commit(core, "g", {("t", 0): 8})
    commit(core, "other", {("t", 1): 1})
    core.handle(ctx(47, 0), OffsetDeleteRequest(group_id="other", topics=[OffsetDeleteRequest.OffsetDeleteRequestTopic(
        "t", [OffsetDeleteRequest.OffsetDeleteRequestPartition(1)])]), 0)
    core.close()
    again = make_core(data_dir=tmp_path, offsets_topic_num_partitions=3)
    assert fetch_v8(again, "g", [("t", [0, 1])])[1] == {("t", 0): (8, 3, "m", 0), ("t", 1): (6, 3, "m", 0)}
    assert again.offsets.fetch("other", ("t", 1)) is None  # the tombstone was replayed too
    assert again.offsets.groups() == ["g"]


def test_commit_checks_the_committer_against_the_group() -> None:
    core = make_core()
    core.cluster.create_topic("t", 1, 1)
    # an unknown group: a member's commit (a generation, a member id) has no group to belong to
    assert commit(core, "ghost", {("t", 0): 1}, version=9, generation=3, member="m-1") == {
        ("t", 0): ErrorCode.GROUP_ID_NOT_FOUND}
    assert commit(core, "ghost", {("t", 0): 1}, version=8, generation=3, member="m-1") == {
        ("t", 0): ErrorCode.ILLEGAL_GENERATION}
    assert core.offsets.fetch("ghost", ("t", 0)) is None
    # v0 carries no generation at all: a plain commit
    assert commit(core, "ghost", {("t", 0): 2}, version=0) == {("t", 0): 0}
