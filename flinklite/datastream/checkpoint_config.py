"""Owns CheckpointConfig, PyFlink's `env.get_checkpoint_config()`: the checkpoint interval and
directory of a job (the same settings as the `execution.checkpointing.*` configuration keys)."""

from __future__ import annotations

from flinklite.errors import InvalidProgramError
from flinklite.runtime.checkpoint import CheckpointSettings


class CheckpointConfig:
    def __init__(self) -> None:
        self.settings = CheckpointSettings()

    def is_checkpointing_enabled(self) -> bool:
        return self.settings.enabled

    def set_checkpoint_interval(self, checkpoint_interval: int) -> CheckpointConfig:
        if checkpoint_interval < 10:
            raise InvalidProgramError("Checkpoint interval must be larger than or equal to 10 ms")
        self.settings.interval_ms = checkpoint_interval
        return self

    def get_checkpoint_interval(self) -> int:
        return self.settings.interval_ms if self.settings.interval_ms is not None else -1

    def set_checkpoint_storage_dir(self, checkpoint_path: str) -> CheckpointConfig:
        self.settings.directory = checkpoint_path.removeprefix("file://")
        return self

    def get_checkpoint_storage_dir(self) -> str | None:
        return self.settings.directory

    def set_max_concurrent_checkpoints(self, max_concurrent_checkpoints: int) -> CheckpointConfig:
        if max_concurrent_checkpoints != 1:
            raise InvalidProgramError("flinklite runs one checkpoint at a time (max concurrent checkpoints 1)")
        return self

    def get_max_concurrent_checkpoints(self) -> int:
        return 1
