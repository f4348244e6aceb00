"""Every kazoo recipe, unmodified, against both targets (threading handler; waits on events, never sleeps)."""

from __future__ import annotations

import datetime
import re
import threading
import time

import pytest
from kazoo.exceptions import LockTimeout
from kazoo.recipe.barrier import Barrier, DoubleBarrier
from kazoo.recipe.cache import TreeCache, TreeEvent
from kazoo.recipe.counter import Counter
from kazoo.recipe.election import Election
from kazoo.recipe.lease import MultiNonBlockingLease, NonBlockingLease
from kazoo.recipe.lock import Lock, ReadLock, Semaphore, WriteLock
from kazoo.recipe.partitioner import PartitionState, SetPartitioner
from kazoo.recipe.party import Party, ShallowParty
from kazoo.recipe.queue import LockingQueue, Queue

from compat_tests.zookeeper.conftest import WAIT, Events


def _run(fn, *args):
    done = threading.Event()
    box = {}

    def target():
        try:
            box["result"] = fn(*args)
        except BaseException as exc:  # surfaced by the caller
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, daemon=True).start()
    return done, box


def test_lock(zk_target):
    a, b = zk_target.client(), zk_target.client()
    lock_a = Lock(a, "/lock", identifier="a")
    lock_b = Lock(b, "/lock", identifier="b")
    assert lock_a.acquire(timeout=WAIT)
    children = a.get_children("/lock")
    assert len(children) == 1 and re.fullmatch(r"[0-9a-f]{32}__lock__0000000000", children[0])
    node = a.exists(f"/lock/{children[0]}")
    assert node.ephemeralOwner == a.client_id[0] and a.get(f"/lock/{children[0]}")[0] == b"a"
    assert not lock_b.acquire(blocking=False)
    with pytest.raises(LockTimeout):
        lock_b.acquire(timeout=0.05)
    done, box = _run(lock_b.acquire)
    # b's contender node (after the two failed attempts removed theirs) waits behind a's
    b_waiting = Events()
    b.ChildrenWatch("/lock", lambda kids: b_waiting(len(kids)))
    b_waiting.wait_until(lambda counts: counts[-1] == 2)
    assert lock_a.contenders() == ["a", "b"]
    assert lock_a.release()
    assert done.wait(WAIT) and box == {"result": True}
    assert lock_b.is_acquired and lock_b.contenders() == ["b"]
    assert re.fullmatch(r"[0-9a-f]{32}__lock__0000000003", lock_b.node)  # two failed tries used 1 and 2
    lock_b.release()
    assert a.get_children("/lock") == []


def test_lock_is_released_when_its_session_closes(zk_target):
    a, b = zk_target.client(), zk_target.client()
    assert Lock(a, "/lock2").acquire(timeout=WAIT)
    other = Lock(b, "/lock2")
    done, box = _run(other.acquire)
    a.stop()
    assert done.wait(WAIT) and box == {"result": True}
    other.release()


def test_read_write_locks(zk_target):
    r1, r2, w = zk_target.client(), zk_target.client(), zk_target.client()
    read1 = ReadLock(r1, "/rw", identifier="r1")
    read2 = ReadLock(r2, "/rw", identifier="r2")
    write = WriteLock(w, "/rw", identifier="w")
    assert read1.acquire(timeout=WAIT) and read2.acquire(timeout=WAIT)  # readers share
    assert not write.acquire(blocking=False)
    names = r1.get_children("/rw")
    assert sorted(n[32:] for n in names) == ["__rlock__0000000000", "__rlock__0000000001"]
    done, box = _run(write.acquire)
    waiting = Events()
    w.ChildrenWatch("/rw", lambda kids: waiting(len(kids)))
    waiting.wait_until(lambda counts: counts[-1] == 3)
    read1.release()
    read2.release()
    assert done.wait(WAIT) and box == {"result": True}
    assert not ReadLock(r1, "/rw").acquire(blocking=False)  # a writer excludes readers
    write.release()
    assert read1.acquire(timeout=WAIT)
    read1.release()


