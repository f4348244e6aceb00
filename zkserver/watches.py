"""Server-side watch tables: one-shot, persistent and persistent-recursive watches.

Mirrors ZooKeeper 3.9's two tables. The *data* table holds standard watches
set by getData/exists (exists on a missing node included), persistent and
persistent-recursive watches; the *child* table holds standard child watches
and persistent watches. Triggering a path fires every watcher on that exact
path (standard ones are then removed) and, walking up the ancestors, every
persistent-recursive watcher. A watcher is a connection id: watches belong to
the connection, and a resumed session re-sends them with setWatches.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from wire.zk.protocol import WatcherType

STANDARD = 1
PERSISTENT = 2
RECURSIVE = 4


def ancestors(path: str) -> Iterator[str]:
    """The parents of ``path``, nearest first, ending with "/"."""
    while path != "/":
        i = path.rfind("/")
        path = path[:i] if i > 0 else "/"
        yield path


class WatchTable:
    """path -> watcher -> bit set of modes."""

    def __init__(self) -> None:
        self.by_path: dict[str, dict[int, int]] = {}
        self.recursive_count = 0

    def add(self, path: str, watcher: int, mode: int) -> None:
        modes = self.by_path.setdefault(path, {})
        old = modes.get(watcher, 0)
        if mode == RECURSIVE and not old & RECURSIVE:
            self.recursive_count += 1
        modes[watcher] = old | mode

    def contains(self, path: str, watcher: int, mode: int | None) -> bool:
        bits = self.by_path.get(path, {}).get(watcher, 0)
        return bool(bits) if mode is None else bool(bits & mode)

    def remove(self, path: str, watcher: int, mode: int | None) -> bool:
        modes = self.by_path.get(path)
        if not modes or watcher not in modes:
            return False
        bits = modes[watcher]
        drop = bits if mode is None else bits & mode
        if not drop:
            return False
        if drop & RECURSIVE:
            self.recursive_count -= 1
        left = bits & ~drop
        if left:
            modes[watcher] = left
        else:
            del modes[watcher]
            if not modes:
                del self.by_path[path]
        return True

    def trigger(self, path: str) -> set[int]:
        """Watchers to notify for an event on ``path``; standard watches there are consumed."""
        fired: set[int] = set()
        modes = self.by_path.get(path)
        if modes:
            for watcher, bits in list(modes.items()):
                fired.add(watcher)
                if bits & STANDARD:
                    left = bits & ~STANDARD
                    if left:
                        modes[watcher] = left
                    else:
                        del modes[watcher]
            if not modes:
                del self.by_path[path]
        if self.recursive_count:
            for parent in ancestors(path):
                for watcher, bits in self.by_path.get(parent, {}).items():
                    if bits & RECURSIVE:
                        fired.add(watcher)
        return fired

    def drop_watcher(self, watcher: int) -> None:
        for path in list(self.by_path):
            self.remove(path, watcher, None)

    def count(self) -> int:
        return sum(len(m) for m in self.by_path.values())

    def paths_of(self, watcher: int) -> list[str]:
        return [p for p, m in self.by_path.items() if watcher in m]


class WatchManager:
    """Both tables, with the trigger rules of DataTree's create/delete/setData."""

    def __init__(self) -> None:
        self.data = WatchTable()
        self.child = WatchTable()

    # registration
    def watch_data(self, path: str, watcher: int) -> None:
        self.data.add(path, watcher, STANDARD)

    def watch_children(self, path: str, watcher: int) -> None:
        self.child.add(path, watcher, STANDARD)

    def add_persistent(self, path: str, watcher: int, recursive: bool) -> None:
        if recursive:
            self.data.add(path, watcher, RECURSIVE)
        else:
            self.data.add(path, watcher, PERSISTENT)
            self.child.add(path, watcher, PERSISTENT)

    # triggers: each returns the watchers to notify
    def node_created(self, path: str) -> set[int]:
        return self.data.trigger(path)

    def node_data_changed(self, path: str) -> set[int]:
        return self.data.trigger(path)

    def node_deleted(self, path: str) -> set[int]:
        fired = self.data.trigger(path)
        return fired | self.child.trigger(path)

    def children_changed(self, parent: str) -> set[int]:
        return self.child.trigger(parent)

    # checkWatches / removeWatches
    def _tables(self, kind: WatcherType) -> list[tuple[WatchTable, int | None]]:
        if kind == WatcherType.Children:
            return [(self.child, STANDARD)]
        if kind == WatcherType.Data:
            return [(self.data, STANDARD)]
        if kind == WatcherType.Persistent:
            return [(self.child, PERSISTENT), (self.data, PERSISTENT)]
        if kind == WatcherType.PersistentRecursive:
            return [(self.data, RECURSIVE)]
        return [(self.child, None), (self.data, None)]

    def contains(self, path: str, watcher: int, kind: WatcherType) -> bool:
        return any(table.contains(path, watcher, mode) for table, mode in self._tables(kind))

    def remove(self, path: str, watcher: int, kind: WatcherType) -> bool:
        removed = False
        for table, mode in self._tables(kind):
            removed |= table.remove(path, watcher, mode)
        return removed

    def drop_watcher(self, watcher: int) -> None:
        self.data.drop_watcher(watcher)
        self.child.drop_watcher(watcher)

    def total(self) -> int:
        return self.data.count() + self.child.count()

    def paths(self) -> Iterable[str]:
        return set(self.data.by_path) | set(self.child.by_path)
