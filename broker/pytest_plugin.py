"""pytest fixtures for the broker, registered through the ``pytest11`` entry point.

* ``kafka_broker``: a fresh in-process broker per test on a free port; ``.bootstrap_servers``.
* ``kafka_broker_factory(**BrokerConfig fields)``: custom settings; all stopped at the end of the test.
  ``group_initial_rebalance_delay_ms`` defaults to 0 here (Kafka's default is 3000), so a group forms at once.
* ``kafka_cluster``: three brokers in one process (``brokers=3``), partitions led round-robin.
* ``kafka_zk_cluster``: a ZooKeeper-compatible server and three broker processes in ZooKeeper mode
  (``.kill(id)`` is kill -9, ``.stop(id)`` a SIGTERM (controlled shutdown, then exit), ``.restart(id)``;
  ZooKeeper session timeout 2 s, so failover takes seconds; controlled shutdown retries every 0.5 s).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from broker.config import BrokerConfig
from broker.testing import RunningBroker, ZkKafkaCluster


@pytest.fixture
def kafka_broker_factory() -> Iterator[Callable[..., RunningBroker]]:
    started: list[RunningBroker] = []

    def factory(**settings: Any) -> RunningBroker:
        settings.setdefault("port", 0)
        settings.setdefault("group_initial_rebalance_delay_ms", 0)  # as test containers set it: groups form at once
        broker = RunningBroker(BrokerConfig(**settings)).start()
        started.append(broker)
        return broker

    yield factory
    for broker in started:
        broker.stop()


@pytest.fixture
def kafka_broker(kafka_broker_factory: Callable[..., RunningBroker]) -> RunningBroker:
    return kafka_broker_factory()


@pytest.fixture
def kafka_cluster(kafka_broker_factory: Callable[..., RunningBroker]) -> RunningBroker:
    return kafka_broker_factory(brokers=3)


ZK_CLUSTER_OVERRIDES = {"zookeeper.session.timeout.ms": "2000", "group.initial.rebalance.delay.ms": "0",
                        "replica.lag.time.max.ms": "2000", "controlled.shutdown.retry.backoff.ms": "500"}


@pytest.fixture
def kafka_zk_cluster(zk_server_factory: Callable[..., Any], tmp_path: Path) -> Iterator[ZkKafkaCluster]:
    zk = zk_server_factory()
    cluster = ZkKafkaCluster(f"127.0.0.1:{zk.port}/kafka", tmp_path, [1, 2, 3], ZK_CLUSTER_OVERRIDES)
    try:
        yield cluster.start()
    finally:
        cluster.stop()
