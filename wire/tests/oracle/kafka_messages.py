"""Kafka headers and a representative set of messages, declared in construct.

Written by hand from the JSON schemas in ``../shared/kafka-protocol`` (3.9) and
``kafka-4.0/`` (a version 4.0 still defines uses its 4.0 definition; the ones
checked here agree between the two except where noted). Field names are the
schema names in snake_case. Each declaration is a function of the version, so a
field appears only in the versions that carry it (``since``), and strings, bytes
and arrays switch to their compact forms in flexible versions (``Kafka``).

``message(name, version)`` returns the construct; ``VERSIONS[name]`` lists the
versions the parity tests check.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from wire.tests.oracle.kafka_types import (
    BOOL,
    INT8,
    INT16,
    INT32,
    INT64,
    UNKNOWN,
    UUID,
    Kafka,
    KString,
    KStruct,
    Tagged,
    since,
    tags,
)

ZERO_UUID = uuid.UUID(int=0)


def _default_struct(**fields: Any) -> dict[str, Any]:
    """The default value of a tagged struct field: every field at its default, no unknown tags."""
    return {**fields, UNKNOWN: []}


# --- headers -------------------------------------------------------------------

def request_header(header_version: int) -> KStruct:
    """RequestHeader v0/v1/v2. ClientId is a classic nullable string in every version
    ("flexibleVersions": "none"); v2 ends with a tagged-field section."""
    return KStruct([
        "request_api_key" / INT16,
        "request_api_version" / INT16,
        "correlation_id" / INT32,
        since(header_version >= 1, "client_id" / KString(compact=False, nullable=True)),
    ], flexible=header_version >= 2)


def response_header(header_version: int) -> KStruct:
    """ResponseHeader v0/v1: CorrelationId, then (v1) a tagged-field section."""
    return KStruct(["correlation_id" / INT32], flexible=header_version >= 1)


# --- ApiVersions (18) ------------------------------------------------------------

def api_versions_request(v: int) -> KStruct:
    k = Kafka(v, 3)
    return k.struct(
        since(v >= 3, "client_software_name" / k.string()),
        since(v >= 3, "client_software_version" / k.string()),
    )


def api_versions_response(v: int) -> KStruct:
    k = Kafka(v, 3)
    api_version = k.struct("api_key" / INT16, "min_version" / INT16, "max_version" / INT16)
    supported = k.struct("name" / k.string(), "min_version" / INT16, "max_version" / INT16)
    finalized = k.struct("name" / k.string(), "max_version_level" / INT16, "min_version_level" / INT16)
    return k.struct(
        "error_code" / INT16,
        "api_keys" / k.array(api_version),
        since(v >= 1, "throttle_time_ms" / INT32),
        tagged=tags(
            (v >= 3, 0, Tagged("supported_features", k.array(supported), [])),
            (v >= 3, 1, Tagged("finalized_features_epoch", INT64, -1)),
            (v >= 3, 2, Tagged("finalized_features", k.array(finalized), [])),
            (v >= 3, 3, Tagged("zk_migration_ready", BOOL, False)),
        ),
    )


# --- Metadata (3) ------------------------------------------------------------------

def metadata_request(v: int) -> KStruct:
    k = Kafka(v, 9)
    topic = k.struct(
        since(v >= 10, "topic_id" / UUID),
        "name" / k.string(nullable=v >= 10),
    )
    return k.struct(
        "topics" / k.array(topic, nullable=v >= 1),
        since(v >= 4, "allow_auto_topic_creation" / BOOL),
        since(8 <= v <= 10, "include_cluster_authorized_operations" / BOOL),
        since(v >= 8, "include_topic_authorized_operations" / BOOL),
    )


def metadata_response(v: int) -> KStruct:
    k = Kafka(v, 9)
    broker = k.struct(
        "node_id" / INT32,
        "host" / k.string(),
        "port" / INT32,
        since(v >= 1, "rack" / k.string(nullable=True)),
    )
    partition = k.struct(
        "error_code" / INT16,
        "partition_index" / INT32,
        "leader_id" / INT32,
        since(v >= 7, "leader_epoch" / INT32),
        "replica_nodes" / k.array(INT32),
        "isr_nodes" / k.array(INT32),
        since(v >= 5, "offline_replicas" / k.array(INT32)),
    )
    topic = k.struct(
        "error_code" / INT16,
        "name" / k.string(nullable=v >= 12),
        since(v >= 10, "topic_id" / UUID),
        since(v >= 1, "is_internal" / BOOL),
        "partitions" / k.array(partition),
        since(v >= 8, "topic_authorized_operations" / INT32),
    )
    return k.struct(
        since(v >= 3, "throttle_time_ms" / INT32),
        "brokers" / k.array(broker),
        since(v >= 2, "cluster_id" / k.string(nullable=True)),
        since(v >= 1, "controller_id" / INT32),
        "topics" / k.array(topic),
        since(8 <= v <= 10, "cluster_authorized_operations" / INT32),
        since(v >= 13, "error_code" / INT16),  # 4.0 only
    )


# --- Produce (0) ------------------------------------------------------------------

def produce_request(v: int) -> KStruct:
    k = Kafka(v, 9)
    partition = k.struct("index" / INT32, "records" / k.records())
    topic = k.struct("name" / k.string(), "partition_data" / k.array(partition))
    return k.struct(
        since(v >= 3, "transactional_id" / k.string(nullable=True)),
        "acks" / INT16,
        "timeout_ms" / INT32,
        "topic_data" / k.array(topic),
    )


def produce_response(v: int) -> KStruct:
    k = Kafka(v, 9)
    record_error = k.struct("batch_index" / INT32, "batch_index_error_message" / k.string(nullable=True))
    leader = k.struct("leader_id" / INT32, "leader_epoch" / INT32)
    partition = k.struct(
        "index" / INT32,
        "error_code" / INT16,
        "base_offset" / INT64,
        since(v >= 2, "log_append_time_ms" / INT64),
        since(v >= 5, "log_start_offset" / INT64),
        since(v >= 8, "record_errors" / k.array(record_error)),
        since(v >= 8, "error_message" / k.string(nullable=True)),
        tagged=tags(
            (v >= 10, 0, Tagged("current_leader", leader, _default_struct(leader_id=-1, leader_epoch=-1))),
        ),
    )
    topic = k.struct("name" / k.string(), "partition_responses" / k.array(partition))
    node = k.struct("node_id" / INT32, "host" / k.string(), "port" / INT32, "rack" / k.string(nullable=True))
    return k.struct(
        "responses" / k.array(topic),
        since(v >= 1, "throttle_time_ms" / INT32),
        tagged=tags((v >= 10, 0, Tagged("node_endpoints", k.array(node), []))),
    )


# --- Fetch (1) ----------------------------------------------------------------------

def fetch_request(v: int) -> KStruct:
    k = Kafka(v, 12)
    replica_state = k.struct("replica_id" / INT32, "replica_epoch" / INT64)
    partition = k.struct(
        "partition" / INT32,
        since(v >= 9, "current_leader_epoch" / INT32),
        "fetch_offset" / INT64,
        since(v >= 12, "last_fetched_epoch" / INT32),
        since(v >= 5, "log_start_offset" / INT64),
        "partition_max_bytes" / INT32,
        tagged=tags((v >= 17, 0, Tagged("replica_directory_id", UUID, ZERO_UUID))),
    )
    topic = k.struct(
        since(v <= 12, "topic" / k.string()),
        since(v >= 13, "topic_id" / UUID),
        "partitions" / k.array(partition),
    )
    forgotten = k.struct(
        since(v <= 12, "topic" / k.string()),
        since(v >= 13, "topic_id" / UUID),
        "partitions" / k.array(INT32),
    )
    return k.struct(
        since(v <= 14, "replica_id" / INT32),
        "max_wait_ms" / INT32,
        "min_bytes" / INT32,
        since(v >= 3, "max_bytes" / INT32),
        since(v >= 4, "isolation_level" / INT8),
        since(v >= 7, "session_id" / INT32),
        since(v >= 7, "session_epoch" / INT32),
        "topics" / k.array(topic),
        since(v >= 7, "forgotten_topics_data" / k.array(forgotten)),
        since(v >= 11, "rack_id" / k.string()),
        tagged=tags(
            (v >= 12, 0, Tagged("cluster_id", k.string(nullable=True), None)),
            (v >= 15, 1, Tagged("replica_state", replica_state, _default_struct(replica_id=-1, replica_epoch=-1))),
        ),
    )


def fetch_response(v: int) -> KStruct:
    k = Kafka(v, 12)
    epoch_end_offset = k.struct("epoch" / INT32, "end_offset" / INT64)
    leader = k.struct("leader_id" / INT32, "leader_epoch" / INT32)
    snapshot_id = k.struct("end_offset" / INT64, "epoch" / INT32)
    aborted = k.struct("producer_id" / INT64, "first_offset" / INT64)
    partition = k.struct(
        "partition_index" / INT32,
        "error_code" / INT16,
        "high_watermark" / INT64,
        since(v >= 4, "last_stable_offset" / INT64),
        since(v >= 5, "log_start_offset" / INT64),
        since(v >= 4, "aborted_transactions" / k.array(aborted, nullable=True)),
        since(v >= 11, "preferred_read_replica" / INT32),
        "records" / k.records(),
        tagged=tags(
            (v >= 12, 0, Tagged("diverging_epoch", epoch_end_offset, _default_struct(epoch=-1, end_offset=-1))),
            (v >= 12, 1, Tagged("current_leader", leader, _default_struct(leader_id=-1, leader_epoch=-1))),
            (v >= 12, 2, Tagged("snapshot_id", snapshot_id, _default_struct(end_offset=-1, epoch=-1))),
        ),
    )
    topic = k.struct(
        since(v <= 12, "topic" / k.string()),
        since(v >= 13, "topic_id" / UUID),
        "partitions" / k.array(partition),
    )
    node = k.struct("node_id" / INT32, "host" / k.string(), "port" / INT32, "rack" / k.string(nullable=True))
    return k.struct(
        since(v >= 1, "throttle_time_ms" / INT32),
        since(v >= 7, "error_code" / INT16),
        since(v >= 7, "session_id" / INT32),
        "responses" / k.array(topic),
        tagged=tags((v >= 16, 0, Tagged("node_endpoints", k.array(node), []))),
    )


# --- ListOffsets (2) ----------------------------------------------------------------

def list_offsets_request(v: int) -> KStruct:
    k = Kafka(v, 6)
    partition = k.struct(
        "partition_index" / INT32,
        since(v >= 4, "current_leader_epoch" / INT32),
        "timestamp" / INT64,
        since(v == 0, "max_num_offsets" / INT32),  # 3.9 only (4.0 dropped v0)
    )
    topic = k.struct("name" / k.string(), "partitions" / k.array(partition))
    return k.struct(
        "replica_id" / INT32,
        since(v >= 2, "isolation_level" / INT8),
        "topics" / k.array(topic),
        since(v >= 10, "timeout_ms" / INT32),  # 4.0 only
    )


def list_offsets_response(v: int) -> KStruct:
    k = Kafka(v, 6)
    partition = k.struct(
        "partition_index" / INT32,
        "error_code" / INT16,
        since(v == 0, "old_style_offsets" / k.array(INT64)),  # 3.9 only
        since(v >= 1, "timestamp" / INT64),
        since(v >= 1, "offset" / INT64),
        since(v >= 4, "leader_epoch" / INT32),
    )
    topic = k.struct("name" / k.string(), "partitions" / k.array(partition))
    return k.struct(since(v >= 2, "throttle_time_ms" / INT32), "topics" / k.array(topic))


# --- FindCoordinator (10) -------------------------------------------------------------

def find_coordinator_request(v: int) -> KStruct:
    k = Kafka(v, 3)
    return k.struct(
        since(v <= 3, "key" / k.string()),
        since(v >= 1, "key_type" / INT8),
        since(v >= 4, "coordinator_keys" / k.array(k.string())),
    )


def find_coordinator_response(v: int) -> KStruct:
    k = Kafka(v, 3)
    coordinator = k.struct(
        "key" / k.string(),
        "node_id" / INT32,
        "host" / k.string(),
        "port" / INT32,
        "error_code" / INT16,
        "error_message" / k.string(nullable=True),
    )
    return k.struct(
        since(v >= 1, "throttle_time_ms" / INT32),
        since(v <= 3, "error_code" / INT16),
        since(1 <= v <= 3, "error_message" / k.string(nullable=True)),
        since(v <= 3, "node_id" / INT32),
        since(v <= 3, "host" / k.string()),
        since(v <= 3, "port" / INT32),
        since(v >= 4, "coordinators" / k.array(coordinator)),
    )


# --- JoinGroup (11) -----------------------------------------------------------------

def join_group_request(v: int) -> KStruct:
    k = Kafka(v, 6)
    protocol = k.struct("name" / k.string(), "metadata" / k.bytes())
    return k.struct(
        "group_id" / k.string(),
        "session_timeout_ms" / INT32,
        since(v >= 1, "rebalance_timeout_ms" / INT32),
        "member_id" / k.string(),
        since(v >= 5, "group_instance_id" / k.string(nullable=True)),
        "protocol_type" / k.string(),
        "protocols" / k.array(protocol),
        since(v >= 8, "reason" / k.string(nullable=True)),
    )


def join_group_response(v: int) -> KStruct:
    k = Kafka(v, 6)
    member = k.struct(
        "member_id" / k.string(),
        since(v >= 5, "group_instance_id" / k.string(nullable=True)),
        "metadata" / k.bytes(),
    )
    return k.struct(
        since(v >= 2, "throttle_time_ms" / INT32),
        "error_code" / INT16,
        "generation_id" / INT32,
        since(v >= 7, "protocol_type" / k.string(nullable=True)),
        "protocol_name" / k.string(nullable=v >= 7),
        "leader" / k.string(),
        since(v >= 9, "skip_assignment" / BOOL),
        "member_id" / k.string(),
        "members" / k.array(member),
    )


# --- OffsetCommit (8) ---------------------------------------------------------------

def offset_commit_request(v: int) -> KStruct:
    k = Kafka(v, 8)
    partition = k.struct(
        "partition_index" / INT32,
        "committed_offset" / INT64,
        since(v >= 6, "committed_leader_epoch" / INT32),
        since(v == 1, "commit_timestamp" / INT64),
        "committed_metadata" / k.string(nullable=True),
    )
    topic = k.struct("name" / k.string(), "partitions" / k.array(partition))
    return k.struct(
        "group_id" / k.string(),
        since(v >= 1, "generation_id_or_member_epoch" / INT32),
        since(v >= 1, "member_id" / k.string()),
        since(v >= 7, "group_instance_id" / k.string(nullable=True)),
        since(2 <= v <= 4, "retention_time_ms" / INT64),
        "topics" / k.array(topic),
    )


def offset_commit_response(v: int) -> KStruct:
    k = Kafka(v, 8)
    partition = k.struct("partition_index" / INT32, "error_code" / INT16)
    topic = k.struct("name" / k.string(), "partitions" / k.array(partition))
    return k.struct(since(v >= 3, "throttle_time_ms" / INT32), "topics" / k.array(topic))


# --- CreateTopics (19) ----------------------------------------------------------------

def create_topics_request(v: int) -> KStruct:
    k = Kafka(v, 5)
    assignment = k.struct("partition_index" / INT32, "broker_ids" / k.array(INT32))
    config = k.struct("name" / k.string(), "value" / k.string(nullable=True))
    topic = k.struct(
        "name" / k.string(),
        "num_partitions" / INT32,
        "replication_factor" / INT16,
        "assignments" / k.array(assignment),
        "configs" / k.array(config),
    )
    return k.struct(
        "topics" / k.array(topic),
        "timeout_ms" / INT32,
        since(v >= 1, "validate_only" / BOOL),
    )


def create_topics_response(v: int) -> KStruct:
    k = Kafka(v, 5)
    config = k.struct(
        "name" / k.string(),
        "value" / k.string(nullable=True),
        "read_only" / BOOL,
        "config_source" / INT8,
        "is_sensitive" / BOOL,
    )
    topic = k.struct(
        "name" / k.string(),
        since(v >= 7, "topic_id" / UUID),
        "error_code" / INT16,
        since(v >= 1, "error_message" / k.string(nullable=True)),
        since(v >= 5, "num_partitions" / INT32),
        since(v >= 5, "replication_factor" / INT16),
        since(v >= 5, "configs" / k.array(config, nullable=True)),
        tagged=tags((v >= 5, 0, Tagged("topic_config_error_code", INT16, 0))),
    )
    return k.struct(since(v >= 2, "throttle_time_ms" / INT32), "topics" / k.array(topic))


# --- registry -------------------------------------------------------------------

_DECLARATIONS: dict[str, Callable[[int], KStruct]] = {
    "ApiVersionsRequest": api_versions_request,
    "ApiVersionsResponse": api_versions_response,
    "MetadataRequest": metadata_request,
    "MetadataResponse": metadata_response,
    "ProduceRequest": produce_request,
    "ProduceResponse": produce_response,
    "FetchRequest": fetch_request,
    "FetchResponse": fetch_response,
    "ListOffsetsRequest": list_offsets_request,
    "ListOffsetsResponse": list_offsets_response,
    "FindCoordinatorRequest": find_coordinator_request,
    "FindCoordinatorResponse": find_coordinator_response,
    "JoinGroupRequest": join_group_request,
    "JoinGroupResponse": join_group_response,
    "OffsetCommitRequest": offset_commit_request,
    "OffsetCommitResponse": offset_commit_response,
    "CreateTopicsRequest": create_topics_request,
    "CreateTopicsResponse": create_topics_response,
}

#: The versions the parity tests check, chosen to cover classic and flexible
#: encodings, version-gated fields and tagged fields.
VERSIONS: dict[str, tuple[int, ...]] = {
    "ApiVersionsRequest": (0, 3),
    "ApiVersionsResponse": (0, 3),
    "MetadataRequest": (1, 4, 12),
    "MetadataResponse": (5, 12),
    "ProduceRequest": (3, 7, 9),
    "ProduceResponse": (7, 9, 10),
    "FetchRequest": (4, 11, 12, 16, 17),
    "FetchResponse": (11, 12, 16),
    "ListOffsetsRequest": (0, 4, 7, 10),
    "ListOffsetsResponse": (0, 4, 7, 10),
    "FindCoordinatorRequest": (2, 4),
    "FindCoordinatorResponse": (2, 4),
    "JoinGroupRequest": (5, 7),
    "JoinGroupResponse": (5, 7),
    "OffsetCommitRequest": (8,),
    "OffsetCommitResponse": (8,),
    "CreateTopicsRequest": (4, 7),
    "CreateTopicsResponse": (4, 7),
}

#: API key of each message pair, for header tests.
API_KEYS: dict[str, int] = {
    "Produce": 0, "Fetch": 1, "ListOffsets": 2, "Metadata": 3, "OffsetCommit": 8,
    "FindCoordinator": 10, "JoinGroup": 11, "ApiVersions": 18, "CreateTopics": 19,
}


@lru_cache(maxsize=None)
def message(name: str, version: int) -> KStruct:
    """The construct for ``name`` (e.g. "FetchResponse") at ``version``."""
    return _DECLARATIONS[name](version)


def all_cases() -> list[tuple[str, int]]:
    return [(name, v) for name, versions in VERSIONS.items() for v in versions]


__all__ = ["API_KEYS", "VERSIONS", "all_cases", "message", "request_header", "response_header"]
