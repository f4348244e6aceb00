"""Drive other real ZooKeeper clients (Java zkCli, the C ``cli_mt``, node-zookeeper-client) from pytest.

Everything here waits on output lines or socket frames with a timeout; nothing
sleeps to synchronise.

* ``LineProcess``: a subprocess whose stdout and stderr go into one pipe, read
  line by line by a thread; ``wait_for(regex)`` blocks until a line matches.
* ``ZkCli``: Debian's ``zkCli.sh`` (ZooKeeper 3.8's ``ZooKeeperMain``) driven
  over stdin. Without JLine it reads commands with a plain line reader, runs
  each synchronously and exits at EOF. ``run(*commands)`` writes each command
  followed by the client-side ``version`` command and returns, per command, the
  lines printed before that marker; watch notifications (printed by the event
  thread as ``WATCHER::`` / ``WatchedEvent ...``) are taken out of those lines
  and collected in ``events``.
* ``CCli``: the C client shell ``cli_mt`` (zookeeper-bin), whose commands are
  asynchronous; ``run(command)`` sends the command followed by a ``sync`` marker
  and returns what was printed before the marker's completion.
* ``ensure_node_modules``: ``npm ci`` in ``node/`` once per run, for the
  node-zookeeper-client driver script ``node/driver.js``.
* ``RecordingProxy``: a TCP relay in front of a server that records every frame
  each way (to prove what a client really sent, e.g. the 44- vs 45-byte
  ConnectRequest or the opcodes zkCli uses) and can drop the connections to
  force a client to reconnect.
* ``Target`` / ``open_target``: the server a scenario runs against, ``wiretwin``
  (a fresh in-process zkserver) or ``real`` (Debian's ZooKeeper 3.8.0, one JVM
  shared by the whole run); each test works inside its own chroot.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from compat_tests.zookeeper import realzk

ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"
CLI_MT = "/usr/lib/zookeeper/bin/cli_mt"
NODE_DIR = Path(__file__).parent / "node"
WAIT = 15.0  # upper bound for any single wait; scenarios finish far sooner
TICK_MS = 100
#: Both targets allow the 30 s sessions the shells ask for (the default cap, 20 ticks, would be 2 s), so a
#: client that is made to reconnect always finds its session alive.
MAX_SESSION_TIMEOUT_MS = 30_000


# -- subprocess with line-wise output ---------------------------------------------------------


class LineProcess:
    """A subprocess with stdin piped; stdout+stderr are merged and collected as lines by a thread."""

    def __init__(self, argv: Sequence[str], env: dict[str, str] | None = None, cwd: str | Path | None = None) -> None:
        self.argv = list(argv)
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._eof = False
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=env, cwd=cwd)
        self._reader = threading.Thread(target=self._read, name=f"lines:{Path(self.argv[0]).name}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode("utf-8"))
        self.proc.stdin.flush()

    def wait_for(self, pattern: str | re.Pattern[str], start: int = 0, timeout: float = WAIT) -> int:
        """Index of the first line at or after ``start`` that matches ``pattern`` (re.search)."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        with self._cond:
            pos = start
            while True:
                while pos < len(self.lines):
                    if regex.search(self.lines[pos]):
                        return pos
                    pos += 1
                left = deadline - time.monotonic()
                if self._eof or left <= 0:
                    raise AssertionError(f"no line matching {regex.pattern!r} from {Path(self.argv[0]).name} "
                                         f"(exited: {self._eof}); output:\n" + "\n".join(self.lines[start:]))
                self._cond.wait(left)

    def snapshot(self) -> list[str]:
        with self._cond:
            return list(self.lines)

    def close(self, timeout: float = WAIT) -> int:
        """Close stdin (the shells exit at EOF) and wait for the exit code; kill on timeout."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(BrokenPipeError, OSError):
                self.proc.stdin.close()
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise
        self._reader.join(timeout)
        self._close_pipes()
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._reader.join(5)
        self._close_pipes()

    def _close_pipes(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None and not self._reader.is_alive():
                with contextlib.suppress(OSError):
                    pipe.close()


# -- zkCli.sh ---------------------------------------------------------------------------------

#: zkCli's ZooKeeperMain.MyWatcher prints ``"\nWATCHER::"`` then ``"\n" + event``.
_EVENT = re.compile(r"^WatchedEvent state:(\w+) type:(\w+) path:(\S+)$")
_MARKER = "ZooKeeper CLI version:"  # what the client-side `version` command prints


@dataclass(frozen=True)
class WatchedEvent:
    state: str
    type: str
    path: str


def java_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("JAVA_TOOL_OPTIONS", None)  # the JVM would print "Picked up ..." into the output
    env["TZ"] = "UTC"  # Stat times are printed in the local time zone
    # a client JVM that starts quickly: no JIT tiers beyond C1, serial GC, shared class data
    env["CLIENT_JVMFLAGS"] = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto -Xmx128m"
    return env


def zkcli_available() -> bool:
    return os.path.exists(ZKCLI) and shutil.which("java") is not None


class ZkCli:
    """One zkCli.sh process (one session) driven over stdin."""

    def __init__(self, hosts: str) -> None:
        if not zkcli_available():
            pytest.fail("Debian's zookeeper package (zkCli.sh + java) is not installed: ./run-tests installs it")
        self.hosts = hosts
        self.process = LineProcess([ZKCLI, "-server", hosts], env=java_env())
        self._pos = 0  # first line not yet handed out by run()
        self._until_marker(WAIT * 2)  # the shell reads commands; discards the banner

    # commands
    def run(self, *commands: str, timeout: float = WAIT) -> list[list[str]]:
        """Run commands in order; for each, the lines it printed (watch notifications removed)."""
        results = []
        for command in commands:
            self.process.send(command + "\n")
            results.append(strip_watcher_noise(self._until_marker(timeout)))
        return results

    def run1(self, command: str, timeout: float = WAIT) -> list[str]:
        return self.run(command, timeout=timeout)[0]

    def _until_marker(self, timeout: float) -> list[str]:
        """Send the marker command and return the output up to it.

        Commands that end with ``print`` rather than ``println`` (``setAcl -R`` errors) leave the marker on the
        same line as their last words, so the text before the marker on its line belongs to the command.
        """
        self.process.send("version\n")
        at = self.process.wait_for(re.escape(_MARKER), self._pos, timeout)
        lines = self.process.snapshot()
        chunk = lines[self._pos:at]
        before = lines[at][:lines[at].index(_MARKER)]
        if before:
            chunk.append(before)
        self._pos = at + 1
        return chunk

    # watch notifications
    @property
    def events(self) -> list[WatchedEvent]:
        found = []
        for line in self.process.snapshot():
            m = _EVENT.match(line)
            if m:
                found.append(WatchedEvent(*m.groups()))
        return found

    def node_events(self) -> list[WatchedEvent]:
        """Notifications about znodes (type None session-state events left out)."""
        return [e for e in self.events if e.type != "None"]

    def wait_events(self, count: int, timeout: float = WAIT) -> list[WatchedEvent]:
        """Wait until ``count`` node events have been printed in total; return them all."""
        deadline = time.monotonic() + timeout
        pos = 0
        while len(self.node_events()) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"expected {count} watch events, got {self.node_events()}")
            with contextlib.suppress(AssertionError):
                pos = self.process.wait_for(_EVENT, pos, min(left, 0.5)) + 1
        return self.node_events()

    def close(self) -> int:
        """``quit`` (closes the session, so its ephemerals go at once), then EOF; the exit code."""
        with contextlib.suppress(BrokenPipeError, OSError):
            self.process.send("quit\n")
        return self.process.close()

    def __enter__(self) -> ZkCli:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.close()
        except Exception:
            self.process.kill()


def strip_watcher_noise(lines: Sequence[str]) -> list[str]:
    """Drop the ``WATCHER::`` / ``WatchedEvent ...`` lines (and the blank line printed before each)."""
    out: list[str] = []
    for line in lines:
        if line.startswith("SLF4J: "):  # slf4j's "no binding" notices, printed when the first logger is made
            continue
        if line == "WATCHER::" or _EVENT.match(line):
            if out and out[-1] == "":
                out.pop()
            continue
        out.append(line)
    return out


def parse_stat(lines: Sequence[str]) -> dict[str, Any]:
    """zkCli's Stat block (``cZxid = 0x..``, ``ctime = ...``, ...) as a dict; zxids and counters as ints."""
    stat: dict[str, Any] = {}
    for line in lines:
        m = re.match(r"^(cZxid|mZxid|pZxid|ephemeralOwner|ctime|mtime|cversion|dataVersion|aclVersion|dataLength|"
                     r"numChildren) = (.*)$", line)
        if not m:
            continue
        key, value = m.groups()
        if key in ("ctime", "mtime"):
            stat[key] = value
        elif value.startswith("0x"):
            stat[key] = int(value, 16)
        else:
            stat[key] = int(value)
    return stat


