"""Recently authenticated API keys, kept in-process for a short time.

Every merchant API request authenticates its key; at a few hundred requests a second the
database lookup is a noticeable share of the gateway's work. A key that was found valid is
remembered (by its digest, never the secret) for ``ttl_seconds``, bounded to ``max_entries``
keys, least recently used evicted first.

Consequences, by design:

- A miss is never remembered: a key created a moment ago works on its first request.
- Revoking a key (setting ``api_keys.revoked_at``, done by the operator in SQL) or changing a
  merchant's record (also operator SQL: the gateway only ever creates merchants and keys)
  takes effect within ``ttl_seconds``, not at once. Each gateway process has its own cache.
  Should the gateway itself ever change a merchant or revoke a key, it must drop that
  merchant's entries here rather than wait out the TTL.

Not thread-safe: one per event loop, used without awaiting in between.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from portal_gateway.application.ports import Merchant

DEFAULT_MAX_ENTRIES = 10_000

MonotonicClock = Callable[[], float]


class ApiKeyCache:
    def __init__(
        self,
        ttl_seconds: float,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: MonotonicClock = time.monotonic,
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive; pass no cache to disable caching")
        if max_entries <= 0:
            raise ValueError("max_entries must be positive")
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[bytes, tuple[Merchant, float]] = OrderedDict()

    def get(self, digest: bytes) -> Merchant | None:
        """The merchant of a key found valid less than ``ttl_seconds`` ago, else None."""
        found = self._entries.get(digest)
        if found is None:
            return None
        merchant, expires_at = found
        if self._clock() >= expires_at:
            del self._entries[digest]
            return None
        self._entries.move_to_end(digest)
        return merchant

    def remember(self, digest: bytes, merchant: Merchant) -> None:
        """Remember a key just found valid (never a key that was not found)."""
        self._entries.pop(digest, None)
        self._entries[digest] = (merchant, self._clock() + self.ttl_seconds)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
