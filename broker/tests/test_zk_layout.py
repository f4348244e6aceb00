"""``broker.zk.layout``: paths and golden JSON, byte for byte, as Kafka 3.9 (Scala 2.13 build) writes them.

Where the golden strings come from:

* key order: Kafka serialises ``java.util.Map`` views of Scala maps with Jackson,
  so the order is the maps' iteration order. The partition state is the
  documented ``{"controller_epoch":..,"leader":..,"version":1,"leader_epoch":..,"isr":[..]}``
  (ZOOKEEPER-LAYOUT.md), which our model of Scala's CHAMP hash map reproduces;
  the v5 broker registration below is what ``zkCli get /brokers/ids/0`` prints
  for a 3.x broker of the Scala 2.13 build (the 2.12 build orders differently),
  which our model of Scala 2.13's ``mutable.HashMap`` reproduces;
* field names, types and versions: ``ZkData.scala`` at 3.9.0.
"""

from __future__ import annotations

import uuid

import pytest

from broker.zk import layout
from broker.zk.model import BrokerRegistration, PartitionState, TopicAssignment

TOPIC_ID = uuid.UUID("12345678-1234-5678-1234-567812345678")


# -- paths ----------------------------------------------------------------------------------------

def test_paths() -> None:
    assert layout.broker_path(3) == "/brokers/ids/3"
    assert layout.topic_path("t") == "/brokers/topics/t"
    assert layout.partitions_path("t") == "/brokers/topics/t/partitions"
    assert layout.partition_path("t", 2) == "/brokers/topics/t/partitions/2"
    assert layout.partition_state_path("t", 2) == "/brokers/topics/t/partitions/2/state"
    assert layout.topic_config_path("t") == "/config/topics/t"
    assert layout.config_path("users", "alice") == "/config/users/alice"
    assert layout.delete_topic_path("t") == "/admin/delete_topics/t"
    assert layout.CONFIG_CHANGE_PREFIX == "/config/changes/config_change_"
    assert layout.ISR_CHANGE_PREFIX == "/isr_change_notification/isr_change_"


def test_persistent_paths_are_kafkas() -> None:
    assert set(layout.PERSISTENT_PATHS) == {
        "/consumers", "/brokers/ids", "/brokers/topics", "/config/changes", "/admin/delete_topics", "/brokers/seqid",
        "/isr_change_notification", "/latest_producer_id_block", "/log_dir_event_notification",
        "/config/topics", "/config/clients", "/config/users", "/config/brokers", "/config/ips",
    }


@pytest.mark.parametrize(("connect", "hosts", "chroot"), [
    ("zk:2181", "zk:2181", ""),
    ("zk:2181/", "zk:2181", ""),
    ("zk:2181/kafka", "zk:2181", "/kafka"),
    ("a:1,b:2,c:3/kafka/prod", "a:1,b:2,c:3", "/kafka/prod"),
    ("a:1,b:2/kafka/", "a:1,b:2", "/kafka"),
])
def test_split_connect(connect: str, hosts: str, chroot: str) -> None:
    assert layout.split_connect(connect) == (hosts, chroot)


# -- ids ------------------------------------------------------------------------------------------

def test_kafka_uuid_text() -> None:
    assert layout.uuid_to_kafka(TOPIC_ID) == "EjRWeBI0VngSNFZ4EjRWeA"
    assert layout.uuid_from_kafka("EjRWeBI0VngSNFZ4EjRWeA") == TOPIC_ID
    assert layout.uuid_to_kafka(layout.NO_TOPIC_ID) == "AAAAAAAAAAAAAAAAAAAAAA"
    weird = uuid.UUID(bytes=bytes([0xFB, 0xFF] * 8))  # uses the URL-safe alphabet's "-" and "_"
    text = layout.uuid_to_kafka(weird)
    assert "=" not in text and "+" not in text and "/" not in text and len(text) == 22
    assert layout.uuid_from_kafka(text) == weird
    for _ in range(200):
        fresh = layout.uuid_to_kafka(layout.new_kafka_uuid())
        assert len(fresh) == 22 and not fresh.startswith("-")
    with pytest.raises(layout.LayoutError):
        layout.uuid_from_kafka("short")


def test_java_string_hash() -> None:
    assert layout.java_string_hash("") == 0
    assert layout.java_string_hash("version") == 351608024
    assert layout.java_string_hash("polygenelubricants") == -2147483648  # Java's famous MIN_VALUE hash
    assert layout.java_string_hash("é") == 233


