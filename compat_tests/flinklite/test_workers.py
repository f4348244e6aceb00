"""Parallel workers (flinklite/runtime/workers.py) as processes on our broker: a keyed job at
parallelism 2 reading a topic, run by `python -m flinklite run --workers 2` (a job manager and two
worker processes exchanging records over TCP), prints exactly what the single-process run of the
same job prints, record for record; and a worker killed with SIGKILL mid-job (at a seeded record,
once a checkpoint has completed) makes the job fail over: every subtask restarts from the latest
completed checkpoint, and the EXACTLY_ONCE KafkaSink's output read by a read_committed consumer
holds every expected result exactly once, in order per key."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from broker.testing import RunningBroker
from compat_tests.flinklite.test_exactly_once import RECORDS, check, write_input

REPO = Path(__file__).resolve().parents[2]
JOB = str(REPO / "compat_tests" / "flinklite" / "jobs" / "worker_counter.py")
SEED = 20261201


def _environment(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "FLINKLITE_HOME": str(tmp_path / "home"), "PYTHONPATH": str(REPO)}
    env.pop("FLINK_CONF_DIR", None)
    return env


def _run(tmp_path: Path, args: list[str], workers: int | None = None,
         extra: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    cli = [sys.executable, "-m", "flinklite", "run", "--progress", "0", *(extra or [])]
    if workers is not None:
        cli += ["--workers", str(workers)]
    result = subprocess.run([*cli, JOB, *args], env=_environment(tmp_path), cwd=str(REPO), capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _by_key(lines: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in lines:
        out.setdefault(line.split("> ", 1)[1].split(":", 1)[0], []).append(line)
    return out


def test_two_workers_print_what_one_process_prints(kafka_broker: RunningBroker, tmp_path: Path) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    totals = write_input(bootstrap, "words")
    args = ["--bootstrap", bootstrap, "--topic", "words", "--checkpoints", str(tmp_path / "chk")]
    single = _run(tmp_path, args).stdout.splitlines()
    distributed = _run(tmp_path, args, workers=2)
    lines = distributed.stdout.splitlines()
    assert "workers join at" in distributed.stderr
    assert len(single) == RECORDS
    assert sorted(lines) == sorted(single)  # the same records, each from the same sink subtask ("N> ")
    assert _by_key(lines) == _by_key(single)  # in the same order per key
    assert {key: len(values) for key, values in _by_key(lines).items()} == totals
    assert {line.split("> ", 1)[0] for line in lines} == {"1", "2"}  # both sink subtasks wrote


def test_a_worker_started_elsewhere_joins_with_worker_connect(kafka_broker: RunningBroker, tmp_path: Path) -> None:
    """One local worker plus one that joins through `python -m flinklite worker --connect`
    (flinklite.workers.remote=1), as a worker on another machine would; its prints stay on its
    own stdout, and the two outputs together are the single-process run's."""
    bootstrap = kafka_broker.bootstrap_servers
    write_input(bootstrap, "words")
    args = ["--bootstrap", bootstrap, "--topic", "words"]
    single = _run(tmp_path, args).stdout.splitlines()
    env = _environment(tmp_path)
    out, err, remote_out = tmp_path / "jm.out", tmp_path / "jm.err", tmp_path / "remote.out"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        manager = subprocess.Popen([sys.executable, "-m", "flinklite", "run", "--progress", "0", "--workers", "1",
                                    "-D", "flinklite.workers.remote=1", JOB, *args],
                                   stdout=stdout, stderr=stderr, env=env, cwd=str(REPO))
    try:
        address = _join_address(manager, err)
        with open(remote_out, "wb") as stdout:
            remote = subprocess.run([sys.executable, "-m", "flinklite", "worker", "--connect", address,
                                     "--host", "127.0.0.1"], stdout=stdout, stderr=subprocess.PIPE, env=env,
                                    cwd=str(tmp_path), timeout=120, check=False)
        assert remote.returncode == 0, remote.stderr.decode()[-3000:]
        assert manager.wait(120) == 0, err.read_text()[-3000:]
    finally:
        if manager.poll() is None:
            manager.kill()
    local_lines, remote_lines = out.read_text().splitlines(), remote_out.read_text().splitlines()
    assert local_lines and remote_lines  # each worker ran one slot's subtasks
    assert sorted(local_lines + remote_lines) == sorted(single)