STAT_KEYS = ["cZxid", "ctime", "mZxid", "mtime", "pZxid", "cversion", "dataVersion", "aclVersion", "ephemeralOwner",
             "dataLength", "numChildren"]


def split_stat(lines: Sequence[str]) -> tuple[list[str], dict[str, Any]]:
    """(the lines before the Stat block, the parsed Stat); asserts the block is complete and in zkCli's order."""
    keys = [line.split(" = ", 1)[0] for line in lines if " = " in line and line.split(" = ", 1)[0] in STAT_KEYS]
    assert keys == STAT_KEYS, lines
    first = next(i for i, line in enumerate(lines) if line.startswith("cZxid = "))
    return list(lines[:first]), parse_stat(lines[first:])


# -- the C client shell ----------------------------------------------------------------------


def cli_mt_available() -> bool:
    return os.path.exists(CLI_MT)


_C_WATCHER = re.compile(r"^Watcher (\w+) state = (\w+)(?: for path (.*))?$")


@dataclass(frozen=True)
class CEvent:
    type: str  # CREATED_EVENT, DELETED_EVENT, CHANGED_EVENT, CHILD_EVENT, SESSION_EVENT, ...
    state: str  # CONNECTED_STATE, EXPIRED_SESSION_STATE, ...
    path: str | None


