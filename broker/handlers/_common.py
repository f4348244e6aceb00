"""Helpers shared by several handlers: topic name rules, auto-creation, leadership checks."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from broker.state.cluster import Partition, Topic
from wire.kafka.error_codes import ErrorCode

if TYPE_CHECKING:
    from broker.core import BrokerCore, Pending, RequestContext
    from wire.kafka._message import Message

R = TypeVar("R")
M = TypeVar("M", bound="Message")

_LEGAL = re.compile(r"[a-zA-Z0-9._-]+")
MAX_NAME = 249


def topic_name_error(name: str | None) -> ErrorCode | None:
    """Kafka's Topic.validate: non-empty, at most 249 chars, [a-zA-Z0-9._-], not "." or ".."."""
    if not name or name in (".", "..") or len(name) > MAX_NAME or not _LEGAL.fullmatch(name):
        return ErrorCode.INVALID_TOPIC_EXCEPTION
    return None


def auto_create(core: BrokerCore, name: str) -> Topic | None:
    """Create a topic a client asked for (auto.create.topics.enable). In ZooKeeper mode the creation is
    written to ZooKeeper and the topic exists only once it comes back: None until then."""
    if not core.config.auto_create_topics or topic_name_error(name) is not None:
        return None
    replication = min(core.config.default_replication_factor, len(core.cluster.brokers))
    if core.zk is not None:
        core.zk.request_topic(name, core.config.num_partitions, replication)
        return None
    return core.cluster.create_topic(name, core.config.num_partitions, replication)


def leader_error(ctx: RequestContext, partition: Partition) -> ErrorCode | None:
    """NOT_LEADER_OR_FOLLOWER when the request reached a broker that does not lead the partition."""
    return None if partition.leader == ctx.node_id else ErrorCode.NOT_LEADER_OR_FOLLOWER


def led_partition(core: BrokerCore, ctx: RequestContext, topic: str, index: int) -> Partition | ErrorCode:
    """The partition a request names, or the error for it: unknown, or not led by the broker asked."""
    partition = core.cluster.partition(topic, index)
    if partition is None:
        return ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    return leader_error(ctx, partition) or partition


def group_coordinator_error(core: BrokerCore, ctx: RequestContext, group_id: str) -> ErrorCode | None:
    """NOT_COORDINATOR when the request reached a broker that does not coordinate ``group_id``."""
    from broker.state.internal import GROUP_TOPIC

    return None if core.internal.coordinator(GROUP_TOPIC, group_id) == ctx.node_id else ErrorCode.NOT_COORDINATOR


def group_commit_error(core: BrokerCore, group_id: str, member_id: str, generation_or_epoch: int,
                       group_instance_id: str | None, version: int) -> ErrorCode:
    """Who may commit offsets for ``group_id`` with OffsetCommit ``version``: the classic group's generation
    rules, or a KIP-848 group's member epoch rules (whose members must use OffsetCommit v9+)."""
    consumer_group = core.consumer_groups.get(group_id)
    if consumer_group is not None:
        error = core.consumer_groups.validate_offset_commit(group_id, member_id, generation_or_epoch)
        if error == ErrorCode.NONE and generation_or_epoch >= 0 and version < 9:
            return ErrorCode.UNSUPPORTED_VERSION
        return error
    return core.groups.validate_commit(group_id, member_id, generation_or_epoch, group_instance_id, version=version)


def when_zookeeper_reports(core: BrokerCore, timeout_ms: int, resp: M, waiting: list[R], done: Callable[[R], bool],
                           what: str) -> Pending:
    """ZooKeeper mode's topic administration: answer ``resp`` once ``done`` holds for every waiting per-topic
    result (ZooKeeper has reported the change back), or after ``timeout_ms`` with REQUEST_TIMED_OUT for the
    results still waiting, as Kafka's admin purgatory does. A result has ``name``, ``error_code`` and
    ``error_message``; ``what`` names the change in the timeout message ("the creation of topic")."""
    from broker.core import Pending

    def poll(now_ms: int, expired: bool) -> M | None:
        left: list[Any] = [r for r in waiting if not done(r)]
        if left and not expired:
            return None
        for r in left:
            r.error_code = ErrorCode.REQUEST_TIMED_OUT
            r.error_message = f"Timed out waiting for {what} {r.name} to complete."
        return resp

    return Pending(core.now_ms + max(0, timeout_ms), poll)
