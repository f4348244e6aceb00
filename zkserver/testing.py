"""Run a ZkServer in a background thread with its own trio loop, for blocking clients and pytest fixtures.

``RunningZkServer`` starts on a free port (port 0) unless told otherwise,
waits until the listener is accepting, and exposes the controls of the server
in a thread-safe way. ``restart()`` stops the server and starts a new one on the
same port and data directory, as a process restart would.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import trio

from zkserver.config import ZkConfig
from zkserver.server import ZkServer

R = TypeVar("R")


class RunningZkServer:
    def __init__(self, config: ZkConfig | None = None) -> None:
        self.config = dataclasses.replace(config) if config is not None else ZkConfig(port=0)
        self.server: ZkServer | None = None
        self._thread: threading.Thread | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._error: BaseException | None = None

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> RunningZkServer:
        ready = threading.Event()
        server = ZkServer(self.config)
        self.server = server

        async def main() -> None:
            self._token = trio.lowlevel.current_trio_token()
            async with trio.open_nursery() as nursery:
                await nursery.start(server.serve)
                self.config.port = server.port
                ready.set()

        def run() -> None:
            try:
                trio.run(main)
            except BaseException as exc:  # reported to the caller of start()/stop()
                self._error = exc
            finally:
                ready.set()

        self._thread = threading.Thread(target=run, name=f"zkserver:{self.config.port}", daemon=True)
        self._thread.start()
        ready.wait()
        if self._error is not None:
            raise RuntimeError("zkserver failed to start") from self._error
        return self

    def stop(self) -> None:
        if self._thread is None or self.server is None:
            return
        server = self.server
        if self._token is not None and self._thread.is_alive():
            try:
                trio.from_thread.run_sync(server.stop, trio_token=self._token)
            except trio.RunFinishedError:
                pass
        self._thread.join(timeout=10)
        self._thread = None
        self._token = None

    def restart(self) -> None:
        """Stop and start again on the same port and data directory."""
        self.stop()
        self.start()

    def __enter__(self) -> RunningZkServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- facts and controls ------------------------------------------------------------
    @property
    def port(self) -> int:
        return self.config.port

    @property
    def hosts(self) -> str:
        """The connection string (every member's address for an ensemble)."""
        assert self.server is not None
        return self.server.hosts

    def stop_member(self, index: int) -> None:
        """Ensemble: stop one member (its clients fail over to the others, sessions intact)."""
        assert self.server is not None
        self.call(self.server.stop_member, index)

    def start_member(self, index: int) -> None:
        assert self.server is not None and self._token is not None
        trio.from_thread.run(self.server.start_member, index, trio_token=self._token)

    @property
    def data_dir(self) -> Path | None:
        return self.config.data_dir

    def call(self, fn: Callable[..., R], *args: Any) -> R:
        """Run ``fn(*args)`` inside the server's trio thread and return its result."""
        assert self._token is not None, "server is not running"
        return trio.from_thread.run_sync(fn, *args, trio_token=self._token)

    def expire_session(self, session_id: int) -> None:
        assert self.server is not None
        self.call(self.server.expire_session, session_id)

    def drop_connection(self, session_id: int) -> None:
        assert self.server is not None
        self.call(self.server.drop_connection, session_id)

    def fail_next(self, opcode: int, error: int, count: int = 1) -> None:
        assert self.server is not None
        self.call(self.server.faults.fail_next, opcode, error, count)

    def drop_next(self, opcode: int, count: int = 1) -> None:
        assert self.server is not None
        self.call(self.server.faults.drop_next, opcode, count)

    def lose_reply_next(self, opcode: int, count: int = 1) -> None:
        """Execute the next ``count`` requests of ``opcode`` but close the connection instead of replying."""
        assert self.server is not None
        self.call(self.server.faults.lose_reply_next, opcode, count)

    def add_latency(self, seconds: float, opcode: int | None = None) -> None:
        """Hold requests (of ``opcode``, or every kind) ``seconds`` before handling them; 0 removes it."""
        assert self.server is not None
        self.call(self.server.faults.delay, seconds, opcode)

    def session_ids(self) -> list[int]:
        assert self.server is not None
        return self.call(self.server.session_ids)
