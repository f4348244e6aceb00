"""ZooKeeper protocol constants and the framing of requests, replies, multi and notifications.

Constants are restated from ZooKeeper 3.9.5 (``shared/zookeeper-protocol/opcodes.md``).
A client frame after the handshake is ``RequestHeader{xid, type}`` + the
request record for ``type``; a server frame is ``ReplyHeader{xid, zxid, err}``
+ the response record, present only when ``err == 0`` (multi results carry
their own per-op errors). Payloads here exclude the 4-byte length prefix
(``wire.framing`` adds and strips it).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum, IntFlag
from typing import Any

from wire.errors import DecodeError, EncodeError, TrailingBytesError
from wire.primitives import Buffer, decoding_errors
from wire.zk import records as r
from wire.zk.jute import JuteRecord

MAX_BUFFER = 0xFFFFF  # jute.maxbuffer default: 1 MiB - 1


class OpCode(IntEnum):
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


class Code(IntEnum):
    """KeeperException.Code."""

    OK = 0
    SYSTEMERROR = -1
    RUNTIMEINCONSISTENCY = -2
    DATAINCONSISTENCY = -3
    CONNECTIONLOSS = -4
    MARSHALLINGERROR = -5
    UNIMPLEMENTED = -6
    OPERATIONTIMEOUT = -7
    BADARGUMENTS = -8
    UNKNOWNSESSION = -12
    NEWCONFIGNOQUORUM = -13
    RECONFIGINPROGRESS = -14
    APIERROR = -100
    NONODE = -101
    NOAUTH = -102
    BADVERSION = -103
    NOCHILDRENFOREPHEMERALS = -108
    NODEEXISTS = -110
    NOTEMPTY = -111
    SESSIONEXPIRED = -112
    INVALIDCALLBACK = -113
    INVALIDACL = -114
    AUTHFAILED = -115
    SESSIONMOVED = -118
    NOTREADONLY = -119
    EPHEMERALONLOCALSESSION = -120
    NOWATCHER = -121
    REQUESTTIMEOUT = -122
    RECONFIGDISABLED = -123
    SESSIONCLOSEDREQUIRESASLAUTH = -124
    QUOTAEXCEEDED = -125
    THROTTLEDOP = -127


class EventType(IntEnum):
    None_ = -1
    NodeCreated = 1
    NodeDeleted = 2
    NodeDataChanged = 3
    NodeChildrenChanged = 4
    DataWatchRemoved = 5
    ChildWatchRemoved = 6
    PersistentWatchRemoved = 7


class KeeperState(IntEnum):
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
    Children = 1
    Data = 2
    Any = 3
    Persistent = 4
    PersistentRecursive = 5


class AddWatchMode(IntEnum):
    PERSISTENT = 0
    PERSISTENT_RECURSIVE = 1


class Perms(IntFlag):
    READ = 1
    WRITE = 2
    CREATE = 4
    DELETE = 8
    ADMIN = 16
    ALL = 31


class CreateMode(IntEnum):
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


class Xid:
    """The special xids."""

    NOTIFICATION = -1
    PING = -2
    AUTH = -4
    SET_WATCHES = -8


OPEN_ACL_UNSAFE = (r.ACL(Perms.ALL, r.Id("world", "anyone")),)
CREATOR_ALL_ACL = (r.ACL(Perms.ALL, r.Id("auth", "")),)
READ_ACL_UNSAFE = (r.ACL(Perms.READ, r.Id("world", "anyone")),)

# the request record for each opcode a client sends (None: header only)
REQUEST_RECORDS: dict[int, type[JuteRecord] | None] = {
    OpCode.create: r.CreateRequest,
    OpCode.delete: r.DeleteRequest,
    OpCode.exists: r.ExistsRequest,
    OpCode.getData: r.GetDataRequest,
    OpCode.setData: r.SetDataRequest,
    OpCode.getACL: r.GetACLRequest,
    OpCode.setACL: r.SetACLRequest,
    OpCode.getChildren: r.GetChildrenRequest,
    OpCode.sync: r.SyncRequest,
    OpCode.ping: None,
    OpCode.getChildren2: r.GetChildren2Request,
    OpCode.check: r.CheckVersionRequest,
    OpCode.create2: r.CreateRequest,
    OpCode.reconfig: r.ReconfigRequest,
    OpCode.checkWatches: r.CheckWatchesRequest,
    OpCode.removeWatches: r.RemoveWatchesRequest,
    OpCode.createContainer: r.CreateRequest,
    OpCode.createTTL: r.CreateTTLRequest,
    OpCode.auth: r.AuthPacket,
    OpCode.setWatches: r.SetWatches,
    OpCode.sasl: r.GetSASLRequest,
    OpCode.getEphemerals: r.GetEphemeralsRequest,
    OpCode.getAllChildrenNumber: r.GetAllChildrenNumberRequest,
    OpCode.setWatches2: r.SetWatches2,
    OpCode.addWatch: r.AddWatchRequest,
    OpCode.whoAmI: None,
    OpCode.closeSession: None,
}

# the response record for each opcode when err == 0 (None: header only)
RESPONSE_RECORDS: dict[int, type[JuteRecord] | None] = {
    OpCode.create: r.CreateResponse,
    OpCode.delete: None,
    OpCode.exists: r.ExistsResponse,
    OpCode.getData: r.GetDataResponse,
    OpCode.setData: r.SetDataResponse,
    OpCode.getACL: r.GetACLResponse,
    OpCode.setACL: r.SetACLResponse,
    OpCode.getChildren: r.GetChildrenResponse,
    OpCode.sync: r.SyncResponse,
    OpCode.ping: None,
    OpCode.getChildren2: r.GetChildren2Response,
    OpCode.check: None,
    OpCode.create2: r.Create2Response,
    OpCode.reconfig: r.GetDataResponse,
    OpCode.checkWatches: None,
    OpCode.removeWatches: None,
    OpCode.createContainer: r.Create2Response,
    OpCode.createTTL: r.Create2Response,
    OpCode.auth: None,
    OpCode.setWatches: None,
    OpCode.sasl: r.SetSASLResponse,
    OpCode.getEphemerals: r.GetEphemeralsResponse,
    OpCode.getAllChildrenNumber: r.GetAllChildrenNumberResponse,
    OpCode.setWatches2: None,
    OpCode.addWatch: r.ErrorResponse,
    OpCode.whoAmI: r.WhoAmIResponse,
    OpCode.closeSession: None,
}

# ops allowed inside multi (writes) and multiRead (reads), with their request records
MULTI_REQUEST_RECORDS: dict[int, type[JuteRecord]] = {
    OpCode.create: r.CreateRequest,
    OpCode.create2: r.CreateRequest,
    OpCode.createContainer: r.CreateRequest,
    OpCode.createTTL: r.CreateTTLRequest,
    OpCode.delete: r.DeleteRequest,
    OpCode.setData: r.SetDataRequest,
    OpCode.check: r.CheckVersionRequest,
    OpCode.getData: r.GetDataRequest,
    OpCode.getChildren: r.GetChildrenRequest,
}

# result bodies inside a multi response, by result type
MULTI_RESULT_RECORDS: dict[int, type[JuteRecord] | None] = {
    OpCode.create: r.CreateResponse,
    OpCode.create2: r.Create2Response,
    OpCode.setData: r.SetDataResponse,
    OpCode.getData: r.GetDataResponse,
    OpCode.getChildren: r.GetChildrenResponse,
    OpCode.delete: None,
    OpCode.check: None,
    OpCode.error: r.ErrorResponse,
}

MULTI_END = r.MultiHeader(-1, True, -1)

MultiOp = tuple[int, JuteRecord]  # (opcode, request record)
MultiResult = tuple[int, int, JuteRecord | None]  # (result type, err, result record)


class UnknownOpcodeError(DecodeError):
    """A request whose opcode the server does not know; ``xid`` lets it answer UNIMPLEMENTED."""

    def __init__(self, xid: int, op: int) -> None:
        super().__init__(f"unknown opcode {op}")
        self.xid = xid
        self.op = None  # no known operation


class BadRequestBodyError(DecodeError):
    """A known opcode whose body does not decode; ``xid`` and ``op`` let the server answer MARSHALLINGERROR."""

    def __init__(self, xid: int, op: int, cause: DecodeError) -> None:
        super().__init__(f"opcode {op}: {cause}")
        self.xid = xid
        self.op = op


_HEADER = struct.Struct(">ii")
_REPLY = struct.Struct(">iqi")
_MULTI_HEADER = struct.Struct(">i?i")


# -- multi ------------------------------------------------------------------------------

def decode_multi_ops(buf: Buffer, pos: int = 0) -> tuple[list[MultiOp], int]:
    ops: list[MultiOp] = []
    with decoding_errors("multi"):
        while True:
            op, done, _err = _MULTI_HEADER.unpack_from(buf, pos)
            pos += _MULTI_HEADER.size
            if done:
                return ops, pos
            cls = MULTI_REQUEST_RECORDS.get(op)
            if cls is None:
                raise DecodeError(f"opcode {op} is not allowed inside multi")
            record, pos = cls.decode_from(buf, pos)
            ops.append((op, record))


def encode_multi_ops(out: bytearray, ops: list[MultiOp]) -> None:
    for op, record in ops:
        out += _MULTI_HEADER.pack(op, False, -1)
        record.encode_into(out)
    out += _MULTI_HEADER.pack(-1, True, -1)


def decode_multi_results(buf: Buffer, pos: int = 0) -> tuple[list[MultiResult], int]:
    results: list[MultiResult] = []
    with decoding_errors("multi response"):
        while True:
            rtype, done, err = _MULTI_HEADER.unpack_from(buf, pos)
            pos += _MULTI_HEADER.size
            if done:
                return results, pos
            if rtype not in MULTI_RESULT_RECORDS:
                raise DecodeError(f"unknown multi result type {rtype}")
            cls = MULTI_RESULT_RECORDS[rtype]
            record: JuteRecord | None = None
            if cls is not None:
                record, pos = cls.decode_from(buf, pos)
            results.append((rtype, err, record))


def encode_multi_results(out: bytearray, results: list[MultiResult]) -> None:
    for rtype, err, record in results:
        out += _MULTI_HEADER.pack(rtype, False, err)
        if record is not None:
            record.encode_into(out)
    out += _MULTI_HEADER.pack(-1, True, -1)


# -- requests ---------------------------------------------------------------------------

@dataclass(slots=True)
class Request:
    xid: int
    op: int
    body: Any  # a request record, a list of MultiOp for multi/multiRead, or None


def decode_request(payload: Buffer) -> Request:
    """A client frame after the handshake. Raises UnknownOpcodeError / BadRequestBodyError with the xid."""
    if len(payload) < _HEADER.size:
        raise DecodeError(f"request of {len(payload)} bytes has no complete header")
    xid, op = _HEADER.unpack_from(payload, 0)
    pos = _HEADER.size
    try:
        if op in (OpCode.multi, OpCode.multiRead):
            ops, end = decode_multi_ops(payload, pos)
            if end != len(payload):
                raise TrailingBytesError(f"{len(payload) - end} bytes after the multi")
            return Request(xid, op, ops)
        if op not in REQUEST_RECORDS:
            raise UnknownOpcodeError(xid, op)
        cls = REQUEST_RECORDS[op]
        if cls is None:
            if pos != len(payload):
                raise TrailingBytesError(f"{len(payload) - pos} bytes after a header-only request")
            return Request(xid, op, None)
        return Request(xid, op, cls.decode(payload, pos))
    except UnknownOpcodeError:
        raise
    except DecodeError as exc:
        raise BadRequestBodyError(xid, op, exc) from None


def encode_request(xid: int, op: int, body: Any = None) -> bytes:
    out = bytearray(_HEADER.pack(xid, op))
    if op in (OpCode.multi, OpCode.multiRead):
        encode_multi_ops(out, body)
    elif body is not None:
        body.encode_into(out)
    return bytes(out)


# -- replies ----------------------------------------------------------------------------

def encode_reply(xid: int, zxid: int, err: int, body: Any = None) -> bytes:
    """ReplyHeader + body. ``body`` is a record, a list of MultiResult (multi), or None."""
    out = bytearray(_REPLY.pack(xid, zxid, err))
    if isinstance(body, list):
        encode_multi_results(out, body)
    elif body is not None:
        if err != 0 and not isinstance(body, r.ErrorResponse):
            raise EncodeError("a reply with an error carries no body")
        body.encode_into(out)
    return bytes(out)


def decode_reply(payload: Buffer, op: int) -> tuple[r.ReplyHeader, Any]:
    """Decode a reply to a request of opcode ``op`` (client side); notifications use ``op`` 0."""
    with decoding_errors("reply header"):
        header, pos = r.ReplyHeader.decode_from(payload, 0)
    body: Any = None
    if header.xid == Xid.NOTIFICATION:
        body = r.WatcherEvent.decode(payload, pos)
    elif op in (OpCode.multi, OpCode.multiRead) and header.err == 0:
        body, end = decode_multi_results(payload, pos)
        if end != len(payload):
            raise TrailingBytesError(f"{len(payload) - end} bytes after the multi response")
    elif header.err == 0 and RESPONSE_RECORDS.get(op) is not None:
        cls = RESPONSE_RECORDS[op]
        assert cls is not None
        body = cls.decode(payload, pos)
    elif pos != len(payload):
        raise TrailingBytesError(f"{len(payload) - pos} bytes after the reply header")
    return header, body


def encode_notification(event_type: int, path: str, zxid: int = -1, state: int = KeeperState.SyncConnected) -> bytes:
    out = bytearray(_REPLY.pack(Xid.NOTIFICATION, zxid, 0))
    r.WatcherEvent(event_type, state, path).encode_into(out)
    return bytes(out)


# -- the handshake ------------------------------------------------------------------------

def decode_connect_request(payload: Buffer) -> r.ConnectRequest:
    """The first frame; its trailing readOnly byte may be absent (then ``read_only`` is None)."""
    return r.ConnectRequest.decode(payload)


def decode_connect_response(payload: Buffer) -> r.ConnectResponse:
    return r.ConnectResponse.decode(payload)
