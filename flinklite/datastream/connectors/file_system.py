"""Owns the file connectors (pyflink.datastream.connectors.file_system), row formats only:
FileSource reads text lines from files or directories (bounded); FileSink writes one encoded
line per record into part files under its base path. Part files are named
`<prefix>-<subtask>-<n><suffix>` directly under the base path (Flink adds date-hour bucket
directories and a uuid and finalizes files on checkpoints; there are no checkpoints yet, so files
are complete when the job ends)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from flinklite.common.serialization import Encoder
from flinklite.datastream.connectors.base import Sink, SinkWriter, Source, SourceReader
from flinklite.errors import InvalidProgramError

__all__ = ["FileSink", "FileSource", "OutputFileConfig", "RollingPolicy", "StreamFormat"]


class StreamFormat:
    def __init__(self, charset: str) -> None:
        self.charset = charset

    @staticmethod
    def text_line_format(charset_name: str = "UTF-8") -> StreamFormat:
        return StreamFormat(charset_name)


class FileSourceBuilder:
    def __init__(self, stream_format: StreamFormat, paths: tuple[str, ...]) -> None:
        self.stream_format = stream_format
        self.paths = paths

    def monitor_continuously(self, discovery_interval: Any) -> FileSourceBuilder:
        raise InvalidProgramError("FileSource.monitor_continuously is not supported (bounded reads only)")

    def process_static_file_set(self) -> FileSourceBuilder:
        return self

    def build(self) -> FileSource:
        return FileSource(self.stream_format, self.paths)


class FileSource(Source):
    """Each file is a split; files are spread over the reader subtasks."""

    def __init__(self, stream_format: StreamFormat, paths: tuple[str, ...]) -> None:
        self.stream_format = stream_format
        files: list[str] = []
        for path in paths:
            if os.path.isdir(path):
                files.extend(sorted(str(p) for p in Path(path).rglob("*") if p.is_file() and not p.name.startswith(".")))
            else:
                files.append(path)
        self.files = files

    @staticmethod
    def for_record_stream_format(stream_format: StreamFormat, *paths: str) -> FileSourceBuilder:
        if not paths:
            raise InvalidProgramError("FileSource.for_record_stream_format needs at least one path")
        return FileSourceBuilder(stream_format, paths)

    def create_reader(self, subtask_index: int, parallelism: int) -> SourceReader:
        mine = [f for i, f in enumerate(self.files) if i % parallelism == subtask_index]
        return _LineReader(mine, self.stream_format.charset)


class _LineReader(SourceReader):
    def __init__(self, files: list[str], charset: str) -> None:
        self.files = files
        self.charset = charset
        self.file_index = 0
        self.lines: list[str] = []
        self.line_index = 0
        self._load()

    def _load(self) -> None:
        self.lines, self.line_index = [], 0
        while self.file_index < len(self.files) and not self.lines:
            with open(self.files[self.file_index], encoding=self.charset) as handle:
                self.lines = handle.read().splitlines()
            if not self.lines:
                self.file_index += 1

    def split_ids(self) -> list[Any]:
        return list(self.files)

    def poll(self, max_records: int, now: int) -> list[tuple[Any, Any, int | None]]:
        out: list[tuple[Any, Any, int | None]] = []
        while len(out) < max_records and self.file_index < len(self.files):
            chunk = self.lines[self.line_index:self.line_index + max_records - len(out)]
            name = self.files[self.file_index]
            out.extend((name, line, None) for line in chunk)
            self.line_index += len(chunk)
            if self.line_index >= len(self.lines):
                self.file_index += 1
                self._load()
        return out

    def is_finished(self) -> bool:
        return self.file_index >= len(self.files)

    def snapshot(self) -> Any:
        return {"file_index": self.file_index, "line_index": self.line_index}


class RollingPolicy:
    def __init__(self, part_size: int = 128 * 1024 * 1024) -> None:
        self.part_size = part_size

    @staticmethod
    def default_rolling_policy(part_size: int = 1024 * 1024 * 128, rollover_interval: int = 60 * 1000,
                               inactivity_interval: int = 60 * 1000) -> RollingPolicy:
        return RollingPolicy(part_size)

    @staticmethod
    def on_checkpoint_rolling_policy() -> RollingPolicy:
        return RollingPolicy()


class OutputFileConfig:
    def __init__(self, part_prefix: str = "part", part_suffix: str = "") -> None:
        self.part_prefix = part_prefix
        self.part_suffix = part_suffix

    @staticmethod
    def builder() -> OutputFileConfig.OutputFileConfigBuilder:
        return OutputFileConfig.OutputFileConfigBuilder()

    class OutputFileConfigBuilder:
        def __init__(self) -> None:
            self.prefix = "part"
            self.suffix = ""

        def with_part_prefix(self, prefix: str) -> OutputFileConfig.OutputFileConfigBuilder:
            self.prefix = prefix
            return self

        def with_part_suffix(self, suffix: str) -> OutputFileConfig.OutputFileConfigBuilder:
            self.suffix = suffix
            return self

        def build(self) -> OutputFileConfig:
            return OutputFileConfig(self.prefix, self.suffix)


class FileSink(Sink):
    def __init__(self, base_path: str, encoder: Encoder, config: OutputFileConfig, policy: RollingPolicy) -> None:
        self.base_path = base_path
        self.encoder = encoder
        self.config = config
        self.policy = policy

    @staticmethod
    def for_row_format(base_path: str, encoder: Encoder) -> FileSink.RowFormatBuilder:
        return FileSink.RowFormatBuilder(base_path, encoder)

    class RowFormatBuilder:
        def __init__(self, base_path: str, encoder: Encoder) -> None:
            self.base_path = base_path
            self.encoder = encoder
            self.config = OutputFileConfig()
            self.policy = RollingPolicy()

        def with_bucket_check_interval(self, interval: int) -> FileSink.RowFormatBuilder:
            return self

        def with_bucket_assigner(self, bucket_assigner: Any) -> FileSink.RowFormatBuilder:
            return self

        def with_output_file_config(self, output_file_config: OutputFileConfig) -> FileSink.RowFormatBuilder:
            self.config = output_file_config
            return self

        def with_rolling_policy(self, rolling_policy: RollingPolicy) -> FileSink.RowFormatBuilder:
            self.policy = rolling_policy
            return self

        def build(self) -> FileSink:
            return FileSink(self.base_path, self.encoder, self.config, self.policy)

    def create_writer(self, subtask_index: int, parallelism: int) -> SinkWriter:
        return _PartFileWriter(self, subtask_index)


class _PartFileWriter(SinkWriter):
    def __init__(self, sink: FileSink, subtask_index: int) -> None:
        self.sink = sink
        self.subtask_index = subtask_index
        self.part = 0
        self.written = 0
        self.handle: Any = None

    def _open(self) -> None:
        os.makedirs(self.sink.base_path, exist_ok=True)
        name = f"{self.sink.config.part_prefix}-{self.subtask_index}-{self.part}{self.sink.config.part_suffix}"
        self.handle = open(os.path.join(self.sink.base_path, name), "w", encoding=self.sink.encoder.charset)
        self.written = 0

    def write(self, value: Any, timestamp: int | None) -> None:
        if self.handle is None:
            self._open()
        line = f"{value}\n"
        self.handle.write(line)
        self.written += len(line)
        if self.written >= self.sink.policy.part_size:
            self.handle.close()
            self.handle = None
            self.part += 1

    def flush(self, end_of_input: bool) -> None:
        if self.handle is not None:
            self.handle.flush()

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None
