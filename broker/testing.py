"""Run a BrokerServer in a background thread with its own trio loop (for blocking clients and fixtures)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import trio

from broker.config import BrokerConfig
from broker.server import BrokerServer

R = TypeVar("R")


class RunningBroker:
    def __init__(self, config: BrokerConfig | None = None) -> None:
        self.config = dataclasses.replace(config) if config is not None else BrokerConfig(port=0)
        self.server = BrokerServer(self.config)
        self._thread: threading.Thread | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._error: BaseException | None = None

    def start(self) -> RunningBroker:
        ready = threading.Event()

        async def main() -> None:
            self._token = trio.lowlevel.current_trio_token()
            async with trio.open_nursery() as nursery:
                await nursery.start(self.server.serve)
                ready.set()

        def run() -> None:
            try:
                trio.run(main)
            except BaseException as exc:
                self._error = exc
            finally:
                ready.set()

        self._thread = threading.Thread(target=run, name="broker", daemon=True)
        self._thread.start()
        ready.wait()
        if self._error is not None:
            raise RuntimeError("broker failed to start") from self._error
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._token is not None and self._thread.is_alive():
            try:
                trio.from_thread.run_sync(self.server.stop, trio_token=self._token)
            except trio.RunFinishedError:
                pass
        self._thread.join(timeout=10)
        self._thread = None

    def call(self, fn: Callable[..., R], *args: Any) -> R:
        """Run ``fn(*args)`` inside the broker's trio thread and return its result."""
        assert self._token is not None, "broker is not running"
        return trio.from_thread.run_sync(fn, *args, trio_token=self._token)

    def __enter__(self) -> RunningBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def bootstrap_servers(self) -> str:
        return self.server.bootstrap_servers
