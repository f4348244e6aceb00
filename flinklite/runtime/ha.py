"""Owns flinklite's high-availability services: leader election among job-manager processes,
the checkpoint id counter, the pointers to completed checkpoints, the submitted execution plan
and the job result store, configured from Flink's `high-availability.*` keys as parsed (and
validated: only NONE and zookeeper run, kubernetes or a factory class is refused) by
`HighAvailabilitySettings` in flinklite/common/configuration.py; this module parses no keys.

Two implementations behind one interface, `HighAvailabilityServices`:

- `StandaloneHaServices` (`high-availability.type: NONE`, the default): no coordination; this
  process is always the leader, the counter and the checkpoint store live in memory, job results
  in `job-result-store.storage-path` when a storage directory is configured.
- `ZooKeeperHaServices` (`high-availability.type: zookeeper`): Flink 2.3's znode layout under
  `<high-availability.zookeeper.path.root>/<high-availability.cluster-id>` (default
  `/flink/default`), through kazoo::

      /leader/latch/_c_<uuid>-latch-<seq>          EPHEMERAL_SEQUENTIAL, one per contending process
      /leader/<component>/connection_info          EPHEMERAL, written by the latch winner
      /jobs/<jobId>/checkpoint_id_counter          4-byte big-endian int (Curator SharedCount format)
      /jobs/<jobId>/checkpoints/<%019d id>         pointer to completedCheckpoint<hex> in storageDir
                                   /locks/<uuid>   EPHEMERAL lock child, one per store instance
      /execution-plans/<jobId>                     pointer to submittedExecutionPlan<hex>
                              /locks/<uuid>

  The pointer files live in `<high-availability.storageDir>/<cluster-id>/`, named as Flink names
  them (`completedCheckpoint` / `submittedExecutionPlan` + 12 random hex digits). The job result
  store is file based, as Flink's: `<storageDir>/job-result-store/<cluster-id>/<jobId>.json`.

Formats (flinklite's own; Flink writes Java serialization, which we do not reproduce):

- a znode pointer is UTF-8 JSON `{"version": 1, "path": "<file>", "checkpointId": 42}` (the
  execution-plan pointer has `"jobId"` instead of `"checkpointId"`);
- a completedCheckpoint file is UTF-8 JSON `{"version": 1, "jobId", "checkpointId",
  "timestamp", "externalPointer": "<checkpoint dir>/<jobId>/chk-<id>"}`;
- a submittedExecutionPlan file is UTF-8 JSON `{"version": 1, "jobId", "plan": {...}}`;
- `connection_info` is UTF-8 JSON `{"address": "...", "sessionId": "<uuid>"}`;
- the counter is exactly Curator's SharedCount bytes (`struct.pack(">i", n)`).

Threading: kazoo runs its connection in its own thread; the leader latch runs in a worker thread
of this module and reports to the caller through `threading.Event`s and a callback (never from
kazoo's event thread, whose callbacks here only record state changes and wake the worker).
Every other operation is a blocking call that returns its result to the calling thread; the
decisions (latch order, node names, retention, payload codecs) are plain functions tested
without a server."""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import socket
import struct
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import (
    BadVersionError,
    ConnectionLoss,
    KazooException,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    SessionExpiredError,
)
from kazoo.handlers.threading import SequentialThreadingHandler
from kazoo.protocol.states import KazooState, WatchedEvent
from kazoo.retry import KazooRetry

from flinklite.common.configuration import HA_ZOOKEEPER, HighAvailabilitySettings
from flinklite.errors import InvalidProgramError, JobExecutionError
from flinklite.runtime.checkpoint import CompletedCheckpoint

log = logging.getLogger(__name__)

# -- paths ---------------------------------------------------------------------------------------


def zk_join(*parts: str) -> str:
    """Joins znode path segments, each with or without slashes, into one absolute path
    (`zk_join("/flink/", "/default")` is `/flink/default`), as Flink joins root and cluster id."""
    segments = [segment for part in parts for segment in part.split("/") if segment]
    return "/" + "/".join(segments)


# -- layout, names and payloads (pure) ---------------------------------------------------------

LEADER = "leader"
LATCH = "latch"
CONNECTION_INFO = "connection_info"
JOBS = "jobs"
CHECKPOINTS = "checkpoints"
CHECKPOINT_ID_COUNTER = "checkpoint_id_counter"
LOCKS = "locks"
LATCH_LOCK_NAME = "latch-"
DISPATCHER = "dispatcher"
RESOURCE_MANAGER = "resource_manager"
REST_SERVER = "rest_server"
COMPLETED_CHECKPOINT_PREFIX = "completedCheckpoint"
EXECUTION_PLAN_PREFIX = "submittedExecutionPlan"
INITIAL_CHECKPOINT_ID = 1
_INT_MAX = 2**31 - 1
_SEQUENCE = re.compile(r"(\d{10})$")
_CHECKPOINT_NODE = re.compile(r"^\d{19}$")
POINTER_VERSION = 1


def job_component(job_id: str) -> str:
    """The leader component of a job's JobMaster: `job-<jobId>` (Flink 2.x)."""
    return f"job-{job_id}"


def checkpoint_node_name(checkpoint_id: int) -> str:
    return "%019d" % checkpoint_id


def checkpoint_id_of(node_name: str) -> int | None:
    return int(node_name) if _CHECKPOINT_NODE.match(node_name) else None


def encode_counter(value: int) -> bytes:
    if not 0 <= value <= _INT_MAX:
        raise OverflowError(f"checkpoint id counter value {value} does not fit a 4-byte signed int")
    return struct.pack(">i", value)


def decode_counter(data: bytes) -> int:
    if len(data) != 4:
        raise ValueError(f"checkpoint id counter holds {len(data)} bytes, expected 4")
    return int(struct.unpack(">i", data)[0])


def latch_node_prefix(protection_id: str) -> str:
    """Curator's protected LeaderLatch node name before the server appends the sequence:
    `_c_<uuid>-latch-`."""
    return f"_c_{protection_id}-{LATCH_LOCK_NAME}"


def latch_sequence(name: str) -> int:
    match = _SEQUENCE.search(name)
    if match is None:
        raise ValueError(f"{name!r} is not a sequential node name")
    return int(match.group(1))


def latch_order(children: list[str]) -> list[str]:
    """Contenders in election order (lowest sequence first); nodes that are not sequential are
    no contenders."""
    return sorted((c for c in children if _SEQUENCE.search(c)), key=latch_sequence)


def latch_predecessor(children: list[str], ours: str) -> str | None:
    """The contender ours waits for, or None when ours is first (the leader). Raises
    LookupError when ours is not among the children (it went with its session)."""
    order = latch_order(children)
    if ours not in order:
        raise LookupError(ours)
    index = order.index(ours)
    return order[index - 1] if index > 0 else None


def subsumed(checkpoint_ids: list[int], num_retained: int) -> list[int]:
    """Which checkpoints (oldest first) a store keeping `num_retained` drops."""
    ordered = sorted(checkpoint_ids)
    return ordered[:max(0, len(ordered) - num_retained)]


def random_file_name(prefix: str) -> str:
    """`prefix` plus 12 random lowercase hex digits, the shape of Flink's state file names."""
    return prefix + secrets.token_hex(6)


