"""Owns pyflink.common's public names: time values, types, rows, schemas, watermark strategies
and the execution config."""

from flinklite.common.configuration import Configuration
from flinklite.common.execution_config import ExecutionConfig
from flinklite.common.serialization import (ByteArraySchema, DeserializationSchema, Encoder,
                                            SerializationSchema, SimpleStringSchema)
from flinklite.common.time import Duration, Instant, Time
from flinklite.common.typeinfo import TypeInformation, Types
from flinklite.common.types import Row, RowKind
from flinklite.common.watermark_strategy import TimestampAssigner, WatermarkStrategy

__all__ = [
    "ByteArraySchema", "Configuration", "DeserializationSchema", "Duration", "Encoder", "ExecutionConfig",
    "Instant", "Row", "RowKind", "SerializationSchema", "SimpleStringSchema", "Time", "TimestampAssigner",
    "TypeInformation", "Types", "WatermarkStrategy",
]
