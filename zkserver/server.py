"""The trio shell around ``ZkCore``: listening, per-connection tasks, deadlines, and test-double controls.

All state lives in the core; this module only moves bytes. Each connection has
a reader task (feeds ``ZkConnection``) and a writer task draining an unbounded
outbound queue, so a slow client never blocks the core or other clients. One
task sleeps until the core's next deadline (session expiry, container reaping)
and calls ``tick``. ``ZkServer.serve`` is meant for ``nursery.start``: it hands
back the bound port once the listener accepts connections.
"""

from __future__ import annotations

import errno
import logging
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import trio

from zkserver.config import ZkConfig
from zkserver.connection import Sent, ZkConnection
from zkserver.core import Client, Notification, Outcome, ZkCore
from zkserver.faults import FaultPlan
from zkserver.persistence import DataDir
from wire.framing import frame
from zkserver.protocol import encode_event

log = logging.getLogger("zkserver")


@dataclass(eq=False)
class _Conn:
    client: Client
    proto: ZkConnection
    stream: trio.abc.Stream
    send: trio.MemorySendChannel[bytes | None]
    receive: trio.MemoryReceiveChannel[bytes | None]
    member: int = 0
    cancel: trio.CancelScope = field(default_factory=trio.CancelScope)


@dataclass(eq=False)
class _Member:
    """One client endpoint of the ensemble (all members share the one core)."""

    index: int
    port: int = 0
    listeners: list[trio.SocketListener] = field(default_factory=list)
    scope: trio.CancelScope = field(default_factory=trio.CancelScope)
    up: bool = False


def now_ms() -> int:
    return int(trio.current_time() * 1000)