def test_semaphore(zk_target):
    a, b, c = zk_target.client(), zk_target.client(), zk_target.client()
    sem_a = Semaphore(a, "/sem", identifier="a", max_leases=2)
    sem_b = Semaphore(b, "/sem", identifier="b", max_leases=2)
    sem_c = Semaphore(c, "/sem", identifier="c", max_leases=2)
    assert sem_a.acquire(timeout=WAIT) and sem_b.acquire(timeout=WAIT)
    assert sorted(sem_a.lease_holders()) == ["a", "b"]
    assert a.get("/sem")[0] == b"2"  # the semaphore records max_leases in its node
    assert not sem_c.acquire(blocking=False)
    done, box = _run(sem_c.acquire)
    sem_a.release()
    assert done.wait(WAIT) and box == {"result": True}
    assert sorted(sem_b.lease_holders()) == ["b", "c"]
    leases = a.get_children("/sem")  # one ephemeral child per lease; the lock lives at "/sem-__lock__"
    assert sorted(a.exists(f"/sem/{n}").ephemeralOwner for n in leases) == sorted([b.client_id[0], c.client_id[0]])
    assert sorted(a.get(f"/sem/{n}")[0] for n in leases) == [b"b", b"c"]
    assert a.exists("/sem-__lock__") is not None
    sem_b.release()
    sem_c.release()
    assert a.get_children("/sem") == []


def test_election(zk_target):
    a, b = zk_target.client(), zk_target.client()
    elect_a = Election(a, "/election", identifier="a")
    elect_b = Election(b, "/election", identifier="b")
    leader_a, stop_a, leader_b = threading.Event(), threading.Event(), threading.Event()

    def lead_a():
        leader_a.set()
        stop_a.wait(WAIT)

    done_a, box_a = _run(elect_a.run, lead_a)
    assert leader_a.wait(WAIT)
    done_b, box_b = _run(elect_b.run, leader_b.set)
    seen = Events()
    a.ChildrenWatch("/election", lambda kids: seen(len(kids)))
    seen.wait_until(lambda counts: counts[-1] == 2)
    assert elect_a.contenders() == ["a", "b"]
    assert not leader_b.is_set()
    stop_a.set()  # the leader's function returns: it gives up leadership
    assert done_a.wait(WAIT) and box_a == {"result": None}
    assert leader_b.wait(WAIT) and done_b.wait(WAIT)
    assert elect_a.contenders() == []


def test_election_cancel(zk_target):
    a, b = zk_target.client(), zk_target.client()
    stop = threading.Event()
    leading = threading.Event()
    done_a, _ = _run(Election(a, "/el2", "a").run, lambda: (leading.set(), stop.wait(WAIT)))
    assert leading.wait(WAIT)
    waiter = Election(b, "/el2", "b")
    done_b, box_b = _run(waiter.run, lambda: pytest.fail("cancelled contender must not lead"))
    seen = Events()
    a.ChildrenWatch("/el2", lambda kids: seen(len(kids)))
    seen.wait_until(lambda counts: counts[-1] == 2)
    waiter.cancel()
    assert done_b.wait(WAIT) and "error" not in box_b
    stop.set()
    assert done_a.wait(WAIT)


def test_barrier(zk_target):
    a, b = zk_target.client(), zk_target.client()
    barrier = Barrier(a, "/barrier")
    assert barrier.wait(timeout=0) is True  # no barrier node: nothing to wait for
    barrier.create()
    assert a.exists("/barrier") is not None
    assert barrier.wait(timeout=0.01) is False
    done, box = _run(barrier.wait, WAIT)
    Barrier(b, "/barrier").remove()
    assert done.wait(WAIT) and box == {"result": True}


