"""Run a BrokerServer in a background thread with its own trio loop (for blocking clients and fixtures).

Fault controls (the ``zkserver.faults`` model, keyed by Kafka API key) are thread-safe:
``fail_next(api_key, error, count)``, ``drop_next(api_key, count)``, ``lose_reply_next(api_key, count)``, ``add_latency(seconds, api_key=None)``,
``stop_broker(node_id)`` / ``start_broker(node_id)`` and ``move_leader(topic, partition, new_leader)``.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeVar

import trio

from broker.config import BrokerConfig
from broker.server import BrokerServer
from broker.zk.model import BridgeFactory

R = TypeVar("R")


def wait_for(check: Callable[[], Any], what: str = "condition", timeout: float = 30.0, interval: float = 0.02) -> Any:
    """Poll ``check`` until it returns something truthy (that is returned), every ``interval`` seconds, for at
    most ``timeout`` seconds; then AssertionError naming ``what``. For tests and fixtures waiting on a broker
    or cluster to reach a state."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        if interval > 0:
            time.sleep(interval)


class RunningBroker:
    def __init__(self, config: BrokerConfig | None = None, bridge_factory: BridgeFactory | None = None) -> None:
        """``bridge_factory``: ZooKeeper mode against an in-memory ZooKeeper (``broker.zk.memory``)."""
        self.config = dataclasses.replace(config) if config is not None else BrokerConfig(port=0)
        self.server = BrokerServer(self.config, bridge_factory)
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

    def controlled_shutdown(self) -> bool:
        """ZooKeeper mode: what SIGTERM does first in ``python -m broker`` (``BrokerServer.controlled_shutdown``);
        the broker keeps running until ``stop()``."""
        assert self._token is not None, "broker is not running"
        return trio.from_thread.run(self.server.controlled_shutdown, trio_token=self._token)

    def call(self, fn: Callable[..., R], *args: Any) -> R:
        """Run ``fn(*args)`` inside the broker's trio thread and return its result."""
        assert self._token is not None, "broker is not running"
        return trio.from_thread.run_sync(fn, *args, trio_token=self._token)

    # -- faults ----------------------------------------------------------------------
    def fail_next(self, api_key: int, error: int, count: int = 1) -> None:
        """Answer the next ``count`` requests of ``api_key`` with ``error`` without executing them."""
        self.call(self.server.faults.fail_next, api_key, int(error), count)

    def drop_next(self, api_key: int, count: int = 1) -> None:
        """Close the connection instead of answering the next ``count`` requests of ``api_key``."""
        self.call(self.server.faults.drop_next, api_key, count)

    def lose_reply_next(self, api_key: int, count: int = 1) -> None:
        """Execute the next ``count`` requests of ``api_key`` but close the connection instead of answering:
        a lost acknowledgement (the client retries a Produce that was already appended)."""
        self.call(self.server.faults.lose_reply_next, api_key, count)

    def add_latency(self, seconds: float, api_key: int | None = None) -> None:
        """Hold requests (of one API key, or all) ``seconds`` before handling them; 0 removes the delay."""
        self.call(self.server.faults.delay, seconds, api_key)

    def clear_faults(self) -> None:
        self.call(self.server.faults.clear)

    def stop_broker(self, node_id: int) -> None:
        """Take one broker of the process down (returns once its listener and connections are closed)."""
        assert self._token is not None, "broker is not running"

        async def stop() -> None:
            self.server.stop_broker(node_id)
            await self.server.wait_broker_stopped(node_id)

        trio.from_thread.run(stop, trio_token=self._token)

    def start_broker(self, node_id: int) -> None:
        """Bring a stopped broker back on the same port (returns once it accepts connections)."""
        assert self._token is not None, "broker is not running"
        trio.from_thread.run(self.server.start_broker, node_id, trio_token=self._token)

    def move_leader(self, topic: str, partition: int, new_leader: int) -> None:
        """Move the partition's leadership to ``new_leader``, bumping its leader epoch."""
        self.call(self.server.move_leader, topic, partition, new_leader)

    def leader(self, topic: str, partition: int) -> tuple[int, int]:
        """(leader node id, leader epoch) of the partition."""
        def read() -> tuple[int, int]:
            assert self.server.core is not None
            p = self.server.core.cluster.partition(topic, partition)
            if p is None:
                raise KeyError(f"no partition {topic}-{partition}")
            return p.leader, p.leader_epoch
        return self.call(read)

    def __enter__(self) -> RunningBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def bootstrap_servers(self) -> str:
        return self.server.bootstrap_servers


