"""Our zkserver against a real ZooKeeper, side by side in one run: throughput, latency, start-up, memory.

``python -m bench.zk_server [--quick] [--mode fsync|nosync|both]``

Both servers run as separate processes on 127.0.0.1 (ours as ``python -m zkserver``,
so the benchmark client and the server never share a GIL; the real one is Debian's
ZooKeeper 3.8 started exactly as ``compat_tests.zookeeper.realzk`` starts it), with the
same durability, which heads each table:

* ``fsync``: every transaction is on disk before its reply. Ours: ``--data-dir``
  with the default ``force_sync``; real: the default ``forceSync=yes``.
* ``nosync``: the log is written but flushing is left to the OS. Ours:
  ``--no-force-sync``; real: ``forceSync=no``.

Metrics, each as ours, real and the ratio ours/real:

* throughput (ops/s) of create, getData, setData and exists with many requests in
  flight, from (a) a raw-socket pipelined client built on ``wire.zk`` (every request
  pre-encoded, a window of outstanding requests on one connection, replies only
  counted and checked for ``err == 0``), and (b) kazoo's async API (``create_async``
  etc., a window of outstanding results);
* latency p50/p99 of synchronous getData and setData (one request outstanding, raw client);
* start-up: spawn until the ``listening`` line (ours only), and spawn until ``ruok``
  answers ``imok`` (both; polled with a 1 ms back-off, no fixed sleeps);
* RSS (``VmRSS`` of ``/proc/PID/status``) right after start-up and after the whole
  fixed workload of the table.

Every throughput figure is the median of ``rounds`` runs, alternating which server
goes first; both servers get the same untimed warm-up first (the JVM needs it). The
targets the project states are checked and reported as met or not: at least the real
server's throughput, and start-up under 100 ms. No figure is asserted anywhere.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import selectors
import shlex
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.measure import fmt, percentile, python_floor_ms, rss_kib, table
from wire.errors import DecodeError
from wire.framing import FrameBuffer, frame
from wire.zk import records as R
from wire.zk.protocol import OPEN_ACL_UNSAFE, OpCode, encode_request

HOST = "127.0.0.1"
ZK_JAR = "/usr/share/java/zookeeper.jar"
SESSION_TIMEOUT_MS = 30_000
TICK_MS = 2000  # both servers: ours' default, so both clamp session timeouts to 4 s .. 40 s
VALUE = b"v" * 64  # the payload of every create and setData
OPS = ("create", "getData", "setData", "exists")
STARTUP_TARGET_MS = 100.0
FIXED_WORKLOAD_CAP_S = 120.0  # the RSS workload must finish: this only bounds a hung server

_REPLY_HEAD = struct.Struct(">iqi")  # ReplyHeader: xid, zxid, err
_LEN = struct.Struct(">i")

MODES: dict[str, str] = {
    "fsync": "fsync before every reply on both "
             "(ours: --data-dir, force_sync on [default]; real: forceSync=yes [default])",
    "nosync": "no fsync on either, flushing left to the OS (ours: --data-dir --no-force-sync; real: forceSync=no)",
}


# -- sizes -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sizes:
    n: int  # requests per raw pipelined run
    kazoo_n: int  # requests per kazoo async run
    window: int  # outstanding requests
    rounds: int  # runs per throughput figure (median)
    latency_n: int  # samples per latency figure
    warmup: int  # untimed requests per op and client before measuring
    startups: int  # start-ups per server for the start-up figure (median)
    cap_s: float  # no new request after this long in one run (the rate counts what was answered)


    warm_cap_s: float  # the same for each warm-up run
    warm_kazoo: bool  # warm up through kazoo too (not only the raw client)
    rss_nodes: int  # the fixed workload before the RSS reading: create, getData, setData, exists of this many nodes

    def describe(self) -> str:
        return (f"throughput: raw n={self.n}, kazoo n={self.kazoo_n} per run, sending stops after {self.cap_s:g} s"
                f" (the rate counts the replies received), window {self.window}, median of {self.rounds} round(s)"
                f" alternating which server goes first; latency n={self.latency_n}; start-up median of {self.startups};"
                f" RSS after a fixed workload (right after start-up): create, getData, setData, exists of"
                f" {self.rss_nodes} nodes of {len(VALUE)} bytes, raw pipelined, not time-capped")


QUICK = Sizes(n=2000, kazoo_n=1000, window=1000, rounds=1, latency_n=300, warmup=500, startups=1, cap_s=1.0,
              warm_cap_s=0.5, warm_kazoo=False, rss_nodes=1000)
FULL = Sizes(n=20000, kazoo_n=10000, window=1000, rounds=3, latency_n=2000, warmup=3000, startups=3, cap_s=6.0,
             warm_cap_s=2.0, warm_kazoo=True, rss_nodes=10000)
#: how ours is started (``--ours-cmd`` replaces it, e.g. to try a patched server); the flags are appended
OURS_CMD = [sys.executable, "-m", "zkserver"]
DEFAULT_OURS_CMD = list(OURS_CMD)


# -- processes -------------------------------------------------------------------------------

def real_available() -> bool:
    return os.path.exists(ZK_JAR) and shutil.which("java") is not None


def _classpath() -> str:
    from compat_tests.zookeeper import realzk  # the one place that knows Debian's jar layout
    return realzk._classpath()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def ruok(port: int, timeout: float = 1.0) -> bool:
    """True once the server on ``port`` answers the ``ruok`` four-letter word with ``imok``."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            s.sendall(b"ruok")
            got = b""
            while len(got) < 4:
                chunk = s.recv(4 - len(got))
                if not chunk:
                    break
                got += chunk
            return got == b"imok"
    except OSError:
        return False