def _join_address(manager: subprocess.Popen[bytes], err: Path) -> str:
    """Polls the job manager's stderr for `workers join at HOST:PORT`."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        match = re.search(r"workers join at (\S+:\d+)", err.read_text())
        if match:
            return match.group(1)
        try:
            manager.wait(0.02)  # the poll's pause, which also notices a job manager that died
        except subprocess.TimeoutExpired:
            continue
        raise AssertionError(f"the job manager exited with {manager.returncode}: {err.read_text()[-3000:]}")
    raise AssertionError("the job manager did not print its worker address")


@pytest.mark.parametrize("seed", [SEED, SEED + 1])
def test_a_worker_killed_with_sigkill_fails_the_job_over_exactly_once(kafka_broker: RunningBroker, tmp_path: Path,
                                                                     seed: int) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    totals = write_input(bootstrap, "words")
    kill_at = random.Random(seed).randint(150, 500)  # of the ~1,200 records each gate subtask sees
    marker = tmp_path / "killed"
    args = ["--bootstrap", bootstrap, "--topic", "words", "--out", "counts", "--prefix", f"workers-{seed}",
            "--checkpoints", str(tmp_path / "chk"), "--kill-at", str(kill_at), "--marker", str(marker),
            "--pace-every", "1"]  # 1 ms a record: the input outlasts the first checkpoints also on a loaded machine
    result = _run(tmp_path, args, workers=2, extra=["-D", "restart-strategy.type=fixed-delay",
                                                    "-D", "restart-strategy.fixed-delay.attempts=3",
                                                    "-D", "restart-strategy.fixed-delay.delay=50 ms"])
    assert marker.exists(), "the gate never killed its worker"
    assert "exit -9" in result.stderr and "failing over" in result.stderr, result.stderr[-3000:]
    assert result.stderr.count("failing over") == 1
    check(bootstrap, totals)  # read_committed: every result once, in order per word; nothing left open


def test_savepoint_and_stop_of_a_job_on_workers_then_resume_in_one_process(tmp_path: Path) -> None:
    """The CLI drives a job whose subtasks run in two workers: `status` shows the workers' records
    and the workers, `savepoint` and `stop --savepoint-path` take their barriers through both, and
    `run -s` at parallelism 3 in one process finishes the job: together the outputs equal an
    uninterrupted run's."""
    from compat_tests.flinklite.test_savepoints import GATED_JOB, Cli, finish, lines

    cli = Cli(tmp_path / "home")
    total = 1000
    reference = tmp_path / "reference.out"
    finish(cli.start("-p", "1", GATED_JOB, "--total", str(total), "--bounded", stdout=reference))
    gate = tmp_path / "gate"
    gate.write_text("300")
    first = tmp_path / "first.out"
    process = cli.start("-p", "2", "--workers", "2", GATED_JOB, "--gate", str(gate), "--total", str(total),
                        stdout=first)
    try:
        stopped = _savepoint_then_stop(cli, process, gate, tmp_path / "savepoints")
    finally:
        if process.poll() is None:
            process.kill()  # its workers end with it
    second = tmp_path / "second.out"
    finish(cli.start("-p", "3", "--fromSavepoint", stopped, GATED_JOB, "--total", str(total), "--bounded",
                     stdout=second))
    assert lines(first, second) == lines(reference)


def _savepoint_then_stop(cli: Any, process: subprocess.Popen[bytes], gate: Path, savepoints: Path) -> str:
    from compat_tests.flinklite.test_savepoints import finish, savepoint_path
    from flinklite.runtime.checkpoint import load_checkpoint

    job_id = cli.wait_registered(process)
    status = cli.wait_records(job_id, "numbers", 900)
    assert [w["id"] for w in status["workers"]] == [0, 1]
    intermediate = savepoint_path(cli("savepoint", job_id, str(savepoints)))
    (source,) = [s for key, s in load_checkpoint(intermediate).operators.items() if key.endswith("numbers")]
    assert sorted(p for state in source.values() for p in state["reader"].values()) == [300, 300, 300]
    gate.write_text("600")
    cli.wait_records(job_id, "numbers", 1800)
    stopped = savepoint_path(cli("stop", "--savepoint-path", str(savepoints), job_id))
    finish(process)
    return stopped
