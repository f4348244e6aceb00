"""Owns the exactly-once KafkaSink's decisions, as logic without I/O (the writer in `kafka.py`
carries them out through `kafka_txn_producer.py`):

- Flink's transactional id scheme, `<prefix>-<subtask id>-<checkpoint id>`: the records a
  subtask writes after checkpoint N go into the transaction `<prefix>-<subtask>-<N+1>`; the first
  transaction of an attempt restored from checkpoint R is `<prefix>-<subtask>-<R+1>` (R = 0
  without a checkpoint).
- Pre-committed transactions ("committables": transactional id, producer id, epoch, checkpoint
  id): recorded on the barrier, kept in the subtask's checkpoint state, committed when that
  checkpoint completes; on restore the restored state's committables are committed (resumed by
  producer id and epoch) because the checkpoint holding them completed.
- Flink's abort of lingering transactions: every id of this subtask (and of subtask + k *
  parallelism, left over from a higher parallelism) from R+1 upwards is initialised, which
  bumps its epoch and aborts whatever it had open, until an id answers epoch 0 (never used).
- The ids a subtask initialises are contiguous from 1 (the probe above depends on it): when the
  checkpoint ids jumped (checkpoints lost with a failure), the ids in between are initialised
  too, where Flink's writer would leave a gap that a later probe stops at."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DELIMITER = "-"


def transactional_id(prefix: str, subtask_id: int, checkpoint_id: int) -> str:
    """Flink's TransactionalIdFactory: `prefix-subtaskId-checkpointOffset`."""
    return f"{prefix}{DELIMITER}{subtask_id}{DELIMITER}{checkpoint_id}"


@dataclass(frozen=True)
class Committable:
    """A pre-committed transaction: flushed and still open, to be committed with EndTxn by
    whoever holds its producer id and epoch (this attempt, or a restored one)."""

    transactional_id: str
    producer_id: int
    epoch: int
    checkpoint_id: int

    def to_state(self) -> dict[str, Any]:
        return {"transactional_id": self.transactional_id, "producer_id": self.producer_id, "epoch": self.epoch,
                "checkpoint_id": self.checkpoint_id}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Committable:
        return cls(str(state["transactional_id"]), int(state["producer_id"]), int(state["epoch"]),
                   int(state["checkpoint_id"]))


@dataclass
class LingeringProbe:
    """Which transactional ids to initialise to fence lingering transactions, one at a time:
    `next_id()` gives the next id (None when done), `observed(epoch)` takes the epoch the
    InitProducerId answered. Ids of `subtask` from `start` upwards until epoch 0; then the same
    for subtask + parallelism, and so on, until a subtask whose first id answers epoch 0 (it
    never ran: neither did any higher one)."""

    prefix: str
    subtask: int
    parallelism: int
    start: int
    _current_subtask: int = -1
    _number: int = 0
    _fenced_here: int = 0
    _done: bool = False
    fenced: list[str] = field(default_factory=list)  # ids that had been used (epoch > 0 after the bump)

    def __post_init__(self) -> None:
        if self.parallelism < 1:
            raise ValueError("parallelism must be at least 1")
        self._current_subtask = self.subtask
        self._number = self.start

    def next_id(self) -> str | None:
        if self._done:
            return None
        return transactional_id(self.prefix, self._current_subtask, self._number)

    def observed(self, epoch: int) -> None:
        if self._done:
            raise AssertionError("the probe is over")
        if epoch > 0:  # the id had been used: this InitProducerId fenced it (and aborted what it had open)
            self.fenced.append(transactional_id(self.prefix, self._current_subtask, self._number))
            self._fenced_here += 1
            self._number += 1
            return
        # epoch 0: this id had never been used, so no later one of this subtask was either
        if self._fenced_here == 0:
            self._done = True  # this subtask id had nothing at all: no higher one ran either (Flink's rule)
            return
        self._current_subtask += self.parallelism
        self._number = self.start
        self._fenced_here = 0


@dataclass
class SinkCheckpointState:
    """What one sink subtask puts into a checkpoint."""

    checkpoint_id: int
    committables: list[Committable]
    open_number: int | None = None  # the number of the transactional id left open after the barrier

    def to_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"checkpoint_id": self.checkpoint_id,
                                 "committables": [c.to_state() for c in self.committables]}
        if self.open_number is not None:
            state["open"] = self.open_number
        return state

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> SinkCheckpointState:
        open_number = state.get("open")
        return cls(int(state["checkpoint_id"]), [Committable.from_state(c) for c in state.get("committables", [])],
                   int(open_number) if open_number is not None else None)


