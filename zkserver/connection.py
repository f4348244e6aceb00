"""One client connection's protocol state, sans-IO: bytes in, bytes out.

``ZkConnection.receive(data)`` buffers what the socket produced and returns
what to send back, in order; ``data == b""`` means the peer hung up. It knows
the three shapes a connection can take on ZooKeeper's client port:

* a four-letter word: the first four bytes spell a known command; the reply is
  plain text and the connection is closed;
* the handshake: the first frame is a bare ConnectRequest;
* requests: RequestHeader + record, answered with ReplyHeader + record, in order.

A frame larger than jute.maxbuffer closes the connection without a reply, as
the real server does. A body that does not decode gets MARSHALLINGERROR (-5),
an unknown opcode UNIMPLEMENTED (-6) and a close. Nothing a peer sends can raise
out of here except through ``close``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from wire.errors import DecodeError, FrameTooLargeError
from wire.framing import FrameBuffer, frame
from wire.zk.protocol import BadRequestBodyError, UnknownOpcodeError
from zkserver.core import Client, Notification, Outcome, Reply, ZkCore
from zkserver.faults import FaultPlan
from zkserver.fourletter import WORDS, four_letter_reply
from zkserver.protocol import Code, decode_connect, decode_request, encode_connect_response, encode_event, encode_reply

log = logging.getLogger("zkserver.connection")


@dataclass
class Sent:
    """What the shell must do after feeding bytes: send ``data`` (framed, in order), maybe close, deliver events."""

    data: list[bytes] = field(default_factory=list)
    close: bool = False
    others: list[Notification] = field(default_factory=list)  # events for other connections
    close_clients: list[int] = field(default_factory=list)


class ZkConnection:
    def __init__(self, core: ZkCore, client: Client, max_buffer: int, faults: FaultPlan | None = None) -> None:
        self.core = core
        self.faults = faults or FaultPlan()
        self.client = client
        self.frames = FrameBuffer(max_frame_size=max_buffer + 1024)  # room for the request header
        self.max_buffer = max_buffer
        self.handshaken = False
        self.closed = False
        self._first = True

    def receive(self, data: bytes | bytearray, now_ms: int) -> Sent:
        sent = Sent()
        if self.closed:
            return sent
        if self._first and data:
            self._first = False
            word = bytes(data[:4])
            if len(data) >= 4 and word in WORDS:
                sent.data.append(four_letter_reply(word.decode("ascii"), self.core, self.core.config))
                sent.close = True
                self.closed = True
                return sent
        try:
            self.frames.feed(data)
            while not self.closed:
                payload = self.frames.next_frame()
                if payload is None:
                    break
                self.core.stats["received"] += 1
                self._frame(payload, now_ms, sent)
        except FrameTooLargeError as exc:
            log.info("closing %s: %s", self.client.ip, exc)
            sent.close = True
        except DecodeError as exc:
            log.info("closing %s: bad frame: %s", self.client.ip, exc)
            sent.close = True
        if data == b"" and not sent.close:
            sent.close = True
        if sent.close:
            self.closed = True
        return sent

    def latency_before(self, data: bytes | bytearray) -> float:
        """The latency fault to apply before handling ``data``: the longest delay configured for the kinds
        (opcodes) of the requests it completes. The connect request and four-letter words have none."""
        if not self.faults.delays or self.closed or (self._first and bytes(data[:4]) in WORDS):
            return 0.0
        frames = self.frames.peek_complete(data, 8)  # xid, then the opcode
        if not self.handshaken:
            frames = frames[1:]
        return max((self.faults.delay_for(int.from_bytes(f[4:8], "big", signed=True))
                    for f in frames if len(f) >= 8), default=0.0)

    def _frame(self, payload: bytes, now_ms: int, sent: Sent) -> None:
        if not self.handshaken:
            if len(payload) > self.max_buffer:
                raise FrameTooLargeError(len(payload), self.max_buffer)
            req = decode_connect(payload)
            out = self.core.connect(self.client, req, now_ms)
            if out.reply is not None:
                sent.data.append(frame(encode_connect_response(out.reply.body)))
                out.reply = None
            self.handshaken = not out.close_this
            self._route(out, sent)
            return
        if len(payload) > self.max_buffer:
            raise FrameTooLargeError(len(payload), self.max_buffer)
        try:
            request = decode_request(payload)
        except UnknownOpcodeError as exc:
            self._route(Outcome(reply=Reply(exc.xid, -1, Code.UNIMPLEMENTED), close_this=True), sent)
            return
        except BadRequestBodyError as exc:
            log.info("bad request body from %s (op %s): %s", self.client.ip, exc.op, exc)
            self._route(Outcome(reply=Reply(exc.xid, self.core.zxid, Code.MARSHALLINGERROR)), sent)
            return
        xid, op, record = request.xid, request.op, request.body
        rule = self.faults.take(op) if self.faults.rules else None
        if rule is not None and rule.action == "drop":
            sent.close = True
            self.closed = True
            return
        if rule is not None and rule.action == "lose_reply":  # done, but the client never hears so
            out = self.core.handle(self.client, xid, op, record, now_ms)
            out.reply = None
            out.notifications = [n for n in out.notifications if n.client_id != self.client.id]
            out.close_this = True
            self._route(out, sent)
            self.closed = True
            return
        if rule is not None:
            out = Outcome(reply=Reply(xid, self.core.zxid, rule.error))
        else:
            out = self.core.handle(self.client, xid, op, record, now_ms)
        self._route(out, sent)

    def _route(self, out: Outcome, sent: Sent) -> None:
        # events caused by this request reach this client before its reply, as on a real server
        for note in out.notifications:
            if note.client_id == self.client.id:
                sent.data.append(frame(encode_event(note)))
            else:
                sent.others.append(note)
        if out.reply is not None:
            sent.data.append(frame(encode_reply(out.reply)))
            self.core.stats["sent"] += 1
        sent.close_clients.extend(out.close_clients)
        if out.close_this:
            sent.close = True


__all__ = ["Sent", "ZkConnection"]
