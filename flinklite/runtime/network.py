"""Owns the data plane between worker processes as sans-IO logic (nothing here opens a socket,
sleeps or reads a clock; flinklite/runtime/workers.py is the socket shell):

- Stream elements (records, watermarks, idleness, end of input, checkpoint barriers) pickled
  into buffers (`BufferBuilder`, about `BUFFER_BYTES` each, as Flink's 32 KiB network buffers).
- Credit-based flow control per logical channel, as Flink's network stack: the receiving
  `InputChannel` owns a fixed number of buffers and grants one credit per free buffer (all of
  them when the channel opens, one more each time the task has consumed a buffer); the sending
  `OutputChannel` sends a finished buffer only while it holds credit, and queues it otherwise.
  A sender whose queue is full is `saturated`: the worker stops feeding the subtasks that would
  write into it (backpressure), so memory stays bounded and a slow receiver slows its senders.
- Checkpoint barriers travel in-band as elements of the same channels (a barrier finishes the
  buffer it is in, so it is not held back by a partly filled buffer); `deliver_element` hands
  what arrives to the receiving `Subtask`, whose alignment (flinklite/runtime/executor.py) holds
  back input on channels whose barrier has arrived until it has arrived on every live channel.
- Frames between two workers (one TCP connection per pair, multiplexing their channels), each
  4-byte length prefixed (wire.framing): HELLO(worker, attempt), BUFFER(channel, backlog,
  payload), CREDIT(channel, n); and pickled control messages between workers and the job
  manager (`encode_message` / `MessageDecoder`).

The peers are trusted (pickle, no authentication): like a Flink cluster without SSL, workers
belong on a private network."""

from __future__ import annotations

import io
import pickle
import struct
from collections import deque
from typing import TYPE_CHECKING, Any

from wire.framing import FrameBuffer

if TYPE_CHECKING:
    from flinklite.runtime.executor import Subtask

BUFFER_BYTES = 32 * 1024
EXCLUSIVE_BUFFERS = 2  # per input channel: the credit a sender can hold at most (Flink: buffers-per-channel 2)
MAX_QUEUED = 2  # finished buffers an output channel may queue before it counts as saturated

# Element kinds (first field of every element tuple).
RECORD = 0  # (RECORD, value, timestamp, key)
WATERMARK = 1  # (WATERMARK, watermark)
IDLE = 2  # (IDLE, idle)
END = 3  # (END,)
BARRIER = 4  # (BARRIER, checkpoint id)

# Frame kinds between workers.
HELLO = 0
BUFFER = 1
CREDIT = 2

_HEADER = struct.Struct(">iBii")  # length, kind, a, b
_PROTOCOL = pickle.HIGHEST_PROTOCOL


class ProtocolError(Exception):
    """A peer broke the channel protocol (e.g. sent a buffer without credit)."""


class BufferBuilder:
    """Pickles each element on its own when it is added (so a record's value is captured when
    it is emitted, as a network serializer does); a buffer is their concatenation."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.size = 0
        self.count = 0

    def add(self, element: tuple[Any, ...]) -> int:
        """Appends an element; returns the buffer's size in bytes."""
        data = pickle.dumps(element, _PROTOCOL)
        self._parts.append(data)
        self.size += len(data)
        self.count += 1
        return self.size

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts = []
        self.size = self.count = 0
        return data


def read_buffer(payload: bytes) -> list[tuple[Any, ...]]:
    """The elements of one buffer, in order."""
    stream = io.BytesIO(payload)
    end = len(payload)
    elements = []
    unpickler = pickle.Unpickler
    while stream.tell() < end:
        elements.append(unpickler(stream).load())  # each element is a whole pickle of its own
    return elements


class OutputChannel:
    """The sending end of one logical channel (an upstream subtask's output to one downstream
    subtask's input channel in another worker)."""

    def __init__(self, channel_id: int, buffer_bytes: int = BUFFER_BYTES, max_queued: int = MAX_QUEUED) -> None:
        self.channel_id = channel_id
        self.buffer_bytes = buffer_bytes
        self.max_queued = max_queued
        self.credit = 0
        self.queue: deque[bytes] = deque()
        self._builder = BufferBuilder()
        self.buffers_sent = 0
        self.blocked_sends = 0  # times a finished buffer found no credit (backpressure seen)

    def add(self, element: tuple[Any, ...]) -> None:
        if self._builder.add(element) >= self.buffer_bytes:
            self.finish()

    def add_event(self, element: tuple[Any, ...]) -> None:
        """A barrier or end of input: added, and the buffer finished at once."""
        self._builder.add(element)
        self.finish()

    def finish(self) -> None:
        """Closes the partly filled buffer (the flush of Flink's buffer timeout)."""
        if self._builder.count:
            self.queue.append(self._builder.take())
            if self.credit == 0:
                self.blocked_sends += 1

    @property
    def pending_elements(self) -> int:
        return self._builder.count

    def add_credit(self, credit: int) -> None:
        if credit <= 0:
            raise ProtocolError(f"channel {self.channel_id}: credit {credit}")
        self.credit += credit

    def take_sendable(self) -> list[tuple[int, int, bytes]]:
        """(channel id, backlog after this buffer, payload) for every buffer it may send now."""
        out = []
        while self.credit > 0 and self.queue:
            self.credit -= 1
            payload = self.queue.popleft()
            out.append((self.channel_id, len(self.queue), payload))
            self.buffers_sent += 1
        return out

    @property
    def saturated(self) -> bool:
        return len(self.queue) >= self.max_queued

    @property
    def idle(self) -> bool:
        return not self.queue and not self._builder.count


