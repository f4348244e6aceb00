"""The trio shell around ``BrokerCore``: one listener per broker, per-connection tasks, long polls.

Requests on a connection are handled one at a time, in order (Kafka mutes a
connection while it processes a request), so responses leave in
correlation-id order. A ``Pending`` result (a long-poll Fetch) makes that
connection wait until its deadline or until new data is appended, whichever is
first; other connections are unaffected. ``BrokerServer.serve`` is meant for
``nursery.start`` and hands back the bound ports.
"""

from __future__ import annotations

import errno
import logging
import math
import time

import trio

from broker.config import BrokerConfig
from broker.connection import BrokerConnection, Close, Incoming, Reply
from broker.core import BrokerCore, CloseConnection, Pending
from broker.state.cluster import BrokerInfo
from wire.errors import EncodeError
from wire.kafka._message import Message
from zkserver.faults import FaultPlan

log = logging.getLogger("broker")


RECEIVE_SIZE = 1 << 18  # produce requests are often near 1 MiB: fewer, larger reads


def now_ms() -> int:
    return int(trio.current_time() * 1000)


class BrokerServer:
    def __init__(self, config: BrokerConfig | None = None) -> None:
        self.config = config or BrokerConfig()
        self.core: BrokerCore | None = None
        self.ports: list[int] = []
        self.faults = FaultPlan()
        self._data = trio.Event()
        self._cancel: trio.CancelScope | None = None
        self._next_conn = 1
        self._wake = trio.Event()  # set to make the deadline task look at the core's deadline again

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"{self.config.host}:{p}" for p in self.ports)

    async def serve(self, *, task_status: trio.TaskStatus[list[int]] = trio.TASK_STATUS_IGNORED) -> None:
        listeners: list[list[trio.SocketListener]] = []
        for i, node_id in enumerate(self.config.node_ids):
            port = 0 if self.config.port == 0 else self.config.port + i
            listeners.append(await trio.open_tcp_listeners(port, host=self.config.host))
        self.ports = [group[0].socket.getsockname()[1] for group in listeners]
        brokers = [BrokerInfo(node_id, self.config.host, port) for node_id, port in zip(self.config.node_ids, self.ports)]
        self.core = BrokerCore(self.config, brokers, now_ms(), wall_offset=int(time.time() * 1000) - now_ms())
        try:
            with trio.CancelScope() as scope:
                self._cancel = scope
                async with trio.open_nursery() as nursery:
                    for node_id, group in zip(self.config.node_ids, listeners):
                        for listener in group:
                            nursery.start_soon(self._accept, listener, node_id, nursery)
                    nursery.start_soon(self._deadlines)
                    task_status.started(self.ports)
        finally:
            for group in listeners:
                for listener in group:
                    with trio.CancelScope(shield=True):
                        await listener.aclose()
            self.core.close()

    def stop(self) -> None:
        if self._cancel is not None:
            self._cancel.cancel()

    async def _accept(self, listener: trio.SocketListener, node_id: int, nursery: trio.Nursery) -> None:
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    await trio.sleep(0.01)
                    continue
                raise
            peer = stream.socket.getpeername()
            nursery.start_soon(self.handle_stream, stream, node_id, str(peer[0]))

    async def handle_stream(self, stream: trio.abc.Stream, node_id: int, host: str = "127.0.0.1") -> None:
        assert self.core is not None
        core = self.core
        conn = BrokerConnection(node_id, self._next_conn, host)
        self._next_conn += 1
        try:
            async with stream:
                while True:
                    event = conn.next_event()
                    if event is None:
                        data = await stream.receive_some(RECEIVE_SIZE)
                        conn.receive_data(data)
                        continue
                    if isinstance(event, Close):
                        return
                    if isinstance(event, Reply):
                        await stream.send_all(event.data)
                        continue
                    assert isinstance(event, Incoming)
                    rule = self.faults.take(event.ctx.header.api_key) if self.faults.rules else None
                    if rule is not None and rule.action == "drop":
                        return
                    delay = self.faults.delay_for(event.ctx.header.api_key) if self.faults.delays else 0.0
                    if delay:
                        await trio.sleep(delay)
                    before = core.data_version
                    try:
                        result = core.handle(event.ctx, event.request, now_ms())
                    except Exception:  # a bug must cost this connection only, never the broker
                        log.exception("internal error handling %s from %s; closing the connection",
                                      event.ctx.header, host)
                        return
                    finally:
                        if core.data_version != before:
                            self._notify_data()
                    if isinstance(result, CloseConnection):
                        log.info("closing connection from %s: %s", host, result.reason)
                        return
                    if isinstance(result, Pending):
                        result = await self._wait(result)
                    if result is not None:
                        try:
                            reply = conn.respond(event.ctx, result)
                        except EncodeError:  # our bug: a response the version cannot carry
                            log.exception("cannot encode the response to %s; closing the connection", event.ctx.header)
                            return
                        await stream.send_all(reply)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return

    async def _deadlines(self) -> None:
        """Sleep until the core's next deadline (the log cleaner) or a wake-up, then tick it."""
        assert self.core is not None
        while True:
            deadline = self.core.next_deadline()
            wake = self._wake
            with trio.move_on_at(math.inf if deadline is None else deadline / 1000):
                await wake.wait()
            if self._wake is wake:
                self._wake = trio.Event()
            before = self.core.data_version
            self.core.tick(now_ms())
            if self.core.data_version != before:
                self._notify_data()

    def wake(self) -> None:
        """Make the deadline task re-read the core's deadline (after changing it from outside)."""
        self._wake.set()

    def _notify_data(self) -> None:
        self._data.set()
        self._data = trio.Event()

    async def _wait(self, pending: Pending) -> Message:
        while True:
            event = self._data
            with trio.move_on_at(pending.deadline_ms / 1000):
                await event.wait()
            now = now_ms()
            expired = now >= pending.deadline_ms
            response = pending.poll(now, expired)
            if response is not None:
                return response
