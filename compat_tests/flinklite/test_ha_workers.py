"""ZooKeeper high availability with parallel workers: `python -m flinklite run --workers 2 -D
high-availability.type=zookeeper ...` is a job manager that leads before it spawns its workers,
checkpoints through ZooKeeper and, when it dies, takes its workers with it; a standby started
with the same command takes over, spawns its own workers and resumes from the latest completed
checkpoint in ZooKeeper.

The job (compat_tests/flinklite/jobs/worker_counter.py) reads the 3-partition "words" topic of
test_exactly_once at parallelism 2, keeps a running count per word and writes "word:n" through the
EXACTLY_ONCE KafkaSink, checkpointing every 100 ms. Two job managers with the same settings: the
leader is killed with SIGKILL once ZooKeeper shows N more completed checkpoints (N from a fixed
seed), frozen with SIGSTOP past its session and thawed after the takeover, or loses its session
while running (ZooKeeper expires it). Its workers must exit (after SIGKILL well before the standby
leads: no orphan keeps processing or commits), and read_committed must hold every expected result
once, in order per word, with no transaction left open. About 22 s together.

Helpers come from the job-manager failover test (processes, kill points, the ZooKeeper quorum)
and the exactly-once test (input and the read_committed check)."""

from __future__ import annotations

import os
import random
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from broker.testing import RunningBroker
from compat_tests.flinklite.test_exactly_once import check, write_input
from compat_tests.flinklite.test_ha_zookeeper import (
    WAIT,
    Quorum,
    ha_conf,
    wait_for_children,
)
from compat_tests.flinklite.test_jobmanager_failover import (  # noqa: F401 - job_home is a fixture
    JobProcess,
    KillPoint,
    job_home,
)
from zkserver.testing import RunningZkServer

REPO = Path(__file__).resolve().parents[2]
JOB = str(REPO / "compat_tests" / "flinklite" / "jobs" / "worker_counter.py")
SEED = 20261203


def worker_pids(parent: int) -> list[int]:
    """The `python -m flinklite worker` processes `parent` started (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if ppid == parent and b"worker" in cmdline and b"flinklite" in cmdline:
            found.append(int(entry))
    return sorted(found)


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for whoever reaps it)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {timeout} s"
        time.sleep(0.02)


class HaWorkersJob:
    """The job's two job managers (each with --workers 2) in one HA cluster."""

    def __init__(self, bootstrap: str, reader: KazooClient, quorum_conf: dict[str, str], tmp: Path,
                 name: str, zk: RunningZkServer) -> None:
        self.bootstrap, self.reader, self.zk = bootstrap, reader, zk
        self.root = f"/flink/ha-workers-{name}"
        self.started: list[JobProcess] = []
        self.argv = ["-m", "flinklite", "run", "--progress", "0", "--workers", "2",
                     *(arg for key, value in quorum_conf.items() for arg in ("-D", f"{key}={value}")),
                     JOB, "--bootstrap", bootstrap, "--topic", "words", "--out", "counts", "--prefix", f"haw-{name}",
                     "--checkpoints", str(tmp / "checkpoints"), "--interval-ms", "100", "--pace-every", "1"]
        self.job_id = ""

    def start(self) -> JobProcess:
        process = JobProcess(self.argv)
        self.started.append(process)
        return process

    def lead(self) -> tuple[JobProcess, list[int]]:
        """The first job manager: it leads, then spawns its two workers."""
        leader = self.start()
        (self.job_id,) = wait_for_children(self.reader, f"{self.root}/jobs", lambda c: len(c) == 1)
        wait_until(lambda: len(worker_pids(leader.proc.pid)) == 2, "the leader spawned two workers")
        return leader, worker_pids(leader.proc.pid)

    def standby(self) -> JobProcess:
        standby = self.start()
        wait_for_children(self.reader, f"{self.root}/leader/latch", lambda c: len(c) == 2)
        assert worker_pids(standby.proc.pid) == []  # a standby spawns no workers
        return standby

    def leader_session(self) -> int:
        """The ZooKeeper session of the leading job manager (the owner of the first latch node)."""
        latch = f"{self.root}/leader/latch"
        first = min(self.reader.get_children(latch), key=lambda name: name.rsplit("-", 1)[1])
        stat = self.reader.exists(f"{latch}/{first}")
        assert stat is not None
        return int(stat.ephemeralOwner)

    def latest_checkpoint(self) -> int | None:
        path = f"{self.root}/jobs/{self.job_id}/checkpoints"
        children = self.reader.get_children(path) if self.reader.exists(path) else []
        return max(map(int, children)) if children else None

    def wait_checkpoints(self, more: int) -> int:
        target = (self.latest_checkpoint() or 0) + more
        wait_for_children(self.reader, f"{self.root}/jobs/{self.job_id}/checkpoints",
                          lambda c: bool(c) and max(map(int, c)) >= target)
        return target

    def finish(self, standby: JobProcess, totals: dict[str, int]) -> None:
        assert standby.proc.wait(WAIT * 2) == 0, standby.stderr_tail()
        assert len(worker_pids(standby.proc.pid)) == 0
        check(self.bootstrap, totals)  # read_committed: every result once, in order per word; nothing open
        assert self.reader.get_children(f"{self.root}/jobs") == []  # the finished job's HA data is gone

    def stop_all(self) -> None:
        for process in self.started:
            for pid in worker_pids(process.proc.pid):
                os.kill(pid, signal.SIGKILL)
            if process.proc.poll() is None:
                os.kill(process.proc.pid, signal.SIGCONT)
            process.stop()


