"""Owns the local control endpoint of a running job, its registry and its client.

- Registry: each running job writes `<jobs dir>/<job id>.<pid>.json` (job id, name, pid, port,
  start time), removed when the job ends; the jobs directory is `$FLINKLITE_HOME/jobs`
  (default `~/.flinklite/jobs`). Entries of processes that are gone are pruned when listed.
- Protocol: a TCP connection to 127.0.0.1:<port>; each request is one line of JSON
  (`{"command": "ping" | "status" | "savepoint" | "stop", ...}`), each answer one line of JSON,
  `{"ok": true, ...}` or `{"ok": false, "error": "..."}`, in order; a connection may carry
  several requests.
- `ControlServer`: listens on port 0 from a background thread (one thread per connection);
  `ping` is answered there, everything else becomes a `Command` in the job's `JobControl`
  queue, which the (synchronous) executor takes between two iterations of its loop and answers
  from its own thread; the connection thread waits for that answer.
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
    """A request handed to the executor thread, answered with reply() or fail()."""

    def __init__(self, request: dict[str, Any]) -> None:
        self.request = request
        self.name = str(request.get("command"))
        self._answer: dict[str, Any] | None = None
        self._done = threading.Event()

    def reply(self, **fields: Any) -> None:
        if not self._done.is_set():
            self._answer = {"ok": True, **fields}
            self._done.set()

    def fail(self, error: str) -> None:
        if not self._done.is_set():
            self._answer = {"ok": False, "error": error}
            self._done.set()

    @property
    def answered(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None) -> dict[str, Any]:
        if not self._done.wait(timeout):
            return {"ok": False, "error": f"the job did not answer {self.name!r} within {timeout} s"}
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
        self._lock = threading.Lock()
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
        return command

    def take(self) -> list[Command]:
        with self._lock:
            commands = list(self._queue)
            self._queue.clear()
            self.pending = False
        return commands

    def close(self, reason: str) -> None:
        """No more commands: those still queued (and later ones) fail with `reason`."""
        with self._lock:
            self._closed = reason
            commands = list(self._queue)
            self._queue.clear()
            self.pending = False
        for command in commands:
            command.fail(reason)

    def job_info(self) -> dict[str, Any]:
        return {"job_id": self.job_id, "job_name": self.job_name, "state": self.state, "pid": os.getpid(),
                "started_ms": self.started_ms, "restarts": self.restarts}


class ControlServer:
    """Serves one job's JobControl on 127.0.0.1:<port 0> and registers it in `jobs_dir`."""

    def __init__(self, control: JobControl, jobs_dir: str, answer_timeout_s: float = 600.0) -> None:
        self.control = control
        self.jobs_dir = jobs_dir
        self.answer_timeout_s = answer_timeout_s
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
        self._settled = threading.Condition()

    def start(self) -> ControlServer:
        self._thread.start()
        register(self.jobs_dir, self.registration)
        return self

    def close(self, reason: str = "the job has ended", linger_s: float = 5.0) -> None:
        """Unregisters, fails queued commands, and waits (up to `linger_s`) until the answers
        already given (a stop's, typically) are sent, so the process may exit right after."""
        unregister(self.jobs_dir, self.registration)
        self.control.close(reason)
        with self._settled:
            self._settled.wait_for(lambda: self._inflight == 0, linger_s)
        self._closing = True
        try:
            self._socket.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        except OSError:
            pass
        try:
            self._socket.close()
        except OSError:
            pass

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
            threading.Thread(target=self._serve, args=(connection,), daemon=True,
                             name=f"flinklite-control-conn-{self.port}").start()

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            reader = connection.makefile("rb")
            while True:
                try:
                    line = reader.readline(MAX_LINE)
                except OSError:
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
        return self.control.submit(request).wait(self.answer_timeout_s)


class ControlClient:
    """One connection to a job's endpoint; `request` sends a line and reads the answer."""

    def __init__(self, port: int, host: str = HOST, timeout_s: float = 600.0) -> None:
        self._socket = socket.create_connection((host, port), timeout=timeout_s)
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
            self._socket.sendall(encode({"command": command, **fields}))
            line = self._reader.readline(MAX_LINE)
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
