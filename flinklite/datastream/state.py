"""Owns the keyed-state API (pyflink.datastream.state): the state interfaces user functions
see, their descriptors, and StateTtlConfig. The implementations live in `flinklite.state`."""

from __future__ import annotations

from enum import Enum
from typing import Any, Dict, Generic, Iterable, Iterator, List, Tuple, TypeVar

from flinklite.common.time import to_millis
from flinklite.common.typeinfo import TypeInformation, Types
from flinklite.errors import InvalidProgramError

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")
IN = TypeVar("IN")
OUT = TypeVar("OUT")


class State:
    def clear(self) -> None:
        raise NotImplementedError


class ValueState(State, Generic[T]):
    def value(self) -> T:
        raise NotImplementedError

    def update(self, value: T) -> None:
        raise NotImplementedError


class AppendingState(State, Generic[IN, OUT]):
    def get(self) -> OUT:
        raise NotImplementedError

    def add(self, value: IN) -> None:
        raise NotImplementedError


class MergingState(AppendingState[IN, OUT]):
    pass


class ReducingState(MergingState[T, T]):
    pass


class AggregatingState(MergingState[IN, OUT]):
    pass


class ListState(MergingState[T, Iterable[T]]):
    def update(self, values: List[T]) -> None:
        raise NotImplementedError

    def add_all(self, values: List[T]) -> None:
        raise NotImplementedError

    def __iter__(self) -> Iterator[T]:
        return iter(self.get())


class MapState(State, Generic[K, V]):
    def get(self, key: K) -> V:
        raise NotImplementedError

    def put(self, key: K, value: V) -> None:
        raise NotImplementedError

    def put_all(self, dict_value: Dict[K, V]) -> None:
        raise NotImplementedError

    def remove(self, key: K) -> None:
        raise NotImplementedError

    def contains(self, key: K) -> bool:
        raise NotImplementedError

    def items(self) -> Iterable[Tuple[K, V]]:
        raise NotImplementedError

    def keys(self) -> Iterable[K]:
        raise NotImplementedError

    def values(self) -> Iterable[V]:
        raise NotImplementedError

    def is_empty(self) -> bool:
        raise NotImplementedError

    def __getitem__(self, key: K) -> V:
        return self.get(key)

    def __setitem__(self, key: K, value: V) -> None:
        self.put(key, value)

    def __delitem__(self, key: K) -> None:
        self.remove(key)

    def __contains__(self, key: object) -> bool:
        return self.contains(key)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[K]:
        return iter(self.keys())


