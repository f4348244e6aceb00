"""The pure ZooKeeper server core: decoded requests and the time in, replies and notifications out.

One ``ZkCore`` owns all state (tree, sessions, watches, connections' identities).
It never sleeps or does I/O beyond the optional transaction log: waits (session
expiry, container and TTL reaping) come back as ``next_deadline()`` for the
shell to sleep on, and ``tick(now)`` does what is due.

Writes follow ZooKeeper's two steps. *Prep* checks a request against the tree
and turns it into a transaction (or an error transaction: a failed write still
consumes a zxid); *apply* mutates the tree and fires watches. Replay of the
transaction log after a restart uses the same apply code, so a recovered tree is
the one the clients saw.

Time: ``now`` is monotonic milliseconds; Stat times are wall-clock milliseconds,
``now + wall_offset``, fixed when the core is built.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from zkserver import acl as A
from zkserver import txn as T
from zkserver.acl import Acl, Identity
from zkserver.config import ZkConfig
from zkserver.errors import ZkError
from zkserver.persistence import DataDir
from zkserver.protocol import Code, EventType, OpCode, R, WatcherType, acl_record, acl_tuple, create_flags
from zkserver.sessions import Session, SessionTable
from zkserver.tree import (
    MAX_TTL, CONTAINER_OWNER, SPECIAL_PATHS, DataTree, Node, check_version, parent_of, split_for_create,
    ttl_owner, validate_path,
)
from zkserver.watches import WatchManager

log = logging.getLogger("zkserver")

WRITE_OPS = frozenset({OpCode.create, OpCode.create2, OpCode.createContainer, OpCode.createTTL, OpCode.delete,
                       OpCode.setData, OpCode.setACL, OpCode.check})
READ_OPS_IN_MULTI = frozenset({OpCode.getData, OpCode.getChildren})


@dataclass(slots=True)
class Client:
    """One connection's view: its id (the watcher id), peer address, identities and session."""

    id: int
    ip: str
    port: int = 0
    identities: list[Identity] = field(default_factory=list)
    session_id: int = 0
    closed: bool = False

    def __post_init__(self) -> None:
        if not self.identities:
            self.identities = [Identity("ip", self.ip)]


@dataclass(slots=True)
class Notification:
    """A watch event to deliver to connection ``client_id``."""

    client_id: int
    type: int
    path: str
    zxid: int


@dataclass(slots=True)
class Reply:
    xid: int
    zxid: int
    err: int
    body: Any = None  # a wire.zk response record, or None


_Trigger = tuple[Callable[[str], set[int]], int, str, int, list[Acl]]  # a watch trigger held until a multi commits


@dataclass
class Outcome:
    """What one request (or tick) produced: the reply, events for any connection, connections to close."""

    reply: Reply | None = None
    notifications: list[Notification] = field(default_factory=list)
    close_clients: list[int] = field(default_factory=list)
    close_this: bool = False


