"""CreatePartitions (37): grow a topic's partition count, optionally with explicit assignments.

In ZooKeeper mode the topic's assignment is rewritten in ZooKeeper and the answer
waits (up to timeout_ms) until the new partitions have leaders.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.core import Pending
from broker.handlers import handles
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.create_partitions import (
    CreatePartitionsRequest, CreatePartitionsResponse, CreatePartitionsResponse_CreatePartitionsTopicResult,
)

if TYPE_CHECKING:
    from broker.core import BrokerCore, RequestContext


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

    def poll(now_ms: int, expired: bool) -> CreatePartitionsResponse | None:
        left = [(res, name, count) for res, name, count in waiting
                if not zk.topic_ready(name) or len(core.cluster.topics[name].partitions) < count]
        if left and not expired:
            return None
        for res, name, _ in left:
            res.error_code = ErrorCode.REQUEST_TIMED_OUT
            res.error_message = f"Timed out waiting for the new partitions of {name}."
        return resp

    return Pending(core.now_ms + max(0, req.timeout_ms), poll)
