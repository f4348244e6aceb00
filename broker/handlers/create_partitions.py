"""CreatePartitions (37): grow a topic's partition count, optionally with explicit assignments.

In ZooKeeper mode the topic's assignment is rewritten in ZooKeeper and the answer
waits (up to timeout_ms) until the new partitions have leaders.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.handlers import handles
from broker.handlers._common import when_zookeeper_reports
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.create_partitions import (
    CreatePartitionsRequest, CreatePartitionsResponse, CreatePartitionsResponse_CreatePartitionsTopicResult,
)

if TYPE_CHECKING:
    from broker.core import BrokerCore, Pending, RequestContext


@handles(37)
def create_partitions(core: BrokerCore, ctx: RequestContext, req: CreatePartitionsRequest,
                      version: int) -> CreatePartitionsResponse | Pending:
    resp = CreatePartitionsResponse()
    waiting: list[tuple[CreatePartitionsResponse_CreatePartitionsTopicResult, str, int]] = []
    for t in req.topics:
        res = CreatePartitionsResponse.CreatePartitionsTopicResult(t.name)
        resp.results.append(res)
        topic = core.cluster.topics.get(t.name)
        if topic is None:
            res.error_code, res.error_message = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, "The topic does not exist."
            continue
        current = len(topic.partitions)
        if t.count < current:
            res.error_code = ErrorCode.INVALID_PARTITIONS
            res.error_message = f"Topic currently has {current} partitions, which is higher than the requested {t.count}."
            continue
        if t.count == current:
            res.error_code = ErrorCode.INVALID_PARTITIONS
            res.error_message = f"Topic already has {current} partitions."
            continue
        assignments = [a.broker_ids for a in t.assignments] if t.assignments else None
        if assignments is not None and len(assignments) != t.count - current:
            res.error_code = ErrorCode.INVALID_REPLICA_ASSIGNMENT
            res.error_message = f"Increasing the number of partitions by {t.count - current} but {len(assignments)} assignments provided."
            continue
        if req.validate_only:
            continue
        if core.zk is not None:
            from broker.zk.controller import AssignmentError

            try:
                core.zk.add_partitions(topic, t.count, assignments)
            except AssignmentError as exc:  # more replicas than live brokers
                res.error_code, res.error_message = ErrorCode.INVALID_REPLICATION_FACTOR, str(exc)
                continue
            waiting.append((res, t.name, t.count))
        else:
            core.cluster.add_partitions(topic, t.count, assignments)
    if not waiting:
        return resp
    zk = core.zk
    assert zk is not None
    counts = {res.name: count for res, _, count in waiting}

    def grown(res: CreatePartitionsResponse_CreatePartitionsTopicResult) -> bool:
        return zk.topic_ready(res.name) and len(core.cluster.topics[res.name].partitions) >= counts[res.name]

    return when_zookeeper_reports(core, req.timeout_ms, resp, [res for res, _, _ in waiting], grown,
                                  "the new partitions of topic")