class BrokerProcess:
    """One broker in its own process (``python -m broker``), for ZooKeeper-mode clusters: ``kill`` is a
    kill -9 (no clean shutdown, its ZooKeeper session left to expire), ``restart`` comes back on the same
    port and data dir."""

    def __init__(self, broker_id: int, zookeeper: str, data_dir: Path, port: int = 0,
                 overrides: dict[str, str] | None = None) -> None:
        self.broker_id = broker_id
        self.zookeeper = zookeeper
        self.data_dir = data_dir
        self.port = port
        self.overrides = dict(overrides or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"broker-{broker_id}.log"

    def start(self, timeout: float = 30.0) -> BrokerProcess:
        cmd = [sys.executable, "-m", "broker", "--zookeeper", self.zookeeper, "--broker-id", str(self.broker_id),
               "--port", str(self.port), "--data-dir", str(self.data_dir)]
        for key, value in self.overrides.items():
            cmd += ["--override", f"{key}={value}"]
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as err:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
        assert self.proc.stdout is not None
        line = _read_line(self.proc.stdout, timeout)
        if not line.startswith("listening "):
            self.kill()
            raise RuntimeError(f"broker {self.broker_id} did not start ({line!r}): "
                               f"{self.log_path.read_text(errors='replace')[-3000:]}")
        self.port = int(line.split()[1].rsplit(":", 1)[1])
        return self

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """kill -9: no clean shutdown; the broker's ZooKeeper session expires after its timeout."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM: a clean shutdown, after a controlled shutdown in ZooKeeper mode (the controller moves its
        leaderships first; up to ``controlled.shutdown.max.retries`` attempts), then its registration leaves
        ZooKeeper at once; kill -9 if it takes longer than ``timeout``."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> BrokerProcess:
        self.stop()
        return self.start()


def _read_line(stream: IO[bytes], timeout: float) -> str:
    """The first line of ``stream``, or "" if it does not come within ``timeout`` seconds."""
    result: list[bytes] = []
    reader = threading.Thread(target=lambda: result.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return result[0].decode(errors="replace").strip() if result else ""


class ZkKafkaCluster:
    """A ZooKeeper-compatible server plus broker processes in ZooKeeper mode (the ``kafka_zk_cluster`` fixture)."""

    def __init__(self, zookeeper: str, root: Path, broker_ids: list[int], overrides: dict[str, str] | None = None
                 ) -> None:
        self.zookeeper = zookeeper
        self.brokers = {i: BrokerProcess(i, zookeeper, root / f"broker-{i}", overrides=overrides) for i in broker_ids}

    def start(self) -> ZkKafkaCluster:
        for broker in self.brokers.values():
            broker.start()
        return self

    def stop(self, broker_id: int | None = None) -> None:
        """SIGTERM one broker (a graceful stop: controlled shutdown, then exit), or every broker."""
        for i, broker in self.brokers.items():
            if broker_id is None or i == broker_id:
                broker.stop()

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(b.bootstrap_servers for b in self.brokers.values() if b.running)

    def kill(self, broker_id: int) -> None:
        self.brokers[broker_id].kill()

    def restart(self, broker_id: int) -> None:
        self.brokers[broker_id].restart()