# -- golden JSON ------------------------------------------------------------------------------------

def test_cluster_id() -> None:
    assert layout.encode_cluster_id("IOejp_IKSbWbySJc0sRrKw") == b'{"version":"1","id":"IOejp_IKSbWbySJc0sRrKw"}'
    assert layout.decode_cluster_id(b'{"version":"1","id":"IOejp_IKSbWbySJc0sRrKw"}') == "IOejp_IKSbWbySJc0sRrKw"


def test_controller() -> None:
    assert layout.encode_controller(1, 1700000000000) == \
        b'{"version":2,"brokerid":1,"timestamp":"1700000000000","kraftControllerEpoch":-1}'
    assert layout.decode_controller(b'{"version":2,"brokerid":1,"timestamp":"1","kraftControllerEpoch":-1}') == 1
    assert layout.decode_controller(b'{"version":1,"brokerid":1001,"timestamp":"1571666282268"}') == 1001
    assert layout.encode_controller_epoch(7) == b"7"
    assert layout.decode_controller_epoch(b"7") == 7
    with pytest.raises(layout.LayoutError):
        layout.decode_controller_epoch(b"seven")


def test_broker_v5() -> None:
    registration = BrokerRegistration(0, "localhost", 9092, None, 1692025259506)
    assert layout.encode_broker(registration) == (
        b'{"features":{},"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT"},'
        b'"endpoints":["PLAINTEXT://localhost:9092"],"jmx_port":-1,"port":9092,"host":"localhost",'
        b'"version":5,"timestamp":"1692025259506"}')
    assert layout.decode_broker(0, layout.encode_broker(registration)) == registration


def test_broker_v5_with_rack_features_and_named_listener() -> None:
    registration = BrokerRegistration(2, "::1", 9093, "dc1", 5, "CLIENT", {"metadata.version": (1, 21)})
    assert layout.encode_broker(registration) == (
        b'{"features":{"metadata.version":{"min_version":1,"max_version":21}},'
        b'"listener_security_protocol_map":{"CLIENT":"PLAINTEXT"},"endpoints":["CLIENT://[::1]:9093"],'
        b'"rack":"dc1","jmx_port":-1,"port":9093,"host":"::1","version":5,"timestamp":"5"}')
    assert layout.decode_broker(2, layout.encode_broker(registration)) == registration


def test_broker_older_versions_decode() -> None:
    v1 = b'{"jmx_port":-1,"timestamp":"1","host":"h1","version":1,"port":9092}'
    assert layout.decode_broker(1, v1) == BrokerRegistration(1, "h1", 9092, None, 1, "PLAINTEXT")
    v3 = (b'{"jmx_port":-1,"timestamp":"1571666399659","endpoints":["PLAINTEXT://h4:6667"],"host":"h4",'
          b'"version":3,"port":6667,"rack":"/default-rack"}')
    assert layout.decode_broker(1003, v3) == BrokerRegistration(1003, "h4", 6667, "/default-rack", 1571666399659)
    v4 = (b'{"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT","SSL":"SSL"},'
          b'"endpoints":["PLAINTEXT://192.168.2.242:9092","SSL://192.168.2.242:9093"],"rack":"r0","jmx_port":21006,'
          b'"host":"192.168.2.242","timestamp":"1580886124398","port":9092,"version":4}')
    assert layout.decode_broker(1, v4) == BrokerRegistration(1, "192.168.2.242", 9092, "r0", 1580886124398)
    for bad in (b"", b"[]", b'{"version":5}', b'{"version":2,"endpoints":["nonsense"]}', b"\xff"):
        with pytest.raises(layout.LayoutError):
            layout.decode_broker(1, bad)


def test_broker_older_versions_encode() -> None:
    registration = BrokerRegistration(1, "h", 1, "r", 9)
    assert layout.encode_broker(registration, version=4) == (
        b'{"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT"},"endpoints":["PLAINTEXT://h:1"],"rack":"r",'
        b'"jmx_port":-1,"port":1,"host":"h","version":4,"timestamp":"9"}')
    assert layout.encode_broker(registration, version=2) == (
        b'{"endpoints":["PLAINTEXT://h:1"],"jmx_port":-1,"port":1,"host":"h","version":2,"timestamp":"9"}')


