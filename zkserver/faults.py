"""Fault injection for test doubles: the one model both servers use.

A ``FaultPlan`` holds rules that the server's shell consults for every
request, keyed by what the protocol calls a request kind (a ZooKeeper opcode
here, a Kafka API key in the broker):

* ``fail_next(kind, error, count)``: answer the next ``count`` requests of that
  kind with ``error`` instead of executing them;
* ``drop_next(kind, count)``: close the connection instead of answering;
* ``lose_reply_next(kind, count)``: execute the request, then close the
  connection instead of answering: the client never learns it succeeded (a
  lost acknowledgement, which makes clients retry what was already done);
* ``delay(seconds, kind=None)``: hold requests (of one kind, or all) before
  handling them, i.e. add latency.

Server-level controls (expire a session, drop a client's connection, stop and
restart a member) are methods on the server objects themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Rule:
    action: str  # "fail", "drop" or "lose_reply"
    kind: int | None  # None matches every request kind
    remaining: int
    error: int = 0


@dataclass
class FaultPlan:
    rules: list[Rule] = field(default_factory=list)
    delays: dict[int | None, float] = field(default_factory=dict)

    def fail_next(self, kind: int | None, error: int, count: int = 1) -> None:
        self.rules.append(Rule("fail", kind, count, error))

    def drop_next(self, kind: int | None, count: int = 1) -> None:
        self.rules.append(Rule("drop", kind, count))

    def lose_reply_next(self, kind: int | None, count: int = 1) -> None:
        self.rules.append(Rule("lose_reply", kind, count))

    def delay(self, seconds: float, kind: int | None = None) -> None:
        if seconds <= 0:
            self.delays.pop(kind, None)
        else:
            self.delays[kind] = seconds

    def clear(self) -> None:
        self.rules.clear()
        self.delays.clear()

    def delay_for(self, kind: int) -> float:
        return self.delays.get(kind, self.delays.get(None, 0.0))

    def take(self, kind: int) -> Rule | None:
        """The rule that applies to this request, consuming one use of it."""
        for rule in self.rules:
            if rule.kind is None or rule.kind == kind:
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self.rules.remove(rule)
                return rule
        return None