@pytest.fixture
def ha_job(kafka_broker: RunningBroker, zk_server_factory: Callable[..., RunningZkServer],
           job_home: Path) -> Iterator[tuple[HaWorkersJob, dict[str, int]]]:  # noqa: F811 - the fixture above
    zk = zk_server_factory(tick_time_ms=100, max_client_cnxns=0)  # as test_jobmanager_failover's quorum
    quorum = Quorum("wiretwin", zk.hosts)
    reader = quorum.client()
    name = uuid.uuid4().hex[:8]
    bootstrap = kafka_broker.bootstrap_servers
    totals = write_input(bootstrap, "words")
    job = HaWorkersJob(bootstrap, reader, ha_conf(quorum, job_home, cluster_id=f"/ha-workers-{name}"), job_home, name,
                       zk)
    try:
        yield job, totals
    finally:
        job.stop_all()
        reader.stop()
        reader.close()


def test_a_killed_job_manager_takes_its_workers_along_and_the_standby_resumes_exactly_once(
        ha_job: tuple[HaWorkersJob, dict[str, int]]) -> None:
    job, totals = ha_job
    kill = KillPoint("checkpoint", random.Random(SEED).randint(1, 3))
    leader, workers = job.lead()
    standby = job.standby()
    job.wait_checkpoints(kill.at)
    leader.kill9()
    assert leader.proc.returncode == -signal.SIGKILL
    # no orphan: the workers see their control connection end and exit, well before the dead
    # leader's session (2 s) expires and the standby leads
    wait_until(lambda: not any(map(running, workers)), f"workers {workers} of the killed job manager exited", 5.0)
    restored = job.latest_checkpoint()
    assert restored is not None
    job.finish(standby, totals)
    leader.rest()
    stderr = standby.stderr_tail()
    assert "Leading as job manager" in stderr and "workers join at" in stderr, stderr


def test_a_frozen_job_manager_stands_down_and_its_workers_commit_nothing(
        ha_job: tuple[HaWorkersJob, dict[str, int]]) -> None:
    """SIGSTOP freezes the job manager, not its workers: they read on to the end of their input
    but may not commit it (their sinks' end of input waits for the job manager's "close"). The
    standby takes over once the frozen session expires and fences their transactions; thawed,
    the old job manager finds its leadership gone, cancels and shuts down its workers without
    completing a checkpoint or letting them commit, and fails its run (suspended)."""
    job, totals = ha_job
    leader, workers = job.lead()
    standby = job.standby()
    job.wait_checkpoints(1)
    leader.proc.send_signal(signal.SIGSTOP)
    try:
        wait_until(lambda: len(worker_pids(standby.proc.pid)) == 2, "the standby took over with its workers")
    finally:
        leader.proc.send_signal(signal.SIGCONT)
    assert leader.proc.wait(WAIT) == 1
    # refused by its own leader check, or by ZooKeeper (a checkpoint id or pointer written in a
    # transaction that checks its latch node) when it acted before kazoo noticed the lost session
    stderr = leader.stderr_tail()
    assert "lost its leadership" in stderr or "(leadership lost)" in stderr, stderr
    wait_until(lambda: not any(map(running, workers)), f"workers {workers} of the thawed job manager exited", 15.0)
    job.finish(standby, totals)


def test_a_job_manager_that_loses_its_leadership_stops_its_workers(
        ha_job: tuple[HaWorkersJob, dict[str, int]]) -> None:
    """ZooKeeper expires the running leader's session (as after a network partition): on_revoked
    stops its executor, which cancels the attempt and shuts its workers down; the run fails as
    suspended, and the standby, leading at once, finishes exactly once."""
    job, totals = ha_job
    leader, workers = job.lead()
    standby = job.standby()
    job.wait_checkpoints(1)
    job.zk.expire_session(job.leader_session())
    assert leader.proc.wait(WAIT) == 1
    stderr = leader.stderr_tail()
    assert "leadership revoked" in stderr and ("lost its leadership" in stderr or "(leadership lost)" in stderr), stderr
    assert "the job manager is gone" not in stderr  # shut down by it, not orphaned by its exit
    wait_until(lambda: not any(map(running, workers)), f"workers {workers} of the revoked job manager exited", 10.0)
    job.finish(standby, totals)
