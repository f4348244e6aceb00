"""Transactions: what a write turns into, and their durable encoding (jute txn records) for the log and snapshots.

The core preps a request into one of these, logs it, then applies it. The log
payload is ``TxnHeader`` + the matching jute txn record, as ZooKeeper's own
log holds them (``CreateTxn``, ``CreateContainerTxn``, ``CreateTTLTxn``,
``DeleteTxn``, ``SetDataTxn``, ``SetACLTxn``, ``CheckVersionTxn``,
``CreateSessionTxn``, ``CloseSessionTxn``, ``ErrorTxn``, ``MultiTxn``).
Snapshots are this project's own jute-style layout (see ``encode_snapshot``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from wire.primitives import INT32, INT64, decoding_errors, read_bytes32, read_string32, write_bytes32, write_string32
from wire.zk import records as R
from wire.zk.protocol import OpCode
from zkserver.acl import Acl

if TYPE_CHECKING:
    from zkserver.sessions import SessionTable
    from zkserver.tree import DataTree


@dataclass(slots=True)
class TxnHeader:
    client_id: int
    cxid: int
    zxid: int
    time: int
    type: int


@dataclass(slots=True)
class Create:
    path: str
    data: bytes | None
    acl: list[Acl]
    kind: str  # "", "ephemeral", "container" or "ttl"
    parent_cversion: int
    ttl: int = 0


@dataclass(slots=True)
class Delete:
    path: str


@dataclass(slots=True)
class SetData:
    path: str
    data: bytes | None
    version: int


@dataclass(slots=True)
class SetACL:
    path: str
    acl: list[Acl]
    version: int


@dataclass(slots=True)
class CheckVersion:
    path: str
    version: int


@dataclass(slots=True)
class CreateSession:
    timeout: int


@dataclass(slots=True)
class CloseSession:
    paths: list[str]


@dataclass(slots=True)
class Error:
    code: int


@dataclass(slots=True)
class Multi:
    txns: list[Txn]


Txn = Create | Delete | SetData | SetACL | CheckVersion | CreateSession | CloseSession | Error | Multi


def _acl_records(acl: list[Acl]) -> list[R.ACL]:
    return [R.ACL(a.perms, R.Id(a.scheme, a.id)) for a in acl]


def _acls(records: list[R.ACL] | None) -> list[Acl]:
    return [Acl(a.perms, a.id.scheme or "", a.id.id or "") for a in records or []]


def _record(txn: Txn) -> tuple[int, R.JuteRecord]:
    """The txn type and jute record for a transaction."""
    if isinstance(txn, Create):
        acl = _acl_records(txn.acl)
        if txn.kind == "container":
            return OpCode.createContainer, R.CreateContainerTxn(txn.path, txn.data, acl, txn.parent_cversion)
        if txn.kind == "ttl":
            return OpCode.createTTL, R.CreateTTLTxn(txn.path, txn.data, acl, txn.parent_cversion, txn.ttl)
        return OpCode.create, R.CreateTxn(txn.path, txn.data, acl, txn.kind == "ephemeral", txn.parent_cversion)
    if isinstance(txn, Delete):
        return OpCode.delete, R.DeleteTxn(txn.path)
    if isinstance(txn, SetData):
        return OpCode.setData, R.SetDataTxn(txn.path, txn.data, txn.version)
    if isinstance(txn, SetACL):
        return OpCode.setACL, R.SetACLTxn(txn.path, _acl_records(txn.acl), txn.version)
    if isinstance(txn, CheckVersion):
        return OpCode.check, R.CheckVersionTxn(txn.path, txn.version)
    if isinstance(txn, CreateSession):
        return OpCode.createSession, R.CreateSessionTxn(txn.timeout)
    if isinstance(txn, CloseSession):
        return OpCode.closeSession, R.CloseSessionTxn(list(txn.paths))
    if isinstance(txn, Error):
        return OpCode.error, R.ErrorTxn(txn.code)
    return OpCode.multi, R.MultiTxn([R.Txn(t, rec.encode()) for t, rec in map(_record, txn.txns)])


def _from_record(txn_type: int, data: bytes) -> Txn:
    if txn_type == OpCode.create:
        c = R.CreateTxn.decode(data)
        return Create(c.path or "", c.data, _acls(c.acl), "ephemeral" if c.ephemeral else "", c.parent_c_version)
    if txn_type == OpCode.createContainer:
        cc = R.CreateContainerTxn.decode(data)
        return Create(cc.path or "", cc.data, _acls(cc.acl), "container", cc.parent_c_version)
    if txn_type == OpCode.createTTL:
        ct = R.CreateTTLTxn.decode(data)
        return Create(ct.path or "", ct.data, _acls(ct.acl), "ttl", ct.parent_c_version, ct.ttl)
    if txn_type in (OpCode.delete, OpCode.deleteContainer):
        return Delete(R.DeleteTxn.decode(data).path or "")
    if txn_type == OpCode.setData:
        s = R.SetDataTxn.decode(data)
        return SetData(s.path or "", s.data, s.version)
    if txn_type == OpCode.setACL:
        a = R.SetACLTxn.decode(data)
        return SetACL(a.path or "", _acls(a.acl), a.version)
    if txn_type == OpCode.check:
        v = R.CheckVersionTxn.decode(data)
        return CheckVersion(v.path or "", v.version)
    if txn_type == OpCode.createSession:
        return CreateSession(R.CreateSessionTxn.decode(data).time_out)
    if txn_type == OpCode.closeSession:
        return CloseSession([p or "" for p in R.CloseSessionTxn.decode(data).paths2_delete or []])
    if txn_type == OpCode.error:
        return Error(R.ErrorTxn.decode(data).err)
    if txn_type == OpCode.multi:
        return Multi([_from_record(t.type, t.data or b"") for t in R.MultiTxn.decode(data).txns or []])
    raise ValueError(f"unknown txn type {txn_type}")


def encode(header: TxnHeader, txn: Txn) -> bytes:
    txn_type, record = _record(txn)
    out = bytearray()
    R.TxnHeader(header.client_id, header.cxid, header.zxid, header.time,
                header.type if header.type in (OpCode.deleteContainer, OpCode.error) else txn_type).encode_into(out)
    record.encode_into(out)
    return bytes(out)


def decode(payload: bytes) -> tuple[TxnHeader, Txn]:
    h, pos = R.TxnHeader.decode_from(payload, 0)
    txn = _from_record(h.type, payload[pos:])
    return TxnHeader(h.client_id, h.cxid, h.zxid, h.time, h.type), txn


# -- snapshots ------------------------------------------------------------------------------

SNAPSHOT_MAGIC = b"WTZK"
SNAPSHOT_VERSION = 1


def encode_snapshot(zxid: int, tree: DataTree, sessions: SessionTable) -> bytes:
    """magic, version, zxid, sessions [id, timeout, password], nodes in parent-first order."""
    out = bytearray(SNAPSHOT_MAGIC)
    out += INT32.pack(SNAPSHOT_VERSION)
    out += INT64.pack(zxid)
    live = [s for s in sessions.sessions.values() if not s.closing]
    out += INT32.pack(len(live))
    for s in live:
        out += INT64.pack(s.id)
        out += INT32.pack(s.timeout_ms)
        write_bytes32(out, s.password)
    out += INT32.pack(len(tree.nodes))
    for path, node in tree.walk():
        write_string32(out, path)
        write_bytes32(out, node.data, True)
        out += INT32.pack(len(node.acl))
        for a in node.acl:
            out += INT32.pack(a.perms)
            write_string32(out, a.scheme)
            write_string32(out, a.id)
        for value in (node.czxid, node.mzxid, node.ctime, node.mtime):
            out += INT64.pack(value)
        out += INT32.pack(node.version) + INT32.pack(node.child_creates) + INT32.pack(node.aversion)
        out += INT64.pack(node.ephemeral_owner) + INT64.pack(node.pzxid)
    return bytes(out)


def decode_snapshot(payload: bytes, tree: DataTree, sessions: SessionTable, now_ms: int) -> int:
    """Load a snapshot into an empty tree and session table; return its zxid."""
    from zkserver.tree import Node, parent_of, name_of

    if payload[:4] != SNAPSHOT_MAGIC:
        raise ValueError("not a wiretwin ZooKeeper snapshot")
    with decoding_errors("snapshot"):
        pos = 4
        (version,) = INT32.unpack_from(payload, pos)
        if version != SNAPSHOT_VERSION:
            raise ValueError(f"unknown snapshot version {version}")
        (zxid,) = INT64.unpack_from(payload, pos + 4)
        pos += 12
        (n_sessions,) = INT32.unpack_from(payload, pos)
        pos += 4
        for _ in range(n_sessions):
            (sid,) = INT64.unpack_from(payload, pos)
            (timeout,) = INT32.unpack_from(payload, pos + 8)
            password, pos = read_bytes32(payload, pos + 12)
            sessions.add(sid, timeout, now_ms, password)
        (n_nodes,) = INT32.unpack_from(payload, pos)
        pos += 4
        tree.nodes.clear()
        tree.ephemerals.clear()
        tree.containers.clear()
        tree.ttls.clear()
        for _ in range(n_nodes):
            path, pos = read_string32(payload, pos)
            data, pos = read_bytes32(payload, pos, True)
            (n_acl,) = INT32.unpack_from(payload, pos)
            pos += 4
            acl: list[Acl] = []
            for _ in range(n_acl):
                (perms,) = INT32.unpack_from(payload, pos)
                scheme, pos = read_string32(payload, pos + 4)
                ident, pos = read_string32(payload, pos)
                acl.append(Acl(perms, scheme or "", ident or ""))
            czxid, mzxid, ctime, mtime = (INT64.unpack_from(payload, pos + 8 * i)[0] for i in range(4))
            pos += 32
            version_, creates, aversion = (INT32.unpack_from(payload, pos + 4 * i)[0] for i in range(3))
            pos += 12
            (owner,) = INT64.unpack_from(payload, pos)
            (pzxid,) = INT64.unpack_from(payload, pos + 8)
            pos += 16
            assert path is not None
            node = Node(data, acl, czxid, mzxid, ctime, mtime, version_, creates, aversion, owner, pzxid)
            tree.nodes[path] = node
            if path != "/":
                tree.nodes[parent_of(path)].children[name_of(path)] = None
            index = tree._index_for(node)
            if index is not None:
                index[path] = None
    return zxid
