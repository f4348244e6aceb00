"""Dynamic broker configs and client quotas on three broker processes in ZooKeeper mode (``kafka_zk_cluster``).

A cluster-wide message.max.bytes set once (kafka-python) is in ``/config/brokers/<default>`` and refuses large
records on every broker process, including one killed and restarted afterwards (it reads ZooKeeper at start);
a per-broker config set with confluent-kafka is described by that broker only; client quotas altered through
one broker are described by every one. The znodes are read back with kazoo. Bounded waits, no fixed sleeps.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource, \
    ResourceType
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import MessageSizeTooLargeError
from kafka.protocol.admin import AlterClientQuotasRequest, DescribeClientQuotasRequest, IncrementalAlterConfigsRequest
from kazoo.client import KazooClient

from broker.testing import ZkKafkaCluster
from compat_tests.kafka.conftest import wait_for_leaders
from compat_tests.kafka.test_zk_cluster import WAIT, wait_for


def test_dynamic_configs_and_quotas_across_broker_processes(kafka_zk_cluster: ZkKafkaCluster) -> None:
    cluster = kafka_zk_cluster
    zk = KazooClient(hosts=cluster.zookeeper)
    zk.start(timeout=WAIT)
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap_servers, request_timeout_ms=20000)
    confluent = AdminClient({"bootstrap.servers": cluster.bootstrap_servers})

    def send(request: Any, node_id: int | None = None) -> Any:
        return admin._manager.run(admin._manager.send, request, node_id)

    def default_of(node_id: int) -> str | None:
        (future,) = confluent.describe_configs([ConfigResource(ResourceType.BROKER, str(node_id))]).values()
        entry = future.result(WAIT)["message.max.bytes"]
        return str(entry.value) if entry.source == ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value else None

    try:
        resp = send(IncrementalAlterConfigsRequest(resources=[(4, "", [("message.max.bytes", 0, "2000")])],
                                                   validate_only=False))
        assert resp.responses[0].error_code == 0
        assert zk.get("/config/brokers/<default>")[0] == b'{"version":1,"config":{"message.max.bytes":"2000"}}'
        changes = sorted(zk.get_children("/config/changes"))
        assert json.loads(zk.get(f"/config/changes/{changes[-1]}")[0]) == \
            {"version": 2, "entity_path": "brokers/<default>"}
        for n in cluster.brokers:
            wait_for(lambda n=n: default_of(n) == "2000", f"broker {n} applying the default")

        admin.create_topics([NewTopic("capped", 3, 1)])
        leaders = wait_for_leaders(admin, "capped", 3)
        assert sorted(leaders.values()) == [1, 2, 3]

        def refused_everywhere() -> None:
            producer = KafkaProducer(bootstrap_servers=cluster.bootstrap_servers, retries=0)
            try:
                for partition in sorted(leaders):
                    with pytest.raises(MessageSizeTooLargeError):
                        producer.send("capped", b"x" * 5000, partition=partition).get(timeout=WAIT)
                    producer.send("capped", b"small", partition=partition).get(timeout=WAIT)
            finally:
                producer.close()

        refused_everywhere()
        # a restarted broker process reads the dynamic configs from ZooKeeper at start
        restarted = leaders[0]
        cluster.kill(restarted)
        cluster.restart(restarted)
        wait_for(lambda: default_of(restarted) == "2000", "the restarted broker reading the default")
        leaders = wait_for_leaders(admin, "capped", 3)
        refused_everywhere()

        # a per-broker entry from confluent-kafka: only that broker describes it
        resource = ConfigResource(ResourceType.BROKER, "3", incremental_configs=[
            ConfigEntry("log.retention.ms", "120000", incremental_operation=AlterConfigOpType.SET)])
        for future in confluent.incremental_alter_configs([resource]).values():
            future.result(WAIT)
        assert zk.get("/config/brokers/3")[0] == b'{"version":1,"config":{"log.retention.ms":"120000"}}'
        for n in cluster.brokers:
            (future,) = confluent.describe_configs([ConfigResource(ResourceType.BROKER, str(n))]).values()
            entry = future.result(WAIT)["log.retention.ms"]
            assert (entry.value, entry.source) == (("120000", ConfigSource.DYNAMIC_BROKER_CONFIG.value) if n == 3
                                                   else ("604800000", ConfigSource.DEFAULT_CONFIG.value))

        # client quotas through broker 2, described by every broker
        resp = send(AlterClientQuotasRequest(entries=[([("user", "alice")], [("producer_byte_rate", 1024.0, False)])],
                                             validate_only=False), node_id=2)
        assert resp.entries[0].error_code == 0
        assert zk.get("/config/users/alice")[0] == b'{"version":1,"config":{"producer_byte_rate":"1024"}}'

        def described(node_id: int) -> list[tuple[Any, ...]]:
            answer = send(DescribeClientQuotasRequest(components=[("user", 2, None)], strict=False), node_id=node_id)
            return [(tuple((e.entity_type, e.entity_name) for e in x.entity), tuple((v.key, v.value) for v in x.values))
                    for x in answer.entries]

        for n in cluster.brokers:
            wait_for(lambda n=n: described(n) == [((("user", "alice"),), (("producer_byte_rate", 1024.0),))],
                     f"broker {n} describing the quota")
    finally:
        admin.close()
        zk.stop()
        zk.close()
