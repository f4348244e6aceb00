# Processing time at the end of a bounded job: pending processing-time timers and processing-time
# windows do not fire (the timer service is shut down when the input ends); event-time ones do.
from pyflink.common import Duration, Time, Types, WatermarkStrategy
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.functions import KeyedProcessFunction, ProcessWindowFunction
from pyflink.datastream.window import TumblingEventTimeWindows, TumblingProcessingTimeWindows


class Timers(KeyedProcessFunction):
    def process_element(self, value, ctx):
        ctx.timer_service().register_processing_time_timer(ctx.timer_service().current_processing_time() + 1500)
        ctx.timer_service().register_event_time_timer(ctx.timestamp() + 10)
        yield "element %s" % value[0]

    def on_timer(self, timestamp, ctx):
        yield "timer %s %s at %d" % (ctx.get_current_key(), ctx.time_domain(), timestamp)


class Count(ProcessWindowFunction):
    def process(self, key, context, elements):
        yield "window %s %d" % (key, len(list(elements)))


class First(TimestampAssigner):
    def extract_timestamp(self, value, record_timestamp):
        return value[1]


env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(1)
ds = env.from_collection([("a", 100), ("b", 200)], Types.TUPLE([Types.STRING(), Types.LONG()])) \
    .assign_timestamps_and_watermarks(WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_seconds(1))
                                      .with_timestamp_assigner(First()))
keyed = ds.key_by(lambda v: v[0], Types.STRING())
keyed.process(Timers(), Types.STRING()).print("timers")
keyed.window(TumblingProcessingTimeWindows.of(Time.seconds(5))).process(Count(), Types.STRING()).print("proc")
keyed.window(TumblingEventTimeWindows.of(Time.seconds(5))).process(Count(), Types.STRING()).print("event")
env.execute("processing time at the end")