def test_topic_v3() -> None:
    assignment = TopicAssignment("t", TOPIC_ID, {0: [1, 2], 1: [2, 1]})
    assert layout.encode_topic(assignment) == (
        b'{"partitions":{"0":[1,2],"1":[2,1]},"removing_replicas":{},"topic_id":"EjRWeBI0VngSNFZ4EjRWeA",'
        b'"adding_replicas":{},"version":3}')
    assert layout.decode_topic("t", layout.encode_topic(assignment)) == assignment


def test_topic_partition_keys_in_hash_order() -> None:
    """Twelve partitions grow Scala's table to 32 buckets; keys come out in bucket order, not numeric."""
    partitions = {p: [p % 3] for p in range(30)}
    encoded = layout.encode_topic(TopicAssignment("t", TOPIC_ID, partitions)).decode()
    keys = encoded[len('{"partitions":{'):encoded.index("}")].split(",")
    assert [k.split(":")[0].strip('"') for k in keys][:10] == ["22", "23", "24", "25", "26", "27", "28", "29", "10",
                                                               "11"]
    assert layout.decode_topic("t", encoded.encode()).partitions == partitions


def test_topic_older_versions_decode() -> None:
    v1 = b'{"version":1,"partitions":{"1":[101,103],"0":[103,102]}}'
    decoded = layout.decode_topic("old", v1)
    assert decoded == TopicAssignment("old", layout.NO_TOPIC_ID, {0: [103, 102], 1: [101, 103]})
    assert list(decoded.partitions) == [0, 1]
    v2 = b'{"version":2,"partitions":{"0":[1]},"adding_replicas":{},"removing_replicas":{}}'
    assert layout.decode_topic("t", v2).partitions == {0: [1]}
    assert layout.encode_topic_v1({1: [2], 0: [1]}) == b'{"version":1,"partitions":{"0":[1],"1":[2]}}'
    assert layout.encode_topic(TopicAssignment("t", layout.NO_TOPIC_ID, {0: [1]})) == (
        b'{"partitions":{"0":[1]},"removing_replicas":{},"adding_replicas":{},"version":3}')
    for bad in (b'{"version":3,"partitions":{"x":[1]}}', b'{"version":3,"partitions":{"0":["1"]}}',
                b'{"version":3,"topic_id":7,"partitions":{}}'):
        with pytest.raises(layout.LayoutError):
            layout.decode_topic("t", bad)


def test_partition_state() -> None:
    state = PartitionState(1, 3, [1, 2, 3], 5)
    assert layout.encode_partition_state(state) == \
        b'{"controller_epoch":5,"leader":1,"version":1,"leader_epoch":3,"isr":[1,2,3]}'
    assert layout.encode_partition_state(PartitionState(-1, 0, [], 1)) == \
        b'{"controller_epoch":1,"leader":-1,"version":1,"leader_epoch":0,"isr":[]}'
    assert layout.encode_partition_state(state, leader_recovery_state=1) == (
        b'{"controller_epoch":5,"leader":1,"version":1,"leader_recovery_state":1,"leader_epoch":3,"isr":[1,2,3]}')
    decoded = layout.decode_partition_state(b'{"controller_epoch":33,"leader":102,"version":1,"leader_epoch":8,'
                                            b'"isr":[102,103]}', zk_version=4)
    assert decoded == PartitionState(102, 8, [102, 103], 33, zk_version=4)
    with pytest.raises(layout.LayoutError):
        layout.decode_partition_state(b'{"leader":1}')


def test_config() -> None:
    assert layout.encode_config({}) == b'{"version":1,"config":{}}'
    assert layout.encode_config({"retention.ms": "1000", "cleanup.policy": "compact", "segment.bytes": "1024"}) == (
        b'{"version":1,"config":{"cleanup.policy":"compact","retention.ms":"1000","segment.bytes":"1024"}}')
    assert layout.decode_config(b'{"version":1,"config":{"a":"1"}}') == {"a": "1"}
    assert layout.decode_config(b"") == {}
    assert layout.decode_config(b'{"version":1}') == {}
    assert layout.encode_config({"k": "ünïcode"}) == '{"version":1,"config":{"k":"ünïcode"}}'.encode()


