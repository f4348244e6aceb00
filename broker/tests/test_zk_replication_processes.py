"""Replication across real processes: our ZooKeeper server and three ``python -m broker`` processes in ZooKeeper
mode (the kazoo bridge), driven by kafka-python. The leader is killed with SIGKILL while an idempotent acks=all
producer runs: its session expires, the controller moves leadership to an in-sync replica, the producer carries
on, and every acknowledged record is in the log exactly once, in order. The killed broker, restarted on its data
directory, catches up and rejoins the ISR with a byte-identical log.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

WAIT = 60.0
SESSION_TIMEOUT_MS = 4000  # the server's minimum (2 x tickTime)


def wait_for(check: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
        except Exception:  # a broker between lives: ask again
            result = None
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class BrokerProcess:
    def __init__(self, node_id: int, zk_hosts: str, root: Path) -> None:
        self.node_id = node_id
        self.data_dir = root / f"broker-{node_id}"
        self.props = root / f"server-{node_id}.properties"
        self.props.write_text("\n".join([
            f"broker.id={node_id}", "listeners=PLAINTEXT://127.0.0.1:0", f"log.dirs={self.data_dir}",
            f"zookeeper.connect={zk_hosts}", f"zookeeper.session.timeout.ms={SESSION_TIMEOUT_MS}",
            "replica.lag.time.max.ms=3000", "replica.fetch.backoff.ms=100", "replica.fetch.wait.max.ms=200",
            "group.initial.rebalance.delay.ms=0", "controlled.shutdown.retry.backoff.ms=500", ""]))
        self.proc: subprocess.Popen[str] | None = None
        self.address = ""

    def start(self) -> BrokerProcess:
        self.proc = subprocess.Popen([sys.executable, "-m", "broker", str(self.props)], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # "listening HOST:PORT", printed once ready
        assert line.startswith("listening "), f"broker {self.node_id} did not start: {line!r}"
        self.address = line.split()[1]
        return self

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def segment_bytes(self, topic: str, partition: int) -> bytes:
        return b"".join(p.read_bytes() for p in sorted((self.data_dir / f"{topic}-{partition}").glob("*.log")))


@pytest.fixture
def processes(zk_server: Any, tmp_path: Path) -> Iterator[dict[int, BrokerProcess]]:
    brokers = {n: BrokerProcess(n, zk_server.hosts, tmp_path) for n in (1, 2, 3)}
    try:
        for b in brokers.values():
            b.start()
        yield brokers
    finally:
        for b in brokers.values():
            b.stop()


def describe(bootstrap: str, topic: str) -> dict[str, Any]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    try:
        partition: dict[str, Any] = admin.describe_topics([topic])[0]["partitions"][0]
        return partition
    finally:
        admin.close()


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_kill_9_of_the_leader_loses_no_acknowledged_record(processes: dict[int, BrokerProcess]) -> None:
    bootstrap = ",".join(b.address for b in processes.values())
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic("killed", 1, 3)])
    finally:
        admin.close()
    first = wait_for(lambda: (p := describe(bootstrap, "killed"))["leader_id"] >= 0 and len(p["isr_nodes"]) == 3 and p,
                     "a leader and a full ISR")
    leader = first["leader_id"]
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, retries=1000,
                             retry_backoff_ms=100, metadata_max_age_ms=500, request_timeout_ms=10000,
                             delivery_timeout_ms=120000)
    acked: list[bytes] = []
    for i in range(1500):
        value = b"v%05d" % i
        producer.send("killed", value=value, partition=0).add_callback(lambda _m, v=value: acked.append(v))
        if i % 50 == 49:
            producer.flush()
        if i == 600:
            processes[leader].kill()  # no clean shutdown: its ZooKeeper session has to expire
    producer.flush()
    producer.close()
    assert len(acked) == 1500
    after = describe(",".join(b.address for n, b in processes.items() if n != leader), "killed")
    assert after["leader_id"] not in (leader, -1) and after["leader_epoch"] > first["leader_epoch"]
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=5000)
    consumer.assign([TopicPartition("killed", 0)])
    got = [m.value for m in consumer]
    consumer.close()
    assert got == acked  # every acknowledged record, exactly once, in order
    # the killed broker comes back on its data directory: it catches up and rejoins the ISR
    processes[leader].start()
    bootstrap = ",".join(b.address for b in processes.values())
    wait_for(lambda: leader in describe(bootstrap, "killed")["isr_nodes"], "the restarted broker in the ISR")
    new_leader = describe(bootstrap, "killed")["leader_id"]
    wait_for(lambda: processes[leader].segment_bytes("killed", 0) == processes[new_leader].segment_bytes("killed", 0),
             "a byte-identical log on the restarted broker")
