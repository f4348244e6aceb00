"""FrameBuffer: splitting a byte stream into length-prefixed frames, and refusing bad lengths early."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wire.errors import FrameTooLargeError, MalformedError, TruncatedError
from wire.framing import FrameBuffer, frame


def drain(fb: FrameBuffer) -> list[bytes]:
    out = []
    while (f := fb.next_frame()) is not None:
        out.append(f)
    return out


@given(st.lists(st.binary(max_size=300), max_size=20), st.data())
def test_any_chunking_yields_the_same_frames(payloads: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(frame(p) for p in payloads)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    fb = FrameBuffer(max_frame_size=1000)
    got: list[bytes] = []
    prev = 0
    for cut in cuts + [len(stream)]:
        fb.feed(stream[prev:cut]) if cut > prev else None
        got.extend(drain(fb))
        prev = cut
    fb.feed(b"")
    got.extend(drain(fb))
    assert got == payloads
    assert fb.buffered == 0


def test_oversized_frame_is_refused_from_its_header_alone() -> None:
    fb = FrameBuffer(max_frame_size=1024)
    fb.feed((1025).to_bytes(4, "big"))  # no payload byte has arrived yet
    with pytest.raises(FrameTooLargeError) as info:
        fb.next_frame()
    assert info.value.size == 1025 and info.value.maximum == 1024


def test_frame_of_exactly_the_maximum_is_accepted() -> None:
    fb = FrameBuffer(max_frame_size=4)
    fb.feed(frame(b"abcd"))
    assert fb.next_frame() == b"abcd"


def test_negative_length_is_malformed() -> None:
    fb = FrameBuffer()
    fb.feed(b"\xff\xff\xff\xfe")
    with pytest.raises(MalformedError):
        fb.next_frame()


def test_eof_inside_a_frame_is_truncation_but_clean_eof_is_not() -> None:
    fb = FrameBuffer()
    fb.feed(frame(b"hello")[:6])
    assert fb.next_frame() is None
    fb.feed(b"")
    with pytest.raises(TruncatedError):
        fb.next_frame()

    clean = FrameBuffer()
    clean.feed(frame(b"x"))
    clean.feed(b"")
    assert clean.next_frame() == b"x"
    assert clean.next_frame() is None
    assert clean.at_eof


def test_eof_inside_a_length_prefix_is_truncation() -> None:
    fb = FrameBuffer()
    fb.feed(b"\x00\x00")
    fb.feed(b"")
    with pytest.raises(TruncatedError):
        fb.next_frame()


def test_long_pipelined_stream_does_not_grow_the_buffer_without_bound() -> None:
    fb = FrameBuffer()
    one = frame(b"x" * 1000)
    for _ in range(1000):
        fb.feed(one + one[:10])  # always ends mid-frame
        while fb.next_frame() is not None:
            pass
        fb.feed(one[10:])
        while fb.next_frame() is not None:
            pass
    assert fb.buffered == 0


def test_peek_complete_names_the_frames_a_feed_would_finish_without_consuming() -> None:
    buf = FrameBuffer()
    stream = frame(b"first-payload") + frame(b"2nd") + frame(b"third")
    buf.feed(stream[:6])  # the first length and 2 payload bytes
    assert buf.peek_complete(b"", 5) == []
    assert buf.next_frame() is None  # reads the first length: the peek must account for it
    assert buf.peek_complete(stream[6:25], 5) == [b"first", b"2nd"]
    assert buf.peek_complete(stream[6:], 64) == [b"first-payload", b"2nd", b"third"]
    buf.feed(stream[6:])
    assert [buf.next_frame(), buf.next_frame(), buf.next_frame()] == [b"first-payload", b"2nd", b"third"]
    assert buf.peek_complete(b"\xff\xff\xff\xff", 4) == []  # a bad length is next_frame's to report
