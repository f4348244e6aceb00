"""Owns running one job's subtasks in several worker processes: the job manager side (the
`python -m flinklite run` process: a pool of workers, slot assignment, deployment, checkpoint
coordination and failover) and the worker side (`python -m flinklite worker --connect HOST:PORT`:
runs its subtasks and exchanges records with the other workers over TCP, through the sans-IO
channels of flinklite/runtime/network.py).

Configuration: `flinklite.workers` (`run --workers N`): local worker processes the job manager
spawns (0, the default, keeps the single-process executor); `flinklite.workers.remote`: how many
more workers, started elsewhere with `python -m flinklite worker --connect HOST:PORT`, it waits
for; `taskmanager.numberOfTaskSlots` (default 1): slots per local worker; `jobmanager.rpc.address`
/ `jobmanager.rpc.port` (default 127.0.0.1 / 0): where the job manager listens for workers;
`flinklite.workers.registration-timeout` (default 60 s).

Placement (Flink's slot sharing): slots are numbered over the workers in the order they joined;
subtask i of every operator runs in slot i mod (number of slots), so each slot holds one slice of
the pipeline. Records between subtasks of one worker go by direct calls as in the single-process
executor; records to a subtask in another worker go through a remote channel. Keyed streams are
partitioned by key group, Kafka partitions are split over source subtasks, as in one process.

The job graph: every worker receives the job script (its text, arguments, the -D properties) at
registration and runs it up to `env.execute()`, where it builds the same graph (checked against
the job manager's); a deployment gives the attempt number, the slot plan and the snapshot to
restore, and the worker builds a fresh JobExecutor for it, keeps its own subtasks and replaces
routes to the others with remote channels. The job manager triggers checkpoints (on wall-clock
time), the workers inject barriers at their sources, barriers flow in-band and are aligned at the
receiving subtasks, and each worker acknowledges its subtasks' state to the job manager, whose
CheckpointCoordinator completes the checkpoint as in one process. A worker that dies (its control
connection ends) or whose subtask fails fails the attempt: the job manager cancels every worker,
spawns replacements for dead local ones, and the restart strategy restarts all subtasks from the
latest completed checkpoint (Flink's full-restart failover).

With ZooKeeper high availability the job manager leads before it builds its pool (execute() in
flinklite/datastream/stream_execution_environment.py), its coordinator carries the HA hooks, and
it confirms the leadership with ZooKeeper before it spawns or deploys workers and before "close";
stop() (leadership revoked) cancels the attempt and shuts the workers down. A sink's end of input
in a worker waits for "close" (the final commit of an EXACTLY_ONCE sink is the job manager's call),
and a worker whose control connection ends exits at once: the workers of a dead or frozen job
manager commit nothing on their own, and the new leader's workers fence what they left open."""

from __future__ import annotations

import atexit
import builtins
import functools
import io
import os
import pickle
import select
import socket
import subprocess
import sys
import time
import traceback
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from flinklite.errors import InvalidProgramError, JobExecutionError
from flinklite.operators.base import Operator
from flinklite.operators.io import SinkOperator, SourceOperator
from flinklite.runtime.checkpoint import (
    CheckpointCoordinator,
    CheckpointSettings,
    CheckpointStats,
    local_path,
)
from flinklite.runtime.executor import JobExecutor, Subtask
from flinklite.runtime.network import (
    BARRIER,
    END,
    HELLO,
    IDLE,
    RECORD,
    WATERMARK,
    FrameDecoder,
    InputChannel,
    MessageDecoder,
    OutputChannel,
    PeerLink,
    deliver_element,
    encode_hello,
    encode_message,
)

WORKERS_KEY = "flinklite.workers"
REMOTE_WORKERS_KEY = "flinklite.workers.remote"
REGISTRATION_TIMEOUT_KEY = "flinklite.workers.registration-timeout"
SLOTS_KEY = "taskmanager.numberOfTaskSlots"
WORKER_SOURCE_BATCH = 64  # records per source poll: short steps keep barriers and credits moving
FLUSH_INTERVAL_S = 0.005  # Flink's buffer timeout: a partly filled buffer waits at most this long
METRICS_INTERVAL_S = 1.0


class WorkerDone(BaseException):
    """Unwinds a worker's copy of the job script once the job manager has shut it down (so
    nothing the script does after execute() runs in the worker)."""


@dataclass
class WorkerSettings:
    local: int = 0
    remote: int = 0
    slots: int = 1
    rpc_address: str = "127.0.0.1"
    rpc_port: int = 0
    registration_timeout_s: float = 60.0

    @staticmethod
    def from_conf(conf: Mapping[str, str]) -> WorkerSettings:
        from flinklite.common.configuration import parse_duration_ms

        settings = WorkerSettings()
        settings.local = int(conf.get(WORKERS_KEY, "0"))
        settings.remote = int(conf.get(REMOTE_WORKERS_KEY, "0"))
        settings.slots = int(conf.get(SLOTS_KEY, "1"))
        settings.rpc_address = conf.get("jobmanager.rpc.address", "127.0.0.1")
        settings.rpc_port = int(conf.get("jobmanager.rpc.port", "0"))
        if REGISTRATION_TIMEOUT_KEY in conf:
            settings.registration_timeout_s = parse_duration_ms(conf[REGISTRATION_TIMEOUT_KEY]) / 1000
        if settings.local < 0 or settings.remote < 0 or settings.slots < 1:
            raise InvalidProgramError(f"{WORKERS_KEY} and {REMOTE_WORKERS_KEY} must be >= 0, {SLOTS_KEY} >= 1")
        return settings

    @property
    def workers(self) -> int:
        return self.local + self.remote


