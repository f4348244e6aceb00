"""Durable storage for zkserver: an append-only transaction log and periodic snapshots.

Layout of a data directory (``version-2/`` as ZooKeeper names it):

* ``log.<first zxid, hex>``: records ``[int32 length][uint32 crc32][payload]``,
  payload = ``int64 zxid`` + the serialized transaction. A record whose length
  runs past the end of the file or whose CRC does not match is a torn tail (the
  process died mid-write): it and everything after it is cut off on recovery.
  Only the last log file may have a torn tail; a bad record elsewhere is
  corruption and refuses to start.
* ``snapshot.<zxid, hex>``: one serialized image of the tree and the sessions,
  written to a temporary file, fsynced and renamed into place, so a snapshot is
  either whole or absent.

What goes into a payload is the core's business; this module only keeps bytes
safe. ``append`` only writes; ``sync()`` fsyncs what was appended (when
``force_sync``, ZooKeeper's ``forceSync=yes``), and the server calls it before
any reply to those transactions leaves: one fsync covers every request read in
one go (group commit), as ZooKeeper's SyncRequestProcessor does.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

_RECORD = struct.Struct(">iI")
_ZXID = struct.Struct(">q")
MAX_RECORD = 64 * 1024 * 1024


class CorruptLogError(Exception):
    """A log record that is not the torn tail of the newest file is damaged."""


def _hex_name(prefix: str, zxid: int) -> str:
    return f"{prefix}.{zxid:x}"


def _zxid_of(path: Path) -> int:
    return int(path.name.split(".", 1)[1], 16)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DataDir:
    """One server's ``version-2`` directory: logs and snapshots."""

    def __init__(self, root: Path, force_sync: bool = True, snap_retain: int = 3) -> None:
        self.dir = Path(root) / "version-2"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.force_sync = force_sync
        self.snap_retain = max(1, snap_retain)
        self._log: int | None = None  # fd of the log being appended to
        self._dirty = False

    # -- snapshots ---------------------------------------------------------------
    def snapshots(self) -> list[Path]:
        return sorted(self.dir.glob("snapshot.*"), key=_zxid_of)

    def latest_snapshot(self) -> tuple[int, bytes] | None:
        for path in reversed(self.snapshots()):
            data = path.read_bytes()
            if len(data) >= 8:
                (crc,) = struct.unpack_from(">I", data, 0)
                body = data[4:]
                if zlib.crc32(body) == crc:
                    return _zxid_of(path), body
        return None

    def write_snapshot(self, zxid: int, payload: bytes) -> Path:
        final = self.dir / _hex_name("snapshot", zxid)
        tmp = final.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            f.write(struct.pack(">I", zlib.crc32(payload)))
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
        _fsync_dir(self.dir)
        self._roll_log(zxid + 1)
        self.purge()
        return final

    def purge(self) -> None:
        """Keep the newest ``snap_retain`` snapshots and the logs they still need."""
        snaps = self.snapshots()
        if len(snaps) <= self.snap_retain:
            return
        keep_from = _zxid_of(snaps[-self.snap_retain])
        for snap in snaps[: -self.snap_retain]:
            snap.unlink(missing_ok=True)
        logs = self.logs()
        for i, log in enumerate(logs):
            nxt = logs[i + 1] if i + 1 < len(logs) else None
            if nxt is not None and _zxid_of(nxt) <= keep_from + 1:
                log.unlink(missing_ok=True)

    # -- transaction log -----------------------------------------------------------
    def logs(self) -> list[Path]:
        return sorted(self.dir.glob("log.*"), key=_zxid_of)

    def _roll_log(self, first_zxid: int) -> None:
        self.close()
        path = self.dir / _hex_name("log", first_zxid)
        self._log = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        _fsync_dir(self.dir)

    def append(self, zxid: int, payload: bytes) -> None:
        if self._log is None:
            self._roll_log(zxid)
        assert self._log is not None
        body = _ZXID.pack(zxid) + payload
        os.write(self._log, _RECORD.pack(len(body), zlib.crc32(body)) + body)
        self._dirty = True

    def sync(self) -> None:
        """Group commit: fsync everything appended since the last sync (when ``force_sync`` is on).

        The shell calls this once per batch of requests it read, before any of their replies leave."""
        if self._dirty and self._log is not None and self.force_sync:
            os.fsync(self._log)
        self._dirty = False

    def close(self) -> None:
        if self._log is not None:
            if self._dirty:
                os.fsync(self._log)
                self._dirty = False
            os.close(self._log)
            self._log = None

    def replay(self, after_zxid: int) -> Iterator[tuple[int, bytes]]:
        """Every logged transaction with a zxid above ``after_zxid``, in order; cuts a torn tail off."""
        logs = self.logs()
        for i, path in enumerate(logs):
            last = i == len(logs) - 1
            data = path.read_bytes()
            pos = 0
            while pos < len(data):
                good_end = pos
                if len(data) - pos < _RECORD.size:
                    break
                length, crc = _RECORD.unpack_from(data, pos)
                start = pos + _RECORD.size
                end = start + length
                if length < _ZXID.size or length > MAX_RECORD or end > len(data) or zlib.crc32(data[start:end]) != crc:
                    if not last:
                        raise CorruptLogError(f"{path.name}: damaged record at byte {pos}")
                    break
                (zxid,) = _ZXID.unpack_from(data, start)
                if zxid > after_zxid:
                    yield zxid, data[start + _ZXID.size:end]
                pos = end
            else:
                continue
            # a torn tail in the newest log: cut it so appends continue from a clean record boundary
            with open(path, "r+b") as f:
                f.truncate(good_end)
                f.flush()
                os.fsync(f.fileno())