class CCli:
    """``cli_mt``: the C client's sample shell. All its output goes to stderr and most commands are async.

    ``run(command)`` sends the command and then ``sync /__mN``: sync goes to the server like any request, so
    its completion is printed (by the completion thread, which also prints the watch events) after the
    command's own. The lines in between are the command's output, minus watcher lines (``events``) and
    ``time = N msec`` noise.
    """

    def __init__(self, hosts: str, *options: str) -> None:
        if not cli_mt_available():
            pytest.fail("zookeeper-bin (cli_mt) is not installed: ./run-tests installs it")
        self.process = LineProcess([CLI_MT, *options, "-h", hosts], env={**os.environ, "TZ": "UTC"})
        line = self.process.lines[self.process.wait_for(r"^Got a new session id: 0x")]
        self.session_id = int(line.rsplit("0x", 1)[1], 16)
        self._markers = 0

    def run(self, command: str, timeout: float = WAIT) -> list[str]:
        start = len(self.process.snapshot())
        self._markers += 1
        marker = f"/__m{self._markers}"
        self.process.send(f"{command}\nsync {marker}\n")
        end = self.process.wait_for(f"^\tname = {re.escape(marker)}$", start, timeout)
        lines = self.process.snapshot()[start:end]
        return [line for line in lines if line != f"[{marker}]: rc = 0" and not _C_WATCHER.match(line)
                and not re.match(r"^time = -?\d+ msec$", line)]

    @property
    def events(self) -> list[CEvent]:
        found = []
        for line in self.process.snapshot():
            m = _C_WATCHER.match(line)
            if m:
                found.append(CEvent(*m.groups()))
        return found

    def node_events(self) -> list[CEvent]:
        return [e for e in self.events if e.type != "SESSION_EVENT"]

    def wait_for(self, pattern: str, start: int = 0, timeout: float = WAIT) -> int:
        return self.process.wait_for(pattern, start, timeout)

    def close(self) -> int:
        with contextlib.suppress(BrokenPipeError, OSError):
            self.process.send("quit\n")
        return self.process.close()

    def __enter__(self) -> CCli:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.close()
        except Exception:
            self.process.kill()


