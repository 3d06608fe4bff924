"""Splitting a cancel's latency at the batches that carried it."""

from __future__ import annotations

import pytest

from benchmarks.stages import STAGES, BatchStarts, stage_latencies


def test_each_cancel_is_split_at_its_two_batch_starts() -> None:
    answered = {"sub_a": (100.000, 100.150), "sub_b": (100.010, 100.090)}
    batches = {
        "sub_a": BatchStarts(appended_at=100.040, projected_at=100.100),
        "sub_b": BatchStarts(appended_at=100.030, projected_at=100.070),
    }

    stages = stage_latencies(answered, batches)

    assert list(stages) == list(STAGES)
    assert stages["to_subscriptions"] == pytest.approx([40.0, 20.0])
    assert stages["to_gateway"] == pytest.approx([60.0, 40.0])
    assert stages["to_answer"] == pytest.approx([50.0, 20.0])


def test_a_cancel_whose_batches_were_not_found_is_left_out() -> None:
    answered = {"sub_a": (10.0, 10.2), "sub_lost": (10.0, 10.3)}
    batches = {"sub_a": BatchStarts(appended_at=10.05, projected_at=10.1)}

    stages = stage_latencies(answered, batches)

    assert {name: len(latencies) for name, latencies in stages.items()} == dict.fromkeys(STAGES, 1)
