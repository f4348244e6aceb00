"""DescribeConfigs through real admin clients: Kafka's defaults, topic overrides and their sources."""

from __future__ import annotations

from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, NewTopic
from kafka.admin import ConfigResource as KpResource
from kafka.admin import ConfigResourceType, KafkaAdminClient

from broker.testing import RunningBroker


def test_confluent_describe_configs(kafka_broker: RunningBroker) -> None:
    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap_servers})
    admin.create_topics([NewTopic("cfg", 1, 1, config={"retention.ms": "5000"})])["cfg"].result(10)
    (future,) = admin.describe_configs([ConfigResource("topic", "cfg")]).values()
    configs = future.result(10)
    assert (configs["retention.ms"].value, configs["retention.ms"].source) == \
        ("5000", ConfigSource.DYNAMIC_TOPIC_CONFIG.value)
    assert (configs["cleanup.policy"].value, configs["cleanup.policy"].source) == \
        ("delete", ConfigSource.DEFAULT_CONFIG.value)
    assert configs["max.message.bytes"].value == "1048588"
    assert configs["segment.bytes"].value == "1073741824"


def test_kafka_python_describe_configs(kafka_broker: RunningBroker) -> None:
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap_servers)
    try:
        from kafka.admin import NewTopic as KpTopic
        admin.create_topics([KpTopic("cfg2", 1, 1, topic_configs={"cleanup.policy": "compact"})])
        result = admin.describe_configs([KpResource(ConfigResourceType.TOPIC, "cfg2")])
        described = result["topic"]["cfg2"]
        assert described["cleanup.policy"]["value"] == "compact"
        assert described["cleanup.policy"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"
    finally:
        admin.close()