class TransactionPlan:
    """One sink subtask's transactions: which id is open, which are pre-committed, what to
    commit when, and what a restore must commit and fence."""

    def __init__(self, prefix: str, subtask: int, parallelism: int) -> None:
        self.prefix = prefix
        self.subtask = subtask
        self.parallelism = parallelism
        self.restored_checkpoint_id = 0
        # the first number of the lingering probe: above the restored checkpoint id, and no lower
        # than the transaction the restored state left open (checkpoint ids can be lower than the
        # transactional-id numbers already used, e.g. after the id counter was reset)
        self.probe_start = 1
        self.to_commit_on_restore: list[Committable] = []
        self.pending: list[Committable] = []  # pre-committed, their checkpoint not known complete
        self.current: int | None = None  # checkpoint number of the open transaction's id
        self.finished = False

    # -- restore ------------------------------------------------------------------------------
    def restore(self, states: Mapping[int, Any]) -> None:
        """`states`: every previous subtask's state by its index (the previous parallelism may
        differ). This subtask commits the committables of previous subtasks i with
        i % parallelism == subtask (Flink hands them to one committer each) and probes from the
        restored checkpoint id + 1."""
        parsed = {index: SinkCheckpointState.from_state(s) for index, s in states.items() if s is not None}
        if not parsed:
            return
        self.restored_checkpoint_id = max(s.checkpoint_id for s in parsed.values())
        mine = [s for index, s in sorted(parsed.items()) if index % self.parallelism == self.subtask]
        opens = [s.open_number for s in mine if s.open_number is not None]
        self.probe_start = max([self.restored_checkpoint_id + 1, *opens])
        self.to_commit_on_restore = sorted((c for s in mine for c in s.committables),
                                           key=lambda c: (c.checkpoint_id, c.transactional_id))

    def probe(self) -> LingeringProbe:
        return LingeringProbe(self.prefix, self.subtask, self.parallelism,
                              max(self.probe_start, self.restored_checkpoint_id + 1))

    def first_transaction(self) -> str:
        """The id of the attempt's first transaction (after the restored commits and the probe):
        the restored state's open one (just fenced), never below the restored checkpoint id + 1."""
        self.current = max(self.probe_start, self.restored_checkpoint_id + 1)
        return self.id_of(self.current)

    def id_of(self, number: int) -> str:
        return transactional_id(self.prefix, self.subtask, number)

    # -- checkpoints --------------------------------------------------------------------------
    def on_barrier(self, checkpoint_id: int, precommitted: tuple[int, int] | None) -> list[str]:
        """The barrier of `checkpoint_id`: the open transaction was flushed; `precommitted` is its
        (producer id, epoch) if it holds records (an empty one is just left behind). Returns the
        ids to initialise, in order; the last is the next open transaction (`<checkpoint id + 1>`),
        the others fill a jump in checkpoint ids so that used ids stay contiguous."""
        if self.finished:
            return []
        assert self.current is not None, "no open transaction"
        if precommitted is not None:
            self.pending.append(Committable(self.id_of(self.current), precommitted[0], precommitted[1], checkpoint_id))
        following = max(checkpoint_id + 1, self.current + 1)
        ids = [self.id_of(n) for n in range(self.current + 1, following + 1)]
        self.current = following
        return ids

    def state(self, checkpoint_id: int) -> dict[str, Any]:
        return SinkCheckpointState(checkpoint_id, list(self.pending),
                                   None if self.finished else self.current).to_state()

    def on_checkpoint_complete(self, checkpoint_id: int) -> list[Committable]:
        """The pre-committed transactions a completed checkpoint commits (its own and any older
        ones still pending); they leave the pending list."""
        ready = [c for c in self.pending if c.checkpoint_id <= checkpoint_id]
        self.pending = [c for c in self.pending if c.checkpoint_id > checkpoint_id]
        return ready

    def on_end_of_input(self, precommitted: tuple[int, int] | None) -> list[Committable]:
        """A bounded input ended: everything pending and the open transaction commit now (there
        is no later checkpoint to wait for)."""
        if self.finished:
            return []
        ready = list(self.pending)
        if precommitted is not None and self.current is not None:
            ready.append(Committable(self.id_of(self.current), precommitted[0], precommitted[1], -1))
        self.pending = []
        self.finished = True
        return ready
