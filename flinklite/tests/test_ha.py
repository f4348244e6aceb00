"""flinklite/runtime/ha.py: the pure decisions (configuration keys, znode names, latch order,
retention, payload codecs), the standalone services, the CheckpointCoordinator hooks, and the
ZooKeeper services against our zkserver (`zk_server`), including what needs the server's
controls: expiring the leader's session, locks held by another session, nodes marked for
deletion. compat_tests/flinklite/test_ha_zookeeper.py runs the layout and the multi-process
scenarios against a real ZooKeeper as well."""

from __future__ import annotations

import json
import os
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kazoo.client import KazooClient

from flinklite.common.configuration import Configuration, HighAvailabilitySettings
from flinklite.datastream import StreamExecutionEnvironment
from flinklite.errors import InvalidProgramError, JobExecutionError
from flinklite.runtime.checkpoint import (
    CheckpointCoordinator,
    CheckpointIdCollision,
    CheckpointSettings,
    CheckpointStorage,
    CompletedCheckpoint,
    load_checkpoint,
)
from flinklite.runtime.ha import (
    DISPATCHER,
    JobAlreadyFinishedError,
    JobLeadership,
    JobResultStore,
    LeaderInformation,
    LeadershipLostError,
    StandaloneHaServices,
    ZooKeeperHaServices,
    _ZooKeeperElection,
    checkpoint_id_of,
    checkpoint_node_name,
    decode_counter,
    decode_pointer,
    encode_counter,
    encode_pointer,
    latch_node_prefix,
    latch_order,
    latch_predecessor,
    random_file_name,
    services_from_config,
    subsumed,
    zk_join,
)
from flinklite.testing import CollectSink
from zkserver.testing import RunningZkServer

WAIT = 20.0
JOB = "00000000000000000000000000000abc"


# -- pure ------------------------------------------------------------------------------------------


def settings(conf: dict[str, str]) -> HighAvailabilitySettings:
    """The settings ha.py runs on: the common parser's, validated as services_from_config does."""
    config = HighAvailabilitySettings.from_configuration(conf)
    config.validate()
    return config


def test_config_defaults_are_flinks() -> None:
    config = settings({})
    assert config.type == "none" and not config.enabled
    assert (config.path_root, config.cluster_id, config.cluster_path) == ("/flink", "/default", "/flink/default")
    assert (config.session_timeout_ms, config.connection_timeout_ms, config.retry_wait_ms,
            config.max_retry_attempts) == (60_000, 15_000, 5_000, 3)
    assert config.execution_plans_path == "/execution-plans"
    assert (config.acl, config.tolerate_suspended, config.job_result_delete_on_commit) == ("open", False, True)
    assert isinstance(services_from_config({}), StandaloneHaServices)
    # one parser: the services run on exactly the settings the environment reads
    conf = {"high-availability.cluster-id": "c", "job-result-store.storage-path": "file:///tmp/jrs"}
    assert services_from_config(conf).config == HighAvailabilitySettings.from_configuration(conf)


def test_config_keys_aliases_and_forms() -> None:
    config = settings({
        "high-availability": "ZooKeeper",  # the 1.x key, any case
        "high-availability.zookeeper.quorum": "a:2181,b:2181",
        "high-availability.zookeeper.path.root": "/ha/",
        "high-availability.zookeeper.path.namespace": "cluster-7",  # the deprecated cluster-id key
        "high-availability.zookeeper.storageDir": "file:///tmp/ha",
        "high-availability.zookeeper.client.session-timeout": "2 s",
        "high-availability.zookeeper.client.connection-timeout": "1500",
        "high-availability.zookeeper.client.retry-wait": "100 ms",
        "high-availability.zookeeper.client.max-retry-attempts": "7",
        "high-availability.zookeeper.client.tolerate-suspended-connections": "true",
        "high-availability.zookeeper.path.jobgraphs": "/jobgraphs",
    })
    assert config.type == "zookeeper" and config.quorum == "a:2181,b:2181"
    assert config.cluster_path == "/ha/cluster-7"
    assert config.storage_dir == "/tmp/ha" and config.cluster_storage_dir == "/tmp/ha/cluster-7"
    assert config.job_result_dir == "/tmp/ha/job-result-store/cluster-7"
    assert (config.session_timeout_ms, config.connection_timeout_ms, config.retry_wait_ms,
            config.max_retry_attempts, config.tolerate_suspended) == (2000, 1500, 100, 7, True)
    assert config.execution_plans_path == "/jobgraphs"
    # the newer key wins over its deprecated form
    assert settings({"high-availability.cluster-id": "/new",
                     "high-availability.zookeeper.path.namespace": "old"}).cluster_id == "/new"
    # Flink 1.x's recovery.* names
    old = settings({"recovery.mode": "zookeeper", "recovery.zookeeper.quorum": "h:1",
                    "recovery.zookeeper.storageDir": "/s", "recovery.zookeeper.path.root": "/r",
                    "recovery.zookeeper.client.session-timeout": "3000"})
    assert (old.type, old.quorum, old.storage_dir, old.cluster_path, old.session_timeout_ms) == \
        ("zookeeper", "h:1", "/s", "/r/default", 3000)
    # NONE in any case, and the 1.x default "standalone", mean no HA
    for none in ("NONE", "none", "None", "standalone", "STANDALONE"):
        assert settings({"high-availability.type": none}).type == "none"


