"""Owns the local control endpoint of a running job, its registry and its client.

- Registry: each running job writes `<jobs dir>/<job id>.<pid>.json` (job id, name, pid, port,
  start time), removed when the job ends; the jobs directory is `$FLINKLITE_HOME/jobs`
  (default `~/.flinklite/jobs`). Entries of processes that are gone are pruned when listed.
- Protocol: a TCP connection to 127.0.0.1:<port>; each request is one line of JSON
  (`{"command": "ping" | "status" | "savepoint" | "stop", ..., "timeout_ms": n}`), each answer
  one line of JSON, `{"ok": true, ...}` or `{"ok": false, "error": "..."}`, in order; a
  connection may carry several requests.
- `ControlServer`: listens on port 0 from a background thread (one thread per connection);
  `ping` is answered there, everything else becomes a `Command` in the job's `JobControl`
  queue, which the (synchronous) executor takes between two iterations of its loop and answers
  from its own thread; the connection thread waits for that answer.
- Timeouts. A command waits for its answer at most the request's `timeout_ms` (the client's
  own timeout; `ControlClient` reads a little longer, so the answer reaches it) or the server's
  `answer_timeout_s`, whichever is shorter. Flink's CLI user who saw `stop` (or `savepoint`)
  fail with a timeout expects the job to keep running as it was, not to stop minutes later
  when it gets round to the command. So a command the job has not taken yet is withdrawn at
  the timeout: it never runs (`JobControl.take` skips it), and the answer says so
  (`"timed_out": true, "withdrawn": true`). A command the job had already taken (its savepoint
  barriers are in flight) cannot be taken back: the answer says it is still in progress and
  will complete (`"timed_out": true, "in_progress": true`); its late result is discarded. When
  the job ends (`close`), queued commands and taken ones never answered fail with the reason.
- Idle connections: a connection that sends no request for `idle_timeout_s` (default 300 s) is
  closed by the server, and `close()` shuts down every connection still open (an idle client
  sees EOF), so neither sockets nor connection threads outlive the job.
- `ControlClient` / `find_job`: what `python -m flinklite savepoint|stop|list|status` use."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

HOME_ENV = "FLINKLITE_HOME"
HOST = "127.0.0.1"
MAX_LINE = 1 << 20
ANSWER_GRACE_S = 5.0  # how much longer a client reads than it asks the job to wait
IDLE_TIMEOUT_S = 300.0  # an idle control connection is closed after this long


def jobs_directory(environ: dict[str, str] | None = None) -> str:
    """`$FLINKLITE_HOME/jobs`, else `~/.flinklite/jobs`."""
    env = os.environ if environ is None else environ
    home = env.get(HOME_ENV) or os.path.join(os.path.expanduser("~"), ".flinklite")
    return os.path.join(home, "jobs")


class ControlError(Exception):
    """A control request failed: no such job, the job refused, or it did not answer."""


# -- registry --------------------------------------------------------------------------------
@dataclass(frozen=True)
class JobRegistration:
    job_id: str
    job_name: str
    pid: int
    port: int
    host: str = HOST
    started_ms: int = 0

    def file_name(self) -> str:
        return f"{self.job_id}.{self.pid}.json"


def register(directory: str, registration: JobRegistration) -> str:
    """Writes the registry entry atomically; returns its path."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, registration.file_name())
    temp = path + ".tmp"
    with open(temp, "w", encoding="utf-8") as f:
        json.dump(asdict(registration), f)
    os.replace(temp, path)
    return path


def unregister(directory: str, registration: JobRegistration) -> None:
    try:
        os.remove(os.path.join(directory, registration.file_name()))
    except FileNotFoundError:
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def registered_jobs(directory: str, prune: bool = True) -> list[JobRegistration]:
    """The registered jobs whose process is alive (stale entries are removed), oldest first."""
    if not os.path.isdir(directory):
        return []
    jobs = []
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".json"):
            continue
        path = os.path.join(directory, name)
        try:
            with open(path, encoding="utf-8") as f:
                registration = JobRegistration(**json.load(f))
        except (OSError, ValueError, TypeError):
            continue  # being written or removed
        if not _alive(registration.pid):
            if prune:
                try:
                    os.remove(path)
                except FileNotFoundError:
                    pass
            continue
        jobs.append(registration)
    return sorted(jobs, key=lambda r: (r.started_ms, r.job_id))


