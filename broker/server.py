"""The trio shell around ``BrokerCore``: one listener per broker, per-connection tasks, long polls.

Requests on a connection are handled one at a time, in order (Kafka mutes a
connection while it processes a request), so responses leave in
correlation-id order. A ``Pending`` result (a long-poll Fetch) makes that
connection wait until its deadline or until new data is appended, whichever is
first; other connections are unaffected. ``BrokerServer.serve`` is meant for
``nursery.start`` and hands back the bound ports.

Faults (``self.faults``, the ``zkserver.faults`` model keyed by API key): a
``drop`` rule closes the connection, a ``fail`` rule answers with
``broker.faults.error_response`` without executing the request (or closes the
connection for an API it does not cover, and for acks=0 Produce), a
``lose_reply`` rule executes the request and closes the connection instead of
answering (a lost acknowledgement), a delay holds the request. ``stop_broker``/``start_broker`` take one broker of a multi-broker
process down (listener and connections closed; leadership unchanged) and back up
on the same port; ``move_leader`` moves a partition's leadership.

``_send_verifications`` is a ZooKeeper-mode partition leader's (and group coordinator's)
side of KIP-890 verification with a transaction coordinator in another process
(``broker.state.txn_verification``): AddPartitionsToTxn v4 ``verify_only`` requests, the
answers fed back into the core, whose held Produce / TxnOffsetCommit answers then go out.

``controlled_shutdown`` is a ZooKeeper-mode broker's side of ControlledShutdown (what
``python -m broker`` runs on SIGTERM before ``stop``): requests to the controller, retried.
"""

from __future__ import annotations

import errno
import logging
import math
import time
from typing import TYPE_CHECKING


import trio

from broker.config import BrokerConfig
from broker.connection import BrokerConnection, Close, Incoming, Reply
from broker.core import BrokerCore, CloseConnection, NoResponse, Pending
from broker.faults import error_response
from broker.state.cluster import BrokerInfo
from broker.state.transactions import RemoteMarker
from broker.state.txn_verification import Verification
from broker.zk.model import Bridge, BridgeFactory, ZkEvent, ZkWrite
from wire.errors import EncodeError
from wire.kafka._message import Message
from zkserver.faults import FaultPlan

if TYPE_CHECKING:
    from broker.replication.client import KafkaConnection as KafkaConnectionType


log = logging.getLogger("broker")


RECEIVE_SIZE = 1 << 18  # produce requests are often near 1 MiB: fewer, larger reads


def now_ms() -> int:
    return int(trio.current_time() * 1000)


