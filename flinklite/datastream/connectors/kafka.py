"""Owns the Kafka connectors (pyflink.datastream.connectors.kafka), on kafka-python.

KafkaSource assigns partitions itself, as Flink's enumerator does (no group membership):
partition p of topic t goes to reader ((t.hashCode() * 31 & 0x7FFFFFFF) % n + p) % n. Each
reader seeks to its starting offsets (earliest, latest, committed offsets of the group id, or
the first offset at a timestamp), tracks the next offset per partition (its snapshot), reports
each record's partition so watermarks are generated per partition, and stops at the stopping
offsets when bounded. Offsets are not committed (Flink commits only on checkpoints).

KafkaSink writes with at-least-once (acks=all, flushed and checked at the end of input) or
NONE on kafka-python, or EXACTLY_ONCE: Kafka transactions per checkpoint and subtask, pre-committed
on the barrier and committed when the checkpoint completes (`ExactlyOnceKafkaSinkWriter`; the
decisions are in `kafka_transactions.py`, the transactional client in `kafka_txn_producer.py`)."""

from __future__ import annotations

import re
import sys
import time
from enum import Enum
from typing import Any, Callable

from flinklite.common.serialization import DeserializationSchema, SerializationSchema
from flinklite.datastream.connectors.base import (Boundedness, DeliveryGuarantee, Sink, SinkWriter, Source,
                                                  SourceReader)
from flinklite.errors import InvalidProgramError, JobExecutionError, UnsupportedFeatureError
from flinklite.state.keygroups import java_hash_code

__all__ = ["DeliveryGuarantee", "KafkaOffsetResetStrategy", "KafkaOffsetsInitializer", "KafkaRecordSerializationSchema",
           "KafkaSink", "KafkaSource", "KafkaTopicPartition"]


class KafkaTopicPartition:
    def __init__(self, topic: str, partition: int) -> None:
        self.topic = topic
        self.partition = partition

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KafkaTopicPartition) and (self.topic, self.partition) == (other.topic, other.partition)

    def __hash__(self) -> int:
        return hash((self.topic, self.partition))

    def __repr__(self) -> str:
        return f"{self.topic}-{self.partition}"


class KafkaOffsetResetStrategy(Enum):
    LATEST = 0
    EARLIEST = 1
    NONE = 2


class KafkaOffsetsInitializer:
    """Where a partition starts (or stops)."""

    def __init__(self, kind: str, timestamp: int | None = None,
                 reset: KafkaOffsetResetStrategy = KafkaOffsetResetStrategy.NONE,
                 offsets: dict[KafkaTopicPartition, int] | None = None) -> None:
        self.kind = kind
        self.timestamp_ms = timestamp
        self.reset = reset
        self.specific = offsets or {}

    @staticmethod
    def earliest() -> KafkaOffsetsInitializer:
        return KafkaOffsetsInitializer("earliest")

    @staticmethod
    def latest() -> KafkaOffsetsInitializer:
        return KafkaOffsetsInitializer("latest")

    @staticmethod
    def committed_offsets(offset_reset_strategy: KafkaOffsetResetStrategy = KafkaOffsetResetStrategy.NONE
                          ) -> KafkaOffsetsInitializer:
        return KafkaOffsetsInitializer("committed", reset=offset_reset_strategy)

    @staticmethod
    def timestamp(timestamp: int) -> KafkaOffsetsInitializer:
        return KafkaOffsetsInitializer("timestamp", timestamp=timestamp)

    @staticmethod
    def offsets(offsets: dict[KafkaTopicPartition, int],
                offset_reset_strategy: KafkaOffsetResetStrategy = KafkaOffsetResetStrategy.EARLIEST
                ) -> KafkaOffsetsInitializer:
        return KafkaOffsetsInitializer("specific", reset=offset_reset_strategy, offsets=offsets)

    def resolve(self, consumer: Any, partitions: list[Any], group_id: str | None) -> dict[Any, int]:
        """Offsets per kafka-python TopicPartition."""
        if not partitions:
            return {}
        if self.kind == "earliest":
            return dict(consumer.beginning_offsets(partitions))
        if self.kind == "latest":
            return dict(consumer.end_offsets(partitions))
        if self.kind == "timestamp":
            found = consumer.offsets_for_times({tp: self.timestamp_ms for tp in partitions})
            ends = consumer.end_offsets(partitions)
            return {tp: (found[tp].offset if found.get(tp) is not None else ends[tp]) for tp in partitions}
        result: dict[Any, int] = {}
        missing = []
        for tp in partitions:
            if self.kind == "specific":
                offset = self.specific.get(KafkaTopicPartition(tp.topic, tp.partition))
            else:
                if not group_id:
                    raise InvalidProgramError("committed_offsets() needs set_group_id(...) on the KafkaSource")
                offset = consumer.committed(tp)
            if offset is None:
                missing.append(tp)
            else:
                result[tp] = offset
        if missing:
            if self.reset == KafkaOffsetResetStrategy.NONE:
                raise JobExecutionError(f"no committed offset for {missing} in group {group_id!r} and the "
                                        "offset reset strategy is NONE")
            fallback = (consumer.beginning_offsets(missing) if self.reset == KafkaOffsetResetStrategy.EARLIEST
                        else consumer.end_offsets(missing))
            result.update(fallback)
        return result