@pytest.mark.parametrize("conf, message", [
    ({"high-availability.type": "kubernetes"}, r"'kubernetes' \(Kubernetes high availability\) is not supported"),
    ({"high-availability.type": "KUBERNETES"}, "only ZooKeeper high availability is"),
    ({"high-availability": "Kubernetes"}, "only ZooKeeper high availability is"),
    ({"high-availability.type": "org.apache.flink.kubernetes.highavailability.KubernetesHaServicesFactory"},
     r"HighAvailabilityServicesFactory class\) is not supported"),
    ({"high-availability.type": "etcd"}, r"'etcd' .*only ZooKeeper high availability is"),
    ({"high-availability.type": "zookeeper", "high-availability.storageDir": "/x"}, "quorum"),
    ({"high-availability.type": "zookeeper", "high-availability.zookeeper.quorum": "h:1"}, "storageDir"),
    ({"high-availability.type": "zookeeper", "high-availability.zookeeper.quorum": "h:1",
      "high-availability.storageDir": "/x", "high-availability.zookeeper.client.acl": "creator"}, "acl"),
    ({"high-availability.zookeeper.client.tolerate-suspended-connections": "yes"}, "not a boolean"),
    ({"high-availability.zookeeper.client.max-retry-attempts": "many"}, "not an integer"),
])
def test_config_errors(conf: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidProgramError, match=message):
        services_from_config(conf)


@pytest.mark.parametrize("kind", ["kubernetes", "org.example.MyHaServicesFactory"])
def test_an_unsupported_ha_type_fails_the_job_instead_of_running_without_ha(kind: str) -> None:
    """`high-availability.type: kubernetes` (or a factory class) used to run the job without any
    HA: execute() now refuses it before running anything."""
    env, sink = _ha_job({"high-availability.type": kind})
    with pytest.raises(InvalidProgramError, match="only ZooKeeper high availability is"):
        env.execute("job")
    assert sink.values == []
    # a later layer may still change the type: only the effective value counts (as in Flink)
    env, sink = _ha_job({"high-availability.type": kind})
    env.configure({"high-availability.type": "NONE"})
    env.execute("job")
    assert sink.values == [1, 2, 3]


def test_paths_names_and_codecs() -> None:
    assert zk_join("/flink/", "/default") == zk_join("flink", "default") == "/flink/default"
    assert checkpoint_node_name(42) == "0000000000000000042" and checkpoint_id_of("0000000000000000042") == 42
    assert checkpoint_id_of("locks") is None and checkpoint_id_of("42") is None
    assert encode_counter(1) == b"\x00\x00\x00\x01" and decode_counter(struct.pack(">i", 2**31 - 1)) == 2**31 - 1
    with pytest.raises(OverflowError):
        encode_counter(2**31)
    with pytest.raises(ValueError):
        decode_counter(b"42")  # kazoo's default Counter writes ASCII; ours is Curator's 4 bytes
    assert latch_node_prefix("u-u-i-d") == "_c_u-u-i-d-latch-"
    name = random_file_name("completedCheckpoint")
    assert len(name) == len("completedCheckpoint") + 12 and int(name[-12:], 16) >= 0
    assert decode_pointer(encode_pointer("/f", checkpointId=3)) == {"version": 1, "path": "/f", "checkpointId": 3}
    with pytest.raises(ValueError):
        decode_pointer(b'{"path": "/f"}')
    info = LeaderInformation("flinklite://h:1/dispatcher", "0e0e")
    assert LeaderInformation.decode(info.encode()) == info


def test_latch_order_and_predecessor() -> None:
    children = ["_c_b-latch-0000000007", "_c_a-latch-0000000003", "_c_c-latch-0000000012", "not-a-contender"]
    assert latch_order(children) == ["_c_a-latch-0000000003", "_c_b-latch-0000000007", "_c_c-latch-0000000012"]
    assert latch_predecessor(children, "_c_a-latch-0000000003") is None  # the leader
    assert latch_predecessor(children, "_c_c-latch-0000000012") == "_c_b-latch-0000000007"  # no herd
    # kazoo Lock/Election nodes count too: order is by sequence only
    assert latch_predecessor(children + ["abc__lock__0000000005"], "_c_b-latch-0000000007") == "abc__lock__0000000005"
    with pytest.raises(LookupError):
        latch_predecessor(children, "_c_d-latch-0000000099")


