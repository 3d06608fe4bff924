"""The harness's arithmetic and output format: what `make bench` prints is read by machines."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benchmarks.harness import Figure, Report, paired, percentile


def test_a_figure_line_names_value_unit_and_ratios() -> None:
    figure = Figure("cycles", 2134.567, "cycles/s", {"eventsourcing": 4.109, "raw_commit": 0.4})
    assert figure.line() == (
        "BENCH cycles 2134.57 cycles/s ratio_vs_eventsourcing=4.11 ratio_vs_raw_commit=0.40"
    )
    assert Figure("p99", 12.5, "ms").line() == "BENCH p99 12.5 ms"


def test_ratios_are_taken_run_by_run_then_the_median() -> None:
    # A slow second run slows both sides; the ratio of medians would hide that pairing.
    ours, theirs = [100.0, 50.0, 120.0], [50.0, 25.0, 40.0]
    assert paired(ours, theirs) == 2.0
    with pytest.raises(ValueError, match=r"shorter|longer"):
        paired([1.0], [1.0, 2.0])


def test_percentiles_pick_observed_values() -> None:
    samples = [float(n) for n in range(1, 101)]
    assert percentile(samples, 50) in (50.0, 51.0)
    assert percentile(samples, 99) == 99.0
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))


def test_the_report_is_written_with_the_machine_and_the_failures(tmp_path: Path) -> None:
    report = Report()
    report.add(Figure("cycles", 1.0, "cycles/s", samples=[1.0, 1.0]))
    report.fail("system", "billing-dev not ready")
    out = tmp_path / "latest.json"
    report.write({"cores": "2"}, out)
    written = json.loads(out.read_text())
    assert written["machine"] == {"cores": "2"}
    assert [f["name"] for f in written["figures"]] == ["cycles"]
    assert written["failures"] == {"system": "billing-dev not ready"}
