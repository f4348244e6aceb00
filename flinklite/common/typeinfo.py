"""Owns type information (`Types`, pyflink.common.typeinfo). flinklite keeps Python objects as
they are; a type only matters where PyFlink's output depends on it: print() renders a value
the way the Java type's toString does (a Tuple as `(a,1)`, a Row as `+I[a,1]`, a Boolean as
`true`), and an untyped (pickled) value as Python's str()."""

from __future__ import annotations

import math
from typing import Any, Sequence

from flinklite.common.types import Row


def java_double_str(value: float) -> str:
    """Java's Double.toString for the common cases (1.0, 0.5, 1.0E7, 1.0E-4, NaN, Infinity)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    magnitude = abs(value)
    if magnitude == 0 or 1e-3 <= magnitude < 1e7:
        text = repr(float(value))
        return text if ("." in text or "e" in text) else text + ".0"
    mantissa, exponent = f"{value:.17e}".split("e")
    digits = repr(float(mantissa[:]))
    short = repr(value).split("e")[0] if "e" in repr(value) else None
    if short is not None:
        digits = short if "." in short else short + ".0"
    else:
        digits = repr(float(value) / (10 ** int(exponent)))
    return f"{digits}E{int(exponent)}"


class TypeInformation:
    """Base of every type; `to_string` renders a value as PyFlink's print() shows it."""

    name = "PICKLED_BYTE_ARRAY"

    def to_string(self, value: Any) -> str:
        if isinstance(value, (str, bytes)):
            return value if isinstance(value, str) else repr(value)
        return str(value)

    def java_string(self, value: Any) -> str:
        """How this value prints nested inside a Java tuple/row/list."""
        return self.to_string(value)

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash(type(self))

    def __repr__(self) -> str:
        return self.name


class PickledBytesTypeInfo(TypeInformation):
    name = "PICKLED_BYTE_ARRAY"


class BasicTypeInfo(TypeInformation):
    def __init__(self, name: str) -> None:
        self.name = name

    def to_string(self, value: Any) -> str:
        if value is None:
            return "null"
        if self.name == "BOOLEAN":
            return "true" if value else "false"
        if self.name in ("FLOAT", "DOUBLE"):
            return java_double_str(float(value))
        if self.name == "CHAR":
            return str(value)
        return str(value)

    def __repr__(self) -> str:
        return f"Types.{self.name}()"


class TupleTypeInfo(TypeInformation):
    name = "TUPLE"

    def __init__(self, field_types: Sequence[TypeInformation]) -> None:
        self.field_types = list(field_types)

    def to_string(self, value: Any) -> str:
        parts = [_nested(t, v) for t, v in zip(self.field_types, value)]
        return "(" + ",".join(parts) + ")"


class RowTypeInfo(TypeInformation):
    name = "ROW"

    def __init__(self, field_types: Sequence[TypeInformation], field_names: Sequence[str] | None = None) -> None:
        self.field_types = list(field_types)
        self.field_names = list(field_names) if field_names is not None else [f"f{i}" for i in range(len(field_types))]

    def to_string(self, value: Any) -> str:
        # PyFlink maps a Row stream to '{kind}[{str(item),...}]' in Python before printing.
        kind = value.get_row_kind() if isinstance(value, Row) else "+I"
        items = list(value)
        return "{}[{}]".format(kind, ",".join(str(item) for item in items))


class ListTypeInfo(TypeInformation):
    name = "LIST"

    def __init__(self, element_type: TypeInformation) -> None:
        self.element_type = element_type

    def to_string(self, value: Any) -> str:
        return "[" + ", ".join(_nested(self.element_type, v) for v in value) + "]"


class MapTypeInfo(TypeInformation):
    name = "MAP"

    def __init__(self, key_type: TypeInformation, value_type: TypeInformation) -> None:
        self.key_type = key_type
        self.value_type = value_type

    def to_string(self, value: Any) -> str:
        return "{" + ", ".join(f"{_nested(self.key_type, k)}={_nested(self.value_type, v)}"
                               for k, v in value.items()) + "}"


def _nested(type_info: TypeInformation, value: Any) -> str:
    if value is None:
        return "null"
    return type_info.to_string(value)


class Types:
    """Factory of type information, named as PyFlink's `Types`."""

    @staticmethod
    def STRING() -> TypeInformation:
        return BasicTypeInfo("STRING")

    @staticmethod
    def BYTE() -> TypeInformation:
        return BasicTypeInfo("BYTE")

    @staticmethod
    def BOOLEAN() -> TypeInformation:
        return BasicTypeInfo("BOOLEAN")

    @staticmethod
    def SHORT() -> TypeInformation:
        return BasicTypeInfo("SHORT")

    @staticmethod
    def INT() -> TypeInformation:
        return BasicTypeInfo("INT")

    @staticmethod
    def LONG() -> TypeInformation:
        return BasicTypeInfo("LONG")

    @staticmethod
    def FLOAT() -> TypeInformation:
        return BasicTypeInfo("FLOAT")

    @staticmethod
    def DOUBLE() -> TypeInformation:
        return BasicTypeInfo("DOUBLE")

    @staticmethod
    def CHAR() -> TypeInformation:
        return BasicTypeInfo("CHAR")

    @staticmethod
    def BIG_INT() -> TypeInformation:
        return BasicTypeInfo("BIG_INT")

    @staticmethod
    def BIG_DEC() -> TypeInformation:
        return BasicTypeInfo("BIG_DEC")

    @staticmethod
    def SQL_DATE() -> TypeInformation:
        return BasicTypeInfo("SQL_DATE")

    @staticmethod
    def SQL_TIME() -> TypeInformation:
        return BasicTypeInfo("SQL_TIME")

    @staticmethod
    def SQL_TIMESTAMP() -> TypeInformation:
        return BasicTypeInfo("SQL_TIMESTAMP")

    @staticmethod
    def INSTANT() -> TypeInformation:
        return BasicTypeInfo("INSTANT")

    @staticmethod
    def PICKLED_BYTE_ARRAY() -> TypeInformation:
        return PickledBytesTypeInfo()

    @staticmethod
    def PRIMITIVE_ARRAY(element_type: TypeInformation) -> TypeInformation:
        return ListTypeInfo(element_type)

    @staticmethod
    def BASIC_ARRAY(element_type: TypeInformation) -> TypeInformation:
        return ListTypeInfo(element_type)

    @staticmethod
    def OBJECT_ARRAY(element_type: TypeInformation) -> TypeInformation:
        return ListTypeInfo(element_type)

    @staticmethod
    def LIST(element_type: TypeInformation) -> TypeInformation:
        return ListTypeInfo(element_type)

    @staticmethod
    def MAP(key_type: TypeInformation, value_type: TypeInformation) -> TypeInformation:
        return MapTypeInfo(key_type, value_type)

    @staticmethod
    def TUPLE(field_types: list[TypeInformation]) -> TypeInformation:
        return TupleTypeInfo(field_types)

    @staticmethod
    def ROW(field_types: list[TypeInformation]) -> TypeInformation:
        return RowTypeInfo(field_types)

    @staticmethod
    def ROW_NAMED(field_names: list[str], field_types: list[TypeInformation]) -> TypeInformation:
        return RowTypeInfo(field_types, field_names)
