"""Dynamic broker configs and client quotas in ZooKeeper mode, three brokers in one process over MemoryZooKeeper.

What ZooKeeper holds after each operation (``MemoryZooKeeper.entity_configs`` by entity path, and the change
notifications), what every broker applies, and the behaviour: a dynamic ``log.retention.ms`` default makes every
broker's log cleaner delete old segments; an old tool's write (``write_config``) is picked up like ours. The same
flows on the kazoo bridge against real ZooKeeper servers: compat_tests/zookeeper/test_kafka_dynamic_configs.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.protocol.admin import AlterClientQuotasRequest, IncrementalAlterConfigsRequest

from broker.config import BrokerConfig
from broker.core import BrokerCore
from broker.state.dynamic import quota_entity
from broker.testing import RunningBroker
from broker.tests.test_zk_mode import WAIT, wait_for
from broker.zk.memory import MemoryZooKeeper

Brokers = dict[int, RunningBroker]


@pytest.fixture
def zk_cluster() -> Iterator[tuple[MemoryZooKeeper, Brokers]]:
    zk = MemoryZooKeeper()
    brokers = {n: RunningBroker(BrokerConfig(port=0, first_node_id=n, zookeeper_connect="memory",
                                             group_initial_rebalance_delay_ms=0),
                                bridge_factory=zk.bridge).start()
               for n in (1, 2, 3)}
    yield zk, brokers
    for broker in brokers.values():
        broker.stop()


def core(broker: RunningBroker) -> BrokerCore:
    server = broker.server
    assert server is not None and server.core is not None
    return server.core


def test_a_dynamic_retention_default_applies_on_every_broker(zk_cluster: tuple[MemoryZooKeeper, Brokers]) -> None:
    zk, brokers = zk_cluster
    bootstrap = ",".join(b.bootstrap_servers for b in brokers.values())
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic("aged", 3, 1)])
        producer = KafkaProducer(bootstrap_servers=bootstrap)
        for partition in range(3):
            for i in range(5):
                producer.send("aged", b"v" * 50 + bytes([i]), partition=partition).get(timeout=WAIT)
        producer.close()
        leaders = {p: zk.states[("aged", p)].leader for p in range(3)}
        assert sorted(leaders.values()) == [1, 2, 3]

        def clean(broker: RunningBroker, partition: int) -> int:
            def run() -> int:
                c = core(broker)
                c.wall_offset += 3_600_000  # an hour later: every record is older than the retention
                c.clean_logs()
                return c.cluster.topics["aged"].partitions[partition].log.log_start_offset
            return broker.call(run)

        for partition, leader in leaders.items():  # a week's retention (Kafka's default) keeps them all
            assert clean(brokers[leader], partition) == 0

        def call(request: Any, node_id: int | None = None) -> Any:
            return admin._manager.run(admin._manager.send, request, node_id)

        resp = call(IncrementalAlterConfigsRequest(resources=[(4, "", [("log.retention.ms", 0, "1000")])],
                                                   validate_only=False), node_id=2)
        assert resp.responses[0].error_code == 0
        assert zk.entity_configs["brokers/<default>"] == {"log.retention.ms": "1000"}
        assert zk.config_changes == ["brokers/<default>"]
        for broker in brokers.values():
            wait_for(lambda b=broker: b.call(lambda: core(b).dynamic.default) == {"log.retention.ms": "1000"},
                     "the default everywhere")
        for partition, leader in leaders.items():  # each broker's own cleaner, on the partition it holds
            assert clean(brokers[leader], partition) == 5  # every record is older than a second now

        # an old tool's per-broker override on broker 3, and quotas, straight into ZooKeeper
        zk.write_config("brokers/3", {"log.retention.ms": "999999999"})
        zk.write_config("users/alice", {"producer_byte_rate": "1024"})
        wait_for(lambda: brokers[3].call(lambda: core(brokers[3]).dynamic_layers()[1]) ==
                 {"log.retention.ms": "999999999"}, "broker 3's own entry")
        assert brokers[1].call(lambda: core(brokers[1]).dynamic_layers()[1]) == {}
        for broker in brokers.values():
            wait_for(lambda b=broker: b.call(lambda: core(b).dynamic.quotas) ==
                     {quota_entity([("user", "alice")]): {"producer_byte_rate": "1024"}}, "the quota everywhere")

        resp = call(AlterClientQuotasRequest(entries=[([("user", "alice"), ("client-id", "c 1")],
                                                       [("consumer_byte_rate", 10.0, False)])], validate_only=False))
        assert resp.entries[0].error_code == 0
        assert zk.entity_configs["users/alice/clients/c%201"] == {"consumer_byte_rate": "10"}
        assert zk.config_changes[-1] == "users/alice/clients/c%201"
    finally:
        admin.close()
