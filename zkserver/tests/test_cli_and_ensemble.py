"""``python -m zkserver`` as a process, and the ensemble test double with kazoo failing over."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path

from kazoo.client import KazooClient, KazooState

from zkserver.config import ZkConfig
from zkserver.testing import RunningZkServer


def test_cli_prints_listening_first_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    cfg = tmp_path / "zoo.cfg"
    cfg.write_text(f"tickTime=200\ndataDir={tmp_path / 'data'}\nclientPort=2181\n4lw.commands.whitelist=*\n")
    proc = subprocess.Popen([sys.executable, "-m", "zkserver", str(cfg), "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert first.startswith("listening 127.0.0.1:")
        port = int(first.rsplit(":", 1)[1])
        assert port not in (0, 2181)  # the flag overrides the file's clientPort
        client = KazooClient(f"127.0.0.1:{port}")
        client.start(timeout=10)
        client.create("/kept", b"data")
        client.stop()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
    assert list((tmp_path / "data" / "version-2").glob("log.*"))  # dataDir from zoo.cfg was used


def test_ensemble_member_stop_fails_over_with_the_session_intact() -> None:
    server = RunningZkServer(ZkConfig(port=0, tick_time_ms=100, ensemble=3)).start()
    try:
        hosts = server.hosts.split(",")
        assert len(hosts) == 3 and len(set(hosts)) == 3
        client = KazooClient(server.hosts, timeout=4.0)
        client.start(timeout=10)
        client.create("/eph", b"", ephemeral=True)
        session_id = client.client_id[0]
        connected_to = f"127.0.0.1:{client._connection._socket.getpeername()[1]}"
        member = hosts.index(connected_to)
        reconnected = threading.Event()

        def listener(state: KazooState) -> None:
            if state == KazooState.CONNECTED:
                reconnected.set()

        client.add_listener(listener)
        server.stop_member(member)
        assert reconnected.wait(10)
        assert client.client_id[0] == session_id
        assert client.exists("/eph") is not None
        assert client._connection._socket.getpeername()[1] != int(connected_to.rsplit(":", 1)[1])
        server.start_member(member)
        client.stop()
    finally:
        server.stop()
