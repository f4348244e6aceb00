"""Owns running a job: it expands the graph into operator subtasks, wires their outputs
(partitioners, side outputs, per-channel watermark valves with idleness), and drives the job
from one thread: poll every source subtask in turn, fire due processing-time timers, call the
watermark generators every auto-watermark interval, and wait on the clock only when nothing
is ready. End of a bounded source: Long.MAX_VALUE watermark, then end of input downstream;
pending processing-time timers are not fired at the end (as in Flink, where the timer service
is quiesced when a bounded job finishes).

Checkpoints (with a CheckpointCoordinator): when one is due, each source subtask snapshots its
position and emits a barrier just before its next poll; a subtask with several input channels
snapshots once the barrier has arrived on every channel that has not ended, holding back records,
watermarks and end-of-input arriving meanwhile on channels that delivered it, then forwards the
barrier and processes what it held. Every subtask acknowledges with its snapshot(); subtasks
that have finished acknowledge at once with their final state.

Savepoints and the control endpoint (with a JobControl, flinklite/runtime/control.py): commands
queued by the endpoint's thread are taken at the top of an iteration. A savepoint is a checkpoint
triggered then: a barrier at every source before it polls again, the same alignment and
acknowledgements, written to `<target>/savepoint-.../_metadata`. Stop-with-savepoint takes the
savepoint, tells the operators it completed (sinks commit) and leaves the loop without polling
again, so nothing is processed after the savepoint; its answer goes back once every operator is
closed. Without periodic checkpoints a savepoint-only coordinator is used.

Deterministic given the clock: rebalance starts at channel 0 (Flink starts at a random one),
sources are polled round-robin in graph order, timers fire in (timestamp, registration) order."""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING, Any, Callable, Iterable, TextIO

from flinklite.common.record_batch import each_record
from flinklite.common.typeinfo import PickledBytesTypeInfo
from flinklite.common.watermark_strategy import LONG_MAX, LONG_MIN
from flinklite.errors import InvalidProgramError, JobExecutionError
from flinklite.graph import StreamRef, Transformation
from flinklite.operators.base import Operator, OperatorContext, Output
from flinklite.operators.io import SourceOperator
from flinklite.runtime.checkpoint import (
    CheckpointCoordinator,
    CheckpointSettings,
    CheckpointStats,
    CompletedCheckpoint,
    local_path,
)
from flinklite.runtime.clock import Clock, SystemClock
from flinklite.state.backend import InMemoryKeyedStateBackend, KeyedStateBackend
from flinklite.state.keygroups import default_max_parallelism, key_group_for, key_group_range, pickled_key_hash

if TYPE_CHECKING:
    from flinklite.runtime.control import Command, JobControl

SOURCE_BATCH = 256


class _Channel:
    __slots__ = ("watermark", "idle", "ended")

    def __init__(self) -> None:
        self.watermark = LONG_MIN
        self.idle = False
        self.ended = False