class ZkServer:
    """A standalone ZooKeeper-compatible server. Start it with ``await nursery.start(server.serve)``."""

    def __init__(self, config: ZkConfig | None = None) -> None:
        self.config = config or ZkConfig()
        self.core: ZkCore | None = None
        self.port: int = 0
        self.faults = FaultPlan()
        self._conns: dict[int, _Conn] = {}
        self._next_id = 1
        self._wake = trio.Event()
        self._members: list[_Member] = []
        self._stopped = trio.Event()
        self._cancel: trio.CancelScope | None = None
        self._nursery: trio.Nursery | None = None

    @property
    def hosts(self) -> str:
        """The connection string for clients: ``host:port``, or every member's for an ensemble."""
        if len(self._members) > 1:
            return ",".join(f"{self.config.host}:{m.port}" for m in self._members)
        return f"{self.config.host}:{self.port}"

    @property
    def member_ports(self) -> list[int]:
        return [m.port for m in self._members]

    def _make_core(self) -> ZkCore:
        data_dir = None
        if self.config.data_dir is not None:
            data_dir = DataDir(Path(self.config.data_log_dir or self.config.data_dir), self.config.force_sync,
                               self.config.autopurge_snap_retain_count)
        return ZkCore(self.config, now_ms(), int(time.time() * 1000), data_dir)

    async def serve(self, *, listen: bool = True,
                    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED) -> None:
        """Run until ``stop()``. With ``listen=False`` no socket is opened; feed streams to ``handle_stream``.

        With ``config.ensemble > 1`` every member listens on its own port, all serving the one tree, so a
        member can be stopped and restarted while clients fail over to the others with their sessions.
        """
        self.core = self._make_core()
        try:
            with trio.CancelScope() as scope:
                self._cancel = scope
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    if listen:
                        for index in range(max(1, self.config.ensemble)):
                            member = _Member(index, self.config.port if index == 0 else 0)
                            self._members.append(member)
                            await nursery.start(self._run_member, member)
                        self.port = self._members[0].port
                        self.config.port = self.port
                    nursery.start_soon(self._deadlines)
                    task_status.started(self.port)
        finally:
            for conn in list(self._conns.values()):
                conn.cancel.cancel()
            if self.core is not None:
                self.core.close()
            self._stopped.set()

    async def _run_member(self, member: _Member, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                          ) -> None:
        member.scope = trio.CancelScope()
        with member.scope:
            listeners = await trio.open_tcp_listeners(member.port, host=self.config.host)
            member.listeners = listeners
            member.port = listeners[0].socket.getsockname()[1]
            member.up = True
            try:
                async with trio.open_nursery() as nursery:
                    for listener in listeners:
                        nursery.start_soon(self._accept_loop, listener, nursery, member.index)
                    task_status.started()
            finally:
                member.up = False
                for listener in listeners:
                    with trio.CancelScope(shield=True):
                        await listener.aclose()

    def stop_member(self, index: int) -> None:
        """Take one ensemble member down: close its port and drop its clients (sessions live on)."""
        member = self._members[index]
        member.scope.cancel()
        for conn in list(self._conns.values()):
            if conn.member == index:
                conn.cancel.cancel()

    async def start_member(self, index: int) -> None:
        """Bring a stopped member back on the same port."""
        assert self._nursery is not None
        member = self._members[index]
        if not member.up:
            await self._nursery.start(self._run_member, member)

    def stop(self) -> None:
        if self._cancel is not None:
            self._cancel.cancel()

    async def _accept_loop(self, listener: trio.SocketListener, nursery: trio.Nursery, member: int = 0) -> None:
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    log.warning("accept failed: %s", exc)
                    await trio.sleep(0.01)
                    continue
                raise
            peer = stream.socket.getpeername()
            nursery.start_soon(self.handle_stream, stream, str(peer[0]), int(peer[1]), member)

    async def handle_stream(self, stream: trio.abc.Stream, ip: str = "127.0.0.1", port: int = 0,
                            member: int = 0) -> None:
        """Serve one client connection on any trio stream until it closes."""
        assert self.core is not None, "serve() has not started"
        if self.config.max_client_cnxns and sum(1 for c in self._conns.values()
                                                  if c.client.ip == ip) >= self.config.max_client_cnxns:
            log.warning("too many connections from %s (max %d)", ip, self.config.max_client_cnxns)
            await stream.aclose()
            return
        cid = self._next_id
        self._next_id += 1
        client = Client(cid, ip, port)
        self.core.add_client(client)
        send, receive = trio.open_memory_channel[bytes | None](math.inf)
        conn = _Conn(client, ZkConnection(self.core, client, self.config.max_buffer, self.faults), stream, send,
                     receive, member)
        self._conns[cid] = conn
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._writer, conn)
                with conn.cancel:
                    await self._reader(conn)
                await send.send(None)
        finally:
            self._conns.pop(cid, None)
            self.core.remove_client(cid)
            with trio.CancelScope(shield=True):
                await stream.aclose()

    async def _reader(self, conn: _Conn) -> None:
        while True:
            try:
                data = await conn.stream.receive_some(65536)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                data = b""
            if data and self.faults.delays:
                delay = conn.proto.latency_before(data)
                if delay > 0:
                    await trio.sleep(delay)
            try:
                sent = conn.proto.receive(data, now_ms())
            except Exception:  # a bug must cost this connection only, never the server or other sessions
                log.exception("internal error on connection from %s; closing it", conn.client.ip)
                return
            self._dispatch(conn, sent)
            if sent.close or not data:
                return

    async def _writer(self, conn: _Conn) -> None:
        """Send what is queued, coalescing everything already waiting into one write."""
        async for chunk in conn.receive:
            if chunk is None:
                return
            chunks = [chunk]
            done = False
            while True:
                try:
                    more = conn.receive.receive_nowait()
                except trio.WouldBlock:
                    break
                if more is None:
                    done = True
                    break
                chunks.append(more)
            try:
                await conn.stream.send_all(b"".join(chunks) if len(chunks) > 1 else chunk)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                conn.cancel.cancel()
                return
            if done:
                return

    def _dispatch(self, conn: _Conn, sent: Sent) -> None:
        assert self.core is not None
        self.core.sync()  # group commit: this batch's transactions are durable before any reply leaves
        if sent.data:
            conn.send.send_nowait(b"".join(sent.data))
        self._deliver(sent.others)
        for cid in sent.close_clients:
            other = self._conns.get(cid)
            if other is not None:
                other.cancel.cancel()
        if sent.close:
            conn.cancel.cancel()
        self._wake.set()

    def _deliver(self, notes: Iterable[Notification]) -> None:
        for note in notes:
            target = self._conns.get(note.client_id)
            if target is not None:
                target.send.send_nowait(frame(encode_event(note)))

    def _apply_outcome(self, out: Outcome) -> None:
        assert self.core is not None
        self.core.sync()
        self._deliver(out.notifications)
        for cid in out.close_clients:
            conn = self._conns.get(cid)
            if conn is not None:
                conn.cancel.cancel()

    async def _deadlines(self) -> None:
        assert self.core is not None
        while True:
            deadline = self.core.next_deadline()
            wake = self._wake
            with trio.move_on_at(math.inf if deadline is None else deadline / 1000):
                await wake.wait()
            if self._wake is wake:
                self._wake = trio.Event()
            self._apply_outcome(self.core.tick(now_ms()))

    # -- test-double controls ------------------------------------------------------------
    def expire_session(self, session_id: int) -> None:
        """Expire a session server-side now: its ephemerals go and its connection is closed."""
        assert self.core is not None
        self._apply_outcome(self.core.expire_session(session_id, now_ms()))

    def drop_connection(self, session_id: int) -> None:
        """Close the socket of the connection bound to a session, keeping the session alive."""
        for conn in self._conns.values():
            if conn.client.session_id == session_id:
                conn.cancel.cancel()

    def drop_all_connections(self) -> None:
        for conn in self._conns.values():
            conn.cancel.cancel()

    def session_ids(self) -> list[int]:
        assert self.core is not None
        return list(self.core.sessions.sessions)
