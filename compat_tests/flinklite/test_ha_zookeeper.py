"""flinklite's ZooKeeper high availability against our zkserver and Debian's real ZooKeeper
(every test runs on both): the znodes Flink 2.3 writes under `<root>/<cluster-id>`, read back
with a plain kazoo client (paths, node types, payloads, owners); leader election between two
job-manager processes where the leader is killed with SIGKILL and the standby takes over once
ZooKeeper expires the dead session; the checkpoint id counter and the completed-checkpoint
pointers surviving the process that wrote them, and a restarted process continuing from them.

Waits are on kazoo watches and process output with timeouts, never fixed sleeps."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kazoo.client import KazooClient
from kazoo.handlers.threading import SequentialThreadingHandler

from compat_tests.zookeeper.realzk import RealZooKeeperRun
from flinklite.runtime.checkpoint import CompletedCheckpoint, load_checkpoint
from flinklite.runtime.ha import (
    DISPATCHER,
    LeaderInformation,
    ZooKeeperHaServices,
    job_component,
    recover,
    services_from_config,
)

REPO = Path(__file__).resolve().parents[2]
WAIT = 30.0  # upper bound on any wait; session expiry (2 s here) is the slowest thing waited for
JOB = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
SESSION_TIMEOUT = "2 s"
LATCH_NAME = re.compile(r"^_c_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-latch-\d{10}$")


@dataclass
class Quorum:
    kind: str
    hosts: str  # with the test's chroot on the real server

    def client(self) -> KazooClient:
        client = KazooClient(hosts=self.hosts, handler=SequentialThreadingHandler())
        client.start(timeout=WAIT)
        return client


@pytest.fixture(params=["wiretwin", "real"])
def quorum(request: pytest.FixtureRequest) -> Quorum:
    if request.param == "wiretwin":
        server = request.getfixturevalue("zk_server_factory")(tick_time_ms=100, max_client_cnxns=0)
        return Quorum("wiretwin", server.hosts)
    real: RealZooKeeperRun = request.getfixturevalue("real_zookeeper")
    return Quorum("real", real.zk.hosts + real.new_chroot())


@pytest.fixture
def reader(quorum: Quorum) -> Iterator[KazooClient]:
    client = quorum.client()
    yield client
    client.stop()
    client.close()


def ha_conf(quorum: Quorum, tmp_path: Path, cluster_id: str = "/wiretwin-ha") -> dict[str, str]:
    return {
        "high-availability.type": "zookeeper",
        "high-availability.zookeeper.quorum": quorum.hosts,
        "high-availability.cluster-id": cluster_id,
        "high-availability.storageDir": f"file://{tmp_path / 'ha'}",
        "high-availability.zookeeper.client.session-timeout": SESSION_TIMEOUT,
        "high-availability.zookeeper.client.connection-timeout": "10 s",
        "high-availability.zookeeper.client.retry-wait": "100 ms",
    }


def wait_for_children(client: KazooClient, path: str, predicate: Callable[[list[str]], bool]) -> list[str]:
    """Blocks until `path`'s children satisfy `predicate` (a kazoo ChildrenWatch), or fails."""
    seen: list[list[str]] = []
    done = threading.Event()

    def on_children(children: list[str]) -> bool:
        seen.append(list(children))
        if predicate(children):
            done.set()
            return False  # stop watching
        return True

    client.ensure_path(path)
    client.ChildrenWatch(path, on_children)
    assert done.wait(WAIT), f"children of {path} never matched; saw {seen}"
    return seen[-1]


