"""What the services' processes use, read from /proc: resident memory (figure 7), CPU time
(per cancel, and to tell when the system is back to idle between runs); and what the database
server, the broker and the whole machine use, which share the same cores."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
QUIET_WITHIN = 300.0


class StillBusy(Exception):
    """The services did not come back to idle within QUIET_WITHIN."""


def process_tree() -> dict[int, list[int]]:
    """Children of every live process, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            parent = int(stat[stat.rindex(")") + 2 :].split()[1])
            children.setdefault(parent, []).append(int(entry.name))
    return children


def resident_mib(pid: int, tree: dict[int, list[int]]) -> float:
    """Resident size of ``pid`` and every process below it, in MiB."""
    total_kib, todo = 0, [pid]
    while todo:
        member = todo.pop()
        todo.extend(tree.get(member, []))
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kib += int(line.split()[1])
    return total_kib / 1024


def cpu_seconds(pid: int, tree: dict[int, list[int]]) -> float:
    """CPU time (user + system) of ``pid`` and every process below it, in seconds."""
    ticks, todo = 0, [pid]
    while todo:
        member = todo.pop()
        todo.extend(tree.get(member, []))
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path(f"/proc/{member}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / CLOCK_TICKS


def service_cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    tree = process_tree()
    return {name: cpu_seconds(pid, tree) for name, pid in pids.items()}


def program_cpu_seconds(programs: Mapping[str, str]) -> dict[str, float]:
    """CPU time of every process whose program name starts with each prefix (label -> prefix),
    whoever started it: PostgreSQL's backends are children of its postmaster, not of ours."""
    totals = dict.fromkeys(programs, 0.0)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            program = stat[stat.index("(") + 1 : stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2 :].split()
            for label, prefix in programs.items():
                if program.startswith(prefix):
                    totals[label] += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return totals


def machine_busy_seconds() -> float:
    """CPU time the machine spent on anything but idling and waiting for the disk, all cores,
    kernel included (/proc/stat)."""
    ticks = [int(field) for field in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle, iowait = ticks[3], ticks[4]
    return (sum(ticks[:8]) - idle - iowait) / CLOCK_TICKS


async def rates(sample: Callable[[], dict[str, float]], over: float) -> dict[str, float]:
    """How fast each of ``sample``'s CPU-time counters grows over the next ``over`` seconds,
    in cores."""
    before = sample()
    await asyncio.sleep(over)
    after = sample()
    return {name: (after[name] - before[name]) / over for name in after}


async def cores_in_use(pids: dict[str, int], over: float = 1.0) -> dict[str, float]:
    """CPU each service (with its children) uses over the next ``over`` seconds, in cores."""
    return await rates(lambda: service_cpu_seconds(pids), over)


async def until_quiet(pids: dict[str, int], idle: dict[str, float]) -> float:
    """Wait until the services are back near their ``idle`` use (their consumers' polling):
    seeding queues minutes of background work (mail, invoices), and a figure measured
    during it would be measuring the seeding. Returns the seconds waited."""
    started = time.monotonic()
    quiet = sum(idle.values()) * 1.5 + 0.05
    while (in_use := sum((await cores_in_use(pids)).values())) > quiet:
        if time.monotonic() - started > QUIET_WITHIN:
            raise StillBusy(
                f"services still busy after {QUIET_WITHIN:.0f}s: {in_use:.2f} cores in use, "
                f"{sum(idle.values()):.2f} when idle"
            )
    return time.monotonic() - started


class MemorySampler:
    """Resident size of each service, sampled in the background while ``running``."""

    def __init__(self, pids: dict[str, int], every: float = 0.25) -> None:
        self.pids = pids
        self.every = every
        self.samples: dict[str, list[float]] = {name: [] for name in pids}

    def sample(self) -> None:
        tree = process_tree()
        for name, pid in self.pids.items():
            self.samples[name].append(resident_mib(pid, tree))

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                self.sample()
                await asyncio.sleep(self.every)

        task = asyncio.create_task(loop())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
