"""The worker side of high availability with parallel workers (flinklite/runtime/workers.py): a
worker exits as soon as its job manager's control connection ends (closed or reset), a sink's end
of input in a worker waits for the job manager's "close", and the job manager's executor honours
stop() while it waits for workers and refuses to spawn any once its leadership is not confirmed.
The processes themselves: compat_tests/flinklite/test_ha_workers.py."""

from __future__ import annotations

import select
import socket
import struct
import threading
import time
from typing import Any

import pytest

from flinklite.operators.io import SinkOperator
from flinklite.runtime import workers
from flinklite.runtime.checkpoint import CheckpointCoordinator, CheckpointSettings
from flinklite.runtime.ha import LeadershipLostError
from flinklite.runtime.workers import (
    DistributedJobExecutor,
    WorkerPool,
    WorkerSession,
    WorkerSettings,
)
from flinklite.testing import CollectSink, ManualClock
from flinklite.tests.test_network import _Cluster, _job


class _Exited(BaseException):
    pass


@pytest.fixture
def exits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """os._exit made catchable: the codes a worker would have exited with."""
    codes: list[int] = []

    def fake_exit(code: int) -> None:
        codes.append(code)
        raise _Exited()

    monkeypatch.setattr(workers.os, "_exit", fake_exit)
    return codes


def _session() -> tuple[WorkerSession, socket.socket, socket.socket]:
    listener = socket.create_server(("127.0.0.1", 0))
    session = WorkerSession(listener.getsockname()[:2], 1, "127.0.0.1")
    manager, _ = listener.accept()
    return session, manager, listener


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
def test_a_worker_exits_when_the_job_manager_connection_ends(exits: list[int], reset: bool) -> None:
    """EOF (the job manager was killed) or a reset (killed with our messages unread in its
    socket): no orphan keeps processing or committing for it."""
    session, manager, listener = _session()
    try:
        if reset:
            manager.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        manager.close()
        with pytest.raises(_Exited):
            session.receive(timeout=5)
        assert exits == [0]
    finally:
        session.control.close()
        session.listener.close()
        listener.close()


def test_a_worker_exits_when_it_cannot_report_to_the_job_manager(exits: list[int]) -> None:
    session, manager, listener = _session()
    try:
        manager.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        manager.close()
        select.select([session.control], [], [], 5)  # the reset has arrived
        with pytest.raises(_Exited):
            session.send({"type": "metrics", "attempt": 1, "metrics": []})
        assert exits == [0]
    finally:
        session.control.close()
        session.listener.close()
        listener.close()


def test_a_sinks_end_of_input_in_a_worker_waits_for_the_job_managers_close() -> None:
    """The end of input of an EXACTLY_ONCE KafkaSink commits what it wrote since the last
    checkpoint: in a worker that happens on "close" (end_sinks), which only a leading job
    manager sends, never when the input merely ran out."""
    sink = CollectSink()
    cluster = _Cluster(_job(sink))
    flushes: list[tuple[int, bool]] = []
    for attempt in cluster.attempts:
        for sub in attempt.owned:
            if isinstance(sub.operator, SinkOperator):
                writer = sub.operator.writer
                inner = writer.flush

                def flush(end_of_input: bool, index: int = sub.index, inner: Any = inner) -> None:
                    flushes.append((index, end_of_input))
                    inner(end_of_input)
                setattr(writer, "flush", flush)  # noqa: B010 - mypy refuses assigning to a method
    cluster.run(lambda: cluster.finished)
    assert all(sub.ended for attempt in cluster.attempts for sub in attempt.owned)
    assert not [f for f in flushes if f[1]]  # input over, nothing ended (committed) yet
    assert [len(attempt.deferred_ends) for attempt in cluster.attempts] == [1, 1]
    for attempt in cluster.attempts:
        attempt.end_sinks()
        attempt.close(quietly=False)
    assert sorted(f for f in flushes if f[1]) == [(0, True), (1, True)]
    assert [attempt.deferred_ends for attempt in cluster.attempts] == [[], []]
    assert len(sink.values) == 3000


def _executor(settings: WorkerSettings, coordinator: CheckpointCoordinator | None) -> DistributedJobExecutor:
    pool = WorkerPool(settings, {"type": "job"})
    return DistributedJobExecutor(pool, _job(CollectSink()), 2, clock=ManualClock(), checkpoint_coordinator=coordinator)


def test_stop_while_waiting_for_workers_ends_the_run_and_shuts_the_pool_down() -> None:
    """on_revoked -> stop() must not wait for the registration timeout."""
    executor = _executor(WorkerSettings(remote=1, registration_timeout_s=60), None)
    threading.Timer(0.2, executor.stop).start()
    started = time.monotonic()
    executor.run()
    assert time.monotonic() - started < 2
    assert executor.pool.closed and executor.pool.workers == {}


def test_no_worker_is_spawned_once_the_leadership_is_not_confirmed() -> None:
    def refuse() -> None:
        raise LeadershipLostError("job x was suspended: this process lost its leadership")

    coordinator = CheckpointCoordinator(CheckpointSettings(), None, leader_check=lambda: None, leader_confirm=refuse)
    executor = _executor(WorkerSettings(local=1, registration_timeout_s=60), coordinator)
    with pytest.raises(LeadershipLostError) as failure:
        executor.run()
    assert not failure.value.task_failure  # no restart strategy applies
    assert executor.pool.processes == [] and executor.pool.closed


def test_a_worker_runs_the_job_script_without_high_availability(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker's copy of the script reaches execute() only to build its graph: HA settings in the
    script, its -D properties or the configuration directory are the job manager's business (a
    worker contending for the leadership would wait forever as a standby). Here the ZooKeeper
    quorum does not exist: execute() runs without asking it."""
    from flinklite.common.configuration import Configuration
    from flinklite.datastream import StreamExecutionEnvironment

    monkeypatch.setattr(StreamExecutionEnvironment, "_defaults", {"worker_session": object()})
    env = StreamExecutionEnvironment.get_execution_environment(Configuration.from_dict({
        "high-availability.type": "zookeeper", "high-availability.zookeeper.quorum": "127.0.0.1:1",
        "high-availability.storageDir": "/nonexistent/ha",
        "high-availability.zookeeper.client.connection-timeout": "100 ms"}))
    env.set_parallelism(1)
    sink = CollectSink()
    env.from_collection([1, 2, 3]).sink_to(sink)
    env.execute("job")
    assert sink.values == [1, 2, 3]


def test_messages_read_together_with_a_cancel_are_kept(exits: list[int]) -> None:
    """A cancel and the shutdown (or the next deploy) that follows it can arrive in one read: the
    worker handles the cancel and keeps the rest, so a revoked job manager's shutdown ends its
    workers through the shutdown, not through the reset of a dropped connection."""
    from flinklite.runtime.network import encode_message

    session, manager, listener = _session()
    try:
        attempt = _Cluster(_job(CollectSink())).attempts[0]
        manager.sendall(encode_message({"type": "cancel", "attempt": attempt.attempt})
                        + encode_message({"type": "shutdown"}))
        session._run_attempt(attempt)
        assert session.inbox == [{"type": "shutdown"}] and exits == []
    finally:
        manager.close()
        session.control.close()
        session.listener.close()
        listener.close()