def four_letter(port: int, word: str, timeout: float = 2.0) -> str:
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.sendall(word.encode("ascii"))
        chunks: list[bytes] = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return b"".join(chunks).decode("utf-8", "replace")
            chunks.append(chunk)



@dataclass
class Server:
    """One started server process and how long it took to become ready."""

    kind: str  # "ours" or "real"
    proc: subprocess.Popen[bytes]
    port: int
    workdir: Path
    to_listening_ms: float | None  # spawn until the ``listening`` line (ours only)
    to_imok_ms: float  # spawn until ``ruok`` answers ``imok``
    to_session_ms: float = 0.0  # spawn until a client session is established (the server serves requests)

    @property
    def hosts(self) -> str:
        return f"{HOST}:{self.port}"

    def rss_kib(self) -> int:
        return rss_kib(self.proc.pid)

    def version(self) -> str:
        first = four_letter(self.port, "srvr").splitlines()[:1]
        version = first[0].removeprefix("Zookeeper version: ").split(",")[0] if first else "?"
        return version.split("-$")[0]  # Debian's build leaves "-${mvngit.commit.id}" in

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def _wait_imok(proc: subprocess.Popen[bytes], port: int, t0: float, deadline: float, log: Path) -> float:
    """Poll ``ruok`` (1 ms back-off) until ``imok``; the milliseconds since ``t0``."""
    while True:
        if ruok(port):
            return (time.perf_counter() - t0) * 1000
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        if time.perf_counter() > deadline:
            proc.kill()
            proc.wait()
            raise RuntimeError(f"server on port {port} not ready in time")
        time.sleep(0.001)


def _wait_session(server: Server, t0: float, deadline: float) -> Server:
    """Open a session (1 ms back-off; a real server answers imok before it serves) and note when it worked."""
    while True:
        try:
            client = RawClient(server.port, timeout=2.0)
        except (OSError, DecodeError, RuntimeError):  # refused, reset, or closed before the ConnectResponse
            if time.perf_counter() > deadline or server.proc.poll() is not None:
                server.stop()
                raise RuntimeError(f"{server.kind} server on port {server.port} never established a session")
            time.sleep(0.001)
            continue
        server.to_session_ms = (time.perf_counter() - t0) * 1000
        client.close()
        return server