def test_double_barrier(zk_target):
    a, b = zk_target.client(), zk_target.client()
    first = DoubleBarrier(a, "/double", 2)
    second = DoubleBarrier(b, "/double", 2)
    done, box = _run(first.enter)
    entered_alone = done.wait(0.05)
    assert not entered_alone  # one participant of two: enter blocks
    second.enter()
    assert done.wait(WAIT) and "error" not in box
    assert first.participating and second.participating
    assert a.exists("/double/ready") is not None
    done, box = _run(first.leave)
    second.leave()
    assert done.wait(WAIT) and "error" not in box
    assert sorted(a.get_children("/double")) in ([], ["ready"])


def test_counter(zk_target):
    zk = zk_target.client()
    counter = Counter(zk, "/counter")
    assert counter.value == 0
    counter += 5
    assert (counter.pre_value, counter.post_value) == (0, 5)
    counter -= 2
    assert counter.value == 3
    assert zk.get("/counter")[0] == b"3"
    other = Counter(zk_target.client(), "/counter")
    other += 10
    assert counter.value == 13 and zk.get("/counter")[1].version == 3
    floats = Counter(zk, "/fcounter", default=1.5)
    floats += 0.25
    assert floats.value == 1.75 and zk.get("/fcounter")[0] == b"1.75"
    curator = Counter(zk, "/ccounter", support_curator=True)
    curator += 7
    assert curator.value == 7 and zk.get("/ccounter")[0] == (7).to_bytes(4, "big")


def test_queue(zk_target):
    producer, consumer = zk_target.client(), zk_target.client()
    queue = Queue(producer, "/queue")
    queue.put(b"low", priority=200)
    queue.put(b"first")
    queue.put(b"second")
    queue.put(b"urgent", priority=1)
    names = sorted(producer.get_children("/queue"))
    assert names == ["entry-001-0000000003", "entry-100-0000000001", "entry-100-0000000002",
                     "entry-200-0000000000"]
    assert len(queue) == 4
    reader = Queue(consumer, "/queue")
    assert [reader.get() for _ in range(4)] == [b"urgent", b"first", b"second", b"low"]
    assert reader.get() is None and len(reader) == 0


def test_locking_queue(zk_target):
    a, b = zk_target.client(), zk_target.client()
    queue_a = LockingQueue(a, "/lqueue")
    queue_b = LockingQueue(b, "/lqueue")
    queue_a.put(b"one")
    queue_a.put_all([b"two", b"three"], priority=50)
    assert len(queue_a) == 3
    assert queue_a.get(timeout=WAIT) == b"two"
    assert queue_a.holds_lock()
    assert queue_b.get(timeout=WAIT) == b"three"  # the locked entry is skipped
    assert queue_a.release()  # put back: someone else may take it
    assert queue_b.consume()
    assert queue_b.get(timeout=WAIT) == b"two"
    assert queue_b.consume()
    assert queue_a.get(timeout=WAIT) == b"one" and queue_a.consume()
    assert len(queue_a) == 0
    assert queue_b.get(timeout=0.01) is None
    done, box = _run(queue_b.get, WAIT)  # blocks until an entry arrives
    queue_a.put(b"late")
    assert done.wait(WAIT) and box == {"result": b"late"}
    assert queue_b.consume()


@pytest.mark.parametrize("kind", [Party, ShallowParty])
def test_party(zk_target, kind):
    a, b = zk_target.client(), zk_target.client()
    party_a = kind(a, "/party", "alice")
    party_b = kind(b, "/party", "bob")
    party_a.join()
    party_b.join()
    assert sorted(party_a) == ["alice", "bob"] and len(party_b) == 2
    children = a.get_children("/party")
    if kind is Party:
        assert all(re.fullmatch(r"[0-9a-f]{32}__party__", c) for c in children)
    else:
        assert all(re.fullmatch(r"[0-9a-f]{32}-(alice|bob)", c) for c in children)
    owners = sorted(a.exists(f"/party/{c}").ephemeralOwner for c in children)
    assert owners == sorted([a.client_id[0], b.client_id[0]])
    party_b.leave()
    assert list(party_a) == ["alice"]
    b.stop()
    a.stop()
    c = zk_target.client()
    assert list(kind(c, "/party", "carol")) == []  # ephemeral members are gone with their sessions


