"""The control endpoint and savepoints in one process: the registry (register, prune entries of
dead processes, find by id prefix), the line-based JSON protocol (ping answered by the server
thread, other commands answered by whoever takes them from the JobControl queue, errors,
several requests on one connection, pending commands failed on close; timeouts: a command not
taken in time is withdrawn and never runs, one taken is reported in progress; idle connections
closed by the server and on close), and a running job
driven through its endpoint: status, savepoint (exact source positions, Flink's naming), stop
with a savepoint, resume at another parallelism with results equal to an uninterrupted run,
the non-restored-state check, the default savepoint directory and the CLI's list/status."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from flinklite.__main__ import main
from flinklite.common import WatermarkStrategy
from flinklite.datastream import StreamExecutionEnvironment
from flinklite.datastream.connectors.base import Boundedness, Source, SourceReader
from flinklite.errors import InvalidProgramError
from flinklite.runtime.checkpoint import load_checkpoint
from flinklite.runtime.control import (
    Command,
    ControlClient,
    ControlError,
    ControlServer,
    JobControl,
    JobRegistration,
    decode,
    encode,
    find_job,
    register,
    registered_jobs,
)
from flinklite.testing import CollectSink
from flinklite.tests import functions


pytestmark = pytest.mark.usefixtures("isolated_flinklite")
WAIT = 30.0


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


# -- registry and protocol ------------------------------------------------------------------
def test_registry_lists_live_jobs_prunes_dead_ones_and_finds_by_prefix(tmp_path: Path) -> None:
    jobs = str(tmp_path / "jobs")
    live = JobRegistration("ab" * 16, "live job", os.getpid(), 1234, started_ms=2)
    other = JobRegistration("ac" * 16, "other", os.getpid(), 1235, started_ms=1)
    gone = JobRegistration("cd" * 16, "dead job", dead_pid(), 1236)
    for registration in (live, other, gone):
        register(jobs, registration)
    assert registered_jobs(jobs) == [other, live]
    assert sorted(os.listdir(jobs)) == sorted([live.file_name(), other.file_name()])  # pruned
    assert find_job("abab", jobs) == live
    assert find_job("AB" * 16, jobs) == live
    with pytest.raises(ControlError, match="several jobs"):
        find_job("a", jobs)
    with pytest.raises(ControlError, match="not found"):
        find_job("cd", jobs)
    assert registered_jobs(str(tmp_path / "none")) == []


def test_protocol_lines() -> None:
    assert encode({"command": "status"}) == b'{"command":"status"}\n'
    assert decode(b'{"ok":true,"x":[1]}\n') == {"ok": True, "x": [1]}
    with pytest.raises(ValueError):
        decode(b"[1]\n")


def test_server_answers_ping_itself_and_hands_commands_to_the_job(tmp_path: Path) -> None:
    control = JobControl("ef" * 16, "a job", savepoint_directory=None)
    served: list[str] = []
    stop = threading.Event()

    def job_loop() -> None:  # what the executor does between two iterations
        while not stop.is_set():
            if control.pending:
                for command in control.take():
                    served.append(command.name)
                    if command.name == "status":
                        command.reply(operators=[])
                    else:
                        command.fail("no savepoints here")
            stop.wait(0.001)

    thread = threading.Thread(target=job_loop)
    thread.start()
    server = ControlServer(control, str(tmp_path / "jobs")).start()
    try:
        (registration,) = registered_jobs(str(tmp_path / "jobs"))
        assert registration.port == server.port and registration.job_id == control.job_id
        with ControlClient(server.port) as client:
            assert client.request("ping")["job_name"] == "a job"
            assert client.request("status")["operators"] == []  # several requests on one connection
            with pytest.raises(ControlError, match="no savepoints here"):
                client.request("savepoint", target_directory=str(tmp_path))
            with pytest.raises(ControlError, match="unknown command"):
                client.request("explode")
        with socket.create_connection(("127.0.0.1", server.port)) as raw:
            raw.sendall(b"not json\n")
            answer = json.loads(raw.makefile("rb").readline())
            assert answer["ok"] is False and "malformed" in answer["error"]
        assert served == ["status", "savepoint"]
    finally:
        stop.set()
        thread.join()
        server.close()
    assert registered_jobs(str(tmp_path / "jobs")) == []
    queued = control.submit({"command": "status"})
    assert queued.wait(1)["error"] == "the job has ended"


def test_close_fails_commands_still_queued() -> None:
    control = JobControl("01" * 16, "j")
    command = control.submit({"command": "status"})
    assert control.pending and not command.answered
    control.close("gone")
    assert command.wait(1) == {"ok": False, "error": "gone"} and not control.pending


def test_close_fails_commands_taken_but_never_answered() -> None:
    """A job that ended without answering a command it took (a failure mid-savepoint): its
    waiter gets the reason instead of waiting for its whole timeout."""
    control = JobControl("01" * 16, "j")
    command = control.submit({"command": "savepoint"})
    assert control.take() == [command] and command.state == Command.TAKEN
    control.close("the job has ended")
    assert command.wait(WAIT) == {"ok": False, "error": "the job has ended"}


def test_a_command_is_either_taken_or_withdrawn() -> None:
    control = JobControl("01" * 16, "j")
    withdrawn, taken = control.submit({"command": "stop"}), control.submit({"command": "savepoint"})
    assert withdrawn.withdraw("late") and not withdrawn.claim()
    assert control.take() == [taken]  # the withdrawn stop never reaches the job
    assert not taken.withdraw("late") and taken.state == Command.TAKEN
    # a command in progress when its waiter gives up: reported as such, its result discarded
    answer = taken.wait(0)
    assert answer["ok"] is False and answer["timed_out"] and answer["in_progress"]
    assert "still in progress and will complete" in answer["error"]
    taken.reply(path="file:/late")
    assert taken.wait(0) == {"ok": True, "path": "file:/late"}  # for nobody: the connection moved on
    assert withdrawn.wait(0)["withdrawn"] is True


@pytest.mark.parametrize("side", ["client", "server"])
def test_a_timed_out_stop_is_withdrawn_and_does_not_stop_the_job_later(tmp_path: Path, side: str) -> None:
    """The job is busy (nobody takes commands) when `stop` times out, on the client's timeout
    (sent with the request) or the server's: the caller is told it was withdrawn, and when the
    job next takes its commands the stop is not among them. The connection stays usable."""
    control = JobControl("ef" * 16, "a job")
    server = ControlServer(control, str(tmp_path / "jobs"), answer_timeout_s=0.05 if side == "server" else 600)
    with server, ControlClient(server.port, timeout_s=0.05 if side == "client" else 30) as client:
        with pytest.raises(ControlError, match="did not take 'stop' within 0.05 s: the request was withdrawn "
                                               "and will not run"):
            client.request("stop", target_directory=str(tmp_path / "sp"))
        assert control.take() == []  # the job gets round to its commands: no stop

        def job_answers_one_status() -> None:
            assert control.wait_for_command(WAIT)
            for command in control.take():
                command.reply(name=command.name)

        thread = threading.Thread(target=job_answers_one_status)
        thread.start()
        if side == "client":
            client.timeout_s = 30
        assert client.request("status")["name"] == "status"
        thread.join()
    assert not (tmp_path / "sp").exists()


def _control_threads(server: ControlServer) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(f"flinklite-control-conn-{server.port}")]


def test_an_idle_connection_is_closed_by_the_server(tmp_path: Path) -> None:
    control = JobControl("ef" * 16, "a job")
    with ControlServer(control, str(tmp_path / "jobs"), idle_timeout_s=0.05) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as raw:
            reader = raw.makefile("rb")
            raw.sendall(encode({"command": "ping"}))
            assert decode(reader.readline())["ok"] is True  # a request in time is answered
            assert reader.readline() == b""  # then, idle: the server closes it (EOF)
        assert server.open_connections == 0 and _control_threads(server) == []


def test_close_closes_connections_still_open(tmp_path: Path) -> None:
    control = JobControl("ef" * 16, "a job")
    server = ControlServer(control, str(tmp_path / "jobs")).start()  # default idle timeout: minutes
    with socket.create_connection(("127.0.0.1", server.port), timeout=WAIT) as raw:
        reader = raw.makefile("rb")
        raw.sendall(encode({"command": "ping"}))
        assert decode(reader.readline())["ok"] is True  # the connection is being served
        assert server.open_connections == 1
        server.close()
        assert reader.readline() == b""  # the idle client sees EOF
    assert server.open_connections == 0 and _control_threads(server) == []  # no thread left behind


# -- a running job, in this process -------------------------------------------------------------
class Gate:
    """How many records per split the source may emit; the test raises it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit


