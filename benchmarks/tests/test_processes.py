"""Figure 7 and the quiet-wait read /proc for a process and all its children: checked against
real child processes that hold memory and burn CPU."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from benchmarks import processes
from benchmarks.processes import (
    StillBusy,
    cores_in_use,
    cpu_seconds,
    machine_busy_seconds,
    process_tree,
    program_cpu_seconds,
    rates,
    resident_mib,
    until_quiet,
)

HOLD_64_MIB_AND_SPIN = (
    "import sys, time\n"
    "block = bytearray(64 * 2**20)\n"
    "for i in range(0, len(block), 4096): block[i] = 1\n"
    "print('ready', flush=True)\n"
    "sys.stdin.readline()\n"
    "end = time.process_time() + float(sys.argv[1])\n"
    "while time.process_time() < end: pass\n"
    "print('spun', flush=True)\n"
    "time.sleep(60)\n"
)


SPIN_THEN_SLEEP = (
    "import time\nend = time.monotonic() + {seconds}\nwhile time.monotonic() < end: pass\n"
    "time.sleep(60)"
)


@pytest.fixture
async def child() -> AsyncIterator[asyncio.subprocess.Process]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLD_64_MIB_AND_SPIN,
        "0.6",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    assert await process.stdout.readline() == b"ready\n"
    yield process
    process.kill()
    await process.wait()


async def test_memory_and_cpu_count_the_children(child: asyncio.subprocess.Process) -> None:
    me = os.getpid()
    assert child.pid in process_tree()[me]
    # Told to go, the child spins until it has used 0.6 s of CPU, however busy the machine is.
    assert child.stdin is not None
    assert child.stdout is not None
    child.stdin.write(b"go\n")
    await child.stdin.drain()
    assert await asyncio.wait_for(child.stdout.readline(), 60) == b"spun\n"
    tree = process_tree()
    assert resident_mib(child.pid, tree) >= 64
    assert resident_mib(me, tree) >= resident_mib(me, {}) + 64  # {}: without the children
    # The whole spin, give or take a clock tick of rounding. Compared with the same moment
    # without the children, as memory is: a difference over time also lost the CPU of any
    # other child of the test process (an earlier test's) that ended meanwhile.
    assert cpu_seconds(me, tree) >= cpu_seconds(me, {}) + 0.55


async def test_cores_in_use_is_per_service() -> None:
    spinner = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SPIN_THEN_SLEEP.format(seconds=3)
    )
    quiet = await asyncio.create_subprocess_exec(sys.executable, "-c", "import time; time.sleep(3)")
    try:
        await asyncio.sleep(0.3)  # past the interpreters' start-up
        use = await cores_in_use({"busy": spinner.pid, "idle": quiet.pid}, over=1.0)
    finally:
        for process in (spinner, quiet):
            process.kill()
            await process.wait()
    assert use["busy"] > 0.1  # a whole core when the machine is free
    assert use["idle"] < 0.05


async def test_until_quiet_waits_for_the_work_to_end_and_gives_up_in_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spinner = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SPIN_THEN_SLEEP.format(seconds=2.5)
    )
    pids = {"spinner": spinner.pid}
    try:
        monkeypatch.setattr(processes, "QUIET_WITHIN", 0.5)
        with pytest.raises(StillBusy, match="still busy"):
            await until_quiet(pids, {"spinner": 0.0})
        monkeypatch.setattr(processes, "QUIET_WITHIN", 30.0)
        started = time.monotonic()
        waited = await until_quiet(pids, {"spinner": 0.0})
    finally:
        spinner.kill()
        await spinner.wait()
    assert waited >= 1.0
    assert time.monotonic() - started < 10


def program_name(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat[stat.index("(") + 1 : stat.rindex(")")]


async def test_programs_and_the_machine_count_processes_that_are_not_our_children() -> None:
    # Spinning in a thread of another program name: what PostgreSQL's backends look like to us.
    spinner = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import ctypes, time\n"
        "ctypes.CDLL(None).prctl(15, b'benchspinner', 0, 0, 0)\n"  # PR_SET_NAME
        "end = time.monotonic() + 3.0\n"
        "while time.monotonic() < end: pass\n"
        "time.sleep(60)",
    )
    try:
        await asyncio.sleep(0.3)
        assert program_name(spinner.pid) == "benchspinner"
        use = await rates(
            lambda: {
                **program_cpu_seconds({"spinner": "benchspin", "nobody": "no-such-program"}),
                "machine": machine_busy_seconds(),
            },
            over=1.0,
        )
    finally:
        spinner.kill()
        await spinner.wait()
    assert use["spinner"] > 0.1  # a whole core when the machine is free
    assert use["nobody"] == 0.0
    assert use["machine"] >= use["spinner"] * 0.9
