"""Owns checkpoints and restarts as logic objects with explicit time (nothing here sleeps or
reads a clock; the executor passes "now"):

- `CheckpointSettings` / `RestartSettings`: Flink's configuration keys
  (`execution.checkpointing.interval`, `execution.checkpointing.dir` or its older alias
  `state.checkpoints.dir`, `execution.checkpointing.num-retained`, `restart-strategy.*`).
- `CheckpointStorage`: Flink's directory layout, `<dir>/<job id>/chk-<id>/_metadata`. A
  checkpoint is written into a temporary directory and renamed into place, so a reader sees a
  whole checkpoint or none; retained checkpoints beyond the configured count are deleted.
  Savepoints: `<target dir>/savepoint-<first 6 hex of the job id>-<12 random hex>/_metadata`,
  written the same way (`write_savepoint`); `load_checkpoint` reads either kind.
- `CheckpointCoordinator`: when the next checkpoint is due, which tasks must acknowledge a
  pending checkpoint (or savepoint), and completing it (written, older ones pruned) once every
  task has. Savepoints share the checkpoint id counter but are not retained checkpoints: a
  restart after a failure resumes from the latest checkpoint (Flink >= 1.15 does the same).
  Under high availability its `leader_check` hook (flinklite/runtime/ha.py) refuses a (re)start,
  a new checkpoint id and a completion once the process has lost its leadership, so a job
  manager that was paused past its ZooKeeper session (a zombie) neither restarts the job, which
  would fence the new leader's Kafka transactions, nor records checkpoints next to it.
- `RestartStrategy`: none, fixed-delay and failure-rate, deciding whether and when a failed
  job restarts.

The metadata file is flinklite's own format (a pickle with a version header), not Flink's."""

from __future__ import annotations

import os
import pickle
import re
import secrets
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from flinklite.common.configuration import local_path, lookup, parse_duration_ms
from flinklite.errors import InvalidProgramError

METADATA = "_metadata"
_MAGIC = b"FLKCHK1\n"
@dataclass
class CheckpointSettings:
    interval_ms: int | None = None  # None: checkpointing disabled
    directory: str | None = None
    num_retained: int = 1

    def update_from(self, conf: Mapping[str, str]) -> None:
        if "execution.checkpointing.interval" in conf:
            self.interval_ms = parse_duration_ms(conf["execution.checkpointing.interval"])
        directory = lookup(conf, "execution.checkpointing.dir")
        if directory:
            self.directory = local_path(directory)
        retained = lookup(conf, "execution.checkpointing.num-retained")
        if retained is not None:
            self.num_retained = int(retained)
            if self.num_retained < 1:
                raise InvalidProgramError("execution.checkpointing.num-retained must be at least 1")

    @property
    def enabled(self) -> bool:
        return self.interval_ms is not None and self.interval_ms > 0


@dataclass
class RestartSettings:
    """`restart-strategy.type`: none (off, disable), fixed-delay (fixeddelay) or failure-rate
    (failurerate). Unset with checkpointing enabled: fixed-delay with unlimited attempts and a
    1 s delay (Flink 1.x's default; Flink 2's exponential-delay is not implemented)."""

    type: str | None = None
    attempts: int = 1
    delay_ms: int = 1000
    max_failures_per_interval: int = 1
    failure_rate_interval_ms: int = 60_000

    def update_from(self, conf: Mapping[str, str]) -> None:
        kind = conf.get("restart-strategy.type", conf.get("restart-strategy"))
        if kind is not None:
            normal = kind.strip().lower()
            aliases = {"none": "none", "off": "none", "disable": "none", "fixed-delay": "fixed-delay",
                       "fixeddelay": "fixed-delay", "failure-rate": "failure-rate", "failurerate": "failure-rate"}
            if normal not in aliases:
                raise InvalidProgramError(f"restart-strategy.type {kind!r} is not supported "
                                          "(none, fixed-delay, failure-rate)")
            self.type = aliases[normal]
        if "restart-strategy.fixed-delay.attempts" in conf:
            self.attempts = int(conf["restart-strategy.fixed-delay.attempts"])
        if "restart-strategy.fixed-delay.delay" in conf:
            self.delay_ms = parse_duration_ms(conf["restart-strategy.fixed-delay.delay"])
        if "restart-strategy.failure-rate.max-failures-per-interval" in conf:
            self.max_failures_per_interval = int(conf["restart-strategy.failure-rate.max-failures-per-interval"])
        if "restart-strategy.failure-rate.failure-rate-interval" in conf:
            self.failure_rate_interval_ms = parse_duration_ms(conf["restart-strategy.failure-rate.failure-rate-interval"])
        if "restart-strategy.failure-rate.delay" in conf:
            self.delay_ms = parse_duration_ms(conf["restart-strategy.failure-rate.delay"])

    def create(self, checkpointing: bool) -> RestartStrategy:
        kind = self.type or ("fixed-delay" if checkpointing else "none")
        if kind == "none":
            return NoRestart()
        if kind == "fixed-delay":
            attempts = self.attempts if self.type else 2**31 - 1
            return FixedDelayRestart(attempts, self.delay_ms)
        return FailureRateRestart(self.max_failures_per_interval, self.failure_rate_interval_ms, self.delay_ms)


