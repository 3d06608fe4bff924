"""Measuring, pairing and reporting benchmark figures.

Every figure is the median of several runs after a warm-up. Ratios are computed run by run
between figures measured back to back, because these machines are noisy: a slow minute slows
both sides of a pair.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import asyncpg

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def quick() -> bool:
    return os.environ.get("BENCH_QUICK", "") not in ("", "0", "false")


def runs() -> int:
    return 5


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    ratios: dict[str, float] = field(default_factory=dict)
    samples: list[float] = field(default_factory=list)
    note: str = ""

    def line(self) -> str:
        extra = " ".join(f"ratio_vs_{k}={v:.2f}" for k, v in self.ratios.items())
        return f"BENCH {self.name} {self.value:.6g} {self.unit} {extra}".rstrip()


@dataclass
class Report:
    figures: list[Figure] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        print(figure.line(), flush=True)
        return figure

    def fail(self, section: str, reason: str) -> None:
        """A group of figures could not be measured; said in the output, never hidden."""
        self.failures[section] = reason
        print(f"BENCH_FAILED {section} {reason}", flush=True)

    def write(self, machine: dict[str, str], path: Path = RESULTS) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "machine": machine,
            "quick": quick(),
            "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "figures": [asdict(f) for f in self.figures],
            "failures": self.failures,
        }
        path.write_text(json.dumps(payload, indent=2) + "\n")


def median(values: list[float]) -> float:
    return statistics.median(values)


def paired(ours: list[float], theirs: list[float]) -> float:
    """Median of the run-by-run ratios: each pair was measured back to back."""
    return median([o / t for o, t in zip(ours, theirs, strict=True)])


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


async def rate(operation: Callable[[], Awaitable[int]]) -> float:
    """Run ``operation`` once; it returns how many units it did. Returns units per second."""
    started = time.perf_counter()
    units = await operation()
    return units / (time.perf_counter() - started)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def event_loop() -> str:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return "none"
    return f"{type(loop).__module__}.{type(loop).__name__}"


def machine_description(postgres_version: str) -> dict[str, str]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "cores": str(os.cpu_count()),
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
        "postgresql": postgres_version,
        "platform": platform.platform(),
        "commit": commit,
        "event_loop": event_loop(),
    }


async def wait_until_visible(pool: asyncpg.Pool, table: str, timeout: float = 120.0) -> None:
    """Wait until every row of ``table`` is visible to global-order readers.

    Readers only see transactions older than the oldest one still running in the cluster
    (see billing_events.store). On a shared server another client's open transaction holds
    that horizon back; measuring then would time a wait, not our code, so wait for it
    (bounded) and name the culprit if it does not move.
    """
    deadline = time.monotonic() + timeout
    while True:
        visible = await pool.fetchval(
            f"SELECT coalesce(max(transaction_id) < pg_snapshot_xmin(pg_current_snapshot()), "
            f"true) FROM {table}"
        )
        if visible:
            return
        if time.monotonic() > deadline:
            oldest = await pool.fetchrow(
                "SELECT pid, application_name, state, now() - xact_start AS age, "
                "left(query, 120) AS query FROM pg_stat_activity "
                "WHERE (backend_xid IS NOT NULL OR backend_xmin IS NOT NULL) "
                "AND pid <> pg_backend_pid() "
                "ORDER BY xact_start NULLS LAST LIMIT 1"
            )
            raise TimeoutError(
                f"rows of {table} stayed invisible to global-order readers for {timeout:.0f}s: "
                f"an older transaction is still open ({dict(oldest) if oldest else 'unknown'})"
            )
        await asyncio.sleep(0.2)