class Process:
    """A `compat_tests.flinklite.ha_process` child; its stdout lines arrive on a queue."""

    def __init__(self, argv: list[str]) -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
                   PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen([sys.executable, *argv], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, cwd=REPO, env=env)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, prefix: str, timeout: float = WAIT) -> str:
        """The next line starting with `prefix` (earlier other lines are kept in .seen)."""
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no {prefix!r} line within {timeout} s; saw {self.seen}") from None
            if line is None:
                stderr = self.proc.stderr.read() if self.proc.stderr else ""
                raise AssertionError(f"process exited ({self.proc.wait()}) before {prefix!r}; saw {self.seen}; "
                                     f"stderr: {stderr[-3000:]}")
            self.seen.append(line)
            if line.startswith(prefix):
                return line

    def said(self, prefix: str) -> bool:
        """Whether a line starting with `prefix` has arrived by now (non-blocking)."""
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                break
            if line is None:
                self.lines.put(None)
                break
            self.seen.append(line)
        return any(line.startswith(prefix) for line in self.seen)

    def rest(self, timeout: float = WAIT) -> list[str]:
        """Every line up to the end of its output (the process has exited or is exiting)."""
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"output did not end within {timeout} s; saw {self.seen}") from None
            if line is None:
                self.lines.put(None)
                return self.seen
            self.seen.append(line)

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(WAIT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(WAIT)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def cli_processes() -> Iterator[Callable[[list[str]], Process]]:
    """`python -m flinklite run ...` processes, killed at the end of the test."""
    started: list[Process] = []

    def start(argv: list[str]) -> Process:
        process = Process(["-m", "flinklite", "run", "--progress", "0", *argv])
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def processes() -> Iterator[Callable[..., Process]]:
    started: list[Process] = []

    def start(conf: dict[str, str], *args: str) -> Process:
        process = Process(["-m", "compat_tests.flinklite.ha_process", json.dumps(conf), *args])
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


def test_znode_layout_is_flinks(quorum: Quorum, reader: KazooClient, tmp_path: Path) -> None:
    conf = ha_conf(quorum, tmp_path)
    root = "/flink/wiretwin-ha"
    services = services_from_config(conf)
    assert isinstance(services, ZooKeeperHaServices)
    try:
        election = services.leader_election({DISPATCHER: "flinklite://host:1/dispatcher",
                                             job_component(JOB): "flinklite://host:1/jobmanager"})
        election.start()
        assert election.await_leadership(WAIT) and election.is_leader

        # leader election: one protected latch node, EPHEMERAL, ours
        (latch,) = reader.get_children(f"{root}/leader/latch")
        assert LATCH_NAME.match(latch), latch
        stat = reader.exists(f"{root}/leader/latch/{latch}")
        assert stat.ephemeralOwner == services.session_id
        for component, address in (("dispatcher", "flinklite://host:1/dispatcher"),
                                   (f"job-{JOB}", "flinklite://host:1/jobmanager")):
            data, stat = reader.get(f"{root}/leader/{component}/connection_info")
            assert stat.ephemeralOwner == services.session_id
            assert json.loads(data) == {"address": address, "sessionId": election.session_id}
            assert services.leader_information(component) == LeaderInformation(address, str(election.session_id))

        # checkpoint id counter: Curator SharedCount bytes, starting at 1, versioned updates
        counter = services.checkpoint_id_counter(JOB)
        counter_path = f"{root}/jobs/{JOB}/checkpoint_id_counter"
        data, stat = reader.get(counter_path)
        assert data == struct.pack(">i", 1) and stat.ephemeralOwner == 0
        assert [counter.get_and_increment() for _ in range(3)] == [1, 2, 3]
        data, stat = reader.get(counter_path)
        assert data == b"\x00\x00\x00\x04" and stat.version == 3

        # completed checkpoints: %019d nodes holding a pointer to completedCheckpoint<hex>, locked
        store = services.completed_checkpoint_store(JOB, num_retained=2)
        for checkpoint_id in (1, 2, 3):
            dropped = store.add(CompletedCheckpoint(checkpoint_id, 1000 + checkpoint_id, {},
                                                    f"/chk/{JOB}/chk-{checkpoint_id}"))
            assert dropped == ([1] if checkpoint_id == 3 else [])
        checkpoints = f"{root}/jobs/{JOB}/checkpoints"
        assert sorted(reader.get_children(checkpoints)) == ["0000000000000000002", "0000000000000000003"]
        data, stat = reader.get(f"{checkpoints}/0000000000000000003")
        assert stat.ephemeralOwner == 0
        pointer = json.loads(data)
        assert pointer["version"] == 1 and pointer["checkpointId"] == 3
        file = pointer["path"]
        assert os.path.dirname(file) == str(tmp_path / "ha" / "wiretwin-ha")
        assert re.fullmatch(r"completedCheckpoint[0-9a-f]{12}", os.path.basename(file))
        with open(file) as f:
            assert json.load(f) == {"version": 1, "jobId": JOB, "checkpointId": 3, "timestamp": 1003,
                                    "externalPointer": f"/chk/{JOB}/chk-3"}
        (lock,) = reader.get_children(f"{checkpoints}/0000000000000000003/locks")
        _, stat = reader.get(f"{checkpoints}/0000000000000000003/locks/{lock}")
        assert stat.ephemeralOwner == services.session_id
        # the dropped checkpoint's pointer file is gone with its node
        assert sorted(os.listdir(tmp_path / "ha" / "wiretwin-ha")) == sorted(
            os.path.basename(p.file) for p in store.checkpoints())

        # execution plan: /execution-plans/<jobId> -> submittedExecutionPlan<hex>, locked
        plans = services.execution_plan_store()
        plans.put(JOB, {"script": "job.py", "args": ["--x", "1"]})
        data, _ = reader.get(f"{root}/execution-plans/{JOB}")
        plan_file = json.loads(data)["path"]
        assert re.fullmatch(r"submittedExecutionPlan[0-9a-f]{12}", os.path.basename(plan_file))
        assert len(reader.get_children(f"{root}/execution-plans/{JOB}/locks")) == 1
        assert plans.get(JOB) == {"script": "job.py", "args": ["--x", "1"]}
        plans.put(JOB, {"script": "job.py", "args": []})  # a re-submission replaces the pointer
        assert not os.path.exists(plan_file) and plans.get(JOB) == {"script": "job.py", "args": []}

        # nothing else under the cluster's znode
        assert sorted(reader.get_children(root)) == ["execution-plans", "jobs", "leader"]
        assert sorted(reader.get_children(f"{root}/jobs/{JOB}")) == ["checkpoint_id_counter", "checkpoints"]

        recovery = services.recover(JOB)
        assert (recovery.latest_checkpoint_id, recovery.latest_checkpoint_path, recovery.next_checkpoint_id) == \
            (3, f"/chk/{JOB}/chk-3", 4)
        assert recovery.execution_plan == {"script": "job.py", "args": []} and not recovery.finished
    finally:
        services.close()
    # closing the session removed every ephemeral node and no persistent one
    assert reader.get_children(f"{root}/leader/latch") == []
    assert not reader.exists(f"{root}/leader/dispatcher/connection_info")
    assert reader.get_children(f"{root}/jobs/{JOB}/checkpoints/0000000000000000003/locks") == []
    assert recover(conf, JOB).latest_checkpoint_id == 3


def test_counter_is_a_compare_and_set_shared_by_processes(quorum: Quorum, tmp_path: Path) -> None:
    conf = ha_conf(quorum, tmp_path)
    first, second = services_from_config(conf), services_from_config(conf)
    try:
        counters = [first.checkpoint_id_counter(JOB), second.checkpoint_id_counter(JOB)]
        taken: list[int] = []
        lock = threading.Lock()

        def take(counter: Any) -> None:
            for _ in range(25):
                value = counter.get_and_increment()
                with lock:
                    taken.append(value)

        threads = [threading.Thread(target=take, args=(c,)) for c in counters for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT)
        assert sorted(taken) == list(range(1, 101))
        assert counters[0].get() == 101
    finally:
        first.close()
        second.close()


def test_standby_takes_over_when_the_leader_is_killed(quorum: Quorum, reader: KazooClient, tmp_path: Path,
                                                       processes: Callable[..., Process]) -> None:
    conf = ha_conf(quorum, tmp_path)
    root = "/flink/wiretwin-ha"
    first = processes(conf, "contend", "--job", JOB, "--address", "flinklite://first")
    first_session = int(first.expect("SESSION").split()[1], 16)
    first.expect("LEADER")
    first.expect("DONE")
    second = processes(conf, "contend", "--job", JOB, "--address", "flinklite://second")
    second_session = int(second.expect("SESSION").split()[1], 16)

    # the second process contends (its latch node is there) but waits as a standby
    latch = wait_for_children(reader, f"{root}/leader/latch", lambda c: len(c) == 2)
    owners = sorted((reader.exists(f"{root}/leader/latch/{name}").ephemeralOwner, name) for name in latch)
    assert {owner for owner, _ in owners} == {first_session, second_session}
    assert all(LATCH_NAME.match(name) for name in latch)
    data, stat = reader.get(f"{root}/leader/dispatcher/connection_info")
    assert json.loads(data)["address"] == "flinklite://first/dispatcher" and stat.ephemeralOwner == first_session
    assert not second.said("LEADER")

    first.kill9()  # no goodbye: ZooKeeper notices when the session times out
    second.expect("LEADER")
    assert [reader.exists(f"{root}/leader/latch/{name}").ephemeralOwner
            for name in reader.get_children(f"{root}/leader/latch")] == [second_session]
    for component, address in (("dispatcher", "flinklite://second/dispatcher"),
                               (f"job-{JOB}", "flinklite://second/jobmanager")):
        data, stat = reader.get(f"{root}/leader/{component}/connection_info")
        assert json.loads(data)["address"] == address and stat.ephemeralOwner == second_session


def test_checkpoints_survive_the_process(quorum: Quorum, reader: KazooClient, tmp_path: Path,
                                         processes: Callable[..., Process]) -> None:
    conf = ha_conf(quorum, tmp_path)
    conf["execution.checkpointing.num-retained"] = "2"
    root = "/flink/wiretwin-ha"
    chk_dir = str(tmp_path / "checkpoints")
    args = ("checkpoints", "--job", JOB, "--checkpoint-dir", chk_dir, "--retained", "2")
    first = processes(conf, *args, "--count", "3")
    first.expect("LEADER")
    assert first.expect("RESUMED") == "RESUMED none 1"
    completed = [first.expect("COMPLETED").split() for _ in range(3)]
    assert [int(c[1]) for c in completed] == [1, 2, 3]
    first.expect("DONE")
    first.kill9()

    # what the dead process left: counter 4, pointers to checkpoints 2 and 3, their files on disk
    data, _ = reader.get(f"{root}/jobs/{JOB}/checkpoint_id_counter")
    assert struct.unpack(">i", data) == (4,)
    assert sorted(reader.get_children(f"{root}/jobs/{JOB}/checkpoints")) == \
        ["0000000000000000002", "0000000000000000003"]
    assert sorted(os.listdir(os.path.join(chk_dir, JOB))) == ["chk-2", "chk-3"]
    recovery = recover(conf, JOB)
    assert recovery.latest_checkpoint_id == 3 and recovery.next_checkpoint_id == 4
    assert recovery.latest_checkpoint_path == os.path.join(chk_dir, JOB, "chk-3")
    assert load_checkpoint(recovery.latest_checkpoint_path).operators == {"task": {0: {"step": 2}}}

    # the same command again: it leads once the dead session expired, resumes after checkpoint 3,
    # and retention drops the dead process's checkpoints (their locks went with its session)
    second = processes(conf, *args, "--count", "2")
    second.expect("LEADER")
    assert second.expect("RESUMED") == "RESUMED 3 4"
    assert [int(second.expect("COMPLETED").split()[1]) for _ in range(2)] == [4, 5]
    second.expect("DONE")
    assert sorted(reader.get_children(f"{root}/jobs/{JOB}/checkpoints")) == \
        ["0000000000000000004", "0000000000000000005"]
    assert sorted(os.listdir(os.path.join(chk_dir, JOB))) == ["chk-4", "chk-5"]
    assert len(os.listdir(tmp_path / "ha" / "wiretwin-ha")) == 2  # one pointer file per retained checkpoint
    data, _ = reader.get(f"{root}/jobs/{JOB}/checkpoint_id_counter")
    assert struct.unpack(">i", data) == (6,)


COUNTING_JOB = """
import time
from typing import Any

from flinklite.common import Types, WatermarkStrategy
from flinklite.datastream import KeyedProcessFunction, StreamExecutionEnvironment
from flinklite.datastream.state import ValueStateDescriptor
from flinklite.testing import TestSource
from flinklite.tests import functions


class RunningCount(functions.RunningCount):
    def render(self, value: Any, count: int) -> Any:
        return f"{value}={count}"


env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(1)
env.enable_checkpointing(100)
values = ["abc"[(i * 7 + i // 3) % 3] for i in range(VALUES)]
source = TestSource(values, interval_ms=20, start_ms=int(time.time() * 1000))
env.from_source(source, WatermarkStrategy.no_watermarks(), "numbers").key_by(lambda v: v) \\
    .process(RunningCount()).print()
env.execute("ha counting job")
"""


def test_cli_job_resumes_on_the_standby_when_the_leader_is_killed(
        quorum: Quorum, reader: KazooClient, tmp_path: Path, cli_processes: Callable[[list[str]], Process]) -> None:
    """Two `python -m flinklite run` processes with the same HA settings: the first leads and
    checkpoints, the second waits as a standby; the first is killed with SIGKILL; the second
    takes over once the session expires and resumes from the latest checkpoint it finds through
    ZooKeeper, so every key's final count is exact (the keyed state and the source position come
    from the same checkpoint)."""
    values = 150
    script = tmp_path / "job.py"
    script.write_text(COUNTING_JOB.replace("VALUES", str(values)))
    conf = ha_conf(quorum, tmp_path)
    del conf["high-availability.cluster-id"]  # the default, /default: the job id is stable all the same
    conf["execution.checkpointing.dir"] = str(tmp_path / "checkpoints")
    conf["execution.checkpointing.num-retained"] = "2"
    argv = [arg for key, value in conf.items() for arg in ("-D", f"{key}={value}")] + [str(script)]
    root = "/flink/default"

    first = cli_processes(argv)
    first.expect("a=")  # running and leading
    (job_id,) = wait_for_children(reader, f"{root}/jobs", lambda c: len(c) == 1)
    wait_for_children(reader, f"{root}/jobs/{job_id}/checkpoints", lambda c: len(c) >= 1)
    second = cli_processes(argv)
    wait_for_children(reader, f"{root}/leader/latch", lambda c: len(c) == 2)  # the standby contends
    assert not second.said("a=")
    data, _ = reader.get(f"{root}/execution-plans/{job_id}")
    with open(json.loads(data)["path"]) as f:
        assert json.load(f)["plan"] == {"jobName": "ha counting job", "script": str(script), "args": []}

    first.kill9()
    assert second.proc.wait(WAIT * 2) == 0, second.proc.stderr.read() if second.proc.stderr else ""
    final: dict[str, int] = {}
    for line in second.rest():
        key, count = line.split("=")
        final[key] = int(count)
    expected = {key: sum(1 for i in range(values) if "abc"[(i * 7 + i // 3) % 3] == key) for key in "abc"}
    assert final == expected
    # the second process resumed rather than starting over: its first count of some key is > 1
    assert any(int(line.split("=")[1]) > 1 for line in second.seen[:3])
    stderr = second.proc.stderr.read() if second.proc.stderr else ""
    assert "Waiting for leadership as a standby" in stderr
    # the job finished: its HA data is gone (Flink's cleanup of a globally terminated job)
    assert reader.get_children(f"{root}/jobs") == []
    assert reader.get_children(f"{root}/execution-plans") == []
