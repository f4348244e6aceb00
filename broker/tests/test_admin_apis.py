"""Core-level tests of the admin APIs: (Incremental)AlterConfigs, DescribeLogDirs, DescribeTopicPartitions, ElectLeaders."""

from __future__ import annotations

import json
from pathlib import Path

from broker.tests.test_core import batch, ctx, make_core, produce
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.alter_configs import AlterConfigsRequest
from wire.kafka.messages.create_topics import CreateTopicsRequest
from wire.kafka.messages.describe_log_dirs import DescribeLogDirsRequest
from wire.kafka.messages.describe_topic_partitions import DescribeTopicPartitionsRequest
from wire.kafka.messages.elect_leaders import ElectLeadersRequest
from wire.kafka.messages.incremental_alter_configs import IncrementalAlterConfigsRequest

IReq = IncrementalAlterConfigsRequest
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3


def incr(core, topic: str, *ops: tuple[str, int, str | None], validate_only: bool = False, rtype: int = 2):  # type: ignore[no-untyped-def]
    req = IReq(resources=[IReq.AlterConfigsResource(rtype, topic, [IReq.AlterableConfig(n, o, v) for n, o, v in ops])],
               validate_only=validate_only)
    return core.handle(ctx(44, 1), req, 0).responses[0]


def test_incremental_alter_configs_ops_and_errors() -> None:
    core = make_core()
    t = core.cluster.create_topic("t", 1, 1, {"retention.ms": "1000"})
    assert incr(core, "t", ("retention.ms", SET, "5000"), ("segment.ms", SET, "100")).error_code == 0
    assert t.configs == {"retention.ms": "5000", "segment.ms": "100"}
    assert incr(core, "t", ("retention.ms", DELETE, None)).error_code == 0
    assert t.configs == {"segment.ms": "100"}
    assert incr(core, "t", ("cleanup.policy", APPEND, "compact")).error_code == 0
    assert t.configs["cleanup.policy"] == "delete,compact"
    assert incr(core, "t", ("cleanup.policy", SUBTRACT, "delete")).error_code == 0
    assert t.configs["cleanup.policy"] == "compact"
    assert incr(core, "t", ("retention.ms", APPEND, "1")).error_code == ErrorCode.INVALID_CONFIG
    assert incr(core, "t", ("no.such.config", SET, "1")).error_code == ErrorCode.INVALID_CONFIG
    assert incr(core, "t", ("retention.ms", SET, "abc")).error_code == ErrorCode.INVALID_CONFIG
    assert incr(core, "t", ("cleanup.policy", SET, "bogus")).error_code == ErrorCode.INVALID_CONFIG
    assert incr(core, "t", ("retention.ms", SET, None)).error_code == ErrorCode.INVALID_REQUEST
    assert incr(core, "t", ("retention.ms", SET, "1"), ("retention.ms", SET, "2")).error_code == \
        ErrorCode.INVALID_REQUEST
    # a failing resource changes nothing, even the valid ops before the bad one
    assert incr(core, "t", ("segment.ms", SET, "7"), ("bad.key", SET, "1")).error_code == ErrorCode.INVALID_CONFIG
    assert t.configs == {"segment.ms": "100", "cleanup.policy": "compact"}
    assert incr(core, "t", ("segment.ms", SET, "7"), validate_only=True).error_code == 0
    assert t.configs["segment.ms"] == "100"
    assert incr(core, "missing", ("segment.ms", SET, "7")).error_code == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION


def test_broker_resources_refuse_static_keys_and_other_brokers() -> None:
    """(Dynamic broker configs themselves: broker/tests/test_dynamic_configs.py.)"""
    core = make_core()
    static = incr(core, "1", ("broker.id", SET, "5"), rtype=4)
    assert static.error_code == ErrorCode.INVALID_REQUEST
    assert static.error_message == "Cannot update these configs dynamically: Set(broker.id)"
    other = incr(core, "7", ("log.retention.ms", SET, "5"), rtype=4)
    assert (other.error_code, other.error_message) == \
        (ErrorCode.INVALID_REQUEST, "Unexpected broker id, expected 1, but received 7")
    threads = incr(core, "", ("num.io.threads", SET, "5"), rtype=4)
    assert threads.error_code == ErrorCode.INVALID_REQUEST
    assert threads.error_message.startswith("Dynamic broker configs Set(num.io.threads) are not supported by wiretwin")
    assert core.dynamic.default == {} and core.dynamic.brokers == {}