class KafkaSource(Source):
    def __init__(self, builder: KafkaSourceBuilder) -> None:
        self.bootstrap_servers = builder._bootstrap_servers
        self.topics = list(builder._topics)
        self.topic_pattern = builder._topic_pattern
        self.partitions = list(builder._partitions)
        self.group_id = builder._group_id
        self.starting = builder._starting
        self.stopping = builder._stopping
        self.deserializer = builder._deserializer
        self.properties = dict(builder._properties)

    @staticmethod
    def builder() -> KafkaSourceBuilder:
        return KafkaSourceBuilder()

    def get_boundedness(self) -> Boundedness:
        return Boundedness.BOUNDED if self.stopping is not None else Boundedness.CONTINUOUS_UNBOUNDED

    def create_reader(self, subtask_index: int, parallelism: int) -> SourceReader:
        return KafkaSourceReader(self, subtask_index, parallelism)


def split_owner(topic: str, partition: int, readers: int) -> int:
    """Flink's KafkaSourceEnumerator.getSplitOwner."""
    start = ((java_hash_code(topic) * 31) & 0x7FFFFFFF) % readers
    return (start + partition) % readers


# KafkaSource settings that are not consumer configuration.
_SOURCE_ONLY_PROPERTIES = {"commit.offsets.on.checkpoint", "partition.discovery.interval.ms",
                           "register.consumer.metrics", "client.id.prefix"}


