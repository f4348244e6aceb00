"""Owns the job graph the API builds and the runtime runs: `Transformation` nodes (one per
physical operator, with a factory for its logic object) and `InputEdge`s that say which
upstream output (main or a side-output tag) feeds which input, and how records are
partitioned on the way (forward/rebalance, hash by key group, global, broadcast)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Callable

from flinklite.common.typeinfo import TypeInformation, Types
from flinklite.operators.base import Operator

_ids = itertools.count(1)


@dataclass(frozen=True)
class StreamRef:
    """One upstream output a DataStream reads: a transformation, maybe a side-output tag, and
    the partitioning key_by/rebalance/etc. put on it."""

    transformation: Transformation
    tag: str | None = None
    partitioning: str = "default"  # default | forward | rebalance | hash | global | broadcast | shuffle
    key_selector: Callable[[Any], Any] | None = None
    tag_type: TypeInformation | None = None  # the side output's type (its OutputTag's)
    key_hash: Callable[[Any], int] | None = None  # how PyFlink hashes this key_by's keys (by key_type)


@dataclass(eq=False)
class Transformation:
    name: str
    make_operator: Callable[[], Operator]
    inputs: list[list[StreamRef]] = field(default_factory=list)  # per input index, the refs feeding it
    parallelism: int | None = None
    fixed_parallelism: bool = False
    max_parallelism: int | None = None
    output_type: TypeInformation = field(default_factory=Types.PICKLED_BYTE_ARRAY)
    keyed: bool = False
    is_source: bool = False
    is_sink: bool = False
    converts_input: bool = False  # a sink outside PyFlink's Python chain: records arrive typed
    uid: str | None = None
    id: int = field(default_factory=lambda: next(_ids))

    def __hash__(self) -> int:
        return self.id

    def key_hash(self) -> Callable[[Any], int] | None:
        """The key hash of a keyed transformation's inputs (the same for every input)."""
        for refs in self.inputs:
            for ref in refs:
                if ref.key_hash is not None:
                    return ref.key_hash
        return None

    def upstream(self) -> list[Transformation]:
        return [ref.transformation for refs in self.inputs for ref in refs]
