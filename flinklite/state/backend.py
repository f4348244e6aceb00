"""Owns keyed state storage: the pluggable `KeyedStateBackend` interface and the in-memory
backend, whose tables are split by key group (state name -> key group -> (key, namespace) ->
value), so a snapshot can be cut into key-group ranges for parallel subtasks and rescaling.
Also owns the state handles (ValueState, ListState, MapState, ReducingState, AggregatingState)
and their TTL, which is measured on the job's processing-time clock."""

from __future__ import annotations

import copy
from typing import Any, Callable, Dict, Iterable, Iterator, List, Tuple

from flinklite.datastream.state import (AggregatingState, AggregatingStateDescriptor, ListState,
                                        ListStateDescriptor, MapState, MapStateDescriptor, ReducingState,
                                        ReducingStateDescriptor, StateDescriptor, StateTtlConfig, ValueState,
                                        ValueStateDescriptor)
from flinklite.errors import InvalidProgramError, StateAccessError
from flinklite.state.keygroups import DEFAULT_MAX_PARALLELISM, key_group_for, pickled_key_hash

_NO_KEY = object()
Table = Dict[int, Dict[Tuple[Any, Any], Any]]


class KeyedStateBackend:
    """What operators need from a keyed state backend. Values are opaque to the backend."""

    max_parallelism: int

    def set_current_key(self, key: Any) -> None:
        raise NotImplementedError

    def get_current_key(self) -> Any:
        raise NotImplementedError

    def get(self, name: str, namespace: Any) -> Any:
        raise NotImplementedError

    def put(self, name: str, namespace: Any, value: Any) -> None:
        raise NotImplementedError

    def remove(self, name: str, namespace: Any) -> None:
        raise NotImplementedError

    def keys(self, name: str, namespace: Any) -> list[Any]:
        raise NotImplementedError

    def snapshot(self) -> dict[int, dict[str, dict[tuple[Any, Any], Any]]]:
        raise NotImplementedError

    def restore(self, snapshot: dict[int, dict[str, dict[tuple[Any, Any], Any]]]) -> None:
        raise NotImplementedError

    def get_state(self, descriptor: StateDescriptor, clock: Callable[[], int]) -> Any:
        raise NotImplementedError


class InMemoryKeyedStateBackend(KeyedStateBackend):
    """Heap state, like Flink's HashMapStateBackend."""

    def __init__(self, max_parallelism: int = DEFAULT_MAX_PARALLELISM, key_groups: range | None = None,
                 key_hash: Callable[[Any], int] = pickled_key_hash) -> None:
        self.max_parallelism = max_parallelism
        self.key_hash = key_hash
        self.key_groups = key_groups if key_groups is not None else range(max_parallelism)
        self._tables: dict[str, Table] = {}
        self._current_key: Any = _NO_KEY
        self._current_group = -1
        self._handles: dict[str, Any] = {}

    # -- keys -------------------------------------------------------------------------------
    def set_current_key(self, key: Any) -> None:
        if key is not self._current_key:
            self._current_key = key
            self._current_group = key_group_for(key, self.max_parallelism, self.key_hash)

    def get_current_key(self) -> Any:
        if self._current_key is _NO_KEY:
            raise StateAccessError("keyed state is only available while processing a keyed element or timer")
        return self._current_key

    # -- raw access -------------------------------------------------------------------------
    def _group_table(self, name: str, create: bool) -> dict[tuple[Any, Any], Any] | None:
        if self._current_key is _NO_KEY:
            raise StateAccessError("keyed state is only available while processing a keyed element or timer")
        table = self._tables.get(name)
        if table is None:
            if not create:
                return None
            table = self._tables[name] = {}
        group = table.get(self._current_group)
        if group is None and create:
            group = table[self._current_group] = {}
        return group

    def get(self, name: str, namespace: Any) -> Any:
        group = self._group_table(name, False)
        if group is None:
            return None
        return group.get((self._current_key, namespace))

    def put(self, name: str, namespace: Any, value: Any) -> None:
        group = self._group_table(name, True)
        assert group is not None
        group[(self._current_key, namespace)] = value

    def remove(self, name: str, namespace: Any) -> None:
        group = self._group_table(name, False)
        if group is not None:
            group.pop((self._current_key, namespace), None)
            if not group:
                del self._tables[name][self._current_group]

    def keys(self, name: str, namespace: Any) -> list[Any]:
        """Every key holding `name` in `namespace` (any key group)."""
        found: list[Any] = []
        for group in self._tables.get(name, {}).values():
            found.extend(key for key, ns in group if ns == namespace)
        return found

    def entry_count(self) -> int:
        return sum(len(group) for table in self._tables.values() for group in table.values())

    # -- snapshots --------------------------------------------------------------------------
    def snapshot(self) -> dict[int, dict[str, dict[tuple[Any, Any], Any]]]:
        """{key group: {state name: {(key, namespace): value}}}, deep-copied."""
        result: dict[int, dict[str, dict[tuple[Any, Any], Any]]] = {}
        for name, table in self._tables.items():
            for group_id, group in table.items():
                if group:
                    result.setdefault(group_id, {})[name] = copy.deepcopy(group)
        return result

    def restore(self, snapshot: dict[int, dict[str, dict[tuple[Any, Any], Any]]]) -> None:
        """Loads the key groups of `snapshot` this backend owns (others are ignored)."""
        for group_id, names in snapshot.items():
            if group_id not in self.key_groups:
                continue
            for name, entries in names.items():
                self._tables.setdefault(name, {})[group_id] = copy.deepcopy(entries)

    # -- handles ----------------------------------------------------------------------------
    def get_state(self, descriptor: StateDescriptor, clock: Callable[[], int]) -> Any:
        existing = self._handles.get(descriptor.name)
        if existing is not None:
            if existing.descriptor.kind != descriptor.kind:
                raise InvalidProgramError(f"state {descriptor.name!r} was registered as {existing.descriptor.kind} "
                                          f"state and is now asked for as {descriptor.kind} state")
            return existing
        handle: _StateHandle
        if isinstance(descriptor, ValueStateDescriptor):
            handle = ValueStateHandle(self, descriptor, clock)
        elif isinstance(descriptor, ListStateDescriptor):
            handle = ListStateHandle(self, descriptor, clock)
        elif isinstance(descriptor, MapStateDescriptor):
            handle = MapStateHandle(self, descriptor, clock)
        elif isinstance(descriptor, ReducingStateDescriptor):
            handle = ReducingStateHandle(self, descriptor, clock)
        elif isinstance(descriptor, AggregatingStateDescriptor):
            handle = AggregatingStateHandle(self, descriptor, clock)
        else:
            raise InvalidProgramError(f"unknown state descriptor {descriptor!r}")
        self._handles[descriptor.name] = handle
        return handle


