"""Start Debian's real ZooKeeper (the ``zookeeper`` package) on a free loopback port, for parity runs.

The compat suite runs each scenario against our server and against this one;
where ZooKeeper 3.8 (Debian's) and 3.9 differ, the test says so and our server
follows 3.9.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from kazoo.client import KazooClient
from kazoo.handlers.threading import SequentialThreadingHandler

from wire.framing import frame
from wire.zk.protocol import OpCode, encode_request
from wire.zk.records import ConnectRequest, ConnectResponse

ZK_JAR = "/usr/share/java/zookeeper.jar"


def available() -> bool:
    return os.path.exists(ZK_JAR) and shutil.which("java") is not None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _classpath() -> str:
    jars = [ZK_JAR]
    for pattern in ("zookeeper-jute*.jar", "slf4j-api*.jar", "slf4j-simple*.jar", "log4j-1.2*.jar", "netty*.jar",
                    "metrics-core*.jar", "commons-cli*.jar", "commons-io*.jar", "jline*.jar", "snappy*.jar",
                    "audience-annotations*.jar", "jackson*.jar"):
        jars.extend(sorted(glob.glob(f"/usr/share/java/{pattern}")))
    return ":".join(dict.fromkeys(jars))


class RealZooKeeper:
    """A real standalone ZooKeeper in a subprocess."""

    def __init__(self, workdir: Path, tick_ms: int = 100, extra: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        self.port = _free_port()
        self.tick_ms = tick_ms
        self.extra = extra or {}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def hosts(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> RealZooKeeper:
        data = self.workdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        cfg = self.workdir / "zoo.cfg"
        lines = {
            "tickTime": str(self.tick_ms),
            "dataDir": str(data),
            "clientPort": str(self.port),
            "clientPortAddress": "127.0.0.1",
            "4lw.commands.whitelist": "*",
            "admin.enableServer": "false",
            "maxClientCnxns": "0",
            **self.extra,
        }
        cfg.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
        with open(self.workdir / "zookeeper.log", "wb") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                ["java", "-Xmx256m", "-Dzookeeper.admin.enableServer=false", "-Dzookeeper.extendedTypesEnabled=true",
                 "-cp", _classpath(), "org.apache.zookeeper.server.ZooKeeperServerMain", str(cfg)],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"real ZooKeeper exited: {(self.workdir / 'zookeeper.log').read_text()[-2000:]}")
            if self._accepts_sessions():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("real ZooKeeper did not start in time")

    def _accepts_sessions(self) -> bool:
        """Ready means a session handshake succeeds (``ruok`` answers before the server takes sessions)."""
        request = ConnectRequest(0, 0, 10000, 0, b"\0" * 16, False).encode()
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                s.sendall(frame(request))
                reply = b""
                while len(reply) < 4 + 37:
                    chunk = s.recv(64)
                    if not chunk:
                        return False
                    reply += chunk
                if ConnectResponse.decode(reply[4:4 + 37]).session_id == 0:
                    return False
                s.sendall(frame(encode_request(1, OpCode.closeSession)))  # leave no session to expire later
                s.recv(64)
                return True
        except (OSError, ValueError):
            return False

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None


class RealZooKeeperRun:
    """The one real ZooKeeper a test run shares (the ``real_zookeeper`` fixture): tickTime
    ``tick_ms``, extended types on, the container check interval lowered through
    ``JAVA_TOOL_OPTIONS`` (a JVM system property, not a zoo.cfg key), an admin client, and a
    fresh chroot per test (``new_chroot()``)."""

    def __init__(self, tick_ms: int = 100, container_check_ms: int = 100, wait: float = 10.0) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="realzk-"))
        self.zk = RealZooKeeper(self.workdir, tick_ms=tick_ms)
        old = os.environ.get("JAVA_TOOL_OPTIONS")
        os.environ["JAVA_TOOL_OPTIONS"] = (f"-Dznode.container.checkIntervalMs={container_check_ms} "
                                           "-Dzookeeper.extendedTypesEnabled=true")
        try:
            self.zk.start()
        finally:
            if old is None:
                os.environ.pop("JAVA_TOOL_OPTIONS", None)
            else:
                os.environ["JAVA_TOOL_OPTIONS"] = old
        self.admin = KazooClient(hosts=self.zk.hosts, handler=SequentialThreadingHandler())
        self.admin.start(timeout=wait)
        self.version = self.admin.server_version()

    def new_chroot(self) -> str:
        chroot = f"/t-{uuid.uuid4()}"
        self.admin.create(chroot)
        return chroot

    def stop(self) -> None:
        try:
            self.admin.stop()
            self.admin.close()
        finally:
            self.zk.stop()
            shutil.rmtree(self.workdir, ignore_errors=True)
