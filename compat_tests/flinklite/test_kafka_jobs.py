"""flinklite jobs against the in-process broker: input written by kafka-python, the job reads
it with KafkaSource (bounded at the latest offsets) and writes with KafkaSink (at least once),
and confluent-kafka reads the results back."""

from __future__ import annotations

import uuid
from typing import Any

from confluent_kafka import Consumer, TopicPartition
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.structs import OffsetAndMetadata, TopicPartition as KTopicPartition

from broker.testing import RunningBroker
from flinklite.common import Duration, SimpleStringSchema, Time, Types, WatermarkStrategy
from flinklite.datastream import ProcessWindowFunction, StreamExecutionEnvironment
from flinklite.datastream.connectors import DeliveryGuarantee
from flinklite.datastream.connectors.kafka import (KafkaOffsetResetStrategy, KafkaOffsetsInitializer,
                                                   KafkaRecordSerializationSchema, KafkaSink, KafkaSource)
from flinklite.datastream.window import TumblingEventTimeWindows


def make_topics(bootstrap: str, *names: str, partitions: int = 3) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    admin.close()


def produce(bootstrap: str, topic: str, records: list[tuple[str, int, int]]) -> None:
    """(value, partition, timestamp ms)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for value, partition, timestamp in records:
        producer.send(topic, value=value.encode(), partition=partition, timestamp_ms=timestamp)
    producer.flush()
    producer.close()


def read_back(bootstrap: str, topic: str, partitions: int = 3) -> list[tuple[str, int]]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "reader-" + uuid.uuid4().hex,
                         "enable.auto.commit": False})
    ends = [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)]
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    out: list[tuple[str, int]] = []
    while len(out) < sum(ends):
        message = consumer.poll(5)
        assert message is not None, f"timed out with {len(out)} of {sum(ends)} records"
        assert message.error() is None
        out.append((message.value().decode(), message.timestamp()[1]))
    consumer.close()
    return out


def kafka_source(bootstrap: str, topic: str, starting: KafkaOffsetsInitializer | None = None,
                 group: str | None = None) -> KafkaSource:
    builder = (KafkaSource.builder().set_bootstrap_servers(bootstrap).set_topics(topic)
               .set_starting_offsets(starting or KafkaOffsetsInitializer.earliest())
               .set_value_only_deserializer(SimpleStringSchema()).set_bounded(KafkaOffsetsInitializer.latest()))
    if group:
        builder.set_group_id(group)
    return builder.build()


def kafka_sink(bootstrap: str, topic: str) -> KafkaSink:
    return (KafkaSink.builder().set_bootstrap_servers(bootstrap)
            .set_record_serializer(KafkaRecordSerializationSchema.builder().set_topic(topic)
                                   .set_value_serialization_schema(SimpleStringSchema()).build())
            .set_delivery_guarantee(DeliveryGuarantee.AT_LEAST_ONCE).build())


LINES = ["to be or not to be", "that is the question", "to be is to do", "be quick"]


def test_word_count_topic_to_topic(kafka_broker: RunningBroker) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    make_topics(bootstrap, "lines", "counts")
    produce(bootstrap, "lines", [(line, i % 3, 1000 + i) for i, line in enumerate(LINES)])

    for parallelism in (1, 2):
        env = StreamExecutionEnvironment.get_execution_environment().set_parallelism(parallelism)
        lines = env.from_source(kafka_source(bootstrap, "lines"), WatermarkStrategy.no_watermarks(), "lines")
        counts = (lines.flat_map(lambda line: line.split(), Types.STRING())
                  .map(lambda w: (w, 1), Types.TUPLE([Types.STRING(), Types.INT()]))
                  .key_by(lambda t: t[0]).sum(1)
                  .map(lambda t: f"{t[0]}:{t[1]}", Types.STRING()))
        counts.sink_to(kafka_sink(bootstrap, "counts"))
        env.execute(f"word count p={parallelism}")

    final: dict[str, int] = {}
    for value, _ in read_back(bootstrap, "counts"):
        word, count = value.rsplit(":", 1)
        final[word] = max(final.get(word, 0), int(count))
    expected: dict[str, int] = {}
    for word in " ".join(LINES).split():
        expected[word] = expected.get(word, 0) + 1
    assert final == expected


class CountWindow(ProcessWindowFunction):
    def process(self, key: Any, context: Any, elements: Any) -> Any:
        yield f"{key}@{context.window().start}={len(list(elements))}"


def test_keyed_tumbling_window_count_with_kafka_timestamps(kafka_broker: RunningBroker) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    make_topics(bootstrap, "clicks", "per-window")
    # user,partition,timestamp: the Kafka record timestamp is the event time.
    clicks = [("u1", 0, 1_000), ("u2", 1, 1_500), ("u1", 2, 2_500), ("u1", 0, 4_100),
              ("u2", 1, 4_900), ("u3", 2, 5_100), ("u1", 0, 9_999)]
    produce(bootstrap, "clicks", clicks)

    env = StreamExecutionEnvironment.get_execution_environment().set_parallelism(2)
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_seconds(1))
    source = env.from_source(kafka_source(bootstrap, "clicks"), strategy, "clicks")
    (source.key_by(lambda user: user).window(TumblingEventTimeWindows.of(Time.seconds(5)))
     .process(CountWindow(), Types.STRING()).sink_to(kafka_sink(bootstrap, "per-window")))
    env.execute("clicks per window")

    results = read_back(bootstrap, "per-window")
    assert sorted(v for v, _ in results) == sorted(["u1@0=3", "u2@0=2", "u3@5000=1", "u1@5000=1"])
    # The sink writes each window result with its timestamp (window end - 1), as Flink's KafkaSink does.
    assert {v: ts for v, ts in results}["u3@5000=1"] == 9_999


def test_starting_offsets_latest_timestamp_and_committed(kafka_broker: RunningBroker) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    make_topics(bootstrap, "events", partitions=1)
    produce(bootstrap, "events", [(f"e{i}", 0, 1000 * i) for i in range(10)])

    def run(starting: KafkaOffsetsInitializer, group: str | None = None) -> list[str]:
        env = StreamExecutionEnvironment.get_execution_environment()
        out = env.from_source(kafka_source(bootstrap, "events", starting, group),
                              WatermarkStrategy.no_watermarks(), "events").execute_and_collect()
        return list(out)

    assert run(KafkaOffsetsInitializer.latest()) == []
    assert run(KafkaOffsetsInitializer.timestamp(7000)) == ["e7", "e8", "e9"]
    assert run(KafkaOffsetsInitializer.earliest()) == [f"e{i}" for i in range(10)]

    # Committed offsets of a group (written by kafka-python), then the fallback when none exist.
    committer = KafkaConsumer(bootstrap_servers=bootstrap, group_id="flink-group", enable_auto_commit=False)
    committer.commit({KTopicPartition("events", 0): OffsetAndMetadata(6, "", -1)})
    committer.close()
    assert run(KafkaOffsetsInitializer.committed_offsets(), "flink-group") == ["e6", "e7", "e8", "e9"]
    fallback = KafkaOffsetsInitializer.committed_offsets(KafkaOffsetResetStrategy.EARLIEST)
    assert len(run(fallback, "other-group")) == 10


def test_unbounded_source_live_watermarks_with_an_idle_partition(kafka_broker: RunningBroker) -> None:
    """An unbounded job on the real clock: partition 1 never gets a record, so windows only close
    because with_idleness marks it idle; then the job is stopped from outside."""
    import threading
    import time

    from flinklite.testing import CollectSink

    bootstrap = kafka_broker.bootstrap_servers
    make_topics(bootstrap, "live", partitions=2)
    env = StreamExecutionEnvironment.get_execution_environment()
    strategy = WatermarkStrategy.for_monotonous_timestamps().with_idleness(Duration.of_millis(300))
    source = (KafkaSource.builder().set_bootstrap_servers(bootstrap).set_topics("live")
              .set_starting_offsets(KafkaOffsetsInitializer.earliest())
              .set_value_only_deserializer(SimpleStringSchema()).build())
    sink = CollectSink()
    env.from_source(source, strategy, "live").key_by(lambda v: v.split(":")[0]) \
        .window(TumblingEventTimeWindows.of(Time.seconds(1))).process(CountWindow(), Types.STRING()).sink_to(sink)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            env.execute("live")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    job = threading.Thread(target=run, daemon=True)
    job.start()
    stop_producing = threading.Event()

    def keep_producing() -> None:  # partition 0 stays active: a record every 100 ms, 200 ms of event time apart
        producer = KafkaProducer(bootstrap_servers=bootstrap)
        for i in range(100):
            if stop_producing.is_set():
                break
            producer.send("live", value=f"k:{i}".encode(), partition=0, timestamp_ms=200 * i)
            producer.flush()
            time.sleep(0.1)
        producer.close()

    feeder = threading.Thread(target=keep_producing, daemon=True)
    feeder.start()
    deadline = time.monotonic() + 20
    while len(sink.values) < 2 and time.monotonic() < deadline and not errors:
        time.sleep(0.05)
    assert env.last_executor is not None
    env.last_executor.stop()
    stop_producing.set()
    job.join(10)
    feeder.join(10)
    assert not errors, errors
    assert sink.values[:2] == ["k@0=5", "k@1000=5"]


def test_topic_pattern_source_and_sink_with_keys_and_topic_selector(kafka_broker: RunningBroker) -> None:
    bootstrap = kafka_broker.bootstrap_servers
    make_topics(bootstrap, "metrics-cpu", "metrics-mem", "other", "high", "low", partitions=2)
    produce(bootstrap, "metrics-cpu", [("cpu 91", 0, 1), ("cpu 12", 1, 2)])
    produce(bootstrap, "metrics-mem", [("mem 75", 0, 3)])
    produce(bootstrap, "other", [("ignored 99", 0, 4)])

    env = StreamExecutionEnvironment.get_execution_environment().set_parallelism(2)
    source = (KafkaSource.builder().set_bootstrap_servers(bootstrap).set_topic_pattern("metrics-.*")
              .set_starting_offsets(KafkaOffsetsInitializer.earliest()).set_bounded(KafkaOffsetsInitializer.latest())
              .set_value_only_deserializer(SimpleStringSchema()).build())
    serializer = (KafkaRecordSerializationSchema.builder()
                  .set_topic_selector(lambda line: "high" if int(line.split()[1]) > 50 else "low")
                  .set_key_serialization_schema(KeyOfLine()).set_value_serialization_schema(SimpleStringSchema())
                  .build())
    sink = KafkaSink.builder().set_bootstrap_servers(bootstrap).set_record_serializer(serializer).build()
    env.from_source(source, WatermarkStrategy.no_watermarks(), "metrics").sink_to(sink)
    env.execute("route metrics")

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "check", "enable.auto.commit": False})
    found: dict[str, list[tuple[bytes, str]]] = {"high": [], "low": []}
    for topic in found:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(2)])
        total = sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(2))
        while len(found[topic]) < total:
            message = consumer.poll(5)
            assert message is not None and message.error() is None
            found[topic].append((message.key(), message.value().decode()))
    consumer.close()
    assert sorted(found["high"]) == [(b"cpu", "cpu 91"), (b"mem", "mem 75")]
    assert found["low"] == [(b"cpu", "cpu 12")]


class KeyOfLine(SimpleStringSchema):
    def serialize(self, value: Any) -> bytes:
        return str(value).split()[0].encode()
