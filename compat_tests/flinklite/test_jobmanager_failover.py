"""Job-manager failover with exactly-once output (issue 8's fault-test proof, the job-manager
half): two `python -m flinklite run` processes with the same ZooKeeper HA settings run a keyed
job that reads a topic written by kafka-python and writes "word:n" through the EXACTLY_ONCE
KafkaSink, checkpointing every 200 ms. The leader is killed with SIGKILL at a kill point chosen by
`random.Random(seed)`: at its N-th record, right after the sink's N-th pre-commit (the checkpoint
cannot complete), when the N-th completed checkpoint reaches the sink before it commits, or from
outside once ZooKeeper shows N more completed checkpoints. The standby takes over when the dead
session expires, resumes from the latest checkpoint it finds through ZooKeeper, commits that
checkpoint's pre-committed transaction by producer id and epoch, fences what the dead leader left
open, and finishes. A read_committed confluent-kafka consumer then sees, partition by partition,
exactly the output of an uninterrupted run, record by record, and the last stable offset equals
the log end (no transaction left open).

CI: three fixed seeds on our zkserver, one on Debian's ZooKeeper, and two failovers in a row
(the leader killed, a fresh process started as the new standby, the second leader killed too);
also a leader frozen (SIGSTOP) past its session and thawed after the standby took over, which
must stand down without restarting the job (it used to, fencing the new leader's transactions
and committing a second copy of the output).
`--run-slow`: 20 random kill points (the seed is printed). Waits are on process output and
kazoo watches, never fixed sleeps."""

from __future__ import annotations

import random
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from broker.testing import RunningBroker
from compat_tests.flinklite.test_exactly_once import open_transactions_block, read_committed_partitions
from compat_tests.flinklite.test_ha_zookeeper import (
    WAIT,
    Process,
    Quorum,
    ha_conf,
    wait_for_children,
)
from compat_tests.flinklite.test_kafka_jobs import make_topics, produce
from compat_tests.zookeeper.realzk import RealZooKeeperRun

REPO = Path(__file__).resolve().parents[2]
JOB = str(REPO / "compat_tests" / "flinklite" / "jobs" / "failover_counter.py")
RECORDS = 1500  # about 1.5 s at the job's 1 ms pace: 256-record polls, a checkpoint after each
WORDS = 13
OUT_PARTITIONS = 3
KINDS = ("record", "precommit", "commit", "checkpoint")
SEEDS = [20261202, 20261205, 20261209]  # precommit 3, record 238, commit 3
REAL_ZK_SEED = 20261211  # checkpoint 1: killed from outside


@dataclass(frozen=True)
class KillPoint:
    """`record` N: the leader's N-th record; `precommit` N: right after its sink's N-th
    pre-commit; `commit` N: its N-th checkpoint-complete, before the sink commits (the job
    kills itself at these); `checkpoint` N: the test kills it once N more checkpoints are in
    ZooKeeper. Counts are within the killed process."""

    kind: str
    at: int

    def plan_line(self) -> str:
        return "plan none" if self.kind == "checkpoint" else f"plan {self.kind} {self.at}"


def kill_point(rng: random.Random, max_records: int = 900, max_checkpoints: int = 3) -> KillPoint:
    kind = rng.choice(KINDS)
    return KillPoint(kind, rng.randint(30, max_records) if kind == "record" else rng.randint(1, max_checkpoints))


class JobProcess(Process):
    """A `python -m flinklite run` process of the failover job, driven through stdin."""

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def sink_log(self) -> list[str]:
        return [line.removeprefix("SINKLOG ") for line in self.seen if line.startswith("SINKLOG ")]

    def stderr_tail(self) -> str:
        return self.proc.stderr.read()[-3000:] if self.proc.stderr else ""


