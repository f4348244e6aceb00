"""Four-letter words on the client port: the plain-text admin commands and their output formats.

A connection whose first four bytes spell a known word gets the text reply and
is closed. Words outside ``4lw.commands.whitelist`` answer that they are not
executed (``srvr`` is always allowed). Formats follow ZooKeeper 3.9's, so
tools that parse them (kazoo's ``server_version()`` reads ``envi``, zkServer.sh
``status`` reads ``srvr``) work unchanged.
"""

from __future__ import annotations

import os
import platform
import socket
from typing import TYPE_CHECKING

from zkserver.config import ALL_FOUR_LETTER_WORDS, ZkConfig

if TYPE_CHECKING:
    from zkserver.core import ZkCore

VERSION = "3.9.5-wiretwin"
BUILT = "built on 2026-01-01 00:00 UTC"
WORDS = frozenset(w.encode("ascii") for w in ALL_FOUR_LETTER_WORDS)


def _header(core: ZkCore) -> list[str]:
    return [f"Zookeeper version: {VERSION}, {BUILT}"]


def _server_lines(core: ZkCore) -> list[str]:
    s = core.stats
    return [
        f"Latency min/avg/max: {s['min_latency']}/0.0/{s['max_latency']}",
        f"Received: {s['received']}",
        f"Sent: {s['sent']}",
        f"Connections: {len(core.clients)}",
        "Outstanding: 0",
        f"Zxid: 0x{core.zxid:x}",
        "Mode: standalone",
        f"Node count: {core.node_count()}",
    ]


def _connections(core: ZkCore, brief: bool = False) -> list[str]:
    """ServerCnxn.dumpConnectionInfo: ``stat`` uses the brief form, without the session id."""
    lines = []
    for client in core.clients.values():
        sid = "" if brief or not client.session_id else f",sid=0x{client.session_id:x}"
        lines.append(f" /{client.ip}:{client.port}[{1 if client.session_id else 0}](queued=0,recved=0,sent=0{sid})")
    return lines


def _data_size(config: ZkConfig) -> int:
    if config.data_dir is None:
        return 0
    total = 0
    for root, _, files in os.walk(config.data_dir):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


def four_letter_reply(word: str, core: ZkCore, config: ZkConfig) -> bytes:
    if not config.allows(word):
        return f"{word} is not executed because it is not in the whitelist.\n".encode()
    lines: list[str]
    if word == "ruok":
        return b"imok"
    if word == "isro":
        return b"rw"
    if word == "srvr":
        lines = _header(core) + _server_lines(core)
    elif word == "stat":
        lines = _header(core) + ["Clients:"] + _connections(core, brief=True) + [""] + _server_lines(core)
    elif word == "cons":
        lines = _connections(core) + [""]
    elif word == "envi":
        lines = [
            "Environment:",
            f"zookeeper.version={VERSION}, {BUILT}",
            f"host.name={socket.gethostname()}",
            "java.version=17",
            "java.vendor=wiretwin (Python)",
            f"python.version={platform.python_version()}",
            f"os.name={platform.system()}",
            f"os.arch={platform.machine()}",
            f"os.version={platform.release()}",
            f"user.dir={os.getcwd()}",
        ]
    elif word == "conf":
        # ZooKeeperServer.dumpConf: the directories are the version-2 dirs, each followed by its size
        snap_dir = f"{config.data_dir.absolute() / 'version-2'}" if config.data_dir is not None else ""
        log_root = config.data_log_dir or config.data_dir
        log_dir = f"{log_root.absolute() / 'version-2'}" if log_root is not None else ""
        lines = [
            f"clientPort={config.port}",
            "secureClientPort=-1",
            f"dataDir={snap_dir}",
            f"dataDirSize={_data_size(config)}",
            f"dataLogDir={log_dir}",
            f"dataLogSize={_data_size(config)}",
            f"tickTime={config.tick_time_ms}",
            f"maxClientCnxns={config.max_client_cnxns}",
            f"minSessionTimeout={config.min_timeout}",
            f"maxSessionTimeout={config.max_timeout}",
            "clientPortListenBacklog=-1",
            "serverId=0",
        ]
    elif word == "mntr":
        ephemerals = sum(len(v) for v in core.tree.ephemerals.values())
        size = sum(len(p) + len(n.data or b"") for p, n in core.tree.nodes.items())
        metrics = [
            ("zk_version", f"{VERSION}, {BUILT}"),
            ("zk_server_state", "standalone"),
            ("zk_avg_latency", "0.0"),
            ("zk_max_latency", str(core.stats["max_latency"])),
            ("zk_min_latency", str(core.stats["min_latency"])),
            ("zk_packets_received", str(core.stats["received"])),
            ("zk_packets_sent", str(core.stats["sent"])),
            ("zk_num_alive_connections", str(len(core.clients))),
            ("zk_outstanding_requests", "0"),
            ("zk_znode_count", str(core.node_count())),
            ("zk_watch_count", str(core.watches.total())),
            ("zk_ephemerals_count", str(ephemerals)),
            ("zk_approximate_data_size", str(size)),
            ("zk_open_file_descriptor_count", str(len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else 0)),
            ("zk_max_file_descriptor_count", "1048576"),
            ("zk_global_sessions", str(len(core.sessions.sessions))),
            ("zk_local_sessions", "0"),
            ("zk_last_proposal_size", "-1"),
        ]
        lines = [f"{k}\t{v}" for k, v in metrics]
    # wchs/wchc/wchp report the data-watch table only (DataTree.dumpWatches*), as ZooKeeper does: standard
    # child watches are not listed. Each of wchc/wchp ends with an empty line.
    elif word == "wchs":
        data = core.watches.data
        watchers = {w for m in data.by_path.values() for w in m}
        lines = [f"{len(watchers)} connections watching {len(data.by_path)} paths",
                 f"Total watches:{data.count()}"]
    elif word == "wchc":
        lines = []
        for client in core.clients.values():
            paths = sorted(core.watches.data.paths_of(client.id))
            if paths:
                lines.append(f"0x{client.session_id:x}")
                lines.extend(f"\t{p}" for p in paths)
        lines.append("")
    elif word == "wchp":
        lines = []
        sid = {c.id: c.session_id for c in core.clients.values()}
        for path in sorted(core.watches.data.by_path):
            lines.append(path)
            lines.extend(f"\t0x{sid.get(w, 0):x}" for w in sorted(core.watches.data.by_path[path]))
        lines.append("")
    elif word == "dump":
        sessions = list(core.live_sessions())
        lines = ["SessionTracker dump:", f"Global Sessions({len(sessions)}):"]
        lines += [f"0x{s.id:x}\t{s.timeout_ms}ms" for s in sessions]
        owners = core.tree.ephemerals
        lines += ["ephemeral nodes dump:", f"Sessions with Ephemerals ({len(owners)}):"]
        for owner, owned in owners.items():
            lines.append(f"0x{owner:x}:")
            lines.extend(f"\t{p}" for p in owned)
        lines += ["Connections dump:", f"Connections Sets ({len(core.clients)}):"]
    elif word == "crst":
        return b"Connection stats reset.\n"
    elif word == "srst":
        core.stats.update(received=0, sent=0, min_latency=0, max_latency=0)
        return b"Server stats reset.\n"
    elif word == "dirs":
        size = _data_size(config)
        lines = [f"datadir_size: {size}", f"logdir_size: {size}"]
    else:  # pragma: no cover - WORDS and this chain list the same commands
        return b""
    return ("\n".join(lines) + "\n").encode()
