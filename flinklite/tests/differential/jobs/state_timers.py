# Keyed state (value, list, map, reducing) and event-time timers in a KeyedProcessFunction.
from pyflink.common import Duration, Types, WatermarkStrategy
from pyflink.common.watermark_strategy import TimestampAssigner
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.datastream.functions import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import (ListStateDescriptor, MapStateDescriptor, ReducingStateDescriptor,
                                      ValueStateDescriptor)


class FieldTimestamp(TimestampAssigner):
    def extract_timestamp(self, value, record_timestamp):
        return value[2]


class SessionSummary(KeyedProcessFunction):
    def open(self, runtime_context: RuntimeContext):
        self.count = runtime_context.get_state(ValueStateDescriptor("count", Types.INT()))
        self.items = runtime_context.get_list_state(ListStateDescriptor("items", Types.STRING()))
        self.per_item = runtime_context.get_map_state(MapStateDescriptor("per_item", Types.STRING(), Types.INT()))
        self.total = runtime_context.get_reducing_state(
            ReducingStateDescriptor("total", lambda a, b: a + b, Types.INT()))
        self.deadline = runtime_context.get_state(ValueStateDescriptor("deadline", Types.LONG()))

    def process_element(self, value, ctx: 'KeyedProcessFunction.Context'):
        self.count.update((self.count.value() or 0) + 1)
        self.items.add(value[1])
        current = self.per_item.get(value[1])
        self.per_item.put(value[1], (current or 0) + 1)
        self.total.add(value[3])
        if self.deadline.value() is not None:
            ctx.timer_service().delete_event_time_timer(self.deadline.value())
        # Past the last event time, so timers fire on the end-of-input watermark in both runtimes
        # whenever Flink happens to emit its periodic watermarks.
        deadline = ctx.timestamp() + 10000
        self.deadline.update(deadline)
        ctx.timer_service().register_event_time_timer(deadline)
        yield "seen %s %s at %d" % (ctx.get_current_key(), value[1], ctx.timestamp())

    def on_timer(self, timestamp, ctx: 'KeyedProcessFunction.OnTimerContext'):
        items = sorted(self.items.get())
        per_item = sorted("%s=%d" % (k, v) for k, v in self.per_item.items())
        yield "timer %s at %d: count=%d items=%s per_item=%s total=%d" % (
            ctx.get_current_key(), timestamp, self.count.value(), items, per_item, self.total.get())
        self.count.clear()
        self.items.clear()
        self.per_item.clear()
        self.total.clear()
        self.deadline.clear()


env = StreamExecutionEnvironment.get_execution_environment()
env.set_parallelism(1)
events = [("u1", "book", 1000, 12), ("u2", "pen", 1100, 2), ("u1", "pen", 1500, 3), ("u1", "book", 2900, 12),
          ("u2", "cup", 6000, 5), ("u1", "lamp", 7000, 30), ("u3", "pen", 7100, 2), ("u1", "cup", 7500, 5)]
strategy = WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(FieldTimestamp())
env.from_collection(events, Types.TUPLE([Types.STRING(), Types.STRING(), Types.LONG(), Types.INT()])) \
    .assign_timestamps_and_watermarks(strategy) \
    .key_by(lambda e: e[0], Types.STRING()) \
    .process(SessionSummary(), Types.STRING()) \
    .print()
env.execute("state and timers")
