"""Owns OutputTag: the name of a side output (PyFlink: `yield tag, value`; get_side_output)."""

from __future__ import annotations

from typing import Any

from flinklite.common.typeinfo import TypeInformation, Types
from flinklite.errors import InvalidProgramError


class OutputTag:
    def __init__(self, tag_id: str, type_info: TypeInformation | None = None) -> None:
        if not isinstance(tag_id, str) or not tag_id:
            raise InvalidProgramError("OutputTag needs a non-empty string id")
        self.tag_id = tag_id
        self.type_info = type_info if type_info is not None else Types.PICKLED_BYTE_ARRAY()

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, OutputTag) and other.tag_id == self.tag_id

    def __hash__(self) -> int:
        return hash(self.tag_id)

    def __repr__(self) -> str:
        return f"OutputTag({self.tag_id!r})"