def test_retention() -> None:
    assert subsumed([1, 2, 3], 1) == [1, 2]
    assert subsumed([3, 1, 2], 2) == [1]
    assert subsumed([1], 3) == []


def test_job_result_store(tmp_path: Path) -> None:
    store = JobResultStore(str(tmp_path), delete_on_commit=False)
    assert not store.has_result(JOB)
    store.create_dirty_result(JOB, "SUCCEEDED")
    assert store.has_dirty(JOB) and os.path.exists(tmp_path / f"{JOB}_DIRTY.json")
    store.mark_clean(JOB)
    assert store.has_clean(JOB) and not store.has_dirty(JOB)
    with open(tmp_path / f"{JOB}.json") as f:
        assert json.load(f)["result"] == {"id": JOB, "application-status": "SUCCEEDED"}
    assert JobResultStore(str(tmp_path), delete_on_commit=False).has_result(JOB)  # another process sees it


# -- standalone and the coordinator hooks ---------------------------------------------------------


def test_standalone_services() -> None:
    services = StandaloneHaServices()
    election = services.leader_election()
    election.start()
    assert election.await_leadership(0) and election.is_leader
    assert election.session_id == "00000000-0000-0000-0000-000000000000"
    assert services.leader_information(DISPATCHER) is not None
    counter = services.checkpoint_id_counter(JOB)
    assert [counter.get_and_increment() for _ in range(2)] == [1, 2]
    store = services.completed_checkpoint_store(JOB, num_retained=2)
    assert [store.add(CompletedCheckpoint(i, i, {}, f"/c/chk-{i}")) for i in (1, 2, 3)] == [[], [], [1]]
    recovery = services.recover(JOB)
    assert (recovery.latest_checkpoint_id, recovery.latest_checkpoint_path, recovery.next_checkpoint_id) == \
        (3, "/c/chk-3", 4)
    services.cleanup_job_data(JOB)
    assert services.recover(JOB).latest_checkpoint_id is None


def test_coordinator_takes_ids_from_the_counter_and_retention_from_the_store(tmp_path: Path) -> None:
    services = StandaloneHaServices()
    counter = services.checkpoint_id_counter(JOB)
    counter.set_count(10)  # as if an earlier process had taken 1..9
    store = services.completed_checkpoint_store(JOB, num_retained=2)
    store.add(CompletedCheckpoint(9, 0, {}, str(tmp_path / JOB / "chk-9")))
    storage = CheckpointStorage(str(tmp_path), JOB)
    os.makedirs(tmp_path / JOB / "chk-9")
    coordinator = CheckpointCoordinator(CheckpointSettings(interval_ms=10, num_retained=2), storage,
                                        id_counter=counter, completed_store=store)
    ids = []
    for now in (0, 10):
        checkpoint_id = coordinator.trigger(now, [("op", 0)])
        assert coordinator.acknowledge(checkpoint_id, "op", 0, {"now": now}) is not None
        ids.append(checkpoint_id)
    assert ids == [10, 11] and counter.get() == 12
    # the store dropped the earlier process's checkpoint 9 and the coordinator discarded its data
    assert [p.checkpoint_id for p in store.checkpoints()] == [10, 11]
    assert sorted(os.listdir(tmp_path / JOB)) == ["chk-10", "chk-11"]
    assert coordinator.latest() is not None and coordinator.latest().checkpoint_id == 11  # type: ignore[union-attr]


def test_coordinator_defaults_are_unchanged(tmp_path: Path) -> None:
    coordinator = CheckpointCoordinator(CheckpointSettings(interval_ms=10, num_retained=1),
                                        CheckpointStorage(str(tmp_path), JOB))
    for now in (0, 10):
        checkpoint_id = coordinator.trigger(now, [("op", 0)])
        coordinator.acknowledge(checkpoint_id, "op", 0, {})
    assert coordinator.next_id == 3 and os.listdir(tmp_path / JOB) == ["chk-2"]