def start_ours(workdir: Path, fsync: bool, timeout: float = 30.0) -> Server:
    workdir.mkdir(parents=True, exist_ok=True)
    cmd = [*OURS_CMD, "--host", HOST, "--port", "0", "--data-dir", str(workdir / "data"),
           "--tick-time", str(TICK_MS), "--4lw", "*"]
    if not fsync:
        cmd.append("--no-force-sync")
    log = workdir / "zkserver.log"
    with open(log, "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL)
    deadline = t0 + timeout
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout=timeout):
            proc.kill()
            proc.wait()
            raise RuntimeError("zkserver printed no listening line in time")
    line = proc.stdout.readline().decode()
    to_listening = (time.perf_counter() - t0) * 1000
    match = re.match(r"listening [^:]+:(\d+)", line)
    if match is None:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"zkserver said {line!r}: {log.read_text(errors='replace')[-2000:]}")
    port = int(match.group(1))
    to_imok = _wait_imok(proc, port, t0, deadline, log)
    return _wait_session(Server("ours", proc, port, workdir, to_listening, to_imok), t0, deadline)


def start_real(workdir: Path, fsync: bool, timeout: float = 60.0) -> Server:
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    cfg = workdir / "zoo.cfg"
    lines = {
        "tickTime": str(TICK_MS),
        "dataDir": str(data),
        "clientPort": str(port),
        "clientPortAddress": HOST,
        "4lw.commands.whitelist": "*",
        "admin.enableServer": "false",
        "maxClientCnxns": "0",
        "forceSync": "yes" if fsync else "no",
    }
    cfg.write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
    log = workdir / "zookeeper.log"
    cmd = ["java", "-Xmx256m", "-Dzookeeper.admin.enableServer=false", "-Dzookeeper.extendedTypesEnabled=true",
           "-cp", _classpath(), "org.apache.zookeeper.server.ZooKeeperServerMain", str(cfg)]
    with open(log, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=workdir)
    to_imok = _wait_imok(proc, port, t0, t0 + timeout, log)
    return _wait_session(Server("real", proc, port, workdir, None, to_imok), t0, t0 + timeout)


# -- the raw pipelined client ------------------------------------------------------------------

class RawClient:
    """A minimal blocking ZooKeeper client on ``wire.zk``: a session, sync calls and a pipelined burst."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.frames = FrameBuffer()
        self.xid = 0
        try:
            self.sock.sendall(frame(R.ConnectRequest(0, 0, SESSION_TIMEOUT_MS, 0, b"\0" * 16, False).encode()))
            reply = R.ConnectResponse.decode(self._read_frame())
            if reply.session_id == 0:
                raise RuntimeError("session refused")
        except BaseException:
            self.sock.close()
            raise
        self.session_id = reply.session_id

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _read_frame(self) -> bytes:
        while True:
            payload = self.frames.next_frame()
            if payload is not None:
                return payload
            data = self.sock.recv(1 << 16)
            if not data:
                raise ConnectionError("server closed the connection")
            self.frames.feed(data)

    def next_xid(self) -> int:
        self.xid += 1
        return self.xid

    def request(self, op: int, body: Any) -> bytes:
        """One framed request with the next xid."""
        return frame(encode_request(self.next_xid(), op, body))

    def call(self, wire: bytes) -> int:
        """Send one framed request and wait for its reply; returns the reply's err (notifications skipped)."""
        self.sock.sendall(wire)
        while True:
            xid, _zxid, err = _REPLY_HEAD.unpack_from(self._read_frame(), 0)
            if xid != -1:
                return int(err)

    def pipeline(self, wires: Sequence[bytes], window: int, stop_at: float, deadline: float) -> tuple[int, int]:
        """Send the requests with at most ``window`` unanswered; returns (replies, replies with err != 0).

        No request is sent after ``stop_at`` (the replies still owed are awaited, until ``deadline``).
        """
        n = len(wires)
        sock = self.sock
        sock.setblocking(False)
        errors = 0
        sent = received = 0
        pending = b""
        buf = bytearray()
        first_xid = _LEN.unpack_from(wires[0], 4)[0] if n else 0  # RequestHeader.xid, after the length
        with selectors.DefaultSelector() as sel:
            sel.register(sock, selectors.EVENT_READ)
            mask = selectors.EVENT_READ
            while received < n:
                if not pending and sent < n and sent - received < window:
                    if time.perf_counter() > stop_at:
                        n = sent  # time is up: stop sending, collect what is owed
                        if received >= n:
                            break
                        continue
                    take = min(window - (sent - received), n - sent)
                    pending = b"".join(wires[sent:sent + take])
                    sent += take
                if pending:
                    try:
                        done = sock.send(pending)
                        pending = pending[done:]
                    except BlockingIOError:
                        pass
                want = selectors.EVENT_READ | (selectors.EVENT_WRITE if pending else 0)
                if want != mask:
                    sel.modify(sock, want)
                    mask = want
                if not sel.select(timeout=max(0.0, deadline - time.perf_counter())):
                    raise TimeoutError(f"pipeline: {received} of {n} replies before the deadline")
                try:
                    data = sock.recv(1 << 20)
                except BlockingIOError:
                    continue
                if not data:
                    raise ConnectionError(f"server closed the connection after {received} of {n} replies")
                buf += data
                pos, end = 0, len(buf)
                while end - pos >= 4:
                    (size,) = _LEN.unpack_from(buf, pos)
                    if end - pos - 4 < size:
                        break
                    xid, _zxid, err = _REPLY_HEAD.unpack_from(buf, pos + 4)
                    pos += 4 + size
                    if xid == -1:
                        continue  # a watch notification
                    if xid != first_xid + received:
                        raise RuntimeError(f"reply xid {xid} out of order (expected {first_xid + received})")
                    received += 1
                    if err:
                        errors += 1
                del buf[:pos]
        sock.setblocking(True)
        return received, errors

    def close(self) -> None:
        try:
            self.call(self.request(OpCode.closeSession, None))
        except OSError:
            pass
        self.sock.close()