def parse_c_stat(lines: Sequence[str]) -> dict[str, Any]:
    """The C shell's ``dumpStat`` block: czxid, mzxid, version, aversion (hex, 32-bit unsigned), owner."""
    text = "\n".join(lines)
    fields: dict[str, Any] = {}
    for key in ("czxid", "mzxid", "version", "aversion"):
        m = re.search(rf"\t{key}=([0-9a-f]+)", text)
        assert m is not None, (key, lines)
        fields[key] = int(m.group(1), 16)
    m = re.search(r"\tephemeralOwner = ([0-9a-f]+)", text)
    assert m is not None, lines
    fields["ephemeralOwner"] = int(m.group(1), 16)
    for key in ("ctime", "mtime"):
        m = re.search(rf"\t{key} ?= ?(\w{{3}} \w{{3}} [ \d]\d \d\d:\d\d:\d\d \d{{4}})", text)
        assert m is not None, (key, lines)
        fields[key] = m.group(1)
    return fields


# -- node-zookeeper-client ---------------------------------------------------------------------

NODE_CLIENT_VERSION = "1.1.3"
_node_lock = threading.Lock()
_node_ready = False


def ensure_node_modules() -> Path:
    """Install ``node/node_modules`` (``npm ci`` from the committed lock file) once per run; the driver path.

    Skips when node or npm is missing; fails when the install does.
    """
    global _node_ready
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("node and npm are needed for the node-zookeeper-client tests: ./run-tests installs the packages")
    with _node_lock:
        if not _node_ready:
            installed = NODE_DIR / "node_modules" / "node-zookeeper-client" / "package.json"
            if not installed.exists() or f'"version": "{NODE_CLIENT_VERSION}"' not in installed.read_text():
                proc = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, capture_output=True,
                                      text=True, timeout=600)
                if proc.returncode != 0:
                    pytest.fail(f"npm ci in {NODE_DIR} failed:\n{proc.stdout}\n{proc.stderr}")
            _node_ready = True
    return NODE_DIR / "driver.js"


# -- a recording TCP proxy --------------------------------------------------------------------


@dataclass
class ProxiedConnection:
    """Frames (payloads without the 4-byte length) one client connection exchanged with the server."""

    to_server: list[bytes] = field(default_factory=list)
    to_client: list[bytes] = field(default_factory=list)
    sockets: list[socket.socket] = field(default_factory=list, repr=False)

    def __repr__(self) -> str:
        return (f"ProxiedConnection(handshake={[len(f) for f in (self.to_server + [b''])[:1]]}->"
                f"{[len(f) for f in (self.to_client + [b''])[:1]]}, opcodes={self.request_opcodes()})")

    def request_opcodes(self) -> list[int]:
        """The opcode of every request after the ConnectRequest."""
        return [struct.unpack(">ii", f[:8])[1] for f in self.to_server[1:] if len(f) >= 8]


