"""Owns StreamExecutionEnvironment: job-wide settings (parallelism, max parallelism, the
auto-watermark interval, the processing-time clock), the sources (from_collection, from_source)
and execute(), which hands the graph to the single-threaded executor."""

from __future__ import annotations

import os
import time
import uuid
from typing import Any, Callable, Iterable

from flinklite.common.execution_config import Configuration, ExecutionConfig
from flinklite.common.typeinfo import PickledBytesTypeInfo, TypeInformation, Types
from flinklite.common.watermark_strategy import WatermarkStrategy
from flinklite.datastream.connectors.base import Boundedness, Source, SourceReader
from flinklite.datastream.data_stream import DataStream
from flinklite.errors import InvalidProgramError
from flinklite.graph import StreamRef, Transformation
from flinklite.operators.io import SourceOperator
from flinklite.datastream.checkpoint_config import CheckpointConfig
from flinklite.errors import JobExecutionError
from flinklite.runtime.checkpoint import CheckpointCoordinator, CheckpointStorage, NoRestart, RestartSettings
from flinklite.runtime.clock import Clock, SystemClock
from flinklite.runtime.executor import JobExecutor


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
    # script creates itself (clock, progress reporting, observers of finished jobs).
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
        """Applies Flink configuration keys: `execution.checkpointing.interval`,
        `execution.checkpointing.dir` (or `state.checkpoints.dir`),
        `execution.checkpointing.num-retained` and `restart-strategy.*`."""
        conf = configuration.to_dict() if isinstance(configuration, Configuration) else dict(configuration)
        self._checkpoint_config.settings.update_from(conf)
        self._restart.update_from(conf)
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
        job_id = uuid.uuid4().hex
        coordinator = None
        if checkpointing:
            storage = CheckpointStorage(settings.directory, job_id) if settings.directory else None
            coordinator = CheckpointCoordinator(settings, storage)
        self.last_coordinator = coordinator
        restart = self._restart.create(checkpointing)
        self.restarts = 0
        started = time.monotonic()
        while True:
            executor = JobExecutor(sinks, self._parallelism, clock=self._clock,
                                   auto_watermark_interval_ms=0 if self._batch else self._config.get_auto_watermark_interval(),
                                   max_parallelism=self._config.get_max_parallelism(),
                                   progress_interval_s=self._progress_interval_s, batch=self._batch,
                                   checkpoint_coordinator=coordinator)
            self.last_executor = executor
            latest = coordinator.latest() if coordinator is not None else None
            try:
                executor.run(restore_from=latest.operators if latest is not None else None)
                break
            except JobExecutionError as exc:
                if not exc.task_failure:
                    raise
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
        result = JobExecutionResult(job_name or "Flink Streaming Job", int((time.monotonic() - started) * 1000),
                                    executor.metrics(), executor, job_id)
        for observer in self._on_executed:
            observer(result)
        return result

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
