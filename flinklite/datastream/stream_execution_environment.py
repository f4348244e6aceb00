"""Owns StreamExecutionEnvironment: job-wide settings (parallelism, max parallelism, the
auto-watermark interval, the processing-time clock), the sources (from_collection, from_source)
and execute(), which hands the graph to the single-threaded executor.

Configuration layers, lowest precedence first (flinklite/common/configuration.py): the
configuration directory (`$FLINK_CONF_DIR` or `run --conf-dir`), `-D key=value` from
`python -m flinklite run`, `-p` (parallelism), then the job's own Configuration
(`get_execution_environment(configuration)`, `configure`) and setters called in the job.
execute() picks the job id (stable when `high-availability.cluster-id` is set), restores from
`execution.state-recovery.path` (`run -s`) and, when enabled (`python -m flinklite run` does),
serves the job's control endpoint (flinklite/runtime/control.py) while it runs."""

from __future__ import annotations

import dataclasses
import os
import sys
import time
import uuid
from typing import Any, Callable, Iterable

from flinklite.common.configuration import (
    Configuration,
    HighAvailabilitySettings,
    SavepointSettings,
    layered_configuration,
    merge_layers,
    parse_duration_ms,
)
from flinklite.common.execution_config import ExecutionConfig
from flinklite.common.typeinfo import PickledBytesTypeInfo, TypeInformation, Types
from flinklite.common.watermark_strategy import WatermarkStrategy
from flinklite.datastream.connectors.base import Boundedness, Source, SourceReader
from flinklite.datastream.data_stream import DataStream
from flinklite.errors import InvalidProgramError
from flinklite.graph import StreamRef, Transformation
from flinklite.operators.io import SourceOperator
from flinklite.datastream.checkpoint_config import CheckpointConfig
from flinklite.errors import JobExecutionError
from flinklite.runtime.checkpoint import (
    CheckpointCoordinator,
    CheckpointStorage,
    CompletedCheckpoint,
    NoRestart,
    RestartSettings,
    load_checkpoint,
)
from flinklite.runtime.control import ControlServer, JobControl, jobs_directory
from flinklite.runtime.clock import Clock, SystemClock
from flinklite.runtime.executor import JobExecutor
from flinklite.runtime.workers import executor_factory
from flinklite.runtime.ha import JobAlreadyFinishedError, JobLeadership, LeadershipLostError


