"""node-zookeeper-client 1.1.3 (npm) against our server and against the real ZooKeeper.

This client never sends the ConnectRequest's trailing readOnly byte (a
44-byte request; "XXX No read only support yet" in its ConnectionManager), so
the server must answer in the same short form (a 36-byte ConnectResponse). It
also re-sends its watches with the old setWatches (101) after a reconnect,
which kazoo never does. The scenarios live in ``node/driver.js`` and print one
JSON object per step; ``node/node_modules`` is installed once per run with
``npm ci`` from ``node/package-lock.json`` (``clients.ensure_node_modules``).
"""

from __future__ import annotations

import json
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from compat_tests.zookeeper.clients import (
    NODE_DIR, WAIT, LineProcess, RecordingProxy, Target, digest_id, ensure_node_modules, open_target,
)

ALICE = digest_id("alice", "secret")


@pytest.fixture(scope="session")
def driver() -> Path:
    return ensure_node_modules()


@pytest.fixture(params=["wiretwin", "real"])
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    with open_target(request, request.param) as t:
        yield t


def run(driver: Path, scenario: str, hosts: str) -> dict[str, dict[str, Any]]:
    proc = subprocess.run(["node", str(driver), scenario, hosts], cwd=NODE_DIR, capture_output=True, text=True,
                          timeout=60)
    steps = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    return {step["step"]: step for step in steps}


def test_short_handshake_and_crud(driver: Path, target: Target) -> None:
    with RecordingProxy(target.address) as proxy:
        steps = run(driver, "crud", proxy.hosts + target.chroot)
        conn = proxy.connections[0]
    # the handshake without the readOnly byte, answered without it
    request, response = conn.to_server[0], conn.to_client[0]
    assert len(request) == 44
    assert struct.unpack(">iqiq", request[:24]) == (0, 0, 30_000, 0)
    assert len(response) == 36
    protocol, timeout, session_id = struct.unpack(">iiq", response[:16])
    assert (protocol, timeout) == (0, 30_000) and struct.unpack(">i", response[16:20]) == (16,)  # 16-byte passwd
    assert steps["session"] == {"step": "session", "id": str(session_id), "timeout": 30_000}
    assert conn.request_opcodes()[-1] == -11  # close() ends the session

    assert steps["create"]["path"] == "/a" and steps["create-again"]["err"] == -110
    got = steps["get"]
    assert got["data"] == "hello"
    stat = got["stat"]
    z = int(stat["czxid"])
    assert stat["mzxid"] == stat["pzxid"] == str(z) and stat["ctime"] == stat["mtime"]
    assert (stat["version"], stat["cversion"], stat["aversion"], stat["ephemeralOwner"], stat["dataLength"],
            stat["numChildren"]) == (0, 0, 0, "0", 5, 0)
    new = steps["set"]["stat"]
    assert (int(new["mzxid"]), new["version"], new["dataLength"]) == (z + 2, 1, 6)  # z+1: the failed create
    assert steps["set-stale"]["err"] == -103
    assert steps["exists"]["stat"] == new
    assert steps["exists-missing"] == {"step": "exists-missing", "err": None, "stat": None}
    assert steps["get-missing"]["err"] == -101
    assert [steps[k]["path"] for k in ("seq1", "seq2", "eph", "eph-seq")] == [
        "/seq-0000000001", "/seq-0000000002", "/eph", "/eseq-0000000004"]
    assert steps["eph-child"]["err"] == -108
    assert steps["stat-eph"]["stat"]["ephemeralOwner"] == str(session_id)
    assert steps["no-parent"]["err"] == -101
    assert steps["mkdirp"] == {"step": "mkdirp", "err": None, "path": "/x/y/z"}
    assert steps["get-nodata"]["data"] is None and steps["get-nodata"]["stat"]["dataLength"] == 0
    children = steps["children"]
    assert children["children"] == ["a", "eph", "eseq-0000000004", "nodata", "seq-0000000001", "seq-0000000002",
                                    "x"]
    assert (children["stat"]["numChildren"], children["stat"]["cversion"]) == (7, 7)
    assert [steps[k]["err"] for k in ("remove-stale", "remove", "remove-again", "remove-not-empty")] == [
        -103, None, -101, -111]
    after = steps["children-after"]
    assert "a" not in after["children"] and (after["stat"]["numChildren"], after["stat"]["cversion"]) == (6, 8)
    assert "closed" in steps


def test_one_shot_watches(driver: Path, target: Target) -> None:
    steps = run(driver, "watches", target.hosts)
    assert all(steps[k]["err"] is None for k in ("get", "exists", "children", "get-gone", "children-gone"))
    assert steps["events"]["events"] == [
        {"tag": "data", "type": "NODE_DATA_CHANGED", "path": "/d"},
        {"tag": "exists", "type": "NODE_CREATED", "path": "/n"},
        {"tag": "child", "type": "NODE_CHILDREN_CHANGED", "path": "/c"},
        {"tag": "gone", "type": "NODE_DELETED", "path": "/gone"},  # one notification, both watchers run
        {"tag": "gone-child", "type": "NODE_DELETED", "path": "/gone"},
        {"tag": "barrier", "type": "NODE_CREATED", "path": "/barrier"},
    ]


