"""flinklite vs Bytewax on the same input, in one run: records/s of a keyed tumbling-window
count (1,000 keys, 1 s event-time windows, records 1 ms apart) and of a stateless map, from
memory and from a topic on our broker (running in this process; both runtimes read the same
topic through their own Kafka source: flinklite's on kafka-python, Bytewax's on
confluent-kafka), into a counting sink. `python -m bench.flinklite [--records N] [--quick]`."""

from __future__ import annotations

import argparse
import os
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

KEYS = 1000


def flinklite_window(n: int) -> int:
    from flinklite.common import Duration, Time, WatermarkStrategy
    from flinklite.datastream import ProcessWindowFunction, StreamExecutionEnvironment
    from flinklite.datastream.window import TumblingEventTimeWindows
    from flinklite.testing import CollectSink

    class Count(ProcessWindowFunction):
        def process(self, key: Any, context: Any, elements: Any) -> Any:
            yield (key, context.window().start, len(elements))

    data = [(i % KEYS, i) for i in range(n)]
    env = StreamExecutionEnvironment.get_execution_environment()
    strategy = WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(0)) \
        .with_timestamp_assigner(lambda e, _ts: e[1])
    sink = CollectSink()
    env.from_collection(data).assign_timestamps_and_watermarks(strategy).key_by(lambda e: e[0]) \
        .window(TumblingEventTimeWindows.of(Time.seconds(1))).process(Count()).sink_to(sink)
    env.execute("window count")
    return len(sink.values)


def flinklite_map(n: int) -> int:
    from flinklite.datastream import StreamExecutionEnvironment

    count = [0]

    def sink(value: Any) -> None:
        count[0] += 1

    env = StreamExecutionEnvironment.get_execution_environment()
    env.from_collection(list(range(n))).map(lambda x: x * 2).add_sink(sink)
    env.execute("map")
    return count[0]


def bytewax_window(n: int) -> int:
    import bytewax.operators as op
    import bytewax.operators.windowing as win
    from bytewax.dataflow import Dataflow
    from bytewax.testing import TestingSink, TestingSource, run_main

    epoch = datetime(2024, 1, 1, tzinfo=timezone.utc)
    data = [(str(i % KEYS), epoch + timedelta(milliseconds=i)) for i in range(n)]
    out: list[Any] = []
    flow = Dataflow("window_count")
    stream = op.input("in", flow, TestingSource(data, batch_size=256))
    clock: Any = win.EventClock(lambda e: e[1], wait_for_system_duration=timedelta(0))
    windower = win.TumblingWindower(length=timedelta(seconds=1), align_to=epoch)
    counted = win.count_window("count", stream, clock, windower, lambda e: e[0])
    op.output("out", counted.down, TestingSink(out))
    run_main(flow)
    return len(out)


def bytewax_map(n: int) -> int:
    import bytewax.operators as op
    from bytewax.dataflow import Dataflow
    from bytewax.testing import TestingSink, TestingSource, run_main

    out: list[Any] = []
    flow = Dataflow("map")
    stream = op.input("in", flow, TestingSource(list(range(n)), batch_size=256))
    op.output("out", op.map("double", stream, lambda x: x * 2), TestingSink(out))
    run_main(flow)
    return len(out)


# -- from our broker ------------------------------------------------------------------------------

BROKER: dict[str, str] = {}  # "bootstrap" -> address, "map"/"window" -> topic holding n records


def fill_topics(n: int) -> None:
    """Start a broker in this process and write the two input topics (key i % KEYS, timestamp BASE + i ms)."""
    from confluent_kafka import Producer

    from broker.testing import RunningBroker

    broker = RunningBroker().start()
    BROKER["bootstrap"] = broker.bootstrap_servers
    producer = Producer({"bootstrap.servers": broker.bootstrap_servers, "linger.ms": 20, "acks": 1})
    base = int(datetime(2024, 1, 1, tzinfo=timezone.utc).timestamp() * 1000)
    for topic in ("bench-map", "bench-window"):
        for i in range(n):
            producer.produce(topic, value=f"{i % KEYS},{i}".encode(), partition=0, timestamp=base + i)
            if i % 10_000 == 0:
                producer.poll(0)
        producer.flush(60)


def flinklite_kafka_source(topic: str) -> Any:
    from flinklite.common.serialization import SimpleStringSchema
    from flinklite.datastream.connectors.kafka import KafkaOffsetsInitializer, KafkaSource

    return (KafkaSource.builder().set_bootstrap_servers(BROKER["bootstrap"]).set_topics(topic)
            .set_starting_offsets(KafkaOffsetsInitializer.earliest()).set_bounded(KafkaOffsetsInitializer.latest())
            .set_value_only_deserializer(SimpleStringSchema()).build())