class RecordingProxy:
    """Listens on 127.0.0.1:0 and relays each connection to ``upstream``, recording whole frames."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.connections: list[ProxiedConnection] = []
        self._cond = threading.Condition()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._open = threading.Event()
        self._open.set()
        threading.Thread(target=self._accept, name="zk-proxy", daemon=True).start()

    @property
    def hosts(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        self._open.wait()  # a held proxy accepts but relays nothing, like a server that is unreachable
        try:
            server = socket.create_connection(self.upstream, timeout=WAIT)
            server.settimeout(None)
        except OSError:
            client.close()
            return
        conn = ProxiedConnection(sockets=[client, server])
        with self._cond:
            self.connections.append(conn)
            self._cond.notify_all()
        threading.Thread(target=self._pump, args=(client, server, conn.to_server), daemon=True).start()
        threading.Thread(target=self._pump, args=(server, client, conn.to_client), daemon=True).start()

    def hold(self) -> None:
        """Stop relaying new connections until ``release()`` (they wait, unanswered)."""
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def _pump(self, src: socket.socket, dst: socket.socket, frames: list[bytes]) -> None:
        buf = b""
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                for s in (src, dst):
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)
                return
            buf += data
            while len(buf) >= 4:
                (size,) = struct.unpack(">i", buf[:4])
                if size < 0 or len(buf) < 4 + size:
                    break
                with self._cond:
                    frames.append(buf[4:4 + size])
                    self._cond.notify_all()
                buf = buf[4 + size:]
            try:
                dst.sendall(data)
            except OSError:
                return

    def wait(self, predicate: Callable[[], bool], timeout: float = WAIT) -> None:
        with self._cond:
            if not self._cond.wait_for(predicate, timeout):
                raise AssertionError(f"proxy condition not met; connections: {self.connections!r}")

    def drop_all(self) -> None:
        """Close every relayed connection (both sides), as a network failure would."""
        with self._cond:
            conns = list(self.connections)
        for conn in conns:
            for s in conn.sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._listener.close()
        self._open.set()
        self.drop_all()

    def __enter__(self) -> RecordingProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- targets: our server or the real one ------------------------------------------------------


class _SharedRealZooKeeper:
    """Debian's ZooKeeper 3.8.0, started once for the whole pytest run (stopped at its end)."""

    instance: _SharedRealZooKeeper | None = None

    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="realzk-clients-"))
        self.zk = realzk.RealZooKeeper(self.workdir, tick_ms=TICK_MS,
                                       extra={"maxSessionTimeout": str(MAX_SESSION_TIMEOUT_MS)})
        self.zk.start()

    @classmethod
    def get(cls, config: pytest.Config) -> _SharedRealZooKeeper:
        if not realzk.available():
            pytest.fail("Debian's zookeeper package (java + /usr/share/java/zookeeper.jar) is not installed: ./run-tests installs it")
        if cls.instance is None:
            cls.instance = cls()
            config.add_cleanup(cls._stop)
        return cls.instance

    @classmethod
    def _stop(cls) -> None:
        if cls.instance is not None:
            cls.instance.zk.stop()
            shutil.rmtree(cls.instance.workdir, ignore_errors=True)
            cls.instance = None


@dataclass
class Target:
    """Where a scenario runs: ``kind`` is ``wiretwin`` or ``real``; ``hosts`` includes the test's chroot."""

    kind: str
    root_hosts: str
    chroot: str
    server: Any = None  # our RunningZkServer (None on the real one)

    @property
    def hosts(self) -> str:
        return self.root_hosts + self.chroot

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.root_hosts.rsplit(":", 1)
        return host, int(port)

    @property
    def is_real(self) -> bool:
        return self.kind == "real"

    def kazoo(self, chrooted: bool = True) -> Any:
        """A started kazoo client (another, independent client), to be stopped by the caller."""
        from kazoo.client import KazooClient
        from kazoo.handlers.threading import SequentialThreadingHandler

        client = KazooClient(hosts=self.hosts if chrooted else self.root_hosts, handler=SequentialThreadingHandler(),
                             timeout=10.0)
        client.start(timeout=WAIT)
        return client


@contextlib.contextmanager
def open_target(request: pytest.FixtureRequest, kind: str) -> Iterator[Target]:
    """A target with a fresh chroot ``/t-<uuid>`` (created on the server) for one test."""
    if kind == "wiretwin":
        factory = request.getfixturevalue("zk_server_factory")
        server = factory(tick_time_ms=TICK_MS, four_letter_whitelist=("*",), extended_types_enabled=True,
                         max_client_cnxns=0, max_session_timeout_ms=MAX_SESSION_TIMEOUT_MS)
        target = Target("wiretwin", server.hosts, f"/t-{uuid.uuid4().hex[:12]}", server)
    else:
        real = _SharedRealZooKeeper.get(request.config)
        target = Target("real", real.zk.hosts, f"/t-{uuid.uuid4().hex[:12]}")
    admin = target.kazoo(chrooted=False)
    try:
        admin.create(target.chroot)
    finally:
        admin.stop()
        admin.close()
    yield target


def digest_id(user: str, password: str) -> str:
    import base64
    import hashlib

    return f"{user}:" + base64.b64encode(hashlib.sha1(f"{user}:{password}".encode()).digest()).decode()
