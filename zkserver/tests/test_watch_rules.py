"""Watch tables: one-shot, persistent and recursive watches fire as ZooKeeper 3.9's do."""

from __future__ import annotations

from zkserver.watches import WatchManager, WatcherType


def test_standard_watch_fires_once_and_is_deduplicated() -> None:
    w = WatchManager()
    w.watch_data("/a", 1)
    w.watch_data("/a", 1)
    assert w.node_data_changed("/a") == {1}
    assert w.node_data_changed("/a") == set()


def test_delete_fires_data_and_child_watchers_once_each() -> None:
    w = WatchManager()
    w.watch_data("/a", 1)
    w.watch_children("/a", 1)
    w.watch_children("/a", 2)
    assert w.node_deleted("/a") == {1, 2}
    assert w.total() == 0


def test_persistent_watch_stays_and_sees_children_but_not_grandchildren() -> None:
    w = WatchManager()
    w.add_persistent("/p", 1, recursive=False)
    assert w.node_data_changed("/p") == {1}
    assert w.children_changed("/p") == {1}
    assert w.node_data_changed("/p/child") == set()
    assert w.node_data_changed("/p") == {1}


def test_recursive_watch_sees_descendants_but_never_children_changed() -> None:
    w = WatchManager()
    w.add_persistent("/r", 1, recursive=True)
    assert w.node_created("/r/a/b") == {1}
    assert w.node_deleted("/r/a") == {1}
    assert w.children_changed("/r") == set()
    assert w.node_created("/other") == set()


def test_standard_and_persistent_coexist_and_remove_by_type() -> None:
    w = WatchManager()
    w.watch_data("/a", 1)
    w.add_persistent("/a", 1, recursive=False)
    assert w.contains("/a", 1, WatcherType.Data)
    assert w.contains("/a", 1, WatcherType.Persistent)
    assert not w.contains("/a", 1, WatcherType.PersistentRecursive)
    assert w.remove("/a", 1, WatcherType.Data)
    assert not w.remove("/a", 1, WatcherType.Data)
    assert w.contains("/a", 1, WatcherType.Any)
    assert w.remove("/a", 1, WatcherType.Any)
    assert w.total() == 0
