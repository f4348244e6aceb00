"""Admin APIs through real clients: (Incremental)AlterConfigs, DescribeLogDirs, DescribeTopicPartitions, ElectLeaders."""

from __future__ import annotations

import pytest
from confluent_kafka import ElectionType, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic
from kafka.admin import AlterConfigOp, ConfigResourceType, KafkaAdminClient
from kafka.admin import ConfigResource as KpResource
from kafka.admin import NewTopic as KpTopic

from broker.testing import RunningBroker


def _described(admin: AdminClient, topic: str) -> dict[str, str]:
    (future,) = admin.describe_configs([ConfigResource("topic", topic)]).values()
    return {name: entry.value for name, entry in future.result(10).items()}


def test_confluent_alter_configs(kafka_broker: RunningBroker) -> None:
    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap_servers})
    admin.create_topics([NewTopic("alt", 1, 1, config={"retention.ms": "5000"})])["alt"].result(10)

    incremental = ConfigResource("topic", "alt", incremental_configs=[
        ConfigEntry("segment.ms", "100000", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND),
        ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE)])
    (future,) = admin.incremental_alter_configs([incremental]).values()
    future.result(10)
    described = _described(admin, "alt")
    assert (described["segment.ms"], described["cleanup.policy"], described["retention.ms"]) == \
        ("100000", "delete,compact", "604800000")

    unknown = ConfigResource("topic", "alt", incremental_configs=[
        ConfigEntry("no.such.config", "1", incremental_operation=AlterConfigOpType.SET)])
    (future,) = admin.incremental_alter_configs([unknown]).values()
    with pytest.raises(KafkaException) as err:
        future.result(10)
    assert err.value.args[0].name() == "INVALID_CONFIG"

    missing = ConfigResource("topic", "not-there", incremental_configs=[
        ConfigEntry("segment.ms", "1", incremental_operation=AlterConfigOpType.SET)])
    (future,) = admin.incremental_alter_configs([missing]).values()
    with pytest.raises(KafkaException) as err:
        future.result(10)
    assert err.value.args[0].name() == "UNKNOWN_TOPIC_OR_PART"

    (future,) = admin.alter_configs([ConfigResource("topic", "alt", set_config={"max.message.bytes": "2000"})],
                                    validate_only=True).values()
    future.result(10)
    assert _described(admin, "alt")["max.message.bytes"] == "1048588"
    (future,) = admin.alter_configs([ConfigResource("topic", "alt", set_config={"max.message.bytes": "2000"})]).values()
    future.result(10)
    described = _described(admin, "alt")
    assert (described["max.message.bytes"], described["segment.ms"]) == ("2000", "604800000")  # whole set replaced


def test_confluent_create_topics_rejects_unknown_config(kafka_broker: RunningBroker) -> None:
    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap_servers})
    future = admin.create_topics([NewTopic("badcfg", 1, 1, config={"retention.mss": "5"})])["badcfg"]
    with pytest.raises(KafkaException) as err:
        future.result(10)
    assert err.value.args[0].name() == "INVALID_CONFIG"


def test_confluent_elect_leaders(kafka_broker: RunningBroker) -> None:
    admin = AdminClient({"bootstrap.servers": kafka_broker.bootstrap_servers})
    admin.create_topics([NewTopic("elect", 2, 1)])["elect"].result(10)
    results = admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition("elect", 0), TopicPartition("elect", 1)]
                                  ).result(10)
    assert {tp.partition: tp.error.name() for tp, _ in results.items()} == \
        {0: "ELECTION_NOT_NEEDED", 1: "ELECTION_NOT_NEEDED"}


def test_kafka_python_admin_apis(kafka_broker: RunningBroker) -> None:
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap_servers)
    try:
        admin.create_topics([KpTopic("kp-alt", 3, 1)])
        out = admin.alter_configs([KpResource(ConfigResourceType.TOPIC, "kp-alt",
                                              configs={"retention.ms": (AlterConfigOp.SET, "12345")})])
        assert out == {"topic": {"kp-alt": "OK"}}
        missing = admin.alter_configs([KpResource(ConfigResourceType.TOPIC, "kp-none",
                                                  configs={"retention.ms": (AlterConfigOp.SET, "1")})],
                                      raise_on_unknown=False)
        assert "UnknownTopicOrPartitionError" in missing["topic"]["kp-none"]
        described = admin.describe_configs([KpResource(ConfigResourceType.TOPIC, "kp-alt")])["topic"]["kp-alt"]
        assert described["retention.ms"]["value"] == "12345"
        assert described["retention.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"
        replaced = admin.alter_configs([KpResource(ConfigResourceType.TOPIC, "kp-alt", configs={"segment.ms": "99999"})],
                                       incremental=False)
        assert replaced == {"topic": {"kp-alt": "OK"}}
        described = admin.describe_configs([KpResource(ConfigResourceType.TOPIC, "kp-alt")])["topic"]["kp-alt"]
        # the client carries the other modified keys over, since AlterConfigs replaces the whole set
        assert (described["segment.ms"]["value"], described["retention.ms"]["value"]) == ("99999", "12345")

        (broker,) = admin.describe_log_dirs()
        (log_dir,) = broker["log_dirs"]
        assert log_dir["error_code"] == 0
        parts = {(t["name"], p["partition_index"]) for t in log_dir["topics"] for p in t["partitions"]}
        assert {("kp-alt", 0), ("kp-alt", 1), ("kp-alt", 2)} <= parts

        page = admin.describe_topic_partitions(["kp-alt"], response_partition_limit=2)
        assert [p["partition_index"] for p in page["topics"][0]["partitions"]] == [0, 1]
        assert page["next_cursor"] == {"topic_name": "kp-alt", "partition_index": 2}
        rest = admin.describe_topic_partitions(["kp-alt"], cursor=page["next_cursor"])
        assert [p["partition_index"] for p in rest["topics"][0]["partitions"]] == [2]
        assert rest["next_cursor"] is None

        elected = admin.elect_leaders(0, {"kp-alt": [0, 1, 7]}, raise_errors=False)
        assert {p.partition_id: p.error_code for r in elected.replica_election_results for p in r.partition_result} == \
            {0: 84, 1: 84, 7: 3}
        admin.elect_leaders(1, {"kp-alt": [0]})  # ELECTION_NOT_NEEDED is not an error to the client
    finally:
        admin.close()
