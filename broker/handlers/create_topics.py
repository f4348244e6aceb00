"""CreateTopics (19): validate_only, configs, explicit assignments, Kafka's error codes per topic.

In ZooKeeper mode a topic is created by writing its assignment to ZooKeeper;
the answer waits (``Pending``, up to the request's timeout_ms) until the topic
has come back with a leader for every partition, as Kafka's purgatory does;
past the timeout the topic answers REQUEST_TIMED_OUT.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from broker.handlers import handles
from broker.handlers._common import topic_name_error, when_zookeeper_reports
from broker.state.configs import topic_config_error
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.create_topics import (
    CreateTopicsRequest, CreateTopicsResponse, CreateTopicsResponse_CreatableTopicResult,
)

if TYPE_CHECKING:
    from broker.core import BrokerCore, Pending, RequestContext

CResp = CreateTopicsResponse


@handles(19)
def create_topics(core: BrokerCore, ctx: RequestContext, req: CreateTopicsRequest,
                  version: int) -> CreateTopicsResponse | Pending:
    resp = CResp()
    waiting: list[tuple[CreateTopicsResponse_CreatableTopicResult, uuid.UUID]] = []
    cluster = core.cluster
    seen: set[str] = set()
    for t in req.topics:
        res = CResp.CreatableTopicResult(name=t.name, error_message=None)
        resp.topics.append(res)
        partitions = t.num_partitions if t.num_partitions != -1 else core.config.num_partitions
        replication = t.replication_factor if t.replication_factor != -1 else core.config.default_replication_factor
        assignments = [a.broker_ids for a in sorted(t.assignments, key=lambda a: a.partition_index)]
        if t.name in seen:
            res.error_code, res.error_message = ErrorCode.INVALID_REQUEST, f"Create topics request from client contains duplicate topic {t.name}"
            continue
        seen.add(t.name)
        if topic_name_error(t.name) is not None:
            res.error_code = ErrorCode.INVALID_TOPIC_EXCEPTION
            res.error_message = f"Topic name {t.name!r} is illegal"
        elif t.name in cluster.topics:
            res.error_code, res.error_message = ErrorCode.TOPIC_ALREADY_EXISTS, f"Topic '{t.name}' already exists."
        elif assignments and (t.num_partitions != -1 or t.replication_factor != -1):
            res.error_code = ErrorCode.INVALID_REQUEST
            res.error_message = "Both numPartitions or replicationFactor and replicasAssignments were set."
        elif not assignments and partitions <= 0:
            res.error_code, res.error_message = ErrorCode.INVALID_PARTITIONS, "Number of partitions must be larger than 0."
        elif not assignments and not 0 < replication <= len(cluster.brokers):
            res.error_code = ErrorCode.INVALID_REPLICATION_FACTOR
            res.error_message = (f"Unable to replicate the partition {replication} time(s): The target replication factor"
                                 f" of {replication} cannot be reached because only {len(cluster.brokers)} broker(s)"
                                 " are registered.")
        elif assignments and any(b not in cluster.brokers for ids in assignments for b in ids):
            res.error_code, res.error_message = ErrorCode.INVALID_REPLICA_ASSIGNMENT, "Unknown broker in assignment"
        else:
            bad = next((e for c in t.configs if (e := topic_config_error(c.name, c.value)) is not None), None)
            if bad is not None:
                res.error_code, res.error_message = ErrorCode.INVALID_CONFIG, bad
        if res.error_code:
            continue
        configs = {c.name: c.value or "" for c in t.configs}
        res.num_partitions = len(assignments) if assignments else partitions
        res.replication_factor = len(assignments[0]) if assignments else replication
        if req.validate_only:
            continue
        res.configs = [CResp.CreatableTopicConfigs(k, v, False, 1, False) for k, v in sorted(configs.items())]
        if core.zk is not None:
            from broker.zk.controller import AssignmentError

            try:
                res.topic_id = core.zk.create_topic(t.name, partitions, replication, configs, assignments or None)
            except AssignmentError as exc:  # the live brokers changed since the check above
                res.error_code, res.error_message = ErrorCode.INVALID_REPLICATION_FACTOR, str(exc)
                continue
            waiting.append((res, res.topic_id))
            continue
        topic = cluster.create_topic(t.name, partitions, replication, configs, assignments or None)
        res.topic_id = topic.topic_id
    if not waiting:
        return resp
    zk = core.zk
    assert zk is not None
    ids = {res.name: topic_id for res, topic_id in waiting}

    def created(res: CreateTopicsResponse_CreatableTopicResult) -> bool:
        existing = cluster.topics.get(res.name)
        if existing is not None and existing.topic_id != ids[res.name]:  # another creation won the race
            res.error_code, res.error_message = ErrorCode.TOPIC_ALREADY_EXISTS, f"Topic '{res.name}' already exists."
            return True
        return zk.topic_ready(res.name, ids[res.name])

    return when_zookeeper_reports(core, req.timeout_ms, resp, [res for res, _ in waiting], created,
                                  "the creation of topic")
