"""Owns the time values of the API: `Duration`, `Time` and `Instant` (PyFlink's
pyflink.common.time), all held as integer milliseconds."""

from __future__ import annotations

from typing import Any

from flinklite.errors import InvalidProgramError


class Duration:
    """A span of time, in milliseconds (PyFlink wraps java.time.Duration)."""

    __slots__ = ("_millis",)

    def __init__(self, millis: int) -> None:
        self._millis = int(millis)

    @staticmethod
    def of_days(days: int) -> Duration:
        return Duration(days * 86_400_000)

    @staticmethod
    def of_hours(hours: int) -> Duration:
        return Duration(hours * 3_600_000)

    @staticmethod
    def of_minutes(minutes: int) -> Duration:
        return Duration(minutes * 60_000)

    @staticmethod
    def of_seconds(seconds: int) -> Duration:
        return Duration(seconds * 1000)

    @staticmethod
    def of_millis(millis: int) -> Duration:
        return Duration(millis)

    @staticmethod
    def of_nanos(nanos: int) -> Duration:
        return Duration(nanos // 1_000_000)

    def to_milliseconds(self) -> int:
        return self._millis

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Duration) and other._millis == self._millis

    def __hash__(self) -> int:
        return hash(self._millis)

    def __repr__(self) -> str:
        return f"Duration.of_millis({self._millis})"


class Time:
    """A span of time in milliseconds (PyFlink's Time, used by the window assigners)."""

    __slots__ = ("_millis",)

    def __init__(self, milliseconds: int) -> None:
        self._millis = int(milliseconds)

    def to_milliseconds(self) -> int:
        return self._millis

    @staticmethod
    def milliseconds(milliseconds: int) -> Time:
        return Time(milliseconds)

    @staticmethod
    def seconds(seconds: int) -> Time:
        return Time(seconds * 1000)

    @staticmethod
    def minutes(minutes: int) -> Time:
        return Time(minutes * 60_000)

    @staticmethod
    def hours(hours: int) -> Time:
        return Time(hours * 3_600_000)

    @staticmethod
    def days(days: int) -> Time:
        return Time(days * 86_400_000)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Time) and other._millis == self._millis

    def __hash__(self) -> int:
        return hash(self._millis)

    def __str__(self) -> str:
        return f"{self._millis} ms"


class Instant:
    """A point in time (epoch seconds + nanos)."""

    __slots__ = ("seconds", "nanos")

    def __init__(self, seconds: int, nanos: int) -> None:
        self.seconds = seconds
        self.nanos = nanos

    def to_epoch_milli(self) -> int:
        return self.seconds * 1000 + self.nanos // 1_000_000

    @staticmethod
    def of_epoch_milli(epoch_milli: int) -> Instant:
        return Instant(epoch_milli // 1000, (epoch_milli % 1000) * 1_000_000)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Instant) and (self.seconds, self.nanos) == (other.seconds, other.nanos)

    def __hash__(self) -> int:
        return hash((self.seconds, self.nanos))

    def __repr__(self) -> str:
        return f"Instant<{self.seconds}, {self.nanos}>"


def to_millis(span: Any, what: str) -> int:
    """Milliseconds of a `Duration`, a `Time`, a `datetime.timedelta` or an int (ms)."""
    import datetime

    if isinstance(span, (Duration, Time)):
        return span.to_milliseconds()
    if isinstance(span, datetime.timedelta):
        return int(span.total_seconds() * 1000)
    if isinstance(span, int) and not isinstance(span, bool):
        return span
    raise InvalidProgramError(f"{what} takes a Duration, a Time, a timedelta or milliseconds as int, not {span!r}")