@dataclass
class Failover:
    """One job's world: its topics on the broker, its HA cluster in ZooKeeper, its processes."""

    bootstrap: str
    quorum: Quorum
    reader: KazooClient
    tmp: Path
    name: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    started: list[JobProcess] = field(default_factory=list)
    job_id: str = ""

    def __post_init__(self) -> None:
        self.topic, self.out, self.prefix = f"words-{self.name}", f"counts-{self.name}", f"fo-{self.name}"
        conf = ha_conf(self.quorum, self.tmp, cluster_id=f"/failover-{self.name}")
        conf.update({"execution.checkpointing.interval": "200 ms",
                     "execution.checkpointing.dir": str(self.tmp / "checkpoints"),
                     "execution.checkpointing.num-retained": "2"})
        self.root = f"/flink/failover-{self.name}"
        self.argv = ["-m", "flinklite", "run", "--progress", "0",
                     *(arg for key, value in conf.items() for arg in ("-D", f"{key}={value}")),
                     JOB, "--bootstrap", self.bootstrap, "--topic", self.topic, "--out", self.out,
                     "--prefix", self.prefix]
        # one input partition: the job's output order is fully determined by the input
        make_topics(self.bootstrap, self.topic, partitions=1)
        make_topics(self.bootstrap, self.out, partitions=OUT_PARTITIONS)
        self.words = [f"w{(i * 7) % WORDS}" for i in range(RECORDS)]
        produce(self.bootstrap, self.topic, [(w, 0, 1000 + i) for i, w in enumerate(self.words)])

    def start(self, kill: KillPoint | None, go: bool = False) -> JobProcess:
        process = JobProcess(self.argv)
        self.started.append(process)
        process.send(kill.plan_line() if kill is not None else "plan none")
        if go:
            process.send("go")
        return process

    def lead(self, kill: KillPoint) -> JobProcess:
        """The first process: it leads and holds its first record until released."""
        leader = self.start(kill)
        leader.expect("RUNNING")
        (self.job_id,) = self.reader.get_children(f"{self.root}/jobs")
        return leader

    def contenders(self, n: int) -> None:
        wait_for_children(self.reader, f"{self.root}/leader/latch", lambda c: len(c) == n)

    def latest_checkpoint(self) -> int | None:
        path = f"{self.root}/jobs/{self.job_id}/checkpoints"
        children = self.reader.get_children(path) if self.reader.exists(path) else []
        return max(map(int, children)) if children else None

    def release_and_kill(self, leader: JobProcess, kill: KillPoint) -> int | None:
        """Lets the leader run until its kill point and makes sure it died of SIGKILL there;
        returns the latest completed checkpoint in ZooKeeper (what a standby must resume)."""
        if kill.kind == "checkpoint":
            target = (self.latest_checkpoint() or 0) + kill.at
            leader.send("go")
            wait_for_children(self.reader, f"{self.root}/jobs/{self.job_id}/checkpoints",
                              lambda c: bool(c) and max(map(int, c)) >= target)
            leader.kill9()
        else:
            leader.send("go")
            leader.expect(f"KILL {kill.kind} {kill.at}")
        assert leader.proc.wait(WAIT) == -signal.SIGKILL, leader.stderr_tail()
        # nobody writes the job's znodes until the dead session expires and the standby leads
        return self.latest_checkpoint()

    def check_restored(self, successor: JobProcess, restored: int | None) -> None:
        """The successor restored the checkpoint ZooKeeper had at the leader's death (none: it
        started over)."""
        restored_lines = [line for line in successor.seen if line.startswith("RESTORED")]
        assert restored_lines == ([] if restored is None else [f"RESTORED {restored}"]), successor.seen

    def check_sink_log(self, successor: JobProcess, restored: int | None) -> None:
        """It committed the restored checkpoint's pre-committed transaction (again, or for the
        first time when the leader died before committing) and fenced the transaction the dead
        leader had opened after it, and lost nothing."""
        log = successor.sink_log()
        if restored is not None:
            assert f"committed {self.prefix}-0-{restored} (restored)" in log, log
        assert f"fenced {self.prefix}-0-{(restored or 0) + 1}" in log, log
        assert not any(line.startswith("lost ") for line in log), log

    def finish(self, last: JobProcess) -> None:
        assert last.proc.wait(WAIT * 2) == 0, last.stderr_tail()
        last.rest()

    def check_output(self) -> None:
        """read_committed sees exactly the uninterrupted run's output, partition by partition,
        record by record; no transaction is left open; the job's HA data is gone."""
        committed = read_committed_partitions(self.bootstrap, self.out, OUT_PARTITIONS)
        partition_of: dict[str, int] = {}
        for partition, records in committed.items():
            for key, _ in records:
                assert partition_of.setdefault(key, partition) == partition, f"{key} in two partitions"
        counts: dict[str, int] = {}
        expected: dict[int, list[tuple[str, str]]] = {p: [] for p in range(OUT_PARTITIONS)}
        for word in self.words:
            counts[word] = counts.get(word, 0) + 1
            assert word in partition_of, f"no committed result for {word}"
            expected[partition_of[word]].append((word, f"{word}:{counts[word]}"))
        for partition in range(OUT_PARTITIONS):
            got, want = committed[partition], expected[partition]
            first_difference = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
            assert got == want, (f"partition {partition}: {len(got)} records, {len(want)} expected; first difference "
                                 f"at {first_difference}: {got[first_difference:first_difference + 3]} vs "
                                 f"{want[first_difference:first_difference + 3]}")
        assert open_transactions_block(self.bootstrap, self.out) == {}  # last stable offset == log end
        assert self.reader.get_children(f"{self.root}/jobs") == []

    def stop_all(self) -> None:
        for process in self.started:
            process.stop()


