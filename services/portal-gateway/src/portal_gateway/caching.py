"""A small bounded in-process cache, for values that are pure functions of their key.

Only what is *entirely determined by its key* belongs here (the rendered overview page keyed
by the data it shows, the parsed overview keyed by the text it was parsed from): such a cache
can never serve something stale, it can only miss. It is bounded both in entries and in a
caller-defined weight (characters), and evicts the least recently used first. Not
thread-safe: one per event loop, used without awaiting in between.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LruCache(Generic[K, V]):
    def __init__(
        self,
        max_entries: int,
        *,
        max_weight: int | None = None,
        weigh: Callable[[K, V], int] | None = None,
    ) -> None:
        if max_entries <= 0:
            raise ValueError("max_entries must be positive")
        self.max_entries = max_entries
        self.max_weight = max_weight
        self._weigh = weigh
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self.weight = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: K) -> V | None:
        found = self._entries.get(key)
        if found is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        return found[0]

    def put(self, key: K, value: V) -> None:
        weight = self._weigh(key, value) if self._weigh is not None else 0
        if self.max_weight is not None and weight > self.max_weight:
            return  # larger than the whole cache: not kept
        previous = self._entries.pop(key, None)
        if previous is not None:
            self.weight -= previous[1]
        self._entries[key] = (value, weight)
        self.weight += weight
        while len(self._entries) > self.max_entries or (
            self.max_weight is not None and self.weight > self.max_weight
        ):
            _, (_, evicted) = self._entries.popitem(last=False)
            self.weight -= evicted

    def clear(self) -> None:
        self._entries.clear()
        self.weight = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries
