"""Fixtures for the kazoo conformance suite: every scenario runs against our server and a real ZooKeeper.

``zk_target`` is parametrised over ``["wiretwin", "real"]``:

* ``wiretwin``: a fresh in-process zkserver per test (``zk_server_factory``),
  tickTime 100 ms, every four-letter word allowed, TTL nodes enabled and a
  100 ms container/TTL check interval, with a data directory so ``restart()``
  keeps the tree and the sessions.
* ``real``: ONE Debian ZooKeeper (3.8.0) for the whole run (session-scoped, the
  ``real_zookeeper`` fixture of compat_tests/conftest.py, shared with other suites),
  tickTime 100 ms, 4lw ``*``, ``extendedTypesEnabled``, and the container
  check interval lowered to 100 ms through ``JAVA_TOOL_OPTIONS`` (it is a JVM
  system property, not a zoo.cfg key). Each test gets its own chroot
  ``/t-<uuid>``; ``hosts`` carries it as the connection string's suffix.

The target object exposes ``.kind``, ``.hosts``, ``.version`` (a tuple read
from ``envi`` with kazoo's ``server_version()``), ``.tick_ms``, ``.client()``
to open a started kazoo client that is closed after the test, and
``.controls`` (our ``RunningZkServer``; on the real server the test is
skipped, because Java ZooKeeper has no API to expire a session, drop a
connection or restart in-process on demand).
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kazoo.client import KazooClient
from kazoo.handlers.threading import SequentialThreadingHandler
from kazoo.loggingsupport import BLATHER
from kazoo.protocol.serialization import Watch
from kazoo.protocol.states import KazooState

from compat_tests.zookeeper.realzk import RealZooKeeperRun

TICK_MS = 100
CONTAINER_CHECK_MS = 100
WAIT = 10.0  # upper bound for any wait on an event; tests finish far sooner

FAST_RECONNECT = {"max_tries": -1, "delay": 0.05, "backoff": 1.5, "max_jitter": 0.1, "max_delay": 0.5}


class NegotiatedTimeout(logging.Handler):
    """Reads the negotiated session timeout from kazoo's own connection log line.

    kazoo keeps the timeout it *asked for* in ``client._session_timeout`` and
    never stores the one the server granted; it only logs it, at BLATHER level,
    through the logger passed to ``KazooClient(logger=...)`` (a public
    argument). Each new session appends one value.
    """

    PATTERN = re.compile(r"negotiated session timeout: (\d+)")

    def __init__(self) -> None:
        super().__init__(BLATHER)
        self.values: list[int] = []
        self.changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        match = self.PATTERN.search(record.getMessage())
        if match:
            with self.changed:
                self.values.append(int(match.group(1)))
                self.changed.notify_all()


class ZkTarget:
    def __init__(self, kind: str, hosts: str, version: tuple[int, ...], tick_ms: int,
                 server: Any = None, chroot: str = "") -> None:
        self.kind = kind
        self.hosts = hosts
        self.version = version
        self.tick_ms = tick_ms
        self.server = server
        self.chroot = chroot
        self._clients: list[KazooClient] = []

    def __repr__(self) -> str:
        return f"ZkTarget({self.kind}, {self.hosts}, {self.version})"

    @property
    def is_real(self) -> bool:
        return self.kind == "real"

    @property
    def controls(self) -> Any:
        """Our server's test controls. A real ZooKeeper has none: tests that need them are marked
        ``wiretwin_only`` and are not generated for the real target at all."""
        assert self.server is not None, "mark the test wiretwin_only"
        return self.server

    def drop_connection(self, client: KazooClient) -> None:
        """Break a client's TCP connection, keeping its session: server-side on ours (the control),
        client-side (shutting kazoo's socket down) on the real server, which has no such control."""
        if self.server is not None:
            self.server.drop_connection(client.client_id[0])
        else:
            client._connection._socket.shutdown(socket.SHUT_RDWR)

    def client(self, *, start: bool = True, timeout: float = 10.0, with_timeout_log: bool = False,
               **kwargs: Any) -> KazooClient:
        """A kazoo client (threading handler) on this target, stopped and closed after the test."""
        kwargs.setdefault("connection_retry", dict(FAST_RECONNECT))
        kwargs.setdefault("command_retry", {"max_tries": 3, "delay": 0.05, "backoff": 1.5, "max_delay": 0.5})
        if with_timeout_log:
            log = logging.getLogger(f"kazoo.compat.{uuid.uuid4().hex}")
            log.setLevel(BLATHER)
            log.propagate = False
            spy = NegotiatedTimeout()
            log.addHandler(spy)
            kwargs["logger"] = log
        client = KazooClient(hosts=kwargs.pop("hosts", self.hosts), timeout=timeout,
                             handler=SequentialThreadingHandler(), **kwargs)
        if with_timeout_log:
            client.negotiated = spy  # type: ignore[attr-defined]
        self._clients.append(client)
        if start:
            client.start(timeout=WAIT)
        return client

    def close_clients(self) -> None:
        for client in self._clients:
            try:
                client.stop()
            except Exception:
                pass
            try:
                client.close()
            except Exception:
                pass
        self._clients.clear()


# -- the fixture every scenario uses ----------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "wiretwin_only: needs a server-side control only our server offers")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Drop the real-ZooKeeper variant of tests that need our server's controls (expire, restart)."""
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        if item.get_closest_marker("wiretwin_only") and callspec is not None and callspec.params.get("zk_target") == "real":
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(params=["wiretwin", "real"])
def zk_target(request: pytest.FixtureRequest) -> Iterator[ZkTarget]:
    if request.param == "wiretwin":
        factory: Callable[..., Any] = request.getfixturevalue("zk_server_factory")
        server = factory(tick_time_ms=TICK_MS, four_letter_whitelist=("*",), extended_types_enabled=True,
                         container_check_interval_ms=CONTAINER_CHECK_MS, max_client_cnxns=0)
        probe = KazooClient(hosts=server.hosts, handler=SequentialThreadingHandler())
        probe.start(timeout=WAIT)
        try:
            version = probe.server_version()
        finally:
            probe.stop()
            probe.close()
        target = ZkTarget("wiretwin", server.hosts, version, TICK_MS, server=server)
    else:
        real: RealZooKeeperRun = request.getfixturevalue("real_zookeeper")  # compat_tests/conftest.py
        chroot = real.new_chroot()
        target = ZkTarget("real", real.zk.hosts + chroot, real.version, TICK_MS, chroot=chroot)
    yield target
    target.close_clients()


# -- small synchronisation helpers (events, never sleeps) ------------------------------------------


class Events:
    """A thread-safe list of things callbacks saw, with a blocking wait for the n-th one."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._cond = threading.Condition()

    def __call__(self, *item: Any) -> None:
        with self._cond:
            self.items.append(item[0] if len(item) == 1 else item)
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = WAIT) -> list[Any]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.items) >= count, timeout):
                raise AssertionError(f"expected {count} events, got {self.items!r}")
            return list(self.items)

    def wait_until(self, predicate: Callable[[list[Any]], bool], timeout: float = WAIT) -> list[Any]:
        with self._cond:
            if not self._cond.wait_for(lambda: predicate(self.items), timeout):
                raise AssertionError(f"condition not met; events: {self.items!r}")
            return list(self.items)


def state_recorder(client: KazooClient) -> Events:
    """Record the client's KazooState transitions."""
    events = Events()

    def listener(state: KazooState) -> None:
        events(state)

    client.add_listener(listener)
    return events


def spy_headers(client: KazooClient) -> list[tuple[int, int, int, Any]]:
    """Record every reply header kazoo reads, in wire order, as ``(xid, zxid, err, event)``, changing nothing.

    ``event`` is ``(type, path)`` for a notification (xid -1, raw wire event type and path), else None.
    Install before ``client.start()``. kazoo's public API hides notification zxids, how many notifications
    the server sent (kazoo fans one out to every local watcher) and how events interleave with replies;
    this observes them on kazoo's own connection object. Pings are left out.
    """
    seen: list[tuple[int, int, int, Any]] = []
    read_header = client._connection._read_header

    def spy(timeout: float) -> Any:
        header, buffer, offset = read_header(timeout)
        if header.xid == -1:
            watch, _ = Watch.deserialize(buffer, offset)
            seen.append((header.xid, header.zxid, header.err, (watch.type, watch.path)))
        elif header.xid != -2:
            seen.append((header.xid, header.zxid, header.err, None))
        return header, buffer, offset

    client._connection._read_header = spy
    return seen