def _available_processors() -> int:
    """The CPUs this process may run on (the JVM's availableProcessors, which PyFlink uses)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class RuntimeExecutionMode:
    STREAMING = "STREAMING"
    BATCH = "BATCH"
    AUTOMATIC = "AUTOMATIC"


class JobExecutionResult:
    def __init__(self, job_name: str, net_runtime_ms: int, metrics: dict[str, tuple[int, int]],
                 executor: JobExecutor, job_id: str | None = None) -> None:
        self._job_id = job_id or uuid.uuid4().hex
        self.job_name = job_name
        self._net_runtime_ms = net_runtime_ms
        self.metrics = metrics
        self.executor = executor

    def get_job_id(self) -> str:
        return self._job_id

    def get_net_runtime(self) -> int:
        return self._net_runtime_ms

    def get_all_accumulator_results(self) -> dict[str, Any]:
        return {}

    def is_job_execution_result(self) -> bool:
        return True

    def __str__(self) -> str:
        return f"Program execution finished\nJob with JobID {self._job_id} has finished.\n" \
               f"Job Runtime: {self._net_runtime_ms} ms"


class CollectionSource(Source):
    """from_collection: a non-parallel bounded source of a Python collection."""

    def __init__(self, collection: Iterable[Any], type_info: TypeInformation | None = None) -> None:
        values = list(collection)
        if type_info is not None and not isinstance(type_info, PickledBytesTypeInfo):
            values = [type_info.from_python(value) for value in values]
        self.collection = values

    def fixed_parallelism(self) -> int | None:
        return 1

    def create_reader(self, subtask_index: int, parallelism: int) -> SourceReader:
        return _ListReader(self.collection)


class _ListReader(SourceReader):
    def __init__(self, values: list[Any]) -> None:
        self.values = values
        self.position = 0

    def poll(self, max_records: int, now: int) -> list[tuple[Any, Any, int | None]]:
        chunk = self.values[self.position:self.position + max_records]
        self.position += len(chunk)
        return [(0, value, None) for value in chunk]

    def poll_batch(self, max_records: int, now: int) -> tuple[list[Any], list[int | None] | None]:
        chunk = self.values[self.position:self.position + max_records]
        self.position += len(chunk)
        return chunk, None

    def is_finished(self) -> bool:
        return self.position >= len(self.values)

    def snapshot(self) -> Any:
        return {"position": self.position}

    def restore(self, state: Any) -> None:
        if state:
            self.position = state["position"]


class StreamExecutionEnvironment:
    """Where a job is defined and run. get_execution_environment() makes a fresh one."""

    # Set by flinklite.testing / `python -m flinklite run` to configure environments a job
    # script creates itself (clock, progress reporting, observers of finished jobs, the
    # configuration directory "conf_dir", -D properties "dynamic", the control endpoint's jobs
    # directory "control_dir").
    _defaults: dict[str, Any] = {}

    def __init__(self) -> None:
        # Like PyFlink's local environment: one subtask per CPU unless told otherwise.
        self._parallelism = int(self._defaults.get("parallelism", _available_processors()))
        self._config = ExecutionConfig()
        self._transformations: list[Transformation] = []
        self._sinks: list[Transformation] = []
        self._clock: Clock = self._defaults.get("clock") or SystemClock()
        self._progress_interval_s: float | None = self._defaults.get("progress_interval_s")
        self._on_executed: list[Callable[[JobExecutionResult], None]] = list(self._defaults.get("on_executed", []))
        self.last_executor: JobExecutor | None = None
        self._batch = False
        self._checkpoint_config = CheckpointConfig()
        self._restart = RestartSettings()
        self.last_coordinator: CheckpointCoordinator | None = None
        self.restarts = 0  # of the last executed job
        self.savepoint_settings = SavepointSettings()
        self.high_availability = HighAvailabilitySettings()
        self._job_name: str | None = None
        self._control_dir: str | None = self._defaults.get("control_dir")
        self._conf_layers: list[dict[str, str]] = []
        for layer in layered_configuration(self._defaults.get("conf_dir"), self._defaults.get("dynamic")):
            self._apply(layer)
        if "parallelism" in self._defaults:
            self._parallelism = int(self._defaults["parallelism"])
        configuration = self._defaults.get("configuration")
        if configuration is not None:
            self.configure(configuration)

    @staticmethod
    def get_execution_environment(configuration: Configuration | None = None) -> StreamExecutionEnvironment:
        env = StreamExecutionEnvironment()
        if configuration is not None:
            env.configure(configuration)
        return env

    def configure(self, configuration: Configuration | dict[str, str]) -> StreamExecutionEnvironment:
        """Applies Flink configuration keys over the ones already in effect:
        `execution.checkpointing.interval`, `.dir` (or `state.checkpoints.dir`), `.num-retained`,
        `.savepoint-dir` (or `state.savepoints.dir`), `execution.state-recovery.path`,
        `restart-strategy.*`, `parallelism.default`, `pipeline.max-parallelism`,
        `pipeline.auto-watermark-interval`, `pipeline.name` and `high-availability.*`."""
        conf = configuration.to_dict() if isinstance(configuration, Configuration) else dict(configuration)
        self._apply(conf)
        return self

    def _apply(self, conf: dict[str, str]) -> None:
        self._conf_layers.append(conf)
        self._checkpoint_config.settings.update_from(conf)
        self._restart.update_from(conf)
        self.savepoint_settings.update_from(conf)
        self.high_availability.update_from(conf)
        if "parallelism.default" in conf:
            self.set_parallelism(int(conf["parallelism.default"]))
        if "pipeline.max-parallelism" in conf:
            self.set_max_parallelism(int(conf["pipeline.max-parallelism"]))
        if "pipeline.auto-watermark-interval" in conf:
            self._config.set_auto_watermark_interval(parse_duration_ms(conf["pipeline.auto-watermark-interval"]))
        if conf.get("pipeline.name"):
            self._job_name = conf["pipeline.name"]

    def get_configuration(self) -> Configuration:
        """The configuration in effect (file, -D and the job's own), as one Configuration."""
        return Configuration.from_dict(merge_layers(self._conf_layers))

    def enable_control_endpoint(self, jobs_dir: str | None = None) -> StreamExecutionEnvironment:
        """Serve the job's control endpoint (savepoint, stop, status) while execute() runs,
        registered in `jobs_dir` (default `$FLINKLITE_HOME/jobs`); `python -m flinklite run`
        turns it on for every job."""
        self._control_dir = jobs_dir or jobs_directory()
        return self

    def get_checkpoint_config(self) -> CheckpointConfig:
        return self._checkpoint_config

    # -- settings ------------------------------------------------------------------------------
    def set_parallelism(self, parallelism: int) -> StreamExecutionEnvironment:
        if not isinstance(parallelism, int) or parallelism < 1:
            raise InvalidProgramError("set_parallelism takes an int >= 1")
        self._parallelism = parallelism
        return self

    def get_parallelism(self) -> int:
        return self._parallelism

    def set_max_parallelism(self, max_parallelism: int) -> StreamExecutionEnvironment:
        if max_parallelism < 1 or max_parallelism > 32768:
            raise InvalidProgramError("max parallelism must be within [1, 32768]")
        self._config.set_max_parallelism(max_parallelism)
        return self

    def get_max_parallelism(self) -> int:
        return self._config.get_max_parallelism()

    def get_config(self) -> ExecutionConfig:
        return self._config

    def set_runtime_mode(self, execution_mode: Any) -> StreamExecutionEnvironment:
        """BATCH (bounded sources only): no periodic watermarks, every event-time window and timer
        fires at the end of input, and rolling reduce/sum/min/max emit one final value per key."""
        mode = str(getattr(execution_mode, "name", execution_mode))
        if mode not in ("STREAMING", "BATCH", "AUTOMATIC"):
            raise InvalidProgramError("set_runtime_mode takes RuntimeExecutionMode.STREAMING, BATCH or AUTOMATIC")
        self._batch = mode == "BATCH"
        return self

    def enable_checkpointing(self, interval: int, mode: Any = None) -> StreamExecutionEnvironment:
        """A checkpoint every `interval` ms of processing time (aligned barriers: exactly-once
        state; `mode` AT_LEAST_ONCE is accepted and checkpoints the same way)."""
        self._checkpoint_config.set_checkpoint_interval(interval)
        return self

    def set_stream_time_characteristic(self, characteristic: Any) -> StreamExecutionEnvironment:
        return self

    def add_jars(self, *jars_path: str) -> None:
        pass

    def add_classpaths(self, *classpaths: str) -> None:
        pass

    def add_python_file(self, file_path: str) -> None:
        pass

    def set_python_executable(self, python_exec: str) -> None:
        pass

    def set_buffer_timeout(self, timeout_millis: int) -> StreamExecutionEnvironment:
        return self

    # flinklite conveniences ---------------------------------------------------------------------
    def set_clock(self, clock: Clock) -> StreamExecutionEnvironment:
        """Processing time for this job (e.g. flinklite.testing.ManualClock)."""
        self._clock = clock
        return self

    def get_clock(self) -> Clock:
        return self._clock

    def set_progress_interval(self, seconds: float | None) -> StreamExecutionEnvironment:
        """Print records in/out per operator to stderr every `seconds` while the job runs."""
        self._progress_interval_s = seconds
        return self

    # -- sources -------------------------------------------------------------------------------
    def _register(self, t: Transformation, sink: bool = False) -> None:
        self._transformations.append(t)
        if sink:
            self._sinks.append(t)

    def _source(self, name: str, source: Source, strategy: WatermarkStrategy | None,
                type_info: TypeInformation | None) -> DataStream:
        fixed = source.fixed_parallelism()
        t = Transformation(name=name, make_operator=lambda: SourceOperator(name, source, strategy), inputs=[],
                           output_type=type_info or Types.PICKLED_BYTE_ARRAY(), is_source=True,
                           parallelism=fixed, fixed_parallelism=fixed is not None)
        t.unbounded = source.get_boundedness() == Boundedness.CONTINUOUS_UNBOUNDED  # type: ignore[attr-defined]
        self._register(t)
        return DataStream(self, [StreamRef(t)], t.output_type, t)

    def from_collection(self, collection: Iterable[Any], type_info: TypeInformation | None = None) -> DataStream:
        if isinstance(collection, (str, bytes)) or not hasattr(collection, "__iter__"):
            raise InvalidProgramError("from_collection takes a list (or other iterable) of elements")
        return self._source("Collection Source", CollectionSource(collection, type_info), None, type_info)

    def from_source(self, source: Source, watermark_strategy: WatermarkStrategy, source_name: str,
                    type_info: TypeInformation | None = None) -> DataStream:
        if not isinstance(source, Source):
            raise InvalidProgramError(f"from_source takes a Source (e.g. KafkaSource.builder()...build()), not {source!r}")
        if not isinstance(watermark_strategy, WatermarkStrategy):
            raise InvalidProgramError("from_source needs a WatermarkStrategy (WatermarkStrategy.no_watermarks() "
                                      "when event time is not used)")
        return self._source(source_name, source, watermark_strategy, type_info)

    # -- running -------------------------------------------------------------------------------
    def execute(self, job_name: str | None = None) -> JobExecutionResult:
        sinks, self._sinks, self._transformations = self._sinks, [], []
        if self._batch:
            for t in self._all_upstream(sinks):
                if t.is_source and getattr(t, "unbounded", False):
                    raise InvalidProgramError(f"RuntimeExecutionMode.BATCH needs bounded sources; {t.name} is not")
        settings = self._checkpoint_config.settings
        checkpointing = settings.enabled and not self._batch
        job_name = job_name or self._job_name or "Flink Streaming Job"
        ha_settings = self.high_availability
        if "worker_session" in self._defaults:
            # A worker process (flinklite/runtime/workers.py) runs the script only for its graph:
            # high availability is the job manager's, whatever the script or its configuration says.
            ha_settings = HighAvailabilitySettings()
        zookeeper = ha_settings.zookeeper
        if zookeeper:
            # A restarted process must find its job's znodes again: under ZooKeeper HA the id is
            # stable with the default cluster id too (Flink fixes it in HA application mode).
            ha_settings = dataclasses.replace(ha_settings, cluster_id_set=True)
        job_id = ha_settings.job_id_for(job_name) or uuid.uuid4().hex
        storage = CheckpointStorage(settings.directory, job_id) if checkpointing and settings.directory else None
        if zookeeper and checkpointing and storage is None:
            # the completed-checkpoint pointers would hold no externalPointer: a new leader
            # would silently start from scratch
            raise InvalidProgramError(
                "high-availability.type zookeeper with checkpointing needs a checkpoint directory "
                "(execution.checkpointing.dir or state.checkpoints.dir): without one there is nothing to recover from")
        # ZooKeeper HA (flinklite/runtime/ha.py): wait as a standby until this process leads; then
        # checkpoint ids and completed checkpoints go through ZooKeeper, and the job resumes from
        # the latest one there (which wins over an initial savepoint, as in Flink).
        leadership: JobLeadership | None = None
        control: JobControl | None = None
        server: ControlServer | None = None
        executor: JobExecutor | None = None
        # everything from here releases what it opened (kazoo client, latch thread and node,
        # control endpoint) however it ends, also on a failure before the job runs
        try:
            if zookeeper:
                leadership = JobLeadership(merge_layers(self._conf_layers), job_id, job_name, settings.num_retained)
                current: list[JobExecutor] = []  # this execute()'s executor, once there is one

                def on_revoked() -> None:
                    if current:
                        current[-1].stop()

                leadership.acquire(on_revoked=on_revoked, plan={"script": sys.argv[0], "args": sys.argv[1:]},
                                   report=_to_stderr)
                leadership.check_finished()  # a job with a recorded result does not run again
            # Without periodic checkpoints the coordinator only takes savepoints.
            coordinator = CheckpointCoordinator(settings if checkpointing else type(settings)(), storage, job_id,
                                                **(leadership.hooks() if leadership is not None else {}))
            self.last_coordinator = coordinator if checkpointing else None
            restored: CompletedCheckpoint | None = None
            restore_path = (leadership.latest_checkpoint_path() if leadership is not None else None) \
                or self.savepoint_settings.restore_path
            if restore_path:
                restored = load_checkpoint(restore_path)
                self.savepoint_settings.restore_path = None  # the first job of the script resumes from it
                coordinator.restore_from(restored)
            coordinator.discard_orphans()
            restart = self._restart.create(checkpointing)
            self.restarts = 0
            started = time.monotonic()
            if self._control_dir is not None:
                control = JobControl(job_id, job_name, self.savepoint_settings.directory)
                server = ControlServer(control, self._control_dir).start()
                sys.stderr.write(f"Job has been submitted with JobID {job_id}\n")
                sys.stderr.flush()
            make_executor = executor_factory(self._defaults, merge_layers(self._conf_layers))  # workers: runtime/workers.py
            while True:
                executor = make_executor(sinks, self._parallelism, clock=self._clock,
                                       auto_watermark_interval_ms=0 if self._batch else self._config.get_auto_watermark_interval(),
                                       max_parallelism=self._config.get_max_parallelism(),
                                       progress_interval_s=self._progress_interval_s, batch=self._batch,
                                       checkpoint_coordinator=coordinator, control=control)
                self.last_executor = executor
                if leadership is not None:
                    current.append(executor)
                    # Asks ZooKeeper, not only the flag: a process thawed after a freeze past its
                    # session may not have heard yet that it lost; an attempt it started (its
                    # workers, its sinks) would fence the new leader's transactions.
                    leadership.confirm_leading()
                    if leadership.revoked:
                        executor.stop()  # revoked before the executor was known to on_revoked
                if restored is not None and self.restarts == 0:
                    self._check_restorable(executor, restored)
                latest = coordinator.latest() or restored
                if control is not None:
                    control.state = "RUNNING"
                    control.restarts = self.restarts
                try:
                    executor.run(restore_from=latest.operators if latest is not None else None)
                    break
                except JobExecutionError as exc:
                    if not exc.task_failure:
                        raise
                    if leadership is not None and leadership.revoked:
                        # the failure of an attempt stopped because the leadership went: no restart
                        raise JobExecutionError(f"job {job_id} was suspended: this process lost its leadership") from exc
                    if control is not None:
                        control.state = "RESTARTING"
                    now = self._clock.now()
                    restart_at = restart.on_failure(now)
                    if restart_at is None:
                        if isinstance(restart, NoRestart) and not checkpointing:
                            raise
                        raise JobExecutionError(f"{exc} (recovery is suppressed by {restart!r})") from exc.__cause__
                    self.restarts += 1
                    while self._clock.now() < restart_at:  # the restart delay, on the job's clock
                        self._clock.wait_until(restart_at)
                        if self._clock.is_manual and self._clock.now() < restart_at:
                            break
            if leadership is not None:
                if leadership.revoked:
                    raise JobExecutionError(f"job {job_id} was suspended: this process lost its leadership")
                leadership.job_finished("SUCCEEDED")
        except JobExecutionError as exc:
            # A refusal because the leadership is gone (ZooKeeper may say so before kazoo tells
            # the election) is not globally terminal: the new leader's HA data stays.
            lost = isinstance(exc, LeadershipLostError) or isinstance(exc.__cause__, LeadershipLostError)
            if leadership is not None and not leadership.revoked and not lost \
                    and not isinstance(exc, JobAlreadyFinishedError):
                leadership.job_finished("FAILED")  # globally terminal: its HA data goes
            raise
        finally:
            if server is not None:
                server.close("the job has ended")
            if leadership is not None:
                leadership.close()
        assert executor is not None
        result = JobExecutionResult(job_name, int((time.monotonic() - started) * 1000),
                                    executor.metrics(), executor, job_id)
        for observer in self._on_executed:
            observer(result)
        return result

    def _check_restorable(self, executor: JobExecutor, restored: CompletedCheckpoint) -> None:
        unmatched = executor.unmatched_state(restored.operators)
        if unmatched and not self.savepoint_settings.allow_non_restored_state:
            raise InvalidProgramError(
                f"Failed to rollback to checkpoint/savepoint {restored.path}. Cannot map checkpoint/savepoint state "
                f"for operator {unmatched[0]} to the new program, because the operator is not available in the new "
                "program. If you want to allow to skip this, you can set the --allowNonRestoredState option on the CLI.")

    @staticmethod
    def _all_upstream(sinks: list[Transformation]) -> list[Transformation]:
        seen: dict[int, Transformation] = {}
        stack = list(sinks)
        while stack:
            t = stack.pop()
            if t.id not in seen:
                seen[t.id] = t
                stack.extend(t.upstream())
        return list(seen.values())

    def execute_async(self, job_name: str | None = None) -> JobExecutionResult:
        return self.execute(job_name)


def _to_stderr(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