class ZkCore:
    def __init__(self, config: ZkConfig, now_ms: int = 0, wall_ms: int = 0, data_dir: DataDir | None = None) -> None:
        self.config = config
        self.wall_offset = wall_ms - now_ms
        self.tree = DataTree()
        self.watches = WatchManager()
        self._deferred_triggers: list[_Trigger] | None = None  # set while a multi is being applied
        self.sessions = SessionTable(config.tick_time_ms)
        self.sessions.seed(wall_ms)
        self.clients: dict[int, Client] = {}
        self.zxid = 0
        self.data_dir = data_dir
        self.txns_since_snapshot = 0
        self.next_container_check = now_ms + config.container_check_interval_ms
        self.stats = {"received": 0, "sent": 0, "min_latency": 0, "max_latency": 0}
        if data_dir is not None:
            self._recover(now_ms)

    # -- clients -------------------------------------------------------------------
    def add_client(self, client: Client) -> None:
        self.clients[client.id] = client

    def remove_client(self, client_id: int) -> None:
        client = self.clients.pop(client_id, None)
        if client is None:
            return
        client.closed = True
        self.watches.drop_watcher(client_id)
        session = self.sessions.get(client.session_id) if client.session_id else None
        if session is not None and session.connection == client_id:
            session.connection = None

    def wall(self, now_ms: int) -> int:
        return now_ms + self.wall_offset

    # -- sessions ------------------------------------------------------------------
    def connect(self, client: Client, req: Any, now_ms: int) -> Outcome:
        """Answer a ConnectRequest (the first frame of a connection)."""
        out = Outcome()
        if req.last_zxid_seen > self.zxid:
            log.info("client %s has seen zxid 0x%x, ahead of ours 0x%x: closing", client.ip, req.last_zxid_seen,
                     self.zxid)
            out.close_this = True
            return out
        timeout = min(max(req.time_out, self.config.min_timeout), self.config.max_timeout)
        read_only = False if req.read_only is not None else None
        if req.session_id == 0:
            sid = self.sessions.new_id()
            self._log_and_next(T.TxnHeader(sid, 0, 0, self.wall(now_ms), OpCode.createSession),
                               T.CreateSession(timeout))
            session = self.sessions.add(sid, timeout, now_ms)
        else:
            resumed = self.sessions.get(req.session_id)
            if resumed is None or resumed.closing or resumed.password != bytes(req.passwd or b""):
                out.reply = Reply(0, 0, 0, R.ConnectResponse(0, 0, 0, b"\0" * 16, read_only))
                out.close_this = True
                return out
            session = resumed
            if session.connection is not None and session.connection != client.id:
                out.close_clients.append(session.connection)
                self.remove_client(session.connection)
            self.sessions.touch(session, now_ms)
        session.connection = client.id
        client.session_id = session.id
        out.reply = Reply(0, 0, 0, R.ConnectResponse(0, timeout, session.id, session.password, read_only))
        self._maybe_snapshot()
        return out

    def touch(self, client: Client, now_ms: int) -> None:
        session = self.sessions.get(client.session_id)
        if session is not None:
            self.sessions.touch(session, now_ms)

    def next_deadline(self) -> int | None:
        deadlines = [d for d in (self.sessions.next_deadline(), self._container_deadline()) if d is not None]
        return min(deadlines) if deadlines else None

    def _container_deadline(self) -> int | None:
        return self.next_container_check if (self.tree.containers or self.tree.ttls) else None

    def tick(self, now_ms: int) -> Outcome:
        """Expire sessions and reap containers/TTL nodes that are due."""
        out = Outcome()
        for session in self.sessions.due(now_ms):
            log.info("session 0x%x expired", session.id)
            if session.connection is not None:
                out.close_clients.append(session.connection)
                self.remove_client(session.connection)
            self._close_session(session.id, now_ms, out)
        if now_ms >= self.next_container_check:
            self.next_container_check = now_ms + self.config.container_check_interval_ms
            self._reap(now_ms, out)
        self._maybe_snapshot()
        return out

    def expire_session(self, session_id: int, now_ms: int) -> Outcome:
        """Test-double control: expire a session server-side now."""
        out = Outcome()
        session = self.sessions.get(session_id)
        if session is None:
            return out
        if session.connection is not None:
            out.close_clients.append(session.connection)
            self.remove_client(session.connection)
        self._close_session(session_id, now_ms, out)
        return out

    def _close_session(self, session_id: int, now_ms: int, out: Outcome, cxid: int = 0) -> int:
        session = self.sessions.get(session_id)
        if session is not None:
            session.closing = True
        paths = sorted(self.tree.ephemerals_of(session_id), key=lambda p: (-p.count("/"), p))
        zxid = self._next_zxid()
        header = T.TxnHeader(session_id, cxid, zxid, self.wall(now_ms), OpCode.closeSession)
        txn = T.CloseSession(paths)
        self._log(header, txn)
        self._apply(header, txn, out)
        return zxid

    # -- the request path ----------------------------------------------------------
    def handle(self, client: Client, xid: int, op: int, record: Any, now_ms: int) -> Outcome:
        """Answer one request after the handshake. ``record`` is the decoded wire record (or None)."""
        self.touch(client, now_ms)
        out = Outcome()
        try:
            handler = self._handlers.get(op)
            if handler is None:
                out.reply = Reply(xid, -1, Code.UNIMPLEMENTED)
                out.close_this = True
                return out
            handler(self, client, xid, record, now_ms, out)
        except ZkError as exc:
            out.reply = Reply(xid, self.zxid, exc.code)
        self._maybe_snapshot()
        return out

    # reads ---------------------------------------------------------------------
    def _read_node(self, client: Client, path: str, perm: int = A.READ) -> Node:
        node = self.tree.need(path)
        A.check(node.acl, perm, client.identities)
        return node

    def _get_data(self, client: Client, xid: int, req: Any, now: int, out: Outcome) -> None:
        node = self._read_node(client, req.path)
        if req.watch:
            self.watches.watch_data(req.path, client.id)
        out.reply = Reply(xid, self.zxid, 0, R.GetDataResponse(node.data, node.stat()))

    def _exists(self, client: Client, xid: int, req: Any, now: int, out: Outcome) -> None:
        if "\0" in req.path:
            raise ZkError(Code.BADARGUMENTS, req.path)
        node = self.tree.get(req.path)
        if node is not None:
            A.check(node.acl, A.READ, client.identities)
        if req.watch:
            self.watches.watch_data(req.path, client.id)
        if node is None:
            raise ZkError(Code.NONODE, req.path)
        out.reply = Reply(xid, self.zxid, 0, R.ExistsResponse(node.stat()))

    def _children(self, client: Client, req: Any) -> tuple[Node, list[str]]:
        node = self._read_node(client, req.path)
        if req.watch:
            self.watches.watch_children(req.path, client.id)
        return node, list(node.children)

    def _get_children(self, client: Client, xid: int, req: Any, now: int, out: Outcome) -> None:
        _, names = self._children(client, req)
        out.reply = Reply(xid, self.zxid, 0, R.GetChildrenResponse(names))

    def _get_children2(self, client: Client, xid: int, req: Any, now: int, out: Outcome) -> None:
        node, names = self._children(client, req)
        out.reply = Reply(xid, self.zxid, 0, R.GetChildren2Response(names, node.stat()))

    def _get_acl(self, client: Client, xid: int, req: Any, now: int, out: Outcome) -> None:
        node = self._read_node(client, req.path, A.READ | A.ADMIN)
        entries = node.acl if A.allowed(node.acl, A.ADMIN, client.identities) else A.mask_digests(node.acl)
        out.reply = Reply(xid, self.zxid, 0, R.GetACLResponse([acl_record(a) for a in entries],
                                                             node.stat()))

    def _get_all_children_number(self, client: Client, xid: int, req: Any, now: int, out: Outcome) -> None:
        self._read_node(client, req.path)
        out.reply = Reply(xid, self.zxid, 0, R.GetAllChildrenNumberResponse(self.tree.descendants(req.path)))

    def _get_ephemerals(self, client: Client, xid: int, req: Any, now: int, out: Outcome) -> None:
        prefix = req.prefix_path or "/"
        paths = self.tree.ephemerals_of(client.session_id)
        if prefix != "/":
            paths = [p for p in paths if p.startswith(prefix)]
        out.reply = Reply(xid, self.zxid, 0, R.GetEphemeralsResponse(paths))

    def _sync(self, client: Client, xid: int, req: Any, now: int, out: Outcome) -> None:
        out.reply = Reply(xid, self.zxid, 0, R.SyncResponse(req.path))

    def _ping(self, client: Client, xid: int, req: Any, now: int, out: Outcome) -> None:
        out.reply = Reply(xid, self.zxid, 0)

    def _who_am_i(self, client: Client, xid: int, req: Any, now: int, out: Outcome) -> None:
        ordered = [i for i in client.identities if i.scheme != "ip"] + [i for i in client.identities if i.scheme == "ip"]
        infos = [R.ClientInfo(i.scheme, A.display_name(i)) for i in ordered if i.scheme != "super"]
        out.reply = Reply(xid, self.zxid, 0, R.WhoAmIResponse(infos))

    def _multi_read(self, client: Client, xid: int, req: Any, now: int, out: Outcome) -> None:
        results: list[tuple[int, int, Any]] = []
        for op, sub in req:
            if op not in READ_OPS_IN_MULTI:
                raise ZkError(Code.MARSHALLINGERROR)
        for op, sub in req:
            try:
                if op == OpCode.getData:
                    node = self._read_node(client, sub.path)
                    if sub.watch:
                        self.watches.watch_data(sub.path, client.id)
                    results.append((op, 0, R.GetDataResponse(node.data, node.stat())))
                else:
                    _, names = self._children(client, sub)
                    results.append((op, 0, R.GetChildrenResponse(names)))
            except ZkError as exc:
                results.append((-1, exc.code, R.ErrorResponse(exc.code)))
        out.reply = Reply(xid, self.zxid, 0, results)

    # watches and auth ---------------------------------------------------------------
    def _set_watches(self, client: Client, xid: int, req: Any, now: int, out: Outcome) -> None:
        rel = req.relative_zxid
        tree = self.tree
        events: list[tuple[int, str]] = []
        for path in req.data_watches or []:
            node = tree.get(path)
            if node is None:
                events.append((EventType.NodeDeleted, path))
            elif node.mzxid > rel:
                events.append((EventType.NodeDataChanged, path))
            else:
                self.watches.watch_data(path, client.id)
        for path in req.exist_watches or []:
            if tree.get(path) is not None:
                events.append((EventType.NodeCreated, path))
            else:
                self.watches.watch_data(path, client.id)
        for path in req.child_watches or []:
            node = tree.get(path)
            if node is None:
                events.append((EventType.NodeDeleted, path))
            elif node.pzxid > rel:
                events.append((EventType.NodeChildrenChanged, path))
            else:
                self.watches.watch_children(path, client.id)
        for path in getattr(req, "persistent_watches", None) or []:
            self.watches.add_persistent(path, client.id, recursive=False)
        for path in getattr(req, "persistent_recursive_watches", None) or []:
            self.watches.add_persistent(path, client.id, recursive=True)
        out.notifications.extend(Notification(client.id, t, p, -1) for t, p in events)
        out.reply = Reply(xid, self.zxid, 0)

    def _add_watch(self, client: Client, xid: int, req: Any, now: int, out: Outcome) -> None:
        if req.mode not in (0, 1):
            raise ZkError(Code.MARSHALLINGERROR, req.path)
        self.watches.add_persistent(req.path, client.id, recursive=req.mode == 1)
        out.reply = Reply(xid, self.zxid, 0, R.ErrorResponse(0))

    def _check_watches(self, client: Client, xid: int, req: Any, now: int, out: Outcome) -> None:
        kind = self._watcher_type(req.type)
        if not self.watches.contains(req.path, client.id, kind):
            raise ZkError(Code.NOWATCHER, req.path)
        out.reply = Reply(xid, self.zxid, 0)

    def _remove_watches(self, client: Client, xid: int, req: Any, now: int, out: Outcome) -> None:
        kind = self._watcher_type(req.type)
        if not self.watches.remove(req.path, client.id, kind):
            raise ZkError(Code.NOWATCHER, req.path)
        out.reply = Reply(xid, self.zxid, 0)

    @staticmethod
    def _watcher_type(value: int) -> WatcherType:
        try:
            return WatcherType(value)
        except ValueError:
            raise ZkError(Code.BADARGUMENTS) from None

    def _auth(self, client: Client, xid: int, req: Any, now: int, out: Outcome) -> None:
        try:
            added = A.authenticate(req.scheme or "", req.auth, client.ip, self.config.super_digest)
        except ZkError:
            out.reply = Reply(xid, 0, Code.AUTHFAILED)
            out.close_this = True
            return
        for identity in added:
            if identity not in client.identities:
                client.identities.append(identity)
        out.reply = Reply(xid, 0, 0)

    def _sasl(self, client: Client, xid: int, req: Any, now: int, out: Outcome) -> None:
        out.reply = Reply(xid, 0, Code.AUTHFAILED)
        out.close_this = True

    def _close(self, client: Client, xid: int, req: Any, now: int, out: Outcome) -> None:
        zxid = self._close_session(client.session_id, now, out, xid)
        out.reply = Reply(xid, zxid, 0)
        out.close_this = True

    def _check_alone(self, client: Client, xid: int, req: Any, now: int, out: Outcome) -> None:
        # 3.9.3+: check is valid only inside multi; alone it is unimplemented and the session is closed
        out.reply = Reply(xid, -1, Code.UNIMPLEMENTED)
        self._close_session(client.session_id, now, out, xid)
        out.close_this = True

    def _reconfig(self, client: Client, xid: int, req: Any, now: int, out: Outcome) -> None:
        code = Code.UNIMPLEMENTED if self.config.reconfig_enabled else Code.RECONFIGDISABLED
        self._error_txn(client, xid, code, now, out)

    # writes ------------------------------------------------------------------------
    def _write(self, client: Client, xid: int, op: int, req: Any, now: int, out: Outcome) -> None:
        header = T.TxnHeader(client.session_id, xid, 0, self.wall(now), op)
        try:
            txn = self._prep(client, op, req, header)
        except ZkError as exc:
            self._error_txn(client, xid, exc.code, now, out, header)
            return
        header.zxid = self._next_zxid()
        self._log(header, txn)
        body = self._apply(header, txn, out)
        out.reply = Reply(xid, header.zxid, 0, self._response(op, txn, body))

    def _error_txn(self, client: Client, xid: int, code: int, now: int, out: Outcome,
                   header: T.TxnHeader | None = None) -> None:
        header = header or T.TxnHeader(client.session_id, xid, 0, self.wall(now), OpCode.error)
        header.zxid = self._next_zxid()
        header.type = OpCode.error
        self._log(header, T.Error(code))
        out.reply = Reply(xid, header.zxid, code)

    def _response(self, op: int, txn: T.Txn, node: Node | None) -> Any:
        if op == OpCode.create:
            assert isinstance(txn, T.Create)
            return R.CreateResponse(txn.path)
        if op in (OpCode.create2, OpCode.createContainer, OpCode.createTTL):
            assert isinstance(txn, T.Create) and node is not None
            return R.Create2Response(txn.path, node.stat())
        if op == OpCode.setData:
            assert node is not None
            return R.SetDataResponse(node.stat())
        if op == OpCode.setACL:
            assert node is not None
            return R.SetACLResponse(node.stat())
        return None

    def _prep(self, client: Client, op: int, req: Any, header: T.TxnHeader) -> T.Txn:
        """Check a write against the tree as it is now and turn it into a transaction."""
        ids = client.identities
        tree = self.tree
        if op in (OpCode.create, OpCode.create2, OpCode.createContainer, OpCode.createTTL):
            flags = create_flags(req.flags)
            ttl = req.ttl if op == OpCode.createTTL else -1
            if op == OpCode.createContainer and not flags.container:
                raise ZkError(Code.BADARGUMENTS, req.path)
            if flags.ttl:
                if op != OpCode.createTTL:
                    raise ZkError(Code.BADARGUMENTS, req.path)
                if not self.config.extended_types_enabled:
                    raise ZkError(Code.UNIMPLEMENTED, req.path)
                if not 0 < ttl <= MAX_TTL:
                    raise ZkError(Code.BADARGUMENTS, req.path)
            elif ttl >= 0:
                raise ZkError(Code.BADARGUMENTS, req.path)
            parent_path = split_for_create(req.path)
            entries = A.fixup([acl_tuple(a) for a in req.acl] if req.acl is not None else None, ids)
            parent = tree.need(parent_path)
            A.check(parent.acl, A.CREATE, ids)
            path = tree.prepare_create(req.path, flags, parent)
            if flags.ephemeral and client.session_id == 0:
                raise ZkError(Code.SESSIONEXPIRED, path)
            # only the createContainer opcode makes a container: create/create2 with flag 4 are accepted but log a
            # plain CreateTxn (PrepRequestProcessor.pRequest2TxnCreate), i.e. a persistent node never reaped
            container = flags.container and op == OpCode.createContainer
            kind = "container" if container else "ttl" if flags.ttl else "ephemeral" if flags.ephemeral else ""
            return T.Create(path, req.data, entries, kind, parent.child_creates + 1, ttl if flags.ttl else 0)
        if op == OpCode.delete:
            path = req.path
            if path is None or "/" not in path or "\0" in path or path in SPECIAL_PATHS:
                raise ZkError(Code.BADARGUMENTS, path)
            parent = tree.need(parent_of(path))
            A.check(parent.acl, A.DELETE, ids)
            node = tree.need(path)
            check_version(node.version, req.version, path)
            if node.children:
                raise ZkError(Code.NOTEMPTY, path)
            return T.Delete(path)
        if op == OpCode.setData:
            validate_path(req.path)
            node = tree.need(req.path)
            A.check(node.acl, A.WRITE, ids)
            version = check_version(node.version, req.version, req.path)
            return T.SetData(req.path, req.data, version)
        if op == OpCode.setACL:
            validate_path(req.path)
            entries = A.fixup([acl_tuple(a) for a in req.acl] if req.acl is not None else None, ids)
            node = tree.need(req.path)
            A.check(node.acl, A.ADMIN, ids)
            version = check_version(node.aversion, req.version, req.path)
            return T.SetACL(req.path, entries, version)
        if op == OpCode.check:
            validate_path(req.path)
            node = tree.need(req.path)
            A.check(node.acl, A.READ, ids)
            check_version(node.version, req.version, req.path)
            return T.CheckVersion(req.path, req.version)
        raise ZkError(Code.UNIMPLEMENTED)

    def _multi(self, client: Client, xid: int, req: Any, now: int, out: Outcome) -> None:
        ops = list(req)
        if any(op not in WRITE_OPS for op, _ in ops):
            if all(op in READ_OPS_IN_MULTI for op, _ in ops):
                self._multi_read(client, xid, ops, now, out)
                return
            raise ZkError(Code.MARSHALLINGERROR)
        header = T.TxnHeader(client.session_id, xid, 0, self.wall(now), OpCode.multi)
        zxid = self._next_zxid()
        header.zxid = zxid
        self.tree.begin()
        sub_txns: list[T.Txn] = []
        bodies: list[Any] = []  # each op's result record, taken when it is applied (its Stat as of then)
        failed_at = -1
        failed_code = 0
        deferred: list[_Trigger] = []
        self._deferred_triggers = deferred
        try:
            for i, (op, sub) in enumerate(ops):
                try:
                    sub_header = T.TxnHeader(client.session_id, xid, zxid, header.time, op)
                    txn = self._prep(client, op, sub, sub_header)
                except ZkError as exc:
                    failed_at, failed_code = i, exc.code
                    break
                sub_txns.append(txn)
                bodies.append(self._response(op, txn, self._apply(sub_header, txn, out)))
        finally:
            self._deferred_triggers = None
        if failed_at >= 0:
            self.tree.rollback()  # and the watches the applied ops would have fired stay set
            codes = [0] * failed_at + [failed_code] + [Code.RUNTIMEINCONSISTENCY] * (len(ops) - failed_at - 1)
            self._log(header, T.Multi([T.Error(c) for c in codes]))
            results = [(-1, c, R.ErrorResponse(c)) for c in codes]
            out.reply = Reply(xid, zxid, 0, results)
            return
        self.tree.commit()
        self._log(header, T.Multi(sub_txns))
        for trigger, etype, path, event_zxid, node_acl in deferred:
            self._notify(out, trigger, etype, path, event_zxid, node_acl)
        results = []
        for (op, _), body in zip(ops, bodies):
            results.append((op if op != OpCode.createTTL and op != OpCode.createContainer else OpCode.create2, 0,
                            body))
        out.reply = Reply(xid, zxid, 0, results)

    # -- apply (live and replay) ---------------------------------------------------------
    def _apply(self, header: T.TxnHeader, txn: T.Txn, out: Outcome) -> Node | None:
        tree = self.tree
        zxid = header.zxid
        if isinstance(txn, T.Create):
            owner = {"ephemeral": header.client_id, "container": CONTAINER_OWNER,
                     "ttl": ttl_owner(txn.ttl)}.get(txn.kind, 0)
            node = tree.create(txn.path, txn.data, txn.acl, owner, zxid, header.time)
            parent = parent_of(txn.path)
            self._notify(out, self.watches.node_created, EventType.NodeCreated, txn.path, zxid, node.acl)
            self._notify(out, self.watches.children_changed, EventType.NodeChildrenChanged, parent, zxid,
                         tree.nodes[parent].acl)
            return node
        if isinstance(txn, T.Delete):
            node = tree.delete(txn.path, zxid)
            parent = parent_of(txn.path)
            pnode = tree.nodes[parent]
            self._notify(out, self.watches.node_deleted, EventType.NodeDeleted, txn.path, zxid, node.acl)
            self._notify(out, self.watches.children_changed, EventType.NodeChildrenChanged, parent, zxid,
                         pnode.acl)
            return None
        if isinstance(txn, T.SetData):
            node = tree.need(txn.path)
            tree.set_data(node, txn.data, txn.version, zxid, header.time, txn.path)
            self._notify(out, self.watches.node_data_changed, EventType.NodeDataChanged, txn.path, zxid,
                         node.acl)
            return node
        if isinstance(txn, T.SetACL):
            node = tree.need(txn.path)
            tree.set_acl(node, txn.acl, txn.version)
            return node
        if isinstance(txn, T.CheckVersion):
            return None
        if isinstance(txn, T.CloseSession):
            for path in txn.paths:
                if path in tree.nodes and not tree.nodes[path].children:
                    self._apply(header, T.Delete(path), out)
            self.sessions.remove(header.client_id)
            return None
        if isinstance(txn, T.CreateSession):
            if self.sessions.get(header.client_id) is None:
                self.sessions.add(header.client_id, txn.timeout, 0)
            return None
        if isinstance(txn, T.Multi):
            for sub in txn.txns:
                sub_header = T.TxnHeader(header.client_id, header.cxid, zxid, header.time, 0)
                self._apply(sub_header, sub, out)
            return None
        return None  # T.Error: nothing to apply

    def _notify(self, out: Outcome, trigger: Callable[[str], set[int]], etype: int, path: str, zxid: int,
                node_acl: list[Acl]) -> None:
        """Fire (consume) the watches ``trigger`` selects on ``path`` and queue their events; inside a multi the
        firing waits until the whole multi has committed, so a multi that fails part-way consumes no watch."""
        if self._deferred_triggers is not None:
            self._deferred_triggers.append((trigger, etype, path, zxid, node_acl))
            return
        for watcher in trigger(path):
            client = self.clients.get(watcher)
            if client is None:
                continue
            if not A.allowed(node_acl, A.READ, client.identities):
                continue  # CVE-2024-23944: events are filtered by the node's READ permission
            out.notifications.append(Notification(watcher, etype, path, zxid))

    # -- containers and TTL nodes ------------------------------------------------------
    def _reap(self, now: int, out: Outcome) -> None:
        wall = self.wall(now)
        doomed: list[str] = []
        for path in list(self.tree.containers):
            node = self.tree.nodes[path]
            if node.children:
                continue
            if node.child_creates > 0:
                doomed.append(path)
            elif self.config.container_max_never_used_ms and wall - node.mtime >= self.config.container_max_never_used_ms:
                doomed.append(path)
        for path in list(self.tree.ttls):
            node = self.tree.nodes[path]
            if not node.children and wall - node.mtime >= node.ttl:
                doomed.append(path)
        for path in doomed:
            gone = self.tree.nodes.get(path)
            if gone is None or gone.children:
                continue
            header = T.TxnHeader(0, 0, self._next_zxid(), wall, OpCode.deleteContainer)
            txn = T.Delete(path)
            self._log(header, txn)
            self._apply(header, txn, out)

    # -- zxids, logging, snapshots, recovery -------------------------------------------
    def _next_zxid(self) -> int:
        self.zxid += 1
        return self.zxid

    def _log_and_next(self, header: T.TxnHeader, txn: T.Txn) -> int:
        header.zxid = self._next_zxid()
        self._log(header, txn)
        return header.zxid

    def _log(self, header: T.TxnHeader, txn: T.Txn) -> None:
        if self.data_dir is None:
            return
        self.data_dir.append(header.zxid, T.encode(header, txn))
        self.txns_since_snapshot += 1

    def _maybe_snapshot(self) -> None:
        """Snapshot once enough txns are logged; called only after a request is fully applied."""
        if self.data_dir is not None and self.txns_since_snapshot >= self.config.snap_count:
            self.snapshot()

    def snapshot(self) -> None:
        if self.data_dir is None:
            return
        self.data_dir.write_snapshot(self.zxid, T.encode_snapshot(self.zxid, self.tree, self.sessions))
        self.txns_since_snapshot = 0

    def _recover(self, now_ms: int) -> None:
        assert self.data_dir is not None
        snap = self.data_dir.latest_snapshot()
        if snap is not None:
            self.zxid = T.decode_snapshot(snap[1], self.tree, self.sessions, now_ms)
        sink = Outcome()
        for zxid, payload in self.data_dir.replay(self.zxid):
            header, txn = T.decode(payload)
            self._apply(header, txn, sink)
            if isinstance(txn, T.CreateSession) and header.client_id in self.sessions.sessions:
                self.sessions.touch(self.sessions.sessions[header.client_id], now_ms)
            self.zxid = zxid
        for session in self.sessions.sessions.values():
            self.sessions.touch(session, now_ms)  # restarted: every session gets a fresh timeout

    def sync(self) -> None:
        """Make every logged transaction durable (fsync under forceSync) before their replies are sent."""
        if self.data_dir is not None:
            self.data_dir.sync()

    def close(self) -> None:
        if self.data_dir is not None:
            self.data_dir.close()

    # -- four-letter-word facts ---------------------------------------------------------
    def node_count(self) -> int:
        return len(self.tree)

    def live_sessions(self) -> Iterable[Session]:
        return self.sessions.sessions.values()

    _handlers: dict[int, Any] = {}


