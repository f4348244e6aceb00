"""Owns ExecutionConfig (env.get_config()): the auto-watermark interval and max parallelism.
(Configuration lives in flinklite.common.configuration.)"""

from __future__ import annotations

from flinklite.common.configuration import Configuration  # noqa: F401 - its older home
from flinklite.errors import InvalidProgramError


class ExecutionConfig:
    def __init__(self) -> None:
        self._auto_watermark_interval_ms = 200
        self._max_parallelism = -1

    def set_auto_watermark_interval(self, interval: int) -> ExecutionConfig:
        if interval < 0:
            raise InvalidProgramError("set_auto_watermark_interval takes milliseconds >= 0 (0 disables it)")
        self._auto_watermark_interval_ms = int(interval)
        return self

    def get_auto_watermark_interval(self) -> int:
        return self._auto_watermark_interval_ms

    def set_max_parallelism(self, max_parallelism: int) -> ExecutionConfig:
        self._max_parallelism = max_parallelism
        return self

    def get_max_parallelism(self) -> int:
        return self._max_parallelism
