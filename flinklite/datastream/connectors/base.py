"""Owns the connector contract: a `Source` makes one `SourceReader` per subtask (readers poll
without blocking and report which split each record came from, so watermarks can be tracked
per split/partition); a `Sink` makes one `SinkWriter` per subtask, which takes part in
checkpoints through snapshot_state / restore_state / notify_checkpoint_complete (two-phase
commit sinks). Also DeliveryGuarantee."""

from __future__ import annotations

from enum import Enum
from typing import Any

from flinklite.common.record_batch import each_record


class DeliveryGuarantee(Enum):
    EXACTLY_ONCE = 0
    AT_LEAST_ONCE = 1
    NONE = 2


class Boundedness(Enum):
    BOUNDED = 0
    CONTINUOUS_UNBOUNDED = 1


class SourceReader:
    def poll(self, max_records: int, now: int) -> list[tuple[Any, Any, int | None]]:
        """Up to max_records (split id, value, timestamp or None), without blocking."""
        raise NotImplementedError

    def poll_batch(self, max_records: int, now: int) -> tuple[list[Any], list[int | None] | None]:
        """poll() as values and their timestamps (None: no record has one), for a source
        without watermarks; readers that hold plain values override it to skip the tuples."""
        records = self.poll(max_records, now)
        return [record[1] for record in records], [record[2] for record in records]

    def is_finished(self) -> bool:
        raise NotImplementedError

    def split_ids(self) -> list[Any]:
        return [0]

    def next_ready_at(self, now: int) -> int | None:
        """When (processing time) new data is expected, if the reader knows; None: unknown."""
        return None

    def wait_for_data(self, timeout_ms: int) -> None:
        """Block up to timeout_ms for data (a real clock only); default: do nothing."""

    def snapshot(self) -> Any:
        return None

    def restore(self, state: Any) -> None:
        pass

    def notify_checkpoint_complete(self, checkpoint_id: int, position: Any) -> None:
        """A checkpoint holding `position` (this reader's snapshot() then) has completed."""

    def close(self) -> None:
        pass


class Source:
    """A source connector: from_source(source, watermark_strategy, name)."""

    def create_reader(self, subtask_index: int, parallelism: int) -> SourceReader:
        raise NotImplementedError

    def get_boundedness(self) -> Boundedness:
        return Boundedness.BOUNDED

    def fixed_parallelism(self) -> int | None:
        """Sources that cannot run in parallel (from_collection) say 1."""
        return None


class SinkWriter:
    def write(self, value: Any, timestamp: int | None) -> None:
        raise NotImplementedError

    def write_batch(self, values: list[Any], timestamps: list[int | None] | None) -> None:
        """Records in order (`timestamps` None: none has one); the same as write() for each."""
        each_record(self.write, values, timestamps)

    def flush(self, end_of_input: bool) -> None:
        pass

    def snapshot_state(self, checkpoint_id: int) -> Any:
        """The barrier of `checkpoint_id` reached the sink (Flink's prepareCommit + snapshotState):
        flush, pre-commit, and return what the checkpoint must hold (None: nothing)."""
        return None

    def restore_state(self, states: dict[int, Any]) -> None:
        """A restart from a checkpoint: the `snapshot_state` of every subtask of the previous
        attempt, by subtask index (the previous parallelism may differ)."""

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        """A checkpoint this writer snapshotted has completed (commit what it pre-committed)."""

    def close(self) -> None:
        pass


class Sink:
    """A sink connector: sink_to(sink)."""

    def create_writer(self, subtask_index: int, parallelism: int) -> SinkWriter:
        raise NotImplementedError