class _Ttl:
    """TTL bookkeeping: values are stored as (value, last_update_ms) when TTL is on."""

    def __init__(self, config: StateTtlConfig | None, clock: Callable[[], int]) -> None:
        self.enabled = config is not None and config.is_enabled()
        self.ttl_ms = config.ttl_ms if config is not None else 0
        self.refresh_on_read = (config is not None and
                                config.get_update_type() == StateTtlConfig.UpdateType.OnReadAndWrite)
        self.return_expired = (config is not None and config.get_state_visibility() ==
                               StateTtlConfig.StateVisibility.ReturnExpiredIfNotCleanedUp)
        self.clock = clock

    def wrap(self, value: Any) -> Any:
        return (value, self.clock()) if self.enabled else value

    def expired(self, stored: Any) -> bool:
        return self.enabled and stored[1] + self.ttl_ms <= self.clock()


def _identity(value: Any) -> Any:
    return value


class _StateHandle:
    def __init__(self, backend: KeyedStateBackend, descriptor: StateDescriptor, clock: Callable[[], int]) -> None:
        self.backend = backend
        self.descriptor = descriptor
        self.name = descriptor.name
        self.namespace: Any = None
        self.ttl = _Ttl(descriptor.ttl_config, clock)
        # Values are kept as the Python objects given: PyFlink's Python worker caches state
        # objects, so a FLOAT state reads back unrounded (observed on PyFlink's state_access example).
        self.typed = _identity

    def set_current_namespace(self, namespace: Any) -> None:
        self.namespace = namespace

    def clear(self) -> None:
        self.backend.remove(self.name, self.namespace)

    def _stored(self) -> Any:
        """The stored value (unwrapped from its TTL stamp), or None when absent or expired (then cleared)."""
        stored = self.backend.get(self.name, self.namespace)
        if stored is None or not self.ttl.enabled:
            return stored
        if self.ttl.expired(stored) and not self.ttl.return_expired:
            self.clear()
            return None
        return stored[0]


class ValueStateHandle(_StateHandle, ValueState[Any]):
    def value(self) -> Any:
        stored = self.backend.get(self.name, self.namespace)
        if stored is None or not self.ttl.enabled:
            return stored
        if self.ttl.expired(stored):
            if not self.ttl.return_expired:
                self.backend.remove(self.name, self.namespace)
                return None
            return stored[0]
        if self.ttl.refresh_on_read:
            self.backend.put(self.name, self.namespace, self.ttl.wrap(stored[0]))
        return stored[0]

    def update(self, value: Any) -> None:
        if value is None:
            self.clear()
        else:
            self.backend.put(self.name, self.namespace, self.ttl.wrap(self.typed(value)))