class GatedReader(SourceReader):
    def __init__(self, splits: list[int], total: int, gate: Gate | None) -> None:
        self.positions = {s: 0 for s in splits}
        self.total = total
        self.gate = gate

    def split_ids(self) -> list[Any]:
        return list(self.positions)

    def poll(self, max_records: int, now: int) -> list[tuple[Any, Any, int | None]]:
        limit = self.total if self.gate is None else min(self.gate.limit, self.total)
        out: list[tuple[Any, Any, int | None]] = []
        for split in self.positions:
            while self.positions[split] < limit and len(out) < max_records:
                out.append((split, self.positions[split] * 3 + split, None))
                self.positions[split] += 1
        return out

    def is_finished(self) -> bool:
        return self.gate is None and all(p >= self.total for p in self.positions.values())

    def snapshot(self) -> Any:
        return dict(self.positions)

    def restore(self, state: Any) -> None:
        for split in self.positions:
            self.positions[split] = state.get(split, 0)


class GatedSource(Source):
    """Three splits; unbounded while gated, bounded (every split to `total`) without a gate."""

    def __init__(self, total: int, gate: Gate | None) -> None:
        self.total = total
        self.gate = gate

    def create_reader(self, subtask_index: int, parallelism: int) -> SourceReader:
        return GatedReader([s for s in range(3) if s % parallelism == subtask_index], self.total, self.gate)

    def get_boundedness(self) -> Boundedness:
        return Boundedness.CONTINUOUS_UNBOUNDED if self.gate else Boundedness.BOUNDED


