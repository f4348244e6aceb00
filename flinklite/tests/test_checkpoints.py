"""Checkpoints and recovery on the testing kit: barriers injected at the sources on the
ManualClock, aligned at multi-input operators, checkpoints written atomically as
`<dir>/<job id>/chk-<id>/_metadata`, retained-count cleanup, restart strategies, and a job that
fails mid-stream resuming from its latest completed checkpoint with exactly-once state."""

from __future__ import annotations

import os
import pickle
from typing import Any

import pytest

from flinklite.common import Configuration, Types
from flinklite.datastream import (
    KeyedCoProcessFunction,
    StreamExecutionEnvironment,
)
from flinklite.datastream.state import ValueStateDescriptor
from flinklite.errors import JobExecutionError
from flinklite.runtime.checkpoint import (
    CheckpointCoordinator,
    CheckpointSettings,
    CheckpointStorage,
    CompletedCheckpoint,
    FailureRateRestart,
    FixedDelayRestart,
    RestartSettings,
    load_checkpoint,
    parse_duration_ms,
)
from flinklite.testing import FailAfter, Record, TestSource, run_job
from flinklite.tests.functions import RunningCount


def keyed_values(n: int, keys: str = "abc") -> list[Any]:
    return [keys[(i * 7 + i // 3) % len(keys)] for i in range(n)]


def counting_job(values: list[Any], *, interval_ms: int = 10, fail: FailAfter | None = None,
                 conf: dict[str, str] | None = None, checkpoint_ms: int | None = 100) -> Any:
    def build(env: StreamExecutionEnvironment) -> Any:
        if checkpoint_ms is not None:
            env.enable_checkpointing(checkpoint_ms)
        if conf:
            configuration = Configuration()
            for key, value in conf.items():
                configuration.set_string(key, value)
            env.configure(configuration)
        stream = env.from_source(TestSource(values, interval_ms=interval_ms), _no_watermarks(), "numbers")
        if fail is not None:
            stream = stream.map(fail)
        return stream.key_by(lambda v: v).process(RunningCount())
    return run_job(build)


def _no_watermarks() -> Any:
    from flinklite.common import WatermarkStrategy
    return WatermarkStrategy.no_watermarks()


def job_dir(root: Any) -> str:
    (entry,) = os.listdir(root)
    return os.path.join(root, entry)


def keyed_counts(operators: dict[str, dict[int, Any]]) -> dict[Any, int]:
    """The `count` value state of every key in a checkpoint's operator states."""
    counts: dict[Any, int] = {}
    for subtasks in operators.values():
        for state in subtasks.values():
            for names in state.get("keyed", {}).values():
                for (key, _), value in names.get("count", {}).items():
                    counts[key] = value
    return counts


def source_position(operators: dict[str, dict[int, Any]], name: str) -> int:
    (state,) = [s for key, subtasks in operators.items() if key.endswith(name) for s in subtasks.values()]
    return sum(state["reader"].values())


# -- checkpoint contents and storage ----------------------------------------------------------

def test_checkpoint_contents_are_consistent_and_written_as_chk_directories(tmp_path: Any) -> None:
    values = keyed_values(100)
    out = counting_job(values, conf={"execution.checkpointing.dir": str(tmp_path),
                                     "execution.checkpointing.num-retained": "3"})
    coordinator = out.env.last_coordinator
    assert [c.checkpoint_id for c in coordinator.completed] == [7, 8, 9]
    directory = job_dir(tmp_path)
    assert os.path.basename(directory) == out.results[0].get_job_id()
    assert sorted(os.listdir(directory)) == ["chk-7", "chk-8", "chk-9"]
    for completed in coordinator.completed:
        loaded = load_checkpoint(os.path.join(directory, f"chk-{completed.checkpoint_id}"))
        assert loaded.checkpoint_id == completed.checkpoint_id and loaded.timestamp == completed.timestamp
        # The barrier went in before the source's poll at the checkpoint's time: the source
        # position counts the records before it, and the keyed counts agree with it exactly.
        position = source_position(loaded.operators, "numbers")
        assert position == len([i for i in range(len(values)) if i * 10 < loaded.timestamp])
        expected: dict[Any, int] = {}
        for value in values[:position]:
            expected[value] = expected.get(value, 0) + 1
        assert keyed_counts(loaded.operators) == expected


def test_state_checkpoints_dir_alias_and_duration_forms(tmp_path: Any) -> None:
    counting_job(keyed_values(30), checkpoint_ms=None,
                       conf={"execution.checkpointing.interval": "100 ms", "state.checkpoints.dir": f"file://{tmp_path}"})
    assert sorted(os.listdir(job_dir(tmp_path))) == ["chk-2"]  # checkpoints at 100, 200; one retained
    assert parse_duration_ms("10 s") == 10_000 and parse_duration_ms("1 min") == 60_000 and parse_duration_ms(5) == 5


def test_a_checkpoint_is_written_atomically(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = CheckpointStorage(str(tmp_path), "job")
    storage.write(CompletedCheckpoint(1, 100, {"op": {0: {"x": 1}}}))

    def broken_dump(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")
    monkeypatch.setattr(pickle, "dump", broken_dump)
    with pytest.raises(OSError):
        storage.write(CompletedCheckpoint(2, 200, {"op": {0: {"x": 2}}}))
    monkeypatch.undo()
    # The half-written checkpoint never appears under its final name.
    assert storage.completed_ids() == [1]
    assert not os.path.exists(tmp_path / "job" / "chk-2")
    assert load_checkpoint(str(tmp_path / "job" / "chk-1")).operators == {"op": {0: {"x": 1}}}


def test_coordinator_completes_only_when_every_task_acknowledged_and_prunes(tmp_path: Any) -> None:
    settings = CheckpointSettings(interval_ms=50, directory=str(tmp_path), num_retained=2)
    coordinator = CheckpointCoordinator(settings, CheckpointStorage(str(tmp_path), "j"))
    coordinator.start(0)
    assert not coordinator.is_due(49) and coordinator.is_due(50)
    tasks = [("src", 0), ("map", 0), ("map", 1)]
    for round_ in range(3):
        now = 50 * (round_ + 1)
        checkpoint_id = coordinator.trigger(now, tasks)
        assert not coordinator.is_due(now + 1000)  # one checkpoint at a time
        assert coordinator.acknowledge(checkpoint_id, "src", 0, {"reader": round_}) is None
        assert coordinator.acknowledge(checkpoint_id, "map", 1, {}) is None
        assert coordinator.storage is not None and checkpoint_id not in coordinator.storage.completed_ids()
        completed = coordinator.acknowledge(checkpoint_id, "map", 0, {})
        assert completed is not None and completed.operators["src"][0] == {"reader": round_}
    assert coordinator.storage is not None and coordinator.storage.completed_ids() == [2, 3]
    assert [c.checkpoint_id for c in coordinator.completed] == [2, 3]
    # An acknowledgement of an aborted checkpoint is ignored.
    checkpoint_id = coordinator.trigger(200, tasks)
    coordinator.abort_pending()
    assert coordinator.acknowledge(checkpoint_id, "src", 0, {}) is None


# -- barrier alignment -------------------------------------------------------------------------

class TwoInputCount(KeyedCoProcessFunction):
    def open(self, runtime_context: Any) -> None:
        self.count = runtime_context.get_state(ValueStateDescriptor("count", Types.PICKLED_BYTE_ARRAY()))

    def _bump(self, side: int) -> Any:
        counts = list(self.count.value() or (0, 0))
        counts[side] += 1
        self.count.update(tuple(counts))
        yield tuple(counts)

    def process_element1(self, value: Any, ctx: Any) -> Any:
        yield from self._bump(0)

    def process_element2(self, value: Any, ctx: Any) -> Any:
        yield from self._bump(1)


def skewed_sources(env: StreamExecutionEnvironment) -> tuple[Any, Any]:
    # "fast" delivers bursts of 50 records every 10 ms, "slow" one record every 25 ms.
    fast = TestSource([Record(i, at_ms=(i // 50) * 10) for i in range(2000)])
    slow = TestSource([Record(-i, at_ms=i * 25) for i in range(20)])
    return (env.from_source(fast, _no_watermarks(), "fast"), env.from_source(slow, _no_watermarks(), "slow"))


def test_barriers_align_on_a_connected_stream_with_skewed_inputs() -> None:
    def build(env: StreamExecutionEnvironment) -> Any:
        env.enable_checkpointing(100)
        env.configure({"execution.checkpointing.num-retained": "10"})
        fast, slow = skewed_sources(env)
        return fast.connect(slow).key_by(lambda v: 0, lambda v: 0).process(TwoInputCount())
    out = run_job(build)
    completed = out.env.last_coordinator.completed
    assert out.collected[-1] == (2000, 20)
    # At 100, 200, 300, 400 ms (fast ends at 390 ms, slow at 475 ms).
    assert [c.checkpoint_id for c in completed] == [1, 2, 3, 4]
    for checkpoint in completed:
        (counts,) = keyed_counts(checkpoint.operators).values()
        fast_position = source_position(checkpoint.operators, "fast")
        slow_position = source_position(checkpoint.operators, "slow")
        # The fast source's burst at the checkpoint's time came after its barrier and reached
        # the co-operator before the slow source's barrier: held back, it is not in the snapshot.
        assert fast_position == min(2000, (checkpoint.timestamp // 10) * 50)
        assert slow_position == min(20, (checkpoint.timestamp + 24) // 25)
        assert counts == (fast_position, slow_position)


def test_alignment_on_a_union_counts_exactly_the_records_before_the_barriers() -> None:
    def build(env: StreamExecutionEnvironment) -> Any:
        env.enable_checkpointing(100)
        env.configure({"execution.checkpointing.num-retained": "10"})
        fast, slow = skewed_sources(env)
        return fast.union(slow).key_by(lambda v: 0).process(RunningCount())
    out = run_job(build)
    completed = out.env.last_coordinator.completed
    assert out.collected[-1] == (-19, 2020) and len(completed) == 4
    for checkpoint in completed:
        fast_position = source_position(checkpoint.operators, "fast")
        assert fast_position == min(2000, (checkpoint.timestamp // 10) * 50)
        assert keyed_counts(checkpoint.operators) == {
            0: fast_position + source_position(checkpoint.operators, "slow")}


# -- failures and restarts ---------------------------------------------------------------------

def test_fixed_delay_restart_resumes_from_the_checkpoint_with_exactly_once_state() -> None:
    values = keyed_values(300)
    expected = counting_job(values).collected
    out = counting_job(values, fail=FailAfter(137, times=2), conf={
        "restart-strategy.type": "fixed-delay", "restart-strategy.fixed-delay.attempts": "3",
        "restart-strategy.fixed-delay.delay": "1 s"})
    assert out.env.restarts == 2
    # At-least-once output (records after the checkpoint are replayed), exactly-once state: no
    # key's count ever goes past the failure-free run, and the final counts are equal.
    assert len(out.collected) > len(expected)
    assert set(out.collected) == set(expected)
    final = {key: count for key, count in out.collected}
    assert final == {key: count for key, count in expected}


def test_restart_without_a_checkpoint_starts_over() -> None:
    values = keyed_values(20)
    expected = counting_job(values, checkpoint_ms=None).collected
    out = counting_job(values, fail=FailAfter(5), checkpoint_ms=None,
                       conf={"restart-strategy.type": "fixed-delay", "restart-strategy.fixed-delay.attempts": "1"})
    assert out.collected == expected[:4] + expected


def test_fixed_delay_gives_up_after_its_attempts() -> None:
    with pytest.raises(JobExecutionError, match=r"maxNumberRestartAttempts=2") as info:
        counting_job(keyed_values(300), fail=FailAfter(20, times=10),
                     conf={"restart-strategy.type": "fixed-delay", "restart-strategy.fixed-delay.attempts": "2"})
    assert isinstance(info.value.__cause__, RuntimeError)


def test_failure_rate_strategy_gives_up_when_failures_come_too_often() -> None:
    conf = {"restart-strategy.type": "failure-rate",
            "restart-strategy.failure-rate.max-failures-per-interval": "2",
            "restart-strategy.failure-rate.failure-rate-interval": "1 min",
            "restart-strategy.failure-rate.delay": "100 ms"}
    with pytest.raises(JobExecutionError, match="FailureRateRestartBackoffTimeStrategy"):
        counting_job(keyed_values(300), fail=FailAfter(30, times=5), conf=conf)
    # Spread out over more than the interval, the same number of failures is survived.
    spread = dict(conf, **{"restart-strategy.failure-rate.failure-rate-interval": "500 ms"})
    out = counting_job(keyed_values(300), fail=FailAfter(60, times=4), conf=spread)
    assert out.env.restarts == 4
    assert {k: c for k, c in out.collected} == {k: c for k, c in counting_job(keyed_values(300)).collected}


def test_restart_strategies_as_logic() -> None:
    fixed = FixedDelayRestart(2, 1000)
    assert fixed.on_failure(0) == 1000 and fixed.on_failure(5000) == 6000 and fixed.on_failure(9000) is None
    rate = FailureRateRestart(2, 60_000, 10)
    assert rate.on_failure(0) == 10 and rate.on_failure(1000) == 1010 and rate.on_failure(2000) is None
    rate = FailureRateRestart(2, 60_000, 10)
    assert rate.on_failure(0) == 10 and rate.on_failure(1000) == 1010 and rate.on_failure(70_000) == 70_010
    assert repr(RestartSettings().create(checkpointing=False)) == "NoRestartBackoffTimeStrategy"
    assert "2147483647" in repr(RestartSettings().create(checkpointing=True))


def test_no_restart_strategy_fails_the_job() -> None:
    with pytest.raises(JobExecutionError, match="NoRestartBackoffTimeStrategy"):
        counting_job(keyed_values(50), fail=FailAfter(10), conf={"restart-strategy.type": "none"})
