"""Dynamic broker configs and client quotas without sockets: the pure rules (``broker.state.dynamic``, the
quota parts of ``broker.zk.layout``) and the core's handlers (IncrementalAlterConfigs / AlterConfigs /
DescribeConfigs on BROKER resources, DescribeClientQuotas, AlterClientQuotas) on a broker without ZooKeeper.
ZooKeeper mode is tested with MemoryZooKeeper (test_zk_dynamic_configs.py) and on real servers
(compat_tests/zookeeper/test_kafka_layout.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from broker.core import BrokerCore
from broker.handlers import REGISTRY
from broker.state.configs import ConfigSource
from broker.state.dynamic import (
    MATCH_DEFAULT, MATCH_EXACT, MATCH_SPECIFIED, FilterComponent, Refusal, alter_quota, broker_config_problem,
    describe_quotas, java_double, quota_entity,
)
from broker.tests.test_core import batch, ctx, make_core, produce
from broker.zk import layout
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.alter_client_quotas import AlterClientQuotasRequest
from wire.kafka.messages.alter_configs import AlterConfigsRequest
from wire.kafka.messages.describe_client_quotas import DescribeClientQuotasRequest
from wire.kafka.messages.describe_configs import DescribeConfigsRequest
from wire.kafka.messages.incremental_alter_configs import IncrementalAlterConfigsRequest

IReq = IncrementalAlterConfigsRequest
SET, DELETE, APPEND, SUBTRACT = 0, 1, 2, 3
TOPIC, BROKER = 2, 4


# -- pure parts -----------------------------------------------------------------------------------------------

def test_sanitize_as_kafka_sanitizer() -> None:
    assert layout.sanitize("alice") == "alice"
    assert layout.sanitize(None) == "<default>"
    assert layout.sanitize("User:CN=a b,O=x*") == "User%3ACN%3Da%20b%2CO%3Dx%2A"
    assert layout.sanitize("a.b-c_d~é") == "a.b-c_d%7E%C3%A9"
    for name in ("User:CN=a b,O=x*", "a.b-c_d~é", "plain", "100%"):
        assert layout.desanitize(layout.sanitize(name)) == name
    assert layout.desanitize("<default>") is None
    assert layout.desanitize("a+b") == "a b"  # URLDecoder


def test_quota_entity_paths() -> None:
    both = quota_entity([("user", "alice"), ("client-id", "c1")])
    assert both == (("client-id", "c1"), ("user", "alice"))
    assert layout.quota_entity_path(both) == "users/alice/clients/c1"
    assert layout.quota_entity_path(quota_entity([("user", None)])) == "users/<default>"
    assert layout.quota_entity_path(quota_entity([("client-id", "a b")])) == "clients/a%20b"
    assert layout.quota_entity_path(quota_entity([("user", None), ("client-id", None)])) == \
        "users/<default>/clients/<default>"
    assert layout.quota_entity_path(quota_entity([("ip", "10.0.0.1")])) == "ips/10.0.0.1"
    for path in ("users/alice/clients/c1", "users/<default>", "clients/a%20b", "ips/<default>",
                 "users/<default>/clients/<default>"):
        assert layout.quota_entity_path(layout.parse_quota_entity_path(path)) == path
    for bad in ("users", "topics/t", "users/a/clients", "users/a/other/b"):
        with pytest.raises(ValueError):
            layout.parse_quota_entity_path(bad)
    assert layout.broker_config_path(None) == "/config/brokers/<default>"
    assert layout.broker_config_path(3) == "/config/brokers/3"
    assert layout.config_change_sequence("config_change_0000000042") == 42
    assert layout.config_change_sequence("other") is None
    assert layout.encode_config_change("users/alice/clients/c1") == \
        b'{"version":2,"entity_path":"users/alice/clients/c1"}'
    assert layout.encode_config({"producer_byte_rate": "1024"}) == \
        b'{"version":1,"config":{"producer_byte_rate":"1024"}}'


def test_java_double() -> None:
    assert [java_double(v) for v in (12.5, 100.0, 1e7, 1.5e-4, 0.001, 0.0, 123456.789, 2.5e20)] == \
        ["12.5", "100.0", "1.0E7", "1.5E-4", "0.001", "0.0", "123456.789", "2.5E20"]


def refused(fn: Any, *args: Any) -> tuple[int, str | None]:
    with pytest.raises(Refusal) as info:
        fn(*args)
    return info.value.code, info.value.message


def test_quota_entities_refused_as_kafka() -> None:
    assert refused(quota_entity, []) == (ErrorCode.INVALID_REQUEST, "Invalid empty client quota entity")
    assert refused(quota_entity, [("group", "g")]) == \
        (ErrorCode.INVALID_REQUEST, "Unhandled client quota entity type: group")
    assert refused(quota_entity, [("user", "")]) == (ErrorCode.INVALID_REQUEST, "Empty user not supported")
    assert refused(quota_entity, [("ip", "1.2.3.4"), ("user", "u")]) == (
        ErrorCode.INVALID_REQUEST,
        "Invalid quota entity combination, IP entity should not be used with user/client ID entity.")
    assert refused(quota_entity, [("ip", "not an ip")]) == \
        (ErrorCode.INVALID_REQUEST, "not an ip is not a valid IP or resolvable host.")


def test_alter_quota_values() -> None:
    user = quota_entity([("user", "u")])
    props = alter_quota({"SCRAM-SHA-256": "salt=..."}, user,
                        [("producer_byte_rate", 1024.0), ("request_percentage", 12.5),
                         ("controller_mutation_rate", 1e7)])
    assert props == {"SCRAM-SHA-256": "salt=...", "producer_byte_rate": "1024", "request_percentage": "12.5",
                     "controller_mutation_rate": "1.0E7"}  # other keys of the entity stay
    assert alter_quota(props, user, [("producer_byte_rate", None), ("request_percentage", None)]) == \
        {"SCRAM-SHA-256": "salt=...", "controller_mutation_rate": "1.0E7"}
    assert alter_quota({}, user, [("consumer_byte_rate", 99.9999999)]) == {"consumer_byte_rate": "100"}
    assert refused(alter_quota, {}, user, [("consumer_byte_rate", 1.5)]) == \
        (ErrorCode.INVALID_REQUEST, "Configuration consumer_byte_rate must be a LONG value")
    assert refused(alter_quota, {}, user, [("retention.ms", 1.0)]) == \
        (ErrorCode.INVALID_REQUEST, "Invalid configuration key retention.ms")
    assert refused(alter_quota, {}, user, [("SCRAM-SHA-256", 1.0)]) == (ErrorCode.UNKNOWN_SERVER_ERROR, None)
    ip = quota_entity([("ip", "10.0.0.1")])
    assert alter_quota({}, ip, [("connection_creation_rate", 5.0)]) == {"connection_creation_rate": "5"}
    assert refused(alter_quota, {}, ip, [("producer_byte_rate", 5.0)])[0] == ErrorCode.INVALID_REQUEST


QUOTAS = {
    quota_entity([("user", "alice")]): {"producer_byte_rate": "100"},
    quota_entity([("user", None)]): {"producer_byte_rate": "50"},
    quota_entity([("client-id", "c1")]): {"consumer_byte_rate": "200"},
    quota_entity([("user", "alice"), ("client-id", "c1")]): {"request_percentage": "12.5"},
    quota_entity([("user", None), ("client-id", None)]): {"request_percentage": "1.0"},
    quota_entity([("user", "bob")]): {"SCRAM-SHA-256": "x"},  # no quota key: never described
    quota_entity([("ip", "10.0.0.1")]): {"connection_creation_rate": "7"},
}


def names(found: dict[layout.QuotaEntity, dict[str, float]]) -> set[str]:
    return {layout.quota_entity_path(e) for e in found}


def test_describe_quotas_filters_as_zk_admin_manager() -> None:
    def d(*components: tuple[str, int, str | None], strict: bool = False) -> set[str]:
        return names(describe_quotas(QUOTAS, [FilterComponent(*c) for c in components], strict))

    everything = {"users/alice", "users/<default>", "clients/c1", "users/alice/clients/c1",
                  "users/<default>/clients/<default>", "ips/10.0.0.1"}
    assert d() == everything
    assert d(strict=True) == set()
    assert d(("user", MATCH_EXACT, "alice")) == {"users/alice", "users/alice/clients/c1"}
    assert d(("user", MATCH_EXACT, "alice"), strict=True) == {"users/alice"}
    assert d(("user", MATCH_DEFAULT, None)) == {"users/<default>", "users/<default>/clients/<default>"}
    assert d(("user", MATCH_SPECIFIED, None), strict=True) == {"users/alice", "users/<default>"}
    assert d(("user", MATCH_SPECIFIED, None), ("client-id", MATCH_SPECIFIED, None)) == \
        {"users/alice/clients/c1", "users/<default>/clients/<default>"}
    assert d(("client-id", MATCH_EXACT, "c1"), strict=True) == {"clients/c1"}
    assert d(("ip", MATCH_SPECIFIED, None)) == {"ips/10.0.0.1"}
    assert d(("ip", MATCH_DEFAULT, None)) == set()
    found = describe_quotas(QUOTAS, [FilterComponent("user", MATCH_EXACT, "alice"),
                                     FilterComponent("client-id", MATCH_EXACT, "c1")], False)
    assert found == {quota_entity([("user", "alice"), ("client-id", "c1")]): {"request_percentage": 12.5}}
    assert refused(describe_quotas, QUOTAS, [FilterComponent("user", 2), FilterComponent("user", 0, "a")], False) == \
        (ErrorCode.INVALID_REQUEST, "Duplicate user filter component entity type")
    assert refused(describe_quotas, QUOTAS, [FilterComponent("user", 7)], False) == (ErrorCode.UNKNOWN_SERVER_ERROR, None)
    assert refused(describe_quotas, QUOTAS, [FilterComponent("", 2)], False) == \
        (ErrorCode.INVALID_REQUEST, "Unexpected empty filter component entity type")
    assert refused(describe_quotas, QUOTAS, [FilterComponent("group", 2)], False) == \
        (ErrorCode.UNSUPPORTED_VERSION, "Custom entity type 'group' not supported")
    assert refused(describe_quotas, QUOTAS, [FilterComponent("ip", 2), FilterComponent("user", 2)], False)[1] == \
        ("Invalid entity filter component combination, IP filter component should not be used with user or "
         "clientId filter component.")


def test_broker_config_problems() -> None:
    assert broker_config_problem({"log.retention.ms": "1000", "log.cleanup.policy": "compact"}) is None
    assert broker_config_problem({"broker.id": "2", "num.partitions": "3", "log.retention.ms": "1"}) == \
        "Cannot update these configs dynamically: Set(broker.id, num.partitions)"
    assert broker_config_problem({"log.retention.ms": "soon"}) == \
        "Invalid value soon for configuration log.retention.ms: Not a number of type LONG"
    assert broker_config_problem({"compression.type": "brotli"}) == (
        "Invalid value brotli for configuration compression.type: String must be one of: uncompressed, zstd, lz4, "
        "snappy, gzip, producer")


# -- the handlers, without ZooKeeper ----------------------------------------------------------------------------

def incr(core: BrokerCore, name: str, *ops: tuple[str, int, str | None], rtype: int = BROKER,
         validate_only: bool = False, node_id: int = 1) -> Any:
    req = IReq(resources=[IReq.AlterConfigsResource(rtype, name, [IReq.AlterableConfig(n, o, v) for n, o, v in ops])],
               validate_only=validate_only)
    return core.handle(ctx(44, 1, node_id), req, 0).responses[0]


def describe(core: BrokerCore, rtype: int, name: str, keys: list[str] | None = None, node_id: int = 1) -> Any:
    D = DescribeConfigsRequest
    req = D(resources=[D.DescribeConfigsResource(rtype, name, keys)], include_synonyms=True)
    return core.handle(ctx(32, 4, node_id), req, 0).results[0]


def entry(result: Any, name: str) -> tuple[str, int, list[tuple[str, str, int]]]:
    (found,) = [c for c in result.configs if c.name == name]
    return found.value, found.config_source, [(s.name, s.value, s.source) for s in found.synonyms]


def test_dynamic_defaults_and_per_broker_configs_become_topic_defaults() -> None:
    core = make_core(brokers=2, log_retention_ms=3_600_000)
    core.cluster.create_topic("t", 1, 1)
    core.cluster.create_topic("own", 1, 1, {"retention.ms": "5"})
    assert incr(core, "", ("log.retention.ms", SET, "60000"), ("log.cleanup.policy", SET, "compact")).error_code == 0
    assert core.dynamic.default == {"log.retention.ms": "60000", "log.cleanup.policy": "compact"}
    assert entry(describe(core, TOPIC, "t"), "retention.ms") == ("60000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG, [
        ("log.retention.ms", "60000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG),
        ("log.retention.ms", "3600000", ConfigSource.STATIC_BROKER_CONFIG),
        ("log.retention.ms", "604800000", ConfigSource.DEFAULT_CONFIG)])
    assert entry(describe(core, TOPIC, "own"), "retention.ms")[:2] == ("5", ConfigSource.DYNAMIC_TOPIC_CONFIG)
    # a per-broker entry wins over the default, on that broker only
    assert incr(core, "1", ("log.retention.ms", SET, "1000")).error_code == 0
    assert entry(describe(core, TOPIC, "t"), "retention.ms")[:2] == ("1000", ConfigSource.DYNAMIC_BROKER_CONFIG)
    assert entry(describe(core, TOPIC, "t", node_id=2), "retention.ms")[:2] == \
        ("60000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG)
    # DELETE and APPEND on the stored entry
    assert incr(core, "", ("log.retention.ms", DELETE, None), ("log.cleanup.policy", APPEND, "delete")).error_code == 0
    assert core.dynamic.default == {"log.cleanup.policy": "compact,delete"}
    assert incr(core, "", ("log.retention.ms", APPEND, "1")).error_code == ErrorCode.INVALID_CONFIG
    assert incr(core, "", ("log.retention.ms", SET, "x")).error_message == \
        "Invalid value x for configuration log.retention.ms: Not a number of type LONG"
    assert incr(core, "", ("log.segment.bytes", SET, "1"), validate_only=True).error_code == 0
    assert "log.segment.bytes" not in core.dynamic.default
    assert incr(core, "abc", ("log.retention.ms", SET, "1")).error_message == \
        "Node id must be an integer, but it is: abc"


def test_describe_broker_resources() -> None:
    core = make_core(message_max_bytes=2000)
    assert incr(core, "", ("message.max.bytes", SET, "3000")).error_code == 0
    default = describe(core, BROKER, "")
    assert [(c.name, c.value, c.config_source, c.read_only) for c in default.configs] == \
        [("message.max.bytes", "3000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG, False)]
    assert entry(default, "message.max.bytes")[2] == \
        [("message.max.bytes", "3000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG)]
    assert incr(core, "1", ("message.max.bytes", SET, "4000")).error_code == 0
    own = describe(core, BROKER, "1")
    assert entry(own, "message.max.bytes") == ("4000", ConfigSource.DYNAMIC_BROKER_CONFIG, [
        ("message.max.bytes", "4000", ConfigSource.DYNAMIC_BROKER_CONFIG),
        ("message.max.bytes", "3000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG),
        ("message.max.bytes", "2000", ConfigSource.STATIC_BROKER_CONFIG),
        ("message.max.bytes", "1048588", ConfigSource.DEFAULT_CONFIG)])
    read_only = {c.name: c.read_only for c in own.configs}
    assert read_only["broker.id"] and read_only["num.partitions"]
    assert not read_only["log.retention.ms"] and not read_only["compression.type"]
    assert entry(own, "compression.type")[:2] == ("producer", ConfigSource.DEFAULT_CONFIG)
    twice = core.handle(ctx(44, 1), IReq(resources=[IReq.AlterConfigsResource(BROKER, "", [
        IReq.AlterableConfig("log.retention.ms", SET, "1")])] * 2 + [IReq.AlterConfigsResource(BROKER, "1", [
            IReq.AlterableConfig("log.retention.ms", SET, "1"), IReq.AlterableConfig("log.retention.ms", DELETE, None)])]),
        0).responses
    assert [(r.error_code, r.error_message) for r in twice] == [
        (ErrorCode.INVALID_REQUEST, "Each resource must appear at most once."),
        (ErrorCode.INVALID_REQUEST, "Each resource must appear at most once."),
        (ErrorCode.INVALID_REQUEST, "Error due to duplicate config keys")]
    other = describe(core, BROKER, "9")
    assert (other.error_code, other.error_message) == \
        (ErrorCode.INVALID_REQUEST, "Unexpected broker id, expected 1 or empty string, but received 9")
    assert describe(core, BROKER, "x1").error_message == "Broker id must be an integer, but it is: x1"


def test_alter_configs_replaces_a_broker_entry() -> None:
    core = make_core()
    A = AlterConfigsRequest

    def alter(name: str, configs: dict[str, str | None]) -> Any:
        req = A(resources=[A.AlterConfigsResource(BROKER, name, [A.AlterableConfig(k, v) for k, v in configs.items()])],
                validate_only=False)
        return core.handle(ctx(33, 2), req, 0).responses[0]

    assert alter("", {"log.retention.ms": "1", "log.segment.bytes": "2048"}).error_code == 0
    assert alter("", {"log.segment.bytes": "4096"}).error_code == 0
    assert core.dynamic.default == {"log.segment.bytes": "4096"}
    nulls = alter("", {"log.segment.bytes": None, "log.retention.bytes": None})
    assert (nulls.error_code, nulls.error_message) == \
        (ErrorCode.INVALID_REQUEST, "Null value not supported for : log.segment.bytes, log.retention.bytes")
    assert alter("", {"broker.id": "3"}).error_code == ErrorCode.INVALID_REQUEST
    assert core.dynamic.default == {"log.segment.bytes": "4096"}


def test_dynamic_message_max_bytes_and_retention_take_effect() -> None:
    core = make_core()
    core.cluster.create_topic("t", 1, 1)
    big = batch([b"x" * 400])
    assert produce(core, "t", big).responses[0].partition_responses[0].error_code == 0
    assert incr(core, "", ("message.max.bytes", SET, "200")).error_code == 0
    assert produce(core, "t", big).responses[0].partition_responses[0].error_code == ErrorCode.MESSAGE_TOO_LARGE
    core.cluster.topics["t"].configs["max.message.bytes"] = "100000"  # a topic override still wins
    assert produce(core, "t", big).responses[0].partition_responses[0].error_code == 0
    # retention: the cleaner uses the dynamic default
    core.cluster.topics["t"].configs.clear()
    plog = core.cluster.topics["t"].partitions[0].log
    assert plog.log_start_offset == 0
    assert incr(core, "", ("log.retention.ms", SET, "1"), ("log.segment.bytes", SET, "14")).error_code == 0
    core.wall_offset = 10_000_000
    core.clean_logs()
    assert plog.log_start_offset > 0


def quotas_req(*entries: tuple[list[tuple[str, str | None]], list[tuple[str, float, bool]]],
               validate_only: bool = False) -> AlterClientQuotasRequest:
    Q = AlterClientQuotasRequest
    return Q(entries=[Q.EntryData([Q.EntityData(t, n) for t, n in entity], [Q.OpData(k, v, r) for k, v, r in ops])
                      for entity, ops in entries], validate_only=validate_only)


def describe_quotas_req(*components: tuple[str, int, str | None], strict: bool = False) -> DescribeClientQuotasRequest:
    D = DescribeClientQuotasRequest
    return D(components=[D.ComponentData(t, m, n) for t, m, n in components], strict=strict)


def test_client_quota_handlers(tmp_path: Path) -> None:
    assert (REGISTRY[48].min_version, REGISTRY[48].max_version) == (0, 1)
    assert (REGISTRY[49].min_version, REGISTRY[49].max_version) == (0, 1)
    core = make_core(data_dir=tmp_path)
    resp = core.handle(ctx(49, 1), quotas_req(
        ([("user", "alice"), ("client-id", "c1")], [("producer_byte_rate", 1024.0, False)]),
        ([("user", None)], [("request_percentage", 50.0, False)]),
        ([("user", "x")], [("producer_byte_rate", 1.5, False)]),
        ([], [])), 0)
    assert [(e.error_code, e.error_message) for e in resp.entries] == [
        (0, None), (0, None), (ErrorCode.INVALID_REQUEST, "Configuration producer_byte_rate must be a LONG value"),
        (ErrorCode.INVALID_REQUEST, "Invalid empty client quota entity")]
    assert [(e.entity_type, e.entity_name) for e in resp.entries[1].entity] == [("user", None)]
    got = core.handle(ctx(48, 1), describe_quotas_req(("user", MATCH_SPECIFIED, None)), 0)
    assert got.error_code == 0
    assert sorted(([(e.entity_type, e.entity_name) for e in x.entity], [(v.key, v.value) for v in x.values])
                  for x in got.entries) == [
        ([("client-id", "c1"), ("user", "alice")], [("producer_byte_rate", 1024.0)]),
        ([("user", None)], [("request_percentage", 50.0)])]
    bad = core.handle(ctx(48, 1), describe_quotas_req(("topic", MATCH_SPECIFIED, None)), 0)
    assert (bad.error_code, bad.entries) == (ErrorCode.UNSUPPORTED_VERSION, None)
    # validate_only changes nothing; removal keeps an empty entity that is no longer described
    core.handle(ctx(49, 1), quotas_req(([("client-id", "c9")], [("consumer_byte_rate", 1.0, False)]),
                                       validate_only=True), 0)
    core.handle(ctx(49, 1), quotas_req(([("user", None)], [("request_percentage", 0.0, True)])), 0)
    got = core.handle(ctx(48, 1), describe_quotas_req(), 0)
    assert [[(e.entity_type, e.entity_name) for e in x.entity] for x in got.entries] == \
        [[("client-id", "c1"), ("user", "alice")]]
    # kept in the --data-dir metadata file, with the dynamic broker configs
    assert incr(core, "", ("log.retention.ms", SET, "77")).error_code == 0
    core.close()
    saved = json.loads((tmp_path / "__wiretwin_metadata.json").read_text())
    assert saved["dynamic_configs"] == {
        "brokers": {"<default>": {"log.retention.ms": "77"}},
        "quotas": {"users/alice/clients/c1": {"producer_byte_rate": "1024"}, "users/<default>": {}}}
    again = make_core(data_dir=tmp_path)
    assert again.dynamic.default == {"log.retention.ms": "77"}
    assert again.dynamic.quotas[quota_entity([("user", "alice"), ("client-id", "c1")])] == \
        {"producer_byte_rate": "1024"}
    again.close()
