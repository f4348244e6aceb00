"""``python -m broker [server.properties] [--port P] [--brokers N] ...``: run Kafka-compatible brokers.

The first line on stdout, flushed at once, is ``listening HOST:PORT[,HOST:PORT...]``
(one address per broker); SIGTERM and SIGINT shut down cleanly (in ZooKeeper mode after a
controlled shutdown: the controller moves this broker's leaderships first).
"""

from __future__ import annotations

import logging
import signal
import sys

import trio

from broker.config import from_args
from broker.server import BrokerServer

SHUTDOWN_LIMIT_S = 300  # the longest a controlled shutdown may take (a second signal cuts it short)


async def _main(server: BrokerServer) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(server.serve)
        print(f"listening {server.bootstrap_servers}", flush=True)

        waiting = trio.CancelScope()
        controlled = trio.CancelScope()

        async def shut_down() -> None:
            # ZooKeeper mode: move leaderships away first (ControlledShutdown), as Kafka's broker does
            controlled.deadline = trio.current_time() + SHUTDOWN_LIMIT_S
            with controlled:
                await server.controlled_shutdown()
            server.stop()
            waiting.cancel()

        with waiting, trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                if server.shutting_down:  # a second signal: stop now
                    controlled.cancel()
                    break
                server.shutting_down = True
                nursery.start_soon(shut_down)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    trio.run(_main, BrokerServer(from_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
