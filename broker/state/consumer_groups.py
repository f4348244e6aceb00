"""KIP-848 consumer groups (ConsumerGroupHeartbeat): server-side assignment, member epochs.

PLACEHOLDER being written this session: the KIP-848 group coordinator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from broker.core import BrokerCore


class ConsumerGroupCoordinator:
    def __init__(self, core: BrokerCore) -> None:
        self.core = core

    def next_deadline(self) -> int | None:
        return None

    def tick(self, now_ms: int) -> None:
        return None