class KafkaSourceReader(SourceReader):
    def __init__(self, source: KafkaSource, subtask_index: int, parallelism: int) -> None:
        from kafka import KafkaConsumer, TopicPartition

        self.source = source
        config: dict[str, Any] = {"bootstrap_servers": source.bootstrap_servers, "enable_auto_commit": False,
                                  "group_id": source.group_id, "auto_offset_reset": "earliest"}
        for key, value in source.properties.items():
            if key not in _SOURCE_ONLY_PROPERTIES:
                config[key.replace(".", "_")] = value
        self.consumer = KafkaConsumer(**config)
        topics = list(source.topics)
        if source.topic_pattern is not None:
            pattern = re.compile(source.topic_pattern)
            topics = sorted(t for t in self.consumer.topics() if pattern.fullmatch(t))
        all_partitions = [TopicPartition(p.topic, p.partition) for p in source.partitions]
        for topic in topics:
            ids = self.consumer.partitions_for_topic(topic)
            if ids is None:
                raise JobExecutionError(f"KafkaSource: topic {topic!r} does not exist")
            all_partitions.extend(TopicPartition(topic, p) for p in sorted(ids))
        self.partitions = [tp for tp in all_partitions if split_owner(tp.topic, tp.partition, parallelism) == subtask_index]
        self.consumer.assign(self.partitions)
        self.next_offsets: dict[Any, int] = source.starting.resolve(self.consumer, self.partitions, source.group_id)
        for tp, offset in self.next_offsets.items():
            self.consumer.seek(tp, offset)
        self.stop_offsets: dict[Any, int] | None = None
        if source.stopping is not None:
            self.stop_offsets = source.stopping.resolve(self.consumer, self.partitions, source.group_id)
        self.done: set[Any] = set()
        self._check_done()
        self.buffer: list[tuple[Any, Any, int | None]] = []
        self.buffer_offsets: list[tuple[Any, int]] = []  # (partition, offset) of each buffered record
        assert source.deserializer is not None
        self.deserialize = source.deserializer.deserialize

    def split_ids(self) -> list[Any]:
        return [f"{tp.topic}-{tp.partition}" for tp in self.partitions]

    def _check_done(self) -> None:
        if self.stop_offsets is None:
            return
        for tp in self.partitions:
            if tp not in self.done and self.next_offsets.get(tp, 0) >= self.stop_offsets[tp]:
                self.done.add(tp)
        paused = [tp for tp in self.done]
        if paused:
            self.consumer.pause(*paused)

    def _fetch(self, timeout_ms: int, max_records: int) -> None:
        if len(self.done) == len(self.partitions):
            return
        batches = self.consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
        for tp, records in batches.items():
            stop = self.stop_offsets[tp] if self.stop_offsets is not None else None
            for record in records:
                if stop is not None and record.offset >= stop:
                    break
                self.buffer.append((f"{tp.topic}-{tp.partition}", self.deserialize(record.value), record.timestamp))
                self.buffer_offsets.append((tp, record.offset))
                self.next_offsets[tp] = record.offset + 1
        if self.stop_offsets is not None:
            for tp in self.partitions:
                if tp not in self.done:
                    position = self.consumer.position(tp)
                    if position is not None and position > self.next_offsets.get(tp, 0) and not batches.get(tp):
                        self.next_offsets[tp] = position  # skipped control records / markers
        self._check_done()

    def poll(self, max_records: int, now: int) -> list[tuple[Any, Any, int | None]]:
        if not self.buffer:
            self._fetch(0, max_records)
        out, self.buffer = self.buffer[:max_records], self.buffer[max_records:]
        self.buffer_offsets = self.buffer_offsets[max_records:]
        return out

    def wait_for_data(self, timeout_ms: int) -> None:
        if not self.buffer:
            self._fetch(max(timeout_ms, 1), 500)

    def is_finished(self) -> bool:
        return self.stop_offsets is not None and not self.buffer and len(self.done) == len(self.partitions)

    def snapshot(self) -> Any:
        """Per partition, the offset of the next record not yet emitted (fetched but buffered
        records are read again after a restore)."""
        emitted = dict(self.next_offsets)
        for tp, offset in reversed(self.buffer_offsets):
            emitted[tp] = offset
        return {f"{tp.topic}-{tp.partition}": offset for tp, offset in emitted.items()}

    def restore(self, state: Any) -> None:
        if not state:
            return
        for tp in self.partitions:
            offset = state.get(f"{tp.topic}-{tp.partition}")
            if offset is not None:
                self.next_offsets[tp] = offset
                self.consumer.seek(tp, offset)
        self._check_done()

    def notify_checkpoint_complete(self, checkpoint_id: int, position: Any) -> None:
        """Like Flink's KafkaSource: a completed checkpoint's offsets are committed to the
        consumer group (for monitoring; recovery uses the checkpoint), unless there is no group
        or `commit.offsets.on.checkpoint` is false."""
        from kafka.structs import OffsetAndMetadata

        if not self.source.group_id or not position \
                or str(self.source.properties.get("commit.offsets.on.checkpoint", "true")).lower() == "false":
            return
        offsets = {tp: OffsetAndMetadata(position[f"{tp.topic}-{tp.partition}"], "", -1)
                   for tp in self.partitions if f"{tp.topic}-{tp.partition}" in position}
        if offsets:
            self.consumer.commit(offsets)

    def close(self) -> None:
        self.consumer.close()


class KafkaSourceBuilder:
    def __init__(self) -> None:
        self._bootstrap_servers: str | None = None
        self._topics: list[str] = []
        self._topic_pattern: str | None = None
        self._partitions: set[KafkaTopicPartition] = set()
        self._group_id: str | None = None
        self._starting = KafkaOffsetsInitializer.earliest()
        self._stopping: KafkaOffsetsInitializer | None = None
        self._deserializer: DeserializationSchema | None = None
        self._properties: dict[str, Any] = {}

    def set_bootstrap_servers(self, bootstrap_servers: str) -> KafkaSourceBuilder:
        self._bootstrap_servers = bootstrap_servers
        return self

    def set_topics(self, *topics: str) -> KafkaSourceBuilder:
        self._topics = list(topics)
        return self

    def set_topic_pattern(self, topic_pattern: str) -> KafkaSourceBuilder:
        self._topic_pattern = topic_pattern
        return self

    def set_partitions(self, partitions: set[KafkaTopicPartition]) -> KafkaSourceBuilder:
        self._partitions = set(partitions)
        return self

    def set_group_id(self, group_id: str) -> KafkaSourceBuilder:
        self._group_id = group_id
        return self

    def set_client_id_prefix(self, prefix: str) -> KafkaSourceBuilder:
        self._properties["client.id"] = prefix
        return self

    def set_starting_offsets(self, starting_offsets_initializer: KafkaOffsetsInitializer) -> KafkaSourceBuilder:
        self._starting = starting_offsets_initializer
        return self

    def set_bounded(self, stopping_offsets_initializer: KafkaOffsetsInitializer) -> KafkaSourceBuilder:
        self._stopping = stopping_offsets_initializer
        return self

    def set_unbounded(self, stopping_offsets_initializer: KafkaOffsetsInitializer) -> KafkaSourceBuilder:
        raise UnsupportedFeatureError("set_unbounded with stopping offsets is not supported; use set_bounded")

    def set_value_only_deserializer(self, deserialization_schema: DeserializationSchema) -> KafkaSourceBuilder:
        self._deserializer = deserialization_schema
        return self

    def set_property(self, key: str, value: str) -> KafkaSourceBuilder:
        if key == "group.id":
            self._group_id = value
        elif key == "bootstrap.servers":
            self._bootstrap_servers = value
        else:
            self._properties[key] = value
        return self

    def set_properties(self, props: dict[str, str]) -> KafkaSourceBuilder:
        for key, value in props.items():
            self.set_property(key, value)
        return self

    def build(self) -> KafkaSource:
        if not self._bootstrap_servers:
            raise InvalidProgramError("KafkaSource needs set_bootstrap_servers(...)")
        if not (self._topics or self._topic_pattern or self._partitions):
            raise InvalidProgramError("KafkaSource needs set_topics(...), set_topic_pattern(...) or set_partitions(...)")
        if self._deserializer is None:
            raise InvalidProgramError("KafkaSource needs set_value_only_deserializer(...) (e.g. SimpleStringSchema())")
        return KafkaSource(self)


class KafkaRecordSerializationSchema:
    def __init__(self, topic: str | None, topic_selector: Callable[[Any], str] | None,
                 value_schema: SerializationSchema, key_schema: SerializationSchema | None,
                 key_selector: Callable[[Any], Any] | None = None) -> None:
        self.topic = topic
        self.topic_selector = topic_selector
        self.value_schema = value_schema
        self.key_schema = key_schema

    @staticmethod
    def builder() -> KafkaRecordSerializationSchemaBuilder:
        return KafkaRecordSerializationSchemaBuilder()

    def serialize(self, value: Any) -> tuple[str, bytes | None, bytes]:
        topic = self.topic if self.topic is not None else self.topic_selector(value)  # type: ignore[misc]
        key = self.key_schema.serialize(value) if self.key_schema is not None else None
        return topic, key, self.value_schema.serialize(value)