class RunningCount(functions.RunningCount):
    def render(self, value: Any, count: int) -> Any:
        return (value % 5, count)


def build_job(env: StreamExecutionEnvironment, gate: Gate | None, total: int, sink: CollectSink,
              extra_operator: bool = False) -> None:
    numbers = env.from_source(GatedSource(total, gate), WatermarkStrategy.no_watermarks(), "numbers")
    if extra_operator:
        numbers = numbers.map(lambda v: v)
    numbers.key_by(lambda v: v % 5).process(RunningCount()).sink_to(sink)


class Running:
    """A job executing in a thread with its control endpoint on."""

    def __init__(self, env: StreamExecutionEnvironment, jobs_dir: str) -> None:
        self.env = env
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run)
        self.jobs_dir = jobs_dir
        self.thread.start()

    def _run(self) -> None:
        try:
            self.env.execute("gated")
        except BaseException as exc:  # noqa: BLE001 - reported by join()
            self.error = exc

    def client(self) -> ControlClient:
        """Waits until the job has registered, then connects."""
        while True:
            jobs = registered_jobs(self.jobs_dir)
            if jobs:
                return ControlClient(jobs[0].port, timeout_s=30)
            if not self.thread.is_alive():
                raise AssertionError(f"the job ended before registering: {self.error!r}")
            self.thread.join(0.005)

    def join(self) -> None:
        self.thread.join(30)
        assert not self.thread.is_alive()
        if self.error is not None:
            raise self.error


def wait_for_records(client: ControlClient, count: int) -> dict[str, Any]:
    while True:
        status = client.request("status")
        (source,) = [op for op in status["operators"] if op["name"] == "numbers"]
        if source["records_out"] >= count:
            return status