def test_alter_configs_replaces_the_whole_set() -> None:
    core = make_core()
    t = core.cluster.create_topic("t", 1, 1, {"retention.ms": "1000", "segment.ms": "5"})
    A = AlterConfigsRequest

    def alter(topic: str, configs: dict[str, str | None], validate_only: bool = False) -> int:
        req = A(resources=[A.AlterConfigsResource(2, topic, [A.AlterableConfig(k, v) for k, v in configs.items()])],
                validate_only=validate_only)
        return int(core.handle(ctx(33, 2), req, 0).responses[0].error_code)

    assert alter("t", {"cleanup.policy": "compact"}, validate_only=True) == 0
    assert t.configs == {"retention.ms": "1000", "segment.ms": "5"}
    assert alter("t", {"cleanup.policy": "compact"}) == 0
    assert t.configs == {"cleanup.policy": "compact"}
    assert alter("t", {"nope": "1"}) == ErrorCode.INVALID_CONFIG
    assert alter("t", {"retention.ms": None}) == ErrorCode.INVALID_REQUEST
    assert alter("gone", {"retention.ms": "1"}) == ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    assert t.configs == {"cleanup.policy": "compact"}


def test_create_topics_rejects_unknown_or_bad_configs() -> None:
    core = make_core()
    C = CreateTopicsRequest

    def create(name: str, configs: dict[str, str]) -> int:
        req = C(topics=[C.CreatableTopic(name, 1, 1, [], [C.CreatableTopicConfig(k, v) for k, v in configs.items()])],
                timeout_ms=1000)
        return int(core.handle(ctx(19, 7), req, 0).topics[0].error_code)

    assert create("a", {"no.such": "1"}) == ErrorCode.INVALID_CONFIG
    assert create("b", {"retention.ms": "x"}) == ErrorCode.INVALID_CONFIG
    assert create("c", {"retention.ms": "10", "cleanup.policy": "compact,delete"}) == 0
    assert set(core.cluster.topics) == {"c"}


def test_alterations_are_saved_in_the_data_dir(tmp_path: Path) -> None:
    core = make_core(data_dir=tmp_path)
    core.cluster.create_topic("t", 1, 1)
    assert incr(core, "t", ("retention.ms", SET, "4242")).error_code == 0
    core.close()
    saved = json.loads((tmp_path / "__wiretwin_metadata.json").read_text())
    assert saved["topics"][0]["configs"] == {"retention.ms": "4242"}
    again = make_core(data_dir=tmp_path)
    assert again.cluster.topics["t"].configs == {"retention.ms": "4242"}
    again.close()


def test_describe_log_dirs() -> None:
    core = make_core(brokers=2)
    core.cluster.create_topic("t", 2, 1)
    data = batch([b"a", b"b"])
    leader = core.cluster.topics["t"].partitions[0].leader
    produce(core, "t", data, node_id=leader)
    D = DescribeLogDirsRequest
    resp = core.handle(ctx(35, 4, node_id=leader), D(topics=None), 0)
    (result,) = resp.results
    assert (result.error_code, result.log_dir, result.total_bytes) == (0, "/wiretwin/memory", -1)
    parts = {(t.name, p.partition_index): p for t in result.topics for p in t.partitions}
    assert list(parts) == [("t", 0)]  # the other partition lives on the other broker
    assert (parts["t", 0].partition_size, parts["t", 0].offset_lag, parts["t", 0].is_future_key) == (len(data), 0, False)
    named = core.handle(ctx(35, 1, node_id=leader), D(topics=[D.DescribableLogDirTopic("t", [0, 1, 9]),
                                                                D.DescribableLogDirTopic("zz", [0])]), 0)
    assert [(t.name, [p.partition_index for p in t.partitions]) for t in named.results[0].topics] == [("t", [0])]