def find_job(job_id: str, directory: str) -> JobRegistration:
    """The running job with this id (or a unique prefix of it)."""
    matches = [r for r in registered_jobs(directory) if r.job_id.startswith(job_id.lower())]
    exact = [r for r in matches if r.job_id == job_id.lower()]
    if exact:
        return exact[0]
    if len({r.job_id for r in matches}) == 1:
        return matches[0]
    if not matches:
        raise ControlError(f"Job {job_id} not found (no running job with that id is registered in {directory})")
    raise ControlError(f"{job_id} matches several jobs: {', '.join(sorted({r.job_id for r in matches}))}")


# -- protocol --------------------------------------------------------------------------------
def encode(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode("utf-8") + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    message = json.loads(line.decode("utf-8"))
    if not isinstance(message, dict):
        raise ValueError("a control message is a JSON object")
    return message


class Command:
    """A request handed to the executor thread, answered with reply() or fail().

    States: QUEUED (submitted), TAKEN (`claim()`: the executor works on it), WITHDRAWN (its
    waiter timed out before the executor took it: it never runs) and ANSWERED. Claiming and
    withdrawing happen under one lock, so exactly one of them wins."""

    QUEUED, TAKEN, WITHDRAWN, ANSWERED = "queued", "taken", "withdrawn", "answered"

    def __init__(self, request: dict[str, Any]) -> None:
        self.request = request
        self.name = str(request.get("command"))
        self.state = Command.QUEUED
        self._answer: dict[str, Any] | None = None
        self._lock = threading.Lock()
        self._done = threading.Event()

    def _settle(self, answer: dict[str, Any], state: str, only_if: tuple[str, ...]) -> bool:
        with self._lock:
            if self.state not in only_if:
                return False
            self._answer = answer
            self.state = state
        self._done.set()
        return True

    def claim(self) -> bool:
        """The executor takes the command; False if it was withdrawn (or answered) already."""
        with self._lock:
            if self.state != Command.QUEUED:
                return False
            self.state = Command.TAKEN
            return True

    def withdraw(self, error: str) -> bool:
        """Withdraws the command if the executor has not taken it yet (then it never runs)."""
        return self._settle({"ok": False, "error": error, "timed_out": True, "withdrawn": True},
                            Command.WITHDRAWN, (Command.QUEUED,))

    def reply(self, **fields: Any) -> None:
        self._settle({"ok": True, **fields}, Command.ANSWERED, (Command.QUEUED, Command.TAKEN))

    def fail(self, error: str) -> None:
        self._settle({"ok": False, "error": error}, Command.ANSWERED, (Command.QUEUED, Command.TAKEN))

    @property
    def answered(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None) -> dict[str, Any]:
        """The answer; after `timeout` seconds a command not taken yet is withdrawn, one in
        progress is reported as such (its result, when it comes, is discarded)."""
        if not self._done.wait(timeout):
            withdrawn = self.withdraw(f"the job did not take {self.name!r} within {timeout:g} s: the request was "
                                      "withdrawn and will not run (the job continues as before)")
            if not withdrawn and not self._done.is_set():  # taken, not answered yet
                return {"ok": False, "timed_out": True, "in_progress": True,
                        "error": f"the job started {self.name!r} but did not finish it within {timeout:g} s: it is "
                                 "still in progress and will complete (a savepoint under way cannot be withdrawn); "
                                 "see the job's status"}
        assert self._answer is not None
        return self._answer


class JobControl:
    """The job side of the endpoint: a queue of commands the executor takes between
    iterations (`pending` is a plain attribute, cheap to read on every iteration)."""

    COMMANDS = ("status", "savepoint", "stop")

    def __init__(self, job_id: str, job_name: str, savepoint_directory: str | None = None) -> None:
        self.job_id = job_id
        self.job_name = job_name
        self.savepoint_directory = savepoint_directory
        self.started_ms = int(time.time() * 1000)
        self.state = "CREATED"
        self.restarts = 0
        self.pending = False
        self._queue: deque[Command] = deque()
        self._taken: list[Command] = []  # taken and not answered yet (failed by close())
        self._lock = threading.Lock()
        self._submitted = threading.Condition(self._lock)
        self._closed: str | None = None

    def submit(self, request: dict[str, Any]) -> Command:
        command = Command(request)
        if command.name not in self.COMMANDS:
            command.fail(f"unknown command {command.name!r} (ping, {', '.join(self.COMMANDS)})")
            return command
        with self._lock:
            if self._closed is not None:
                command.fail(self._closed)
                return command
            self._queue.append(command)
            self.pending = True
            self._submitted.notify_all()
        return command

    def wait_for_command(self, timeout: float | None = None) -> bool:
        """Blocks until a command is queued (True) or `timeout` passes (False): for a taker that
        has nothing else to do (the executor polls `pending` between iterations instead)."""
        with self._submitted:
            return self._submitted.wait_for(lambda: bool(self._queue), timeout)

    def take(self) -> list[Command]:
        """The queued commands, now taken by the caller (the executor); withdrawn ones (their
        waiter timed out) are dropped and never returned."""
        with self._lock:
            queued = list(self._queue)
            self._queue.clear()
            self.pending = False
            taken = [command for command in queued if command.claim()]
            self._taken = [c for c in self._taken if not c.answered] + taken
        return taken

    def close(self, reason: str) -> None:
        """No more commands: those still queued (and later ones) fail with `reason`, and so do
        taken ones the job ended without answering."""
        with self._lock:
            self._closed = reason
            commands = list(self._queue) + self._taken
            self._queue.clear()
            self._taken = []
            self.pending = False
        for command in commands:
            command.fail(reason)

    def job_info(self) -> dict[str, Any]:
        return {"job_id": self.job_id, "job_name": self.job_name, "state": self.state, "pid": os.getpid(),
                "started_ms": self.started_ms, "restarts": self.restarts}


class ControlServer:
    """Serves one job's JobControl on 127.0.0.1:<port 0> and registers it in `jobs_dir`."""

    def __init__(self, control: JobControl, jobs_dir: str, answer_timeout_s: float = 600.0,
                 idle_timeout_s: float = IDLE_TIMEOUT_S) -> None:
        self.control = control
        self.jobs_dir = jobs_dir
        self.answer_timeout_s = answer_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((HOST, 0))
        self._socket.listen(16)
        self.port: int = self._socket.getsockname()[1]
        self.registration = JobRegistration(control.job_id, control.job_name, os.getpid(), self.port, HOST,
                                            control.started_ms)
        self._thread = threading.Thread(target=self._accept, name=f"flinklite-control-{self.port}", daemon=True)
        self._closing = False
        self._inflight = 0  # requests read whose answer is not sent yet
        self._settled = threading.Condition()  # also guards the two sets below
        self._connections: set[socket.socket] = set()
        self._connection_threads: set[threading.Thread] = set()

    def start(self) -> ControlServer:
        self._thread.start()
        register(self.jobs_dir, self.registration)
        return self

    @property
    def open_connections(self) -> int:
        with self._settled:
            return len(self._connections)

    def close(self, reason: str = "the job has ended", linger_s: float = 5.0) -> None:
        """Unregisters, fails queued commands, and waits (up to `linger_s`) until the answers
        already given (a stop's, typically) are sent, so the process may exit right after; then
        closes the listener and every connection still open (their threads end)."""
        unregister(self.jobs_dir, self.registration)
        self.control.close(reason)
        with self._settled:
            self._settled.wait_for(lambda: self._inflight == 0, linger_s)
            self._closing = True
            connections = list(self._connections)
            threads = list(self._connection_threads)
        try:
            self._socket.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        except OSError:
            pass
        try:
            self._socket.close()
        except OSError:
            pass
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)  # an idle reader sees EOF and its thread ends
            except OSError:
                pass
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(linger_s)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(linger_s)

    def __enter__(self) -> ControlServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closing:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(connection,), daemon=True,
                                      name=f"flinklite-control-conn-{self.port}")
            with self._settled:
                if self._closing:
                    connection.close()
                    return
                self._connections.add(connection)
                self._connection_threads.add(thread)
            thread.start()

    def _serve(self, connection: socket.socket) -> None:
        try:
            self._serve_requests(connection)
        finally:
            with self._settled:
                self._connections.discard(connection)
                self._connection_threads.discard(threading.current_thread())
            connection.close()

    def _serve_requests(self, connection: socket.socket) -> None:
        # the idle timeout bounds each wait for a request (and each send), not the job's answer
        connection.settimeout(self.idle_timeout_s)
        with connection.makefile("rb") as reader:
            while True:
                try:
                    line = reader.readline(MAX_LINE)
                except OSError:  # idle for idle_timeout_s (socket.timeout), reset, or shut down
                    return
                if not line:
                    return
                with self._settled:
                    self._inflight += 1
                try:
                    try:
                        request = decode(line)
                    except ValueError as exc:
                        answer: dict[str, Any] = {"ok": False, "error": f"malformed request: {exc}"}
                    else:
                        answer = self.answer(request)
                    try:
                        connection.sendall(encode(answer))
                    except OSError:
                        return
                finally:
                    with self._settled:
                        self._inflight -= 1
                        self._settled.notify_all()

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("command") == "ping":
            return {"ok": True, **self.control.job_info()}
        timeout = self.answer_timeout_s
        requested = request.get("timeout_ms")
        if isinstance(requested, (int, float)) and not isinstance(requested, bool) and requested >= 0:
            timeout = min(timeout, requested / 1000)
        return self.control.submit(request).wait(timeout)


