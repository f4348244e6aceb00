"""Incremental fetch sessions (KIP-227): the partitions a consumer fetches, remembered between requests.

A request with session id 0 and epoch 0 opens a session holding its
partitions; later requests name the session and the next epoch and list only
what changed (new or updated partitions, forgotten ones). The response to an
incremental request carries only partitions with news: records, a moved high
watermark / last stable offset / log start offset, or an error. Epoch -1 closes
the session (or, with session id 0, asks for a sessionless full fetch).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

INITIAL_EPOCH = 0
FINAL_EPOCH = -1
MAX_SESSIONS = 1000  # max.incremental.fetch.session.cache.slots


@dataclass
class SessionPartition:
    topic: str
    topic_id: uuid.UUID
    partition: int
    fetch_offset: int
    max_bytes: int
    # what the last response told the client, to decide what is news next time
    last_hw: int = -1
    last_lso: int = -1
    last_log_start: int = -1


@dataclass
class FetchSession:
    id: int
    next_epoch: int
    partitions: dict[tuple[str, int], SessionPartition] = field(default_factory=dict)


@dataclass
class FetchSessionCache:
    sessions: dict[int, FetchSession] = field(default_factory=dict)
    next_id: int = 1

    def open(self) -> FetchSession:
        if len(self.sessions) >= MAX_SESSIONS:
            self.sessions.pop(next(iter(self.sessions)))  # evict the oldest
        session = FetchSession(self.next_id, 1)
        self.next_id = self.next_id % 0x7FFFFFFF + 1
        self.sessions[session.id] = session
        return session

    def get(self, session_id: int) -> FetchSession | None:
        return self.sessions.get(session_id)

    def close(self, session_id: int) -> None:
        self.sessions.pop(session_id, None)