def flinklite_window_from_broker(n: int) -> int:
    from flinklite.common import Time, WatermarkStrategy
    from flinklite.datastream import ProcessWindowFunction, StreamExecutionEnvironment
    from flinklite.datastream.window import TumblingEventTimeWindows
    from flinklite.testing import CollectSink

    class Count(ProcessWindowFunction):
        def process(self, key: Any, context: Any, elements: Any) -> Any:
            yield (key, context.window().start, len(elements))

    env = StreamExecutionEnvironment.get_execution_environment()
    sink = CollectSink()
    env.from_source(flinklite_kafka_source("bench-window"), WatermarkStrategy.for_monotonous_timestamps(), "in") \
        .key_by(lambda v: v.split(",", 1)[0]).window(TumblingEventTimeWindows.of(Time.seconds(1))) \
        .process(Count()).sink_to(sink)
    env.execute("window count from kafka")
    return len(sink.values)


def flinklite_map_from_broker(n: int) -> int:
    from flinklite.common import WatermarkStrategy
    from flinklite.datastream import StreamExecutionEnvironment

    count = [0]

    def sink(value: Any) -> None:
        count[0] += 1

    env = StreamExecutionEnvironment.get_execution_environment()
    env.from_source(flinklite_kafka_source("bench-map"), WatermarkStrategy.no_watermarks(), "in") \
        .map(lambda v: v.upper()).add_sink(sink)
    env.execute("map from kafka")
    return count[0]


def bytewax_kafka_input(flow: Any, topic: str) -> Any:
    import bytewax.operators as op
    from bytewax.connectors.kafka import KafkaSource

    return op.input("in", flow, KafkaSource([BROKER["bootstrap"]], [topic], tail=False))


def bytewax_window_from_broker(n: int) -> int:
    import bytewax.operators as op
    import bytewax.operators.windowing as win
    from bytewax.dataflow import Dataflow
    from bytewax.testing import TestingSink, run_main

    epoch = datetime(2024, 1, 1, tzinfo=timezone.utc)
    out: list[Any] = []
    flow = Dataflow("window_count_kafka")
    stream = bytewax_kafka_input(flow, "bench-window")
    clock: Any = win.EventClock(lambda m: datetime.fromtimestamp(m.timestamp[1] / 1000, timezone.utc),
                                wait_for_system_duration=timedelta(0))
    windower = win.TumblingWindower(length=timedelta(seconds=1), align_to=epoch)
    counted = win.count_window("count", stream, clock, windower, lambda m: m.value.split(b",", 1)[0].decode())
    op.output("out", counted.down, TestingSink(out))
    run_main(flow)
    return len(out)


def bytewax_map_from_broker(n: int) -> int:
    import bytewax.operators as op
    from bytewax.dataflow import Dataflow
    from bytewax.testing import TestingSink, run_main

    out: list[Any] = []
    flow = Dataflow("map_kafka")
    stream = bytewax_kafka_input(flow, "bench-map")
    op.output("out", op.map("upper", stream, lambda m: m.value.upper()), TestingSink(out))
    run_main(flow)
    return len(out)


def timed(fn: Callable[[int], int], n: int) -> tuple[float, int]:
    started = time.perf_counter()
    produced = fn(n)
    return n / (time.perf_counter() - started), produced


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    options = parser.parse_args()
    n = 5_000 if options.quick else options.records
    rounds = 1 if options.quick else options.rounds
    print(f"records per run: {n:,}; best of {rounds} interleaved rounds; load {os.getloadavg()[0]:.2f}")
    fill_topics(n)
    pairs = [("keyed tumbling-window count, 1,000 keys", flinklite_window, bytewax_window),
             ("stateless map", flinklite_map, bytewax_map),
             ("keyed tumbling-window count, 1,000 keys, from our broker", flinklite_window_from_broker,
              bytewax_window_from_broker),
             ("stateless map, from our broker", flinklite_map_from_broker, bytewax_map_from_broker)]
    print("| workload | flinklite rec/s | Bytewax rec/s | flinklite/Bytewax |")
    print("| --- | ---: | ---: | ---: |")
    for name, ours, theirs in pairs:
        best_ours = best_theirs = 0.0
        outputs = set()
        for _ in range(rounds):
            rate, produced_ours = timed(ours, n)
            best_ours = max(best_ours, rate)
            rate, produced_theirs = timed(theirs, n)
            best_theirs = max(best_theirs, rate)
            outputs.add((produced_ours, produced_theirs))
        print(f"| {name} | {best_ours:,.0f} | {best_theirs:,.0f} | {best_ours / best_theirs:.2f} |  outputs {sorted(outputs)}")


if __name__ == "__main__":
    main()
