"""Owns ExecutionConfig (env.get_config()): the auto-watermark interval and max parallelism."""

from __future__ import annotations

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


class Configuration:
    """A string key/value configuration (accepted, mostly informative)."""

    def __init__(self) -> None:
        self._data: dict[str, str] = {}

    def set_string(self, key: str, value: str) -> Configuration:
        self._data[key] = value
        return self

    def get_string(self, key: str, default_value: str) -> str:
        return self._data.get(key, default_value)

    def set_integer(self, key: str, value: int) -> Configuration:
        self._data[key] = str(value)
        return self

    def get_integer(self, key: str, default_value: int) -> int:
        return int(self._data.get(key, default_value))

    def to_dict(self) -> dict[str, str]:
        return dict(self._data)