def _writer(op: int) -> Any:
    def handler(core: ZkCore, client: Client, xid: int, req: Any, now: int, out: Outcome) -> None:
        core._write(client, xid, op, req, now, out)
    return handler


ZkCore._handlers = {
    OpCode.getData: ZkCore._get_data,
    OpCode.exists: ZkCore._exists,
    OpCode.getChildren: ZkCore._get_children,
    OpCode.getChildren2: ZkCore._get_children2,
    OpCode.getACL: ZkCore._get_acl,
    OpCode.getAllChildrenNumber: ZkCore._get_all_children_number,
    OpCode.getEphemerals: ZkCore._get_ephemerals,
    OpCode.sync: ZkCore._sync,
    OpCode.ping: ZkCore._ping,
    OpCode.whoAmI: ZkCore._who_am_i,
    OpCode.multiRead: lambda core, c, x, r, n, o: core._multi_read(c, x, list(r), n, o),
    OpCode.setWatches: ZkCore._set_watches,
    OpCode.setWatches2: ZkCore._set_watches,
    OpCode.addWatch: ZkCore._add_watch,
    OpCode.checkWatches: ZkCore._check_watches,
    OpCode.removeWatches: ZkCore._remove_watches,
    OpCode.auth: ZkCore._auth,
    OpCode.sasl: ZkCore._sasl,
    OpCode.closeSession: ZkCore._close,
    OpCode.check: ZkCore._check_alone,
    OpCode.reconfig: ZkCore._reconfig,
    OpCode.multi: ZkCore._multi,
    OpCode.create: _writer(OpCode.create),
    OpCode.create2: _writer(OpCode.create2),
    OpCode.createContainer: _writer(OpCode.createContainer),
    OpCode.createTTL: _writer(OpCode.createTTL),
    OpCode.delete: _writer(OpCode.delete),
    OpCode.setData: _writer(OpCode.setData),
    OpCode.setACL: _writer(OpCode.setACL),
}