def executor_factory(defaults: Mapping[str, Any], conf: Mapping[str, str]) -> Callable[..., JobExecutor]:
    """What StreamExecutionEnvironment.execute() builds its executor with: the single-process
    JobExecutor unless workers are configured (job manager) or this process is a worker."""
    session = defaults.get("worker_session")
    if isinstance(session, WorkerSession):
        return functools.partial(WorkerJobExecutor, session)
    settings = WorkerSettings.from_conf(conf)
    if settings.workers == 0:
        return JobExecutor
    script = defaults.get("script")
    if not script or not os.path.isfile(str(script)):
        raise InvalidProgramError(f"{WORKERS_KEY} needs a job script run by `python -m flinklite run` "
                                  "(the workers run the same script)")
    job = {"type": "job", "script": os.path.abspath(str(script)), "args": sys.argv[1:], "cwd": os.getcwd(),
           "sys_path": [p for p in sys.path if p], "defaults": _worker_defaults(defaults)}
    with open(str(script), encoding="utf-8") as f:
        job["source"] = f.read()
    pool = WorkerPool(settings, job)
    return functools.partial(DistributedJobExecutor, pool)


def _worker_defaults(defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The job manager's -D properties etc., without what only the job manager acts on."""
    dynamic = {k: v for k, v in dict(defaults.get("dynamic") or {}).items()
               if not k.startswith("flinklite.workers") and not k.startswith("high-availability")
               and not k.startswith("execution.state-recovery")}
    out: dict[str, Any] = {"dynamic": dynamic}
    for key in ("conf_dir", "parallelism"):
        if key in defaults:
            out[key] = defaults[key]
    return out


# -- placement ------------------------------------------------------------------------------------
@dataclass
class SlotPlan:
    """Workers (id, slots, data address) in the order they joined; slot s belongs to the worker
    whose range holds it; subtask i runs in slot i mod total."""

    workers: list[tuple[int, int, tuple[str, int]]]
    _slot_owner: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._slot_owner = [worker for worker, slots, _ in self.workers for _ in range(slots)]
        if not self._slot_owner:
            raise InvalidProgramError("no worker slots")

    def owner(self, subtask_index: int) -> int:
        return self._slot_owner[subtask_index % len(self._slot_owner)]

    def address(self, worker: int) -> tuple[str, int]:
        for worker_id, _, address in self.workers:
            if worker_id == worker:
                return address
        raise KeyError(worker)


def fingerprint(executor: JobExecutor) -> list[tuple[str, int]]:
    return [(t.name, len(executor.subtasks[t])) for t in executor.transformations]


# -- the worker's runtime for one attempt ---------------------------------------------------------
class _RemoteInput(Operator):
    """Stands in for a downstream subtask's operator in another worker: records go into the
    remote channel."""

    def __init__(self, name: str, channel: OutputChannel) -> None:
        super().__init__(name)
        self.channel = channel

    def process_element(self, value: Any, timestamp: int | None, key: Any, input_index: int) -> None:
        self.channel.add((RECORD, value, timestamp, key))


class RemoteTarget(Subtask):
    """A downstream subtask of another worker as the routes of a local upstream subtask see it:
    everything sent to it goes into one OutputChannel. Never blocked here: alignment happens
    at the receiving subtask."""

    def __init__(self, original: Subtask, channel: OutputChannel) -> None:
        super().__init__(original.transformation, original.index, original.parallelism,
                         _RemoteInput(original.name, channel))
        self.out = channel

    def on_watermark(self, channel: Any, watermark: int) -> None:
        self.out.add((WATERMARK, watermark))

    def on_idle(self, channel: Any, idle: bool) -> None:
        self.out.add((IDLE, idle))

    def on_end(self, channel: Any) -> None:
        self.out.add_event((END,))

    def on_barrier(self, channel: Any, checkpoint_id: int) -> None:
        self.out.add_event((BARRIER, checkpoint_id))


class WorkerAttempt:
    """One deployment in one worker: its subtasks (opened, restored), the remote channels to and
    from the other workers, and one step of its loop at a time (sans-IO: the session moves
    bytes between `links` and sockets and hands control messages in)."""

    def __init__(self, executor: JobExecutor, plan: SlotPlan, me: int, attempt: int,
                 send: Callable[[dict[str, Any]], None]) -> None:
        self.executor = executor
        self.plan = plan
        self.me = me
        self.attempt = attempt
        self.send = send
        self.positions = {t: i for i, t in enumerate(executor.transformations)}
        self.owned = [s for t in executor.transformations for s in executor.subtasks[t] if plan.owner(s.index) == me]
        owned = set(self.owned)
        self.links: dict[int, PeerLink] = {}
        self.inputs: list[tuple[InputChannel, Subtask, Any, int]] = []
        remote_out: dict[tuple[int, Any], OutputChannel] = {}
        channel_id = 0
        for t in executor.transformations:
            for sub in executor.subtasks[t]:
                for key in sub.channels:
                    input_index, _, up_index = key
                    sender, receiver = plan.owner(up_index), plan.owner(sub.index)
                    if sender != receiver and me in (sender, receiver):
                        link = self._link(sender if receiver == me else receiver)
                        if receiver == me:
                            channel = link.inputs[channel_id] = InputChannel(channel_id)
                            self.inputs.append((channel, sub, key, input_index))
                        else:
                            remote_out[(id(sub), key)] = link.outputs[channel_id] = OutputChannel(channel_id)
                    channel_id += 1
        for sub in self.owned:
            for routes in sub.output.routes.values():
                for route in routes:
                    if any(target not in owned for target in route.targets):
                        route.retarget([target if target in owned else
                                        RemoteTarget(target, remote_out[(id(target), route.channel)])
                                        for target in route.targets])
        self._reach: dict[Subtask, list[OutputChannel]] = {}
        for sub in self.owned:
            self._reach[sub] = self._reachable(sub, set())
        self.active = [s for s in self.owned if s.transformation.is_source]
        # A sink's end of input commits what it wrote since the last checkpoint (EXACTLY_ONCE
        # KafkaSink): in a worker it waits for the job manager's "close" (sent once every worker
        # finished, while the job manager leads), as Flink's committers wait for the final
        # checkpoint; a worker of a frozen or dead job manager commits nothing on its own.
        self.deferred_ends: list[Callable[[], None]] = []
        for sub in self.owned:
            if isinstance(sub.operator, SinkOperator):
                # an instance attribute over the method (mypy refuses assigning to a method)
                setattr(sub.operator, "end_input",  # noqa: B010
                        functools.partial(self.deferred_ends.append, sub.operator.end_input))
        self.periodic: list[Subtask] = []
        self.finished_reported = False
        self.stopping = False

    def _link(self, peer: int) -> PeerLink:
        link = self.links.get(peer)
        if link is None:
            link = self.links[peer] = PeerLink(peer)
        return link

    def _reachable(self, sub: Subtask, seen: set[int]) -> list[OutputChannel]:
        """The remote channels a record processed by `sub` can end up in (through local calls)."""
        out: list[OutputChannel] = []
        for routes in sub.output.routes.values():
            for route in routes:
                for target in route.targets:
                    if isinstance(target, RemoteTarget):
                        out.append(target.out)
                    elif id(target) not in seen:
                        seen.add(id(target))
                        out.extend(self._reachable(target, seen))
        return out

    def can_proceed(self, sub: Subtask) -> bool:
        return not any(channel.saturated for channel in self._reach[sub])

    def open(self, restore_from: dict[str, dict[int, Any]] | None) -> None:
        executor = self.executor
        owned = set(self.owned)
        for t in reversed(executor.transformations):
            for sub in executor.subtasks[t]:
                if sub in owned:
                    sub.operator.open()
        for sub in self.owned:
            sub.on_aligned = self._acknowledge
            sub.output.rebuild(guarded=True)  # alignment may be in progress at any time
        if restore_from is not None:
            executor._restore(restore_from, only=owned)
        interval = executor.auto_watermark_interval_ms
        if interval > 0:
            now = executor.clock.now()
            self.periodic = [s for s in self.owned if s.operator.wants_periodic_watermarks]
            for sub in self.periodic:
                sub.operator.start_periodic_watermarks(interval, now)

    # -- checkpoints --------------------------------------------------------------------------
    def _acknowledge(self, subtask: Subtask, checkpoint_id: int) -> None:
        subtask.operator.prepare_snapshot_pre_barrier(checkpoint_id)
        state = subtask.operator.snapshot()
        if isinstance(subtask.operator, SourceOperator):
            subtask.operator.checkpointed_positions[checkpoint_id] = state.get("reader")
        key = self.executor._state_key(self.positions[subtask.transformation], subtask.transformation)
        self.send({"type": "ack", "attempt": self.attempt, "checkpoint_id": checkpoint_id, "task": key,
                   "subtask": subtask.index, "state": pickle.dumps(state, pickle.HIGHEST_PROTOCOL)})

    def trigger(self, checkpoint_id: int, stop: bool = False, drain: bool = False) -> None:
        """Barriers at this worker's running sources (finished subtasks acknowledge at once). For
        stop-with-savepoint the sources poll no more after their barrier."""
        for sub in self.owned:
            if sub.ended:
                self._acknowledge(sub, checkpoint_id)
        for sub in list(self.active):
            if drain:
                sub.operator.finish_source()  # type: ignore[attr-defined]
            sub.aligning = checkpoint_id
            sub.check_aligned()
        if stop:
            self.stopping = True
            self.active = []

    def complete(self, checkpoint_id: int) -> None:
        for sub in self.owned:
            sub.operator.notify_checkpoint_complete(checkpoint_id)

    # -- the loop -------------------------------------------------------------------------------
    def step(self, now: int) -> bool:
        """Polls sources, consumes input buffers and fires timers, as far as backpressure lets;
        True when anything moved."""
        progressed = False
        # Input first: a source refilling a saturated channel must not starve the barriers and
        # records that arrived for the subtasks behind it.
        for channel, sub, key, input_index in self.inputs:
            while channel.has_data and self.can_proceed(sub):  # every buffer that has arrived
                for element in channel.take():
                    deliver_element(sub, key, input_index, element)
                progressed = True
        for sub in list(self.active):
            if not self.can_proceed(sub):
                continue
            source = sub.operator
            assert isinstance(source, SourceOperator)
            if source.poll(WORKER_SOURCE_BATCH, now):
                progressed = True
            if source.finished:
                self.active.remove(sub)
                source.finish_source()
                sub.ended = True
                sub.output.end()
        now = self.executor.clock.now()
        for sub in self.owned:
            if not sub.ended and sub.operator.ctx.timers._proc_heap:
                deadline = sub.operator.ctx.timers.next_processing_deadline()
                if deadline is not None and deadline <= now:
                    sub.operator.on_processing_time(now)
        for sub in self.periodic:
            if not sub.ended:
                sub.operator.maybe_emit_periodic(now)
        return progressed

    def next_deadline(self) -> int | None:
        deadlines = [d for d in (s.operator.ctx.timers.next_processing_deadline()
                                 for s in self.owned if not s.ended) if d is not None]
        deadlines.extend(s.operator.next_periodic_at for s in self.periodic if not s.ended)
        return min(deadlines) if deadlines else None

    def flush(self) -> None:
        for link in self.links.values():
            for channel in link.outputs.values():
                channel.finish()

    def pump(self) -> None:
        for link in self.links.values():
            link.send_buffers()
            link.announce_credits()

    @property
    def finished(self) -> bool:
        """Every own subtask ended and everything it sent has left (into the links)."""
        return all(s.ended for s in self.owned) and all(
            channel.idle for link in self.links.values() for channel in link.outputs.values())

    def metrics(self) -> list[tuple[int, int, int, int]]:
        return [(self.positions[s.transformation], s.index, s.records_in, s.output.records_out) for s in self.owned]

    def backpressure(self) -> dict[str, int]:
        outputs = [c for link in self.links.values() for c in link.outputs.values()]
        return {"blocked_sends": sum(c.blocked_sends for c in outputs),
                "queued_buffers": sum(len(c.queue) for c in outputs),
                "buffers_sent": sum(c.buffers_sent for c in outputs)}

    def end_sinks(self) -> None:
        """The sinks' deferred ends of input (on the job manager's "close")."""
        ends, self.deferred_ends[:] = list(self.deferred_ends), []
        for end_input in ends:
            end_input()

    def close(self, quietly: bool) -> None:
        for sub in self.owned:
            try:
                sub.operator.close()
            except Exception:
                if not quietly:
                    raise


# -- the worker process ---------------------------------------------------------------------------
class _Peer:
    def __init__(self, sock: socket.socket, link: PeerLink | None) -> None:
        self.sock = sock
        self.link = link  # None until its HELLO arrived (accepted connections)
        self.decoder = FrameDecoder()
        self.pending = bytearray()


class WorkerSession:
    """A worker process's connection to the job manager, its data listener, and the current
    attempt's sockets (the I/O shell around WorkerAttempt)."""

    def __init__(self, jm: tuple[str, int], slots: int, host: str | None) -> None:
        self.control = socket.create_connection(jm)
        self.control.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        advertise = host or self.control.getsockname()[0]
        self.listener = socket.create_server((advertise, 0))
        self.listener.setblocking(False)
        self.data_address = (advertise, self.listener.getsockname()[1])
        self.decoder = MessageDecoder()
        self.inbox: list[dict[str, Any]] = []
        self.worker_id = -1
        self.send({"type": "register", "slots": slots, "data_address": self.data_address, "pid": os.getpid(),
                   "host": socket.gethostname()})
        self.peers: list[_Peer] = []
        self._debugged = 0.0

    def send(self, message: dict[str, Any]) -> None:
        try:
            self.control.sendall(encode_message(message))
        except OSError:
            self._job_manager_gone()

    def _read_control(self) -> None:
        try:
            data = self.control.recv(1 << 20)
        except OSError:  # reset: a job manager killed with unread messages from us
            data = b""
        if not data:
            self._job_manager_gone()
        self.inbox.extend(self.decoder.feed(data))

    def _job_manager_gone(self) -> NoReturn:
        """The control connection ended without a shutdown: the job manager was killed (or its
        machine went). So is its job: the worker exits at once, without closing its subtasks, so
        nothing more is processed or committed; the transactions it left open are fenced by the
        next attempt (under high availability, the standby job manager's workers)."""
        try:
            sys.stderr.write(f"[flinklite] worker {self.worker_id} (pid {os.getpid()}): the job manager is gone, "
                             "exiting\n")
            sys.stderr.flush()
        finally:
            os._exit(0)

    def receive(self, timeout: float | None = None) -> dict[str, Any] | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.inbox:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            readable, _, _ = select.select([self.control], [], [], wait)
            if not readable:
                return None
            self._read_control()
        return self.inbox.pop(0)

    # -- serving deployments ------------------------------------------------------------------
    def serve(self, build: Callable[[int, int], JobExecutor]) -> None:
        """Deployments until the job manager shuts this worker down."""
        while True:
            message = self.receive()
            assert message is not None
            kind = message["type"]
            if kind == "shutdown":
                raise WorkerDone()
            if kind != "deploy":
                continue  # a cancel or trigger of an attempt that is over
            attempt_id = message["attempt"]
            attempt: WorkerAttempt | None = None
            try:
                self.worker_id = message["worker_id"]
                executor = build(message["default_parallelism"], message["max_parallelism"])
                if fingerprint(executor) != message["fingerprint"]:
                    raise InvalidProgramError(
                        f"the job script built another graph in this worker: {fingerprint(executor)} "
                        f"!= {message['fingerprint']} (a job run on workers must build the same graph every time)")
                attempt = WorkerAttempt(executor, SlotPlan(message["workers"]), self.worker_id, attempt_id, self.send)
                restore = pickle.loads(message["restore"]) if message["restore"] is not None else None
                attempt.open(restore)
                self.send({"type": "deployed", "attempt": attempt_id})
                self._run_attempt(attempt)
            except WorkerDone:
                raise
            except Exception as exc:  # noqa: BLE001 - reported to the job manager, which fails over
                self.send({"type": "failed", "attempt": attempt_id,
                           "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()})
                if attempt is not None:
                    attempt.close(quietly=True)
            finally:
                self._drop_peers()

    def _drop_peers(self) -> None:
        for peer in self.peers:
            peer.sock.close()
        self.peers = []
        while True:  # connections of the attempt that are still waiting in the backlog
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, OSError):
                break
            sock.close()

    def _connect_peers(self, attempt: WorkerAttempt) -> None:
        for peer, link in attempt.links.items():
            if peer > self.worker_id:
                sock = socket.create_connection(attempt.plan.address(peer))
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.setblocking(False)
                entry = _Peer(sock, link)
                entry.pending += encode_hello(self.worker_id, attempt.attempt)
                self.peers.append(entry)

    def _run_attempt(self, attempt: WorkerAttempt) -> None:
        started = False
        clock = attempt.executor.clock
        last_flush = last_metrics = time.monotonic()
        while True:
            inbox = self._take_inbox()
            for position, message in enumerate(inbox):
                kind = message["type"]
                if kind == "shutdown":
                    attempt.close(quietly=True)
                    raise WorkerDone()
                if message.get("attempt") != attempt.attempt:
                    continue
                if kind == "start":
                    started = True
                    self._connect_peers(attempt)
                elif kind == "trigger":
                    attempt.trigger(message["checkpoint_id"], message.get("stop", False), message.get("drain", False))
                elif kind == "complete":
                    attempt.complete(message["checkpoint_id"])
                elif kind == "cancel":
                    self.inbox[:0] = inbox[position + 1:]  # what came with it (a shutdown, a deploy) is next
                    attempt.close(quietly=True)
                    return
                elif kind == "close":
                    self.inbox[:0] = inbox[position + 1:]
                    attempt.end_sinks()
                    attempt.close(quietly=False)
                    self.send({"type": "closed", "attempt": attempt.attempt, "metrics": attempt.metrics(),
                               "backpressure": attempt.backpressure()})
                    return
            progressed = False
            if started:
                progressed = attempt.step(clock.now())
            if DEBUG:
                self._debug_state(attempt)
            monotonic = time.monotonic()
            if not progressed or monotonic - last_flush >= FLUSH_INTERVAL_S:
                attempt.flush()
                last_flush = monotonic
            attempt.pump()
            for peer in self.peers:
                if peer.link is not None and peer.link.outgoing:
                    peer.pending += peer.link.outgoing
                    peer.link.outgoing.clear()
            if started and not attempt.finished_reported and attempt.finished:
                attempt.finished_reported = True
                self.send({"type": "finished", "attempt": attempt.attempt})
            if monotonic - last_metrics >= METRICS_INTERVAL_S:
                last_metrics = monotonic
                self.send({"type": "metrics", "attempt": attempt.attempt, "metrics": attempt.metrics(),
                           "backpressure": attempt.backpressure()})
            timeout = 0.0
            if not progressed:
                timeout = 0.05
                deadline = attempt.next_deadline()
                if deadline is not None:
                    timeout = min(timeout, max(0.0, (deadline - clock.now()) / 1000))
                if attempt.active:
                    timeout = min(timeout, 0.002)  # sources are polled, not waited on
            self._io(attempt, timeout)

    def _debug_state(self, attempt: WorkerAttempt) -> None:
        if time.monotonic() - self._debugged < 0.03:
            return
        self._debugged = time.monotonic()
        outs = [(c.channel_id, len(c.queue), c.credit, c.pending_elements)
                for link in attempt.links.values() for c in link.outputs.values()]
        ins = [(c.channel_id, len(c.queue)) for link in attempt.links.values() for c in link.inputs.values()]
        aligning = [(s.name, s.index, s.aligning, len(s.blocked)) for s in attempt.owned if s.aligning]
        _debug(f"W{self.worker_id} out (id, queued, credit, unflushed)={outs} in (id, queued)={ins} "
               f"aligning={aligning}")

    def _take_inbox(self) -> list[dict[str, Any]]:
        inbox, self.inbox = self.inbox, []
        return inbox

    def _io(self, attempt: WorkerAttempt, timeout: float) -> None:
        readers: list[socket.socket] = [self.control, self.listener, *(p.sock for p in self.peers)]
        writers = [p.sock for p in self.peers if p.pending]
        readable, writable, _ = select.select(readers, writers, [], timeout)
        by_sock = {p.sock: p for p in self.peers}
        for sock in writable:
            peer = by_sock[sock]
            try:
                sent = sock.send(peer.pending)
            except BlockingIOError:
                continue
            except OSError:
                peer.pending.clear()  # the peer is gone: see below
                continue
            del peer.pending[:sent]
        for sock in readable:
            if sock is self.control:
                self._read_control()
            elif sock is self.listener:
                try:
                    accepted, _ = self.listener.accept()
                except BlockingIOError:
                    continue
                accepted.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                accepted.setblocking(False)
                self.peers.append(_Peer(accepted, None))
            else:
                peer = by_sock[sock]
                try:
                    data = sock.recv(1 << 20)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    # The peer closed (the job manager told it to) or died: either way the job
                    # manager decides (it sees a dead worker's control connection end and fails
                    # the job over); until then this worker's channels to it just hold back.
                    sock.close()
                    self.peers.remove(peer)
                    continue
                self._feed(attempt, peer, data)

    def _feed(self, attempt: WorkerAttempt, peer: _Peer, data: bytes) -> None:
        if peer.link is not None:
            peer.link.feed(data)
            return
        frames = peer.decoder.feed(data)  # an accepted connection: its first frame is the HELLO
        if not frames:
            return
        kind, worker, attempt_id, _ = frames[0]
        if kind != HELLO:
            raise ConnectionError("a data connection did not start with HELLO")
        if attempt_id != attempt.attempt or worker not in attempt.links:
            peer.sock.close()  # a connection of an earlier attempt
            self.peers.remove(peer)
            return
        peer.link = attempt.links[worker]
        peer.link.decoder = peer.decoder
        peer.link.apply(frames[1:])


class WorkerJobExecutor(JobExecutor):
    """What env.execute() gets in a worker: the graph is built per deployment (with the job
    manager's parallelism), and run() serves deployments until the job manager shuts the
    worker down (then WorkerDone ends the script)."""

    def __init__(self, session: WorkerSession, sinks: Any, default_parallelism: int, **kwargs: Any) -> None:
        self.session = session
        self._sinks_for_attempts = sinks
        self._kwargs = kwargs
        super().__init__(sinks, default_parallelism, **{**kwargs, "checkpoint_coordinator": None, "control": None})

    def run(self, until_ms: int | None = None, restore_from: dict[str, dict[int, Any]] | None = None) -> None:
        def build(default_parallelism: int, max_parallelism: int) -> JobExecutor:
            kwargs = {**self._kwargs, "max_parallelism": max_parallelism, "checkpoint_coordinator": None,
                      "control": None, "progress_interval_s": None}
            return JobExecutor(self._sinks_for_attempts, default_parallelism, **kwargs)
        self.session.serve(build)


class WholeLines(io.TextIOBase):
    """A worker's stdout: buffered, but written only in whole lines of at most PIPE_BUF bytes
    per write, so the lines of workers printing into one pipe never interleave mid-line."""

    LIMIT = select.PIPE_BUF

    def __init__(self, fd: int) -> None:
        super().__init__()
        self.fd = fd
        self._parts: list[str] = []
        self._size = 0

    def write(self, text: str) -> int:
        self._parts.append(text)
        self._size += len(text)
        if self._size >= 8 * self.LIMIT:
            self._drain(final=False)
        return len(text)

    def _drain(self, final: bool) -> None:
        data = "".join(self._parts).encode()
        cut = len(data) if final else data.rfind(b"\n") + 1
        rest = data[cut:]
        view = memoryview(data)[:cut]
        while view:
            chunk = view[:self.LIMIT]
            end = bytes(chunk).rfind(b"\n") + 1 if len(view) > self.LIMIT else len(chunk)
            written = os.write(self.fd, chunk[:end or len(chunk)])
            view = view[written:]
        text = rest.decode()
        self._parts = [text] if text else []
        self._size = len(text)

    def flush(self) -> None:
        if self._parts:
            self._drain(final=True)

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.fd


def worker_main(connect: str, slots: int = 1, host: str | None = None) -> int:
    """`python -m flinklite worker --connect HOST:PORT`: joins the job manager, receives the job
    script and runs it; its execute() serves the job manager's deployments."""
    jm_host, _, jm_port = connect.rpartition(":")
    if not jm_host or not jm_port.isdigit():
        raise InvalidProgramError(f"--connect takes HOST:PORT, not {connect!r}")
    sys.stdout.flush()
    sys.stdout = WholeLines(sys.stdout.fileno())  # the workers share the job manager's stdout
    session = WorkerSession((jm_host, int(jm_port)), slots, host)
    job = session.receive()
    assert job is not None and job["type"] == "job", job
    session.worker_id = job.get("worker_id", -1)
    from flinklite.datastream.stream_execution_environment import (
        StreamExecutionEnvironment,
    )

    for entry in reversed(job["sys_path"]):
        if entry not in sys.path and os.path.isdir(entry):
            sys.path.insert(0, entry)
    if os.path.isdir(job["cwd"]):
        os.chdir(job["cwd"])
    StreamExecutionEnvironment._defaults = {**job["defaults"], "worker_session": session}
    module = types.ModuleType("__main__")
    module.__dict__.update({"__file__": job["script"], "__builtins__": builtins})
    saved_main, saved_argv = sys.modules.get("__main__"), sys.argv
    sys.modules["__main__"] = module  # classes the script defines unpickle in other workers too
    sys.argv = [job["script"], *job["args"]]
    try:
        exec(compile(job["source"], job["script"], "exec"), module.__dict__)  # noqa: S102 - the job script, as `run` runs it
    except WorkerDone:
        return 0
    except BaseException as exc:  # noqa: BLE001 - the job manager reports it
        session.send({"type": "failed", "attempt": -1, "error": f"{type(exc).__name__}: {exc}",
                      "traceback": traceback.format_exc()})
        return 1
    finally:
        if saved_main is not None:
            sys.modules["__main__"] = saved_main
        sys.argv = saved_argv
    session.send({"type": "failed", "attempt": -1,
                  "error": "the job script ended without calling env.execute() in this worker"})
    return 1


# -- the job manager side -------------------------------------------------------------------------
@dataclass
class WorkerHandle:
    worker_id: int
    sock: socket.socket
    slots: int
    data_address: tuple[str, int]
    pid: int
    host: str
    decoder: MessageDecoder = field(default_factory=MessageDecoder)
    process: subprocess.Popen[bytes] | None = None

    def send(self, message: dict[str, Any]) -> None:
        self.sock.sendall(encode_message(message))

    def describe(self) -> str:
        where = "" if self.host == socket.gethostname() else f" on {self.host}"
        return f"worker {self.worker_id} (pid {self.pid}{where})"


class WorkerLost(Exception):
    pass


class WorkerPool:
    """The job manager's workers: a listener they register at, local worker processes it
    spawns (and replaces when they die), and the registered connections."""

    def __init__(self, settings: WorkerSettings, job: dict[str, Any]) -> None:
        self.settings = settings
        self.job = job
        self.listener = socket.create_server((settings.rpc_address, settings.rpc_port))
        self.address = self.listener.getsockname()[:2]
        self.workers: dict[int, WorkerHandle] = {}
        self.processes: list[subprocess.Popen[bytes]] = []
        self.next_id = 0
        self.attempts = 0
        self.closed = False
        sys.stderr.write(f"[flinklite] workers join at {self.address[0]}:{self.address[1]} "
                         f"(python -m flinklite worker --connect {self.address[0]}:{self.address[1]})\n")
        sys.stderr.flush()
        atexit.register(self.shutdown)

    def _spawn(self) -> None:
        command = [sys.executable, "-m", "flinklite", "worker", "--connect", f"{self.address[0]}:{self.address[1]}",
                   "--slots", str(self.settings.slots)]
        self.processes.append(subprocess.Popen(command))

    def ensure(self, stopped: Callable[[], bool] = lambda: False) -> bool:
        """Spawns local workers in place of dead ones and waits until every expected worker
        has registered; False when `stopped()` became true first."""
        if self.closed:
            raise JobExecutionError("the job's workers were shut down")
        alive = []
        for process in self.processes:
            if process.poll() is None:
                alive.append(process)
        self.processes = alive
        for _ in range(self.settings.local - len(self.processes)):
            self._spawn()
        deadline = time.monotonic() + self.settings.registration_timeout_s
        while len(self.workers) < self.settings.workers:
            if stopped():
                return False
            wait = deadline - time.monotonic()
            if wait <= 0:
                raise JobExecutionError(f"only {len(self.workers)} of {self.settings.workers} workers registered "
                                        f"within {self.settings.registration_timeout_s:.0f} s")
            readable, _, _ = select.select([self.listener, *(w.sock for w in self.workers.values())], [], [],
                                           min(wait, 0.1))
            for sock in readable:
                if sock is self.listener:
                    self._accept()
                else:
                    self._drain_idle(sock)
        return True

    def _accept(self) -> None:
        sock, _ = self.listener.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        decoder = MessageDecoder()
        sock.settimeout(self.settings.registration_timeout_s)
        messages: list[dict[str, Any]] = []
        try:
            while not messages:
                data = sock.recv(65536)
                if not data:
                    sock.close()
                    return
                messages = decoder.feed(data)
        except OSError:
            sock.close()
            return
        sock.settimeout(None)
        register = messages[0]
        if register.get("type") != "register":
            sock.close()
            return
        worker_id = self.next_id
        self.next_id += 1
        handle = WorkerHandle(worker_id, sock, int(register["slots"]), tuple(register["data_address"]),
                              int(register["pid"]), str(register["host"]), decoder)
        handle.process = next((p for p in self.processes if p.pid == handle.pid), None)
        handle.send({**self.job, "worker_id": worker_id})
        self.workers[worker_id] = handle

    def _drain_idle(self, sock: socket.socket) -> None:
        """A registered worker between attempts: EOF means it is gone."""
        handle = next(w for w in self.workers.values() if w.sock is sock)
        try:
            data = sock.recv(1 << 20)
        except OSError:
            data = b""
        if not data:
            self.drop(handle)
            return
        for message in handle.decoder.feed(data):
            if message.get("type") == "failed" and message.get("attempt") == -1:
                raise InvalidProgramError(f"{handle.describe()} could not run the job script: {message['error']}\n"
                                          f"{message.get('traceback', '')}")

    def drop(self, handle: WorkerHandle) -> None:
        self.workers.pop(handle.worker_id, None)
        try:
            handle.sock.close()
        except OSError:
            pass

    def broadcast(self, message: dict[str, Any]) -> None:
        for handle in list(self.workers.values()):
            try:
                handle.send(message)
            except OSError:
                self.drop(handle)

    def shutdown(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.broadcast({"type": "shutdown"})
        handles = list(self.workers.values())
        for handle in handles:
            try:
                # FIN after the shutdown message: closing with the worker's last messages unread
                # would reset the connection, and a worker may lose the message to the reset
                handle.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        self.listener.close()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for handle in handles:
            self.drop(handle)


class DistributedJobExecutor(JobExecutor):
    """The job manager's executor for one attempt: the graph is built here too (the same
    JobExecutor construction, nothing opened), the subtasks run in the pool's workers."""

    def __init__(self, pool: WorkerPool, *args: Any, **kwargs: Any) -> None:
        self.pool = pool
        self._max_parallelism_setting = kwargs.get("max_parallelism", -1)
        super().__init__(*args, **kwargs)
        self._default_parallelism = args[1] if len(args) > 1 else kwargs["default_parallelism"]
        self._metrics: dict[tuple[int, int], tuple[int, int]] = {}
        self.backpressure: dict[int, dict[str, int]] = {}
        self._pending_command: Any = None
        self.running_s: float | None = None

    def run(self, until_ms: int | None = None, restore_from: dict[str, dict[int, Any]] | None = None) -> None:
        if until_ms is not None:
            raise InvalidProgramError("run(until_ms=...) is not supported with workers")
        try:
            self._run_distributed(restore_from)
        except WorkerLost as exc:
            self._cancel()
            sys.stderr.write(f"[flinklite] {exc}: failing over (every subtask restarts)\n")
            sys.stderr.flush()
            error = JobExecutionError(f"Job execution failed: {exc}")
            error.task_failure = True
            raise error from exc
        except BaseException as exc:
            self._cancel()
            if not getattr(exc, "task_failure", False):
                self.pool.shutdown()  # no restart follows: the workers go now, not at exit
            raise

    def _cancel(self) -> None:
        self.pool.broadcast({"type": "cancel", "attempt": self.pool.attempts})
        if self._pending_command is not None:
            self._pending_command.fail("the job failed while taking the savepoint")
            self._pending_command = None

    def _stop_now(self) -> None:
        """stop() (the job manager lost its leadership under high availability): the attempt
        ends as in one process, and the workers with it -- cancelled, then shut down, so none
        keeps processing or committing for a job manager that no longer leads."""
        self._cancel()
        self.pool.shutdown()

    def _confirm_leading(self) -> None:
        """Under high availability, asking ZooKeeper: refuses to spawn or deploy workers, and to
        let them commit at the end of input, once this process lost its leadership (their sinks
        would fence the new leader's transactions, or commit output it produces again)."""
        if self.coordinator is not None and self.coordinator.leader_confirm is not None:
            self.coordinator.leader_confirm()

    def _run_distributed(self, restore_from: dict[str, dict[int, Any]] | None) -> None:
        pool = self.pool
        self._confirm_leading()
        if self._stopped or not pool.ensure(stopped=lambda: self._stopped):
            self._stop_now()
            return
        self._confirm_leading()  # registration may have taken a while
        pool.attempts += 1
        attempt = pool.attempts
        workers = sorted(pool.workers.values(), key=lambda w: w.worker_id)
        plan = [(w.worker_id, w.slots, w.data_address) for w in workers]
        restore = pickle.dumps(restore_from, pickle.HIGHEST_PROTOCOL) if restore_from is not None else None
        for handle in workers:
            self._send(handle, {"type": "deploy", "attempt": attempt, "worker_id": handle.worker_id, "workers": plan,
                                "default_parallelism": self._default_parallelism,
                                "max_parallelism": self._max_parallelism_setting,
                                "fingerprint": fingerprint(self), "restore": restore})
        waiting = {w.worker_id for w in workers}
        deadline = time.monotonic() + pool.settings.registration_timeout_s
        while waiting:
            if self._stopped:
                self._stop_now()
                return
            if time.monotonic() > deadline:
                raise WorkerLost(f"workers {sorted(waiting)} did not deploy the job within "
                                 f"{pool.settings.registration_timeout_s:.0f} s")
            for handle, message in self._receive(workers, 0.1, attempt):
                if message["type"] == "deployed" and message["attempt"] == attempt:
                    waiting.discard(handle.worker_id)
        coordinator = self.coordinator
        if coordinator is not None:
            # before any worker starts: under HA its leader check refuses an attempt of a process
            # that lost its leadership, whose sinks would otherwise fence the new leader's ones
            coordinator.start(_wall_ms())
        for handle in workers:
            self._send(handle, {"type": "start", "attempt": attempt})
        started = time.perf_counter()
        finished: set[int] = set()
        closing = False
        closed: set[int] = set()
        while len(closed) < len(workers):
            if self._stopped and not closing:  # stop(): as in one process, the attempt just ends
                self._stop_now()
                return
            now = _wall_ms()
            if not closing and coordinator is not None and coordinator.is_due(now) and len(finished) < len(workers):
                self._triggered_at = time.perf_counter()
                checkpoint_id = coordinator.trigger(now, self._tasks())
                _debug(f"trigger {checkpoint_id}")
                for handle in workers:
                    self._send(handle, {"type": "trigger", "attempt": attempt, "checkpoint_id": checkpoint_id})
            if self.control is not None and self.control.pending and not closing \
                    and (coordinator is None or coordinator.pending is None):  # a savepoint waits for a checkpoint
                self._serve_worker_commands(workers, attempt)
            timeout = 0.05
            if coordinator is not None and coordinator.next_due is not None:
                timeout = min(timeout, max(0.0, (coordinator.next_due - now) / 1000))
            for handle, message in self._receive(workers, timeout, attempt):
                kind = message["type"]
                _debug(f"from {handle.worker_id}: {kind} {message.get('checkpoint_id', '')} {message.get('task', '')}")
                if message.get("attempt") != attempt:
                    continue
                if kind == "ack":
                    self._on_ack(workers, attempt, message)
                elif kind == "finished":
                    finished.add(handle.worker_id)
                elif kind == "metrics":
                    self._record_metrics(handle, message)
                elif kind == "closed":
                    self._record_metrics(handle, message)
                    closed.add(handle.worker_id)
            if (len(finished) == len(workers) or self._stop_command is not None) and not closing:
                # "close" lets the sinks commit what they wrote after the last checkpoint (their
                # end of input waits for it in the workers): only while this process leads
                self._confirm_leading()
                closing = True
                if coordinator is not None:
                    coordinator.abort_pending()
                for handle in workers:
                    self._send(handle, {"type": "close", "attempt": attempt})
        if self._stop_command is not None:
            savepoint = self.last_savepoint
            assert savepoint is not None and savepoint.path is not None
            self._stop_command.reply(path="file:" + savepoint.path, checkpoint_id=savepoint.checkpoint_id)
        self.running_s = time.perf_counter() - started  # deployed to closed (bench/flinklite_workers.py)
        pool.shutdown()  # the job is over (a script's next execute() gets a new pool)

    def _send(self, handle: WorkerHandle, message: dict[str, Any]) -> None:
        try:
            handle.send(message)
        except OSError as exc:
            self.pool.drop(handle)
            raise WorkerLost(f"{handle.describe()} is gone ({exc})") from exc

    def _receive(self, workers: list[WorkerHandle], timeout: float,
                 attempt: int) -> list[tuple[WorkerHandle, dict[str, Any]]]:
        out: list[tuple[WorkerHandle, dict[str, Any]]] = []
        by_sock = {w.sock: w for w in workers}
        readable, _, _ = select.select(list(by_sock), [], [], timeout)
        for sock in readable:
            handle = by_sock[sock]
            try:
                data = sock.recv(1 << 22)
            except OSError:
                data = b""
            if not data:
                self.pool.drop(handle)
                code = None
                if handle.process is not None:
                    try:
                        code = handle.process.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        handle.process.kill()
                        code = handle.process.wait()
                status = f", exit {code}" if code is not None else ""
                raise WorkerLost(f"{handle.describe()} is gone{status}")
            for message in handle.decoder.feed(data):
                if message["type"] == "failed" and message.get("attempt") in (-1, attempt):
                    if message.get("attempt") == -1:
                        raise InvalidProgramError(f"{handle.describe()} could not run the job script: "
                                                  f"{message['error']}\n{message.get('traceback', '')}")
                    raise WorkerLost(f"a subtask in {handle.describe()} failed: {message['error']}\n"
                                     f"{message.get('traceback', '')}")
                out.append((handle, message))
        return out

    def _on_ack(self, workers: list[WorkerHandle], attempt: int, message: dict[str, Any]) -> None:
        coordinator = self.coordinator
        assert coordinator is not None
        state = pickle.loads(message["state"])
        checkpoint_id = message["checkpoint_id"]
        completed = coordinator.acknowledge(checkpoint_id, message["task"], message["subtask"], state)
        if completed is None:
            return
        completed.duration_ms = (time.perf_counter() - self._triggered_at) * 1000
        coordinator.record_duration(checkpoint_id, completed.duration_ms)
        if completed.is_savepoint:
            self.last_savepoint = completed
            command, self._pending_command = self._pending_command, None
            if command is None:
                return
            assert completed.path is not None
            if command.name == "stop":
                for handle in workers:
                    self._send(handle, {"type": "complete", "attempt": attempt, "checkpoint_id": checkpoint_id})
                self._stop_command = command
            else:
                command.reply(path="file:" + completed.path, checkpoint_id=checkpoint_id)
            return
        self.checkpoint_stats.append(CheckpointStats.of(completed))
        for handle in workers:
            self._send(handle, {"type": "complete", "attempt": attempt, "checkpoint_id": checkpoint_id})

    def _serve_worker_commands(self, workers: list[WorkerHandle], attempt: int) -> None:
        assert self.control is not None
        for command in self.control.take():
            if command.name == "status":
                command.reply(**self.control.job_info(), **self.status())
                continue
            if self._pending_command is not None or self._stop_command is not None:
                command.fail("a savepoint is in progress")
                continue
            directory = command.request.get("target_directory") or self.control.savepoint_directory
            if not directory:
                command.fail("No savepoint directory configured. You can either specify a directory when triggering "
                             "the savepoint or configure a cluster-wide default via key "
                             "'execution.checkpointing.savepoint-dir'.")
                continue
            if self.coordinator is None:
                self.coordinator = CheckpointCoordinator(CheckpointSettings(), None)
            directory = os.path.abspath(local_path(str(directory)))
            os.makedirs(directory, exist_ok=True)
            stopping = command.name == "stop"
            self._triggered_at = time.perf_counter()
            checkpoint_id = self.coordinator.trigger_savepoint(_wall_ms(), self._tasks(), directory)
            self._pending_command = command
            for handle in workers:
                self._send(handle, {"type": "trigger", "attempt": attempt, "checkpoint_id": checkpoint_id,
                                    "stop": stopping, "drain": stopping and bool(command.request.get("drain"))})

    def _record_metrics(self, handle: WorkerHandle, message: dict[str, Any]) -> None:
        for position, index, records_in, records_out in message["metrics"]:
            self._metrics[(position, index)] = (records_in, records_out)
        self.backpressure[handle.worker_id] = dict(message.get("backpressure", {}))

    def _sums(self, position: int) -> tuple[int, int]:
        values = [v for (p, _), v in self._metrics.items() if p == position]
        return sum(v[0] for v in values), sum(v[1] for v in values)

    def metrics(self) -> dict[str, tuple[int, int]]:
        return {t.name: self._sums(i) for i, t in enumerate(self.transformations)}

    def status(self) -> dict[str, Any]:
        answer = super().status()
        for position, operator in enumerate(answer["operators"]):
            operator["records_in"], operator["records_out"] = self._sums(position)
        answer["workers"] = [{"id": w.worker_id, "pid": w.pid, "host": w.host, "slots": w.slots,
                              **self.backpressure.get(w.worker_id, {})}
                             for w in sorted(self.pool.workers.values(), key=lambda w: w.worker_id)]
        return answer


def _wall_ms() -> int:
    return int(time.time() * 1000)


DEBUG = bool(os.environ.get("FLINKLITE_DEBUG_WORKERS"))  # channel states and coordinator events on stderr


def _debug(line: str) -> None:
    if DEBUG:
        sys.stderr.write(f"[workers {time.monotonic():.3f}] {line}\n")