class RestartStrategy:
    def on_failure(self, now: int) -> int | None:
        """Records a failure at `now`; returns when to restart, or None to give up."""
        raise NotImplementedError


class NoRestart(RestartStrategy):
    def on_failure(self, now: int) -> int | None:
        return None

    def __repr__(self) -> str:
        return "NoRestartBackoffTimeStrategy"


class FixedDelayRestart(RestartStrategy):
    def __init__(self, attempts: int, delay_ms: int) -> None:
        self.attempts = attempts
        self.delay_ms = delay_ms
        self.restarts = 0

    def on_failure(self, now: int) -> int | None:
        if self.restarts >= self.attempts:
            return None
        self.restarts += 1
        return now + self.delay_ms

    def __repr__(self) -> str:
        return f"FixedDelayRestartBackoffTimeStrategy(maxNumberRestartAttempts={self.attempts}, " \
               f"backoffTimeMS={self.delay_ms})"


class FailureRateRestart(RestartStrategy):
    """Gives up once more than `max_failures` failures fall within `interval_ms`."""

    def __init__(self, max_failures: int, interval_ms: int, delay_ms: int) -> None:
        self.max_failures = max_failures
        self.interval_ms = interval_ms
        self.delay_ms = delay_ms
        self.failures: list[int] = []

    def on_failure(self, now: int) -> int | None:
        self.failures = [t for t in self.failures if now - t < self.interval_ms] + [now]
        if len(self.failures) > self.max_failures:
            return None
        return now + self.delay_ms

    def __repr__(self) -> str:
        return f"FailureRateRestartBackoffTimeStrategy(failuresIntervalMS={self.interval_ms}, " \
               f"backoffTimeMS={self.delay_ms}, maxFailuresPerInterval={self.max_failures})"


@dataclass
class CompletedCheckpoint:
    checkpoint_id: int
    timestamp: int
    operators: dict[str, dict[int, Any]]  # the executor's snapshot() shape
    path: str | None = None
    kind: str = "checkpoint"  # or "savepoint"
    job_id: str | None = None
    duration_ms: float | None = None  # wall time from trigger to completion (set by the executor)
    size_bytes: int | None = None

    @property
    def is_savepoint(self) -> bool:
        return self.kind == "savepoint"


@dataclass
class CheckpointStats:
    """What status reports of a checkpoint or savepoint (no state: history stays small)."""

    checkpoint_id: int
    kind: str
    timestamp: int
    path: str | None
    size_bytes: int | None
    duration_ms: float | None = None

    @staticmethod
    def of(checkpoint: CompletedCheckpoint) -> CheckpointStats:
        return CheckpointStats(checkpoint.checkpoint_id, checkpoint.kind, checkpoint.timestamp, checkpoint.path,
                               checkpoint.size_bytes, checkpoint.duration_ms)


