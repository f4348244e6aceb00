"""Owns flinklite's trio-native transactional Kafka producer, built on the `wire.kafka` codecs and
the trio connection of `broker.replication.client`, for the exactly-once KafkaSink. It does what
kafka-python cannot: commit (or abort) a transaction it did not open, given the transactional
id, producer id and epoch a checkpoint recorded (EndTxn under that producer id and epoch), and
fence transactional ids by InitProducerId, reading the epoch it answers.

Also the write path of a transaction: InitProducerId at the transaction coordinator
(FindCoordinator), AddPartitionsToTxn for each partition the transaction touches, transactional
Produce (acks=all) with one v2 batch per partition whose base sequence continues the
partition's sequence for the producer id and epoch (a retried batch keeps its sequence, so a
lost acknowledgement is answered as a duplicate rather than written twice), EndTxn.

Retries, with exponential backoff up to a deadline: NOT_COORDINATOR,
COORDINATOR_NOT_AVAILABLE and COORDINATOR_LOAD_IN_PROGRESS (the coordinator is looked up again),
CONCURRENT_TRANSACTIONS, leadership and metadata errors (metadata is refreshed), timeouts and
lost connections (the request is sent again on a new connection). Anything else raises
`KafkaTransactionError` carrying the error code.

`BlockingTransactionalProducer` runs one `TransactionalProducer` on its own trio loop in a
daemon thread, for the synchronous executor: every method blocks until the loop has done it."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import trio

from broker.replication.client import KafkaConnection, ProtocolError
from wire.errors import DecodeError
from wire.kafka._message import Message
from wire.kafka.error_codes import ErrorCode
from wire.kafka.messages.add_partitions_to_txn import AddPartitionsToTxnRequest, AddPartitionsToTxnResponse
from wire.kafka.messages.end_txn import EndTxnRequest, EndTxnResponse
from wire.kafka.messages.find_coordinator import FindCoordinatorRequest, FindCoordinatorResponse
from wire.kafka.messages.init_producer_id import InitProducerIdRequest, InitProducerIdResponse
from wire.kafka.messages.metadata import MetadataRequest, MetadataResponse
from wire.kafka.messages.produce import ProduceRequest, ProduceRequest_PartitionProduceData, ProduceResponse
from wire.kafka.records import BatchBuilder

T = TypeVar("T")
Address = tuple[str, int]
TopicPartition = tuple[str, int]

# API versions (supported by Kafka 2.8 through 4.x and by our broker)
PRODUCE_V = 9
METADATA_V = 9
FIND_COORDINATOR_V = 3
INIT_PRODUCER_ID_V = 4
ADD_PARTITIONS_V = 3
END_TXN_V = 3

COORDINATOR_ERRORS = frozenset({ErrorCode.NOT_COORDINATOR, ErrorCode.COORDINATOR_NOT_AVAILABLE,
                                ErrorCode.COORDINATOR_LOAD_IN_PROGRESS})
METADATA_ERRORS = frozenset({ErrorCode.NOT_LEADER_OR_FOLLOWER, ErrorCode.LEADER_NOT_AVAILABLE,
                             ErrorCode.UNKNOWN_TOPIC_OR_PARTITION, ErrorCode.FENCED_LEADER_EPOCH,
                             ErrorCode.UNKNOWN_LEADER_EPOCH, ErrorCode.KAFKA_STORAGE_ERROR,
                             ErrorCode.REPLICA_NOT_AVAILABLE, ErrorCode.BROKER_NOT_AVAILABLE})
RETRY_LATER = frozenset({ErrorCode.CONCURRENT_TRANSACTIONS, ErrorCode.REQUEST_TIMED_OUT, ErrorCode.NETWORK_EXCEPTION,
                         ErrorCode.NOT_ENOUGH_REPLICAS, ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
                         ErrorCode.OPERATION_NOT_ATTEMPTED, ErrorCode.THROTTLING_QUOTA_EXCEEDED})


class KafkaTransactionError(Exception):
    """A transactional request failed for good (or its retries ran out: `code` is the last error)."""

    def __init__(self, message: str, code: int = ErrorCode.UNKNOWN_SERVER_ERROR) -> None:
        super().__init__(message)
        self.code = code


class _Retry(Exception):
    def __init__(self, reason: str, code: int = ErrorCode.NETWORK_EXCEPTION, coordinator: bool = False,
                 metadata: bool = False) -> None:
        super().__init__(reason)
        self.code = code
        self.coordinator = coordinator
        self.metadata = metadata


@dataclass
class ProducerSettings:
    bootstrap_servers: str
    client_id: str = "flinklite-kafka-sink"
    transaction_timeout_ms: int = 900_000
    request_timeout_s: float = 30.0
    delivery_timeout_s: float = 120.0  # how long one operation keeps retrying
    retry_backoff_s: float = 0.02
    retry_backoff_max_s: float = 1.0

    def addresses(self) -> list[Address]:
        out = []
        for item in self.bootstrap_servers.split(","):
            host, _, port = item.strip().rpartition(":")
            out.append((host.strip("[]") or "localhost", int(port)))
        return out


def _error_name(code: int) -> str:
    try:
        return ErrorCode(code).name
    except ValueError:
        return str(code)


class _Cluster:
    """Connections by address, broker addresses by node id, partition leaders by topic."""

    def __init__(self, settings: ProducerSettings) -> None:
        self.settings = settings
        self.connections: dict[Address, KafkaConnection] = {}
        self.brokers: dict[int, Address] = {}
        self.leaders: dict[str, dict[int, int]] = {}  # topic -> partition -> leader node id

    async def request(self, address: Address, api_key: int, version: int, body: Message) -> Any:
        """One request on the connection to `address`; any transport trouble closes it and
        raises _Retry (the caller sends the request again)."""
        conn = self.connections.get(address)
        try:
            if conn is None:
                with trio.fail_after(self.settings.request_timeout_s):
                    conn = await KafkaConnection.open(address[0], address[1], self.settings.client_id)
                self.connections[address] = conn
            with trio.fail_after(self.settings.request_timeout_s):
                return await conn.request(api_key, version, body)
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError, ProtocolError,
                DecodeError) as exc:
            await self.drop(address)
            raise _Retry(f"{address[0]}:{address[1]}: {type(exc).__name__}: {exc}") from exc

    async def drop(self, address: Address) -> None:
        conn = self.connections.pop(address, None)
        if conn is not None:
            await trio.aclose_forcefully(conn.stream)

    def known_addresses(self) -> list[Address]:
        return list(dict.fromkeys([*self.brokers.values(), *self.settings.addresses()]))

    async def request_any(self, api_key: int, version: int, body: Message) -> Any:
        last: _Retry | None = None
        for address in self.known_addresses():
            try:
                return await self.request(address, api_key, version, body)
            except _Retry as exc:
                last = exc
        raise last or _Retry("no broker address")

    async def refresh(self, topics: list[str]) -> None:
        req = MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=t) for t in topics],
                              allow_auto_topic_creation=True)
        resp: MetadataResponse = await self.request_any(3, METADATA_V, req)
        for b in resp.brokers:
            self.brokers[b.node_id] = (b.host, b.port)
        for t in resp.topics:
            if t.error_code != ErrorCode.NONE or t.name is None:
                if t.error_code in METADATA_ERRORS:
                    raise _Retry(f"metadata of {t.name}: {_error_name(t.error_code)}", t.error_code, metadata=True)
                raise KafkaTransactionError(f"metadata of topic {t.name!r}: {_error_name(t.error_code)}", t.error_code)
            self.leaders[t.name] = {p.partition_index: p.leader_id for p in t.partitions}

    async def close(self) -> None:
        for address in list(self.connections):
            await self.drop(address)


@dataclass
class OpenTransaction:
    transactional_id: str
    producer_id: int
    epoch: int
    partitions: set[TopicPartition] = field(default_factory=set)
    sequences: dict[TopicPartition, int] = field(default_factory=dict)
    records: int = 0


class TransactionalProducer:
    """Async: one open transaction at a time (`begin` ... `send` ... then the caller records
    its ids and ends it by `end_transaction`, possibly after a restart in another producer)."""

    def __init__(self, settings: ProducerSettings) -> None:
        self.settings = settings
        self.cluster = _Cluster(settings)
        self.coordinators: dict[str, Address] = {}
        self.txn: OpenTransaction | None = None
        self._round_robin: dict[str, itertools.count[int]] = {}
        self.requests_retried = 0  # for tests and logs

    # -- retries ------------------------------------------------------------------------------
    async def _retrying(self, what: str, attempt: Callable[[], Awaitable[T]], key: str | None = None) -> T:
        deadline = trio.current_time() + self.settings.delivery_timeout_s
        backoff = self.settings.retry_backoff_s
        while True:
            try:
                return await attempt()
            except _Retry as exc:
                if exc.coordinator and key is not None:
                    self.coordinators.pop(key, None)
                if exc.metadata:
                    self.cluster.leaders.clear()
                if trio.current_time() + backoff > deadline:
                    raise KafkaTransactionError(f"{what}: still failing after {self.settings.delivery_timeout_s} s: "
                                                f"{exc}", exc.code) from exc
                self.requests_retried += 1
            await trio.sleep(backoff)
            backoff = min(backoff * 2, self.settings.retry_backoff_max_s)

    async def _coordinator(self, transactional_id: str) -> Address:
        known = self.coordinators.get(transactional_id)
        if known is not None:
            return known
        resp: FindCoordinatorResponse = await self.cluster.request_any(
            10, FIND_COORDINATOR_V, FindCoordinatorRequest(key=transactional_id, key_type=1))
        if resp.error_code != ErrorCode.NONE:
            if resp.error_code in COORDINATOR_ERRORS:
                raise _Retry(f"FindCoordinator {transactional_id}: {_error_name(resp.error_code)}", resp.error_code)
            raise KafkaTransactionError(f"FindCoordinator {transactional_id}: {_error_name(resp.error_code)}",
                                        resp.error_code)
        address = (resp.host, resp.port)
        self.cluster.brokers[resp.node_id] = address
        self.coordinators[transactional_id] = address
        return address

    def _check(self, what: str, code: int) -> None:
        if code == ErrorCode.NONE:
            return
        if code in COORDINATOR_ERRORS:
            raise _Retry(f"{what}: {_error_name(code)}", code, coordinator=True)
        if code in RETRY_LATER:
            raise _Retry(f"{what}: {_error_name(code)}", code)
        raise KafkaTransactionError(f"{what}: {_error_name(code)}", code)

    # -- transactions -------------------------------------------------------------------------
    async def init_producer_id(self, transactional_id: str) -> tuple[int, int]:
        """InitProducerId: the id's producer id and new epoch. Fences the id's previous producer
        and aborts what it had open (the broker answers CONCURRENT_TRANSACTIONS meanwhile)."""
        async def attempt() -> tuple[int, int]:
            address = await self._coordinator(transactional_id)
            resp: InitProducerIdResponse = await self.cluster.request(
                address, 22, INIT_PRODUCER_ID_V,
                InitProducerIdRequest(transactional_id=transactional_id,
                                      transaction_timeout_ms=self.settings.transaction_timeout_ms))
            if resp.error_code == ErrorCode.INVALID_TRANSACTION_TIMEOUT:
                raise KafkaTransactionError(
                    f"InitProducerId {transactional_id}: INVALID_TRANSACTION_TIMEOUT: the sink's transaction.timeout.ms "
                    f"({self.settings.transaction_timeout_ms}) is above the broker's transaction.max.timeout.ms; "
                    "lower it with set_property('transaction.timeout.ms', ...)", resp.error_code)
            self._check(f"InitProducerId {transactional_id}", resp.error_code)
            return resp.producer_id, resp.producer_epoch
        return await self._retrying(f"InitProducerId {transactional_id}", attempt, transactional_id)

    async def begin(self, transactional_id: str) -> tuple[int, int]:
        producer_id, epoch = await self.init_producer_id(transactional_id)
        self.txn = OpenTransaction(transactional_id, producer_id, epoch)
        return producer_id, epoch

    async def end_transaction(self, transactional_id: str, producer_id: int, epoch: int, commit: bool) -> None:
        """EndTxn under the given producer id and epoch (of this producer's transaction, or one
        recorded in a checkpoint). A retry of an EndTxn whose answer was lost succeeds again."""
        what = f"EndTxn({'commit' if commit else 'abort'}) {transactional_id} pid {producer_id} epoch {epoch}"

        async def attempt() -> None:
            address = await self._coordinator(transactional_id)
            resp: EndTxnResponse = await self.cluster.request(
                address, 26, END_TXN_V, EndTxnRequest(transactional_id=transactional_id, producer_id=producer_id,
                                                      producer_epoch=epoch, committed=commit))
            self._check(what, resp.error_code)
        await self._retrying(what, attempt, transactional_id)
        self.coordinators.pop(transactional_id, None)  # the id is done with
        if self.txn is not None and self.txn.transactional_id == transactional_id:
            self.txn = None

    async def _add_partitions(self, txn: OpenTransaction, partitions: list[TopicPartition]) -> None:
        by_topic: dict[str, list[int]] = {}
        for topic, partition in partitions:
            by_topic.setdefault(topic, []).append(partition)
        req = AddPartitionsToTxnRequest(
            v3_and_below_transactional_id=txn.transactional_id, v3_and_below_producer_id=txn.producer_id,
            v3_and_below_producer_epoch=txn.epoch,
            v3_and_below_topics=[AddPartitionsToTxnRequest.AddPartitionsToTxnTopic(name=t, partitions=sorted(ps))
                                 for t, ps in by_topic.items()])
        what = f"AddPartitionsToTxn {txn.transactional_id}"

        async def attempt() -> None:
            address = await self._coordinator(txn.transactional_id)
            resp: AddPartitionsToTxnResponse = await self.cluster.request(address, 24, ADD_PARTITIONS_V, req)
            self._check(what, resp.error_code)
            codes = [p.partition_error_code for t in resp.results_by_topic_v3_and_below
                     for p in t.results_by_partition]
            failed = [c for c in codes if c != ErrorCode.NONE]
            # OPERATION_NOT_ATTEMPTED marks partitions held back by another's error: report that one
            for code in sorted(failed, key=lambda c: c == ErrorCode.OPERATION_NOT_ATTEMPTED):
                self._check(what, code)
        await self._retrying(what, attempt, txn.transactional_id)
        txn.partitions.update(partitions)

    def _partition(self, topic: str, key: bytes | None, count: int) -> int:
        if key is not None:
            from kafka.partitioner.default import murmur2  # Kafka's default partitioner for keyed records

            return (murmur2(key) & 0x7FFFFFFF) % count
        counter = self._round_robin.setdefault(topic, itertools.count())
        return next(counter) % count

    async def _leaders(self, topics: list[str]) -> None:
        missing = [t for t in topics if t not in self.cluster.leaders]
        if missing:
            await self._retrying(f"Metadata {missing}", lambda: self.cluster.refresh(missing))

    async def send(self, records: list[tuple[str, bytes | None, bytes | None, int]]) -> None:
        """(topic, key, value, timestamp ms) into the open transaction; returns once every record
        is acknowledged by acks=all."""
        txn = self.txn
        if txn is None:
            raise KafkaTransactionError("send outside a transaction")
        if not records:
            return
        topics = list(dict.fromkeys(r[0] for r in records))
        await self._leaders(topics)
        grouped: dict[TopicPartition, list[tuple[bytes | None, bytes | None, int]]] = {}
        for topic, key, value, timestamp in records:
            partitions = self.cluster.leaders[topic]
            if not partitions:
                raise KafkaTransactionError(f"topic {topic!r} has no partitions", ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)
            grouped.setdefault((topic, self._partition(topic, key, len(partitions))), []).append((key, value, timestamp))
        new = [tp for tp in grouped if tp not in txn.partitions]
        if new:
            await self._add_partitions(txn, new)
        batches: dict[TopicPartition, bytes] = {}
        for tp, items in grouped.items():
            sequence = txn.sequences.get(tp, 0)
            builder = BatchBuilder(producer_id=txn.producer_id, producer_epoch=txn.epoch, base_sequence=sequence,
                                   is_transactional=True)
            for key, value, timestamp in items:
                builder.append(value, key, timestamp=timestamp)
            batches[tp] = builder.build()
            txn.sequences[tp] = (sequence + len(items)) & 0x7FFFFFFF
        await self._produce(txn, batches)
        txn.records += len(records)

    async def _produce(self, txn: OpenTransaction, batches: dict[TopicPartition, bytes]) -> None:
        remaining = dict(batches)
        what = f"Produce {txn.transactional_id}"

        async def attempt() -> None:
            await self._leaders(list({t for t, _ in remaining}))
            by_leader: dict[int, dict[TopicPartition, bytes]] = {}
            for tp, batch in remaining.items():
                leader = self.cluster.leaders.get(tp[0], {}).get(tp[1], -1)
                if leader < 0 or leader not in self.cluster.brokers:
                    raise _Retry(f"{what}: no leader for {tp}", ErrorCode.LEADER_NOT_AVAILABLE, metadata=True)
                by_leader.setdefault(leader, {})[tp] = batch
            retry: _Retry | None = None
            for leader, mine in by_leader.items():
                topics: dict[str, list[ProduceRequest_PartitionProduceData]] = {}
                for (topic, partition), batch in mine.items():
                    topics.setdefault(topic, []).append(ProduceRequest.PartitionProduceData(index=partition,
                                                                                            records=batch))
                req = ProduceRequest(transactional_id=txn.transactional_id, acks=-1,
                                     timeout_ms=int(self.settings.request_timeout_s * 1000),
                                     topic_data=[ProduceRequest.TopicProduceData(name=t, partition_data=ps)
                                                 for t, ps in topics.items()])
                try:
                    resp: ProduceResponse = await self.cluster.request(self.cluster.brokers[leader], 0, PRODUCE_V, req)
                except _Retry as exc:
                    retry = exc
                    continue
                for topic_resp in resp.responses:
                    for p in topic_resp.partition_responses:
                        tp = (topic_resp.name, p.index)
                        code = p.error_code
                        if code in (ErrorCode.NONE, ErrorCode.DUPLICATE_SEQUENCE_NUMBER):
                            remaining.pop(tp, None)
                        elif code in METADATA_ERRORS:
                            retry = _Retry(f"{what} {tp}: {_error_name(code)}", code, metadata=True)
                        elif code in RETRY_LATER:
                            retry = _Retry(f"{what} {tp}: {_error_name(code)}", code)
                        else:
                            raise KafkaTransactionError(f"{what} {tp}: {_error_name(code)}", code)
            if remaining:
                raise retry or _Retry(f"{what}: no answer for {sorted(remaining)}")
        await self._retrying(what, attempt)

    def precommit(self) -> tuple[int, int] | None:
        """The open transaction, flushed (every `send` has been acknowledged): its (producer id,
        epoch) if it holds records, for the checkpoint; None if it is empty. It stays open."""
        txn = self.txn
        if txn is None or txn.records == 0:
            return None
        return txn.producer_id, txn.epoch

    async def aclose(self) -> None:
        await self.cluster.close()


class BlockingTransactionalProducer:
    """A TransactionalProducer on a trio loop in a daemon thread; its methods block the caller."""

    def __init__(self, settings: ProducerSettings) -> None:
        self.producer = TransactionalProducer(settings)
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name=f"kafka-txn-{settings.client_id}", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def _main(self) -> None:
        async def loop() -> None:
            self._token = trio.lowlevel.current_trio_token()
            self._stop = trio.Event()
            self._ready.set()
            await self._stop.wait()
            await self.producer.aclose()
        try:
            trio.run(loop)
        except BaseException as exc:  # noqa: BLE001 - handed to the thread that waits for readiness
            self._error = exc
            self._ready.set()

    def _call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        if self._token is None or not self._thread.is_alive():
            raise KafkaTransactionError("the producer is closed")
        return trio.from_thread.run(fn, *args, trio_token=self._token)

    def init_producer_id(self, transactional_id: str) -> tuple[int, int]:
        """InitProducerId alone (fencing an id, not opening a transaction under it)."""
        result = self._call(self.producer.init_producer_id, transactional_id)
        self.producer.coordinators.pop(transactional_id, None)
        return result

    def begin(self, transactional_id: str) -> tuple[int, int]:
        return self._call(self.producer.begin, transactional_id)

    def send(self, records: list[tuple[str, bytes | None, bytes | None, int]]) -> None:
        self._call(self.producer.send, records)

    def precommit(self) -> tuple[int, int] | None:
        return self.producer.precommit()

    def end_transaction(self, transactional_id: str, producer_id: int, epoch: int, commit: bool) -> None:
        self._call(self.producer.end_transaction, transactional_id, producer_id, epoch, commit)

    @property
    def txn(self) -> OpenTransaction | None:
        return self.producer.txn

    def close(self) -> None:
        if self._token is not None and self._thread.is_alive() and self._stop is not None:
            try:
                trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
            except trio.RunFinishedError:
                pass
        self._thread.join(timeout=10)
