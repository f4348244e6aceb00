"""Four-letter words through kazoo's ``client.command()`` and ``server_version()`` (which parses ``envi``).

The real server is shared by the whole run, so counters are checked as differences around this test's own
actions, never as absolute values.
"""

from __future__ import annotations

import re

from compat_tests.zookeeper.conftest import TICK_MS, Events

CONF_KEYS = ["clientPort", "secureClientPort", "dataDir", "dataDirSize", "dataLogDir", "dataLogSize", "tickTime",
             "maxClientCnxns", "minSessionTimeout", "maxSessionTimeout", "clientPortListenBacklog", "serverId"]


def _kv(text, sep="="):
    out = {}
    for line in text.splitlines():
        if sep in line:
            k, v = line.split(sep, 1)
            out[k.strip()] = v.strip()
    return out


def _srvr(text):
    return _kv(text, ":")


def test_ruok_isro_and_unknown_word(zk_target):
    zk = zk_target.client()
    assert zk.command(b"ruok") == "imok"
    assert zk.command(b"isro") == "rw"
    assert zk.command(b"xyzw") == ""  # an unknown word gets no output


def test_server_version_from_envi(zk_target):
    zk = zk_target.client()
    version = zk.server_version()
    assert version == zk_target.version
    assert version[:2] == ((3, 9) if zk_target.kind == "wiretwin" else (3, 8))
    envi = zk.command(b"envi")
    assert envi.startswith("Environment:\nzookeeper.version=")
    assert {"zookeeper.version", "host.name", "java.version", "os.name", "user.dir"} <= set(_kv(envi))


def test_srvr_and_stat(zk_target):
    zk = zk_target.client()
    before = _srvr(zk.command(b"srvr"))
    zk.create("/four")
    srvr = zk.command(b"srvr")
    assert re.match(r"Zookeeper version: 3\.\d+\.\d+[^,\n]*, built on .+\n", srvr)
    fields = _srvr(srvr)
    assert list(fields)[1:] == ["Latency min/avg/max", "Received", "Sent", "Connections", "Outstanding", "Zxid",
                                "Mode", "Node count"]
    assert fields["Mode"] == "standalone"
    if zk_target.kind == "wiretwin":
        assert fields["Zxid"] == f"0x{zk.last_zxid:x}"
    else:  # the shared real server may log a txn of its own meanwhile (an earlier test's session expiring)
        assert int(fields["Zxid"], 16) >= zk.last_zxid
    assert int(fields["Node count"]) == int(before["Node count"]) + 1
    assert re.fullmatch(r"\d+/[\d.]+/\d+", fields["Latency min/avg/max"])
    stat = zk.command(b"stat")
    head, _, clients = stat.partition("Clients:\n")
    assert head == srvr.splitlines(keepends=True)[0]
    lines = clients.split("\n\n", 1)[0].splitlines()
    assert lines and all(re.match(r" /127\.0\.0\.1:\d+\[\d\]\(queued=\d+,recved=\d+,sent=\d+", line) for line in lines), lines
    assert not any("sid=" in line for line in lines)  # stat lists connections in the brief form
    cons = zk.command(b"cons")
    assert cons.endswith("\n\n")
    mine = [line for line in cons.splitlines() if f",sid=0x{zk.client_id[0]:x}" in line]
    assert len(mine) == 1 and re.match(r" /127\.0\.0\.1:\d+\[1\]\(queued=\d+,recved=\d+,sent=\d+,sid=0x", mine[0])
    assert "Mode: standalone\n" in stat


def test_conf(zk_target):
    zk = zk_target.client()
    conf = _kv(zk.command(b"conf"))
    assert list(conf) == CONF_KEYS
    host, port = zk_target.hosts.split("/")[0].split(":")
    assert conf["clientPort"] == port
    assert (conf["tickTime"], conf["minSessionTimeout"], conf["maxSessionTimeout"]) == \
        (str(TICK_MS), str(2 * TICK_MS), str(20 * TICK_MS))
    assert conf["serverId"] == "0" and conf["secureClientPort"] == "-1"
    assert conf["dataDir"].endswith("/version-2") and conf["dataLogDir"].endswith("/version-2")
    assert int(conf["dataDirSize"]) >= 0


def _wchs(text):
    m = re.fullmatch(r"(\d+) connections watching (\d+) paths\nTotal watches:(\d+)\n", text)
    assert m, text
    return tuple(int(g) for g in m.groups())


