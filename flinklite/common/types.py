"""Owns `Row` and `RowKind` (pyflink.common.types): a tuple-like record with optional field
names and a change kind, printed by PyFlink's print() as `+I[a,1]`."""

from __future__ import annotations

from enum import Enum
from typing import Any, Iterator


class RowKind(Enum):
    INSERT = 0
    UPDATE_BEFORE = 1
    UPDATE_AFTER = 2
    DELETE = 3

    def __str__(self) -> str:
        return {0: "+I", 1: "-U", 2: "+U", 3: "-D"}[self.value]


class Row:
    """Row(1, 'a') or Row(id=1, name='a'); positional and (when named) attribute access."""

    def __init__(self, *values: Any, **named: Any) -> None:
        if values and named:
            raise TypeError("Row takes positional or named values, not both")
        self._fields: list[str] | None = list(named) if named else None
        self._values: list[Any] = list(named.values()) if named else list(values)
        self._row_kind = RowKind.INSERT

    def get_row_kind(self) -> RowKind:
        return self._row_kind

    def set_row_kind(self, row_kind: RowKind) -> None:
        self._row_kind = row_kind

    def as_dict(self, recursive: bool = False) -> dict[str, Any]:
        if self._fields is None:
            raise TypeError("Cannot convert a Row without field names to a dict")
        return dict(zip(self._fields, self._values))

    def get_fields_by_names(self, names: list[str]) -> list[Any]:
        return [self[name] for name in names]

    def set_field_names(self, field_names: list[str]) -> None:
        self._fields = list(field_names)

    def __getitem__(self, item: int | str | slice) -> Any:
        if isinstance(item, str):
            if self._fields is None or item not in self._fields:
                raise KeyError(item)
            return self._values[self._fields.index(item)]
        return self._values[item]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        fields = self.__dict__.get("_fields")
        if fields is None or name not in fields:
            raise AttributeError(name)
        return self.__dict__["_values"][fields.index(name)]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Row):
            return False
        return self._values == other._values and self._row_kind == other._row_kind

    def __hash__(self) -> int:
        return hash((tuple(self._values), self._row_kind))

    def __repr__(self) -> str:
        if self._fields is not None:
            return "Row(%s)" % ", ".join(f"{k}={v!r}" for k, v in zip(self._fields, self._values))
        return "<Row(%s)>" % ", ".join(repr(v) for v in self._values)
