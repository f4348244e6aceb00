"""The exactly-once KafkaSink's decisions as logic (flinklite/datastream/connectors/kafka_transactions.py),
without a broker: Flink's transactional id scheme, which transactions a checkpoint pre-commits and a
completed checkpoint commits, what a restore commits and which ids it fences, and the builder's
rules. A small in-memory model of a transaction coordinator's epochs drives the probe."""

from __future__ import annotations

import pytest

from flinklite.common import SimpleStringSchema
from flinklite.datastream.connectors import DeliveryGuarantee
from flinklite.datastream.connectors.kafka import KafkaRecordSerializationSchema, KafkaSink
from flinklite.datastream.connectors.kafka_transactions import (Committable, LingeringProbe, SinkCheckpointState,
                                                               TransactionPlan, transactional_id)
from flinklite.errors import InvalidProgramError


class Epochs:
    """InitProducerId as a coordinator answers it: epoch 0 for a new id, then one more per call."""

    def __init__(self, used: dict[str, int] | None = None) -> None:
        self.epochs = dict(used or {})
        self.calls: list[str] = []

    def init(self, tid: str) -> int:
        self.calls.append(tid)
        self.epochs[tid] = self.epochs.get(tid, -1) + 1
        return self.epochs[tid]


def run_probe(probe: LingeringProbe, epochs: Epochs) -> list[str]:
    while (tid := probe.next_id()) is not None:
        probe.observed(epochs.init(tid))
    return probe.fenced


def test_transactional_ids_follow_flinks_scheme() -> None:
    assert transactional_id("job", 0, 1) == "job-0-1"
    assert transactional_id("my-app", 3, 42) == "my-app-3-42"


def test_first_transaction_follows_the_restored_checkpoint() -> None:
    plan = TransactionPlan("p", 1, 2)
    assert plan.first_transaction() == "p-1-1"  # nothing restored: checkpoint 0
    restored = TransactionPlan("p", 1, 2)
    restored.restore({0: SinkCheckpointState(7, []).to_state(), 1: SinkCheckpointState(7, []).to_state()})
    assert restored.first_transaction() == "p-1-8"


def test_probe_starts_at_the_transaction_the_restored_state_left_open() -> None:
    """Checkpoint ids can be lower than the transactional-id numbers already used (ids reset
    under HA before the counter followed restores): the state records the open transaction's
    number, and the probe fences from there even when the restored checkpoint id is 3."""
    plan = TransactionPlan("p", 0, 1)
    plan.restore({0: {"checkpoint_id": 3, "committables": [], "open": 53}})
    probe = plan.probe()
    assert probe.next_id() == "p-0-53"
    probe.observed(1)  # 53 was open: fenced
    assert probe.next_id() == "p-0-54"
    probe.observed(0)
    assert probe.next_id() == "p-1-53"  # a higher parallelism's subtask, from the same number
    probe.observed(0)
    assert probe.fenced == ["p-0-53"] and probe.next_id() is None
    assert plan.first_transaction() == "p-0-53"
    assert plan.on_barrier(4, None) == ["p-0-54"]  # ids only go up
    # states without the number (written before it was recorded) restore as before
    old = TransactionPlan("p", 0, 1)
    old.restore({0: {"checkpoint_id": 3, "committables": []}})
    assert old.probe().next_id() == "p-0-4" and old.first_transaction() == "p-0-4"


def test_barrier_pre_commits_the_open_transaction_and_opens_the_next() -> None:
    plan = TransactionPlan("p", 0, 1)
    plan.first_transaction()
    assert plan.on_barrier(1, (100, 0)) == ["p-0-2"]
    assert plan.pending == [Committable("p-0-1", 100, 0, 1)]
    assert plan.state(1) == {"checkpoint_id": 1, "committables": [
        {"transactional_id": "p-0-1", "producer_id": 100, "epoch": 0, "checkpoint_id": 1}], "open": 2}
    # an empty transaction is not pre-committed, but the id still moves on
    assert plan.on_barrier(2, None) == ["p-0-3"]
    assert [c.transactional_id for c in plan.pending] == ["p-0-1"]


def test_completed_checkpoint_commits_its_own_and_older_pending_transactions_only() -> None:
    plan = TransactionPlan("p", 0, 1)
    plan.first_transaction()
    plan.on_barrier(1, (1, 0))
    plan.on_barrier(2, (2, 0))
    plan.on_barrier(3, (3, 0))
    assert [c.transactional_id for c in plan.on_checkpoint_complete(2)] == ["p-0-1", "p-0-2"]
    assert [c.transactional_id for c in plan.pending] == ["p-0-3"]
    assert plan.on_checkpoint_complete(2) == []  # nothing twice
    assert plan.state(4)["committables"][0]["transactional_id"] == "p-0-3"


def test_a_jump_in_checkpoint_ids_initialises_the_skipped_ids() -> None:
    """After a restore from checkpoint 3 the next checkpoint may be 6 (4 and 5 were lost with the
    failure): ids 5 and 6 are initialised too, so the ids used stay contiguous for a later probe."""
    plan = TransactionPlan("p", 0, 1)
    plan.restore({0: SinkCheckpointState(3, []).to_state()})
    assert plan.first_transaction() == "p-0-4"
    assert plan.on_barrier(6, (9, 1)) == ["p-0-5", "p-0-6", "p-0-7"]
    assert plan.pending == [Committable("p-0-4", 9, 1, 6)]
    assert plan.current == 7


