"""Savepoints through the command line, process against process: `python -m flinklite run` starts
a job (an unbounded testing source released by a gate file, or a KafkaSource reading a topic on
our broker), and the CLI (`list`, `status`, `savepoint`, `stop --savepoint-path` / `-p`) drives
it through its control endpoint; `run -s` / `--fromSavepoint` resumes it at another
parallelism, and the output of the interrupted runs equals an uninterrupted run's, line for line
(sorted: parallel subtasks interleave). Readiness is polled (registry, endpoint), never slept."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from broker.testing import RunningBroker
from compat_tests.flinklite.test_kafka_jobs import make_topics, produce
from flinklite.runtime.checkpoint import load_checkpoint
from flinklite.runtime.control import ControlClient, registered_jobs

REPO = Path(__file__).resolve().parents[2]
GATED_JOB = str(REPO / "flinklite" / "tests" / "jobs" / "gated_counter.py")
KAFKA_JOB = str(REPO / "compat_tests" / "flinklite" / "jobs" / "kafka_counter.py")
DEADLINE_S = 90.0


class Cli:
    """`python -m flinklite ...` with its own FLINKLITE_HOME (the job registry)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {**os.environ, "FLINKLITE_HOME": str(home), "PYTHONPATH": str(REPO)}
        self.env.pop("FLINK_CONF_DIR", None)

    @property
    def jobs_dir(self) -> str:
        return str(self.home / "jobs")

    def start(self, *args: str, stdout: Path) -> subprocess.Popen[bytes]:
        with open(stdout, "wb") as out, open(str(stdout) + ".err", "wb") as err:
            return subprocess.Popen([sys.executable, "-m", "flinklite", "run", "--progress", "0", *args],
                                    stdout=out, stderr=err, env=self.env, cwd=str(REPO))

    def __call__(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "flinklite", *args], capture_output=True, env=self.env,
                              cwd=str(REPO), timeout=DEADLINE_S)
        assert done.returncode == 0, done.stderr.decode()
        return done.stdout.decode()

    def wait_registered(self, process: subprocess.Popen[bytes]) -> str:
        """Polls the registry until the job process has registered and answers a ping."""
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            jobs = [r for r in registered_jobs(self.jobs_dir) if r.pid == process.pid]
            if jobs:
                with ControlClient(jobs[0].port, timeout_s=DEADLINE_S) as client:
                    return str(client.request("ping")["job_id"])
            try:
                process.wait(0.02)  # the poll's pause, which also notices a job that died
            except subprocess.TimeoutExpired:
                continue
            raise AssertionError(f"the job exited with {process.returncode} before registering")
        raise AssertionError("the job did not register in time")

    def wait_records(self, job_id: str, source: str, count: int) -> dict[str, Any]:
        """Polls the job's status until its source has emitted `count` records."""
        (registration,) = [r for r in registered_jobs(self.jobs_dir) if r.job_id == job_id]
        deadline = time.monotonic() + DEADLINE_S
        with ControlClient(registration.port, timeout_s=DEADLINE_S) as client:
            while time.monotonic() < deadline:
                status = client.request("status")
                (operator,) = [op for op in status["operators"] if op["name"] == source]
                if operator["records_out"] >= count:
                    assert operator["records_out"] == count, status
                    return status
        raise AssertionError(f"{source} did not reach {count} records in time")


def finish(process: subprocess.Popen[bytes]) -> None:
    assert process.wait(DEADLINE_S) == 0, Path(str(process.args[-1])).name


def lines(*paths: Path) -> list[str]:
    """Printed records without PyFlink's `N> ` subtask prefix, sorted."""
    out: list[str] = []
    for path in paths:
        out.extend(re.sub(r"^\d+> ", "", line) for line in path.read_text().splitlines() if line)
    return sorted(out)


def savepoint_path(output: str) -> str:
    match = re.search(r"Savepoint completed\. Path: (file:\S+)", output)
    assert match, output
    return match.group(1)


