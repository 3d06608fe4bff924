"""Measuring, pairing and reporting benchmark figures.

Every figure is the median of several runs after a warm-up. Ratios are computed run by run
between figures measured back to back, because these machines are noisy: a slow minute slows
both sides of a pair.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

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

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        print(figure.line(), flush=True)
        return figure

    def write(self, machine: dict[str, str]) -> None:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "machine": machine,
            "quick": quick(),
            "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "figures": [asdict(f) for f in self.figures],
        }
        RESULTS.write_text(json.dumps(payload, indent=2) + "\n")


def median(values: list[float]) -> float:
    return statistics.median(values)


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
    }
