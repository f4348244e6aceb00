"""Committed offsets of every group, classic or consumer (KIP-848), and transactional ones pending a commit.

Each commit is persisted as an ``"offset"`` record in ``__consumer_offsets`` (on
the partition that coordinates the group) before it is acknowledged, and
restored from there on start-up; deleting an offset writes a tombstone.
Offsets committed in a transaction (TxnOffsetCommit) wait under the producer id
and become committed offsets only when that transaction commits; while they
wait, OffsetFetch with ``require_stable`` answers UNSTABLE_OFFSET_COMMIT for
their partitions. The group coordinators decide who may commit (generation or
member epoch checks); this store only keeps the offsets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from broker.state.internal import GROUP_TOPIC, JsonObject

if TYPE_CHECKING:
    from broker.state.internal import InternalLogs

TopicPartition = tuple[str, int]


@dataclass
class CommittedOffset:
    offset: int
    leader_epoch: int = -1
    metadata: str | None = ""
    commit_timestamp: int = 0  # wall-clock ms
    expire_timestamp: int = -1  # OffsetCommit v1's explicit expiry, else -1

    def to_json(self) -> JsonObject:
        return {"o": self.offset, "e": self.leader_epoch, "m": self.metadata, "ts": self.commit_timestamp,
                "x": self.expire_timestamp}

    @classmethod
    def from_json(cls, value: JsonObject) -> CommittedOffset:
        return cls(int(value["o"]), int(value.get("e", -1)), value.get("m"), int(value.get("ts", 0)),
                   int(value.get("x", -1)))


def _key(group: str, tp: TopicPartition) -> JsonObject:
    return {"t": "offset", "g": group, "tp": tp[0], "p": tp[1]}


class OffsetStore:
    def __init__(self, internal: InternalLogs) -> None:
        self.internal = internal
        self.committed: dict[str, dict[TopicPartition, CommittedOffset]] = {}
        self.pending: dict[int, dict[str, dict[TopicPartition, CommittedOffset]]] = {}  # producer id -> group -> ...
        internal.register("offset", self._restore)

    # -- committed offsets ------------------------------------------------------------

    def commit(self, group: str, offsets: dict[TopicPartition, CommittedOffset]) -> int | None:
        """Persist and apply ``offsets`` for ``group`` (one batch in the group's internal partition); returns
        the batch's last offset in that partition (None if nothing was written)."""
        if not offsets:
            return None
        last = self.internal.write(GROUP_TOPIC, group, [(_key(group, tp), o.to_json()) for tp, o in offsets.items()])
        self.committed.setdefault(group, {}).update(offsets)
        return last

    def fetch(self, group: str, tp: TopicPartition) -> CommittedOffset | None:
        return self.committed.get(group, {}).get(tp)

    def group_offsets(self, group: str) -> dict[TopicPartition, CommittedOffset]:
        return dict(self.committed.get(group, {}))

    def has_offsets(self, group: str) -> bool:
        return bool(self.committed.get(group))

    def groups(self) -> list[str]:
        """Groups that have committed offsets (a group can exist through its offsets alone)."""
        return [g for g, offsets in self.committed.items() if offsets]

    def delete(self, group: str, partitions: list[TopicPartition]) -> None:
        """Remove these committed offsets of ``group`` (tombstones in the log)."""
        stored = self.committed.get(group, {})
        gone = [tp for tp in partitions if tp in stored]
        if not gone:
            return
        self.internal.write(GROUP_TOPIC, group, [(_key(group, tp), None) for tp in gone])
        for tp in gone:
            del stored[tp]
        if not stored:
            self.committed.pop(group, None)

    def delete_group(self, group: str) -> None:
        self.delete(group, list(self.committed.get(group, {})))

    def delete_topic(self, topic: str) -> None:
        """A deleted topic's offsets go with it, in every group."""
        for group, stored in list(self.committed.items()):
            self.delete(group, [tp for tp in stored if tp[0] == topic])

    def expire(self, group: str, now_wall_ms: int, retention_ms: int, only: set[TopicPartition] | None = None) -> int:
        """Drop ``group``'s offsets committed more than ``retention_ms`` ago (or past their explicit expiry),
        restricted to ``only`` when given; returns how many went."""
        stored = self.committed.get(group, {})
        old = [tp for tp, o in stored.items() if (only is None or tp in only) and (
            (o.expire_timestamp >= 0 and now_wall_ms >= o.expire_timestamp)
            or (o.expire_timestamp < 0 and now_wall_ms - o.commit_timestamp >= retention_ms))]
        self.delete(group, old)
        return len(old)

    def _restore(self, key: JsonObject, value: JsonObject | None, timestamp: int) -> None:
        group, tp = str(key["g"]), (str(key["tp"]), int(key["p"]))
        if value is None:
            stored = self.committed.get(group)
            if stored is not None:
                stored.pop(tp, None)
                if not stored:
                    del self.committed[group]
        else:
            self.committed.setdefault(group, {})[tp] = CommittedOffset.from_json(value)

    # -- offsets committed inside a transaction ------------------------------------------

    def add_pending(self, producer_id: int, group: str, offsets: dict[TopicPartition, CommittedOffset]) -> None:
        self.pending.setdefault(producer_id, {}).setdefault(group, {}).update(offsets)

    def is_unstable(self, group: str, tp: TopicPartition) -> bool:
        """A transaction holds an uncommitted offset for this partition of ``group``."""
        return any(tp in by_group.get(group, {}) for by_group in self.pending.values())

    def complete_transaction(self, producer_id: int, committed: bool) -> None:
        """The transaction of ``producer_id`` ended: its offsets are committed or dropped."""
        by_group = self.pending.pop(producer_id, {})
        if committed:
            for group, offsets in by_group.items():
                self.commit(group, offsets)