def test_stop_with_savepoint_and_resume_at_another_parallelism_through_the_cli(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "home")
    total = 2000  # records per split, three splits
    reference = tmp_path / "reference.out"
    finish(cli.start("-p", "1", GATED_JOB, "--total", str(total), "--bounded", stdout=reference))

    gate = tmp_path / "gate"
    gate.write_text("300")
    first = tmp_path / "first.out"
    process = cli.start("-p", "2", GATED_JOB, "--gate", str(gate), "--total", str(total), stdout=first)
    job_id = cli.wait_registered(process)
    assert re.fullmatch(r"[0-9a-f]{32}", job_id)

    listed = cli("list")
    assert f" : {job_id} : gated counter (RUNNING, pid {process.pid})" in listed
    assert [json.loads(line)["job_id"] for line in cli("list", "--json").splitlines()] == [job_id]
    cli.wait_records(job_id, "numbers", 900)
    status = cli("status", job_id)
    assert f"Job {job_id} : gated counter (RUNNING" in status and "numbers" in status and "x2" in status

    savepoints = tmp_path / "savepoints"
    intermediate = savepoint_path(cli("savepoint", job_id, str(savepoints)))
    assert intermediate.startswith(f"file:{savepoints}/savepoint-{job_id[:6]}-")
    snapshot = load_checkpoint(intermediate)
    (source,) = [states for key, states in snapshot.operators.items() if key.endswith("numbers")]
    assert sorted(p for state in source.values() for p in state["reader"].values()) == [300, 300, 300]
    status_json = json.loads(cli("status", "--json", job_id))
    assert [(c["kind"], c["path"]) for c in status_json["checkpoints"]] == [("savepoint", intermediate[5:])]

    gate.write_text("700")
    cli.wait_records(job_id, "numbers", 2100)
    stopped = savepoint_path(cli("stop", "--savepoint-path", str(savepoints), job_id))
    finish(process)
    assert registered_jobs(cli.jobs_dir) == []
    assert "Job has been submitted with JobID " + job_id in Path(str(first) + ".err").read_text()

    # Resumed at parallelism 3 (bounded now, so it ends): nothing lost, nothing twice.
    second = tmp_path / "second.out"
    finish(cli.start("-p", "3", "--fromSavepoint", stopped, GATED_JOB, "--total", str(total), "--bounded",
                     stdout=second))
    assert lines(first, second) == lines(reference)
    assert len(lines(first)) > 0 and len(lines(second)) > len(lines(first))


def test_kafka_job_savepoint_stop_resume_equals_an_uninterrupted_run(kafka_broker: RunningBroker,
                                                                     tmp_path: Path) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    make_topics(bootstrap, "words", "all-words", partitions=3)
    words = [(f"w{(i * 7) % 11}", i % 3, 1000 + i * 10) for i in range(900)]
    produce(bootstrap, "all-words", words)
    cli = Cli(tmp_path / "home")
    reference = tmp_path / "reference.out"
    finish(cli.start("-p", "1", KAFKA_JOB, "--bootstrap", bootstrap, "--topic", "all-words", "--bounded",
                     stdout=reference))
    assert len(lines(reference)) > 900

    produce(bootstrap, "words", words[:300])
    first = tmp_path / "first.out"
    process = cli.start("-p", "1", KAFKA_JOB, "--bootstrap", bootstrap, "--topic", "words", stdout=first)
    job_id = cli.wait_registered(process)
    cli.wait_records(job_id, "words", 300)
    savepoints = tmp_path / "savepoints"
    intermediate = savepoint_path(cli("savepoint", job_id, str(savepoints)))
    (source,) = [states for key, states in load_checkpoint(intermediate).operators.items() if key.endswith("words")]
    assert source[0]["reader"] == {"words-0": 100, "words-1": 100, "words-2": 100}

    produce(bootstrap, "words", words[300:600])
    cli.wait_records(job_id, "words", 600)
    stopped = savepoint_path(cli("stop", "-p", str(savepoints), job_id))
    finish(process)
    (source,) = [states for key, states in load_checkpoint(stopped).operators.items() if key.endswith("words")]
    assert source[0]["reader"] == {"words-0": 200, "words-1": 200, "words-2": 200}

    produce(bootstrap, "words", words[600:])
    second = tmp_path / "second.out"
    finish(cli.start("-p", "2", "-s", stopped, KAFKA_JOB, "--bootstrap", bootstrap, "--topic", "words", "--bounded",
                     stdout=second))
    assert lines(first, second) == lines(reference)
