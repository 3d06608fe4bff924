"""Time-ordered identifiers (UUID version 7, RFC 9562) for what is written to an index.

A random (version 4) id lands on a random leaf of every B-tree it is a key of: once such an
index outgrows memory each insert reads a page, and after every checkpoint the first change
to each leaf writes the whole page to the WAL again. A version 7 id starts with the time, so
ids made one after another are neighbours in the index and each insert touches the leaf the
previous one touched. The 62 random bits after the time keep it unguessable, and unique.
"""

from __future__ import annotations

import os
import time
import uuid

_VERSION_7 = 0x7 << 76
_VARIANT_RFC = 0b10 << 62
_RAND_B_MASK = (1 << 62) - 1
_NS_PER_MS = 1_000_000


def uuid7() -> uuid.UUID:
    """A new version 7 UUID, made now."""
    return uuid7_at(time.time_ns(), int.from_bytes(os.urandom(8)))


def uuid7_at(now_ns: int, random_bits: int) -> uuid.UUID:
    """The version 7 UUID for ``now_ns`` (nanoseconds since the epoch): 48 bits of
    milliseconds, then 12 bits of the fraction of that millisecond (RFC 9562, section 6.2,
    method 3: ids one process makes sort in the order it made them, unless its clock is set
    back), then 62 of ``random_bits``."""
    milliseconds, fraction = divmod(now_ns, _NS_PER_MS)
    sub_ms = fraction * 4096 // _NS_PER_MS
    return uuid.UUID(
        int=(milliseconds << 80)
        | _VERSION_7
        | (sub_ms << 64)
        | _VARIANT_RFC
        | (random_bits & _RAND_B_MASK)
    )


def uuid7_time_ns(value: uuid.UUID) -> int:
    """When ``value`` (a version 7 UUID) was made, in nanoseconds since the epoch, to the
    resolution it keeps (1/4096 of a millisecond, rounded down)."""
    milliseconds = value.int >> 80
    sub_ms = (value.int >> 64) & 0xFFF
    return milliseconds * _NS_PER_MS + sub_ms * _NS_PER_MS // 4096