class KafkaRecordSerializationSchemaBuilder:
    def __init__(self) -> None:
        self._topic: str | None = None
        self._topic_selector: Callable[[Any], str] | None = None
        self._value: SerializationSchema | None = None
        self._key: SerializationSchema | None = None

    def set_topic(self, topic: str) -> KafkaRecordSerializationSchemaBuilder:
        self._topic = topic
        return self

    def set_topic_selector(self, topic_selector: Any) -> KafkaRecordSerializationSchemaBuilder:
        self._topic_selector = topic_selector.apply if hasattr(topic_selector, "apply") else topic_selector
        return self

    def set_key_serialization_schema(self, key_serialization_schema: SerializationSchema) -> KafkaRecordSerializationSchemaBuilder:
        self._key = key_serialization_schema
        return self

    def set_value_serialization_schema(self, value_serialization_schema: SerializationSchema) -> KafkaRecordSerializationSchemaBuilder:
        self._value = value_serialization_schema
        return self

    def build(self) -> KafkaRecordSerializationSchema:
        if self._topic is None and self._topic_selector is None:
            raise InvalidProgramError("KafkaRecordSerializationSchema needs set_topic(...) or set_topic_selector(...)")
        if self._value is None:
            raise InvalidProgramError("KafkaRecordSerializationSchema needs set_value_serialization_schema(...)")
        return KafkaRecordSerializationSchema(self._topic, self._topic_selector, self._value, self._key)


class KafkaSink(Sink):
    def __init__(self, builder: KafkaSinkBuilder) -> None:
        self.bootstrap_servers = builder._bootstrap_servers
        self.serializer = builder._serializer
        self.guarantee = builder._guarantee
        self.properties = dict(builder._properties)
        self.transactional_id_prefix = builder._transactional_id_prefix

    @staticmethod
    def builder() -> KafkaSinkBuilder:
        return KafkaSinkBuilder()

    def create_writer(self, subtask_index: int, parallelism: int) -> SinkWriter:
        if self.guarantee == DeliveryGuarantee.EXACTLY_ONCE:
            return ExactlyOnceKafkaSinkWriter(self, subtask_index, parallelism)
        return KafkaSinkWriter(self)


class KafkaSinkWriter(SinkWriter):
    def __init__(self, sink: KafkaSink) -> None:
        from kafka import KafkaProducer

        config: dict[str, Any] = {"bootstrap_servers": sink.bootstrap_servers,
                                  "acks": "all" if sink.guarantee == DeliveryGuarantee.AT_LEAST_ONCE else 1}
        for key, value in sink.properties.items():
            config[key.replace(".", "_")] = value
        self.producer = KafkaProducer(**config)
        self.serializer = sink.serializer
        self.guarantee = sink.guarantee
        self.pending: list[Any] = []

    def write(self, value: Any, timestamp: int | None) -> None:
        assert self.serializer is not None
        topic, key, payload = self.serializer.serialize(value)
        future = self.producer.send(topic, key=key, value=payload,
                                    timestamp_ms=timestamp if timestamp is not None and timestamp >= 0 else None)
        if self.guarantee == DeliveryGuarantee.AT_LEAST_ONCE:
            self.pending.append(future)
            if len(self.pending) >= 10_000:
                self._check(flush=False)

    def _check(self, flush: bool) -> None:
        if flush:
            self.producer.flush()
        still = []
        for future in self.pending:
            if future.is_done:
                if future.failed():
                    raise JobExecutionError(f"KafkaSink: a record was not acknowledged: {future.exception!r}")
            else:
                still.append(future)
        self.pending = still

    def flush(self, end_of_input: bool) -> None:
        self.producer.flush()
        self._check(flush=True)

    def close(self) -> None:
        self.producer.close()