class ControlClient:
    """One connection to a job's endpoint; `request` sends a line and reads the answer. The job
    is asked to answer within `timeout_s` (or withdraw the command, see the module header);
    the client reads `ANSWER_GRACE_S` longer, so that answer arrives."""

    def __init__(self, port: int, host: str = HOST, timeout_s: float = 600.0) -> None:
        self.timeout_s = timeout_s
        self._socket = socket.create_connection((host, port), timeout=timeout_s + ANSWER_GRACE_S)
        self._reader = self._socket.makefile("rb")

    @staticmethod
    def for_job(job_id: str, jobs_dir: str | None = None, timeout_s: float = 600.0) -> ControlClient:
        registration = find_job(job_id, jobs_dir or jobs_directory())
        try:
            return ControlClient(registration.port, registration.host, timeout_s)
        except OSError as exc:
            raise ControlError(f"cannot reach job {registration.job_id} on port {registration.port}: {exc}") from exc

    def request(self, command: str, **fields: Any) -> dict[str, Any]:
        """The job's answer; a refusal (`ok` false) raises ControlError."""
        try:
            self._socket.sendall(encode({"command": command, **fields, "timeout_ms": int(self.timeout_s * 1000)}))
            line = self._reader.readline(MAX_LINE)
        except TimeoutError as exc:
            raise ControlError(f"the job did not answer {command!r} within {self.timeout_s + ANSWER_GRACE_S:g} s "
                               "(its endpoint is unresponsive)") from exc
        except OSError as exc:
            raise ControlError(f"the job's control endpoint failed: {exc}") from exc
        if not line:
            raise ControlError("the job closed its control endpoint before answering")
        answer = decode(line)
        if not answer.get("ok"):
            raise ControlError(str(answer.get("error", "the job refused the request")))
        return answer

    def close(self) -> None:
        self._reader.close()
        self._socket.close()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
