"""ZooKeeper protocol constants: opcodes, special xids, watch enums, permissions, ACL sets, create modes.

This module owns the numbers of the client protocol that are not error codes
(those are in ``wire.zk.error_codes``). Values are restated from ZooKeeper 3.9.5
(``shared/zookeeper-protocol/opcodes.md`` §1, §2, §5, §6, §7; identical in 3.8.0
except WatcherType 4 and 5, added in 3.9.0).
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

from wire.zk.records import ACL, Id

__all__ = [
    "ANYONE_ID_UNSAFE", "AUTH_IDS", "CREATOR_ALL_ACL", "MAX_BUFFER", "MULTI_READ_OPS", "MULTI_WRITE_OPS",
    "OPEN_ACL_UNSAFE", "READ_ACL_UNSAFE", "AddWatchMode", "CreateMode", "EventType", "KeeperState", "OpCode",
    "Perms", "WatcherType", "Xid",
]

#: ``jute.maxbuffer`` default: the largest frame payload a server accepts (1 MiB - 1).
MAX_BUFFER = 0xFFFFF


class OpCode(IntEnum):
    """``ZooDefs.OpCode``: the ``type`` of a RequestHeader, and of a MultiHeader inside multi."""

    notification = 0
    create = 1
    delete = 2
    exists = 3
    getData = 4
    setData = 5
    getACL = 6
    setACL = 7
    getChildren = 8
    sync = 9
    ping = 11
    getChildren2 = 12
    check = 13
    multi = 14
    create2 = 15
    reconfig = 16
    checkWatches = 17
    removeWatches = 18
    createContainer = 19
    deleteContainer = 20
    createTTL = 21
    multiRead = 22
    auth = 100
    setWatches = 101
    sasl = 102
    getEphemerals = 103
    getAllChildrenNumber = 104
    setWatches2 = 105
    addWatch = 106
    whoAmI = 107
    createSession = -10
    closeSession = -11
    error = -1


#: Ops a ``multi`` (14) may carry, and ops a ``multiRead`` (22) may carry.
MULTI_WRITE_OPS = frozenset({OpCode.create, OpCode.create2, OpCode.createTTL, OpCode.createContainer,
                             OpCode.delete, OpCode.setData, OpCode.check})
MULTI_READ_OPS = frozenset({OpCode.getData, OpCode.getChildren})


class Xid(IntEnum):
    """The xids with a fixed meaning; every other xid is chosen by the client and echoed back."""

    NOTIFICATION = -1  # server to client: ReplyHeader + WatcherEvent
    PING = -2  # opcode 11, header only both ways
    AUTH = -4  # opcode 100; the reply has zxid 0
    SET_WATCHES = -8  # opcode 101 / 105, sent by client libraries on reconnect


class EventType(IntEnum):
    """``Watcher.Event.EventType``: ``WatcherEvent.type``."""

    None_ = -1
    NodeCreated = 1
    NodeDeleted = 2
    NodeDataChanged = 3
    NodeChildrenChanged = 4
    DataWatchRemoved = 5
    ChildWatchRemoved = 6
    PersistentWatchRemoved = 7


class KeeperState(IntEnum):
    """``Watcher.Event.KeeperState``: ``WatcherEvent.state`` (3 for every node event)."""

    Unknown = -1
    Disconnected = 0
    NoSyncConnected = 1
    SyncConnected = 3
    AuthFailed = 4
    ConnectedReadOnly = 5
    SaslAuthenticated = 6
    Closed = 7
    Expired = -112


class WatcherType(IntEnum):
    """``Watcher.WatcherType``: the ``type`` of CheckWatchesRequest / RemoveWatchesRequest."""

    Children = 1
    Data = 2
    Any = 3
    Persistent = 4  # 3.9.0+
    PersistentRecursive = 5  # 3.9.0+


class AddWatchMode(IntEnum):
    """``AddWatchRequest.mode``."""

    PERSISTENT = 0
    PERSISTENT_RECURSIVE = 1


class Perms(IntFlag):
    """``ZooDefs.Perms``: the bits of ``ACL.perms``."""

    READ = 1
    WRITE = 2
    CREATE = 4
    DELETE = 8
    ADMIN = 16
    ALL = 31


class CreateMode(IntEnum):
    """``CreateRequest.flags``; any other value is refused with BADARGUMENTS (-8)."""

    PERSISTENT = 0
    EPHEMERAL = 1
    PERSISTENT_SEQUENTIAL = 2
    EPHEMERAL_SEQUENTIAL = 3
    CONTAINER = 4
    PERSISTENT_WITH_TTL = 5
    PERSISTENT_SEQUENTIAL_WITH_TTL = 6

    @property
    def ephemeral(self) -> bool:
        return self in (CreateMode.EPHEMERAL, CreateMode.EPHEMERAL_SEQUENTIAL)

    @property
    def sequential(self) -> bool:
        return self in (CreateMode.PERSISTENT_SEQUENTIAL, CreateMode.EPHEMERAL_SEQUENTIAL,
                        CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL)

    @property
    def container(self) -> bool:
        return self is CreateMode.CONTAINER

    @property
    def ttl(self) -> bool:
        return self in (CreateMode.PERSISTENT_WITH_TTL, CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL)


# Well-known ids (``ZooDefs.Ids``) and the built-in ACL lists. Records are mutable: copy before changing.
ANYONE_ID_UNSAFE = Id("world", "anyone")
AUTH_IDS = Id("auth", "")  # replaced at create/setACL time by the caller's authenticated ids

OPEN_ACL_UNSAFE: tuple[ACL, ...] = (ACL(Perms.ALL, ANYONE_ID_UNSAFE),)
CREATOR_ALL_ACL: tuple[ACL, ...] = (ACL(Perms.ALL, AUTH_IDS),)
READ_ACL_UNSAFE: tuple[ACL, ...] = (ACL(Perms.READ, ANYONE_ID_UNSAFE),)