class ExactlyOnceKafkaSinkWriter(SinkWriter):
    """DeliveryGuarantee.EXACTLY_ONCE, as Flink's KafkaWriter + KafkaCommitter: records go into
    the subtask's open transaction `<prefix>-<subtask>-<n>`; on a checkpoint's barrier they are
    flushed and the transaction is pre-committed (left open, its producer id and epoch go into
    the checkpoint) and the next one is opened; when the checkpoint completes it is committed.
    A restored attempt first commits what its checkpoint pre-committed, then fences the later
    ids of its prefix and subtask (lingering transactions of the failed attempt are aborted).
    At the end of a bounded input everything commits. Needs checkpointing for anything to be
    committed before the end of the input."""

    def __init__(self, sink: KafkaSink, subtask_index: int, parallelism: int) -> None:
        from flinklite.datastream.connectors.kafka_transactions import TransactionPlan
        from flinklite.datastream.connectors.kafka_txn_producer import BlockingTransactionalProducer, ProducerSettings

        assert sink.transactional_id_prefix and sink.bootstrap_servers and sink.serializer is not None
        self.serializer = sink.serializer
        self.plan = TransactionPlan(sink.transactional_id_prefix, subtask_index, parallelism)
        props = sink.properties
        settings = ProducerSettings(
            sink.bootstrap_servers, client_id=str(props.get("client.id", f"{sink.transactional_id_prefix}-{subtask_index}")),
            transaction_timeout_ms=int(props.get("transaction.timeout.ms", 900_000)),
            request_timeout_s=int(props.get("request.timeout.ms", 30_000)) / 1000,
            delivery_timeout_s=int(props.get("delivery.timeout.ms", 120_000)) / 1000,
            retry_backoff_s=int(props.get("retry.backoff.ms", 20)) / 1000,
            retry_backoff_max_s=int(props.get("retry.backoff.max.ms", 1000)) / 1000)
        # the buffer goes out (one batch per partition, acks=all) once it holds batch.size bytes
        self.batch_bytes = max(1, int(props.get("batch.size", 16384)))
        self.producer = BlockingTransactionalProducer(settings)
        self.buffer: list[tuple[str, bytes | None, bytes | None, int]] = []
        self.buffered_bytes = 0
        self.started = False
        self.log: list[str] = []  # what the writer did at transaction boundaries (tests read it)

    # -- lifecycle ----------------------------------------------------------------------------
    def restore_state(self, states: dict[int, Any]) -> None:
        self.plan.restore(states)

    def _start(self) -> None:
        """Once restored (or not): commit what the restored checkpoint pre-committed, fence the
        lingering transactions, open the first transaction."""
        if self.started:
            return
        self.started = True
        for committable in self.plan.to_commit_on_restore:
            self._commit(committable.transactional_id, committable.producer_id, committable.epoch, "restored")
        probe = self.plan.probe()
        while (tid := probe.next_id()) is not None:
            _, epoch = self.producer.init_producer_id(tid)
            probe.observed(epoch)
        self.log.extend(f"fenced {tid}" for tid in probe.fenced)
        self.producer.begin(self.plan.first_transaction())

    def _commit(self, transactional_id: str, producer_id: int, epoch: int, why: str) -> None:
        from flinklite.datastream.connectors.kafka_txn_producer import KafkaTransactionError
        from wire.kafka.error_codes import ErrorCode

        try:
            self.producer.end_transaction(transactional_id, producer_id, epoch, True)
        except KafkaTransactionError as exc:
            # As Flink's committer: a transaction that was fenced or aborted (for instance by the
            # transaction timeout) cannot be committed any more; its records are lost. Failing the
            # job would only fail again on the same checkpoint, so it is logged and dropped.
            if exc.code not in (ErrorCode.PRODUCER_FENCED, ErrorCode.INVALID_PRODUCER_EPOCH,
                                ErrorCode.INVALID_TXN_STATE, ErrorCode.INVALID_PRODUCER_ID_MAPPING):
                raise
            self.log.append(f"lost {transactional_id}: {exc}")
            print(f"[flinklite] KafkaSink: transaction {transactional_id} (producer id {producer_id}, epoch {epoch}) "
                  f"could not be committed and is lost: {exc}", file=sys.stderr)
            return
        self.log.append(f"committed {transactional_id} ({why})")

    # -- records ------------------------------------------------------------------------------
    def write(self, value: Any, timestamp: int | None) -> None:
        if not self.started:
            self._start()
        topic, key, payload = self.serializer.serialize(value)
        if timestamp is None or timestamp < 0:
            timestamp = int(time.time() * 1000)
        self.buffer.append((topic, key, payload, timestamp))
        self.buffered_bytes += len(payload) + (len(key) if key else 0) + 16
        if self.buffered_bytes >= self.batch_bytes:
            self._send()

    def _send(self) -> None:
        if self.buffer:
            records, self.buffer, self.buffered_bytes = self.buffer, [], 0
            self.producer.send(records)

    # -- checkpoints --------------------------------------------------------------------------
    def snapshot_state(self, checkpoint_id: int) -> Any:
        if self.plan.finished:
            return self.plan.state(checkpoint_id)
        if not self.started:
            self._start()
        self._send()
        precommitted = self.producer.precommit()
        if precommitted is not None:
            self.log.append(f"pre-committed {self.plan.id_of(self.plan.current or 0)} at checkpoint {checkpoint_id}")
        following = self.plan.on_barrier(checkpoint_id, precommitted)
        for tid in following[:-1]:
            self.producer.init_producer_id(tid)  # ids skipped by a jump in checkpoint ids stay contiguous
        self.producer.begin(following[-1])
        return self.plan.state(checkpoint_id)

    def notify_checkpoint_complete(self, checkpoint_id: int) -> None:
        for committable in self.plan.on_checkpoint_complete(checkpoint_id):
            self._commit(committable.transactional_id, committable.producer_id, committable.epoch,
                         f"checkpoint {checkpoint_id}")

    def flush(self, end_of_input: bool) -> None:
        if not end_of_input or self.plan.finished:
            return
        if not self.started:
            self._start()
        self._send()
        for committable in self.plan.on_end_of_input(self.producer.precommit()):
            self._commit(committable.transactional_id, committable.producer_id, committable.epoch, "end of input")

    def close(self) -> None:
        """The open transaction was never pre-committed (no checkpoint holds it): abort it, best
        effort (a failed attempt's next attempt fences it anyway). Pre-committed ones are left to
        the checkpoint that holds them."""
        txn = self.producer.txn
        try:
            if txn is not None and txn.records and not self.plan.finished:
                self.producer.end_transaction(txn.transactional_id, txn.producer_id, txn.epoch, False)
                self.log.append(f"aborted {txn.transactional_id} (close)")
        except Exception as exc:  # noqa: BLE001 - closing after a failure: the next attempt fences it
            self.log.append(f"abort of {txn.transactional_id if txn else None} failed at close: {exc}")
        finally:
            self.producer.close()


