"""Runs an outbox relay in its own process, so a test can SIGKILL it mid-flight.

Usage: python relay_process.py DSN SCHEMA BOOTSTRAP_SERVERS BATCH_SIZE
"""

from __future__ import annotations

import asyncio
import signal
import sys

from billing_events.outbox import OutboxRelay
from billing_events.postgres import create_pool


async def main(dsn: str, schema: str, bootstrap: str, batch_size: int) -> None:
    pool = await create_pool(dsn, schema, max_size=3)
    relay = OutboxRelay(pool, bootstrap, batch_size=batch_size)
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, relay.stop)
    print("relay started", flush=True)
    await relay.run()
    await pool.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