def _raw_request(client: RawClient, op: str, path: str) -> bytes:
    if op == "create":
        return client.request(OpCode.create, R.CreateRequest(path, VALUE, list(OPEN_ACL_UNSAFE), 0))
    if op == "getData":
        return client.request(OpCode.getData, R.GetDataRequest(path, False))
    if op == "setData":
        return client.request(OpCode.setData, R.SetDataRequest(path, VALUE, -1))
    if op == "exists":
        return client.request(OpCode.exists, R.ExistsRequest(path, False))
    raise ValueError(op)


def raw_ensure(port: int, *paths: str) -> None:
    """Create each path (parents first, as given) if missing."""
    with RawClient(port) as client:
        for path in paths:
            err = client.call(_raw_request(client, "create", path))
            if err not in (0, -110):  # ok, NODEEXISTS
                raise RuntimeError(f"create {path}: err {err}")


@dataclass(frozen=True)
class Run:
    """One throughput run: how many requests were answered, in how long."""

    done: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.done / self.seconds


def raw_throughput(port: int, op: str, paths: Sequence[str], window: int, cap_s: float) -> Run:
    """``op`` over ``paths``, pipelined on one connection (encoding done before the clock starts).

    Sending stops after ``cap_s`` seconds; the rate counts the replies received.
    """
    with RawClient(port) as client:
        wires = [_raw_request(client, op, p) for p in paths]
        gc.collect()
        t0 = time.perf_counter()
        done, errors = client.pipeline(wires, window, t0 + cap_s, t0 + cap_s + 60)
        elapsed = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"raw {op}: {errors} of {done} replies were errors")
    return Run(done, elapsed)


def raw_latency(port: int, op: str, paths: Sequence[str], cap_s: float) -> list[float]:
    """Microseconds per synchronous request, one outstanding at a time (no new request after ``cap_s``)."""
    with RawClient(port) as client:
        wires = [_raw_request(client, op, p) for p in paths]
        samples: list[float] = []
        gc.collect()
        stop = time.perf_counter() + cap_s
        for wire in wires:
            t0 = time.perf_counter_ns()
            err = client.call(wire)
            samples.append((time.perf_counter_ns() - t0) / 1000)
            if err:
                raise RuntimeError(f"raw {op}: err {err}")
            if time.perf_counter() > stop:
                break
    return samples


# -- kazoo -------------------------------------------------------------------------------------

@contextmanager
def kazoo_client(hosts: str) -> Iterator[Any]:
    from kazoo.client import KazooClient
    zk = KazooClient(hosts=hosts, timeout=SESSION_TIMEOUT_MS / 1000)
    zk.start(timeout=20)
    try:
        yield zk
    finally:
        zk.stop()
        zk.close()