def test_savepoint_stop_and_resume_at_another_parallelism_equal_an_uninterrupted_run(tmp_path: Path) -> None:
    total = 400
    reference = CollectSink()
    env = StreamExecutionEnvironment.get_execution_environment().set_parallelism(1)
    build_job(env, None, total, reference)
    env.execute("reference")

    jobs_dir = str(tmp_path / "jobs")
    gate = Gate(100)
    first = CollectSink()
    env = StreamExecutionEnvironment.get_execution_environment().set_parallelism(2)
    env.enable_control_endpoint(jobs_dir)
    build_job(env, gate, total, first)
    job = Running(env, jobs_dir)
    with job.client() as client:
        status = wait_for_records(client, 300)
        assert status["state"] == "RUNNING" and status["job_name"] == "gated"
        assert [(op["name"], op["parallelism"]) for op in status["operators"]][:2] == \
            [("numbers", 2), ("KeyedProcess", 2)] and len(status["operators"]) == 3
        assert [op["records_in"] for op in status["operators"]][1:] == [300, 300]
        answer = client.request("savepoint", target_directory=str(tmp_path / "sp"))
        intermediate = answer["path"]
        assert intermediate.startswith("file:" + str(tmp_path / "sp") + "/savepoint-" + status["job_id"][:6] + "-")
        gate.limit = 200
        wait_for_records(client, 600)
        stopped = client.request("stop", target_directory=str(tmp_path / "sp"))["path"]
    job.join()
    assert len(first.values) == 600

    saved = load_checkpoint(intermediate)
    assert saved.is_savepoint and saved.job_id == status["job_id"]
    (source_states,) = [s for key, s in saved.operators.items() if key.endswith("numbers")]
    assert {split: position for state in source_states.values() for split, position in state["reader"].items()} \
        == {0: 100, 1: 100, 2: 100}  # exactly what had been emitted: the gate held every split at 100
    final = load_checkpoint(stopped)
    assert final.checkpoint_id == saved.checkpoint_id + 1

    second = CollectSink()
    env = StreamExecutionEnvironment.get_execution_environment().set_parallelism(3)
    env.configure({"execution.state-recovery.path": stopped})
    build_job(env, None, total, second)
    env.execute("resumed")
    assert sorted(first.values + second.values) == sorted(reference.values)
    assert env.last_executor is not None and env.last_executor.coordinator is not None
    assert env.last_executor.coordinator.next_id == final.checkpoint_id + 1  # ids continue


def test_non_restored_state_needs_allow_non_restored_state(tmp_path: Path) -> None:
    jobs_dir = str(tmp_path / "jobs")
    env = StreamExecutionEnvironment.get_execution_environment().set_parallelism(1)
    env.configure({"execution.checkpointing.savepoint-dir": str(tmp_path / "default-sp")})
    env.enable_control_endpoint(jobs_dir)
    build_job(env, Gate(10), 100, CollectSink(), extra_operator=True)
    job = Running(env, jobs_dir)
    with job.client() as client:
        wait_for_records(client, 30)
        path = client.request("stop")["path"]  # no directory: the configured default
    job.join()
    assert path.startswith("file:" + str(tmp_path / "default-sp") + "/savepoint-")

    env = StreamExecutionEnvironment.get_execution_environment().set_parallelism(1)
    env.configure({"execution.savepoint.path": path})
    build_job(env, None, 100, CollectSink())  # without the map: its state has nowhere to go
    with pytest.raises(InvalidProgramError, match="--allowNonRestoredState"):
        env.execute("changed")
    sink = CollectSink()
    env = StreamExecutionEnvironment.get_execution_environment().set_parallelism(1)
    env.configure({"execution.savepoint.path": path, "execution.savepoint.ignore-unclaimed-state": "true"})
    build_job(env, None, 100, sink)
    env.execute("changed")
    assert len(sink.values) == 270  # the 30 records before the savepoint are not read again


