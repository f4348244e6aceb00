"""``python -m broker [server.properties] [--port P] [--brokers N] ...``: run Kafka-compatible brokers.

The first line on stdout, flushed at once, is ``listening HOST:PORT[,HOST:PORT...]``
(one address per broker); SIGTERM and SIGINT shut down cleanly.
"""

from __future__ import annotations

import logging
import signal
import sys

import trio

from broker.config import from_args
from broker.server import BrokerServer


async def _main(server: BrokerServer) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        print(f"listening {server.bootstrap_servers}", flush=True)
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                server.stop()
                break


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    trio.run(_main, BrokerServer(from_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