def test_coordinator_stops_at_the_leader_check(tmp_path: Path) -> None:
    """Once `leader_check` raises (the leadership is gone), the coordinator starts no attempt,
    takes no id and records no completion: nothing is written, stored or committed."""
    services = StandaloneHaServices()
    counter = services.checkpoint_id_counter(JOB)
    store = services.completed_checkpoint_store(JOB, num_retained=2)
    leading = [True]

    def leader_check() -> None:
        if not leading[0]:
            raise JobExecutionError("lost its leadership")

    coordinator = CheckpointCoordinator(CheckpointSettings(interval_ms=10, num_retained=2),
                                        CheckpointStorage(str(tmp_path), JOB), JOB, id_counter=counter,
                                        completed_store=store, leader_check=leader_check)
    coordinator.start(0)
    first = coordinator.trigger(10, [("op", 0)])
    assert coordinator.acknowledge(first, "op", 0, {}) is not None
    second = coordinator.trigger(20, [("op", 0)])
    leading[0] = False  # the session expired while checkpoint 2 was pending
    with pytest.raises(JobExecutionError, match="lost its leadership"):
        coordinator.acknowledge(second, "op", 0, {})
    assert [p.checkpoint_id for p in store.checkpoints()] == [1] and os.listdir(tmp_path / JOB) == ["chk-1"]
    with pytest.raises(JobExecutionError):
        coordinator.trigger(30, [("op", 0)])
    assert counter.get() == 3  # no id taken after the leadership went
    with pytest.raises(JobExecutionError):
        coordinator.start(40)  # a restart of the job is refused
    assert coordinator.latest() is not None and coordinator.latest().checkpoint_id == 1  # type: ignore[union-attr]


# -- ZooKeeper, on our server ------------------------------------------------------------------------


def zk_conf(server: RunningZkServer, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"high-availability.type": "zookeeper", "high-availability.zookeeper.quorum": server.hosts,
            "high-availability.storageDir": str(tmp_path / "ha"),
            "high-availability.zookeeper.client.session-timeout": "2 s",
            "high-availability.zookeeper.client.retry-wait": "100 ms", **extra}


@pytest.fixture
def reader(zk_server: RunningZkServer) -> Iterator[KazooClient]:
    client = KazooClient(hosts=zk_server.hosts)
    client.start(timeout=WAIT)
    yield client
    client.stop()
    client.close()


def test_election_in_one_process_fails_over_on_session_expiry(zk_server: RunningZkServer, tmp_path: Path,
                                                               reader: KazooClient) -> None:
    conf = zk_conf(zk_server, tmp_path)
    first, second = services_from_config(conf), services_from_config(conf)
    assert isinstance(first, ZooKeeperHaServices) and isinstance(second, ZooKeeperHaServices)
    try:
        revoked = threading.Event()
        leading = first.leader_election({DISPATCHER: "first"}, on_revoked=revoked.set)
        leading.start()
        assert leading.await_leadership(WAIT)
        standby = second.leader_election({DISPATCHER: "second"})
        standby.start()
        contenders = threading.Event()
        reader.ChildrenWatch("/flink/default/leader/latch", lambda c: contenders.set() if len(c) == 2 else None)
        assert contenders.wait(WAIT)  # the standby's latch node is there
        assert not standby.granted.is_set()

        zk_server.expire_session(first.session_id)
        assert revoked.wait(WAIT) and leading.revoked.is_set() and not leading.is_leader
        assert standby.await_leadership(WAIT) and standby.is_leader
        data, stat = reader.get("/flink/default/leader/dispatcher/connection_info")
        assert json.loads(data)["address"] == "second" and stat.ephemeralOwner == second.session_id
    finally:
        first.close()
        second.close()


class StateLog:
    """A kazoo state listener that records every state with the session id at that moment; kazoo
    calls all listeners of one state change, in its connection thread, before the next change."""

    def __init__(self, client: KazooClient) -> None:
        self.client = client
        self.states: list[tuple[str, int]] = []
        self.changed = threading.Condition()
        client.add_listener(self)

    def __call__(self, state: str) -> None:
        with self.changed:
            self.states.append((state, int(self.client.client_id[0]) if self.client.client_id else 0))
            self.changed.notify_all()

    def wait_for(self, predicate: Callable[[list[tuple[str, int]]], bool]) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: predicate(self.states), WAIT), self.states


