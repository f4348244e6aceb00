"""``python -m zkserver [zoo.cfg] [--port P] ...``: run a standalone ZooKeeper-compatible server.

The first line on stdout, flushed at once, is ``listening HOST:PORT`` (comma-separated
for ``--ensemble N``); SIGTERM
and SIGINT shut the server down cleanly (the transaction log is closed).
"""

from __future__ import annotations

import logging
import signal
import sys

import trio

from zkserver.config import from_args
from zkserver.server import ZkServer


async def _main(server: ZkServer) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        print(f"listening {server.hosts}", flush=True)
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                server.stop()
                break


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = from_args(argv)
    trio.run(_main, ZkServer(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
