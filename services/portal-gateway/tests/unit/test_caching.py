"""Unit tests of the bounded LRU cache behind the overview memo and the page cache."""

from __future__ import annotations

import pytest

from portal_gateway.caching import LruCache


def test_a_value_is_found_until_it_is_evicted_least_recently_used_first() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "b" is now the least recently used
    cache.put("c", 3)
    assert "b" not in cache
    assert (cache.get("a"), cache.get("c"), cache.get("b")) == (1, 3, None)
    assert (cache.hits, cache.misses) == (3, 1)


def test_the_weight_bound_evicts_until_the_rest_fits() -> None:
    cache: LruCache[str, str] = LruCache(100, max_weight=10, weigh=lambda _, value: len(value))
    cache.put("a", "xxxx")
    cache.put("b", "yyyy")
    cache.put("c", "zzzz")  # 12 > 10: "a" goes
    assert "a" not in cache
    assert cache.weight == 8
    cache.put("b", "y")  # replacing an entry replaces its weight
    assert cache.weight == 5
    cache.put("huge", "w" * 11)  # heavier than the whole cache: not kept, nothing evicted
    assert "huge" not in cache
    assert len(cache) == 2
    cache.clear()
    assert (len(cache), cache.weight) == (0, 0)


def test_a_cache_needs_room_for_one_entry() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        LruCache(0)