class KafkaSinkBuilder:
    def __init__(self) -> None:
        self._bootstrap_servers: str | None = None
        self._serializer: KafkaRecordSerializationSchema | None = None
        self._guarantee = DeliveryGuarantee.NONE
        self._properties: dict[str, Any] = {}
        self._transactional_id_prefix: str | None = None

    def set_bootstrap_servers(self, bootstrap_servers: str) -> KafkaSinkBuilder:
        self._bootstrap_servers = bootstrap_servers
        return self

    def set_record_serializer(self, record_serializer: KafkaRecordSerializationSchema) -> KafkaSinkBuilder:
        self._serializer = record_serializer
        return self

    def set_delivery_guarantee(self, delivery_guarantee: DeliveryGuarantee) -> KafkaSinkBuilder:
        self._guarantee = delivery_guarantee
        return self

    def set_transactional_id_prefix(self, transactional_id_prefix: str) -> KafkaSinkBuilder:
        self._transactional_id_prefix = transactional_id_prefix
        return self

    def set_property(self, key: str, value: str) -> KafkaSinkBuilder:
        self._properties[key] = value
        return self

    def build(self) -> KafkaSink:
        if not self._bootstrap_servers:
            raise InvalidProgramError("KafkaSink needs set_bootstrap_servers(...)")
        if self._serializer is None:
            raise InvalidProgramError("KafkaSink needs set_record_serializer(...)")
        if self._guarantee == DeliveryGuarantee.EXACTLY_ONCE and not self._transactional_id_prefix:
            raise InvalidProgramError("EXACTLY_ONCE delivery guarantee requires a transactional id prefix to be set: "
                                      "call set_transactional_id_prefix(...) with a prefix unique to this job")
        return KafkaSink(self)
