"""The zkserver core's error: a KeeperException code the request is answered with."""

from __future__ import annotations


class ZkError(Exception):
    """A request fails with ``code`` (a negative KeeperException code); ``path`` is for logs."""

    def __init__(self, code: int, path: str | None = None) -> None:
        super().__init__(code, path)
        self.code = int(code)
        self.path = path


class CloseConnection(Exception):
    """The request is answered (or not) and then the connection must be closed."""