def test_end_of_input_commits_pending_and_open_transactions_and_nothing_after() -> None:
    plan = TransactionPlan("p", 0, 1)
    plan.first_transaction()
    plan.on_barrier(1, (5, 0))
    ready = plan.on_end_of_input((6, 0))
    assert [c.transactional_id for c in ready] == ["p-0-1", "p-0-2"]
    assert plan.finished and plan.pending == []
    assert plan.on_barrier(2, None) == [] and plan.on_end_of_input(None) == []
    assert plan.state(2) == {"checkpoint_id": 2, "committables": []}


def test_restore_commits_the_restored_committables_of_its_own_and_folded_subtasks() -> None:
    states = {i: SinkCheckpointState(5, [Committable(f"p-{i}-5", 10 + i, 2, 5)]).to_state() for i in range(4)}
    plan = TransactionPlan("p", 1, 2)  # parallelism 4 -> 2: subtask 1 takes over old subtasks 1 and 3
    plan.restore(states)
    assert [c.transactional_id for c in plan.to_commit_on_restore] == ["p-1-5", "p-3-5"]
    assert plan.to_commit_on_restore[0] == Committable("p-1-5", 11, 2, 5)
    assert plan.restored_checkpoint_id == 5


def test_probe_fences_later_ids_until_one_was_never_used() -> None:
    # the failed attempt used ids 4..6 (6 was open when it failed); 7 was never initialised
    epochs = Epochs({"p-0-4": 0, "p-0-5": 0, "p-0-6": 1})
    plan = TransactionPlan("p", 0, 1)
    plan.restore({0: SinkCheckpointState(3, []).to_state()})
    fenced = run_probe(plan.probe(), epochs)
    assert fenced == ["p-0-4", "p-0-5", "p-0-6"]
    # then the next subtask id of a higher previous parallelism (here none ran: p-1-4 is new)
    assert epochs.calls == ["p-0-4", "p-0-5", "p-0-6", "p-0-7", "p-1-4"]
    assert "p-0-3" not in epochs.calls  # the restored checkpoint's own transaction is committed, not fenced


def test_probe_covers_subtasks_of_a_higher_previous_parallelism() -> None:
    # parallelism was 3, now 1: subtasks 1 and 2 left transactions behind, subtask 3 never ran
    epochs = Epochs({"p-0-2": 0, "p-1-2": 0, "p-1-3": 0, "p-2-2": 0})
    fenced = run_probe(LingeringProbe("p", 0, 1, 2), epochs)
    assert fenced == ["p-0-2", "p-1-2", "p-1-3", "p-2-2"]
    assert epochs.calls[-1] == "p-3-2"


def test_probe_without_anything_to_fence_stops_at_once() -> None:
    epochs = Epochs()
    assert run_probe(LingeringProbe("p", 1, 2, 1), epochs) == []
    assert epochs.calls == ["p-1-1"]


def test_probe_after_an_earlier_probe_still_sees_the_ids_it_touched() -> None:
    """An id a probe initialised (epoch 0) counts as used by the next probe (epoch 1), so the
    range stays contiguous across several failures in a row."""
    epochs = Epochs({"p-0-1": 0})
    # fences p-0-1; p-0-2 and p-1-1 answer epoch 0 (they are used now)
    assert run_probe(LingeringProbe("p", 0, 1, 1), epochs) == ["p-0-1"]
    assert epochs.calls == ["p-0-1", "p-0-2", "p-1-1"]
    assert run_probe(LingeringProbe("p", 0, 1, 1), epochs) == ["p-0-1", "p-0-2", "p-1-1"]


def test_probe_rejects_use_after_it_ended() -> None:
    probe = LingeringProbe("p", 0, 1, 1)
    probe.observed(0)
    assert probe.next_id() is None
    with pytest.raises(AssertionError):
        probe.observed(0)


def test_committable_state_round_trip() -> None:
    c = Committable("p-0-1", 3, 4, 5)
    assert Committable.from_state(c.to_state()) == c
    state = SinkCheckpointState(5, [c])
    assert SinkCheckpointState.from_state(state.to_state()) == state


def test_builder_requires_a_transactional_id_prefix_for_exactly_once() -> None:
    serializer = KafkaRecordSerializationSchema.builder().set_topic("t") \
        .set_value_serialization_schema(SimpleStringSchema()).build()
    builder = KafkaSink.builder().set_bootstrap_servers("localhost:9092").set_record_serializer(serializer) \
        .set_delivery_guarantee(DeliveryGuarantee.EXACTLY_ONCE)
    with pytest.raises(InvalidProgramError, match="transactional id prefix"):
        builder.build()
    sink = builder.set_transactional_id_prefix("job").build()
    assert sink.guarantee == DeliveryGuarantee.EXACTLY_ONCE and sink.transactional_id_prefix == "job"