@pytest.fixture
def job_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The job processes' registry in tmp, no configuration directory from outside."""
    monkeypatch.setenv("FLINKLITE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FLINK_CONF_DIR", raising=False)
    return tmp_path


def zkserver_quorum(factory: Callable[..., object]) -> Quorum:
    server = factory(tick_time_ms=100, max_client_cnxns=0)
    return Quorum("wiretwin", server.hosts)  # type: ignore[attr-defined]


@pytest.fixture
def failovers(kafka_broker: RunningBroker, job_home: Path) -> Iterator[Callable[[Quorum], Failover]]:
    made: list[Failover] = []
    readers: list[KazooClient] = []

    def make(quorum: Quorum) -> Failover:
        reader = quorum.client()
        readers.append(reader)
        failover = Failover(kafka_broker.bootstrap_servers, quorum, reader, job_home / uuid.uuid4().hex[:8])
        made.append(failover)
        return failover

    yield make
    for failover in made:
        failover.stop_all()
    for reader in readers:
        reader.stop()
        reader.close()


def single_failover(failover: Failover, kill: KillPoint) -> tuple[JobProcess, JobProcess, int | None]:
    """The leader runs until `kill`; a standby that was contending before takes over and
    finishes; the output is exactly once."""
    leader = failover.lead(kill)
    standby = failover.start(None, go=True)
    failover.contenders(2)
    assert not standby.said("RUNNING")  # it waits as a standby
    restored = failover.release_and_kill(leader, kill)
    if kill.kind == "commit":
        # the completed checkpoint's transaction is still open: only the standby can commit it
        assert open_transactions_block(failover.bootstrap, failover.out), "nothing left open by the dead leader"
    failover.finish(standby)
    failover.check_restored(standby, restored)
    failover.check_sink_log(standby, restored)
    failover.check_output()
    return leader, standby, restored


@pytest.mark.parametrize("seed", SEEDS)
def test_standby_takes_over_with_exactly_once_output(zk_server_factory: Callable[..., object],
                                                     failovers: Callable[[Quorum], Failover], seed: int) -> None:
    kill = kill_point(random.Random(seed))
    single_failover(failovers(zkserver_quorum(zk_server_factory)), kill)