class InputChannel:
    """The receiving end of one logical channel: `capacity` buffers, one credit per free one."""

    def __init__(self, channel_id: int, capacity: int = EXCLUSIVE_BUFFERS) -> None:
        self.channel_id = channel_id
        self.capacity = capacity
        self.queue: deque[bytes] = deque()
        self._announce = capacity  # the initial credit: every buffer is free
        self.backlog = 0  # what the sender reported still queued behind its last buffer

    def on_buffer(self, payload: bytes, backlog: int) -> None:
        if len(self.queue) >= self.capacity:
            raise ProtocolError(f"channel {self.channel_id}: a buffer arrived without credit")
        self.queue.append(payload)
        self.backlog = backlog

    def take(self) -> list[tuple[Any, ...]]:
        """The next buffer's elements; its buffer is free again (one credit to announce)."""
        payload = self.queue.popleft()
        self._announce += 1
        return read_buffer(payload)

    def credit_to_announce(self) -> int:
        credit, self._announce = self._announce, 0
        return credit

    @property
    def has_data(self) -> bool:
        return bool(self.queue)


def deliver_element(subtask: Subtask, channel: Any, input_index: int, element: tuple[Any, ...]) -> None:
    """Hands one element that arrived on a remote channel to its subtask, as a local route
    does: a record on a channel whose barrier has arrived is held back until alignment."""
    kind = element[0]
    if kind == RECORD:
        if channel in subtask.blocked:
            subtask.held.append(("record", element[1], element[2], element[3], input_index))
        else:
            subtask.records_in += 1
            subtask.operator.process_element(element[1], element[2], element[3], input_index)
    elif kind == WATERMARK:
        subtask.on_watermark(channel, element[1])
    elif kind == IDLE:
        subtask.on_idle(channel, element[1])
    elif kind == END:
        subtask.on_end(channel)
    elif kind == BARRIER:
        subtask.on_barrier(channel, element[1])
    else:
        raise ProtocolError(f"unknown element kind {kind}")


# -- frames between workers -------------------------------------------------------------------
def encode_hello(worker: int, attempt: int) -> bytes:
    return _HEADER.pack(9, HELLO, worker, attempt)


def encode_buffer(channel_id: int, backlog: int, payload: bytes) -> bytes:
    return _HEADER.pack(9 + len(payload), BUFFER, channel_id, backlog) + payload


def encode_credit(channel_id: int, credit: int) -> bytes:
    return _HEADER.pack(9, CREDIT, channel_id, credit)


def decode_frame(frame: bytes) -> tuple[int, int, int, bytes]:
    """(kind, a, b, payload) of one frame (without its length prefix)."""
    if len(frame) < 9:
        raise ProtocolError(f"a frame of {len(frame)} bytes")
    kind, a, b = struct.unpack_from(">Bii", frame)
    if kind not in (HELLO, BUFFER, CREDIT):
        raise ProtocolError(f"unknown frame kind {kind}")
    return kind, a, b, frame[9:]


class FrameDecoder:
    """Bytes from a worker-to-worker connection in, decoded frames out."""

    def __init__(self) -> None:
        self._frames = FrameBuffer()

    def feed(self, data: bytes) -> list[tuple[int, int, int, bytes]]:
        self._frames.feed(data)
        out: list[tuple[int, int, int, bytes]] = []
        while True:
            frame = self._frames.next_frame()
            if frame is None:
                return out
            out.append(decode_frame(frame))


# -- control messages (worker <-> job manager) --------------------------------------------------
def encode_message(message: dict[str, Any]) -> bytes:
    payload = pickle.dumps(message, _PROTOCOL)
    return struct.pack(">i", len(payload)) + payload


class MessageDecoder:
    def __init__(self) -> None:
        self._frames = FrameBuffer()

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        self._frames.feed(data)
        out: list[dict[str, Any]] = []
        while True:
            frame = self._frames.next_frame()
            if frame is None:
                return out
            message = pickle.loads(frame)
            if not isinstance(message, dict):
                raise ProtocolError("a control message that is not a dict")
            out.append(message)


class PeerLink:
    """One connection to another worker, sans-IO: frames to write accumulate in `outgoing`
    (the shell writes what the socket takes and calls `sent`), bytes read go to `feed`."""

    def __init__(self, peer: int) -> None:
        self.peer = peer
        self.outgoing = bytearray()
        self.decoder = FrameDecoder()
        self.outputs: dict[int, OutputChannel] = {}  # channel id -> sender side, to this peer
        self.inputs: dict[int, InputChannel] = {}  # channel id -> receiver side, from this peer

    def announce_credits(self) -> None:
        for channel in self.inputs.values():
            credit = channel.credit_to_announce()
            if credit:
                self.outgoing += encode_credit(channel.channel_id, credit)

    def send_buffers(self) -> None:
        for channel in self.outputs.values():
            if channel.queue and channel.credit:
                for channel_id, backlog, payload in channel.take_sendable():
                    self.outgoing += encode_buffer(channel_id, backlog, payload)

    def sent(self, count: int) -> None:
        del self.outgoing[:count]

    def feed(self, data: bytes) -> list[tuple[int, int, int, bytes]]:
        """Applies CREDIT and BUFFER frames to the channels; returns the other frames (HELLO)."""
        return self.apply(self.decoder.feed(data))

    def apply(self, frames: list[tuple[int, int, int, bytes]]) -> list[tuple[int, int, int, bytes]]:
        other = []
        for kind, a, b, payload in frames:
            if kind == CREDIT:
                output = self.outputs.get(a)
                if output is None:
                    raise ProtocolError(f"credit for unknown channel {a}")
                output.add_credit(b)
            elif kind == BUFFER:
                channel = self.inputs.get(a)
                if channel is None:
                    raise ProtocolError(f"a buffer for unknown channel {a}")
                channel.on_buffer(payload, b)
            else:
                other.append((kind, a, b, payload))
        return other
