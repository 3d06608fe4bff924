"""After startup, what startup built is frozen and young objects are collected less often."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from servicekit.heap import YOUNG_GENERATION_THRESHOLD, settle_after_startup


@pytest.fixture
def restored_collector() -> Iterator[None]:
    # No automatic collection in between: what is collected, settle_after_startup collected.
    thresholds, enabled = gc.get_threshold(), gc.isenabled()
    gc.disable()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)
    if enabled:
        gc.enable()


@pytest.mark.usefixtures("restored_collector")
def test_what_startup_built_is_frozen_and_left_out_of_collections() -> None:
    built_at_startup = {"routes": [object() for _ in range(10)]}
    settle_after_startup()
    assert gc.get_freeze_count() > 0
    assert not any(obj is built_at_startup for obj in gc.get_objects())


class _Node:
    partner: _Node


@pytest.mark.usefixtures("restored_collector")
def test_startup_garbage_is_collected_not_frozen() -> None:
    node = _Node()
    node.partner = node
    still_there = weakref.ref(node)
    del node
    settle_after_startup()
    assert still_there() is None


@pytest.mark.usefixtures("restored_collector")
def test_only_the_young_generation_threshold_changes() -> None:
    gc.set_threshold(700, 11, 12)
    settle_after_startup()
    assert gc.get_threshold() == (YOUNG_GENERATION_THRESHOLD, 11, 12)
