"""ZooKeeper client-port messages: request/reply dispatch by opcode, multi framing, handshake, notifications.

This module owns the shape of whole frames (payloads, without the 4-byte length
that ``wire.framing`` adds and strips):

* the handshake: a bare ``ConnectRequest`` from the client, a bare
  ``ConnectResponse`` back. Their trailing ``readOnly`` byte is optional both
  ways (``read_only is None`` when absent); a server answers in the client's form
  by passing the presence on (44-byte request -> 36-byte reply, 45 -> 37);
* after it, ``RequestHeader{xid, type}`` + the request record for ``type``
  (``REQUEST_RECORDS``), answered by ``ReplyHeader{xid, zxid, err}`` + the response
  record (``RESPONSE_RECORDS``), present only when ``err == 0``;
* multi (14) and multiRead (22): a list of ``MultiHeader{type, done=false, err=-1}``
  + request record, ended by ``MultiHeader{-1, true, -1}``; the reply is, per op,
  ``MultiHeader{type, false, err}`` + the result body (``MULTI_RESULT_RECORDS``;
  type -1 carries ``ErrorResponse``), ended by the same terminator;
* watch notifications: ``ReplyHeader{xid=-1, zxid, err=0}`` + ``WatcherEvent``.

Decoders raise only ``DecodeError`` subclasses and consume the whole payload. A
request whose header decoded but whose opcode is unknown raises
``UnknownOpcodeError``, and one whose body is bad ``BadRequestBodyError``; both carry
the ``xid`` so a server can answer UNIMPLEMENTED (-6) or MARSHALLINGERROR (-5) to it.
Encoders raise ``EncodeError`` for a body that does not fit the opcode.

The constants of ``wire.zk.constants`` and ``wire.zk.error_codes`` are re-exported here.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, TypeAlias

from wire.errors import DecodeError, EncodeError, MalformedError, TrailingBytesError, TruncatedError
from wire.primitives import Buffer, decoding_errors, encoding_errors
from wire.zk import records as r
from wire.zk.constants import (
    ANYONE_ID_UNSAFE, AUTH_IDS, CREATOR_ALL_ACL, MAX_BUFFER, MULTI_READ_OPS, MULTI_WRITE_OPS, OPEN_ACL_UNSAFE,
    READ_ACL_UNSAFE, AddWatchMode, CreateMode, EventType, KeeperState, OpCode, Perms, WatcherType, Xid,
)
from wire.zk.error_codes import Code
from wire.zk.jute import JuteRecord

__all__ = [
    # re-exported constants
    "ANYONE_ID_UNSAFE", "AUTH_IDS", "CREATOR_ALL_ACL", "MAX_BUFFER", "MULTI_READ_OPS", "MULTI_WRITE_OPS",
    "OPEN_ACL_UNSAFE", "READ_ACL_UNSAFE", "AddWatchMode", "Code", "CreateMode", "EventType", "KeeperState",
    "OpCode", "Perms", "WatcherType", "Xid",
    # this module
    "MULTI_REQUEST_RECORDS", "MULTI_RESULT_RECORDS", "REQUEST_RECORDS", "RESPONSE_RECORDS",
    "BadRequestBodyError", "MultiOp", "MultiResult", "ReplyBody", "Request", "RequestBody", "RequestError",
    "UnknownOpcodeError",
    "decode_connect_request", "decode_connect_response", "decode_multi_ops", "decode_multi_results",
    "decode_reply", "decode_request", "encode_multi_ops", "encode_multi_results", "encode_notification",
    "encode_reply", "encode_request", "reply_header",
]

# -- dispatch tables (opcodes.md §2, §3) ----------------------------------------------------

#: The request record a client sends with each opcode; None: the header is the whole request.
#: multi and multiRead are absent: their bodies are lists (``decode_multi_ops``).
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

#: The response record for each opcode when ``err == 0``; None: the reply header is the whole reply.
RESPONSE_RECORDS: dict[int, type[JuteRecord] | None] = {
    OpCode.notification: r.WatcherEvent,  # server to client only, with xid -1
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
    OpCode.addWatch: r.ErrorResponse,  # always ErrorResponse{0}
    OpCode.whoAmI: r.WhoAmIResponse,
    OpCode.closeSession: None,
}

#: The request record of each op allowed inside multi (``MULTI_WRITE_OPS``) or multiRead (``MULTI_READ_OPS``).
#: ZooKeeper parses both kinds in either request; refusing a mix is the server's business.
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

#: The body after each per-op MultiHeader of a multi/multiRead reply, by result type; None: no body.
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

_MULTI_OPCODES = (OpCode.multi, OpCode.multiRead)
_HEADER_ONLY_REPLY_XIDS = (Xid.PING, Xid.AUTH)

_REQUEST_HEADER = struct.Struct(">ii")
_REPLY_HEADER = struct.Struct(">iqi")
_MULTI_HEADER = struct.Struct(">i?i")
_MULTI_END = _MULTI_HEADER.pack(-1, True, -1)


# -- shapes -----------------------------------------------------------------------------------

class MultiOp(NamedTuple):
    """One op of a multi/multiRead request. Encoders take any ``(op, request)`` pair."""

    op: int
    request: JuteRecord


class MultiResult(NamedTuple):
    """One result of a multi/multiRead reply. Encoders take any ``(type, err, body)`` triple.

    ``type`` is the op's result type, -1 for an error; ``err`` is the MultiHeader's err.
    ZooKeeper writes err 0 for a success and, for an error, the same code in the header
    and in the ``ErrorResponse`` body (an encoder given None for that body writes it).
    Readers (Java's ``MultiResponse``) ignore the header's err, so a decoder keeps both
    as sent and an encoder does not check that they agree.
    """

    type: int
    err: int
    body: JuteRecord | None


RequestBody: TypeAlias = JuteRecord | list[MultiOp] | None
ReplyBody: TypeAlias = JuteRecord | list[MultiResult] | None


@dataclass(slots=True)
class Request:
    """A decoded client frame after the handshake."""

    xid: int
    op: OpCode
    body: RequestBody  # the request record, a list of MultiOp for multi/multiRead, or None

    @property
    def header(self) -> r.RequestHeader:
        return r.RequestHeader(self.xid, int(self.op))


class RequestError(DecodeError):
    """A request whose header decoded (so ``xid`` is known) but which cannot be served as sent."""

    xid: int


class UnknownOpcodeError(RequestError):
    """The opcode is not one a client may send; a server answers UNIMPLEMENTED (-6) with zxid -1, then closes.

    ``opcode`` is the number received. ``op`` is None (no known operation), which
    is how callers that duck-type on ``op`` tell this from ``BadRequestBodyError``.
    """

    def __init__(self, xid: int, opcode: int) -> None:
        super().__init__(f"xid {xid}: unknown opcode {opcode}")
        self.xid = xid
        self.opcode = opcode
        self.op = None


class BadRequestBodyError(RequestError):
    """A known opcode whose body does not decode (``cause`` says how); a server answers MARSHALLINGERROR (-5)."""

    def __init__(self, xid: int, op: OpCode, cause: DecodeError) -> None:
        super().__init__(f"xid {xid}, {op.name}: {cause}")
        self.xid = xid
        self.op = op
        self.cause = cause


# -- multi ------------------------------------------------------------------------------------

def decode_multi_ops(buf: Buffer, pos: int = 0) -> tuple[list[MultiOp], int]:
    """The ops of a multi/multiRead request body, up to and including the terminator (any header with done set)."""
    ops: list[MultiOp] = []
    with decoding_errors("multi"):
        while True:
            op, done, _err = _MULTI_HEADER.unpack_from(buf, pos)
            pos += _MULTI_HEADER.size
            if done:
                return ops, pos
            try:
                key = OpCode(op)
                cls = MULTI_REQUEST_RECORDS[key]
            except (ValueError, KeyError):
                raise MalformedError(f"multi: opcode {op} is not allowed inside multi") from None
            record, pos = cls.decode_from(buf, pos)
            ops.append(MultiOp(key, record))


def encode_multi_ops(out: bytearray, ops: Iterable[tuple[int, JuteRecord]]) -> None:
    if isinstance(ops, (str, bytes, bytearray, memoryview, JuteRecord)) or not isinstance(ops, Iterable):
        raise EncodeError(f"multi: expected a list of (op, request) pairs, got {type(ops).__name__}")
    for item in ops:
        if not isinstance(item, tuple) or len(item) != 2:
            raise EncodeError(f"multi: expected an (op, request) pair, got {item!r}")
        op, record = item
        cls = MULTI_REQUEST_RECORDS.get(op) if isinstance(op, int) else None
        if cls is None:
            raise EncodeError(f"multi: opcode {op!r} is not allowed inside multi")
        if not isinstance(record, cls):
            raise EncodeError(f"multi: {OpCode(op).name} takes {cls.__name__}, got {type(record).__name__}")
        out += _MULTI_HEADER.pack(op, False, -1)
        record.encode_into(out)
    out += _MULTI_END


def decode_multi_results(buf: Buffer, pos: int = 0) -> tuple[list[MultiResult], int]:
    """The results of a multi/multiRead reply body, up to and including the terminator."""
    results: list[MultiResult] = []
    with decoding_errors("multi reply"):
        while True:
            rtype, done, err = _MULTI_HEADER.unpack_from(buf, pos)
            pos += _MULTI_HEADER.size
            if done:
                return results, pos
            try:
                key = OpCode(rtype)
                cls = MULTI_RESULT_RECORDS[key]
            except (ValueError, KeyError):
                raise MalformedError(f"multi reply: unknown result type {rtype}") from None
            record: JuteRecord | None = None
            if cls is not None:
                record, pos = cls.decode_from(buf, pos)
            results.append(MultiResult(key, err, record))


def encode_multi_results(out: bytearray, results: Iterable[tuple[int, int, JuteRecord | None]]) -> None:
    if isinstance(results, (str, bytes, bytearray, memoryview, JuteRecord)) or not isinstance(results, Iterable):
        raise EncodeError(f"multi reply: expected a list of results, got {type(results).__name__}")
    for item in results:
        if not isinstance(item, tuple) or len(item) != 3:
            raise EncodeError(f"multi reply: expected a (type, err, body) triple, got {item!r}")
        rtype, err, body = item
        if not isinstance(rtype, int) or rtype not in MULTI_RESULT_RECORDS:
            raise EncodeError(f"multi reply: {rtype!r} is not a result type")
        cls = MULTI_RESULT_RECORDS[OpCode(rtype)]
        if rtype == OpCode.error and body is None and isinstance(err, int):
            body = r.ErrorResponse(err)
        if cls is None and body is not None:
            raise EncodeError(f"multi reply: a {OpCode(rtype).name} result has no body, got {type(body).__name__}")
        if cls is not None and not isinstance(body, cls):
            raise EncodeError(f"multi reply: a {OpCode(rtype).name} result is {cls.__name__}, got {type(body).__name__}")
        with encoding_errors("MultiHeader"):
            out += _MULTI_HEADER.pack(rtype, False, err)
        if body is not None:
            body.encode_into(out)
    out += _MULTI_END


# -- requests (client -> server) ------------------------------------------------------------

def decode_request(payload: Buffer) -> Request:
    """A client frame after the handshake: RequestHeader + the body for its opcode, filling the payload.

    Raises ``TruncatedError`` if there is no whole header, ``UnknownOpcodeError`` or
    ``BadRequestBodyError`` (with the xid) otherwise.
    """
    if len(payload) < 8:
        raise TruncatedError(f"request of {len(payload)} bytes has no complete RequestHeader")
    xid, raw_op = _REQUEST_HEADER.unpack_from(payload, 0)
    try:
        op = OpCode(raw_op)
    except ValueError:
        raise UnknownOpcodeError(xid, raw_op) from None
    try:
        if op in _MULTI_OPCODES:
            ops, end = decode_multi_ops(payload, 8)
            if end != len(payload):
                raise TrailingBytesError(f"{len(payload) - end} bytes after the multi terminator")
            return Request(xid, op, ops)
        if op not in REQUEST_RECORDS:
            raise UnknownOpcodeError(xid, raw_op)
        cls = REQUEST_RECORDS[op]
        if cls is None:
            if len(payload) != 8:
                raise TrailingBytesError(f"{len(payload) - 8} bytes after a header-only request")
            return Request(xid, op, None)
        return Request(xid, op, cls.decode(payload, 8))
    except UnknownOpcodeError:
        raise
    except DecodeError as exc:
        raise BadRequestBodyError(xid, op, exc) from exc


def encode_request(xid: int, op: int, body: RequestBody | Sequence[tuple[int, JuteRecord]] = None) -> bytes:
    """RequestHeader + body. ``body`` must be the record ``REQUEST_RECORDS`` names for ``op`` (None for
    header-only ops), or a list of ``(op, request)`` for multi/multiRead. An opcode the table does not
    know is written with any record or none, so tests can probe a server with it.
    """
    with encoding_errors("RequestHeader"):
        out = bytearray(_REQUEST_HEADER.pack(xid, op))
    if op in _MULTI_OPCODES:
        if body is None or isinstance(body, JuteRecord):
            raise EncodeError(f"{OpCode(op).name} takes a list of (op, request) pairs, got {type(body).__name__}")
        encode_multi_ops(out, body)
        return bytes(out)
    if op in REQUEST_RECORDS:
        cls = REQUEST_RECORDS[op]
        if cls is None and body is not None:
            raise EncodeError(f"{OpCode(op).name} is header-only, got a {type(body).__name__} body")
        if cls is not None and not isinstance(body, cls):
            raise EncodeError(f"{OpCode(op).name} takes {cls.__name__}, got {type(body).__name__}")
    if isinstance(body, JuteRecord):
        body.encode_into(out)
    elif body is not None:
        raise EncodeError(f"opcode {op}: the body must be a jute record, got {type(body).__name__}")
    return bytes(out)


# -- replies (server -> client) -------------------------------------------------------------

def encode_reply(xid: int, zxid: int, err: int, body: ReplyBody | Sequence[tuple[int, int, JuteRecord | None]] = None
                 ) -> bytes:
    """ReplyHeader + body: a response record, a list of ``(type, err, body)`` multi results, or None.

    A body goes only with ``err == 0`` (ZooKeeper sends none with an error).
    """
    with encoding_errors("ReplyHeader"):
        out = bytearray(_REPLY_HEADER.pack(xid, zxid, err))
    if body is None:
        return bytes(out)
    if err != 0:
        raise EncodeError(f"a reply with err {err} carries no body, got {type(body).__name__}")
    if isinstance(body, JuteRecord):
        body.encode_into(out)
    else:
        encode_multi_results(out, body)
    return bytes(out)


def reply_header(payload: Buffer) -> r.ReplyHeader:
    """Just the ReplyHeader of a server frame (a client looks the xid up before decoding the body)."""
    header, _ = r.ReplyHeader.decode_from(payload, 0)
    return header


def decode_reply(payload: Buffer, op: int) -> tuple[r.ReplyHeader, ReplyBody]:
    """A server frame, as the answer to a request of opcode ``op`` (client side).

    Whatever ``op`` is, xid -1 is a notification (body ``WatcherEvent``) and xids -2
    (ping) and -4 (auth) are header-only replies. Otherwise the body is decoded only
    when ``err == 0``: multi results for multi/multiRead, else ``RESPONSE_RECORDS[op]``
    (an opcode the table does not know is taken as header-only).
    """
    header, pos = r.ReplyHeader.decode_from(payload, 0)
    body: ReplyBody = None
    cls: type[JuteRecord] | None = None
    if header.xid == Xid.NOTIFICATION:
        cls = r.WatcherEvent
    elif header.err != 0 or header.xid in _HEADER_ONLY_REPLY_XIDS:
        pass
    elif op in _MULTI_OPCODES:
        body, pos = decode_multi_results(payload, pos)
    else:
        cls = RESPONSE_RECORDS.get(op)
    if cls is not None:
        return header, cls.decode(payload, pos)
    if pos != len(payload):
        raise TrailingBytesError(f"{len(payload) - pos} bytes after the reply")
    return header, body


def encode_notification(event_type: int, path: str | None, zxid: int = -1,
                        state: int = KeeperState.SyncConnected) -> bytes:
    """A watch event frame: ReplyHeader{-1, zxid, 0} + WatcherEvent. 3.8 sends zxid -1; 3.9 the firing txn's zxid."""
    with encoding_errors("ReplyHeader"):
        out = bytearray(_REPLY_HEADER.pack(Xid.NOTIFICATION, zxid, 0))
    r.WatcherEvent(event_type, state, path).encode_into(out)
    return bytes(out)


# -- the handshake --------------------------------------------------------------------------

def decode_connect_request(payload: Buffer) -> r.ConnectRequest:
    """The first client frame. ``read_only`` is None when the frame ends before the readOnly byte."""
    return r.ConnectRequest.decode(payload)


def decode_connect_response(payload: Buffer) -> r.ConnectResponse:
    """The server's first frame. ``read_only`` is None when the frame ends before the readOnly byte."""
    return r.ConnectResponse.decode(payload)
