"""The data plane between workers, without sockets (flinklite/runtime/network.py): buffers of
pickled elements, credit-based flow control per channel, frames between two workers, barrier
alignment over remote channels; and two WorkerAttempts (flinklite/runtime/workers.py) wired
to each other in memory, whose job output and checkpoints equal the single-process run's."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import pytest

from flinklite.common import Types
from flinklite.datastream import StreamExecutionEnvironment
from flinklite.graph import Transformation
from flinklite.operators.base import Operator
from flinklite.runtime.executor import JobExecutor, RoutedOutput, Subtask
from flinklite.runtime.network import (
    BARRIER,
    END,
    RECORD,
    WATERMARK,
    BufferBuilder,
    InputChannel,
    MessageDecoder,
    OutputChannel,
    PeerLink,
    ProtocolError,
    deliver_element,
    encode_message,
    read_buffer,
)
from flinklite.runtime.workers import SlotPlan, WorkerAttempt, WorkerSettings
from flinklite.testing import CollectSink, ManualClock, TestSource
from flinklite.tests import functions


# -- buffers and credit ------------------------------------------------------------------------------
def test_a_buffer_holds_elements_as_they_were_when_added() -> None:
    builder = BufferBuilder()
    value = ["a", 1]
    builder.add((RECORD, value, 5, "a"))
    value.append("changed later")  # serialized when emitted, as a network serializer does
    builder.add((RECORD, ("a", "a"), None, None))  # a repeated object (memo) inside one element
    builder.add((BARRIER, 7))
    assert read_buffer(builder.take()) == [(RECORD, ["a", 1], 5, "a"), (RECORD, ("a", "a"), None, None), (BARRIER, 7)]
    assert builder.count == 0 and read_buffer(builder.take()) == []


def test_a_sender_sends_only_with_credit_and_a_receiver_grants_one_credit_per_free_buffer() -> None:
    out = OutputChannel(3, buffer_bytes=64, max_queued=2)
    receiver = InputChannel(3, capacity=2)
    for i in range(20):
        out.add((RECORD, f"record-{i:04}", None, None))  # about 40 bytes each: a buffer per two
    assert len(out.queue) >= 4 and out.take_sendable() == []  # no credit yet: nothing goes
    assert out.saturated  # the worker stops feeding the subtasks that write here
    out.add_credit(receiver.credit_to_announce())  # the channel opened: every buffer free
    assert receiver.credit_to_announce() == 0
    sent = out.take_sendable()
    assert [channel for channel, _, _ in sent] == [3, 3] and out.credit == 0
    assert sent[-1][1] == len(out.queue)  # the backlog behind the last buffer sent
    for _, backlog, payload in sent:
        receiver.on_buffer(payload, backlog)
    with pytest.raises(ProtocolError):
        receiver.on_buffer(b"", 0)  # a third buffer without credit
    first = receiver.take()
    assert first[0] == (RECORD, "record-0000", None, None)
    assert receiver.credit_to_announce() == 1  # the consumed buffer is free again
    out.add_credit(1)
    assert len(out.take_sendable()) == 1 and out.credit == 0
    with pytest.raises(ProtocolError):
        out.add_credit(0)


def test_barriers_and_end_of_input_finish_the_buffer_they_are_in() -> None:
    out = OutputChannel(1)
    out.add((RECORD, "x", None, None))
    assert not out.queue and out.pending_elements == 1  # a partly filled buffer waits
    out.add_event((BARRIER, 4))
    assert len(out.queue) == 1 and out.pending_elements == 0
    out.add_event((END,))
    out.add_credit(2)
    payloads = [payload for _, _, payload in out.take_sendable()]
    assert [read_buffer(p) for p in payloads] == [[(RECORD, "x", None, None), (BARRIER, 4)], [(END,)]]
    assert out.idle


def test_two_peer_links_carry_buffers_and_credits_both_ways() -> None:
    a, b = PeerLink(1), PeerLink(0)
    a.outputs[7] = OutputChannel(7)
    b.inputs[7] = InputChannel(7)
    b.outputs[8] = OutputChannel(8)
    a.inputs[8] = InputChannel(8)

    def exchange() -> None:
        for link in (a, b):
            link.send_buffers()
            link.announce_credits()
        data_a, data_b = bytes(a.outgoing), bytes(b.outgoing)
        a.sent(len(data_a))
        b.sent(len(data_b))
        for chunk in (data_b[i:i + 5] for i in range(0, len(data_b), 5)):  # any split of the stream
            a.feed(chunk)
        b.feed(data_a)

    a.outputs[7].add_event((WATERMARK, 10))
    b.outputs[8].add_event((BARRIER, 1))
    exchange()  # the credits cross
    exchange()  # then the buffers
    assert b.inputs[7].take() == [(WATERMARK, 10)]
    assert a.inputs[8].take() == [(BARRIER, 1)]
    with pytest.raises(ProtocolError):
        b.apply([(2, 99, 1, b"")])  # credit for a channel that does not exist


def test_control_messages_are_framed_pickles() -> None:
    decoder = MessageDecoder()
    data = encode_message({"type": "ack", "state": b"\x00" * 10}) + encode_message({"type": "finished"})
    assert decoder.feed(data[:7]) == []
    assert [m["type"] for m in decoder.feed(data[7:])] == ["ack", "finished"]


# -- alignment over remote channels -----------------------------------------------------------------
class _Recording(Operator):
    def __init__(self) -> None:
        super().__init__("recording")
        self.seen: list[Any] = []

    def process_element(self, value: Any, timestamp: int | None, key: Any, input_index: int) -> None:
        self.seen.append(value)


def test_a_barrier_is_aligned_over_remote_channels_holding_back_what_follows_it() -> None:
    operator = _Recording()
    subtask = Subtask(Transformation("op", lambda: operator), 0, 1, operator)
    subtask.output = RoutedOutput(subtask)
    left, right = (0, 0, 0), (0, 0, 1)  # channels from two upstream subtasks in other workers
    subtask.add_channel(left)
    subtask.add_channel(right)
    snapshots: list[tuple[int, list[Any]]] = []
    subtask.on_aligned = lambda s, checkpoint_id: snapshots.append((checkpoint_id, list(operator.seen)))
    channel_left, channel_right = OutputChannel(1), OutputChannel(2)
    for channel, values in ((channel_left, ["l1", "BARRIER", "l2"]), (channel_right, ["r1", "r2", "BARRIER", "r3"])):
        for value in values:
            channel.add_event((BARRIER, 1)) if value == "BARRIER" else channel.add((RECORD, value, None, None))
        channel.finish()
        channel.add_credit(10)
    left_buffers = [read_buffer(p) for _, _, p in channel_left.take_sendable()]
    right_buffers = [read_buffer(p) for _, _, p in channel_right.take_sendable()]
    for element in left_buffers[0] + left_buffers[1]:  # l1, barrier | l2 (held back)
        deliver_element(subtask, left, 0, element)
    assert operator.seen == ["l1"] and snapshots == [] and subtask.held
    for element in right_buffers[0]:  # r1 r2 barrier: aligned, snapshot, then l2 released
        deliver_element(subtask, right, 0, element)
    assert snapshots == [(1, ["l1", "r1", "r2"])]  # exactly what came before the barriers
    assert operator.seen == ["l1", "r1", "r2", "l2"]
    for element in right_buffers[1]:
        deliver_element(subtask, right, 0, element)
    assert operator.seen[-1] == "r3" and not subtask.blocked


# -- two workers in memory ----------------------------------------------------------------------------
class RunningCount(functions.RunningCount):
    def render(self, value: Any, count: int) -> Any:
        return f"{value}:{count}"


WORDS = [f"w{(i * 7) % 11}" for i in range(3000)]


def _job(sink: CollectSink) -> list[Transformation]:
    env = StreamExecutionEnvironment.get_execution_environment().set_parallelism(2)
    source = TestSource(splits={"p0": WORDS[0::3], "p1": WORDS[1::3], "p2": WORDS[2::3]})
    env.from_source(source, _no_watermarks(), "words").map(lambda w: w.upper()) \
        .key_by(lambda w: w).process(RunningCount(), Types.STRING()).sink_to(sink)
    return list(env._sinks)


def _no_watermarks() -> Any:
    from flinklite.common import WatermarkStrategy

    return WatermarkStrategy.no_watermarks()


class _Cluster:
    """Two WorkerAttempts whose links are wired to each other in memory."""

    def __init__(self, sinks: list[Transformation], restore: dict[str, dict[int, Any]] | None = None) -> None:
        self.acks: list[dict[str, Any]] = []
        plan = SlotPlan([(0, 1, ("127.0.0.1", 1)), (1, 1, ("127.0.0.1", 2))])
        self.attempts = [WorkerAttempt(JobExecutor(sinks, 2, clock=ManualClock()), plan, me, 1, self.acks.append)
                         for me in (0, 1)]
        for attempt in self.attempts:
            attempt.open(restore)

    def step(self) -> None:
        for attempt in self.attempts:
            attempt.step(0)
            attempt.flush()
            attempt.pump()
        for attempt in self.attempts:
            for peer, link in attempt.links.items():
                data = bytes(link.outgoing)
                if data:
                    link.sent(len(data))
                    self.attempts[peer].links[attempt.me].feed(data)

    def run(self, until: Callable[[], bool], limit: int = 10_000) -> None:
        for _ in range(limit):
            if until():
                return
            self.step()
        raise AssertionError("the workers did not get there")

    @property
    def finished(self) -> bool:
        return all(a.finished for a in self.attempts)


def _per_key(by_subtask: dict[int, list[Any]]) -> dict[tuple[int, str], list[str]]:
    out: dict[tuple[int, str], list[str]] = {}
    for subtask, values in by_subtask.items():
        for value in values:
            out.setdefault((subtask, value.split(":")[0]), []).append(value)
    return out


def test_two_workers_in_memory_produce_the_single_process_output_and_route_by_key_group() -> None:
    expected = CollectSink()
    JobExecutor(_job(expected), 2, clock=ManualClock()).run()
    sink = CollectSink()
    cluster = _Cluster(_job(sink))
    assert len(cluster.attempts[0].owned) == 4 and len(cluster.attempts[1].owned) == 4  # slot i: subtask i
    cluster.run(lambda: cluster.finished)
    assert sorted(sink.values) == sorted(expected.values)
    # the same subtask wrote each result, in the same order per key (keys interleave differently)
    assert _per_key(sink.by_subtask) == _per_key(expected.by_subtask)
    sent = sum(c.buffers_sent for a in cluster.attempts for link in a.links.values() for c in link.outputs.values())
    assert sent > 2  # records crossed between the workers


def test_a_checkpoint_over_two_workers_is_consistent_and_restores_by_key_group() -> None:
    sink = CollectSink()
    sinks = _job(sink)
    cluster = _Cluster(sinks)
    cluster.run(lambda: len(sink.values) > 500)
    for attempt in cluster.attempts:
        attempt.trigger(1)
    tasks = 8  # 4 operators x 2 subtasks
    cluster.run(lambda: len(cluster.acks) == tasks)
    assert len({(ack["task"], ack["subtask"]) for ack in cluster.acks}) == tasks  # each acknowledged once

    snapshot: dict[str, dict[int, Any]] = {}
    for ack in cluster.acks:
        snapshot.setdefault(ack["task"], {})[ack["subtask"]] = pickle.loads(ack["state"])
    positions = {split: offset for state in snapshot["0:words"].values() for split, offset in state["reader"].items()}
    consumed = sum(positions.values())
    assert 0 < consumed < len(WORDS)  # taken mid-stream, while records were crossing between the workers
    # Restore into two fresh workers (a failover): the results after the checkpoint continue the counts.
    resumed = CollectSink()
    restored = _Cluster(_job(resumed), restore=snapshot)
    restored.run(lambda: restored.finished)
    last: dict[str, int] = {}
    for value in resumed.values:
        word, count = value.rsplit(":", 1)
        last[word] = max(last.get(word, 0), int(count))
    assert last == {w.upper(): WORDS.count(w) for w in set(WORDS)}
    # The counts in the checkpoint hold exactly the records its source positions had emitted: the
    # restored run emits each later record once and every word's count ends at its total.
    assert len(resumed.values) == len(WORDS) - consumed


def test_worker_settings_come_from_flink_and_flinklite_keys() -> None:
    settings = WorkerSettings.from_conf({"flinklite.workers": "2", "taskmanager.numberOfTaskSlots": "3",
                                         "flinklite.workers.remote": "1", "jobmanager.rpc.port": "6123",
                                         "flinklite.workers.registration-timeout": "5 s"})
    assert (settings.local, settings.remote, settings.slots, settings.rpc_port) == (2, 1, 3, 6123)
    assert settings.workers == 3 and settings.registration_timeout_s == 5
    assert WorkerSettings.from_conf({}).workers == 0  # the single-process executor
    plan = SlotPlan([(4, 2, ("h", 1)), (9, 1, ("h", 2))])
    assert [plan.owner(i) for i in range(6)] == [4, 4, 9, 4, 4, 9]