@pytest.mark.parametrize("interruption, tolerate_suspended", [
    ("suspended", "false"),  # connection dropped, same session back: suspension revokes by default
    ("lost", "false"),  # the session expired: SUSPENDED, then LOST, then a new session
    ("lost", "true"),  # suspension tolerated: the LOST alone must stop the grant
])
def test_a_connection_lost_while_leadership_is_granted_does_not_grant_it(
        zk_server: RunningZkServer, tmp_path: Path, reader: KazooClient, interruption: str,
        tolerate_suspended: str) -> None:
    """The grant writes the connection info, then becomes the leader. A session lost (or a
    suspension, unless tolerated) in between used to be missed: `_revoke` had nothing to revoke
    yet, and the grant went on, leaving a leader whose latch node had gone with its session. The
    interruption is forced into the grant deterministically: the first connection_info write
    waits until kazoo has reported it (and reconnected) before writing. The grant must be
    dropped and made again on a node of the live session, with a new leader session id."""
    conf = zk_conf(zk_server, tmp_path, **{
        "high-availability.zookeeper.client.tolerate-suspended-connections": tolerate_suspended})
    with services_from_config(conf) as services:
        assert isinstance(services, ZooKeeperHaServices)
        states = StateLog(services.client)
        revoked = threading.Event()
        election = services.leader_election({DISPATCHER: "leader"}, on_revoked=revoked.set)
        assert isinstance(election, _ZooKeeperElection)
        write = services.write_leader_information
        attempts: list[tuple[str, str | None, int]] = []  # (leader session id, latch node, zk session)

        def interrupted_write(component: str, info: LeaderInformation) -> None:
            attempts.append((info.session_id, election.node, services.session_id))
            if len(attempts) == 1:
                session = services.session_id
                seen = len(states.states)
                if interruption == "suspended":
                    zk_server.drop_connection(session)
                    states.wait_for(lambda log: [s for s, _ in log[seen:]][-2:] == ["SUSPENDED", "CONNECTED"])
                else:
                    zk_server.expire_session(session)
                    states.wait_for(lambda log: "LOST" in [s for s, _ in log[seen:]]
                                    and log[-1][0] == "CONNECTED" and log[-1][1] != session)
            write(component, info)

        services.write_leader_information = interrupted_write  # type: ignore[method-assign]
        election.start()
        assert election.await_leadership(WAIT) and election.is_leader and not revoked.is_set()
        aborted_session, first_node, first_zk_session = attempts[0]
        assert len(attempts) >= 2 and election.session_id != aborted_session  # the first grant did not count
        assert election.node is not None
        latch = reader.get_children("/flink/default/leader/latch")
        assert latch == [election.node]  # one contender node, ours
        _, node_stat = reader.get(f"/flink/default/leader/latch/{election.node}")
        assert node_stat.ephemeralOwner == services.session_id
        data, stat = reader.get("/flink/default/leader/dispatcher/connection_info")
        assert json.loads(data)["sessionId"] == election.session_id and stat.ephemeralOwner == services.session_id
        if interruption == "suspended":
            assert (election.node, services.session_id) == (first_node, first_zk_session)
        else:
            assert election.node != first_node and services.session_id != first_zk_session


def test_connection_info_of_a_stale_session_is_replaced(zk_server: RunningZkServer, tmp_path: Path,
                                                        reader: KazooClient) -> None:
    """A new leader finds the previous leader's EPHEMERAL connection_info still there (its
    session not expired yet): it deletes it and writes its own, as Flink does."""
    reader.create("/flink/default/leader/dispatcher/connection_info", b"stale", ephemeral=True, makepath=True)
    with services_from_config(zk_conf(zk_server, tmp_path)) as services:
        assert isinstance(services, ZooKeeperHaServices)
        election = services.leader_election({DISPATCHER: "new"})
        election.start()
        assert election.await_leadership(WAIT)
        data, stat = reader.get("/flink/default/leader/dispatcher/connection_info")
        assert json.loads(data)["address"] == "new" and stat.ephemeralOwner == services.session_id


def test_a_checkpoint_locked_by_another_process_is_kept(zk_server: RunningZkServer, tmp_path: Path,
                                                        reader: KazooClient) -> None:
    conf = zk_conf(zk_server, tmp_path)
    checkpoints = f"/flink/default/jobs/{JOB}/checkpoints"
    with services_from_config(conf) as old, services_from_config(conf) as new:
        old_store = old.completed_checkpoint_store(JOB, num_retained=5)
        old_store.add(CompletedCheckpoint(1, 1, {}, "/c/chk-1"))
        new_store = new.completed_checkpoint_store(JOB, num_retained=1)  # recovers and locks checkpoint 1
        assert [p.checkpoint_id for p in new_store.checkpoints()] == [1]
        assert len(reader.get_children(f"{checkpoints}/0000000000000000001/locks")) == 2
        # checkpoint 2 subsumes 1, but the old process still holds 1: the node and its file stay
        assert new_store.add(CompletedCheckpoint(2, 2, {}, "/c/chk-2")) == []
        assert sorted(reader.get_children(checkpoints)) == ["0000000000000000001", "0000000000000000002"]
        assert len(os.listdir(tmp_path / "ha" / "default")) == 2
    with services_from_config(conf) as services:
        assert services.recover(JOB).latest_checkpoint_id == 2


def test_nodes_marked_for_deletion_and_corrupt_pointers_are_skipped(zk_server: RunningZkServer, tmp_path: Path,
                                                                    reader: KazooClient) -> None:
    conf = zk_conf(zk_server, tmp_path)
    checkpoints = f"/flink/default/jobs/{JOB}/checkpoints"
    with services_from_config(conf) as services:
        store = services.completed_checkpoint_store(JOB, num_retained=5)
        for i in (1, 2):
            store.add(CompletedCheckpoint(i, i, {}, f"/c/chk-{i}"))
    # checkpoint 3: its `locks` child is gone, a deletion cut short (marked for deletion)
    reader.create(f"{checkpoints}/0000000000000000003", encode_pointer("/nowhere", checkpointId=3))
    # checkpoint 4: a pointer nobody can read
    reader.create(f"{checkpoints}/0000000000000000004/locks", b"", makepath=True)
    reader.set(f"{checkpoints}/0000000000000000004", b"\xac\xed\x00\x05 java serialization")
    with services_from_config(conf) as services:
        recovery = services.recover(JOB)
        assert (recovery.latest_checkpoint_id, recovery.latest_checkpoint_path) == (2, "/c/chk-2")
        store = services.completed_checkpoint_store(JOB, num_retained=5)
        assert [p.checkpoint_id for p in store.checkpoints()] == [1, 2]


def test_cleanup_removes_a_finished_jobs_data(zk_server: RunningZkServer, tmp_path: Path,
                                              reader: KazooClient) -> None:
    with services_from_config(zk_conf(zk_server, tmp_path)) as services:
        counter = services.checkpoint_id_counter(JOB)
        counter.get_and_increment()
        services.completed_checkpoint_store(JOB).add(CompletedCheckpoint(1, 1, {}, "/c/chk-1"))
        services.execution_plan_store().put(JOB, {"script": "job.py"})
        services.job_result_store().create_dirty_result(JOB, "SUCCEEDED")
        services.cleanup_job_data(JOB)
        services.job_result_store().mark_clean(JOB)
        assert reader.get_children("/flink/default/jobs") == []
        assert reader.get_children("/flink/default/execution-plans") == []
        assert os.listdir(tmp_path / "ha" / "default") == []
        recovery = services.recover(JOB)
        assert recovery.latest_checkpoint_id is None and recovery.next_checkpoint_id == 1


def test_recover_with_nothing_there(zk_server: RunningZkServer, tmp_path: Path, reader: KazooClient) -> None:
    with services_from_config(zk_conf(zk_server, tmp_path)) as services:
        recovery = services.recover(JOB)
    assert (recovery.latest_checkpoint_id, recovery.latest_checkpoint_path, recovery.next_checkpoint_id,
            recovery.execution_plan, recovery.finished) == (None, None, 1, None, False)
    assert not reader.exists(f"/flink/default/jobs/{JOB}")  # looking creates nothing


def test_job_leadership_check_fails_once_the_session_expired(zk_server: RunningZkServer, tmp_path: Path) -> None:
    """JobLeadership hands the coordinator its leader check: silent while leading, a
    JobExecutionError that is not a task failure (no restart strategy applies) once ZooKeeper
    expired the session, even though kazoo reconnects with a new session afterwards."""
    leadership = JobLeadership(zk_conf(zk_server, tmp_path), JOB, "job")
    try:
        revoked = threading.Event()
        leadership.acquire(on_revoked=revoked.set, timeout=WAIT)
        hooks = leadership.hooks()
        hooks["leader_check"]()
        coordinator = CheckpointCoordinator(CheckpointSettings(interval_ms=10), None, JOB, **hooks)
        coordinator.start(0)
        assert leadership.election is not None
        zk_server.expire_session(leadership.services.session_id)  # type: ignore[attr-defined]
        assert revoked.wait(WAIT) and leadership.revoked
        with pytest.raises(JobExecutionError, match=f"job {JOB} was suspended") as failure:
            coordinator.start(10)
        assert not failure.value.task_failure
        with pytest.raises(JobExecutionError):
            coordinator.trigger(10, [("op", 0)])
    finally:
        leadership.close()


def test_writes_of_an_expired_leader_are_refused_by_zookeeper(zk_server: RunningZkServer, tmp_path: Path,
                                                              reader: KazooClient) -> None:
    """The counter and the checkpoint store of a JobLeadership write in transactions that check
    its EPHEMERAL latch node: once ZooKeeper expired the session that won the election, writes
    fail even though kazoo has connected again with a new session, and even when the caller
    did not look at `revoked` first (the leader check can race with kazoo's reconnect)."""
    leadership = JobLeadership(zk_conf(zk_server, tmp_path), JOB, "job", num_retained=2)
    try:
        leadership.acquire(timeout=WAIT)
        counter, store = leadership.hooks()["id_counter"], leadership.hooks()["completed_store"]
        assert [counter.get_and_increment() for _ in range(2)] == [1, 2]
        store.add(CompletedCheckpoint(2, 0, {}, "/chk/chk-2"))
        client = leadership.services.client  # type: ignore[attr-defined]
        reconnected = threading.Event()
        expired_session = leadership.services.session_id  # type: ignore[attr-defined]

        def on_state(state: str) -> None:
            if state == "CONNECTED" and client.client_id[0] != expired_session:
                reconnected.set()
        client.add_listener(on_state)
        zk_server.expire_session(expired_session)
        assert reconnected.wait(WAIT)  # a new session: plain writes would succeed again
        with pytest.raises(LeadershipLostError, match="leadership lost"):
            counter.get_and_increment()
        with pytest.raises(LeadershipLostError, match="leadership lost"):
            store.add(CompletedCheckpoint(3, 0, {}, "/chk/chk-3"))
        data, _ = reader.get(f"/flink/default/jobs/{JOB}/checkpoint_id_counter")
        assert struct.unpack(">i", data) == (3,)
        assert reader.get_children(f"/flink/default/jobs/{JOB}/checkpoints") == ["0000000000000000002"]
        assert len(os.listdir(tmp_path / "ha" / "default")) == 2  # the plan's and checkpoint 2's files
    finally:
        leadership.close()