@dataclass(frozen=True)
class LeaderInformation:
    address: str
    session_id: str

    def encode(self) -> bytes:
        return json.dumps({"address": self.address, "sessionId": self.session_id}).encode()

    @classmethod
    def decode(cls, data: bytes) -> LeaderInformation:
        payload = json.loads(data.decode())
        return cls(str(payload["address"]), str(payload["sessionId"]))


@dataclass(frozen=True)
class CheckpointPointer:
    """A completed checkpoint as the HA store knows it: its id, when it was triggered, where its
    data is (`external_pointer`, the `chk-<id>` directory) and the pointer file in storageDir."""
    checkpoint_id: int
    timestamp: int
    external_pointer: str | None
    file: str
    job_id: str


def encode_pointer(file: str, **ids: Any) -> bytes:
    return json.dumps({"version": POINTER_VERSION, "path": file, **ids}).encode()


def decode_pointer(data: bytes) -> dict[str, Any]:
    payload = json.loads(data.decode())
    if not isinstance(payload, dict) or payload.get("version") != POINTER_VERSION or "path" not in payload:
        raise ValueError(f"not a flinklite HA pointer: {data[:80]!r}")
    return payload


@dataclass(frozen=True)
class Recovery:
    """What a (re)started job manager needs to resume a job."""
    job_id: str
    latest_checkpoint_id: int | None
    latest_checkpoint_path: str | None  # the chk-<id> directory, for load_checkpoint()
    next_checkpoint_id: int
    execution_plan: dict[str, Any] | None
    finished: bool  # the job result store has a result: the job must not run again


class FileStateStorage:
    """Writes and reads the JSON files the znode pointers refer to."""

    def __init__(self, directory: str, prefix: str) -> None:
        self.directory = directory
        self.prefix = prefix

    def store(self, payload: Mapping[str, Any]) -> str:
        os.makedirs(self.directory, exist_ok=True)
        for _ in range(10):
            path = os.path.join(self.directory, random_file_name(self.prefix))
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(payload, f)
                f.flush()
                os.fsync(f.fileno())
            return path
        raise OSError(f"could not create a new {self.prefix} file in {self.directory}")

    @staticmethod
    def load(path: str) -> dict[str, Any]:
        with open(path) as f:
            payload = json.load(f)
        if not isinstance(payload, dict):
            raise ValueError(f"{path} is not a flinklite HA state file")
        return payload

    @staticmethod
    def discard(path: str) -> None:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


# -- the interfaces ----------------------------------------------------------------------------


class LeaderElection(ABC):
    """One process's participation in the job-manager leader election. `start()` begins
    contending; `granted` is set once this process leads (and its components' connection info is
    published); `revoked` is set when it stops leading (its ZooKeeper session was lost or
    suspended, or `close()`): a job manager that sees `revoked` must stop its jobs."""

    def __init__(self) -> None:
        self.granted = threading.Event()
        self.revoked = threading.Event()
        self.session_id: str | None = None  # the leader session id, once granted

    @abstractmethod
    def start(self) -> None: ...

    def await_leadership(self, timeout: float | None = None) -> bool:
        """Blocks until this process leads (True) or `timeout` seconds pass (False)."""
        return self.granted.wait(timeout)

    @property
    def is_leader(self) -> bool:
        return self.granted.is_set() and not self.revoked.is_set()

    @abstractmethod
    def close(self) -> None: ...


class CheckpointIdCounter(ABC):
    """Checkpoint ids of one job, shared across job-manager processes."""

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def get_and_increment(self) -> int: ...

    @abstractmethod
    def get(self) -> int: ...

    @abstractmethod
    def set_count(self, value: int) -> None: ...

    @abstractmethod
    def shutdown(self, globally_terminated: bool) -> None: ...


class CompletedCheckpointStore(ABC):
    """Pointers to a job's completed checkpoints, at most `num_retained` of them.
    `add()` returns the ids of checkpoints it dropped, whose data the caller discards."""

    def __init__(self, num_retained: int) -> None:
        if num_retained < 1:
            raise InvalidProgramError("execution.checkpointing.num-retained must be at least 1")
        self.num_retained = num_retained

    @abstractmethod
    def recover(self) -> list[CheckpointPointer]: ...

    @abstractmethod
    def add(self, checkpoint: CompletedCheckpoint) -> list[int]: ...

    @abstractmethod
    def checkpoints(self) -> list[CheckpointPointer]: ...

    def checkpoint_ids(self) -> list[int]:
        return [p.checkpoint_id for p in self.checkpoints()]

    def latest(self) -> CheckpointPointer | None:
        checkpoints = self.checkpoints()
        return checkpoints[-1] if checkpoints else None

    @abstractmethod
    def shutdown(self, globally_terminated: bool) -> None: ...


class ExecutionPlanStore(ABC):
    """Submitted job definitions, so a new leader can run them again."""

    @abstractmethod
    def put(self, job_id: str, plan: Mapping[str, Any]) -> None: ...

    @abstractmethod
    def get(self, job_id: str) -> dict[str, Any] | None: ...

    @abstractmethod
    def job_ids(self) -> list[str]: ...

    @abstractmethod
    def remove(self, job_id: str) -> None: ...

    @abstractmethod
    def release(self, job_id: str) -> None: ...


class JobResultStore:
    """Finished jobs, so a restarted job manager does not run them again. File based when a
    directory is given (Flink's FileSystemJobResultStore: `<jobId>_DIRTY.json` until the job's
    HA data is cleaned up, then `<jobId>.json`), in memory otherwise."""

    def __init__(self, directory: str | None, delete_on_commit: bool = True) -> None:
        self.directory = directory
        self.delete_on_commit = delete_on_commit
        self._memory: dict[str, tuple[bool, dict[str, Any]]] = {}  # job id -> (clean, result)

    def _path(self, job_id: str, dirty: bool) -> str:
        assert self.directory is not None
        return os.path.join(self.directory, f"{job_id}{'_DIRTY' if dirty else ''}.json")

    def create_dirty_result(self, job_id: str, status: str, extra: Mapping[str, Any] | None = None) -> None:
        result = {"version": 1, "result": {"id": job_id, "application-status": status, **(extra or {})}}
        if self.directory is None:
            self._memory[job_id] = (False, result)
            return
        os.makedirs(self.directory, exist_ok=True)
        temp = self._path(job_id, True) + ".tmp"
        with open(temp, "w") as f:
            json.dump(result, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, self._path(job_id, True))

    def mark_clean(self, job_id: str) -> None:
        if self.directory is None:
            if job_id in self._memory:
                self._memory[job_id] = (True, self._memory[job_id][1])
            return
        dirty = self._path(job_id, True)
        if self.delete_on_commit:
            FileStateStorage.discard(dirty)
            self._memory[job_id] = (True, {})
        elif os.path.exists(dirty):
            os.replace(dirty, self._path(job_id, False))

    def has_dirty(self, job_id: str) -> bool:
        if self.directory is None:
            return job_id in self._memory and not self._memory[job_id][0]
        return os.path.exists(self._path(job_id, True))

    def has_clean(self, job_id: str) -> bool:
        if self.directory is None or self.delete_on_commit:
            return job_id in self._memory and self._memory[job_id][0]
        return os.path.exists(self._path(job_id, False))

    def has_result(self, job_id: str) -> bool:
        return self.has_dirty(job_id) or self.has_clean(job_id)

    def status(self, job_id: str) -> str | None:
        """The recorded application status (SUCCEEDED, FAILED, ...) of a dirty or clean entry."""
        if self.directory is None or (self.delete_on_commit and not self.has_dirty(job_id)):
            entry = self._memory.get(job_id)
            result = entry[1].get("result", {}) if entry is not None else {}
        else:
            path = self._path(job_id, True) if self.has_dirty(job_id) else self._path(job_id, False)
            try:
                with open(path) as f:
                    result = json.load(f).get("result", {})
            except (OSError, ValueError):
                return None
        status = result.get("application-status") if isinstance(result, dict) else None
        return str(status) if status is not None else None