def test_describe_log_dirs_with_a_data_dir(tmp_path: Path) -> None:
    core = make_core(data_dir=tmp_path)
    core.cluster.create_topic("t", 1, 1)
    (result,) = core.handle(ctx(35, 4), DescribeLogDirsRequest(topics=None), 0).results
    assert result.log_dir == str(tmp_path)
    assert result.total_bytes > 0 and result.usable_bytes >= 0
    core.close()


def test_describe_topic_partitions_paging() -> None:
    core = make_core(brokers=3)
    core.cluster.create_topic("b", 3, 2)
    core.cluster.create_topic("a", 2, 3)
    core.cluster.create_topic("c", 1, 1)
    R = DescribeTopicPartitionsRequest

    def call(req: DescribeTopicPartitionsRequest):  # type: ignore[no-untyped-def]
        return core.handle(ctx(75, 0), req, 0)

    full = call(R(topics=[], response_partition_limit=100))
    assert [t.name for t in full.topics] == ["a", "b", "c"] and full.next_cursor is None
    p = full.topics[1].partitions[0]
    assert (p.leader_id, p.replica_nodes, p.isr_nodes, p.eligible_leader_replicas, p.last_known_elr,
            p.offline_replicas) == (p.replica_nodes[0], p.replica_nodes, p.replica_nodes, [], [], [])
    assert full.topics[0].topic_id == core.cluster.topics["a"].topic_id

    page = call(R(topics=[], response_partition_limit=3))
    assert [(t.name, [q.partition_index for q in t.partitions]) for t in page.topics] == [("a", [0, 1]), ("b", [0])]
    assert (page.next_cursor.topic_name, page.next_cursor.partition_index) == ("b", 1)
    page = call(R(topics=[], response_partition_limit=3, cursor=R.Cursor("b", 1)))
    assert [(t.name, [q.partition_index for q in t.partitions]) for t in page.topics] == [("b", [1, 2]), ("c", [0])]
    assert page.next_cursor is None
    exact = call(R(topics=[R.TopicRequest("a"), R.TopicRequest("c")], response_partition_limit=2))
    assert [t.name for t in exact.topics] == ["a"]
    assert (exact.next_cursor.topic_name, exact.next_cursor.partition_index) == ("c", 0)

    unknown = call(R(topics=[R.TopicRequest("nope"), R.TopicRequest("bad name!")]))
    assert {t.name: t.error_code for t in unknown.topics} == {
        "nope": ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "bad name!": ErrorCode.INVALID_TOPIC_EXCEPTION}
    bad_cursor = call(R(topics=[R.TopicRequest("a")], cursor=R.Cursor("b", 0)))
    assert [t.error_code for t in bad_cursor.topics] == [ErrorCode.INVALID_REQUEST]


def test_elect_leaders() -> None:
    core = make_core(brokers=2)
    core.cluster.create_topic("t", 2, 2)
    E = ElectLeadersRequest
    for election in (0, 1):
        resp = core.handle(ctx(43, 2), E(election_type=election, topic_partitions=[
            E.TopicPartitions("t", [0, 1, 5]), E.TopicPartitions("nope", [0])]), 0)
        got = {(r.topic, p.partition_id): p.error_code for r in resp.replica_election_results for p in r.partition_result}
        assert got == {("t", 0): ErrorCode.ELECTION_NOT_NEEDED, ("t", 1): ErrorCode.ELECTION_NOT_NEEDED,
                       ("t", 5): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ("nope", 0): ErrorCode.UNKNOWN_TOPIC_OR_PARTITION}
    assert core.handle(ctx(43, 2), E(election_type=0, topic_partitions=None), 0).replica_election_results == []
    v0 = core.handle(ctx(43, 0), E(topic_partitions=[E.TopicPartitions("t", [0])]), 0)
    assert v0.replica_election_results[0].partition_result[0].error_code == ErrorCode.ELECTION_NOT_NEEDED
