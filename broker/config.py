"""Broker settings: defaults, Kafka's server.properties keys, and the command line.

``python -m broker [server.properties] [--port P] [--host H] [--brokers N] ...``:
the file is read first, then flags override it. Keys that do not change what
this broker does are accepted and ignored, so a real server.properties loads.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class BrokerConfig:
    host: str = "127.0.0.1"
    port: int = 9092
    brokers: int = 1  # brokers served by this process, on ports port, port+1, ... (0: all free)
    first_node_id: int = 1
    advertised_host: str | None = None
    data_dir: Path | None = None
    num_partitions: int = 1
    default_replication_factor: int = 1
    auto_create_topics: bool = True
    message_max_bytes: int = 1048588
    log_retention_ms: int = 7 * 24 * 3600 * 1000
    log_retention_bytes: int = -1
    log_segment_bytes: int = 1 << 30
    log_cleanup_policy: str = "delete"
    cluster_id: str = "wiretwin-cluster-0001"
    zookeeper_connect: str | None = None  # HOST:PORT[,HOST:PORT...][/chroot]: ZooKeeper mode (one broker per process)
    group_initial_rebalance_delay_ms: int = 3000  # the fixtures set 0
    group_min_session_timeout_ms: int = 6000
    group_max_session_timeout_ms: int = 1800000
    group_max_size: int = 2**31 - 1
    offsets_topic_num_partitions: int = 50
    internal_topics_replication_factor: int = 3  # ZooKeeper mode (offsets.topic / transaction.state.log), at most the live brokers
    zookeeper_session_timeout_ms: int = 18000
    auto_leader_rebalance_enable: bool = True  # ZooKeeper mode: the controller moves leadership back to
    leader_imbalance_check_interval_seconds: int = 300  # preferred replicas that lost it, this often
    offsets_retention_minutes: int = 10080
    offsets_retention_check_interval_ms: int = 600000
    transaction_state_log_num_partitions: int = 50
    transaction_max_timeout_ms: int = 900000
    transaction_abort_timed_out_transaction_cleanup_interval_ms: int = 10000
    transactional_id_expiration_ms: int = 604800000
    group_consumer_heartbeat_interval_ms: int = 5000  # KIP-848 (group.consumer.*)
    group_consumer_session_timeout_ms: int = 45000
    group_consumer_assignors: str = "uniform,range"
    group_consumer_max_size: int = 2**31 - 1
    flush_messages: int = 2**63 - 1  # log.flush.interval.messages: 1 = fsync every append before acking
    flush_ms: int = 2**63 - 1  # log.flush.interval.ms
    retention_check_interval_ms: int = 300000  # log.retention.check.interval.ms: how often the log cleaner runs
    # replication between brokers (ZooKeeper mode): a follower not caught up for this long leaves the ISR
    replica_lag_time_max_ms: int = 30000
    replica_fetch_wait_max_ms: int = 500  # a follower's Fetch max_wait_ms
    replica_fetch_backoff_ms: int = 1000  # a follower's pause after a failed fetch (connection error)
    # ZooKeeper mode: on SIGTERM ask the controller to move this broker's leaderships first (ControlledShutdown)
    controlled_shutdown_enable: bool = True
    controlled_shutdown_max_retries: int = 3
    controlled_shutdown_retry_backoff_ms: int = 5000
    controller_socket_timeout_ms: int = 30000  # controller.socket.timeout.ms: connecting to the controller
    request_timeout_ms: int = 30000  # request.timeout.ms: waiting for its answer
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def node_ids(self) -> list[int]:
        return [self.first_node_id + i for i in range(max(1, self.brokers))]


# server.properties keys that set an int field of the same name (dots as underscores)
INT_KEYS = {name.replace("_", "."): name for name in (
    "group_initial_rebalance_delay_ms", "group_min_session_timeout_ms", "group_max_session_timeout_ms",
    "group_max_size", "offsets_topic_num_partitions", "offsets_retention_minutes",
    "offsets_retention_check_interval_ms", "transaction_state_log_num_partitions", "transaction_max_timeout_ms",
    "transaction_abort_timed_out_transaction_cleanup_interval_ms", "transactional_id_expiration_ms",
    "group_consumer_heartbeat_interval_ms", "group_consumer_session_timeout_ms", "group_consumer_max_size",
    "zookeeper_session_timeout_ms", "replica_lag_time_max_ms", "replica_fetch_wait_max_ms",
    "replica_fetch_backoff_ms", "leader_imbalance_check_interval_seconds", "controlled_shutdown_max_retries",
    "controlled_shutdown_retry_backoff_ms", "controller_socket_timeout_ms", "request_timeout_ms")}


def _bool(value: str) -> bool:
    return value.strip().lower() in ("true", "yes", "1")


def parse_properties(text: str, cfg: BrokerConfig | None = None) -> BrokerConfig:
    cfg = cfg or BrokerConfig()
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "!")) or "=" not in line:
            continue
        key, value = (part.strip() for part in line.split("=", 1))
        if key in ("broker.id", "node.id"):
            cfg.first_node_id = int(value)
        elif key == "listeners":
            first = value.split(",")[0]
            hostport = first.split("://", 1)[-1]
            host, _, port = hostport.rpartition(":")
            if host:
                cfg.host = host
            cfg.port = int(port)
        elif key == "advertised.listeners":
            first = value.split(",")[0].split("://", 1)[-1]
            cfg.advertised_host = first.rpartition(":")[0] or None
        elif key in ("log.dirs", "log.dir"):
            cfg.data_dir = Path(value.split(",")[0])
        elif key == "num.partitions":
            cfg.num_partitions = int(value)
        elif key == "auto.create.topics.enable":
            cfg.auto_create_topics = _bool(value)
        elif key == "default.replication.factor":
            cfg.default_replication_factor = int(value)
        elif key == "message.max.bytes":
            cfg.message_max_bytes = int(value)
        elif key == "log.retention.ms":
            cfg.log_retention_ms = int(value)
        elif key == "log.retention.hours":
            cfg.log_retention_ms = int(value) * 3600 * 1000
        elif key == "log.retention.bytes":
            cfg.log_retention_bytes = int(value)
        elif key == "log.segment.bytes":
            cfg.log_segment_bytes = int(value)
        elif key == "log.cleanup.policy":
            cfg.log_cleanup_policy = value
        elif key == "zookeeper.connect":
            cfg.zookeeper_connect = value
        elif key == "controlled.shutdown.enable":
            cfg.controlled_shutdown_enable = _bool(value)
        elif key == "auto.leader.rebalance.enable":
            cfg.auto_leader_rebalance_enable = _bool(value)
        elif key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor"):
            cfg.internal_topics_replication_factor = int(value)
        elif key == "log.flush.interval.messages":
            cfg.flush_messages = int(value)
        elif key == "log.flush.interval.ms":
            cfg.flush_ms = int(value)
        elif key == "log.retention.check.interval.ms":
            cfg.retention_check_interval_ms = int(value)
        elif key in INT_KEYS:
            setattr(cfg, INT_KEYS[key], int(value))
        elif key == "group.consumer.assignors":
            cfg.group_consumer_assignors = value
        else:
            cfg.extra[key] = value
    return cfg


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m broker",
                                description="A Kafka-compatible broker. Prints 'listening HOST:PORT[,...]' when ready.")
    p.add_argument("properties", nargs="?", type=Path, help="a server.properties file (flags override its keys)")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port of the first broker (default 9092; 0 picks free ports)")
    p.add_argument("--brokers", type=int, help="brokers in this process (default 1)")
    p.add_argument("--broker-id", type=int, help="node id of the first broker (default 1)")
    p.add_argument("--data-dir", type=Path, help="keep logs here (log.dirs); default: memory only")
    p.add_argument("--zookeeper", metavar="HOST:PORT[/CHROOT]",
                   help="keep cluster metadata in ZooKeeper (zookeeper.connect); one broker per process")
    p.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                   help="a server.properties key, as kafka-server-start's --override (repeatable)")
    p.add_argument("--num-partitions", type=int, help="partitions of auto-created topics (default 1)")
    p.add_argument("--no-auto-create", action="store_true", default=None, help="auto.create.topics.enable=false")
    p.add_argument("--message-max-bytes", type=int, help="largest accepted batch (default 1048588)")
    p.add_argument("--flush-messages", type=int, metavar="N",
                   help="fsync a partition log every N messages (1 = before every ack; default: left to the OS)")
    p.add_argument("--flush-ms", type=int, metavar="MS", help="fsync a partition log at least every MS ms of appends")
    return p


def from_args(argv: list[str] | None = None) -> BrokerConfig:
    args = build_parser().parse_args(argv)
    cfg = parse_properties(args.properties.read_text()) if args.properties else BrokerConfig()
    if args.override:
        cfg = parse_properties("\n".join(args.override), cfg)
    if args.host is not None:
        cfg.host = args.host
    if args.port is not None:
        cfg.port = args.port
    if args.brokers is not None:
        cfg.brokers = args.brokers
    if args.broker_id is not None:
        cfg.first_node_id = args.broker_id
    if args.data_dir is not None:
        cfg.data_dir = args.data_dir
    if args.zookeeper is not None:
        cfg.zookeeper_connect = args.zookeeper
    if cfg.zookeeper_connect and cfg.brokers != 1:
        raise SystemExit("ZooKeeper mode runs one broker per process: --brokers must be 1")
    if args.num_partitions is not None:
        cfg.num_partitions = args.num_partitions
    if args.no_auto_create:
        cfg.auto_create_topics = False
    if args.message_max_bytes is not None:
        cfg.message_max_bytes = args.message_max_bytes
    if args.flush_messages is not None:
        cfg.flush_messages = args.flush_messages
    if args.flush_ms is not None:
        cfg.flush_ms = args.flush_ms
    return cfg
