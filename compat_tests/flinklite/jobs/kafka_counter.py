# A job for the savepoint tests: reads a topic on our broker (KafkaSource, earliest offsets,
# unbounded unless --bounded, which stops at the latest offsets seen at start), keeps a keyed
# running count per word and a keyed event-time window count on the Kafka timestamps, and prints
# both.  python -m flinklite run kafka_counter.py --bootstrap HOST:PORT --topic T [--bounded]
import argparse

from flinklite.common import SimpleStringSchema, Time, WatermarkStrategy
from flinklite.datastream import StreamExecutionEnvironment
from flinklite.datastream.connectors.kafka import KafkaOffsetsInitializer, KafkaSource
from flinklite.datastream.window import TumblingEventTimeWindows
from flinklite.tests import functions


class RunningCount(functions.RunningCount):
    def render(self, value, count):
        return f"count {value} {count}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--bounded", action="store_true")
    options = parser.parse_args()
    env = StreamExecutionEnvironment.get_execution_environment()
    builder = KafkaSource.builder().set_bootstrap_servers(options.bootstrap).set_topics(options.topic) \
        .set_starting_offsets(KafkaOffsetsInitializer.earliest()) \
        .set_value_only_deserializer(SimpleStringSchema())
    if options.bounded:
        builder.set_bounded(KafkaOffsetsInitializer.latest())
    words = env.from_source(builder.build(), WatermarkStrategy.for_monotonous_timestamps(), "words")
    words.key_by(lambda w: w).process(RunningCount()).print()
    words.map(lambda w: (w, 1)).key_by(lambda p: p[0]) \
        .window(TumblingEventTimeWindows.of(Time.milliseconds(500))) \
        .reduce(lambda a, b: (a[0], a[1] + b[1])) \
        .map(lambda p: f"window {p[0]} {p[1]}").print()
    env.execute("kafka counter")


if __name__ == "__main__":
    main()
