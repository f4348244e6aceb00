"""The ZooKeeper data tree: znodes, their Stats, sequential counters and node kinds.

Pure data and rules, no I/O and no clock of its own: every mutation is given
its zxid and the wall-clock milliseconds to record. Mutations check everything
first and then apply, raising ``ZkError`` with the code a real server returns,
in the order the real server checks them (PrepRequestProcessor). ACL checks are
done by the caller (``zkserver.core``), which knows the session's identities.

Stat reproduction details (see shared/zookeeper-protocol/FEATURES.md):
* the stored child counter counts successful child creates only; the Stat a
  client sees reports ``cversion = 2 * stored - numChildren``, and a sequential
  suffix is the stored counter before the create;
* ``ephemeralOwner`` is stored with the server's sentinels for container and TTL
  nodes but reported as 0 for them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from wire.zk.protocol import Code, CreateMode
from wire.zk.records import Stat
from zkserver.acl import OPEN_ACL, WORLD_READ, Acl
from zkserver.errors import ZkError

CONTAINER_OWNER = -0x8000000000000000  # 0x8000000000000000 as a signed long
TTL_MARK = 0xFF << 56
MAX_TTL = (1 << 40) - 1

# characters PathUtils.validatePath refuses: NUL and controls, and two reserved ranges
_BAD_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\uf8ff\ufff0-\uffff]")

SPECIAL_PATHS = frozenset({"/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"})

QUOTA_ROOT = "/zookeeper/quota"
QUOTA_LIMITS = "zookeeper_limits"  # /zookeeper/quota<path>/zookeeper_limits: set by clients (setquota)
QUOTA_STATS = "zookeeper_stats"  # /zookeeper/quota<path>/zookeeper_stats: kept up to date by the server


def _int32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - 0x100000000 if value >= 0x80000000 else value


def ttl_owner(ttl: int) -> int:
    """The ephemeralOwner sentinel a TTL node is stored with (top byte 0xFF, TTL below)."""
    raw = TTL_MARK | ttl
    return raw - (1 << 64)


@dataclass(slots=True)
class Node:
    data: bytes | None
    acl: list[Acl]
    czxid: int = 0
    mzxid: int = 0
    ctime: int = 0
    mtime: int = 0
    version: int = 0
    child_creates: int = 0  # the stored cversion
    aversion: int = 0
    ephemeral_owner: int = 0  # raw, with the container/TTL sentinels
    pzxid: int = 0
    children: dict[str, None] = field(default_factory=dict)  # an ordered set of child names

    @property
    def is_ephemeral(self) -> bool:
        return self.ephemeral_owner > 0

    @property
    def is_container(self) -> bool:
        return self.ephemeral_owner == CONTAINER_OWNER

    @property
    def is_ttl(self) -> bool:
        return self.ephemeral_owner < 0 and ((self.ephemeral_owner + (1 << 64)) >> 56) == 0xFF and not self.is_container

    @property
    def ttl(self) -> int:
        return (self.ephemeral_owner + (1 << 64)) & MAX_TTL if self.is_ttl else 0

    @property
    def owner_session(self) -> int:
        """The session an ephemeral belongs to, else 0 (what clients see as ephemeralOwner)."""
        return self.ephemeral_owner if self.is_ephemeral else 0

    def stat(self) -> Stat:
        n = len(self.children)
        return Stat(
            self.czxid, self.mzxid, self.ctime, self.mtime, self.version,
            _int32(2 * self.child_creates - n), self.aversion, self.owner_session,
            0 if self.data is None else len(self.data), n, self.pzxid,
        )


def parent_of(path: str) -> str:
    i = path.rfind("/")
    return "/" if i == 0 else path[:i]


def name_of(path: str) -> str:
    return path[path.rfind("/") + 1:]


def validate_path(path: str | None, sequential: bool = False) -> None:
    """PathUtils.validatePath: raise BADARGUMENTS for a path a server refuses."""
    if sequential and path is not None:
        path = path + "1"
    if not path or path[0] != "/":
        raise ZkError(Code.BADARGUMENTS, path)
    if len(path) == 1:
        return
    if path[-1] == "/":
        raise ZkError(Code.BADARGUMENTS, path)
    if "//" in path or "/./" in path or "/../" in path or path.endswith(("/.", "/..")) or _BAD_CHARS.search(path):
        raise ZkError(Code.BADARGUMENTS, path)


def split_for_create(path: str | None) -> str:
    """validatePathForCreate: the parent path, or BADARGUMENTS when there is no '/' or a NUL."""
    if path is None or "/" not in path or "\0" in path:
        raise ZkError(Code.BADARGUMENTS, path)
    i = path.rfind("/")
    return path[:i] if i > 0 else "/"


def check_version(current: int, expected: int, path: str) -> int:
    """checkAndIncVersion: -1 matches anything; returns the next version (int32 wrap)."""
    if expected != -1 and expected != current:
        raise ZkError(Code.BADVERSION, path)
    return _int32(current + 1)


Undo = Callable[[], None]


class DataTree:
    """The znode tree with its ephemeral, container and TTL indices."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {
            "/": Node(b"", list(OPEN_ACL)),
            "/zookeeper": Node(b"", list(OPEN_ACL)),
            "/zookeeper/quota": Node(b"", list(OPEN_ACL)),
            "/zookeeper/config": Node(b"", list(WORLD_READ), aversion=-1),
        }
        self.nodes["/"].children["zookeeper"] = None
        self.nodes["/zookeeper"].children["quota"] = None
        self.nodes["/zookeeper"].children["config"] = None
        self.ephemerals: dict[int, dict[str, None]] = {}
        self.containers: dict[str, None] = {}
        self.ttls: dict[str, None] = {}
        self._undo: list[Undo] | None = None

    # -- lookups -----------------------------------------------------------------
    def get(self, path: str) -> Node | None:
        return self.nodes.get(path)

    def need(self, path: str) -> Node:
        node = self.nodes.get(path)
        if node is None:
            raise ZkError(Code.NONODE, path)
        return node

    def __len__(self) -> int:
        return len(self.nodes)

    def descendants(self, path: str) -> int:
        """getAllChildrenNumber: every node below ``path``."""
        node = self.need(path)
        total = 0
        stack = [(path, node)]
        while stack:
            p, n = stack.pop()
            for child in n.children:
                cp = ("" if p == "/" else p) + "/" + child
                total += 1
                stack.append((cp, self.nodes[cp]))
        return total

    def ephemerals_of(self, session_id: int) -> list[str]:
        return list(self.ephemerals.get(session_id, ()))

    # -- undo log (multi) --------------------------------------------------------
    def begin(self) -> None:
        self._undo = []

    def commit(self) -> None:
        self._undo = None

    def rollback(self) -> None:
        undo = self._undo or []
        self._undo = None
        for step in reversed(undo):
            step()

    def _record(self, step: Undo) -> None:
        if self._undo is not None:
            self._undo.append(step)

    # -- mutations ---------------------------------------------------------------
    def prepare_create(self, path: str, flags: CreateMode, parent: Node) -> str:
        """The final path of a create (sequential suffix), checked for existence and ephemeral parents."""
        if flags.sequential:
            path = path + "%010d" % parent.child_creates
        validate_path(path)
        if path in self.nodes:
            raise ZkError(Code.NODEEXISTS, path)
        if parent.is_ephemeral:
            raise ZkError(Code.NOCHILDRENFOREPHEMERALS, path)
        return path

    def create(self, path: str, data: bytes | None, acl: list[Acl], owner: int, zxid: int, now: int) -> Node:
        """Insert a node whose checks ``prepare_create`` already passed."""
        parent_path = parent_of(path)
        parent = self.nodes[parent_path]
        node = Node(data, acl, zxid, zxid, now, now, 0, 0, 0, owner, zxid)
        old_creates, old_pzxid = parent.child_creates, parent.pzxid
        self.nodes[path] = node
        parent.children[name_of(path)] = None
        parent.child_creates = _int32(parent.child_creates + 1)
        parent.pzxid = zxid
        index = self._index_for(node)
        if index is not None:
            index.setdefault(path, None)
        self._record(lambda: self._uncreate(path, parent, old_creates, old_pzxid))
        if parent_path.startswith(QUOTA_ROOT + "/") and name_of(path) == QUOTA_STATS:
            self._quota_recount(parent_path[len(QUOTA_ROOT):])
        self._quota_update(path, 0 if data is None else len(data), 1)
        return node

    def _index_for(self, node: Node) -> dict[str, None] | None:
        if node.is_container:
            return self.containers
        if node.is_ttl:
            return self.ttls
        if node.is_ephemeral:
            return self.ephemerals.setdefault(node.ephemeral_owner, {})
        return None

    def _uncreate(self, path: str, parent: Node, creates: int, pzxid: int) -> None:
        node = self.nodes.pop(path)
        parent.children.pop(name_of(path), None)
        parent.child_creates, parent.pzxid = creates, pzxid
        index = self._index_for(node)
        if index is not None:
            index.pop(path, None)
            if node.is_ephemeral and not index:
                self.ephemerals.pop(node.ephemeral_owner, None)

    def delete(self, path: str, zxid: int) -> Node:
        node = self.nodes.pop(path)
        parent = self.nodes[parent_of(path)]
        name = name_of(path)
        old_pzxid = parent.pzxid
        # keep the parent's child order on undo (only inside multi: this is O(children))
        order = list(parent.children) if self._undo is not None else []
        del parent.children[name]
        parent.pzxid = zxid
        index = self._index_for(node)
        if index is not None:
            index.pop(path, None)
            if node.is_ephemeral and not index:
                self.ephemerals.pop(node.ephemeral_owner, None)

        def undo() -> None:
            self.nodes[path] = node
            parent.children = dict.fromkeys(order)
            parent.pzxid = old_pzxid
            idx = self._index_for(node)
            if idx is not None:
                idx[path] = None

        self._record(undo)
        self._quota_update(path, -(0 if node.data is None else len(node.data)), -1)
        return node

    def set_data(self, node: Node, data: bytes | None, version: int, zxid: int, now: int,
                 path: str | None = None) -> None:
        """Replace a node's data; with ``path``, the quota stats above it follow the size change."""
        old = (node.data, node.version, node.mzxid, node.mtime)
        node.data, node.version, node.mzxid, node.mtime = data, version, zxid, now

        def undo() -> None:
            node.data, node.version, node.mzxid, node.mtime = old

        self._record(undo)
        if path is not None:
            self._quota_update(path, (0 if data is None else len(data)) - (0 if old[0] is None else len(old[0])), 0)

    # -- quotas (DataTree.updateQuotaStat / updateQuotaForPath) ---------------------
    def _quota_prefix(self, path: str) -> str | None:
        """getMaxPrefixWithQuota: the deepest ancestor-or-self of ``path`` (not "/") with a limits node."""
        if not self.nodes[QUOTA_ROOT].children or path.startswith(QUOTA_ROOT + "/"):
            return None
        p = path
        while p != "/":
            if f"{QUOTA_ROOT}{p}/{QUOTA_LIMITS}" in self.nodes:
                return p
            p = parent_of(p)
        return None

    def _set_quota_stats(self, quota_path: str, count: int, size: int) -> None:
        """Rewrite a stats node's data in place, as the server does (its version and mzxid stay)."""
        stats = self.nodes.get(f"{QUOTA_ROOT}{quota_path}/{QUOTA_STATS}")
        if stats is None:
            return
        old = stats.data
        stats.data = f"count={count},bytes={size}".encode()

        def undo() -> None:
            stats.data = old

        self._record(undo)

    def _quota_update(self, path: str, size_diff: int, count_diff: int) -> None:
        prefix = self._quota_prefix(path)
        if prefix is None:
            return
        stats = self.nodes.get(f"{QUOTA_ROOT}{prefix}/{QUOTA_STATS}")
        if stats is None:
            return
        fields = dict(part.split("=", 1) for part in (stats.data or b"").decode("utf-8", "replace").split(",")
                      if "=" in part)
        try:
            count, size = int(fields.get("count", "0")), int(fields.get("bytes", "0"))
        except ValueError:
            return
        self._set_quota_stats(prefix, count + count_diff, size + size_diff)

    def _quota_recount(self, quota_path: str) -> None:
        """A new stats node starts from the real size of the subtree (the node itself included)."""
        count = size = 0
        stack = [quota_path] if quota_path in self.nodes else []
        while stack:
            p = stack.pop()
            node = self.nodes[p]
            count += 1
            size += 0 if node.data is None else len(node.data)
            stack.extend(f"{'' if p == '/' else p}/{c}" for c in node.children)
        self._set_quota_stats(quota_path, count, size)

    def set_acl(self, node: Node, acl: list[Acl], aversion: int) -> None:
        old = (node.acl, node.aversion)
        node.acl, node.aversion = acl, aversion

        def undo() -> None:
            node.acl, node.aversion = old

        self._record(undo)

    # -- iteration (snapshots, 4lw) ----------------------------------------------
    def walk(self) -> Iterator[tuple[str, Node]]:
        """Every node, parents before children."""
        stack = ["/"]
        while stack:
            path = stack.pop()
            node = self.nodes[path]
            yield path, node
            prefix = "" if path == "/" else path
            stack.extend(reversed([f"{prefix}/{c}" for c in node.children]))
