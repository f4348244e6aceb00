"""zkserver settings: defaults, ZooKeeper's zoo.cfg keys, and the command line.

``python -m zkserver [zoo.cfg] [--port P] [--host H] [--data-dir D] ...``: the
file is read first, then flags override it. Only keys that change what this
server does are honoured; other zoo.cfg keys are accepted and ignored so a real
zoo.cfg loads unchanged.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

ALL_FOUR_LETTER_WORDS = ("ruok", "stat", "srvr", "mntr", "conf", "cons", "envi", "wchs", "wchc", "wchp",
                         "dump", "isro", "crst", "srst", "dirs")
DEFAULT_WHITELIST = ("srvr",)


@dataclass
class ZkConfig:
    host: str = "127.0.0.1"
    port: int = 2181
    data_dir: Path | None = None
    data_log_dir: Path | None = None
    tick_time_ms: int = 2000
    min_session_timeout_ms: int | None = None  # default 2 x tickTime
    max_session_timeout_ms: int | None = None  # default 20 x tickTime
    max_client_cnxns: int = 60
    four_letter_whitelist: tuple[str, ...] = DEFAULT_WHITELIST
    extended_types_enabled: bool = False
    force_sync: bool = True
    snap_count: int = 100_000
    autopurge_snap_retain_count: int = 3
    autopurge_purge_interval_h: int = 0
    max_buffer: int = 0xFFFFF  # jute.maxbuffer
    super_digest: str | None = None  # "super:base64(sha1(super:password))"
    reconfig_enabled: bool = False
    container_check_interval_ms: int = 60_000
    container_max_never_used_ms: int = 0
    ensemble: int = 1  # client endpoints sharing one tree (a test-double ensemble)
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def min_timeout(self) -> int:
        return self.min_session_timeout_ms if self.min_session_timeout_ms is not None else 2 * self.tick_time_ms

    @property
    def max_timeout(self) -> int:
        return self.max_session_timeout_ms if self.max_session_timeout_ms is not None else 20 * self.tick_time_ms

    def allows(self, word: str) -> bool:
        return word == "srvr" or "*" in self.four_letter_whitelist or word in self.four_letter_whitelist


def _bool(value: str) -> bool:
    return value.strip().lower() in ("true", "yes", "1", "on")


def parse_zoo_cfg(text: str, config: ZkConfig | None = None) -> ZkConfig:
    cfg = config or ZkConfig()
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = (part.strip() for part in line.split("=", 1))
        if key == "clientPort":
            cfg.port = int(value)
        elif key == "clientPortAddress":
            cfg.host = value
        elif key == "dataDir":
            cfg.data_dir = Path(value)
        elif key == "dataLogDir":
            cfg.data_log_dir = Path(value)
        elif key == "tickTime":
            cfg.tick_time_ms = int(value)
        elif key == "minSessionTimeout":
            cfg.min_session_timeout_ms = int(value)
        elif key == "maxSessionTimeout":
            cfg.max_session_timeout_ms = int(value)
        elif key == "maxClientCnxns":
            cfg.max_client_cnxns = int(value)
        elif key == "4lw.commands.whitelist":
            cfg.four_letter_whitelist = tuple(w.strip() for w in value.split(",") if w.strip())
        elif key in ("extendedTypesEnabled", "zookeeper.extendedTypesEnabled"):
            cfg.extended_types_enabled = _bool(value)
        elif key in ("forceSync", "zookeeper.forceSync"):
            cfg.force_sync = _bool(value)
        elif key == "snapCount":
            cfg.snap_count = int(value)
        elif key == "autopurge.snapRetainCount":
            cfg.autopurge_snap_retain_count = max(3, int(value))
        elif key == "autopurge.purgeInterval":
            cfg.autopurge_purge_interval_h = int(value)
        elif key in ("jute.maxbuffer",):
            cfg.max_buffer = int(value, 0)
        elif key in ("zookeeper.DigestAuthenticationProvider.superDigest", "superDigest"):
            cfg.super_digest = value
        elif key == "reconfigEnabled":
            cfg.reconfig_enabled = _bool(value)
        elif key in ("znode.container.checkIntervalMs", "zookeeper.znode.container.checkIntervalMs"):
            cfg.container_check_interval_ms = int(value)
        elif key in ("znode.container.maxNeverUsedIntervalMs", "zookeeper.znode.container.maxNeverUsedIntervalMs"):
            cfg.container_max_never_used_ms = int(value)
        else:
            cfg.extra[key] = value
    return cfg


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m zkserver",
                                description="A ZooKeeper 3.9-compatible server. Prints 'listening HOST:PORT' when ready.")
    p.add_argument("config", nargs="?", type=Path, help="a zoo.cfg file (flags override its keys)")
    p.add_argument("--host", help="address to listen on (clientPortAddress; default 127.0.0.1)")
    p.add_argument("--port", type=int, help="client port (clientPort; default 2181, 0 picks a free port)")
    p.add_argument("--data-dir", type=Path, help="keep the tree and sessions here (dataDir); default: memory only")
    p.add_argument("--tick-time", type=int, metavar="MS", help="tickTime in ms (default 2000)")
    p.add_argument("--min-session-timeout", type=int, metavar="MS", help="default 2 x tickTime")
    p.add_argument("--max-session-timeout", type=int, metavar="MS", help="default 20 x tickTime")
    p.add_argument("--max-client-cnxns", type=int, help="connections per client IP (default 60, 0 = unlimited)")
    p.add_argument("--4lw", dest="whitelist", help="4lw.commands.whitelist, e.g. '*' or 'ruok,stat,envi'")
    p.add_argument("--extended-types", action="store_true", default=None, help="enable TTL nodes")
    p.add_argument("--no-force-sync", action="store_true", default=None, help="do not fsync the txn log before replying")
    p.add_argument("--super-digest", help="super user digest, 'super:base64(sha1(super:password))'")
    p.add_argument("--ensemble", type=int, metavar="N",
                   help="serve the one tree on N ports, like an N-member ensemble clients can fail over in")
    return p


def from_args(argv: list[str] | None = None) -> ZkConfig:
    args = build_parser().parse_args(argv)
    cfg = parse_zoo_cfg(args.config.read_text()) if args.config else ZkConfig()
    if args.host is not None:
        cfg.host = args.host
    if args.port is not None:
        cfg.port = args.port
    if args.data_dir is not None:
        cfg.data_dir = args.data_dir
    if args.tick_time is not None:
        cfg.tick_time_ms = args.tick_time
    if args.min_session_timeout is not None:
        cfg.min_session_timeout_ms = args.min_session_timeout
    if args.max_session_timeout is not None:
        cfg.max_session_timeout_ms = args.max_session_timeout
    if args.max_client_cnxns is not None:
        cfg.max_client_cnxns = args.max_client_cnxns
    if args.whitelist is not None:
        cfg.four_letter_whitelist = tuple(w.strip() for w in args.whitelist.split(",") if w.strip())
    if args.extended_types:
        cfg.extended_types_enabled = True
    if args.no_force_sync:
        cfg.force_sync = False
    if args.super_digest is not None:
        cfg.super_digest = args.super_digest
    if args.ensemble is not None:
        cfg.ensemble = args.ensemble
    return cfg