def _write_metadata(final: str, temp: str, checkpoint: CompletedCheckpoint) -> int:
    """Writes `_metadata` into `temp`, then renames `temp` to `final`; returns its size."""
    shutil.rmtree(temp, ignore_errors=True)
    os.makedirs(temp)
    payload = {"checkpoint_id": checkpoint.checkpoint_id, "timestamp": checkpoint.timestamp,
               "operators": checkpoint.operators, "kind": checkpoint.kind, "job_id": checkpoint.job_id}
    with open(os.path.join(temp, METADATA), "wb") as f:
        f.write(_MAGIC)
        pickle.dump(payload, f, protocol=pickle.HIGHEST_PROTOCOL)
        f.flush()
        os.fsync(f.fileno())
        size = f.tell()
    shutil.rmtree(final, ignore_errors=True)
    os.rename(temp, final)
    return size


def write_savepoint(target_directory: str, checkpoint: CompletedCheckpoint) -> str:
    """Writes a savepoint as `<target>/savepoint-<job id[:6]>-<12 random hex>/_metadata`
    (Flink's naming) and returns that directory."""
    directory = os.path.abspath(local_path(target_directory))
    os.makedirs(directory, exist_ok=True)
    name = f"savepoint-{(checkpoint.job_id or '000000')[:6]}-{secrets.token_hex(6)}"
    final = os.path.join(directory, name)
    checkpoint.size_bytes = _write_metadata(final, os.path.join(directory, f".{name}.inprogress"), checkpoint)
    return final


class CheckpointIdCollision(RuntimeError):
    """A `chk-<id>` directory that is already there (CheckpointStorage.write)."""


class CheckpointStorage:
    """`<directory>/<job id>/chk-<id>/_metadata`, written atomically."""

    def __init__(self, directory: str, job_id: str) -> None:
        self.job_dir = os.path.join(directory, job_id)

    def write(self, checkpoint: CompletedCheckpoint) -> str:
        os.makedirs(self.job_dir, exist_ok=True)
        final = os.path.join(self.job_dir, f"chk-{checkpoint.checkpoint_id}")
        temp = os.path.join(self.job_dir, f".chk-{checkpoint.checkpoint_id}.inprogress")
        if os.path.exists(final):
            # never silently replaced: a second checkpoint with this id means the ids restarted
            # (a restored id not carried over) or another writer shares the directory
            raise CheckpointIdCollision(f"{final} already exists; refusing to overwrite checkpoint "
                                        f"{checkpoint.checkpoint_id}")
        checkpoint.size_bytes = _write_metadata(final, temp, checkpoint)
        return final

    def discard(self, checkpoint_id: int) -> None:
        shutil.rmtree(os.path.join(self.job_dir, f"chk-{checkpoint_id}"), ignore_errors=True)

    def completed_ids(self) -> list[int]:
        if not os.path.isdir(self.job_dir):
            return []
        ids = []
        for name in os.listdir(self.job_dir):
            match = re.fullmatch(r"chk-(\d+)", name)
            if match and os.path.isfile(os.path.join(self.job_dir, name, METADATA)):
                ids.append(int(match.group(1)))
        return sorted(ids)


def load_checkpoint(path: str) -> CompletedCheckpoint:
    """Reads a savepoint or `chk-<id>` directory (or its `_metadata` file); `file:` URIs too."""
    path = local_path(path)
    metadata = path if os.path.basename(path) == METADATA else os.path.join(path, METADATA)
    if not os.path.isfile(metadata):
        raise InvalidProgramError(f"Cannot find meta data file '{METADATA}' in directory '{os.path.dirname(metadata)}'. "
                                  "Please try to load the checkpoint/savepoint directly from the metadata file "
                                  "instead of the directory.")
    with open(metadata, "rb") as f:
        if f.read(len(_MAGIC)) != _MAGIC:
            raise InvalidProgramError(f"{metadata} is not a flinklite checkpoint or savepoint")
        payload = pickle.load(f)
    return CompletedCheckpoint(payload["checkpoint_id"], payload["timestamp"], payload["operators"],
                               os.path.dirname(metadata), payload.get("kind", "checkpoint"), payload.get("job_id"),
                               size_bytes=os.path.getsize(metadata))


class CheckpointIdCounterHook(Protocol):
    """Where checkpoint ids come from instead of the coordinator's own count (high
    availability shares one counter across job-manager processes: flinklite/runtime/ha.py)."""

    def get_and_increment(self) -> int: ...

    def get(self) -> int: ...

    def set_count(self, value: int) -> None: ...