def test_notifications_and_producer_id_block() -> None:
    assert layout.encode_config_change("topics/t") == b'{"version":2,"entity_path":"topics/t"}'
    assert layout.decode_config_change(b'{"version":2,"entity_path":"users/alice/clients/c1"}') == \
        "users/alice/clients/c1"
    assert layout.decode_config_change(b'{"version":1,"entity_type":"topics","entity_name":"t"}') == "topics/t"
    assert layout.encode_isr_change([("t", 0), ("u", 3)]) == \
        b'{"version":1,"partitions":[{"topic":"t","partition":0},{"topic":"u","partition":3}]}'
    assert layout.decode_isr_change(layout.encode_isr_change([("t", 0)])) == [("t", 0)]
    assert layout.encode_producer_id_block(1, 0, 999) == \
        b'{"version":1,"broker":1,"block_start":"0","block_end":"999"}'
    assert layout.decode_producer_id_block(b'{"version":1,"broker":1,"block_start":"0","block_end":"999"}') == \
        (1, 0, 999)


# -- /feature ------------------------------------------------------------------------------------------

def test_feature_znode() -> None:
    """``FeatureZNode.encode``: a ``mutable.Map`` (features, version, status in Scala 2.13's hash order); what a
    fresh 3.9 ZooKeeper-mode controller writes (IBP 3.9: v2, enabled, no features: ``BrokerFeatures.createEmpty``)."""
    from broker.zk.model import FeatureZNode

    assert layout.FEATURE == "/feature"
    fresh = FeatureZNode(2, 1, {})
    assert layout.encode_feature(fresh) == b'{"features":{},"version":2,"status":1}'
    assert layout.decode_feature(b'{"features":{},"version":2,"status":1}') == fresh
    assert layout.encode_feature(FeatureZNode(1, 0, {})) == b'{"features":{},"version":1,"status":0}'
    v2 = FeatureZNode(2, 1, {"metadata.version": 21, "kraft.version": 1})
    assert layout.encode_feature(v2) == (b'{"features":{"kraft.version":{"max_version_level":1},'
                                         b'"metadata.version":{"max_version_level":21}},"version":2,"status":1}')
    assert layout.decode_feature(layout.encode_feature(v2)) == v2
    v1 = FeatureZNode(1, 1, {"f": 3})
    assert layout.encode_feature(v1) == \
        b'{"features":{"f":{"max_version_level":3,"min_version_level":3}},"version":1,"status":1}'
    assert layout.decode_feature(layout.encode_feature(v1)) == v1
    for bad in (b'{"features":{},"version":3,"status":1}', b'{"features":{},"version":2}',
                b'{"features":{},"version":2,"status":2}', b'{"version":2,"status":1}',
                b'{"features":{"f":{"max_version_level":3}},"version":1,"status":1}',
                b'{"features":{"f":{"max_version_level":0}},"version":2,"status":1}', b"", b"[]"):
        with pytest.raises(layout.LayoutError):
            layout.decode_feature(bad)


def test_topic_with_an_ongoing_reassignment() -> None:
    """``adding_replicas`` / ``removing_replicas`` name only the partitions being reassigned; they round-trip."""
    a = TopicAssignment("t", TOPIC_ID, {0: [3, 1, 2], 1: [2, 3]}, adding={0: [3]}, removing={0: [2]})
    encoded = layout.encode_topic(a)
    assert b'"adding_replicas":{"0":[3]}' in encoded and b'"removing_replicas":{"0":[2]}' in encoded
    assert layout.decode_topic("t", encoded) == a
    assert (a.target(0), a.origin(0), a.reassigning(0), a.reassigning(1)) == ([3, 1], [1, 2], True, False)
    # entries for a partition the topic does not have are ignored, as Kafka builds one ReplicaAssignment per
    # partition of "partitions" (before, ListPartitionReassignments naming it raised KeyError)
    odd = layout.decode_topic("t", b'{"version":3,"partitions":{"0":[1]},"adding_replicas":{"7":[3]},'
                                   b'"removing_replicas":{"8":[1]}}')
    assert (odd.adding, odd.removing, odd.reassigning(7)) == ({}, {}, False)


def test_legacy_reassign_partitions() -> None:
    assert layout.REASSIGN_PARTITIONS == "/admin/reassign_partitions"
    data = layout.encode_reassign_partitions({("t", 0): [1, 2]})
    assert data == b'{"version":1,"partitions":[{"topic":"t","partition":0,"replicas":[1,2]}]}'
    assert layout.decode_reassign_partitions(data) == {("t", 0): [1, 2]}
    for bad in (b'{"version":1}', b'{"version":1,"partitions":[{"partition":0,"replicas":[1]}]}', b"x"):
        with pytest.raises(layout.LayoutError):
            layout.decode_reassign_partitions(bad)