def test_restore_moves_the_shared_counter_past_the_restored_id(tmp_path: Path) -> None:
    """Under HA ids come from the shared counter: after a restore from checkpoint 53 the next
    id is 54 (Flink sets the counter to at least restored id + 1), never 1 again."""
    services = StandaloneHaServices()
    counter = services.checkpoint_id_counter(JOB)
    coordinator = CheckpointCoordinator(CheckpointSettings(interval_ms=10), CheckpointStorage(str(tmp_path), JOB),
                                        JOB, id_counter=counter, completed_store=services.completed_checkpoint_store(JOB))
    coordinator.restore_from(CompletedCheckpoint(53, 0, {}, "/sp/savepoint-1"))
    coordinator.start(0)
    assert coordinator.trigger(10, [("op", 0)]) == 54
    coordinator.restore_from(CompletedCheckpoint(7, 0, {}, "/sp/savepoint-2"))  # never moves back
    assert counter.get() == 55


def test_an_existing_checkpoint_directory_is_not_overwritten(tmp_path: Path) -> None:
    storage = CheckpointStorage(str(tmp_path), JOB)
    storage.write(CompletedCheckpoint(3, 0, {"op": {0: "first"}}, job_id=JOB))
    with pytest.raises(CheckpointIdCollision, match="chk-3 already exists"):
        storage.write(CompletedCheckpoint(3, 1, {"op": {0: "second"}}, job_id=JOB))
    assert load_checkpoint(str(tmp_path / JOB / "chk-3")).operators == {"op": {0: "first"}}


def test_a_checkpoint_the_store_refuses_is_not_complete(tmp_path: Path) -> None:
    """A completion the completed-checkpoint store (ZooKeeper) fails to record is discarded:
    not the latest checkpoint a restart resumes from, its directory gone (as Flink)."""
    services = StandaloneHaServices()
    store = services.completed_checkpoint_store(JOB, num_retained=2)
    coordinator = CheckpointCoordinator(CheckpointSettings(interval_ms=10, num_retained=2),
                                        CheckpointStorage(str(tmp_path), JOB), JOB,
                                        id_counter=services.checkpoint_id_counter(JOB), completed_store=store)
    coordinator.start(0)
    first = coordinator.trigger(10, [("op", 0)])
    coordinator.acknowledge(first, "op", 0, {})
    second = coordinator.trigger(20, [("op", 0)])

    def refuse(checkpoint: CompletedCheckpoint) -> list[int]:
        raise ConnectionError("ZooKeeper unreachable")
    store.add = refuse  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        coordinator.acknowledge(second, "op", 0, {})
    assert coordinator.latest() is not None and coordinator.latest().checkpoint_id == first  # type: ignore[union-attr]
    assert [c.checkpoint_id for c in coordinator.completed] == [first]
    assert os.listdir(tmp_path / JOB) == [f"chk-{first}"]


def test_orphaned_checkpoint_directories_are_removed_at_start(tmp_path: Path) -> None:
    """chk-N written but never recorded (killed in between, or refused): removed when the
    coordinator starts, but only above the latest recorded id and not referenced."""
    services = StandaloneHaServices()
    store = services.completed_checkpoint_store(JOB, num_retained=3)
    storage = CheckpointStorage(str(tmp_path), JOB)
    for checkpoint_id in (2, 4, 5, 6):
        storage.write(CompletedCheckpoint(checkpoint_id, 0, {}, job_id=JOB))
    store.add(CompletedCheckpoint(4, 0, {}, str(tmp_path / JOB / "chk-4")))
    coordinator = CheckpointCoordinator(CheckpointSettings(interval_ms=10), storage, JOB,
                                        id_counter=services.checkpoint_id_counter(JOB), completed_store=store)
    assert coordinator.discard_orphans() == [5, 6]
    assert storage.completed_ids() == [2, 4]  # 2: older than the latest recorded, left alone
    plain = CheckpointCoordinator(CheckpointSettings(interval_ms=10), storage, JOB)
    storage.write(CompletedCheckpoint(9, 0, {}, job_id=JOB))
    assert plain.discard_orphans() == [] and storage.completed_ids() == [2, 4, 9]  # no record: nothing known