def test_set_partitioner(zk_target):
    a, b = zk_target.client(), zk_target.client()
    items = [1, 2, 3, 4, 5]
    changed_a, changed_b = threading.Event(), threading.Event()
    part_a = SetPartitioner(a, "/partition", items, identifier="a", time_boundary=0.1, max_reaction_time=0.1,
                            state_change_event=changed_a)
    part_a.wait_for_acquire(WAIT)
    assert part_a.acquired and sorted(part_a) == items
    part_b = SetPartitioner(b, "/partition", items, identifier="b", time_boundary=0.1, max_reaction_time=0.1,
                            state_change_event=changed_b)
    # a sees a new party member and moves to RELEASE; the owner must release for both to re-allocate
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        for part in (part_a, part_b):
            if part.release:
                part.release_set()
        if part_a.acquired and part_b.acquired and len(list(part_a)) + len(list(part_b)) == len(items):
            break
        changed_a.wait(0.05)  # woken by any state change of a; b's changes are caught on the next round
        changed_a.clear()
        changed_b.clear()
    assert part_a.acquired and part_b.acquired
    got_a, got_b = list(part_a), list(part_b)
    assert sorted(got_a + got_b) == items and not set(got_a) & set(got_b)
    assert {len(got_a), len(got_b)} == {2, 3}
    assert sorted(a.get_children("/partition/locks")) == [str(i) for i in items]
    part_b.finish()
    assert part_b.failed and part_b.state == PartitionState.FAILURE  # finish() releases and leaves the party
    part_a.finish()
    assert a.get_children("/partition/party") == []


def test_tree_cache(zk_target):
    zk = zk_target.client()
    writer = zk_target.client()
    zk.create("/tree/a", b"1", makepath=True)
    cache = TreeCache(zk, "/tree")
    events = Events()
    cache.listen(events)
    cache.start()
    events.wait_until(lambda items: any(e.event_type == TreeEvent.INITIALIZED for e in items))
    assert cache.get_data("/tree/a").data == b"1"
    assert sorted(cache.get_children("/tree")) == ["a"]
    writer.create("/tree/b", b"2")
    events.wait_until(lambda items: any(e.event_type == TreeEvent.NODE_ADDED and e.event_data.path == "/tree/b"
                                        for e in items))
    writer.set("/tree/a", b"changed")
    events.wait_until(lambda items: any(e.event_type == TreeEvent.NODE_UPDATED and e.event_data.path == "/tree/a"
                                        for e in items))
    data = cache.get_data("/tree/a")
    assert data.data == b"changed" and data.stat.version == 1
    writer.delete("/tree/b")
    events.wait_until(lambda items: any(e.event_type == TreeEvent.NODE_REMOVED and e.event_data.path == "/tree/b"
                                        for e in items))
    assert cache.get_data("/tree/b") is None and sorted(cache.get_children("/tree")) == ["a"]
    added = [e.event_data.path for e in events.items if e.event_type == TreeEvent.NODE_ADDED]
    assert added[:2] == ["/tree", "/tree/a"]
    cache.close()


def test_non_blocking_leases(zk_target):
    a, b = zk_target.client(), zk_target.client()
    duration = datetime.timedelta(seconds=30)
    assert NonBlockingLease(a, "/lease", duration, identifier="a")
    assert not NonBlockingLease(b, "/lease", duration, identifier="b")
    assert NonBlockingLease(a, "/lease", duration, identifier="a")  # the holder may renew
    assert MultiNonBlockingLease(a, 2, "/mlease", duration, identifier="a")
    assert MultiNonBlockingLease(b, 2, "/mlease", duration, identifier="b")
    assert not MultiNonBlockingLease(zk_target.client(), 2, "/mlease", duration, identifier="c")