def kazoo_throughput(hosts: str, op: str, paths: Sequence[str], window: int, cap_s: float) -> Run:
    """kazoo's ``<op>_async`` with at most ``window`` results outstanding; no new request after ``cap_s``."""
    with kazoo_client(hosts) as zk:
        call: Callable[[str], Any]
        if op == "create":
            call = lambda p: zk.create_async(p, VALUE)  # noqa: E731
        elif op == "getData":
            call = zk.get_async
        elif op == "setData":
            call = lambda p: zk.set_async(p, VALUE)  # noqa: E731
        elif op == "exists":
            call = zk.exists_async
        else:
            raise ValueError(op)
        outstanding: deque[Any] = deque()
        gc.collect()
        t0 = time.perf_counter()
        stop = t0 + cap_s
        deadline = stop + 60
        done = 0

        def settle() -> None:
            result = outstanding.popleft().get(timeout=max(0.001, deadline - time.perf_counter()))
            if result is None and op == "exists":
                raise RuntimeError("kazoo exists: a node is missing")

        for path in paths:
            outstanding.append(call(path))
            done += 1
            if len(outstanding) >= window:
                settle()
                if time.perf_counter() > stop:
                    break
        while outstanding:
            settle()
        elapsed = time.perf_counter() - t0
    return Run(done, elapsed)


# -- the table -----------------------------------------------------------------------------------

@dataclass
class Row:
    metric: str
    unit: str
    ours: float | None
    real: float | None
    higher_is_better: bool
    target: str = ""  # "" or a rule evaluated into met / NOT met

    def ratio(self) -> float | None:
        if self.ours is None or self.real is None or self.real == 0:
            return None
        return self.ours / self.real

    def verdict(self) -> str:
        if self.target == "match-real":
            r = self.ratio()
            return "n/a" if r is None else ("met" if r >= 1.0 else "NOT met")
        if self.target == "startup":
            return "n/a" if self.ours is None else ("met" if self.ours < STARTUP_TARGET_MS else "NOT met")
        return ""

    def target_text(self) -> str:
        if self.target == "match-real":
            return f">= real: {self.verdict()}"
        if self.target == "startup":
            return f"< {STARTUP_TARGET_MS:.0f} ms: {self.verdict()}"
        return "lower is better" if not self.higher_is_better else "higher is better"



def render(rows: Sequence[Row]) -> str:
    head = ["metric", "unit", "ours", "real", "ours/real", "target"]
    cells = [[r.metric, r.unit, fmt(r.ours), fmt(r.real), (lambda x: "n/a" if x is None else f"{x:.2f}")(r.ratio()),
              r.target_text()] for r in rows]
    return table(head, cells, right={2, 3, 4})



# -- one mode --------------------------------------------------------------------------------------

@dataclass
class ModeResult:
    mode: str
    rows: list[Row]
    versions: dict[str, str] = field(default_factory=dict)
    load: float = 0.0  # the 1-minute load average at the end (other work on the machine skews every figure)


def _paths(base: str, count: int) -> list[str]:
    return [f"{base}/n{i:07d}" for i in range(count)]