class Subtask:
    """One parallel instance of a transformation: its operator plus input-channel bookkeeping."""

    def __init__(self, transformation: Transformation, index: int, parallelism: int, operator: Operator) -> None:
        self.transformation = transformation
        self.index = index
        self.parallelism = parallelism
        self.operator = operator
        self.channels: dict[Any, _Channel] = {}
        self.current_watermark = LONG_MIN
        self.output_idle = False
        self.ended = False
        self.records_in = 0
        self.output: RoutedOutput = None  # type: ignore[assignment]
        self.takes_batches = False  # set by JobExecutor.plan_batches() once the operator is open
        # Checkpoint barrier alignment: channels whose barrier arrived (their later input is
        # held back until the barrier has arrived on every channel), and what they delivered since.
        self.blocked: set[Any] = set()
        self.held: list[tuple[Any, ...]] = []
        self.aligning: int | None = None
        self.on_aligned: Callable[[Subtask, int], None] | None = None

    @property
    def name(self) -> str:
        return self.transformation.name

    def add_channel(self, channel: Any) -> None:
        self.channels[channel] = _Channel()

    def on_watermark(self, channel: Any, watermark: int) -> None:
        if channel in self.blocked:
            self.held.append(("watermark", channel, watermark))
            return
        state = self.channels[channel]
        if watermark > state.watermark:
            state.watermark = watermark
        state.idle = False
        self._recompute()

    def on_idle(self, channel: Any, idle: bool) -> None:
        if channel in self.blocked:
            self.held.append(("idle", channel, idle))
            return
        self.channels[channel].idle = idle
        self._recompute()

    def on_end(self, channel: Any) -> None:
        if channel in self.blocked:
            self.held.append(("end", channel))
            return
        state = self.channels[channel]
        state.ended = True
        state.idle = False
        state.watermark = LONG_MAX
        self._recompute()
        if self.aligning is not None:
            self.check_aligned()  # an ended input no longer owes a barrier
        if all(c.ended for c in self.channels.values()) and not self.ended:
            self.ended = True
            self.operator.end_input()
            self.output.end()

    def on_barrier(self, channel: Any, checkpoint_id: int) -> None:
        """A checkpoint barrier on one input channel. Once it has arrived on every channel that
        has not ended, the operator snapshots (through `on_aligned`), the barrier goes
        downstream, and the input held back meanwhile is processed in arrival order."""
        if self.aligning is None:
            self.aligning = checkpoint_id
        elif self.aligning != checkpoint_id:
            raise AssertionError(f"{self.name}: barrier {checkpoint_id} during alignment of {self.aligning}")
        self.blocked.add(channel)
        self.check_aligned()

    def check_aligned(self) -> None:
        if self.aligning is None:
            return
        if any(c not in self.blocked and not state.ended for c, state in self.channels.items()):
            return
        checkpoint_id, self.aligning = self.aligning, None
        assert self.on_aligned is not None
        self.on_aligned(self, checkpoint_id)
        self.output.emit_barrier(checkpoint_id)
        self.blocked.clear()
        held, self.held = self.held, []
        for item in held:
            kind = item[0]
            if kind == "record":
                _, value, timestamp, key, input_index = item
                self.records_in += 1
                self.operator.process_element(value, timestamp, key, input_index)
            elif kind == "watermark":
                self.on_watermark(item[1], item[2])
            elif kind == "idle":
                self.on_idle(item[1], item[2])
            else:
                self.on_end(item[1])

    def _recompute(self) -> None:
        active = [c.watermark for c in self.channels.values() if not c.idle]
        if not active:
            if not self.output_idle:
                self.output_idle = True
                self.operator.process_idle(True)
            return
        if self.output_idle:
            self.output_idle = False
            self.operator.process_idle(False)
        combined = min(active)
        if combined > self.current_watermark:
            self.current_watermark = combined
            self.operator.process_watermark(combined)