class CompletedCheckpointStoreHook(Protocol):
    """Told of every completed checkpoint (written, `path` set when there is storage); returns
    the ids of retained checkpoints it dropped (it keeps num-retained), whose data the
    coordinator then discards (flinklite/runtime/ha.py)."""

    def add(self, checkpoint: CompletedCheckpoint) -> list[int]: ...

    def checkpoint_ids(self) -> list[int]: ...


@dataclass
class PendingCheckpoint:
    checkpoint_id: int
    timestamp: int
    waiting: set[Any]
    acks: dict[str, dict[int, Any]] = field(default_factory=dict)
    savepoint_directory: str | None = None  # a savepoint: where it goes


class CheckpointCoordinator:
    """Triggers a checkpoint every `interval_ms` of processing time (one at a time), collects
    each task's acknowledgement (its snapshot) and completes the checkpoint when all are in.
    Lives across restarts of a job: checkpoint ids keep counting and the latest completed
    checkpoint is what a restart resumes from."""

    HISTORY = 10

    def __init__(self, settings: CheckpointSettings, storage: CheckpointStorage | None,
                 job_id: str | None = None, *, id_counter: CheckpointIdCounterHook | None = None,
                 completed_store: CompletedCheckpointStoreHook | None = None,
                 leader_check: Callable[[], None] | None = None,
                 leader_confirm: Callable[[], None] | None = None) -> None:
        # interval None (or <= 0): no periodic checkpoints, savepoints only
        self.interval_ms = settings.interval_ms if settings.enabled else None
        self.num_retained = settings.num_retained
        self.storage = storage
        self.job_id = job_id
        self.id_counter = id_counter  # None: ids count from next_id in this object
        self.completed_store = completed_store  # None: retention decided here
        # raises (a JobExecutionError, not a task failure) once this process may no longer act
        # for the job: checked when an attempt starts, before an id is taken and before a
        # checkpoint is recorded as complete (high availability: flinklite/runtime/ha.py)
        self.leader_check = leader_check
        # the same, asking ZooKeeper (a round trip): what a job manager with workers checks
        # before its workers open their sinks and before they commit at the end of input
        self.leader_confirm = leader_confirm or leader_check
        self.next_id = 1
        self.next_due: int | None = None
        self.pending: PendingCheckpoint | None = None
        self.completed: list[CompletedCheckpoint] = []  # oldest first, at most num_retained
        self.history: list[CheckpointStats] = []  # the latest checkpoints and savepoints, oldest first
        self.restored: CheckpointStats | None = None  # the savepoint/checkpoint the job started from

    def restore_from(self, checkpoint: CompletedCheckpoint) -> None:
        """A job started from a savepoint or retained checkpoint: ids continue after its id."""
        self.restored = CheckpointStats.of(checkpoint)
        self.next_id = max(self.next_id, checkpoint.checkpoint_id + 1)
        if self.id_counter is not None and self.id_counter.get() <= checkpoint.checkpoint_id:
            # as Flink's CheckpointCoordinator: the shared counter continues after the restored
            # id, or new checkpoints would reuse ids (chk-N directories, Kafka transactional ids)
            self.id_counter.set_count(checkpoint.checkpoint_id + 1)

    def discard_orphans(self) -> list[int]:
        """Deletes `chk-<id>` directories written but never recorded as complete (the process
        died between writing and recording, or the store refused it): only ids above the latest
        recorded one (in the completed-checkpoint store, or the restored checkpoint) and not
        referenced by the store. Without a store nothing is known to be an orphan."""
        if self.storage is None or self.completed_store is None:
            return []
        recorded = set(self.completed_store.checkpoint_ids())
        if self.restored is not None:
            recorded.add(self.restored.checkpoint_id)
        latest = max(recorded, default=0)
        orphans = [i for i in self.storage.completed_ids() if i > latest and i not in recorded]
        for checkpoint_id in orphans:
            self.storage.discard(checkpoint_id)
        return orphans

    def start(self, now: int) -> None:
        """A (re)started job: the first checkpoint is due one interval from now."""
        if self.leader_check is not None:
            self.leader_check()  # an attempt started after the leadership went would fence the new leader
        self.pending = None
        self.next_due = now + self.interval_ms if self.interval_ms is not None else None

    def is_due(self, now: int) -> bool:
        return self.pending is None and self.next_due is not None and now >= self.next_due

    def trigger(self, now: int, tasks: list[tuple[str, int]]) -> int:
        """Starts checkpoint `next_id`, expecting an acknowledgement from each (task key, subtask)."""
        assert self.interval_ms is not None
        checkpoint_id = self._take_id()
        self.pending = PendingCheckpoint(checkpoint_id, now, set(tasks))
        self.next_due = now + self.interval_ms
        return checkpoint_id

    def trigger_savepoint(self, now: int, tasks: list[tuple[str, int]], directory: str) -> int:
        """Starts a savepoint into `directory` (same barriers and acknowledgements as a
        checkpoint); the periodic schedule is left as it is."""
        if self.pending is not None:
            raise AssertionError(f"checkpoint {self.pending.checkpoint_id} is still pending")
        checkpoint_id = self._take_id()
        self.pending = PendingCheckpoint(checkpoint_id, now, set(tasks), savepoint_directory=directory)
        return checkpoint_id

    def acknowledge(self, checkpoint_id: int, task: str, subtask: int, state: Any) -> CompletedCheckpoint | None:
        pending = self.pending
        if pending is None or pending.checkpoint_id != checkpoint_id:
            return None  # late acknowledgement of an aborted checkpoint
        if (task, subtask) not in pending.waiting:
            raise AssertionError(f"unexpected acknowledgement from {task}#{subtask} for checkpoint {checkpoint_id}")
        pending.waiting.discard((task, subtask))
        pending.acks.setdefault(task, {})[subtask] = state
        if pending.waiting:
            return None
        self.pending = None
        if self.leader_check is not None:
            self.leader_check()  # nothing written, nothing recorded, nothing committed
        if pending.savepoint_directory is not None:
            savepoint = CompletedCheckpoint(checkpoint_id, pending.timestamp, pending.acks, kind="savepoint",
                                            job_id=self.job_id)
            savepoint.path = write_savepoint(pending.savepoint_directory, savepoint)
            self._remember(savepoint)
            return savepoint
        completed = CompletedCheckpoint(checkpoint_id, pending.timestamp, pending.acks, job_id=self.job_id)
        if self.storage is not None:
            completed.path = self.storage.write(completed)
        if self.completed_store is not None:
            # Complete only once the store has it: a checkpoint ZooKeeper does not point at must
            # not be restored from (its Kafka transactions would be committed) -- discarded, as
            # Flink discards a checkpoint whose finalization failed.
            try:
                dropped_ids = self.completed_store.add(completed)
            except BaseException:
                if self.storage is not None:
                    self.storage.discard(checkpoint_id)
                raise
            self._remember(completed)
            self.completed.append(completed)
            # The store decides what stays retained (it may hold an earlier process's checkpoints).
            for dropped_id in dropped_ids:
                if self.storage is not None:
                    self.storage.discard(dropped_id)
            del self.completed[:-self.num_retained]
            return completed
        self._remember(completed)
        self.completed.append(completed)
        while len(self.completed) > self.num_retained:
            dropped = self.completed.pop(0)
            if self.storage is not None:
                self.storage.discard(dropped.checkpoint_id)
        return completed

    def _remember(self, checkpoint: CompletedCheckpoint) -> None:
        self.history.append(CheckpointStats.of(checkpoint))
        del self.history[:-self.HISTORY]

    def record_duration(self, checkpoint_id: int, duration_ms: float) -> None:
        """The executor's wall-clock measure of a completed checkpoint (trigger to written)."""
        for stats in self.history:
            if stats.checkpoint_id == checkpoint_id:
                stats.duration_ms = duration_ms

    def _take_id(self) -> int:
        if self.leader_check is not None:
            self.leader_check()
        checkpoint_id = self.id_counter.get_and_increment() if self.id_counter is not None else self.next_id
        self.next_id = max(self.next_id, checkpoint_id) + 1
        return checkpoint_id

    def abort_pending(self) -> None:
        self.pending = None

    def latest(self) -> CompletedCheckpoint | None:
        return self.completed[-1] if self.completed else None