class StateTtlConfig:
    """Time-to-live of keyed state entries, measured in processing time (Flink's only TTL clock)."""

    class UpdateType(Enum):
        Disabled = 0
        OnCreateAndWrite = 1
        OnReadAndWrite = 2

    class StateVisibility(Enum):
        ReturnExpiredIfNotCleanedUp = 0
        NeverReturnExpired = 1

    class TtlTimeCharacteristic(Enum):
        ProcessingTime = 0

    def __init__(self, update_type: StateTtlConfig.UpdateType, state_visibility: StateTtlConfig.StateVisibility,
                 ttl_time_characteristic: StateTtlConfig.TtlTimeCharacteristic, ttl_ms: int) -> None:
        self._update_type = update_type
        self._state_visibility = state_visibility
        self._ttl_time_characteristic = ttl_time_characteristic
        self.ttl_ms = ttl_ms

    @staticmethod
    def new_builder(ttl: Any) -> StateTtlConfig.Builder:
        return StateTtlConfig.Builder(ttl)

    def get_update_type(self) -> StateTtlConfig.UpdateType:
        return self._update_type

    def get_state_visibility(self) -> StateTtlConfig.StateVisibility:
        return self._state_visibility

    def get_ttl_time_characteristic(self) -> StateTtlConfig.TtlTimeCharacteristic:
        return self._ttl_time_characteristic

    def is_enabled(self) -> bool:
        return self._update_type != StateTtlConfig.UpdateType.Disabled

    def __repr__(self) -> str:
        return (f"StateTtlConfig<updateType={self._update_type}, stateVisibility={self._state_visibility}, "
                f"ttl={self.ttl_ms} ms>")

    class Builder:
        def __init__(self, ttl: Any) -> None:
            self._ttl_ms = to_millis(ttl, "StateTtlConfig.new_builder")
            if self._ttl_ms <= 0:
                raise InvalidProgramError("StateTtlConfig needs a positive ttl")
            self._update_type = StateTtlConfig.UpdateType.OnCreateAndWrite
            self._visibility = StateTtlConfig.StateVisibility.NeverReturnExpired

        def set_update_type(self, update_type: StateTtlConfig.UpdateType) -> StateTtlConfig.Builder:
            self._update_type = update_type
            return self

        def update_ttl_on_create_and_write(self) -> StateTtlConfig.Builder:
            return self.set_update_type(StateTtlConfig.UpdateType.OnCreateAndWrite)

        def update_ttl_on_read_and_write(self) -> StateTtlConfig.Builder:
            return self.set_update_type(StateTtlConfig.UpdateType.OnReadAndWrite)

        def set_state_visibility(self, state_visibility: StateTtlConfig.StateVisibility) -> StateTtlConfig.Builder:
            self._visibility = state_visibility
            return self

        def return_expired_if_not_cleaned_up(self) -> StateTtlConfig.Builder:
            return self.set_state_visibility(StateTtlConfig.StateVisibility.ReturnExpiredIfNotCleanedUp)

        def never_return_expired(self) -> StateTtlConfig.Builder:
            return self.set_state_visibility(StateTtlConfig.StateVisibility.NeverReturnExpired)

        def set_ttl_time_characteristic(self, c: StateTtlConfig.TtlTimeCharacteristic) -> StateTtlConfig.Builder:
            return self

        def use_processing_time(self) -> StateTtlConfig.Builder:
            return self

        def cleanup_full_snapshot(self) -> StateTtlConfig.Builder:
            return self

        def cleanup_incrementally(self, cleanup_size: int, run_cleanup_for_every_record: bool) -> StateTtlConfig.Builder:
            return self

        def cleanup_in_rocksdb_compact_filter(self, query_time_after_num_entries: int,
                                              periodic_compaction_time: Any = None) -> StateTtlConfig.Builder:
            return self

        def disable_cleanup_in_background(self) -> StateTtlConfig.Builder:
            return self

        def set_ttl(self, ttl: Any) -> StateTtlConfig.Builder:
            self._ttl_ms = to_millis(ttl, "StateTtlConfig.Builder.set_ttl")
            return self

        def build(self) -> StateTtlConfig:
            return StateTtlConfig(self._update_type, self._visibility,
                                  StateTtlConfig.TtlTimeCharacteristic.ProcessingTime, self._ttl_ms)


class StateDescriptor:
    kind = "value"

    def __init__(self, name: str, type_info: TypeInformation | None = None) -> None:
        if not isinstance(name, str) or not name:
            raise InvalidProgramError("a state descriptor needs a non-empty name")
        self.name = name
        self.type_info = type_info if type_info is not None else Types.PICKLED_BYTE_ARRAY()
        self.ttl_config: StateTtlConfig | None = None

    def get_name(self) -> str:
        return self.name

    def enable_time_to_live(self, ttl_config: StateTtlConfig) -> None:
        self.ttl_config = ttl_config


class ValueStateDescriptor(StateDescriptor):
    kind = "value"

    def __init__(self, name: str, value_type_info: TypeInformation | None = None) -> None:
        super().__init__(name, value_type_info)


class ListStateDescriptor(StateDescriptor):
    kind = "list"

    def __init__(self, name: str, elem_type_info: TypeInformation | None = None) -> None:
        super().__init__(name, elem_type_info)


class MapStateDescriptor(StateDescriptor):
    kind = "map"

    def __init__(self, name: str, key_type_info: TypeInformation | None = None,
                 value_type_info: TypeInformation | None = None) -> None:
        super().__init__(name, value_type_info)
        self.key_type_info = key_type_info


class ReducingStateDescriptor(StateDescriptor):
    kind = "reducing"

    def __init__(self, name: str, reduce_function: Any, type_info: TypeInformation | None = None) -> None:
        super().__init__(name, type_info)
        self.reduce_function = reduce_function

    def get_reduce_function(self) -> Any:
        return self.reduce_function


class AggregatingStateDescriptor(StateDescriptor):
    kind = "aggregating"

    def __init__(self, name: str, agg_function: Any, state_type_info: TypeInformation | None = None) -> None:
        super().__init__(name, state_type_info)
        self.agg_function = agg_function

    def get_agg_function(self) -> Any:
        return self.agg_function
