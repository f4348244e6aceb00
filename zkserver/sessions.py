"""The session table: ids, passwords, negotiated timeouts and tick-bucketed expiry deadlines.

Time is passed in (monotonic milliseconds). As in ZooKeeper's ExpiryQueue, a
session touched at ``now`` expires at the next multiple of tickTime after
``now + timeout``, so expiry happens between ``timeout`` and
``timeout + tickTime`` after the last packet.
"""

from __future__ import annotations

import hashlib
import heapq
from dataclasses import dataclass, field

SERVER_ID = 1


def round_to_tick(t: int, tick: int) -> int:
    return (t // tick + 1) * tick


@dataclass(slots=True)
class Session:
    id: int
    password: bytes
    timeout_ms: int
    expires_at: int
    connection: int | None = None  # the id of the connection currently bound to the session
    closing: bool = False


@dataclass
class SessionTable:
    tick_ms: int
    secret: bytes = b"wiretwin"
    sessions: dict[int, Session] = field(default_factory=dict)
    _heap: list[tuple[int, int]] = field(default_factory=list)  # (expires_at, session id), lazily cleaned
    _next_id: int = 0

    def seed(self, wall_ms: int) -> None:
        """Seed session ids from the clock, with the server id in the top byte (like initializeNextSessionId)."""
        self._next_id = ((wall_ms << 24) & ((1 << 56) - 1)) >> 8 | (SERVER_ID << 56)

    def password_for(self, session_id: int) -> bytes:
        return hashlib.sha256(self.secret + session_id.to_bytes(8, "big", signed=True)).digest()[:16]

    def new_id(self) -> int:
        if not self._next_id:
            self.seed(0)
        sid = self._next_id
        self._next_id += 1
        while sid in self.sessions:
            sid = self._next_id
            self._next_id += 1
        return sid

    def add(self, session_id: int, timeout_ms: int, now_ms: int, password: bytes | None = None) -> Session:
        session = Session(session_id, password or self.password_for(session_id), timeout_ms,
                          round_to_tick(now_ms + timeout_ms, self.tick_ms))
        self.sessions[session_id] = session
        heapq.heappush(self._heap, (session.expires_at, session_id))
        return session

    def get(self, session_id: int) -> Session | None:
        return self.sessions.get(session_id)

    def touch(self, session: Session, now_ms: int) -> None:
        expires = round_to_tick(now_ms + session.timeout_ms, self.tick_ms)
        if expires != session.expires_at:
            session.expires_at = expires
            heapq.heappush(self._heap, (expires, session.id))

    def remove(self, session_id: int) -> Session | None:
        return self.sessions.pop(session_id, None)

    def next_deadline(self) -> int | None:
        heap = self._heap
        while heap:
            expires, sid = heap[0]
            session = self.sessions.get(sid)
            if session is None or session.expires_at != expires:
                heapq.heappop(heap)
                continue
            return expires
        return None

    def due(self, now_ms: int) -> list[Session]:
        """Sessions whose deadline has passed, in deadline order."""
        out: list[Session] = []
        heap = self._heap
        while heap and heap[0][0] <= now_ms:
            expires, sid = heapq.heappop(heap)
            session = self.sessions.get(sid)
            if session is not None and session.expires_at == expires and not session.closing:
                out.append(session)
        return out
