"""The transaction coordinator: transactional ids, AddPartitionsToTxn, EndTxn, markers, timeouts.

PLACEHOLDER being written this session: the transaction coordinator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from broker.core import BrokerCore


class TransactionCoordinator:
    def __init__(self, core: BrokerCore) -> None:
        self.core = core

    def next_deadline(self) -> int | None:
        return None

    def tick(self, now_ms: int) -> None:
        return None
