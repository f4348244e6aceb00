"""Dynamic broker configs and client quotas in ZooKeeper (``/config/brokers|users|clients/...`` and
``/config/changes``), against our ZooKeeper and Debian's real one (``zk_target``).

First the kazoo bridge alone: what it writes, read back byte for byte by an independent kazoo client, and
what it delivers when the znodes change (our writes, and an old tool's direct writes with a change
notification, as ``kafka-configs.sh --zookeeper`` did). Then three whole brokers (core and trio shell, in
this process, on the kazoo bridge) driven by confluent-kafka's AdminClient and kafka-python's
KafkaAdminClient: per-broker and cluster-default configs and client quotas, the znodes they leave, what
every broker describes afterwards, and a dynamic default (message.max.bytes) refusing records on every
broker. Waits are bounded waits on delivered events or on an answer changing, never fixed sleeps.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from broker.zk.model import BrokerConfigsChanged, QuotaConfigsChanged, SetEntityConfig
from compat_tests.kafka.conftest import wait_for, wait_for_leaders
from compat_tests.zookeeper.test_kafka_layout import SESSION_MS, WAIT, Cluster, cluster  # noqa: F401 (fixture)

NOTIFICATION = "/config/changes/config_change_"


def notifications(c: Cluster) -> list[bytes]:
    """The data of every /config/changes entry, oldest first."""
    return [c.data(f"/config/changes/{child}") for child in sorted(c.zk.get_children("/config/changes"))]


# -- the bridge --------------------------------------------------------------------------------------------------

def test_broker_and_quota_configs_are_written_with_notifications_and_followed(cluster: Cluster) -> None:
    b1, e1 = cluster.bridge(1)
    b2, e2 = cluster.bridge(2)
    assert e1.wait(BrokerConfigsChanged) == BrokerConfigsChanged({}, {})
    assert e1.wait(QuotaConfigsChanged) == QuotaConfigsChanged({})

    b1.apply(SetEntityConfig("brokers/<default>", {"log.retention.ms": "60000", "message.max.bytes": "2000"}))
    assert cluster.data("/config/brokers/<default>") == \
        b'{"version":1,"config":{"log.retention.ms":"60000","message.max.bytes":"2000"}}'
    assert notifications(cluster) == [b'{"version":2,"entity_path":"brokers/<default>"}']
    for events in (e1, e2):
        events.wait(BrokerConfigsChanged, lambda e: e.default == {"log.retention.ms": "60000",
                                                                  "message.max.bytes": "2000"} and e.broker == {})

    # a per-broker entry reaches only that broker
    mark1, mark2 = e1.mark(), e2.mark()
    b1.apply(SetEntityConfig("brokers/2", {"log.segment.bytes": "1048576"}))
    assert cluster.data("/config/brokers/2") == b'{"version":1,"config":{"log.segment.bytes":"1048576"}}'
    assert notifications(cluster)[-1] == b'{"version":2,"entity_path":"brokers/2"}'
    e2.wait(BrokerConfigsChanged, lambda e: e.broker == {"log.segment.bytes": "1048576"}, after=mark2)
    assert e1.wait(BrokerConfigsChanged, after=mark1).broker == {}

    # a nested quota entity: parents created with null data, as Kafka's createRecursive does
    b2.apply(SetEntityConfig("users/alice/clients/c1", {"producer_byte_rate": "1024", "request_percentage": "12.5"}))
    assert cluster.zk.get("/config/users/alice")[0] is None
    assert cluster.zk.get("/config/users/alice/clients")[0] is None
    assert cluster.data("/config/users/alice/clients/c1") == \
        b'{"version":1,"config":{"request_percentage":"12.5","producer_byte_rate":"1024"}}'
    assert notifications(cluster)[-1] == b'{"version":2,"entity_path":"users/alice/clients/c1"}'
    expected = {"users/alice": {}, "users/alice/clients/c1": {"producer_byte_rate": "1024", "request_percentage": "12.5"}}
    for events in (e1, e2):
        events.wait(QuotaConfigsChanged, lambda e: e.entities == expected)

    b1.apply(SetEntityConfig("clients/<default>", {"consumer_byte_rate": "2048"}))
    b1.apply(SetEntityConfig("users/User%3Abob", {}))  # every key removed: the entity stays, empty
    assert cluster.data("/config/clients/<default>") == b'{"version":1,"config":{"consumer_byte_rate":"2048"}}'
    assert cluster.data("/config/users/User%3Abob") == b'{"version":1,"config":{}}'
    assert [json.loads(n)["entity_path"] for n in notifications(cluster)[-2:]] == \
        ["clients/<default>", "users/User%3Abob"]
    e2.wait(QuotaConfigsChanged, lambda e: e.entities == {**expected, "clients/<default>": {"consumer_byte_rate": "2048"},
                                                         "users/User%3Abob": {}})


def test_configs_written_by_old_tools_are_picked_up(cluster: Cluster) -> None:
    """``kafka-configs.sh --zookeeper``: the entity znode, then a sequential change notification."""
    _, e1 = cluster.bridge(1)
    zk = cluster.zk
    zk.create("/config/clients/legacy-app", b'{"version":1,"config":{"producer_byte_rate":"4096"}}')
    zk.create(NOTIFICATION, b'{"version":2,"entity_path":"clients/legacy-app"}', sequence=True)
    e1.wait(QuotaConfigsChanged, lambda e: e.entities == {"clients/legacy-app": {"producer_byte_rate": "4096"}})
    zk.create("/config/brokers/1", b'{"version":1,"config":{"log.retention.ms":"1000"}}')
    zk.create(NOTIFICATION, b'{"version":2,"entity_path":"brokers/1"}', sequence=True)
    e1.wait(BrokerConfigsChanged, lambda e: e.broker == {"log.retention.ms": "1000"})
    # the pre-0.10.1 notification format names the entity in two fields
    zk.set("/config/brokers/1", b'{"version":1,"config":{"log.retention.ms":"2000"}}')
    zk.create(NOTIFICATION, b'{"version":1,"entity_type":"brokers","entity_name":"1"}', sequence=True)
    e1.wait(BrokerConfigsChanged, lambda e: e.broker == {"log.retention.ms": "2000"})
    # a broker starting later reads what is there
    _, e2 = cluster.bridge(2)
    assert e2.wait(QuotaConfigsChanged).entities == {"clients/legacy-app": {"producer_byte_rate": "4096"}}


# -- whole brokers and real clients -----------------------------------------------------------------------------

@pytest.fixture
def brokers(cluster: Cluster) -> Iterator[dict[int, Any]]:
    from broker.config import BrokerConfig
    from broker.testing import RunningBroker

    running = {n: RunningBroker(BrokerConfig(port=0, first_node_id=n, zookeeper_connect=cluster.connect,
                                             zookeeper_session_timeout_ms=SESSION_MS,
                                             group_initial_rebalance_delay_ms=0)).start() for n in (1, 2, 3)}
    yield running
    for broker in running.values():
        broker.stop()


def test_clients_alter_and_describe_dynamic_configs_and_quotas(cluster: Cluster, brokers: dict[int, Any]) -> None:
    from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource, \
        ResourceType
    from kafka import KafkaAdminClient, KafkaProducer
    from kafka.admin import ConfigResource as KpConfigResource, ConfigResourceType, NewTopic
    from kafka.errors import MessageSizeTooLargeError
    from kafka.protocol.admin import (
        AlterClientQuotasRequest, DescribeClientQuotasRequest, IncrementalAlterConfigsRequest,
    )

    zk = cluster.zk
    bootstrap = ",".join(b.bootstrap_servers for b in brokers.values())
    confluent = AdminClient({"bootstrap.servers": bootstrap})
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)

    def send(request: Any, node_id: int | None = None) -> Any:
        """A protocol request kafka-python's admin client has no method for, to one broker or any."""
        return admin._manager.run(admin._manager.send, request, node_id)

    def confluent_describe(node_id: int, name: str) -> Any:
        (future,) = confluent.describe_configs([ConfigResource(ResourceType.BROKER, str(node_id))]).values()
        return future.result(WAIT)[name]

    try:
        # -- per-broker config from confluent-kafka (librdkafka sends it to that broker) ------------------------
        resource = ConfigResource(ResourceType.BROKER, "2", incremental_configs=[
            ConfigEntry("log.retention.ms", "120000", incremental_operation=AlterConfigOpType.SET)])
        for future in confluent.incremental_alter_configs([resource]).values():
            future.result(WAIT)
        assert cluster.data("/config/brokers/2") == b'{"version":1,"config":{"log.retention.ms":"120000"}}'
        assert notifications(cluster)[-1] == b'{"version":2,"entity_path":"brokers/2"}'
        entry = confluent_describe(2, "log.retention.ms")
        assert (entry.value, entry.source, entry.is_read_only) == \
            ("120000", ConfigSource.DYNAMIC_BROKER_CONFIG.value, False)
        assert confluent_describe(1, "log.retention.ms").source == ConfigSource.DEFAULT_CONFIG.value
        # a static key is refused as Kafka's ZooKeeper-mode broker refuses it
        bad = ConfigResource(ResourceType.BROKER, "1", incremental_configs=[
            ConfigEntry("num.partitions", "3", incremental_operation=AlterConfigOpType.SET)])
        (future,) = confluent.incremental_alter_configs([bad]).values()
        with pytest.raises(Exception) as refused:
            future.result(WAIT)
        assert "Cannot update these configs dynamically: Set(num.partitions)" in str(refused.value)

        # -- the cluster default from kafka-python (its admin client only names broker ids: a raw request) -----
        resp = send(IncrementalAlterConfigsRequest(resources=[(4, "", [("message.max.bytes", 0, "2000")])],
                                                   validate_only=False))
        assert [(r.error_code, r.resource_name) for r in resp.responses] == [(0, "")]
        assert cluster.data("/config/brokers/<default>") == b'{"version":1,"config":{"message.max.bytes":"2000"}}'
        assert notifications(cluster)[-1] == b'{"version":2,"entity_path":"brokers/<default>"}'

        def described(node_id: int) -> dict[str, Any]:
            found = admin.describe_configs([KpConfigResource(ConfigResourceType.BROKER, str(node_id),
                                                             {"message.max.bytes": None})],
                                           include_synonyms=True, config_filter="all")
            return dict(found["broker"][str(node_id)]["message.max.bytes"])

        for n in brokers:  # every broker applied the default (and shows it with its synonyms)
            seen = wait_for(lambda n=n: (d := described(n))["value"] == "2000" and d, what=f"broker {n}'s default")
            assert seen["config_source"] == "DYNAMIC_DEFAULT_BROKER_CONFIG" and seen["read_only"] is False
            assert [(s["value"], s["source"]) for s in seen["synonyms"]] == \
                [("2000", "DYNAMIC_DEFAULT_BROKER_CONFIG"), ("1048588", "DEFAULT_CONFIG")]

        # -- it takes effect on every broker: a topic led by each refuses a 5 kB record --------------------------
        admin.create_topics([NewTopic("capped", 3, 1)])
        leaders = wait_for_leaders(admin, "capped", 3)
        assert sorted(leaders.values()) == [1, 2, 3]
        topic = admin.describe_configs([KpConfigResource(ConfigResourceType.TOPIC, "capped",
                                                         {"max.message.bytes": None})], config_filter="all")
        assert topic["topic"]["capped"]["max.message.bytes"]["config_source"] == "DYNAMIC_DEFAULT_BROKER_CONFIG"
        producer = KafkaProducer(bootstrap_servers=bootstrap, retries=0, linger_ms=0)
        for partition in sorted(leaders):
            with pytest.raises(MessageSizeTooLargeError):
                producer.send("capped", b"x" * 5000, partition=partition).get(timeout=WAIT)
            producer.send("capped", b"small", partition=partition).get(timeout=WAIT)

        # -- an old tool raises it again straight in ZooKeeper: every broker takes the records --------------------
        zk.set("/config/brokers/<default>", b'{"version":1,"config":{"message.max.bytes":"100000"}}')
        zk.create(NOTIFICATION, b'{"version":2,"entity_path":"brokers/<default>"}', sequence=True)
        for n in brokers:
            wait_for(lambda n=n: described(n)["value"] == "100000", what=f"broker {n} picking up the old tool's write")
        for partition in sorted(leaders):
            producer.send("capped", b"x" * 5000, partition=partition).get(timeout=WAIT)
        producer.close()

        # -- client quotas (kafka-python's protocol classes; neither admin client has quota methods) -------------
        resp = send(AlterClientQuotasRequest(entries=[
            ([("user", "alice"), ("client-id", "c1")], [("producer_byte_rate", 1024.0, False),
                                                        ("request_percentage", 12.5, False)]),
            ([("client-id", None)], [("consumer_byte_rate", 2048.0, False)]),
            ([("user", "alice")], [("producer_byte_rate", 0.5, False)])], validate_only=False), node_id=1)
        assert [(e.error_code, e.error_message) for e in resp.entries] == \
            [(0, None), (0, None), (42, "Configuration producer_byte_rate must be a LONG value")]
        assert cluster.data("/config/users/alice/clients/c1") == \
            b'{"version":1,"config":{"request_percentage":"12.5","producer_byte_rate":"1024"}}'
        assert cluster.zk.get("/config/users/alice")[0] is None
        assert cluster.data("/config/clients/<default>") == b'{"version":1,"config":{"consumer_byte_rate":"2048"}}'
        assert [json.loads(n)["entity_path"] for n in notifications(cluster)[-2:]] == \
            ["users/alice/clients/c1", "clients/<default>"]
        # an old tool's user default
        zk.create("/config/users/<default>", b'{"version":1,"config":{"producer_byte_rate":"999"}}')
        zk.create(NOTIFICATION, b'{"version":2,"entity_path":"users/<default>"}', sequence=True)

        def quotas(node_id: int, *components: tuple[str, int, str | None], strict: bool = False) -> Any:
            answer = send(DescribeClientQuotasRequest(components=list(components), strict=strict), node_id=node_id)
            assert answer.error_code == 0, answer
            return sorted(((tuple((e.entity_type, e.entity_name) for e in x.entity),
                            tuple((v.key, v.value) for v in x.values)) for x in answer.entries), key=repr)

        everything = sorted([((("client-id", None),), (("consumer_byte_rate", 2048.0),)),
                             ((("client-id", "c1"), ("user", "alice")),
                              (("producer_byte_rate", 1024.0), ("request_percentage", 12.5))),
                             ((("user", None),), (("producer_byte_rate", 999.0),))], key=repr)
        for n in brokers:  # every broker answers from what ZooKeeper told it
            wait_for(lambda n=n: quotas(n) == everything, what=f"broker {n}'s quotas")
        assert quotas(3, ("user", 0, "alice")) == [e for e in everything if ("user", "alice") in e[0]]
        assert quotas(2, ("user", 1, None), strict=True) == [e for e in everything if e[0] == (("user", None),)]
        bad = send(DescribeClientQuotasRequest(components=[("group", 2, None)], strict=False), node_id=2)
        assert (bad.error_code, bad.error_message) == (35, "Custom entity type 'group' not supported")
    finally:
        admin.close()