def run_mode(mode: str, sizes: Sizes, root: Path, with_real: bool) -> ModeResult:
    fsync = mode == "fsync"
    kinds = ["ours", "real"] if with_real else ["ours"]
    starters: dict[str, Callable[[Path, bool], Server]] = {"ours": start_ours, "real": start_real}
    started: dict[str, list[Server]] = {k: [] for k in kinds}
    # extra start-ups (each on a fresh data dir), one at a time so they do not compete for the CPUs
    for i in range(sizes.startups - 1):
        for kind in kinds:
            server = starters[kind](root / f"{mode}-{kind}-startup{i}", fsync)
            server.stop()
            started[kind].append(server)

    def alternate(rnd: int) -> list[str]:
        return kinds if rnd % 2 == 0 else list(reversed(kinds))

    with ExitStack() as stack:
        servers: dict[str, Server] = {}
        for kind in kinds:
            server = starters[kind](root / f"{mode}-{kind}", fsync)
            stack.callback(server.stop)
            servers[kind] = server
            started[kind].append(server)
        idle_rss = {kind: server.rss_kib() for kind, server in servers.items()}
        # the fixed workload for the memory figure: the same requests on both, every one answered
        fixed = _paths("/fixed", sizes.rss_nodes)
        for server in servers.values():
            raw_ensure(server.port, "/fixed")
            for op in OPS:
                run = raw_throughput(server.port, op, fixed, sizes.window, FIXED_WORKLOAD_CAP_S)
                if run.done != len(fixed):
                    raise RuntimeError(f"{server.kind}: the fixed workload's {op} did not finish in time")
        workload_rss = {kind: server.rss_kib() for kind, server in servers.items()}

        # warm-up: the same untimed load on both (the JVM's JIT needs it; ours gains nothing from it)
        for kind, server in servers.items():
            raw_ensure(server.port, "/warm", "/warm/raw", "/warm/kz")
            raw_paths = _paths("/warm/raw", sizes.warmup)
            kz_paths = _paths("/warm/kz", sizes.warmup // 2)
            cap = sizes.warm_cap_s
            warm_raw = raw_throughput(server.port, "create", raw_paths, sizes.window, cap).done
            warm_kz = 0
            if sizes.warm_kazoo:
                warm_kz = kazoo_throughput(server.hosts, "create", kz_paths, sizes.window, cap).done
            for op in OPS[1:]:
                raw_throughput(server.port, op, raw_paths[:warm_raw], sizes.window, cap)
                if sizes.warm_kazoo:
                    kazoo_throughput(server.hosts, op, kz_paths[:warm_kz], sizes.window, cap)
            raw_latency(server.port, "getData", raw_paths[:200], cap)
        result = ModeResult(mode, [], {k: s.version() for k, s in servers.items()})

        for server in servers.values():
            raw_ensure(server.port, "/raw", *(f"/raw/r{i}" for i in range(sizes.rounds)),
                       "/kz", *(f"/kz/r{i}" for i in range(sizes.rounds)))
        # the nodes round 0's create made on each server: getData/setData/exists cycle over them
        made: dict[tuple[str, str], int] = {}

        def cycled(base: str, count: int, total: int) -> list[str]:
            paths = _paths(base, max(1, count))
            return (paths * (total // len(paths) + 1))[:total]

        def raw_fn(server: Server, op: str, rnd: int) -> Run:
            if op == "create":
                run = raw_throughput(server.port, op, _paths(f"/raw/r{rnd}", sizes.n), sizes.window, sizes.cap_s)
                if rnd == 0:
                    made[("raw", server.kind)] = run.done
                return run
            paths = cycled("/raw/r0", made[("raw", server.kind)], sizes.n)
            return raw_throughput(server.port, op, paths, sizes.window, sizes.cap_s)

        def kazoo_fn(server: Server, op: str, rnd: int) -> Run:
            if op == "create":
                run = kazoo_throughput(server.hosts, op, _paths(f"/kz/r{rnd}", sizes.kazoo_n), sizes.window,
                                       sizes.cap_s)
                if rnd == 0:
                    made[("kz", server.kind)] = run.done
                return run
            paths = cycled("/kz/r0", made[("kz", server.kind)], sizes.kazoo_n)
            return kazoo_throughput(server.hosts, op, paths, sizes.window, sizes.cap_s)

        def measure(client: str, fn: Callable[[Server, str, int], Run]) -> None:
            for op in OPS:
                rates: dict[str, list[float]] = {k: [] for k in kinds}
                for rnd in range(sizes.rounds):
                    for kind in alternate(rnd):
                        rates[kind].append(fn(servers[kind], op, rnd).rate)
                med = {k: statistics.median(v) for k, v in rates.items()}
                result.rows.append(Row(f"{client} {op}", "ops/s", med.get("ours"), med.get("real"), True,
                                       "match-real"))

        measure(f"raw pipelined (window {sizes.window})", raw_fn)
        measure(f"kazoo async (window {sizes.window})", kazoo_fn)

        # latency: the samples are taken in ``rounds`` slices, alternating which server goes first
        for op in ("getData", "setData"):
            samples: dict[str, list[float]] = {k: [] for k in kinds}
            per_round = max(1, sizes.latency_n // sizes.rounds)
            for rnd in range(sizes.rounds):
                for kind in alternate(rnd):
                    paths = cycled("/raw/r0", made[("raw", kind)], per_round)
                    samples[kind] += raw_latency(servers[kind].port, op, paths, sizes.cap_s / sizes.rounds)
            for q in (50, 99):
                result.rows.append(Row(f"sync {op} latency p{q}", "us", percentile(samples["ours"], q),
                                       percentile(samples["real"], q) if "real" in samples else None, False))

        def median_of(kind: str, attr: str) -> float | None:
            values = [getattr(s, attr) for s in started.get(kind, [])]
            values = [v for v in values if v is not None]
            return statistics.median(values) if values else None

        result.rows.append(Row("start-up: spawn to listening line", "ms", median_of("ours", "to_listening_ms"),
                               None, False, "startup"))
        result.rows.append(Row("start-up: spawn to ruok=imok", "ms", median_of("ours", "to_imok_ms"),
                               median_of("real", "to_imok_ms"), False, "startup"))
        result.rows.append(Row("start-up: spawn to first session", "ms", median_of("ours", "to_session_ms"),
                               median_of("real", "to_session_ms"), False, "startup"))
        result.rows.append(Row("RSS idle after start-up", "MiB", idle_rss["ours"] / 1024,
                               idle_rss["real"] / 1024 if "real" in idle_rss else None, False))
        result.rows.append(Row("RSS after a fixed workload", "MiB", workload_rss["ours"] / 1024,
                               workload_rss["real"] / 1024 if "real" in workload_rss else None, False))
        result.load = os.getloadavg()[0]
    return result



def report(result: ModeResult, sizes: Sizes, floor_ms: float) -> str:
    versions = ", ".join(f"{k}: {v}" for k, v in result.versions.items())
    lines = [
        f"== durability: {MODES[result.mode]} ==",
        f"servers ({versions}) as separate processes on {HOST}; tickTime {TICK_MS} ms; "
        f"load average {result.load:.2f} on {os.cpu_count()} CPUs",
        sizes.describe(),
        *([f"ours started as: {shlex.join(OURS_CMD)} (not the default)"] if OURS_CMD != DEFAULT_OURS_CMD else []),
        "",
        render(result.rows),
        "",
    ]
    through = [r for r in result.rows if r.target == "match-real"]
    met = [r for r in through if r.verdict() == "met"]
    if any(r.real is not None for r in through):
        worst = min(through, key=lambda r: r.ratio() or 0.0)
        lines.append(f"target 'throughput >= real': met on {len(met)} of {len(through)} rows"
                     f" (worst: {worst.metric}, ours/real {worst.ratio() or 0:.2f})")
    else:
        lines.append("target 'throughput >= real': not checked (no real ZooKeeper on this machine)")
    imok = next(r for r in result.rows if r.metric == "start-up: spawn to ruok=imok")
    session = next(r for r in result.rows if r.metric == "start-up: spawn to first session")
    lines.append(f"target 'start-up < {STARTUP_TARGET_MS:.0f} ms': {imok.verdict()} ({fmt(imok.ours)} ms to imok,"
                 f" {fmt(session.ours)} ms to a session; a bare `python -c pass` takes {floor_ms:.0f} ms here)")
    if os.environ.get("PYTHONDONTWRITEBYTECODE") and OURS_CMD == DEFAULT_OURS_CMD:
        lines.append("note: PYTHONDONTWRITEBYTECODE is set, so ours compiles its own (editable) sources at every start")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.zk_server", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of every metric")
    parser.add_argument("--mode", choices=["fsync", "nosync", "both"], default="both",
                        help="durability on both servers (default: both modes, fsync first)")
    parser.add_argument("--ours-cmd", help="the command that starts ours, flags appended (default: -m zkserver with"
                        " this interpreter), e.g. to measure a patched server")
    args = parser.parse_args(argv)
    if args.ours_cmd:
        OURS_CMD[:] = shlex.split(args.ours_cmd)
    sizes = QUICK if args.quick else FULL
    with_real = real_available()
    if not with_real:
        print(f"note: no real ZooKeeper ({ZK_JAR} and java): the real column is n/a", flush=True)
    modes = ["fsync", "nosync"] if args.mode == "both" else [args.mode]
    floor = python_floor_ms()
    with tempfile.TemporaryDirectory(prefix="zkbench-") as tmp:
        for i, mode in enumerate(modes):
            t0 = time.perf_counter()
            result = run_mode(mode, sizes, Path(tmp), with_real)
            if i:
                print()
            print(report(result, sizes, floor))
            print(f"({mode} mode took {time.perf_counter() - t0:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
