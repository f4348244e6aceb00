"""Fixtures the flinklite unit tests share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flinklite.datastream import StreamExecutionEnvironment


@pytest.fixture
def isolated_flinklite(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No configuration directory from outside, the job registry in tmp, and the CLI's environment defaults
    put back afterwards."""
    monkeypatch.delenv("FLINK_CONF_DIR", raising=False)
    monkeypatch.setenv("FLINKLITE_HOME", str(tmp_path / "home"))
    saved = dict(StreamExecutionEnvironment._defaults)
    yield
    StreamExecutionEnvironment._defaults = saved