class HighAvailabilityServices(ABC):
    def __init__(self, config: HighAvailabilitySettings) -> None:
        self.config = config
        self._job_results = JobResultStore(config.job_result_dir, config.job_result_delete_on_commit)

    @abstractmethod
    def leader_election(self, components: Mapping[str, str] | None = None,
                        on_revoked: Callable[[], None] | None = None) -> LeaderElection:
        """An election for this process; `components` maps component ids (`dispatcher`,
        `rest_server`, `job-<jobId>`, ...) to the address the leader publishes for each."""

    @abstractmethod
    def leader_information(self, component: str) -> LeaderInformation | None:
        """The published leader of a component, if any (what a client looks up)."""

    @abstractmethod
    def checkpoint_id_counter(self, job_id: str) -> CheckpointIdCounter: ...

    @abstractmethod
    def completed_checkpoint_store(self, job_id: str, num_retained: int = 1) -> CompletedCheckpointStore: ...

    @abstractmethod
    def execution_plan_store(self) -> ExecutionPlanStore: ...

    def job_result_store(self) -> JobResultStore:
        return self._job_results

    def recover(self, job_id: str) -> Recovery:
        """The latest completed checkpoint and the next checkpoint id of `job_id`, read without
        taking any lock (a standby may call it)."""
        pointer = self._latest_checkpoint(job_id)
        counter = self._counter_value(job_id)
        next_id = max(counter, pointer.checkpoint_id + 1 if pointer else INITIAL_CHECKPOINT_ID)
        return Recovery(job_id, pointer.checkpoint_id if pointer else None,
                        pointer.external_pointer if pointer else None, next_id,
                        self._execution_plan(job_id), self._job_results.has_result(job_id))

    @abstractmethod
    def _latest_checkpoint(self, job_id: str) -> CheckpointPointer | None: ...

    @abstractmethod
    def _counter_value(self, job_id: str) -> int: ...

    @abstractmethod
    def _execution_plan(self, job_id: str) -> dict[str, Any] | None: ...

    @abstractmethod
    def cleanup_job_data(self, job_id: str) -> None:
        """Removes a globally terminated job's HA data (counter, checkpoint pointers and their
        files, execution plan, its leader node)."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> HighAvailabilityServices:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def default_address(component: str) -> str:
    """What a flinklite process publishes when no address is given: host, pid and component."""
    return f"flinklite://{socket.gethostname()}:{os.getpid()}/{component}"


def services_from_config(conf: Mapping[str, str] | HighAvailabilitySettings) -> HighAvailabilityServices:
    """The services `conf` asks for (ZooKeeper HA services connect before returning). `conf` is
    a map of configuration keys, parsed by flinklite.common.configuration's
    HighAvailabilitySettings (the one parser of the `high-availability.*` keys), or such
    settings; either way validated: an HA type flinklite does not run (kubernetes, a factory
    class) raises InvalidProgramError rather than running without HA."""
    config = conf if isinstance(conf, HighAvailabilitySettings) else HighAvailabilitySettings.from_configuration(conf)
    config.validate()
    if config.type == HA_ZOOKEEPER:
        return ZooKeeperHaServices(config)
    return StandaloneHaServices(config)


def recover(conf: Mapping[str, str], job_id: str) -> Recovery:
    """One-shot recovery lookup: the latest completed checkpoint path (through ZooKeeper under HA)
    and the next checkpoint id of `job_id`."""
    with services_from_config(conf) as services:
        return services.recover(job_id)


# -- standalone ----------------------------------------------------------------------------------

# Flink's standalone services grant leadership at once with the all-zero session id.
_STANDALONE_SESSION = str(uuid.UUID(int=0))


class _StandaloneElection(LeaderElection):
    def start(self) -> None:
        self.session_id = _STANDALONE_SESSION
        self.granted.set()

    def close(self) -> None:
        if self.granted.is_set() and not self.revoked.is_set():
            self.revoked.set()


class _MemoryCounter(CheckpointIdCounter):
    def __init__(self) -> None:
        self.value = INITIAL_CHECKPOINT_ID
        self._lock = threading.Lock()

    def start(self) -> None:
        pass

    def get_and_increment(self) -> int:
        with self._lock:
            value = self.value
            self.value += 1
            return value

    def get(self) -> int:
        return self.value

    def set_count(self, value: int) -> None:
        self.value = value

    def shutdown(self, globally_terminated: bool) -> None:
        pass


class _MemoryCheckpointStore(CompletedCheckpointStore):
    def __init__(self, job_id: str, num_retained: int) -> None:
        super().__init__(num_retained)
        self.job_id = job_id
        self._checkpoints: list[CheckpointPointer] = []

    def recover(self) -> list[CheckpointPointer]:
        return list(self._checkpoints)

    def add(self, checkpoint: CompletedCheckpoint) -> list[int]:
        self._checkpoints.append(CheckpointPointer(checkpoint.checkpoint_id, checkpoint.timestamp, checkpoint.path,
                                                   "", self.job_id))
        self._checkpoints.sort(key=lambda p: p.checkpoint_id)
        dropped = subsumed([p.checkpoint_id for p in self._checkpoints], self.num_retained)
        self._checkpoints = [p for p in self._checkpoints if p.checkpoint_id not in dropped]
        return dropped

    def checkpoints(self) -> list[CheckpointPointer]:
        return list(self._checkpoints)

    def shutdown(self, globally_terminated: bool) -> None:
        if globally_terminated:
            self._checkpoints.clear()


class _MemoryPlanStore(ExecutionPlanStore):
    def __init__(self) -> None:
        self.plans: dict[str, dict[str, Any]] = {}

    def put(self, job_id: str, plan: Mapping[str, Any]) -> None:
        self.plans[job_id] = dict(plan)

    def get(self, job_id: str) -> dict[str, Any] | None:
        return self.plans.get(job_id)

    def job_ids(self) -> list[str]:
        return sorted(self.plans)

    def remove(self, job_id: str) -> None:
        self.plans.pop(job_id, None)

    def release(self, job_id: str) -> None:
        pass


class StandaloneHaServices(HighAvailabilityServices):
    """No high availability: one process, always the leader; counters, checkpoint pointers and
    plans live in this process's memory (a new process starts from scratch, as Flink's)."""

    def __init__(self, config: HighAvailabilitySettings | None = None) -> None:
        super().__init__(config or HighAvailabilitySettings())
        self._counters: dict[str, _MemoryCounter] = {}
        self._stores: dict[str, _MemoryCheckpointStore] = {}
        self._plans = _MemoryPlanStore()
        self._leaders: dict[str, LeaderInformation] = {}

    def leader_election(self, components: Mapping[str, str] | None = None,
                        on_revoked: Callable[[], None] | None = None) -> LeaderElection:
        election = _StandaloneElection()
        for component, address in (components or {DISPATCHER: default_address(DISPATCHER)}).items():
            self._leaders[component] = LeaderInformation(address, _STANDALONE_SESSION)
        return election

    def leader_information(self, component: str) -> LeaderInformation | None:
        return self._leaders.get(component)

    def checkpoint_id_counter(self, job_id: str) -> CheckpointIdCounter:
        return self._counters.setdefault(job_id, _MemoryCounter())

    def completed_checkpoint_store(self, job_id: str, num_retained: int = 1) -> CompletedCheckpointStore:
        store = self._stores.get(job_id)
        if store is None or store.num_retained != num_retained:
            store = self._stores[job_id] = _MemoryCheckpointStore(job_id, num_retained)
        return store

    def execution_plan_store(self) -> ExecutionPlanStore:
        return self._plans

    def _latest_checkpoint(self, job_id: str) -> CheckpointPointer | None:
        store = self._stores.get(job_id)
        return store.latest() if store is not None else None

    def _counter_value(self, job_id: str) -> int:
        counter = self._counters.get(job_id)
        return counter.get() if counter is not None else INITIAL_CHECKPOINT_ID

    def _execution_plan(self, job_id: str) -> dict[str, Any] | None:
        return self._plans.get(job_id)

    def cleanup_job_data(self, job_id: str) -> None:
        self._counters.pop(job_id, None)
        self._stores.pop(job_id, None)
        self._plans.remove(job_id)
        self._leaders.pop(job_component(job_id), None)

    def close(self) -> None:
        pass


# -- ZooKeeper -------------------------------------------------------------------------------------



class ConcurrentModificationError(RuntimeError):
    """A znode this store expected to create already exists (another process wrote it)."""


class LeadershipLostError(JobExecutionError):
    """A write refused by ZooKeeper because the leader's latch node is gone: the session that
    held the leadership expired, even if kazoo has connected again with a new session. Not a
    task failure: no restart strategy applies."""


class JobAlreadyFinishedError(JobExecutionError):
    """The job store has a result for this job id: it reached a globally terminal state and is
    not run again (Flink's DuplicateJobSubmissionException for a globally terminated job)."""


class _StateHandleStore:
    """Pointer znodes under `root`, each `<root>/<name>` holding a pointer to a file and locked by
    an EPHEMERAL `<root>/<name>/locks/<lock id>` child per store instance. A node whose `locks`
    child is gone is marked for deletion (readers skip it); a node is only deleted once no
    process holds a lock, and its file goes with it."""

    def __init__(self, client: KazooClient, root: str, storage: FileStateStorage) -> None:
        self.client = client
        self.root = root
        self.storage = storage
        self.lock_id = str(uuid.uuid4())
        self.fence: str | None = None  # a node whose existence every add is conditional on (fence_on)

    def path(self, name: str) -> str:
        return f"{self.root}/{name}"

    def lock_root(self, name: str) -> str:
        return f"{self.root}/{name}/{LOCKS}"

    def instance_lock(self, name: str) -> str:
        return f"{self.lock_root(name)}/{self.lock_id}"

    def add_and_lock(self, name: str, payload: Mapping[str, Any], **ids: Any) -> str:
        """Writes the payload file, then the node, its `locks` and our lock in one transaction;
        returns the file path. The file is removed again if the transaction fails."""
        file = self.storage.store(payload)
        try:
            self.client.retry(self.client.ensure_path, self.root)
            tx = self.client.transaction()
            if self.fence is not None:
                tx.check(self.fence, -1)  # -1: any version; fails when the node is gone
            tx.create(self.path(name), encode_pointer(file, **ids))
            tx.create(self.lock_root(name), b"")
            tx.create(self.instance_lock(name), b"", ephemeral=True)
            results = tx.commit()
        except ConnectionLoss:
            raise  # the node may exist: keep the file it would point to
        except SessionExpiredError as exc:
            self.storage.discard(file)
            if self.fence is not None:  # the session that won with the fence node is gone
                raise LeadershipLostError(f"{self.path(name)} not added: the session expired (leadership lost)") from exc
            raise
        except BaseException:
            self.storage.discard(file)
            raise
        failures = [r for r in results if isinstance(r, Exception)]
        if failures:
            self.storage.discard(file)
            if self.fence is not None and isinstance(results[0], NoNodeError):
                raise LeadershipLostError(f"{self.path(name)} not added: {self.fence} is gone (leadership lost)")
            if any(isinstance(r, NodeExistsError) for r in failures):
                raise ConcurrentModificationError(f"{self.path(name)} already exists")
            raise failures[0]
        return file

    def replace(self, name: str, payload: Mapping[str, Any], **ids: Any) -> str:
        """Points an existing node at a new file (versioned), discarding the old file."""
        data, stat = self.client.retry(self.client.get, self.path(name))
        old = decode_pointer(data)["path"]
        file = self.storage.store(payload)
        try:
            self.client.set(self.path(name), encode_pointer(file, **ids), version=stat.version)
        except BaseException:
            self.storage.discard(file)
            raise
        self.storage.discard(old)
        return file

    def get_and_lock(self, name: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """(pointer, file payload), with our lock taken; None when the node is gone or marked for
        deletion."""
        try:
            self.client.retry(self.client.create, self.instance_lock(name), b"", ephemeral=True)
        except NodeExistsError:
            pass
        except NoNodeError:
            return None
        try:
            data, _ = self.client.retry(self.client.get, self.path(name))
            pointer = decode_pointer(data)
            return pointer, FileStateStorage.load(pointer["path"])
        except NoNodeError:
            self.release(name)
            return None
        except (ValueError, OSError):
            self.release(name)
            raise

    def read(self, name: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """Like get_and_lock without locking (a read-only look)."""
        try:
            stat = self.client.retry(self.client.exists, self.lock_root(name))
            if stat is None:
                return None
            data, _ = self.client.retry(self.client.get, self.path(name))
        except NoNodeError:
            return None
        pointer = decode_pointer(data)
        return pointer, FileStateStorage.load(pointer["path"])

    def names(self) -> list[str]:
        try:
            return list(self.client.retry(self.client.get_children, self.root))
        except NoNodeError:
            return []

    def release(self, name: str) -> None:
        try:
            self.client.retry(self.client.delete, self.instance_lock(name))
        except NoNodeError:
            pass

    def release_and_try_remove(self, name: str) -> bool:
        """Drops our lock; if nobody else holds one, marks the node for deletion (deletes
        `locks`), discards its file and deletes it. False when another process still holds it."""
        file: str | None = None
        try:
            data, _ = self.client.retry(self.client.get, self.path(name))
            file = decode_pointer(data)["path"]
        except NoNodeError:
            pass
        except ValueError:
            log.warning("znode %s holds no flinklite pointer; removing it anyway", self.path(name))
        self.release(name)
        try:
            self.client.retry(self.client.delete, self.lock_root(name))
        except NotEmptyError:
            return False
        except NoNodeError:
            pass
        if file is not None:
            self.storage.discard(file)
        try:
            self.client.retry(self.client.delete, self.path(name))
        except NoNodeError:
            pass
        return True

    def release_all(self) -> None:
        for name in self.names():
            self.release(name)


class _ZooKeeperCounter(CheckpointIdCounter):
    """`/jobs/<jobId>/checkpoint_id_counter`: a 4-byte big-endian int, changed by versioned
    setData (compare-and-set) so concurrent writers never lose an increment."""

    def __init__(self, client: KazooClient, path: str) -> None:
        self.client = client
        self.path = path
        self.fence: str | None = None  # a node whose existence every increment is conditional on

    def start(self) -> None:
        try:
            self.client.retry(self.client.create, self.path, encode_counter(INITIAL_CHECKPOINT_ID), makepath=True)
        except NodeExistsError:
            pass

    def _read(self) -> tuple[int, int]:
        data, stat = self.client.retry(self.client.get, self.path)
        return decode_counter(data), stat.version

    def get_and_increment(self) -> int:
        while True:
            value, version = self._read()
            if value >= _INT_MAX:
                raise OverflowError("the checkpoint id counter reached Integer.MAX_VALUE")
            try:
                if self.fence is None:
                    self.client.set(self.path, encode_counter(value + 1), version=version)
                    return value
                tx = self.client.transaction()
                tx.check(self.fence, -1)
                tx.set_data(self.path, encode_counter(value + 1), version=version)
                results = tx.commit()
            except (BadVersionError, ConnectionLoss):
                continue  # another writer got there first (or we cannot tell): read again
            except SessionExpiredError as exc:
                if self.fence is not None:  # the session that won with the fence node is gone
                    raise LeadershipLostError(f"{self.path} not incremented: the session expired "
                                              "(leadership lost)") from exc
                raise
            if isinstance(results[0], NoNodeError):
                raise LeadershipLostError(f"{self.path} not incremented: {self.fence} is gone (leadership lost)")
            if not any(isinstance(r, Exception) for r in results):
                return value
            if not isinstance(results[1], BadVersionError):
                raise results[1] if isinstance(results[1], Exception) else results[0]

    def get(self) -> int:
        return self._read()[0]

    def set_count(self, value: int) -> None:
        if self.fence is None:
            self.client.retry(self.client.set, self.path, encode_counter(value))
            return
        tx = self.client.transaction()
        tx.check(self.fence, -1)
        tx.set_data(self.path, encode_counter(value))
        results = tx.commit()
        if isinstance(results[0], NoNodeError):
            raise LeadershipLostError(f"{self.path} not set: {self.fence} is gone (leadership lost)")
        failures = [r for r in results if isinstance(r, Exception)]
        if failures:
            raise failures[-1]

    def shutdown(self, globally_terminated: bool) -> None:
        if globally_terminated:
            try:
                self.client.retry(self.client.delete, self.path)
            except NoNodeError:
                pass


class _ZooKeeperCheckpointStore(CompletedCheckpointStore):
    def __init__(self, client: KazooClient, job_id: str, root: str, storage: FileStateStorage,
                 num_retained: int) -> None:
        super().__init__(num_retained)
        self.job_id = job_id
        self.handles = _StateHandleStore(client, root, storage)
        self._checkpoints: list[CheckpointPointer] = []

    @staticmethod
    def _pointer(job_id: str, pointer: dict[str, Any], payload: dict[str, Any]) -> CheckpointPointer:
        return CheckpointPointer(int(payload["checkpointId"]), int(payload.get("timestamp", 0)),
                                 payload.get("externalPointer"), str(pointer["path"]), job_id)

    def recover(self) -> list[CheckpointPointer]:
        """Locks every retained checkpoint (oldest first); unreadable ones are skipped."""
        recovered: list[CheckpointPointer] = []
        for name in self.handles.names():
            if checkpoint_id_of(name) is None:
                continue
            try:
                found = self.handles.get_and_lock(name)
            except (ValueError, OSError, KeyError) as exc:
                log.warning("skipping checkpoint znode %s: %s", self.handles.path(name), exc)
                continue
            if found is not None:
                recovered.append(self._pointer(self.job_id, *found))
        recovered.sort(key=lambda p: p.checkpoint_id)
        self._checkpoints = recovered
        return list(recovered)

    def add(self, checkpoint: CompletedCheckpoint) -> list[int]:
        payload = {"version": POINTER_VERSION, "jobId": self.job_id, "checkpointId": checkpoint.checkpoint_id,
                   "timestamp": checkpoint.timestamp, "externalPointer": checkpoint.path}
        name = checkpoint_node_name(checkpoint.checkpoint_id)
        file = self.handles.add_and_lock(name, payload, checkpointId=checkpoint.checkpoint_id)
        self._checkpoints.append(CheckpointPointer(checkpoint.checkpoint_id, checkpoint.timestamp, checkpoint.path,
                                                   file, self.job_id))
        self._checkpoints.sort(key=lambda p: p.checkpoint_id)
        dropped: list[int] = []
        for checkpoint_id in subsumed([p.checkpoint_id for p in self._checkpoints], self.num_retained):
            self._checkpoints = [p for p in self._checkpoints if p.checkpoint_id != checkpoint_id]
            if self.handles.release_and_try_remove(checkpoint_node_name(checkpoint_id)):
                dropped.append(checkpoint_id)
        return dropped

    def checkpoints(self) -> list[CheckpointPointer]:
        return list(self._checkpoints)

    def shutdown(self, globally_terminated: bool) -> None:
        if globally_terminated:
            for name in self.handles.names():
                self.handles.release_and_try_remove(name)
            try:
                self.handles.client.retry(self.handles.client.delete, self.handles.root)
            except (NoNodeError, NotEmptyError):
                pass
        else:
            self.handles.release_all()
        self._checkpoints = []


class _ZooKeeperPlanStore(ExecutionPlanStore):
    def __init__(self, client: KazooClient, root: str, storage: FileStateStorage) -> None:
        self.handles = _StateHandleStore(client, root, storage)

    def put(self, job_id: str, plan: Mapping[str, Any]) -> None:
        payload = {"version": POINTER_VERSION, "jobId": job_id, "plan": dict(plan)}
        if self.handles.get_and_lock(job_id) is not None:
            self.handles.replace(job_id, payload, jobId=job_id)
            return
        try:
            self.handles.add_and_lock(job_id, payload, jobId=job_id)
        except ConcurrentModificationError:
            self.handles.get_and_lock(job_id)
            self.handles.replace(job_id, payload, jobId=job_id)

    def get(self, job_id: str) -> dict[str, Any] | None:
        found = self.handles.get_and_lock(job_id)
        return found[1].get("plan") if found is not None else None

    def job_ids(self) -> list[str]:
        return sorted(self.handles.names())

    def remove(self, job_id: str) -> None:
        self.handles.release_and_try_remove(job_id)

    def release(self, job_id: str) -> None:
        self.handles.release(job_id)


class _ZooKeeperElection(LeaderElection):
    """A LeaderLatch on `<ns>/leader/latch`: each process creates one EPHEMERAL_SEQUENTIAL
    `_c_<uuid>-latch-` node; the lowest sequence leads, every other contender watches the node
    just before its own (no herd). The `_c_<uuid>` protection finds our node again when a create
    was answered by a lost connection. Runs in its own worker thread.

    Granting is fenced against the connection: every LOST (and SUSPENDED, unless
    tolerate-suspended-connections) bumps `_epoch` under `_wake`; a grant publishes the
    connection info, checks that our latch node still belongs to the session that created it,
    and then sets `granted` under `_wake` only if the epoch is still the one it started from.
    So a session lost while the grant was in progress aborts it (the connection info it wrote
    is withdrawn and the latch contended again), and one lost after `granted` was set finds it
    set and revokes: no interleaving leaves a leader whose session is gone."""

    def __init__(self, services: ZooKeeperHaServices, components: Mapping[str, str],
                 on_revoked: Callable[[], None] | None) -> None:
        super().__init__()
        self.services = services
        self.client = services.client
        self.latch_path = zk_join(services.config.cluster_path, LEADER, LATCH)
        self.components = dict(components)
        self.on_revoked = on_revoked
        self.protection_id = str(uuid.uuid4())
        self.node: str | None = None  # our latch node's name
        self.node_session: int | None = None  # the ZooKeeper session that created it
        self._epoch = 0  # connection losses seen (SUSPENDED counts unless tolerated); under _wake
        self._wake = threading.Condition()
        self._dirty = True  # something changed since the worker last looked
        self._closed = False
        self._lost_session = False
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    # kazoo's threads: record and wake, never block or call kazoo here
    def _poke(self, *_: object) -> None:
        with self._wake:
            self._dirty = True
            self._wake.notify_all()

    def _on_state(self, state: str) -> None:
        # The epoch moves before `granted` is looked at (both under _wake in _grant): a grant in
        # progress sees the new epoch and aborts, a grant already made is revoked here.
        if state == KazooState.LOST:
            with self._wake:
                self._lost_session = True
                self._epoch += 1
            self._revoke("ZooKeeper session lost")
        elif state == KazooState.SUSPENDED and not self.services.config.tolerate_suspended:
            with self._wake:
                self._epoch += 1
            self._revoke("ZooKeeper connection suspended")
        self._poke()

    def _revoke(self, reason: str) -> None:
        if self.granted.is_set() and not self.revoked.is_set():
            log.warning("leadership revoked: %s", reason)
            self.revoked.set()
            if self.on_revoked is not None:
                threading.Thread(target=self.on_revoked, name="flinklite-ha-revoked", daemon=True).start()

    def start(self) -> None:
        self.client.add_listener(self._on_state)
        self._thread = threading.Thread(target=self._run, name="flinklite-ha-leader-latch", daemon=True)
        self._thread.start()

    def _create_node(self) -> str:
        prefix = latch_node_prefix(self.protection_id)
        self.client.retry(self.client.ensure_path, self.latch_path)
        try:
            created = self.client.create(f"{self.latch_path}/{prefix}", b"", ephemeral=True, sequence=True)
            name = str(created).rsplit("/", 1)[1]
        except ConnectionLoss:
            # The create may have happened: the protection id finds it (no duplicate contender).
            for child in self.client.retry(self.client.get_children, self.latch_path):
                if child.startswith(f"_c_{self.protection_id}-"):
                    name = str(child)
                    break
            else:
                raise
        # The session the node was created in (with a lost connection: found in; a node of an
        # expired session would be gone). No request here: retry() would create a second node.
        self.node_session = int(self.client.client_id[0]) if self.client.client_id else None
        return name

    def _run(self) -> None:
        try:
            self._contend()
        except BaseException as exc:  # noqa: BLE001 - reported through .error and revoked
            if not self._closed:
                log.exception("leader election failed")
                self.error = exc
                self.revoked.set()
                self.granted.set()  # wake anyone waiting; is_leader stays False

    def _contend(self) -> None:
        retry = KazooRetry(max_tries=-1, delay=0.05, backoff=2, max_delay=1.0, interrupt=lambda: self._closed)
        while True:
            with self._wake:
                while not self._dirty and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                self._dirty = False
                if self._lost_session:
                    self.node = None  # our node went with the session
                    self._lost_session = False
                epoch = self._epoch  # what this step saw; a grant needs it unchanged
            if self.granted.is_set():
                continue  # leading: only a revocation (above) or close() matters now
            if self.client.state != KazooState.CONNECTED:
                continue  # the state listener pokes us when the connection is back
            try:
                if self.node is None:
                    self.node = retry(self._create_node)
                children = self.client.get_children(self.latch_path)
                try:
                    predecessor = latch_predecessor(children, self.node)
                except LookupError:
                    self.node = None
                    self._poke()
                    continue
                if predecessor is None:
                    self._grant(epoch)
                    continue
                if self.client.exists(f"{self.latch_path}/{predecessor}", watch=self._poke) is None:
                    self._poke()  # gone between the two reads: look again
            except KazooException as exc:
                # A lost connection or session: the state listener pokes us when it is back;
                # anything else is looked at again shortly.
                log.debug("latch step interrupted: %r", exc)
                if self.client.state == KazooState.CONNECTED:
                    with self._wake:
                        self._wake.wait(0.1)
                    self._poke()

    def _grant(self, epoch: int) -> None:
        """Publishes the connection info and becomes the leader, unless the connection was lost
        (or suspended) since this step began at `epoch`: then nothing is granted, the info this
        attempt wrote is withdrawn and the latch is looked at again (a new node if the session
        went with the old one)."""
        session = str(uuid.uuid4())
        for component, address in self.components.items():
            self.services.write_leader_information(component, LeaderInformation(address, session))
        # Our latch node must still be the one the winning session created: kazoo may have
        # reconnected with a new session while the connection info was written.
        stat = self.client.exists(f"{self.latch_path}/{self.node}")
        with self._wake:
            aborted = (self._closed or self._epoch != epoch or stat is None or self.node_session is None
                       or stat.ephemeralOwner != self.node_session)
            if not aborted:
                self.session_id = session
                self.granted.set()
        if not aborted:
            log.info("this process leads (latch node %s, session %s)", self.node, session)
            return
        log.warning("leadership not granted: the ZooKeeper connection was lost or suspended while it was granted")
        for component in self.components:
            try:
                info = self.services.leader_information(component)
                if info is not None and info.session_id == session:
                    self.services.delete_leader_information(component)  # only if our session owns it
            except KazooException:
                pass  # it is EPHEMERAL: it goes with its session at the latest
        if stat is None or stat.ephemeralOwner != self.node_session:
            with self._wake:
                self._lost_session = True  # the node is not (or no longer) ours: contend anew
        self._poke()

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify_all()
        self.client.remove_listener(self._on_state)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(10)
        if self.client.state == KazooState.CONNECTED:
            if self.granted.is_set() and not self.revoked.is_set():
                for component in self.components:
                    self.services.delete_leader_information(component)
            if self.node is not None:
                try:
                    self.client.delete(f"{self.latch_path}/{self.node}")
                except NoNodeError:
                    pass
        if self.granted.is_set():
            self.revoked.set()


class ZooKeeperHaServices(HighAvailabilityServices):
    """HA services on one kazoo client (one ZooKeeper session per process)."""

    def __init__(self, config: HighAvailabilitySettings, client: KazooClient | None = None) -> None:
        super().__init__(config)
        assert config.quorum is not None and config.cluster_storage_dir is not None
        self.storage_dir: str = config.cluster_storage_dir
        retry_wait = config.retry_wait_ms / 1000
        self.client = client or KazooClient(
            hosts=config.quorum, timeout=config.session_timeout_ms / 1000, handler=SequentialThreadingHandler(),
            connection_retry=KazooRetry(max_tries=-1, delay=0.05, backoff=2, max_jitter=0.1,
                                        max_delay=max(0.1, min(retry_wait, 2.0))),
            command_retry=KazooRetry(max_tries=config.max_retry_attempts, delay=min(retry_wait, 0.5), backoff=2,
                                     max_delay=retry_wait))
        self._own_client = client is None
        self._elections: list[_ZooKeeperElection] = []
        self._checkpoint_stores: dict[str, _ZooKeeperCheckpointStore] = {}
        self._plan_store = _ZooKeeperPlanStore(self.client, self.path(config.execution_plans_path),
                                               FileStateStorage(self.storage_dir, EXECUTION_PLAN_PREFIX))
        if self._own_client:
            try:
                self.client.start(timeout=config.connection_timeout_ms / 1000)
            except BaseException:
                self.client.close()
                raise

    @property
    def namespace(self) -> str:
        return self.config.cluster_path

    def path(self, *parts: str) -> str:
        return zk_join(self.namespace, *parts)

    @property
    def session_id(self) -> int:
        return int(self.client.client_id[0])

    # -- leader election and retrieval ------------------------------------------------------------
    def leader_election(self, components: Mapping[str, str] | None = None,
                        on_revoked: Callable[[], None] | None = None) -> LeaderElection:
        election = _ZooKeeperElection(self, components or {DISPATCHER: default_address(DISPATCHER)}, on_revoked)
        self._elections.append(election)
        return election

    def write_leader_information(self, component: str, info: LeaderInformation) -> None:
        """Writes `/leader/<component>/connection_info` (EPHEMERAL, ours): a node another session
        owns (a previous leader whose session has not expired yet) is deleted and written again."""
        path = self.path(LEADER, component, CONNECTION_INFO)
        data = info.encode()
        while True:
            stat = self.client.retry(self.client.exists, path)
            if stat is None:
                try:
                    self.client.retry(self.client.create, path, data, ephemeral=True, makepath=True)
                    return
                except NodeExistsError:
                    continue
            if stat.ephemeralOwner == self.session_id:
                try:
                    self.client.retry(self.client.set, path, data, version=stat.version)
                    return
                except (BadVersionError, NoNodeError):
                    continue
            try:
                self.client.retry(self.client.delete, path, version=stat.version)
            except (BadVersionError, NoNodeError):
                pass

    def delete_leader_information(self, component: str) -> None:
        path = self.path(LEADER, component, CONNECTION_INFO)
        stat = self.client.exists(path)
        if stat is not None and stat.ephemeralOwner == self.session_id:
            try:
                self.client.delete(path, version=stat.version)
            except (NoNodeError, BadVersionError):
                pass

    def leader_information(self, component: str) -> LeaderInformation | None:
        try:
            data, _ = self.client.retry(self.client.get, self.path(LEADER, component, CONNECTION_INFO))
        except NoNodeError:
            return None
        return LeaderInformation.decode(data) if data else None

    def watch_leader(self, component: str, callback: Callable[[LeaderInformation | None], None]) -> None:
        """Calls `callback` (on kazoo's event thread: keep it short) with every change of the
        component's published leader."""

        def on_change(data: bytes | None, _stat: Any, _event: WatchedEvent | None = None) -> None:
            callback(LeaderInformation.decode(data) if data else None)

        self.client.DataWatch(self.path(LEADER, component, CONNECTION_INFO), on_change)

    # -- per-job stores ---------------------------------------------------------------------------------
    def checkpoint_id_counter(self, job_id: str) -> CheckpointIdCounter:
        counter = _ZooKeeperCounter(self.client, self.path(JOBS, job_id, CHECKPOINT_ID_COUNTER))
        counter.start()
        return counter

    def _store(self, job_id: str, num_retained: int) -> _ZooKeeperCheckpointStore:
        store = self._checkpoint_stores.get(job_id)
        if store is None:
            store = self._checkpoint_stores[job_id] = _ZooKeeperCheckpointStore(
                self.client, job_id, self.path(JOBS, job_id, CHECKPOINTS),
                FileStateStorage(self.storage_dir, COMPLETED_CHECKPOINT_PREFIX), num_retained)
        store.num_retained = num_retained
        return store

    def completed_checkpoint_store(self, job_id: str, num_retained: int = 1) -> CompletedCheckpointStore:
        """The job's store (one per job and process, so one lock id), with every retained
        checkpoint recovered and locked."""
        if num_retained < 1:
            raise InvalidProgramError("execution.checkpointing.num-retained must be at least 1")
        store = self._store(job_id, num_retained)
        store.recover()
        return store

    def execution_plan_store(self) -> ExecutionPlanStore:
        return self._plan_store

    def _latest_checkpoint(self, job_id: str) -> CheckpointPointer | None:
        handles = _StateHandleStore(self.client, self.path(JOBS, job_id, CHECKPOINTS),
                                    FileStateStorage(self.storage_dir, COMPLETED_CHECKPOINT_PREFIX))
        ids = sorted((cid for cid in map(checkpoint_id_of, handles.names()) if cid is not None), reverse=True)
        for checkpoint_id in ids:
            try:
                found = handles.read(checkpoint_node_name(checkpoint_id))
            except (ValueError, OSError, KeyError) as exc:
                log.warning("checkpoint %d's pointer is unreadable (%s); trying an older one", checkpoint_id, exc)
                continue
            if found is not None:
                return _ZooKeeperCheckpointStore._pointer(job_id, *found)
        return None

    def _counter_value(self, job_id: str) -> int:
        try:
            data, _ = self.client.retry(self.client.get, self.path(JOBS, job_id, CHECKPOINT_ID_COUNTER))
        except NoNodeError:
            return INITIAL_CHECKPOINT_ID
        return decode_counter(data)

    def _execution_plan(self, job_id: str) -> dict[str, Any] | None:
        handles = _StateHandleStore(self.client, self.path(self.config.execution_plans_path),
                                    FileStateStorage(self.storage_dir, EXECUTION_PLAN_PREFIX))
        try:
            found = handles.read(job_id)
        except (ValueError, OSError) as exc:
            log.warning("execution plan of %s is unreadable: %s", job_id, exc)
            return None
        if found is None:
            return None
        plan = found[1].get("plan")
        return plan if isinstance(plan, dict) else None

    def cleanup_job_data(self, job_id: str) -> None:
        self._store(job_id, 1).shutdown(globally_terminated=True)
        self._checkpoint_stores.pop(job_id, None)
        _ZooKeeperCounter(self.client, self.path(JOBS, job_id, CHECKPOINT_ID_COUNTER)).shutdown(True)
        for path in (self.path(JOBS, job_id), self.path(LEADER, job_component(job_id))):
            try:
                self.client.retry(self.client.delete, path, recursive=True)
            except NoNodeError:
                pass
        self._plan_store.remove(job_id)

    def close(self) -> None:
        for election in self._elections:
            election.close()
        self._elections.clear()
        if self._own_client:
            try:
                self.client.stop()
            finally:
                self.client.close()


# -- one job manager's use of the services -----------------------------------------------------------


class JobLeadership:
    """What a job-manager process does around one job under high availability, in the order the
    runtime needs it: `acquire()` blocks as a standby until this process leads (publishing its
    connection info, recording the execution plan, opening the job's id counter and checkpoint
    store), `hooks()` are the CheckpointCoordinator's id_counter / completed_store / leader_check,
    `latest_checkpoint_path()` is where to resume, `revoked` tells that leadership went (the job
    must stop and the process give way), and `job_finished()` records the result and removes
    the job's HA data once the job is globally terminated."""

    def __init__(self, conf: Mapping[str, str], job_id: str, job_name: str, num_retained: int = 1,
                 address: str | None = None) -> None:
        self.services = services_from_config(conf)
        self.job_id = job_id
        self.job_name = job_name
        self.num_retained = num_retained
        self.address = address or default_address("jobmanager")
        self.election: LeaderElection | None = None
        self.counter: CheckpointIdCounter | None = None
        self.store: CompletedCheckpointStore | None = None

    def acquire(self, on_revoked: Callable[[], None] | None = None, plan: Mapping[str, Any] | None = None,
                report: Callable[[str], None] | None = None, timeout: float | None = None) -> None:
        election = self.election = self.services.leader_election(
            {DISPATCHER: self.address, job_component(self.job_id): self.address}, on_revoked=on_revoked)
        election.start()
        if not election.await_leadership(0) and report is not None:
            report(f"Waiting for leadership as a standby job manager (cluster {self.services.config.cluster_path})")
        if not election.await_leadership(timeout) or not election.is_leader:
            raise RuntimeError(f"did not become the leader of {self.services.config.cluster_path}"
                               + (f": {election.error!r}" if isinstance(election, _ZooKeeperElection)
                                  and election.error is not None else ""))
        if report is not None:
            report(f"Leading as job manager of {self.services.config.cluster_path} (leader session {election.session_id})")
        self.services.execution_plan_store().put(self.job_id, {"jobName": self.job_name, **(plan or {})})
        self.counter = self.services.checkpoint_id_counter(self.job_id)
        self.store = self.services.completed_checkpoint_store(self.job_id, self.num_retained)
        if isinstance(election, _ZooKeeperElection) and election.node is not None:
            # ZooKeeper-side fencing: checkpoint ids and completed checkpoints are written in a
            # transaction that checks our EPHEMERAL latch node, which goes with the session that
            # won the election; check_leading() alone races with kazoo's reconnect.
            fence = f"{election.latch_path}/{election.node}"
            if isinstance(self.counter, _ZooKeeperCounter):
                self.counter.fence = fence
            if isinstance(self.store, _ZooKeeperCheckpointStore):
                self.store.handles.fence = fence

    def check_finished(self) -> None:
        """Consults the job result store as Flink's dispatcher does on recovery: a dirty entry
        (the job ended, the process died before its HA data was cleaned up) finishes that cleanup
        and marks it clean; a clean entry (kept with job-result-store.delete-on-commit: false) is
        a globally terminated job. Either way the job is not run again: JobAlreadyFinishedError.
        Without an entry (or once delete-on-commit removed it) the job runs."""
        results = self.services.job_result_store()
        if results.has_dirty(self.job_id):
            status = results.status(self.job_id)
            self.services.cleanup_job_data(self.job_id)
            results.mark_clean(self.job_id)
            raise JobAlreadyFinishedError(
                f"job {self.job_id} already reached a globally terminal state ({status}) before this process "
                "took over: its cleanup was finished, the job is not run again")
        if results.has_clean(self.job_id):
            raise JobAlreadyFinishedError(
                f"job {self.job_id} already reached a globally terminal state ({results.status(self.job_id)}) "
                "and is not run again (job-result-store.delete-on-commit is false)")

    @property
    def revoked(self) -> bool:
        return self.election is not None and self.election.revoked.is_set()

    def hooks(self) -> dict[str, Any]:
        assert self.counter is not None and self.store is not None, "acquire() first"
        return {"id_counter": self.counter, "completed_store": self.store, "leader_check": self.check_leading,
                "leader_confirm": self.confirm_leading}

    def check_leading(self) -> None:
        """Raises once the leadership is gone (the CheckpointCoordinator's `leader_check`). A
        process paused past its session (GC, SIGSTOP, a frozen VM) wakes up revoked: stopping
        its executor is not enough, because a task failure of the stopped attempt (its Kafka
        producer was fenced by the new leader) would otherwise restart the job, and the restarted
        sink would fence the new leader's transactions and commit its own output next to it;
        kazoo also opens a new session after the old one expired, so its checkpoints would still
        reach ZooKeeper. Not a task failure: no restart strategy applies."""
        if self.revoked:
            raise LeadershipLostError(f"job {self.job_id} was suspended: this process lost its leadership")

    def confirm_leading(self) -> None:
        """check_leading(), confirmed by ZooKeeper: our latch node still exists and belongs to the
        session that won with it. What a job manager asks before it starts an attempt (its sinks,
        its workers' sinks, fence the Kafka transactions of whoever held their ids before): a
        process thawed after a freeze past its session may not have heard yet that it lost (the
        flag moves when kazoo notices the dropped connection). A node found gone, or ZooKeeper not
        answering, revokes the leadership here before LeadershipLostError is raised (so the job is
        suspended, its HA data kept for the new leader)."""
        self.check_leading()
        election = self.election
        if not isinstance(election, _ZooKeeperElection) or election.node is None:
            return
        fence = f"{election.latch_path}/{election.node}"
        try:
            stat = election.client.retry(election.client.exists, fence)
            lost = stat is None or (election.node_session is not None and stat.ephemeralOwner != election.node_session)
            reason = f"{fence} is gone"
        except KazooException as exc:
            lost, reason = True, f"ZooKeeper did not confirm {fence}: {exc!r}"
        if lost:
            election._revoke(reason)
            raise LeadershipLostError(f"job {self.job_id} was suspended: this process lost its leadership ({reason})")

    def latest_checkpoint_path(self) -> str | None:
        latest = self.store.latest() if self.store is not None else None
        return latest.external_pointer if latest is not None else None

    def job_finished(self, status: str) -> None:
        """The job is globally terminated (FINISHED, FAILED, CANCELED): dirty result, HA data
        removed, result clean, as Flink's dispatcher does."""
        results = self.services.job_result_store()
        results.create_dirty_result(self.job_id, status)
        self.services.cleanup_job_data(self.job_id)
        results.mark_clean(self.job_id)

    def close(self) -> None:
        self.services.close()