class _Route:
    """Records of one output (main or a tag) to one downstream input. `send` is built once per
    partitioning mode so the per-record path is a single call."""

    def __init__(self, mode: str, targets: list[Subtask], input_index: int,
                 key_selector: Callable[[Any], Any] | None, max_parallelism: int, channel: Any,
                 upstream_index: int, convert: Callable[[Any], Any] | None = None,
                 key_hash: Callable[[Any], int] = pickled_key_hash) -> None:
        self.mode = mode
        self.targets = targets
        self.channel = channel
        self._params = (mode, targets, input_index, key_selector, max_parallelism, upstream_index, key_hash)
        self.convert = convert
        self.guarded = False
        self._next = [0]  # rebalance: the next target
        self.send = self._with_conversion(self._build(*self._params, self._next))
        self.send_batch = self._batch_with_conversion(self._build_batch(*self._params, self._next))

    def retarget(self, targets: list[Subtask]) -> None:
        """Replaces the downstream subtasks (a worker puts stand-ins for remote ones here:
        flinklite/runtime/workers.py)."""
        self.targets = targets
        self._params = (self._params[0], targets, *self._params[2:])
        self.rebuild(self.guarded)

    def rebuild(self, guarded: bool = False) -> None:
        """Re-binds to the targets' process_element (operators may specialise it in open());
        `guarded` while a checkpoint is aligning: records to a blocked channel are held back."""
        self.guarded = guarded
        if guarded:
            self.send = self._with_conversion(self._build_guarded(*self._params, self._next))
            self.send_batch = self._one_by_one(self.send)
        else:
            self.send = self._with_conversion(self._build(*self._params, self._next))
            self.send_batch = self._batch_with_conversion(self._build_batch(*self._params, self._next))

    @staticmethod
    def _one_by_one(send: Callable[[Any, int | None], None]) -> Callable[[list[Any], list[int | None] | None], None]:
        def each(values: list[Any], timestamps: list[int | None] | None) -> None:
            each_record(send, values, timestamps)
        return each

    def _batch_with_conversion(self, send_batch: Callable[[list[Any], list[int | None] | None], None]
                               ) -> Callable[[list[Any], list[int | None] | None], None]:
        convert = self.convert
        if convert is None:
            return send_batch

        def converted(values: list[Any], timestamps: list[int | None] | None) -> None:
            send_batch([convert(value) for value in values], timestamps)
        return converted

    def _build_batch(self, mode: str, targets: list[Subtask], input_index: int,
                     key_selector: Callable[[Any], Any] | None, max_parallelism: int, upstream_index: int,
                     key_hash: Callable[[Any], int], state: list[int]
                     ) -> Callable[[list[Any], list[int | None] | None], None]:
        """A batch goes whole to each target that gets records of it (keyed routes go record by
        record: every record has its own key); rebalance deals it out exactly as record-by-record
        sending would, starting where the previous record left off. Targets that do not take
        batches (plan_batches) get it record by record."""
        if not all(target.takes_batches for target in targets):
            return self._one_by_one(self._build(mode, targets, input_index, key_selector, max_parallelism,
                                                upstream_index, key_hash, state))
        if mode == "forward" or mode == "global":
            target = targets[upstream_index] if mode == "forward" else targets[0]

            def whole(values: list[Any], timestamps: list[int | None] | None) -> None:
                target.records_in += len(values)
                target.operator.process_batch(values, timestamps, input_index)
            return whole
        if mode == "rebalance":
            count = len(targets)

            def dealt(values: list[Any], timestamps: list[int | None] | None) -> None:
                start = state[0]
                state[0] = (start + len(values)) % count
                for step in range(count):
                    index = (start + step) % count
                    share = values[step::count]
                    if share:
                        target = targets[index]
                        target.records_in += len(share)
                        target.operator.process_batch(share, None if timestamps is None else timestamps[step::count],
                                                      input_index)
            return dealt
        if mode == "broadcast":
            def to_all(values: list[Any], timestamps: list[int | None] | None) -> None:
                for target in targets:
                    target.records_in += len(values)
                    target.operator.process_batch(values, timestamps, input_index)
            return to_all
        return self._one_by_one(self._build(mode, targets, input_index, key_selector, max_parallelism,
                                            upstream_index, key_hash, state))

    def _build_guarded(self, mode: str, targets: list[Subtask], input_index: int,
                       key_selector: Callable[[Any], Any] | None, max_parallelism: int, upstream_index: int,
                       key_hash: Callable[[Any], int], state: list[int]) -> Callable[[Any, int | None], None]:
        channel = self.channel
        count = len(targets)

        def deliver(target: Subtask, value: Any, timestamp: int | None, key: Any) -> None:
            if channel in target.blocked:
                target.held.append(("record", value, timestamp, key, input_index))
            else:
                target.records_in += 1
                target.operator.process_element(value, timestamp, key, input_index)

        def send(value: Any, timestamp: int | None) -> None:
            if mode == "forward":
                deliver(targets[upstream_index], value, timestamp, None)
            elif mode == "hash":
                assert key_selector is not None
                key = key_selector(value)
                deliver(targets[key_group_for(key, max_parallelism, key_hash) * count // max_parallelism],
                        value, timestamp, key)
            elif mode == "rebalance":
                index = state[0]
                state[0] = (index + 1) % count
                deliver(targets[index], value, timestamp, None)
            elif mode == "global":
                deliver(targets[0], value, timestamp, None)
            else:
                for target in targets:
                    deliver(target, value, timestamp, None)
        return send

    def _with_conversion(self, send: Callable[[Any, int | None], None]) -> Callable[[Any, int | None], None]:
        convert = self.convert
        if convert is None:
            return send

        def converted(value: Any, timestamp: int | None) -> None:
            send(convert(value), timestamp)
        return converted

    @staticmethod
    def _build(mode: str, targets: list[Subtask], input_index: int, key_selector: Callable[[Any], Any] | None,
               max_parallelism: int, upstream_index: int,
               key_hash: Callable[[Any], int], state: list[int]) -> Callable[[Any, int | None], None]:
        if mode == "forward":
            target = targets[upstream_index]
            process = target.operator.process_element

            def forward(value: Any, timestamp: int | None) -> None:
                target.records_in += 1
                process(value, timestamp, None, input_index)
            return forward
        if mode == "hash":
            assert key_selector is not None
            select = key_selector
            count = len(targets)
            processes = [t.operator.process_element for t in targets]

            def by_key(value: Any, timestamp: int | None) -> None:
                key = select(value)
                index = key_group_for(key, max_parallelism, key_hash) * count // max_parallelism
                targets[index].records_in += 1
                processes[index](value, timestamp, key, input_index)
            return by_key
        if mode == "rebalance":
            count = len(targets)

            def round_robin(value: Any, timestamp: int | None) -> None:
                index = state[0]
                state[0] = (index + 1) % count
                target = targets[index]
                target.records_in += 1
                target.operator.process_element(value, timestamp, None, input_index)
            return round_robin
        if mode == "global":
            first = targets[0]

            def to_first(value: Any, timestamp: int | None) -> None:
                first.records_in += 1
                first.operator.process_element(value, timestamp, None, input_index)
            return to_first

        def to_all(value: Any, timestamp: int | None) -> None:
            for target in targets:
                target.records_in += 1
                target.operator.process_element(value, timestamp, None, input_index)
        return to_all


def _no_batch(values: list[Any], timestamps: list[int | None] | None) -> None:
    raise AssertionError("collect_batch without exactly one main route")


class RoutedOutput(Output):
    def __init__(self, subtask: Subtask) -> None:
        self.subtask = subtask
        self.routes: dict[str | None, list[_Route]] = {}
        self.records_out = 0
        self._main: list[Callable[[Any, int | None], None]] = []
        self._main_batch: Callable[[list[Any], list[int | None] | None], None] = _no_batch

    def add_route(self, tag: str | None, route: _Route) -> None:
        self.routes.setdefault(tag, []).append(route)
        if tag is None:
            self._main.append(route.send)
            self._main_batch = route.send_batch

    def rebuild(self, guarded: bool = False) -> None:
        for routes in self.routes.values():
            for route in routes:
                route.rebuild(guarded)
        self._main = [route.send for route in self.routes.get(None, [])]
        if len(self._main) == 1:
            self._main_batch = self.routes[None][0].send_batch

    def collect(self, value: Any, timestamp: int | None) -> None:
        self.records_out += 1
        for send in self._main:
            send(value, timestamp)

    def passes_batches(self) -> bool:
        """Whether a batch collected here can go on whole: one main route, not keyed, to
        subtasks that take batches (or no route at all: a sink)."""
        main = self.routes.get(None, [])
        if not self.routes:
            return True
        return len(main) == 1 and main[0].mode != "hash" and all(t.takes_batches for t in main[0].targets)

    def collect_batch(self, values: list[Any], timestamps: list[int | None] | None) -> None:
        """One route downstream: the batch goes on whole. Several: record by record, so each
        record reaches every route before the next one does, as with collect()."""
        if len(self._main) == 1:
            self.records_out += len(values)
            self._main_batch(values, timestamps)
        else:
            super().collect_batch(values, timestamps)

    def collect_side(self, tag_id: str, value: Any, timestamp: int | None) -> None:
        routes = self.routes.get(tag_id)
        if routes:
            for route in routes:
                route.send(value, timestamp)

    def _all_targets(self) -> Iterable[tuple[Subtask, Any]]:
        for routes in self.routes.values():
            for route in routes:
                for target in route.targets:
                    yield target, route.channel

    def emit_watermark(self, watermark: int) -> None:
        for target, channel in self._all_targets():
            target.on_watermark(channel, watermark)

    def mark_idle(self) -> None:
        for target, channel in self._all_targets():
            target.on_idle(channel, True)

    def mark_active(self) -> None:
        for target, channel in self._all_targets():
            target.on_idle(channel, False)

    def end(self) -> None:
        for target, channel in self._all_targets():
            target.on_end(channel)

    def emit_barrier(self, checkpoint_id: int) -> None:
        seen: set[tuple[int, Any]] = set()
        for target, channel in self._all_targets():
            if (id(target), channel) not in seen:  # one barrier per channel, even for several tags
                seen.add((id(target), channel))
                target.on_barrier(channel, checkpoint_id)


class JobExecutor:
    """Runs a job graph to completion (bounded sources) or until stopped."""

    def __init__(self, sinks: list[Transformation], default_parallelism: int, clock: Clock | None = None,
                 auto_watermark_interval_ms: int = 200, max_parallelism: int = -1,
                 progress_interval_s: float | None = None, progress_stream: TextIO | None = None,
                 batch: bool = False,
                 state_backend_factory: Callable[[int, range, Callable[[Any], int]], KeyedStateBackend] | None = None,
                 checkpoint_coordinator: CheckpointCoordinator | None = None,
                 control: JobControl | None = None) -> None:
        if not sinks:
            raise InvalidProgramError("No operators defined in streaming topology. Cannot execute: "
                                      "add a sink (print(), sink_to(), add_sink(), execute_and_collect())")
        self.clock = clock or SystemClock()
        self.batch = batch
        self.auto_watermark_interval_ms = auto_watermark_interval_ms
        self.progress_interval_s = progress_interval_s
        self.progress_stream = progress_stream or sys.stderr
        self.state_backend_factory = state_backend_factory or (
            lambda max_p, groups, key_hash: InMemoryKeyedStateBackend(max_p, groups, key_hash))
        self.transformations = _topological(sinks)
        self._side_output_types: dict[tuple[int, str], Any] = {}
        for t in self.transformations:
            for refs in t.inputs:
                for ref in refs:
                    if ref.tag is not None and ref.tag_type is not None:
                        self._side_output_types[(ref.transformation.id, ref.tag)] = ref.tag_type
        self.subtasks: dict[Transformation, list[Subtask]] = {}
        self._stopped = False
        self._until_ms: int | None = None
        self._restore_from: dict[str, dict[int, Any]] | None = None
        self.coordinator = checkpoint_coordinator
        self.checkpoint_stats: list[CheckpointStats] = []  # every checkpoint this attempt completed
        self.last_savepoint: CompletedCheckpoint | None = None
        self.control = control
        self._triggered_at = 0.0  # perf_counter() when the pending checkpoint was triggered
        self._stop_command: Command | None = None
        self._build(default_parallelism, max_parallelism)

    # -- building ----------------------------------------------------------------------------
    def _parallelism(self, t: Transformation, default: int) -> int:
        return t.parallelism if t.parallelism is not None else default

    def _build(self, default_parallelism: int, max_parallelism: int) -> None:
        now = self.clock.now
        for t in self.transformations:
            p = self._parallelism(t, default_parallelism)
            max_p = t.max_parallelism or (max_parallelism if max_parallelism > 0 else default_max_parallelism(p))
            subtasks = []
            for index in range(p):
                operator = t.make_operator()
                subtask = Subtask(t, index, p, operator)
                subtask.output = RoutedOutput(subtask)
                backend = (self.state_backend_factory(max_p, key_group_range(index, p, max_p),
                                                      t.key_hash() or pickled_key_hash) if t.keyed else None)
                context = OperatorContext(t.name, index, p, max_p, subtask.output, now, backend)
                context.batch = self.batch
                operator.setup(context)
                subtasks.append(subtask)
            self.subtasks[t] = subtasks
        for t in self.transformations:
            downstream = self.subtasks[t]
            p = len(downstream)
            max_p = downstream[0].operator.ctx.max_parallelism
            for input_index, refs in enumerate(t.inputs):
                for edge_number, ref in enumerate(refs):
                    upstream = self.subtasks[ref.transformation]
                    mode = _mode(ref, len(upstream), p)
                    output_type = ref.transformation.output_type if ref.tag is None else None
                    if ref.tag is not None:
                        output_type = self._side_output_types.get((ref.transformation.id, ref.tag))
                    convert = None
                    # Where PyFlink serializes a record with its type: leaving a chain of Python
                    # operators (a key_by or a change of parallelism), or entering a Java sink.
                    if (mode != "forward" or t.converts_input) and output_type is not None \
                            and not isinstance(output_type, PickledBytesTypeInfo):
                        convert = output_type.from_python
                    for up in upstream:
                        channel = (input_index, edge_number, up.index)
                        for target in downstream:
                            target.add_channel(channel)
                        up.output.add_route(ref.tag, _Route(mode, downstream, input_index, ref.key_selector, max_p,
                                                            channel, up.index, convert,
                                                            ref.key_hash or pickled_key_hash))
        self.sources = [s for t in self.transformations if t.is_source for s in self.subtasks[t]]

    # -- running -----------------------------------------------------------------------------
    def all_subtasks(self) -> list[Subtask]:
        return [s for t in self.transformations for s in self.subtasks[t]]

    def stop(self) -> None:
        self._stopped = True

    def run(self, until_ms: int | None = None, restore_from: dict[str, dict[int, Any]] | None = None) -> None:
        """Runs to the end of input (or until the clock reaches `until_ms`, leaving the job's
        state for snapshot()); `restore_from` is a snapshot() of the same job, possibly taken
        at another parallelism: keyed state and timers are split by key group."""
        self._until_ms = until_ms
        self._restore_from = restore_from
        try:
            self._run()
        except (JobExecutionError, InvalidProgramError):
            self._close_quietly()
            raise
        except Exception as exc:
            self._close_quietly()
            error = JobExecutionError(f"Job execution failed: {type(exc).__name__}: {exc}")
            error.task_failure = True
            raise error from exc
        except BaseException:
            # SIGTERM's sys.exit, Ctrl-C: producers and consumers are closed too (their threads
            # and sockets), and an open Kafka transaction is aborted instead of lingering
            self._close_quietly()
            raise

    def _close_quietly(self) -> None:
        """A failed attempt still releases its resources (Kafka consumers and producers)."""
        if self._stop_command is not None:
            self._stop_command.fail("the job failed while stopping with a savepoint")
        for subtask in self.all_subtasks():
            try:
                subtask.operator.close()
            except Exception:  # noqa: BLE001 - the original failure is what is reported
                pass

    # -- checkpoints ---------------------------------------------------------------------------
    def _trigger_checkpoint(self, now: int) -> int:
        """Starts a checkpoint: every subtask must acknowledge; subtasks that have already
        finished acknowledge at once with their final state; routes start holding back records
        on channels whose barrier has arrived."""
        coordinator = self.coordinator
        assert coordinator is not None
        self._triggered_at = time.perf_counter()
        checkpoint_id = coordinator.trigger(now, self._tasks())
        self._begin_alignment(checkpoint_id)
        return checkpoint_id

    def _tasks(self) -> list[tuple[str, int]]:
        return [(self._state_key(i, t), s.index) for i, t in enumerate(self.transformations) for s in self.subtasks[t]]

    def _begin_alignment(self, checkpoint_id: int) -> None:
        for subtask in self.all_subtasks():
            subtask.on_aligned = self._acknowledge
        for subtask in self.all_subtasks():
            if subtask.ended:
                self._acknowledge(subtask, checkpoint_id)
            else:
                subtask.output.rebuild(guarded=True)

    def _inject_barrier(self, source: Subtask, checkpoint_id: int) -> None:
        source.aligning = checkpoint_id
        source.check_aligned()  # a source has no input channels: it snapshots and emits at once

    def _acknowledge(self, subtask: Subtask, checkpoint_id: int) -> None:
        assert self.coordinator is not None
        position = self.transformations.index(subtask.transformation)
        subtask.operator.prepare_snapshot_pre_barrier(checkpoint_id)
        state = subtask.operator.snapshot()
        if isinstance(subtask.operator, SourceOperator):
            subtask.operator.checkpointed_positions[checkpoint_id] = state.get("reader")
        completed = self.coordinator.acknowledge(checkpoint_id, self._state_key(position, subtask.transformation),
                                                 subtask.index, state)
        if completed is not None:
            completed.duration_ms = (time.perf_counter() - self._triggered_at) * 1000
            self.coordinator.record_duration(checkpoint_id, completed.duration_ms)
            if completed.is_savepoint:
                self.last_savepoint = completed  # side effects are committed only by stop-with-savepoint
                return
            self.checkpoint_stats.append(CheckpointStats.of(completed))
            self._notify_complete(checkpoint_id)

    def _notify_complete(self, checkpoint_id: int) -> None:
        for other in self.all_subtasks():
            other.operator.notify_checkpoint_complete(checkpoint_id)

    # -- savepoints and the control endpoint ---------------------------------------------------------
    def take_savepoint(self, now: int, directory: str, active: list[Subtask], drain: bool = False) -> CompletedCheckpoint:
        """A savepoint at this point of the loop: barriers at every running source (which do not
        poll in between, so the savepoint holds exactly what was processed before it)."""
        directory = os.path.abspath(local_path(directory))
        os.makedirs(directory, exist_ok=True)  # fails here, before any barrier, if it cannot be made
        if not os.access(directory, os.W_OK):
            raise PermissionError(f"cannot write a savepoint into {directory}")
        if self.coordinator is None:
            self.coordinator = CheckpointCoordinator(CheckpointSettings(), None)
        if drain:
            for subtask in active:
                subtask.operator.finish_source()  # type: ignore[attr-defined]  # MAX_WATERMARK first, as Flink's --drain
        self._triggered_at = time.perf_counter()
        checkpoint_id = self.coordinator.trigger_savepoint(now, self._tasks(), directory)
        self._begin_alignment(checkpoint_id)
        for subtask in active:
            self._inject_barrier(subtask, checkpoint_id)
        self._end_alignment()
        savepoint = self.last_savepoint
        assert savepoint is not None and savepoint.checkpoint_id == checkpoint_id
        return savepoint

    def _serve_commands(self, control: JobControl, active: list[Subtask]) -> bool:
        """Answers the queued control commands; True when the job must stop now."""
        for command in control.take():
            if self._stop_command is not None:
                command.fail("the job is stopping")
                continue
            if command.name == "status":
                command.reply(**control.job_info(), **self.status())
                continue
            directory = command.request.get("target_directory") or control.savepoint_directory
            if not directory:
                command.fail("No savepoint directory configured. You can either specify a directory when triggering "
                             "the savepoint or configure a cluster-wide default via key "
                             "'execution.checkpointing.savepoint-dir'.")
                continue
            stopping = command.name == "stop"
            try:
                savepoint = self.take_savepoint(self.clock.now(), str(directory), active,
                                                drain=stopping and bool(command.request.get("drain")))
            except OSError as exc:
                command.fail(f"the savepoint could not be written: {exc}")
                continue
            assert savepoint.path is not None
            if not stopping:
                command.reply(path="file:" + savepoint.path, checkpoint_id=savepoint.checkpoint_id)
                continue
            self._notify_complete(savepoint.checkpoint_id)
            self._stop_command = command
            self._stopped = True
        return self._stop_command is not None

    def status(self) -> dict[str, Any]:
        """Operators with parallelism and records in/out, and the latest checkpoints/savepoints."""
        operators = [{"name": t.name, "parallelism": len(self.subtasks[t]),
                      "records_in": sum(s.records_in for s in self.subtasks[t]),
                      "records_out": sum(s.output.records_out for s in self.subtasks[t])}
                     for t in self.transformations]
        coordinator = self.coordinator
        history = coordinator.history if coordinator is not None else []
        restored = coordinator.restored if coordinator is not None else None
        return {"operators": operators,
                "checkpointing_interval_ms": coordinator.interval_ms if coordinator is not None else None,
                "checkpoints": [_describe(c) for c in history],
                "restored_from": _describe(restored) if restored is not None else None}

    def unmatched_state(self, snapshot: dict[str, dict[int, Any]]) -> list[str]:
        """State keys of a snapshot that no operator of this job takes (Flink refuses such a
        savepoint unless --allowNonRestoredState)."""
        keys = {self._state_key(i, t) for i, t in enumerate(self.transformations)}
        return sorted(key for key, subtasks in snapshot.items() if key not in keys and subtasks)

    def _end_alignment(self) -> None:
        assert self.coordinator is not None
        if self.coordinator.pending is not None:
            raise AssertionError(f"checkpoint {self.coordinator.pending.checkpoint_id} did not complete: "
                                 f"no acknowledgement from {sorted(self.coordinator.pending.waiting)}")
        for subtask in self.all_subtasks():
            subtask.output.rebuild(guarded=False)

    def plan_batches(self) -> None:
        """Marks the subtasks a batch may be sent to: their operator takes batches and what it
        collects can go on whole (downstream first, so a chain takes batches only to its end)."""
        for t in reversed(self.transformations):
            for subtask in self.subtasks[t]:
                subtask.takes_batches = subtask.operator.takes_batches() and subtask.output.passes_batches()

    def _run(self) -> None:
        clock = self.clock
        for t in reversed(self.transformations):
            for subtask in self.subtasks[t]:
                subtask.operator.open()
        self.plan_batches()
        for subtask in self.all_subtasks():
            subtask.output.rebuild()
        if self._restore_from is not None:
            self._restore(self._restore_from)
        periodic = [s for s in self.all_subtasks() if s.operator.wants_periodic_watermarks]
        interval = self.auto_watermark_interval_ms
        if interval > 0:
            started_at = clock.now()
            for subtask in periodic:
                subtask.operator.start_periodic_watermarks(interval, started_at)
        else:
            periodic = []
        active = list(self.sources)
        coordinator = self.coordinator
        if coordinator is not None:
            coordinator.start(clock.now())
        started = time.monotonic()
        next_progress = started + self.progress_interval_s if self.progress_interval_s else None
        subtasks = self.all_subtasks()
        until = self._until_ms
        control = self.control
        while active and not self._stopped and (until is None or clock.now() < until):
            if control is not None and control.pending and self._serve_commands(control, active):
                break
            progressed = False
            now = clock.now()
            checkpoint_id = None
            if coordinator is not None and coordinator.is_due(now):
                checkpoint_id = self._trigger_checkpoint(now)
            for subtask in list(active):
                source = subtask.operator
                assert isinstance(source, SourceOperator)
                if checkpoint_id is not None:
                    self._inject_barrier(subtask, checkpoint_id)
                if source.poll(SOURCE_BATCH, now):
                    progressed = True
                if source.finished:
                    active.remove(subtask)
                    source.finish_source()
                    subtask.ended = True
                    subtask.output.end()
            if checkpoint_id is not None:
                self._end_alignment()
            now = clock.now()
            for subtask in subtasks:
                if not subtask.ended and subtask.operator.ctx.timers._proc_heap:
                    deadline = subtask.operator.ctx.timers.next_processing_deadline()
                    if deadline is not None and deadline <= now:
                        subtask.operator.on_processing_time(now)
            for subtask in periodic:
                if not subtask.ended:
                    subtask.operator.maybe_emit_periodic(now)
            if next_progress is not None and time.monotonic() >= next_progress:
                self.print_progress(time.monotonic() - started)
                next_progress = time.monotonic() + (self.progress_interval_s or 0)
            if not active or progressed:
                continue
            deadlines = [d for d in (s.operator.ctx.timers.next_processing_deadline()
                                     for s in subtasks if not s.ended) if d is not None]
            deadlines.extend(s.operator.next_periodic_at for s in periodic if not s.ended)
            for subtask in active:
                ready = subtask.operator.reader.next_ready_at(now)  # type: ignore[attr-defined]
                if ready is not None:
                    deadlines.append(ready)
            if coordinator is not None and coordinator.next_due is not None and deadlines:
                deadlines.append(coordinator.next_due)
            if clock.is_manual:
                if not deadlines:
                    raise JobExecutionError("the job waits for input that will never come: its sources are not "
                                            "finished and nothing is scheduled on the manual clock")
                clock.wait_until(max(min(deadlines), now))
            else:
                wait_ms = max(0, min(deadlines) - now) if deadlines else 50
                wait_ms = min(wait_ms, 50)
                waited = False
                for subtask in active:
                    reader = subtask.operator.reader  # type: ignore[attr-defined]
                    if hasattr(reader, "wait_for_data") and type(reader).wait_for_data is not _base_wait:
                        reader.wait_for_data(wait_ms)
                        waited = True
                        break
                if not waited:
                    clock.wait_until(now + wait_ms)
        for subtask in subtasks:
            subtask.operator.close()
        if self.progress_interval_s and time.monotonic() - started >= self.progress_interval_s:
            self.print_progress(time.monotonic() - started)
        if self._stop_command is not None:
            savepoint = self.last_savepoint
            assert savepoint is not None and savepoint.path is not None
            self._stop_command.reply(path="file:" + savepoint.path, checkpoint_id=savepoint.checkpoint_id)

    def print_progress(self, elapsed_s: float) -> None:
        lines = [f"[flinklite] {elapsed_s:.1f}s"]
        for t in self.transformations:
            subtasks = self.subtasks[t]
            records_in = sum(s.records_in for s in subtasks)
            records_out = sum(s.output.records_out for s in subtasks)
            lines.append(f"  {t.name} (x{len(subtasks)}): in {records_in:,} out {records_out:,}")
        self.progress_stream.write("\n".join(lines) + "\n")
        self.progress_stream.flush()

    def _state_key(self, position: int, t: Transformation) -> str:
        return t.uid or f"{position}:{t.name}"

    def snapshot(self) -> dict[str, dict[int, Any]]:
        """Every operator subtask's state, by transformation (its uid, or its position and name
        in the graph) and subtask index."""
        return {self._state_key(i, t): {s.index: s.operator.snapshot() for s in self.subtasks[t]}
                for i, t in enumerate(self.transformations)}

    def _restore(self, snapshot: dict[str, dict[int, Any]], only: set[Subtask] | None = None) -> None:
        """Restores every subtask (or those in `only`: a worker's own) from a snapshot()."""
        for position, t in enumerate(self.transformations):
            old = snapshot.get(self._state_key(position, t))
            if not old:
                continue
            keyed: dict[int, Any] = {}
            readers: dict[Any, Any] = {}
            event: list[Any] = []
            processing: list[Any] = []
            for state in old.values():
                keyed.update(state.get("keyed", {}))
                reader = state.get("reader")
                if isinstance(reader, dict):
                    readers.update(reader)
                event.extend(state.get("timers", {}).get("event", []))
                processing.extend(state.get("timers", {}).get("processing", []))
            for subtask in self.subtasks[t]:
                if only is not None and subtask not in only:
                    continue
                backend = subtask.operator.ctx.state_backend
                if backend is not None:
                    assert isinstance(backend, InMemoryKeyedStateBackend)
                    groups = backend.key_groups

                    def mine(entry: Any, groups: range = groups, backend: InMemoryKeyedStateBackend = backend) -> bool:
                        return key_group_for(entry[1], backend.max_parallelism, backend.key_hash) in groups
                    timers = {"event": [e for e in event if mine(e)], "processing": [e for e in processing if mine(e)]}
                else:
                    timers = {"event": event, "processing": processing} if len(self.subtasks[t]) == 1 else {}
                state = {"keyed": keyed, "timers": timers}
                if readers or any("reader" in s for s in old.values()):
                    state["reader"] = readers or old.get(subtask.index, {}).get("reader")
                sinks = {index: s["sink"] for index, s in old.items() if s.get("sink") is not None}
                if sinks:  # every previous subtask's sink state: the writer picks what is its own
                    state["sink"] = sinks
                subtask.operator.restore(state)

    def metrics(self) -> dict[str, tuple[int, int]]:
        return {t.name: (sum(s.records_in for s in self.subtasks[t]),
                         sum(s.output.records_out for s in self.subtasks[t])) for t in self.transformations}


def _describe(checkpoint: CheckpointStats) -> dict[str, Any]:
    return {"id": checkpoint.checkpoint_id, "kind": checkpoint.kind, "timestamp": checkpoint.timestamp,
            "path": checkpoint.path, "duration_ms": checkpoint.duration_ms, "size_bytes": checkpoint.size_bytes}


def _mode(ref: StreamRef, upstream_parallelism: int, downstream_parallelism: int) -> str:
    mode = ref.partitioning
    if mode == "default":
        return "forward" if upstream_parallelism == downstream_parallelism else "rebalance"
    if mode == "forward" and upstream_parallelism != downstream_parallelism:
        raise InvalidProgramError("forward() needs the same parallelism on both sides "
                                  f"({upstream_parallelism} != {downstream_parallelism})")
    if mode == "shuffle":
        return "rebalance"
    return mode


def _topological(sinks: list[Transformation]) -> list[Transformation]:
    order: list[Transformation] = []
    seen: set[int] = set()

    def visit(t: Transformation) -> None:
        if t.id in seen:
            return
        seen.add(t.id)
        for up in t.upstream():
            visit(up)
        order.append(t)

    for sink in sinks:
        visit(sink)
    return order


from flinklite.datastream.connectors.base import SourceReader  # noqa: E402

_base_wait = SourceReader.wait_for_data