def test_transactions(driver: Path, target: Target) -> None:
    steps = run(driver, "transactions", target.hosts)
    commit = steps["commit"]
    assert commit["err"] is None
    results = commit["results"]
    assert [r["type"] for r in results] == [1, 1, 5, 13, 2, 1]
    assert results[0]["path"] == "/t1" and results[1]["path"] == "/t1/c" and results[5]["path"] == "/t1/s-0000000001"
    # each result carries the Stat as of its own op: /t1 has one child then, created in this multi
    set_stat = results[2]["stat"]
    assert (set_stat["version"], set_stat["numChildren"], set_stat["cversion"], set_stat["dataLength"]) == (1, 1, 1, 2)
    assert set_stat["czxid"] == set_stat["mzxid"] == set_stat["pzxid"]  # one zxid for the whole multi
    rolled = steps["rolled-back"]
    assert rolled == {"step": "rolled-back", "err": -103,
                      "results": [{"type": -1, "err": 0}, {"type": -1, "err": -103}, {"type": -1, "err": -2}]}
    assert steps["after"] == {"step": "after", "t2": False, "t1": "bb"}
    assert steps["empty"] == {"step": "empty", "err": None, "results": []}


def test_acl_and_auth(driver: Path, target: Target) -> None:
    steps = run(driver, "acl", target.hosts)
    assert steps["create-secret"]["err"] is None and steps["create-mixed"]["err"] is None
    assert [steps[k]["err"] for k in ("get-denied", "set-denied", "getacl-denied")] == [-102, -102, -102]
    # exists checks READ since 3.8.4 / 3.9.2 (ZOOKEEPER-2590); Debian's 3.8.0 does not
    assert steps["exists-no-read"]["err"] == (None if target.is_real else -102)
    # READ without ADMIN: digest ids come back masked
    assert steps["getacl-masked"]["acl"] == [{"perms": 31, "scheme": "digest", "id": "alice:x"},
                                             {"perms": 1, "scheme": "world", "id": "anyone"}]
    assert steps["bad-acl"]["err"] == -114
    assert steps["get-authed"] == {"step": "get-authed", "err": None, "data": "secret"}
    assert steps["getacl"]["acl"] == [{"perms": 31, "scheme": "digest", "id": ALICE}]
    assert steps["getacl"]["stat"]["aversion"] == 0
    assert steps["setacl"]["stat"]["aversion"] == 1 and steps["setacl"]["stat"]["version"] == 0
    assert steps["setacl-stale"]["err"] == -103
    assert steps["setacl-read-only"]["err"] is None
    assert steps["set-no-write"]["err"] == -102
    assert steps["setacl-no-admin"]["err"] == -102
    assert steps["create-auth"]["err"] is None
    assert steps["getacl-auth"]["acl"] == [{"perms": 31, "scheme": "digest", "id": ALICE}]
    assert steps["auth-failed"]["state"] == "authenticationFailed"


def test_reconnect_resends_auth_and_watches_with_set_watches(driver: Path, target: Target) -> None:
    """After a reconnect the client resumes its session (44-byte request with its session id and password),
    re-sends its auth (xid -4) and its watches with setWatches (101, relativeZxid = the last zxid it saw);
    the server fires at once the watches whose nodes changed meanwhile and re-arms the others."""
    with RecordingProxy(target.address) as proxy:
        node = LineProcess(["node", str(driver), "reconnect", proxy.hosts + target.chroot], cwd=NODE_DIR)
        try:
            ready = json.loads(node.lines[node.wait_for(r'"step":"ready"')])
            proxy.hold()
            proxy.drop_all()
            node.wait_for(r'"step":"disconnected"')
            other = target.kazoo()
            try:
                other.set("/d", b"changed")  # data watch: mzxid > relativeZxid
                other.create("/nope")        # exist watch: exists now
                other.create("/c/kid")       # child watch: pzxid > relativeZxid
            finally:
                other.stop()
                other.close()
            proxy.release()
            node.send("go\n")
            assert node.close(WAIT * 2) == 0
        finally:
            node.kill()
        steps = {s["step"]: s for s in (json.loads(line) for line in node.lines if line.startswith("{"))}
        first, second = proxy.connections[:2]
    assert steps["reconnected"]["session"] == ready["session"]
    assert steps["reconnected"]["states"][-1] == "SYNC_CONNECTED"
    assert steps["create-late"]["err"] is None
    assert steps["events"]["events"] == [
        {"tag": "data", "type": "NODE_DATA_CHANGED", "path": "/d"},
        {"tag": "exists", "type": "NODE_CREATED", "path": "/nope"},
        {"tag": "child", "type": "NODE_CHILDREN_CHANGED", "path": "/c"},
        {"tag": "late", "type": "NODE_CREATED", "path": "/late"},  # a re-armed exist watch
    ]
    request = second.to_server[0]
    assert len(request) == 44
    _, last_zxid, _, session_id = struct.unpack(">iqiq", request[:24])
    assert str(session_id) == ready["session"] and last_zxid > 0
    assert request[28:44] == first.to_client[0][20:36]  # the session password
    assert len(second.to_client[0]) == 36
    # auth first (xid -4), then setWatches; 1.1.3 means xid -8 for it but never exports XID_SET_WATCHES, so
    # the request goes out with an ordinary xid, which both servers accept
    headers = [struct.unpack(">ii", f[:8]) for f in second.to_server[1:3]]
    assert headers[0] == (-4, 100) and headers[1][1] == 101
    relative_zxid, = struct.unpack(">q", second.to_server[2][8:16])
    assert relative_zxid == last_zxid