def test_standby_takes_over_through_debian_zookeeper(real_zookeeper: RealZooKeeperRun,
                                                     failovers: Callable[[Quorum], Failover]) -> None:
    quorum = Quorum("real", real_zookeeper.zk.hosts + real_zookeeper.new_chroot())
    single_failover(failovers(quorum), kill_point(random.Random(REAL_ZK_SEED)))


def test_two_failovers_in_a_row(zk_server_factory: Callable[..., object],
                                failovers: Callable[[Quorum], Failover]) -> None:
    """The leader dies; the standby leads; a fresh process becomes the new standby; the second
    leader dies too (at its own seeded kill point); the third process finishes exactly once."""
    rng = random.Random(SEEDS[0] + 100)
    first_kill = kill_point(rng, max_records=500, max_checkpoints=2)
    second_kill = kill_point(rng, max_records=400, max_checkpoints=2)
    failover = failovers(zkserver_quorum(zk_server_factory))
    first = failover.lead(first_kill)
    second = failover.start(second_kill)
    failover.contenders(2)
    restored = failover.release_and_kill(first, first_kill)
    second.expect("RUNNING")  # leading, holding its first record
    failover.check_restored(second, restored)
    third = failover.start(None, go=True)
    failover.contenders(2)
    restored_again = failover.release_and_kill(second, second_kill)
    assert (restored_again or 0) >= (restored or 0)
    failover.finish(third)
    failover.check_restored(third, restored_again)
    failover.check_sink_log(third, restored_again)
    failover.check_output()


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_many_random_kill_points(zk_server_factory: Callable[..., object],
                                 failovers: Callable[[Quorum], Failover]) -> None:
    seed = int(time.time())
    print(f"kill points from random.Random({seed})")
    rng = random.Random(seed)
    quorum = zkserver_quorum(zk_server_factory)
    for round_ in range(20):
        kill = kill_point(rng, max_records=RECORDS - 300, max_checkpoints=4)
        failover = failovers(quorum)
        try:
            single_failover(failover, kill)
        except AssertionError as exc:
            raise AssertionError(f"round {round_} (seed {seed}), {kill}: {exc}") from exc
        finally:
            failover.stop_all()


def test_a_paused_leader_that_comes_back_stands_down(zk_server_factory: Callable[..., object],
                                                     failovers: Callable[[Quorum], Failover]) -> None:
    """The leader is frozen (SIGSTOP, as a long GC pause or a suspended VM) after a checkpoint,
    past its session timeout: the standby takes over and fences its transactions. Thawed
    (SIGCONT), the old leader finds its leadership revoked and fails its run: it must neither
    restart the job (the restarted sink would fence the new leader's transactions and commit a
    second copy of the output, which it did before the coordinator's leader check) nor record
    checkpoints. Its stdin holds spare "go" lines, so a restarted attempt would run as a job
    without the test's gate does. The output is exactly once."""
    failover = failovers(zkserver_quorum(zk_server_factory))
    leader = failover.lead(KillPoint("checkpoint", 1))
    standby = failover.start(None, go=True)
    failover.contenders(2)
    target = (failover.latest_checkpoint() or 0) + 1
    leader.send("go")
    wait_for_children(failover.reader, f"{failover.root}/jobs/{failover.job_id}/checkpoints",
                      lambda c: bool(c) and max(map(int, c)) >= target)
    leader.proc.send_signal(signal.SIGSTOP)
    for _ in range(3):
        leader.send("go")
    standby.expect("RUNNING")  # the frozen leader's session expired: the standby leads
    leader.proc.send_signal(signal.SIGCONT)
    assert leader.proc.wait(WAIT) == 1
    assert "was suspended: this process lost its leadership" in leader.stderr_tail()
    assert leader.rest().count("RUNNING") == 1  # no restarted attempt ran
    failover.finish(standby)
    failover.check_sink_log(standby, int(standby.seen[0].split()[1]))
    failover.check_output()
