"""Fixtures shared by every compat suite: ``real_zookeeper``, ONE Debian ZooKeeper (3.8.0) for
the whole run (tickTime 100 ms, see ``compat_tests.zookeeper.realzk.RealZooKeeperRun``), skipped
when the package is not installed. Each test takes its own chroot with ``new_chroot()``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from compat_tests.zookeeper import realzk


@pytest.fixture(scope="session")
def real_zookeeper() -> Iterator[realzk.RealZooKeeperRun]:
    if not realzk.available():
        pytest.skip("Debian's zookeeper package (java + /usr/share/java/zookeeper.jar) is not installed")
    server = realzk.RealZooKeeperRun(tick_ms=100, container_check_ms=100)
    yield server
    server.stop()