def test_watch_words(zk_target):
    zk = zk_target.client()
    zk.create("/wa")
    zk.create("/wb")
    before = _wchs(zk.command(b"wchs"))
    noop = Events()
    zk.get("/wa", watch=noop)
    zk.exists("/missing", watch=noop)  # an exist watch on a missing node is a data watch too
    zk.get_children("/wb", watch=noop)  # child watches are not listed by wchs/wchc/wchp
    after = _wchs(zk.command(b"wchs"))
    assert (after[0] - before[0], after[1] - before[1], after[2] - before[2]) == (1, 2, 2)
    sid = f"0x{zk.client_id[0]:x}"
    root = zk.chroot
    wchc = zk.command(b"wchc")
    assert wchc.endswith("\n\n")
    block = wchc.split(sid + "\n", 1)[1].split("\n0x", 1)[0]
    assert sorted(line.strip() for line in block.splitlines() if line.startswith("\t")) == \
        [root + "/missing", root + "/wa"]
    wchp = zk.command(b"wchp")
    assert wchp.endswith("\n\n")
    assert f"{root}/wa\n\t{sid}\n" in wchp and f"{root}/missing\n\t{sid}\n" in wchp
    assert f"{root}/wb\n" not in wchp
    mntr = _kv(zk.command(b"mntr"), "\t")
    assert int(mntr["zk_watch_count"]) >= 3  # mntr counts both tables


def test_mntr(zk_target):
    zk = zk_target.client()
    before = _kv(zk.command(b"mntr"), "\t")
    zk.create("/m-eph", b"12345", ephemeral=True)
    mntr = _kv(zk.command(b"mntr"), "\t")
    assert mntr["zk_version"].startswith("3.")
    assert mntr["zk_server_state"] == "standalone"
    for key in ("zk_avg_latency", "zk_max_latency", "zk_min_latency", "zk_packets_received", "zk_packets_sent",
                "zk_num_alive_connections", "zk_outstanding_requests", "zk_znode_count", "zk_watch_count",
                "zk_ephemerals_count", "zk_approximate_data_size", "zk_open_file_descriptor_count",
                "zk_max_file_descriptor_count", "zk_global_sessions", "zk_local_sessions"):
        assert re.fullmatch(r"-?[\d.]+", mntr[key]), key
    assert int(mntr["zk_znode_count"]) == int(before["zk_znode_count"]) + 1
    assert int(mntr["zk_ephemerals_count"]) == int(before["zk_ephemerals_count"]) + 1
    assert int(mntr["zk_local_sessions"]) == 0


def test_dump_lists_ephemerals_per_session(zk_target):
    zk = zk_target.client()
    zk.create("/d-eph", ephemeral=True)
    dump = zk.command(b"dump")
    sid = f"0x{zk.client_id[0]:x}"
    assert dump.startswith("SessionTracker dump:\n")
    assert sid in dump.split("ephemeral nodes dump:")[0]
    ephemerals = dump.split("ephemeral nodes dump:\n", 1)[1]
    assert re.match(r"Sessions with Ephemerals \(\d+\):\n", ephemerals)
    assert f"{sid}:\n\t{zk.chroot}/d-eph\n" in ephemerals


def test_stat_resets_and_dirs(zk_target):
    zk = zk_target.client()
    assert zk.command(b"srst") == "Server stats reset.\n"
    assert zk.command(b"crst") == "Connection stats reset.\n"
    dirs = _kv(zk.command(b"dirs"), ":")
    assert list(dirs) == ["datadir_size", "logdir_size"] and all(v.isdigit() for v in dirs.values())


def test_whitelist_refuses_unlisted_words(zk_server_factory):
    """Ours only: the real server of this run allows every word ('*'); a second JVM just for this is not worth it.
    The reply text is ZooKeeper's own."""
    from kazoo.client import KazooClient

    server = zk_server_factory(four_letter_whitelist=("ruok",))
    zk = KazooClient(hosts=server.hosts)
    zk.start(timeout=10)
    try:
        assert zk.command(b"ruok") == "imok"
        assert zk.command(b"stat") == "stat is not executed because it is not in the whitelist.\n"
        assert zk.command(b"srvr").startswith("Zookeeper version: ")  # srvr is always allowed
    finally:
        zk.stop()
        zk.close()