class ListStateHandle(_StateHandle, ListState[Any]):
    def _live(self) -> list[Any]:
        stored = self.backend.get(self.name, self.namespace)
        if stored is None:
            return []
        if not self.ttl.enabled:
            return stored  # type: ignore[no-any-return]
        kept = [entry for entry in stored if self.ttl.return_expired or not self.ttl.expired(entry)]
        if self.ttl.refresh_on_read:
            kept = [self.ttl.wrap(entry[0]) for entry in kept]
        if len(kept) != len(stored) or self.ttl.refresh_on_read:
            if kept:
                self.backend.put(self.name, self.namespace, kept)
            else:
                self.backend.remove(self.name, self.namespace)
        return [entry[0] for entry in kept]

    def get(self) -> Iterable[Any]:
        return list(self._live())

    def add(self, value: Any) -> None:
        if value is None:
            raise InvalidProgramError(f"ListState {self.name!r}: add(None) is not allowed")
        value = self.typed(value)
        stored = self.backend.get(self.name, self.namespace)
        if stored is None:
            self.backend.put(self.name, self.namespace, [self.ttl.wrap(value)])
        else:
            stored.append(self.ttl.wrap(value))

    def add_all(self, values: List[Any]) -> None:
        for value in values:
            self.add(value)

    def update(self, values: List[Any]) -> None:
        self.clear()
        self.add_all(list(values))

    def __iter__(self) -> Iterator[Any]:
        return iter(self.get())


class MapStateHandle(_StateHandle, MapState[Any, Any]):
    def __init__(self, backend: KeyedStateBackend, descriptor: MapStateDescriptor, clock: Callable[[], int]) -> None:
        super().__init__(backend, descriptor, clock)
        self.typed_key = _identity

    def _map(self, create: bool) -> dict[Any, Any] | None:
        stored = self.backend.get(self.name, self.namespace)
        if stored is None and create:
            stored = {}
            self.backend.put(self.name, self.namespace, stored)
        return stored  # type: ignore[no-any-return]

    def _read(self, mapping: dict[Any, Any], key: Any) -> Any:
        stored = mapping.get(key)
        if stored is None or not self.ttl.enabled:
            return stored
        if self.ttl.expired(stored) and not self.ttl.return_expired:
            del mapping[key]
            return None
        if self.ttl.refresh_on_read:
            mapping[key] = self.ttl.wrap(stored[0])
        return stored[0]

    def get(self, key: Any) -> Any:
        mapping = self._map(False)
        return None if mapping is None else self._read(mapping, self.typed_key(key))

    def put(self, key: Any, value: Any) -> None:
        mapping = self._map(True)
        assert mapping is not None
        mapping[self.typed_key(key)] = self.ttl.wrap(self.typed(value))

    def put_all(self, dict_value: Dict[Any, Any]) -> None:
        for key, value in dict_value.items():
            self.put(key, value)

    def remove(self, key: Any) -> None:
        mapping = self._map(False)
        if mapping is not None:
            mapping.pop(self.typed_key(key), None)
            if not mapping:
                self.clear()

    def contains(self, key: Any) -> bool:
        return self.get(key) is not None

    def _live_items(self) -> list[tuple[Any, Any]]:
        mapping = self._map(False)
        if mapping is None:
            return []
        items = []
        for key in list(mapping):
            value = self._read(mapping, key)
            if value is not None:
                items.append((key, value))
        return items

    def items(self) -> Iterable[Tuple[Any, Any]]:
        return self._live_items()

    def keys(self) -> Iterable[Any]:
        return [key for key, _ in self._live_items()]

    def values(self) -> Iterable[Any]:
        return [value for _, value in self._live_items()]

    def is_empty(self) -> bool:
        return not self._live_items()


class ReducingStateHandle(_StateHandle, ReducingState[Any]):
    def __init__(self, backend: KeyedStateBackend, descriptor: ReducingStateDescriptor,
                 clock: Callable[[], int]) -> None:
        super().__init__(backend, descriptor, clock)
        from flinklite.datastream.functions import as_reduce

        self.reduce = as_reduce(descriptor.reduce_function)

    def get(self) -> Any:
        return self._stored()

    def add(self, value: Any) -> None:
        current = self.get()
        self.backend.put(self.name, self.namespace,
                         self.ttl.wrap(self.typed(value if current is None else self.reduce(current, value))))


class AggregatingStateHandle(_StateHandle, AggregatingState[Any, Any]):
    def __init__(self, backend: KeyedStateBackend, descriptor: AggregatingStateDescriptor,
                 clock: Callable[[], int]) -> None:
        super().__init__(backend, descriptor, clock)
        self.function = descriptor.agg_function

    def _accumulator(self) -> Any:
        return self._stored()

    def get(self) -> Any:
        accumulator = self._accumulator()
        return None if accumulator is None else self.function.get_result(accumulator)

    def add(self, value: Any) -> None:
        accumulator = self._accumulator()
        if accumulator is None:
            accumulator = self.function.create_accumulator()
        self.backend.put(self.name, self.namespace, self.ttl.wrap(self.function.add(value, accumulator)))