class BrokerServer:
    def __init__(self, config: BrokerConfig | None = None, bridge_factory: BridgeFactory | None = None) -> None:
        """``bridge_factory`` replaces the kazoo bridge in ZooKeeper mode (tests use an in-memory one)."""
        self.config = config or BrokerConfig()
        self.bridge_factory = bridge_factory
        self.core: BrokerCore | None = None
        self.ports: list[int] = []
        self.faults = FaultPlan()
        self._data = trio.Event()
        self._cancel: trio.CancelScope | None = None
        self._next_conn = 1
        self._wake = trio.Event()  # set to make the deadline task look at the core's deadline again
        self._nursery: trio.Nursery | None = None
        self._brokers: dict[int, tuple[trio.CancelScope, trio.Event]] = {}  # node id -> (its scope, done) while up
        self._bridge: Bridge | None = None  # ZooKeeper mode
        self._zk_writes: trio.MemorySendChannel[ZkWrite] | None = None
        self._markers: trio.MemorySendChannel[RemoteMarker] | None = None  # transaction markers for other brokers
        self._verifications: trio.MemorySendChannel[Verification] | None = None  # KIP-890 asks to other brokers
        self.shutting_down = False  # a shutdown (controlled, in ZooKeeper mode) has begun

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"{self.config.host}:{p}" for p in self.ports)

    async def serve(self, *, task_status: trio.TaskStatus[list[int]] = trio.TASK_STATUS_IGNORED) -> None:
        listeners: list[list[trio.SocketListener]] = []
        for i, node_id in enumerate(self.config.node_ids):
            port = 0 if self.config.port == 0 else self.config.port + i
            listeners.append(await trio.open_tcp_listeners(port, host=self.config.host))
        self.ports = [group[0].socket.getsockname()[1] for group in listeners]
        brokers = [BrokerInfo(node_id, self.config.host, port) for node_id, port in zip(self.config.node_ids, self.ports)]
        self.core = BrokerCore(self.config, brokers, now_ms(), wall_offset=int(time.time() * 1000) - now_ms())
        try:
            with trio.CancelScope() as scope:
                self._cancel = scope
                async with trio.open_nursery() as nursery:
                    self._nursery = nursery
                    if self.core.zk is not None:
                        await nursery.start(self._run_zookeeper, brokers[0])
                        from broker.replication.fetcher import run_fetchers
                        nursery.start_soon(run_fetchers, self)  # followers replicate; leaders check their ISR
                    for node_id, group in zip(self.config.node_ids, listeners):
                        await nursery.start(self._run_broker, node_id, group)
                    nursery.start_soon(self._deadlines)
                    task_status.started(self.ports)
        finally:
            for group in listeners:
                for listener in group:
                    with trio.CancelScope(shield=True):
                        await listener.aclose()
            if self._bridge is not None:
                with trio.CancelScope(shield=True):
                    await trio.to_thread.run_sync(self._bridge.stop)
            self.core.close()

    # -- ZooKeeper mode: the kazoo bridge's events into the core, the core's writes out to it -------

    async def _run_zookeeper(self, me: BrokerInfo, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                             ) -> None:
        """Register in ZooKeeper and follow it; started (readiness) once the cluster id, the brokers and the
        topics have been heard, so the first requests already see the whole cluster."""
        from broker.zk.model import BrokerRegistration

        assert self.core is not None and self.config.zookeeper_connect is not None
        token = trio.lowlevel.current_trio_token()
        send, receive = trio.open_memory_channel[ZkWrite](math.inf)
        self._zk_writes = send
        ready = trio.Event()

        def deliver(event: ZkEvent) -> None:  # from kazoo's threads
            try:
                trio.from_thread.run_sync(self._on_zk_event, event, ready, trio_token=token)
            except trio.RunFinishedError:
                pass

        advertised = self.config.advertised_host or me.host
        registration = BrokerRegistration(me.node_id, advertised, me.port, me.rack, int(time.time() * 1000))
        factory = self.bridge_factory
        if factory is None:
            from broker.zk.bridge import ZkBridge
            factory = ZkBridge  # type: ignore[assignment]
        self._bridge = factory(self.config.zookeeper_connect, me.node_id, registration,
                               self.config.zookeeper_session_timeout_ms, deliver)
        await trio.to_thread.run_sync(self._bridge.start)
        marker_send, marker_receive = trio.open_memory_channel[RemoteMarker](math.inf)
        self._markers = marker_send
        verify_send, verify_receive = trio.open_memory_channel[Verification](math.inf)
        self._verifications = verify_send
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._write_to_zookeeper, receive)
            nursery.start_soon(self._send_txn_markers, marker_receive)
            nursery.start_soon(self._send_verifications, verify_receive)
            await ready.wait()
            task_status.started()

    def _on_zk_event(self, event: ZkEvent, ready: trio.Event) -> None:
        core = self.core
        assert core is not None and core.zk is not None
        try:
            core.zk.apply(event)
        except Exception:  # a bug here must not take the broker down; the next snapshot reconciles again
            log.exception("applying %s from ZooKeeper failed", type(event).__name__)
        self._flush_zk_writes()
        if core.zk.ready:
            ready.set()
        self._notify_data()
        self.wake()

    def _flush_zk_writes(self) -> None:
        """Hand the writes a request queued (topic administration) to the writer task."""
        if self.core is not None and self.core.zk is not None:
            self.core.zk.claim_producer_ids()  # a handler may have used up half the block
        if self.core is not None and self.core.zk is not None and self.core.zk.outbox:
            assert self._zk_writes is not None
            for write in self.core.zk.take_writes():
                self._zk_writes.send_nowait(write)
        if self.core is not None and self.core.txns.remote_markers and self._markers is not None:
            for marker in self.core.txns.take_remote_markers():
                self._markers.send_nowait(marker)
        if self.core is not None and self.core.txns.verifier.outbox and self._verifications is not None:
            for verification in self.core.txns.verifier.take():
                self._verifications.send_nowait(verification)

    async def _send_txn_markers(self, receive: trio.MemoryReceiveChannel[RemoteMarker]) -> None:
        """Transaction markers for partitions other broker processes lead go to them by WriteTxnMarkers, one
        at a time, retried (to the leader of the moment) until written; the transaction completes when the
        last one is (``TransactionCoordinator.marker_written``)."""
        from broker.replication.client import KafkaConnection, ProtocolError
        from wire.errors import DecodeError
        from wire.kafka.messages.write_txn_markers import WriteTxnMarkersRequest as WTM
        from wire.kafka.messages.write_txn_markers import WriteTxnMarkersResponse

        core = self.core
        assert core is not None and self._markers is not None
        me = core.config.node_ids[0]
        connections: dict[int, KafkaConnection] = {}
        async for marker in receive:
            partition = core.cluster.partition(marker.topic, marker.partition)
            leader = -1 if partition is None else partition.leader
            written = partition is None  # a deleted topic needs no marker
            if not written and leader == me:
                core.txns.retry_marker(marker)  # leadership came here: written locally
                written = True
            elif not written and leader in core.cluster.brokers:
                request = WTM(markers=[WTM.WritableTxnMarker(
                    marker.producer_id, marker.producer_epoch, marker.committed,
                    [WTM.WritableTxnMarkerTopic(marker.topic, [marker.partition])], marker.coordinator_epoch)])
                try:
                    conn = connections.get(leader)
                    if conn is None:
                        broker = core.cluster.brokers[leader]
                        conn = connections[leader] = await KafkaConnection.open(broker.host, broker.port,
                                                                                f"txn-markers-{me}")
                    response = await conn.request(27, 1, request)
                    assert isinstance(response, WriteTxnMarkersResponse)
                    codes = [p.error_code for m in response.markers for t in m.topics for p in t.partitions]
                    written = codes == [0]
                    if not written:
                        log.info("WriteTxnMarkers to broker %d for %s-%d: error %s; retrying", leader, marker.topic,
                                 marker.partition, codes)
                except (OSError, trio.BrokenResourceError, trio.ClosedResourceError, DecodeError, ProtocolError) as exc:
                    log.info("WriteTxnMarkers to broker %d: %s; retrying", leader, exc)
                    gone = connections.pop(leader, None)
                    if gone is not None:
                        with trio.CancelScope(shield=True):
                            await gone.aclose()
            if written:
                core.txns.marker_written(marker)
                self._notify_data()
                self._flush_zk_writes()
            else:
                await trio.sleep(max(0.001, core.config.replica_fetch_backoff_ms / 1000))
                self._markers.send_nowait(marker)

    async def _send_verifications(self, receive: trio.MemoryReceiveChannel[Verification]) -> None:
        """KIP-890 verification (Kafka's AddPartitionsToTxnManager): what is queued when this task looks goes to
        each coordinator as one AddPartitionsToTxn v4 request with ``verify_only`` transactions, one request in
        flight per coordinator (a transactional id asked twice waits for the next request); the answers go back
        into the core (``TxnVerifier.answered``), NETWORK_EXCEPTION for a connection error or no answer within
        ``request.timeout.ms``, and the held requests are polled again."""
        core = self.core
        assert core is not None
        connections: dict[int, KafkaConnectionType] = {}
        locks: dict[int, trio.Lock] = {}
        async with trio.open_nursery() as nursery:
            async for first in receive:
                queued = [first]
                while True:
                    try:
                        queued.append(receive.receive_nowait())
                    except trio.WouldBlock:
                        break
                batches: list[tuple[int, list[Verification]]] = []
                for v in queued:  # per coordinator, each transactional id once per request
                    for node, batch in batches:
                        if node == v.coordinator and all(o.transactional_id != v.transactional_id for o in batch):
                            batch.append(v)
                            break
                    else:
                        batches.append((v.coordinator, [v]))
                for node, batch in batches:
                    nursery.start_soon(self._verify_with, node, batch, connections,
                                       locks.setdefault(node, trio.Lock()))

    async def _verify_with(self, node: int, batch: list[Verification], connections: dict[int, KafkaConnectionType],
                           lock: trio.Lock) -> None:
        from broker.replication.client import KafkaConnection, ProtocolError
        from wire.errors import DecodeError
        from wire.kafka.messages.add_partitions_to_txn import AddPartitionsToTxnRequest as APT
        from wire.kafka.messages.add_partitions_to_txn import AddPartitionsToTxnResponse

        core = self.core
        assert core is not None
        verifier = core.txns.verifier
        me = core.config.node_ids[0]
        async with lock:
            batch = [v for v in batch if not v.done]  # answered meanwhile (timed out while queued): not sent
            if not batch:
                return
            transactions = []
            for v in batch:
                topics: dict[str, list[int]] = {}
                for topic, index in v.partitions:
                    topics.setdefault(topic, []).append(index)
                transactions.append(APT.AddPartitionsToTxnTransaction(
                    v.transactional_id, v.producer_id, v.producer_epoch, not v.add,
                    [APT.AddPartitionsToTxnTopic(t, ps) for t, ps in topics.items()]))
            try:
                with trio.fail_after(max(1, core.config.request_timeout_ms) / 1000):
                    conn = connections.get(node)
                    if conn is None:
                        broker = core.cluster.brokers.get(node)
                        if broker is None:
                            raise OSError(f"broker {node} is not registered")
                        conn = connections[node] = await KafkaConnection.open(broker.host, broker.port,
                                                                              f"txn-verification-{me}")
                    response = await conn.request(24, 4, APT(transactions=transactions))
                assert isinstance(response, AddPartitionsToTxnResponse)
                results = {r.transactional_id: {(t.name, p.partition_index): p.partition_error_code
                                                for t in r.topic_results for p in t.results_by_partition}
                           for r in response.results_by_transaction}
                for v in batch:
                    verifier.answered(v, response.error_code, results.get(v.transactional_id, {}))
            except (OSError, trio.TooSlowError, trio.BrokenResourceError, trio.ClosedResourceError, DecodeError,
                    ProtocolError) as exc:
                log.info("AddPartitionsToTxn (verify_only) to broker %d failed: %r", node, exc)
                for v in batch:
                    verifier.failed(v)
                gone = connections.pop(node, None)
                if gone is not None:
                    with trio.CancelScope(shield=True):
                        await gone.aclose()
            except Exception:  # an answer we cannot make sense of costs these verifications, not the broker
                log.exception("AddPartitionsToTxn (verify_only) answer from broker %d", node)
                for v in batch:
                    verifier.failed(v)
        self._notify_data()

    async def _write_to_zookeeper(self, receive: trio.MemoryReceiveChannel[ZkWrite]) -> None:
        assert self._bridge is not None
        bridge = self._bridge
        async for write in receive:
            try:
                await trio.to_thread.run_sync(bridge.apply, write)
            except Exception:
                log.exception("ZooKeeper write %s failed", type(write).__name__)
            finally:
                if self.core is not None and self.core.zk is not None:
                    self.core.zk.write_performed()  # admin answers waiting for their write go out
                    self._notify_data()

    def stop(self) -> None:
        if self._cancel is not None:
            self._cancel.cancel()

    async def controlled_shutdown(self) -> bool:
        """Kafka's ``KafkaServer.controlledShutdown`` (ZooKeeper mode, ``controlled.shutdown.enable``): mark the
        broker leaving (it stops following each partition once ZooKeeper's state takes it out of the ISR, as
        Kafka's StopReplica comes with that removal; until then it keeps fetching, so acks=all produce is not
        held up while the controller is slow or unreachable), then send ControlledShutdown v3 (broker id and
        epoch, the czxid of our registration) to the controller of the moment, over the inter-broker client; done when it answers no
        error and no remaining partitions. Otherwise (an error, partitions left, no controller known, a
        connection failure or ``request.timeout.ms``) try again after ``controlled.shutdown.retry.backoff.ms``,
        ``controlled.shutdown.max.retries`` attempts in all. Returns whether it succeeded; the caller then
        stops the broker either way (Kafka: "Proceeding to do an unclean shutdown")."""
        from broker.replication.client import KafkaConnection, ProtocolError
        from wire.errors import DecodeError
        from wire.kafka.messages.controlled_shutdown import ControlledShutdownRequest, ControlledShutdownResponse

        core = self.core
        if core is None or core.zk is None or not self.config.controlled_shutdown_enable:
            return False
        zk = core.zk
        me = self.config.node_ids[0]
        log.info("starting controlled shutdown of broker %d", me)
        zk.leaving = True  # the fetchers stop following each partition once its state drops us from the ISR
        self._notify_data()
        remaining_tries = max(0, self.config.controlled_shutdown_max_retries)
        conn: KafkaConnection | None = None
        conn_to: int | None = None
        try:
            while remaining_tries > 0:
                remaining_tries -= 1
                controller = zk.view.controller_id
                broker = core.cluster.brokers.get(controller) if controller is not None else None
                registration = zk.view.brokers.get(me)
                if broker is None or registration is None:
                    log.info("controlled shutdown: no controller (or registration) known")
                else:
                    try:
                        if conn is None or conn_to != controller:
                            if conn is not None:
                                await conn.aclose()
                                conn = None
                            with trio.fail_after(self.config.controller_socket_timeout_ms / 1000):
                                conn = await KafkaConnection.open(broker.host, broker.port, str(me))
                            conn_to = controller
                        with trio.fail_after(self.config.request_timeout_ms / 1000):
                            resp = await conn.request(7, 3, ControlledShutdownRequest(
                                broker_id=me, broker_epoch=registration.epoch))
                        assert isinstance(resp, ControlledShutdownResponse)
                        if resp.error_code:
                            log.info("controlled shutdown request returned with error %d", resp.error_code)
                        elif not resp.remaining_partitions:
                            log.info("controlled shutdown request returned successfully")
                            return True
                        else:
                            log.info("controlled shutdown request returned with %d partitions remaining to move",
                                     len(resp.remaining_partitions))
                    except (OSError, trio.TooSlowError, trio.BrokenResourceError, trio.ClosedResourceError,
                            DecodeError, ProtocolError) as exc:
                        log.warning("error during controlled shutdown: %r", exc)
                        if conn is not None:
                            with trio.CancelScope(shield=True):
                                await conn.aclose()
                        conn = None
                if remaining_tries > 0:
                    await trio.sleep(self.config.controlled_shutdown_retry_backoff_ms / 1000)
                    log.info("retrying controlled shutdown (%d retries remaining)", remaining_tries)
            log.warning("proceeding to do an unclean shutdown as all the controlled shutdown attempts failed")
            return False
        finally:
            if conn is not None:
                with trio.CancelScope(shield=True):
                    await conn.aclose()

    async def _run_broker(self, node_id: int, group: list[trio.SocketListener], *,
                          task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """One broker's listeners and connections, all under one cancel scope (``stop_broker`` cancels it)."""
        done = trio.Event()
        try:
            with trio.CancelScope() as scope:
                self._brokers[node_id] = (scope, done)
                async with trio.open_nursery() as nursery:
                    for listener in group:
                        nursery.start_soon(self._accept, listener, node_id, nursery)
                    task_status.started()
        finally:
            for listener in group:
                with trio.CancelScope(shield=True):
                    await listener.aclose()
            entry = self._brokers.get(node_id)
            if entry is not None and entry[1] is done:
                del self._brokers[node_id]
            done.set()

    def stop_broker(self, node_id: int) -> None:
        """Take one broker down: close its listener and its connections. The partitions it leads stay led by
        it, so clients see connection errors for them, as with a dead broker."""
        if node_id not in self.config.node_ids:
            raise KeyError(f"no broker {node_id}")
        entry = self._brokers.get(node_id)
        if entry is not None:
            entry[0].cancel()

    async def wait_broker_stopped(self, node_id: int) -> None:
        entry = self._brokers.get(node_id)
        if entry is not None and entry[0].cancel_called:
            await entry[1].wait()

    async def start_broker(self, node_id: int) -> None:
        """Bring a stopped broker back on the same port."""
        assert self._nursery is not None, "serve() has not started"
        index = self.config.node_ids.index(node_id)
        entry = self._brokers.get(node_id)
        if entry is not None:
            if not entry[0].cancel_called:
                return  # already up
            await entry[1].wait()
        group = await trio.open_tcp_listeners(self.ports[index], host=self.config.host)
        await self._nursery.start(self._run_broker, node_id, group)

    def broker_up(self, node_id: int) -> bool:
        entry = self._brokers.get(node_id)
        return entry is not None and not entry[0].cancel_called

    def move_leader(self, topic: str, partition: int, new_leader: int) -> None:
        """Make ``new_leader`` the partition's leader with a bumped leader epoch; the old leader then answers
        NOT_LEADER_OR_FOLLOWER for it and clients refresh their metadata."""
        assert self.core is not None, "serve() has not started"
        self.core.cluster.move_leader(topic, partition, new_leader)
        self.core.data_version += 1  # parked fetches look again
        self._notify_data()

    async def _accept(self, listener: trio.SocketListener, node_id: int, nursery: trio.Nursery) -> None:
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    await trio.sleep(0.01)
                    continue
                raise
            peer = stream.socket.getpeername()
            nursery.start_soon(self.handle_stream, stream, node_id, str(peer[0]))

    async def handle_stream(self, stream: trio.abc.Stream, node_id: int, host: str = "127.0.0.1") -> None:
        assert self.core is not None
        core = self.core
        conn = BrokerConnection(node_id, self._next_conn, host)
        self._next_conn += 1
        try:
            async with stream:
                while True:
                    event = conn.next_event()
                    if event is None:
                        data = await stream.receive_some(RECEIVE_SIZE)
                        conn.receive_data(data)
                        continue
                    if isinstance(event, Close):
                        return
                    if isinstance(event, Reply):
                        await stream.send_all(event.data)
                        continue
                    assert isinstance(event, Incoming)
                    rule = self.faults.take(event.ctx.header.api_key) if self.faults.rules else None
                    if rule is not None and rule.action == "drop":
                        return
                    if rule is not None and rule.action == "fail":
                        header = event.ctx.header
                        failed = None if header.api_key == 0 and getattr(event.request, "acks", 1) == 0 else (
                            error_response(header.api_key, header.api_version, event.request, rule.error, core))
                        if failed is None:
                            log.info("fail rule for API key %d: no error response for it; closing the connection",
                                     header.api_key)
                            return
                        try:
                            reply = conn.respond(event.ctx, failed)
                        except EncodeError:
                            log.exception("cannot encode the error response to %s; closing the connection", header)
                            return
                        await stream.send_all(reply)
                        continue
                    delay = self.faults.delay_for(event.ctx.header.api_key) if self.faults.delays else 0.0
                    if delay:
                        await trio.sleep(delay)
                    before = core.data_version
                    try:
                        result = core.handle(event.ctx, event.request, now_ms())
                    except Exception:  # a bug must cost this connection only, never the broker
                        log.exception("internal error handling %s from %s; closing the connection",
                                      event.ctx.header, host)
                        return
                    finally:
                        if core.data_version != before:
                            self._notify_data()
                        if core.scheduled_ms is not None:
                            core.take_scheduled()
                            self.wake()
                        if core.zk is not None:
                            self._flush_zk_writes()
                    if rule is not None and rule.action == "lose_reply":
                        log.info("lose_reply rule for API key %d: executed; closing instead of answering",
                                 event.ctx.header.api_key)
                        return
                    if isinstance(result, CloseConnection):
                        log.info("closing connection from %s: %s", host, result.reason)
                        return
                    if isinstance(result, Pending):
                        try:
                            held = await self._wait(result)
                        except Exception:  # a bug in a poll (a held Produce appends there) costs this connection
                            log.exception("internal error answering %s from %s; closing the connection",
                                          event.ctx.header, host)
                            return
                        if isinstance(held, CloseConnection):
                            log.info("closing connection from %s: %s", host, held.reason)
                            return
                        result = None if isinstance(held, NoResponse) else held
                    if result is not None:
                        try:
                            reply = conn.respond(event.ctx, result)
                        except EncodeError:  # our bug: a response the version cannot carry
                            log.exception("cannot encode the response to %s; closing the connection", event.ctx.header)
                            return
                        await stream.send_all(reply)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return

    async def _deadlines(self) -> None:
        """Sleep until the core's next deadline (the log cleaner) or a wake-up, then tick it."""
        assert self.core is not None
        while True:
            deadline = self.core.next_deadline()
            wake = self._wake
            with trio.move_on_at(math.inf if deadline is None else deadline / 1000):
                await wake.wait()
            if self._wake is wake:
                self._wake = trio.Event()
            before = self.core.data_version
            self.core.tick(now_ms())
            if self.core.data_version != before:
                self._notify_data()
            if self.core.zk is not None:
                self._flush_zk_writes()

    def wake(self) -> None:
        """Make the deadline task re-read the core's deadline (after changing it from outside)."""
        self._wake.set()

    def _notify_data(self) -> None:
        self._data.set()
        self._data = trio.Event()

    async def _wait(self, pending: Pending) -> Message | CloseConnection | NoResponse:
        """Poll ``pending`` whenever data moves and at its deadline (which a poll may move on: a Produce held for a
        transaction's verification then waits for acks=all); what a poll appended wakes the others."""
        assert self.core is not None
        core = self.core
        while True:
            event = self._data
            with trio.move_on_at(pending.deadline_ms / 1000):
                await event.wait()
            now = now_ms()
            expired = now >= pending.deadline_ms
            before = core.data_version
            response = pending.poll(now, expired)
            if core.data_version != before:
                self._notify_data()
            if core.zk is not None:
                self._flush_zk_writes()
            if response is not None:
                return response
