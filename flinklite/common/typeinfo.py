"""Owns type information (`Types`, pyflink.common.typeinfo). flinklite keeps Python objects,
and applies a type only where PyFlink's results depend on it: where PyFlink serializes a value
with its type (a typed from_collection, an edge that leaves a chain of Python operators: key_by,
a rebalance; keyed state with a typed descriptor) the value becomes what the type makes of it (a
FLOAT is rounded to float32, a ROW becomes a named Row, a TUPLE a tuple); print() renders a
value the way the Java type's toString does (a Tuple as `(a,1)`, a Float/Double as Java prints
them, a Boolean as `true`), a Row as PyFlink's `+I[a,1]`, and an untyped value as str()."""

from __future__ import annotations

import math
import struct
from typing import Any, Sequence

from flinklite.common.types import Row


def _java_scientific(digits: str, exponent: int) -> str:
    """Java's computerized scientific notation: d.dddE[-]n."""
    mantissa = digits[0] + "." + (digits[1:] or "0")
    return f"{mantissa}E{exponent}"


def _java_decimal(shortest: str, value: float) -> str:
    """Formats the shortest round-tripping decimal `shortest` as Java's Double/Float.toString."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign = "-" if value < 0 else ""
    mantissa, _, exp_text = shortest.lstrip("-").lower().partition("e")
    exponent = int(exp_text) if exp_text else 0
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    # decimal exponent of the first significant digit
    point = len(whole) + exponent
    leading_zeros = len(whole + fraction) - len((whole + fraction).lstrip("0"))
    point -= leading_zeros
    digits = digits.rstrip("0") or "0"
    magnitude = abs(value)
    if 1e-3 <= magnitude < 1e7:
        if point <= 0:
            return sign + "0." + "0" * (-point) + digits
        if point >= len(digits):
            return sign + digits + "0" * (point - len(digits)) + ".0"
        return sign + digits[:point] + "." + digits[point:]
    return sign + _java_scientific(digits, point - 1)


def java_double_str(value: float) -> str:
    """Java's Double.toString (shortest round-trip digits, Java's layout)."""
    return _java_decimal(repr(float(value)), float(value))


def to_float32(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", value))[0]  # type: ignore[no-any-return]


def java_float_str(value: float) -> str:
    """Java's Float.toString: the shortest decimal that reads back as the same float32."""
    single = to_float32(float(value))
    if math.isnan(single) or math.isinf(single) or single == 0:
        return _java_decimal("0", single)
    for precision in range(1, 10):
        text = f"{single:.{precision}g}"
        if to_float32(float(text)) == single:
            return _java_decimal(text, single)
    return _java_decimal(repr(single), single)


class TypeInformation:
    """Base of every type. `from_python` is what a value becomes when PyFlink serializes it with
    this type (a FLOAT turns float32, a ROW turns a Row, a TUPLE a tuple); `to_string` is how
    print() shows it."""

    name = "PICKLED_BYTE_ARRAY"

    def from_python(self, value: Any) -> Any:
        return value

    def to_string(self, value: Any) -> str:
        if isinstance(value, (str, bytes)):
            return value if isinstance(value, str) else repr(value)
        return str(value)

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

    def from_python(self, value: Any) -> Any:
        if value is None:
            return None
        if self.name == "FLOAT":
            return to_float32(float(value))
        if self.name == "DOUBLE":
            return float(value)
        return value

    def to_string(self, value: Any) -> str:
        if value is None:
            return "null"
        if self.name == "BOOLEAN":
            return "true" if value else "false"
        if self.name == "DOUBLE":
            return java_double_str(float(value))
        if self.name == "FLOAT":
            return java_float_str(float(value))
        return str(value)

    def __repr__(self) -> str:
        return f"Types.{self.name}()"


class TupleTypeInfo(TypeInformation):
    name = "TUPLE"

    def __init__(self, field_types: Sequence[TypeInformation]) -> None:
        self.field_types = list(field_types)

    def from_python(self, value: Any) -> Any:
        if value is None:
            return None
        return tuple(t.from_python(v) for t, v in zip(self.field_types, value))

    def to_string(self, value: Any) -> str:
        parts = [_nested(t, v) for t, v in zip(self.field_types, value)]
        return "(" + ",".join(parts) + ")"


class RowTypeInfo(TypeInformation):
    name = "ROW"

    def __init__(self, field_types: Sequence[TypeInformation], field_names: Sequence[str] | None = None) -> None:
        self.field_types = list(field_types)
        self.field_names = list(field_names) if field_names is not None else [f"f{i}" for i in range(len(field_types))]

    def from_python(self, value: Any) -> Any:
        if value is None:
            return None
        converted = [t.from_python(v) for t, v in zip(self.field_types, value)]
        row = Row(**dict(zip(self.field_names, converted)))
        if isinstance(value, Row):
            row.set_row_kind(value.get_row_kind())
        return row

    def to_string(self, value: Any) -> str:
        # PyFlink maps a Row stream to '{kind}[{str(item),...}]' in Python before printing.
        kind = value.get_row_kind() if isinstance(value, Row) else "+I"
        items = list(value)
        return "{}[{}]".format(kind, ",".join(str(item) for item in items))


class ListTypeInfo(TypeInformation):
    name = "LIST"

    def __init__(self, element_type: TypeInformation) -> None:
        self.element_type = element_type

    def from_python(self, value: Any) -> Any:
        if value is None:
            return None
        return [self.element_type.from_python(v) for v in value]

    def to_string(self, value: Any) -> str:
        return "[" + ", ".join(_nested(self.element_type, v) for v in value) + "]"


class MapTypeInfo(TypeInformation):
    name = "MAP"

    def __init__(self, key_type: TypeInformation, value_type: TypeInformation) -> None:
        self.key_type = key_type
        self.value_type = value_type

    def from_python(self, value: Any) -> Any:
        if value is None:
            return None
        return {self.key_type.from_python(k): self.value_type.from_python(v) for k, v in value.items()}

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