def test_savepoint_without_a_directory_is_refused(tmp_path: Path) -> None:
    jobs_dir = str(tmp_path / "jobs")
    env = StreamExecutionEnvironment.get_execution_environment().set_parallelism(1)
    env.enable_control_endpoint(jobs_dir)
    gate = Gate(5)
    build_job(env, gate, 10, CollectSink())
    job = Running(env, jobs_dir)
    with job.client() as client:
        with pytest.raises(ControlError, match="No savepoint directory configured"):
            client.request("savepoint")
        client.request("stop", target_directory=str(tmp_path / "sp"))
    job.join()


def test_cli_list_status_savepoint_and_stop_against_a_job_in_this_process(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jobs_dir = os.path.join(str(tmp_path / "home"), "jobs")  # $FLINKLITE_HOME/jobs
    assert main(["list"]) == 0
    assert "No running jobs." in capsys.readouterr().out
    assert main(["status", "0" * 32]) == 1
    assert "not found" in capsys.readouterr().err
    env = StreamExecutionEnvironment.get_execution_environment().set_parallelism(1)
    env.enable_control_endpoint()
    gate = Gate(20)
    build_job(env, gate, 100, CollectSink())
    job = Running(env, jobs_dir)
    with job.client() as client:
        job_id = wait_for_records(client, 60)["job_id"]
    assert main(["list"]) == 0
    assert f" : {job_id} : gated (RUNNING, pid {os.getpid()})" in capsys.readouterr().out
    assert main(["list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["job_id"] == job_id
    assert main(["savepoint", job_id[:8], str(tmp_path / "sp")]) == 0
    out = capsys.readouterr().out
    assert f"Triggering savepoint for job {job_id[:8]}." in out and "Savepoint completed. Path: file:" in out
    assert main(["status", job_id]) == 0
    out = capsys.readouterr().out
    assert "numbers" in out and "out           60" in out and "savepoint 1: " in out
    assert main(["status", "--json", job_id]) == 0
    assert json.loads(capsys.readouterr().out)["checkpoints"][0]["kind"] == "savepoint"
    assert main(["stop", "--savepoint-path", str(tmp_path / "sp"), job_id]) == 0
    assert "Savepoint completed. Path: file:" + str(tmp_path / "sp") in capsys.readouterr().out
    job.join()
    assert registered_jobs(jobs_dir) == []


def test_stop_with_drain_fires_event_time_windows_before_the_savepoint(tmp_path: Path) -> None:
    from flinklite.common import Duration, Time
    from flinklite.datastream.window import TumblingEventTimeWindows

    def windowed(env: StreamExecutionEnvironment, sink: CollectSink) -> None:
        strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_seconds(100)) \
            .with_timestamp_assigner(lambda v, ts: v)
        env.from_source(GatedSource(100, Gate(10)), WatermarkStrategy.no_watermarks(), "numbers") \
            .assign_timestamps_and_watermarks(strategy).map(lambda v: (v % 2, 1)).key_by(lambda p: p[0]) \
            .window(TumblingEventTimeWindows.of(Time.milliseconds(10))) \
            .reduce(lambda a, b: (a[0], a[1] + b[1])).sink_to(sink)

    results = {}
    for drain in (False, True):
        jobs_dir = str(tmp_path / f"jobs-{drain}")
        sink = CollectSink()
        env = StreamExecutionEnvironment.get_execution_environment().set_parallelism(1)
        env.enable_control_endpoint(jobs_dir)
        windowed(env, sink)
        job = Running(env, jobs_dir)
        with job.client() as client:
            wait_for_records(client, 30)
            path = client.request("stop", target_directory=str(tmp_path / "sp"), drain=drain)["path"]
        job.join()
        results[drain] = (sorted(sink.values), load_checkpoint(path))
    assert results[False][0] == []  # the watermark is 100 s behind: no window has closed
    assert results[True][0] == sorted([(0, 5), (1, 5)] * 3)  # MAX_WATERMARK closed all three windows

    def window_state(checkpoint: Any) -> int:
        (states,) = [s for key, s in checkpoint.operators.items() if "Window" in key]
        return sum(len(group) for state in states.values() for group in state.get("keyed", {}).values())
    assert window_state(results[False][1]) > 0 and window_state(results[True][1]) == 0
