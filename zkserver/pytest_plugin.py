"""pytest fixtures for zkserver, registered through the ``pytest11`` entry point.

* ``zk_server``: a fresh server per test on a free port, with a temporary data
  directory so ``.restart()`` keeps the tree and sessions; ``.hosts`` is the
  connection string. Short tickTime (100 ms) so session timeouts are quick.
* ``zk_server_factory``: ``zk_server_factory(**ZkConfig fields)`` starts more
  servers with custom settings; all are stopped at the end of the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from zkserver.config import ZkConfig
from zkserver.testing import RunningZkServer

TEST_TICK_MS = 100


@pytest.fixture
def zk_server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., RunningZkServer]]:
    started: list[RunningZkServer] = []

    def factory(**settings: Any) -> RunningZkServer:
        settings.setdefault("port", 0)
        settings.setdefault("tick_time_ms", TEST_TICK_MS)
        settings.setdefault("four_letter_whitelist", ("*",))
        if "data_dir" not in settings:
            settings["data_dir"] = Path(tmp_path_factory.mktemp("zk"))
            settings.setdefault("force_sync", False)
        server = RunningZkServer(ZkConfig(**settings)).start()
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


@pytest.fixture
def zk_server(zk_server_factory: Callable[..., RunningZkServer]) -> RunningZkServer:
    return zk_server_factory()
