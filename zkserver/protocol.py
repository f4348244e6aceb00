"""The server's view of the wire: the ``wire.zk`` names the core uses, and small conversions.

Keeps ``zkserver.core`` free of framing details: it receives decoded records
and returns records; this module turns the core's replies and notifications
into payloads and converts ACLs between wire records and the core's tuples.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wire.zk import protocol as zp
from wire.zk import records as R
from wire.zk.protocol import Code, CreateMode, EventType, KeeperState, OpCode, WatcherType
from zkserver.acl import Acl
from zkserver.errors import ZkError

if TYPE_CHECKING:
    from zkserver.core import Notification, Reply

__all__ = ["Code", "CreateMode", "EventType", "OpCode", "R", "WatcherType", "acl_record", "acl_tuple",
           "create_flags", "decode_connect", "decode_request", "encode_connect_response", "encode_event",
           "encode_reply"]


def create_flags(flags: int) -> CreateMode:
    try:
        return CreateMode(flags)
    except ValueError:
        raise ZkError(Code.BADARGUMENTS) from None


def acl_tuple(entry: R.ACL) -> Acl:
    if entry is None or entry.id is None or entry.id.scheme is None:
        raise ZkError(Code.INVALIDACL)
    return Acl(entry.perms, entry.id.scheme, entry.id.id or "")


def acl_record(entry: Acl) -> R.ACL:
    return R.ACL(entry.perms, R.Id(entry.scheme, entry.id))


def decode_connect(payload: bytes) -> R.ConnectRequest:
    return zp.decode_connect_request(payload)


def decode_request(payload: bytes) -> zp.Request:
    return zp.decode_request(payload)


def encode_connect_response(body: R.ConnectResponse) -> bytes:
    return body.encode()


def encode_reply(reply: Reply) -> bytes:
    return zp.encode_reply(reply.xid, reply.zxid, reply.err, reply.body)


def encode_event(note: Notification) -> bytes:
    return zp.encode_notification(note.type, note.path, note.zxid, KeeperState.SyncConnected)
