# Late data: allowed lateness re-fires a window, later data goes to the late side output.
# Watermarks must come between records here, so records are slowed to 300 ms apart (PyFlink
# needs that much to pass a record through its Python stages before the next one), the
# auto-watermark interval is 10 ms and PyFlink's Python bundles hold one record (1 ms) each.
import time

from pyflink.common import Configuration, Duration, Time, Types, WatermarkStrategy
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream import OutputTag, StreamExecutionEnvironment
from pyflink.datastream.functions import ProcessWindowFunction
from pyflink.datastream.window import TumblingEventTimeWindows


class FieldTimestamp(TimestampAssigner):
    def extract_timestamp(self, value, record_timestamp):
        return value[1]


class Describe(ProcessWindowFunction):
    def process(self, key, context, elements):
        yield "%s [%d,%d) %s" % (key, context.window().start, context.window().end,
                                 sorted(e[1] for e in elements))


def slowly(event):
    time.sleep(0.3)
    return event


config = Configuration()
config.set_string("python.fn-execution.bundle.size", "1")
config.set_string("python.fn-execution.bundle.time", "1")
env = StreamExecutionEnvironment.get_execution_environment(config)
env.set_parallelism(1)
env.get_config().set_auto_watermark_interval(10)
row = Types.TUPLE([Types.STRING(), Types.LONG()])
events = [("a", 1000), ("a", 2500), ("a", 1200), ("a", 4100), ("a", 1300), ("b", 4200), ("a", 6000),
          ("a", 3900), ("a", 5500), ("b", 9000)]
late = OutputTag("late", Types.TUPLE([Types.STRING(), Types.LONG()]))  # its own type object: PyFlink pickles the tag
strategy = WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(FieldTimestamp())
windows = env.from_collection(events, row).map(slowly, row) \
    .assign_timestamps_and_watermarks(strategy) \
    .key_by(lambda e: e[0], Types.STRING()) \
    .window(TumblingEventTimeWindows.of(Time.seconds(2))) \
    .allowed_lateness(1000) \
    .side_output_late_data(late) \
    .process(Describe(), Types.STRING())
windows.print("window")
windows.get_side_output(late).print("late")
env.execute("lateness")