# -- execute() under HA ------------------------------------------------------------------------------


def _ha_job(conf: dict[str, str]) -> tuple[StreamExecutionEnvironment, CollectSink]:
    env = StreamExecutionEnvironment.get_execution_environment(Configuration.from_dict(conf))
    env.set_parallelism(1)
    sink = CollectSink()
    env.from_collection([1, 2, 3]).sink_to(sink)
    return env, sink


def test_ha_with_checkpointing_needs_a_checkpoint_directory(tmp_path: Path) -> None:
    conf = {"high-availability.type": "zookeeper", "high-availability.zookeeper.quorum": "127.0.0.1:1",
            "high-availability.storageDir": str(tmp_path / "ha"), "execution.checkpointing.interval": "1 s"}
    env, sink = _ha_job(conf)
    with pytest.raises(InvalidProgramError, match="needs a checkpoint directory"):
        env.execute("job")
    assert sink.values == []


def test_a_job_with_a_recorded_result_is_not_run_again(zk_server: RunningZkServer, tmp_path: Path,
                                                       reader: KazooClient) -> None:
    """Flink's JobResultStore semantics after acquiring the leadership: a dirty entry (the
    process died between recording the result and cleaning up) finishes the cleanup and the job
    does not run; a clean entry (kept with delete-on-commit: false) is not run again either."""
    conf = zk_conf(zk_server, tmp_path, **{"job-result-store.delete-on-commit": "false"})
    env, sink = _ha_job(conf)
    job_id = env.execute("job").get_job_id()
    assert sink.values == [1, 2, 3]
    results = tmp_path / "ha" / "job-result-store" / "default"
    assert os.listdir(results) == [f"{job_id}.json"]
    # a crash between the dirty result and its cleanup: the HA data is still there
    os.rename(results / f"{job_id}.json", results / f"{job_id}_DIRTY.json")
    reader.create(f"/flink/default/jobs/{job_id}/checkpoint_id_counter", struct.pack(">i", 5), makepath=True)
    env, sink = _ha_job(conf)
    with pytest.raises(JobAlreadyFinishedError, match=r"globally terminal state \(SUCCEEDED\).*cleanup was finished"):
        env.execute("job")
    assert sink.values == []  # not run again
    assert os.listdir(results) == [f"{job_id}.json"] and reader.get_children("/flink/default/jobs") == []
    env, sink = _ha_job(conf)
    with pytest.raises(JobAlreadyFinishedError, match="not run again"):
        env.execute("job")
    assert sink.values == []
    assert reader.get_children("/flink/default/leader/latch") == []


def test_a_failure_before_the_job_runs_releases_the_leadership(zk_server: RunningZkServer, tmp_path: Path,
                                                               reader: KazooClient) -> None:
    """load_checkpoint (and the other steps between acquire() and running) failing: the latch
    node, latch thread and kazoo client go with it, so a standby can take over."""
    before = {t.name for t in threading.enumerate()}
    env, _ = _ha_job(zk_conf(zk_server, tmp_path, **{"execution.state-recovery.path": str(tmp_path / "nothing")}))
    with pytest.raises(InvalidProgramError, match="Cannot find meta data file"):
        env.execute("job")
    assert reader.get_children("/flink/default/leader/latch") == []
    assert "flinklite-ha-leader-latch" not in {t.name for t in threading.enumerate()} - before


def test_confirm_leading_asks_zookeeper(zk_server: RunningZkServer, tmp_path: Path, reader: KazooClient) -> None:
    """What a job manager asks before it spawns or deploys workers and before they commit at the
    end of input: silent while our latch node is there; once it is gone (a session that expired
    while the process was frozen, before kazoo noticed) LeadershipLostError, not a task failure,
    with the leadership revoked first (so the job's HA data is kept for the new leader)."""
    leadership = JobLeadership(zk_conf(zk_server, tmp_path), JOB, "job")
    try:
        revoked = threading.Event()
        leadership.acquire(on_revoked=revoked.set, timeout=WAIT)
        hooks = leadership.hooks()
        hooks["leader_confirm"]()
        election = leadership.election
        assert isinstance(election, _ZooKeeperElection) and election.node is not None
        reader.delete(f"/flink/default/leader/latch/{election.node}")
        assert not leadership.revoked  # the flag alone has not heard of it
        with pytest.raises(LeadershipLostError, match=f"job {JOB} was suspended") as failure:
            hooks["leader_confirm"]()
        assert not failure.value.task_failure
        assert leadership.revoked and revoked.wait(WAIT)
        with pytest.raises(LeadershipLostError):
            hooks["leader_check"]()
    finally:
        leadership.close()
