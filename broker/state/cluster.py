"""Brokers, topics and partitions: who leads what, with which epochs and logs.

In one process the replicas of a partition share one log and the ISR is every
replica, so acks=-1 behaves like acks=1 until replication across processes
exists. Leadership is spread round-robin over the brokers.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from broker.state.log import PartitionLog


@dataclass
class BrokerInfo:
    node_id: int
    host: str
    port: int
    rack: str | None = None


@dataclass
class Partition:
    index: int
    leader: int
    replicas: list[int]
    leader_epoch: int = 0
    log: PartitionLog = field(default_factory=PartitionLog)
    isr: list[int] = field(default_factory=list)  # in-sync replicas; in one process, every replica
    local: bool = True  # this process keeps the partition's log (ZooKeeper mode: only as a replica)

    def __post_init__(self) -> None:
        if not self.isr:
            self.isr = list(self.replicas)


@dataclass
class Topic:
    name: str
    topic_id: uuid.UUID
    partitions: list[Partition]
    configs: dict[str, str] = field(default_factory=dict)
    internal: bool = False


LogFactory = Callable[[str, int], PartitionLog]


class Cluster:
    def __init__(self, cluster_id: str, brokers: list[BrokerInfo], log_factory: LogFactory | None = None,
                 on_change: Callable[[Cluster], None] | None = None, on_delete: Callable[[Topic], None] | None = None
                 ) -> None:
        self.cluster_id = cluster_id
        self.brokers = {b.node_id: b for b in brokers}
        self.topics: dict[str, Topic] = {}
        self.by_id: dict[uuid.UUID, Topic] = {}
        self._next_leader = 0
        self.log_factory: LogFactory = log_factory or (lambda topic, index: PartitionLog())
        self.on_change = on_change
        self.on_delete = on_delete
        self.elected_controller: int | None = None  # ZooKeeper mode: the /controller holder (-1: none)

    @property
    def controller_id(self) -> int:
        """In one process the lowest broker id; in ZooKeeper mode whoever holds /controller (-1: nobody)."""
        if self.elected_controller is not None:
            return self.elected_controller
        return min(self.brokers)

    def assign(self, partitions: int, replication: int) -> list[tuple[int, list[int]]]:
        """(leader, replicas) for new partitions, spread round-robin over the brokers."""
        ids = sorted(self.brokers)
        out = []
        for _ in range(partitions):
            start = self._next_leader % len(ids)
            self._next_leader += 1
            replicas = [ids[(start + k) % len(ids)] for k in range(replication)]
            out.append((replicas[0], replicas))
        return out

    def create_topic(self, name: str, partitions: int, replication: int, configs: dict[str, str] | None = None,
                     assignments: list[list[int]] | None = None, internal: bool = False) -> Topic:
        if assignments:
            layout = [(replicas[0], list(replicas)) for replicas in assignments]
        else:
            layout = self.assign(partitions, replication)
        return self.restore_topic(name, uuid.uuid4(), layout, configs, internal)

    def restore_topic(self, name: str, topic_id: uuid.UUID, layout: list[tuple[int, list[int]]],
                      configs: dict[str, str] | None = None, internal: bool = False,
                      leader_epochs: list[int] | None = None) -> Topic:
        epochs = leader_epochs or [0] * len(layout)
        partitions = [Partition(i, leader, list(replicas), epochs[i], log=self.log_factory(name, i))
                      for i, (leader, replicas) in enumerate(layout)]
        topic = Topic(name, topic_id, partitions, dict(configs or {}), internal)
        self.topics[name] = topic
        self.by_id[topic.topic_id] = topic
        self._changed()
        return topic

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self)

    def add_partitions(self, topic: Topic, total: int, assignments: list[list[int]] | None = None) -> None:
        extra = total - len(topic.partitions)
        layout = ([(r[0], list(r)) for r in assignments] if assignments
                  else self.assign(extra, len(topic.partitions[0].replicas) if topic.partitions else 1))
        for leader, replicas in layout:
            index = len(topic.partitions)
            topic.partitions.append(Partition(index, leader, replicas, log=self.log_factory(topic.name, index)))
        self._changed()

    def move_leader(self, name: str, index: int, new_leader: int) -> Partition:
        """Move a partition's leadership to ``new_leader`` (made a replica if it was not one) and bump its
        leader epoch, as a controller-driven leader election would."""
        partition = self.partition(name, index)
        if partition is None:
            raise KeyError(f"no partition {name}-{index}")
        if new_leader not in self.brokers:
            raise KeyError(f"no broker {new_leader}")
        if new_leader not in partition.replicas:
            partition.replicas.append(new_leader)
            partition.isr.append(new_leader)
        partition.leader = new_leader
        partition.leader_epoch += 1
        self._changed()
        return partition

    def delete_topic(self, topic: Topic) -> None:
        self.topics.pop(topic.name, None)
        self.by_id.pop(topic.topic_id, None)
        if self.on_delete is not None:
            self.on_delete(topic)
        self._changed()

    def describe(self) -> list[dict[str, object]]:
        """The topics as plain data, for the metadata file: each partition as [leader, replicas, leader epoch]."""
        return [{"name": t.name, "id": str(t.topic_id), "internal": t.internal, "configs": t.configs,
                 "partitions": [[p.leader, p.replicas, p.leader_epoch] for p in t.partitions]}
                for t in self.topics.values()]

    def partition(self, name: str, index: int) -> Partition | None:
        topic = self.topics.get(name)
        if topic is None or not 0 <= index < len(topic.partitions):
            return None
        return topic.partitions[index]
