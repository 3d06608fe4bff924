"""`make bench`: every figure of the benchmark issue, printed and written to results/latest.json.

Environment: BENCH_QUICK=1 for the short mode; BENCH_ONLY=store,relay,system to run a subset;
BENCH_LOOP=asyncio to measure on the standard event loop instead of uvloop (the services run
uvloop through uvicorn, so uvloop is the default here too).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

from benchmarks import bench_event_store, bench_relay
from benchmarks.harness import Report, machine_description
from devstack.kafka import ensure_topics, resolve_kafka
from devstack.postgres import resolve_postgres


def print_table(report: Report) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="billing benchmarks")
    for column in ("figure", "value", "unit", "ratios", "note"):
        table.add_column(column)
    for f in report.figures:
        ratios = ", ".join(f"vs {k}: {v:.2f}" for k, v in f.ratios.items())
        table.add_row(f.name, f"{f.value:,.1f}", f.unit, ratios, f.note)
    Console(width=160).print(table)


async def section(report: Report, name: str, run: Callable[[], Awaitable[None]]) -> None:
    """Run one group of figures; a failure is reported and the other groups still run."""
    started = time.monotonic()
    try:
        await run()
    except Exception as exc:
        traceback.print_exc()
        report.fail(name, f"{type(exc).__name__}: {exc}")
    print(f"({name}: {time.monotonic() - started:.0f}s)", flush=True)


async def main() -> int:
    only = {part for part in os.environ.get("BENCH_ONLY", "").split(",") if part}
    workdir = Path(tempfile.mkdtemp(prefix="billing-bench-"))
    postgres = await resolve_postgres(workdir)
    report = Report()
    try:
        conn = await asyncpg.connect(postgres.url)
        version = await conn.fetchval("SHOW server_version")
        await conn.close()
        if not only or "store" in only:
            await section(report, "store", lambda: bench_event_store.run_all(postgres.url, report))
        if not only or "relay" in only:
            kafka = resolve_kafka(workdir)
            try:
                await ensure_topics(kafka.bootstrap_servers)
                await section(
                    report,
                    "relay",
                    lambda: bench_relay.run_all(postgres.url, kafka.bootstrap_servers, report),
                )
            finally:
                kafka.stop()
        if not only or "system" in only:
            from benchmarks import bench_system

            await section(
                report, "system", lambda: bench_system.run_all(postgres.url, report, workdir)
            )
    finally:
        postgres.stop()
    print_table(report)
    report.write(machine_description(version))
    return 1 if report.failures else 0


def run() -> int:
    if os.environ.get("BENCH_LOOP", "uvloop") == "uvloop":
        import uvloop

        return uvloop.run(main())
    return asyncio.run(main())


if __name__ == "__main__":
    sys.exit(run())
