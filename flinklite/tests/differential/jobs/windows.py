# Tumbling, sliding and session windows with reduce, aggregate and a process window function.
from pyflink.common import Duration, Time, Types, WatermarkStrategy
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.functions import AggregateFunction, ProcessWindowFunction
from pyflink.datastream.window import (EventTimeSessionWindows, SlidingEventTimeWindows,
                                       TumblingEventTimeWindows)


class FieldTimestamp(TimestampAssigner):
    def extract_timestamp(self, value, record_timestamp):
        return value[2]


class Average(AggregateFunction):
    def create_accumulator(self):
        return (0, 0)

    def add(self, value, accumulator):
        return (accumulator[0] + value[1], accumulator[1] + 1)

    def get_result(self, accumulator):
        return accumulator[0] / accumulator[1]

    def merge(self, a, b):
        return (a[0] + b[0], a[1] + b[1])


class Describe(ProcessWindowFunction):
    def process(self, key, context, elements):
        values = sorted(e[1] for e in elements)
        yield "%s [%d,%d) n=%d values=%s" % (key, context.window().start, context.window().end,
                                             len(values), values)


class Label(ProcessWindowFunction):
    def process(self, key, context, elements):
        for average in elements:
            yield "%s session [%d,%d) avg=%.2f" % (key, context.window().start, context.window().end, average)


env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(1)
events = [("a", 1, 1000), ("b", 5, 1200), ("a", 2, 2500), ("a", 3, 2600), ("b", 7, 4100),
          ("a", 4, 6000), ("c", 1, 6100), ("a", 5, 12000), ("b", 2, 12500), ("c", 9, 13000)]
strategy = (WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_seconds(1))
            .with_timestamp_assigner(FieldTimestamp()))
stream = env.from_collection(events, Types.TUPLE([Types.STRING(), Types.INT(), Types.LONG()])) \
    .assign_timestamps_and_watermarks(strategy)
keyed = stream.key_by(lambda e: e[0], Types.STRING())

keyed.window(TumblingEventTimeWindows.of(Time.seconds(5))) \
    .reduce(lambda x, y: (x[0], x[1] + y[1], max(x[2], y[2])),
            output_type=Types.TUPLE([Types.STRING(), Types.INT(), Types.LONG()])).print("tumbling")
keyed.window(SlidingEventTimeWindows.of(Time.seconds(4), Time.seconds(2))) \
    .process(Describe(), Types.STRING()).print("sliding")
keyed.window(EventTimeSessionWindows.with_gap(Time.seconds(3))) \
    .aggregate(Average(), Label(), output_type=Types.STRING()).print("session")
env.execute("windows")
