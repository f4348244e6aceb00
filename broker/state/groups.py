"""Classic consumer groups (JoinGroup/SyncGroup/Heartbeat/LeaveGroup): membership, generations, rebalances.

PLACEHOLDER being written this session: the group coordinator for the classic protocol.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from broker.core import BrokerCore


class GroupCoordinator:
    def __init__(self, core: BrokerCore) -> None:
        self.core = core

    def next_deadline(self) -> int | None:
        return None

    def tick(self, now_ms: int) -> None:
        return None
