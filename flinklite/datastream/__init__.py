"""Owns pyflink.datastream's public names (the DataStream API)."""

from flinklite.datastream.checkpoint_config import CheckpointConfig
from flinklite.datastream.connectors.base import DeliveryGuarantee, Sink, SinkWriter, Source, SourceReader
from flinklite.datastream.data_stream import (AllWindowedStream, CloseableIterator, ConnectedStreams, DataStream,
                                              DataStreamSink, KeyedStream, WindowedStream)
from flinklite.datastream.functions import (AggregateFunction, AllWindowFunction, CoFlatMapFunction, CoMapFunction,
                                            CoProcessFunction, FilterFunction, FlatMapFunction, KeyedCoProcessFunction,
                                            KeyedProcessFunction, KeySelector, MapFunction, ProcessAllWindowFunction,
                                            ProcessFunction, ProcessWindowFunction, ReduceFunction, RuntimeContext,
                                            SinkFunction, SourceFunction, WindowFunction)
from flinklite.datastream.output_tag import OutputTag
from flinklite.datastream.stream_execution_environment import (JobExecutionResult, RuntimeExecutionMode,
                                                               StreamExecutionEnvironment)
from flinklite.datastream.time_domain import TimeDomain
from flinklite.datastream.timerservice import TimerService
from flinklite.datastream.window import (CountSlidingWindowAssigner, CountTumblingWindowAssigner, CountTrigger,
                                         EventTimeSessionWindows, EventTimeTrigger, GlobalWindows,
                                         MergingWindowAssigner, ProcessingTimeSessionWindows, ProcessingTimeTrigger,
                                         PurgingTrigger, SlidingEventTimeWindows, SlidingProcessingTimeWindows,
                                         TimeWindow, Trigger, TriggerResult, TumblingEventTimeWindows,
                                         TumblingProcessingTimeWindows, WindowAssigner)

__all__ = [
    "AggregateFunction", "AllWindowFunction", "AllWindowedStream", "CheckpointConfig", "CloseableIterator", "CoFlatMapFunction",
    "CoMapFunction", "CoProcessFunction", "ConnectedStreams", "CountSlidingWindowAssigner",
    "CountTumblingWindowAssigner", "CountTrigger", "DataStream", "DataStreamSink", "DeliveryGuarantee",
    "EventTimeSessionWindows", "EventTimeTrigger", "FilterFunction", "FlatMapFunction", "GlobalWindows",
    "JobExecutionResult", "KeyedCoProcessFunction", "KeyedProcessFunction", "KeyedStream", "KeySelector",
    "MapFunction", "MergingWindowAssigner", "OutputTag", "ProcessAllWindowFunction", "ProcessFunction",
    "ProcessWindowFunction", "ProcessingTimeSessionWindows", "ProcessingTimeTrigger", "PurgingTrigger",
    "ReduceFunction", "RuntimeContext", "RuntimeExecutionMode", "Sink", "SinkFunction", "SinkWriter",
    "SlidingEventTimeWindows", "SlidingProcessingTimeWindows", "Source", "SourceFunction", "SourceReader",
    "StreamExecutionEnvironment", "TimeDomain", "TimeWindow", "TimerService", "Trigger", "TriggerResult",
    "TumblingEventTimeWindows", "TumblingProcessingTimeWindows", "WindowAssigner", "WindowFunction",
    "WindowedStream",
]
