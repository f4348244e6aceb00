"""Functions the flinklite tests share (the unit tests, the job scripts and the compat tests)."""

from __future__ import annotations

from typing import Any

from flinklite.common import Types
from flinklite.datastream import KeyedProcessFunction
from flinklite.datastream.state import ValueStateDescriptor


class RunningCount(KeyedProcessFunction):
    """Counts the records of each key in the ValueState "count" and emits ``render(value, count)`` for each,
    ``(value, count)`` unless a subclass renders it otherwise."""

    def open(self, runtime_context: Any) -> None:
        self.count = runtime_context.get_state(ValueStateDescriptor("count", Types.INT()))

    def process_element(self, value: Any, ctx: Any) -> Any:
        count = (self.count.value() or 0) + 1
        self.count.update(count)
        yield self.render(value, count)

    def render(self, value: Any, count: int) -> Any:
        return (value, count)
