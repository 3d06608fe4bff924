import time
import uuid

from hypothesis import given
from hypothesis import strategies as st

from billing_events.envelope import EventData, new_envelope
from billing_events.ids import uuid7, uuid7_at, uuid7_time_ns

RESOLUTION_NS = 1_000_000 // 4096 + 1
LATEST_NS = (1 << 48) * 1_000_000 - 1  # the last instant 48 bits of milliseconds can hold


class Noted(EventData):
    event_type = "Noted"


def test_a_uuid7_is_a_version_7_rfc_uuid() -> None:
    value = uuid7()

    assert value.version == 7
    assert value.variant == uuid.RFC_4122


def test_a_uuid7_starts_with_the_time_it_was_made() -> None:
    before = time.time_ns()
    value = uuid7()
    after = time.time_ns()

    assert before - RESOLUTION_NS < uuid7_time_ns(value) <= after


def test_ids_made_one_after_another_sort_in_that_order_and_differ() -> None:
    made = [uuid7() for _ in range(20_000)]

    assert made == sorted(made)
    assert len(set(made)) == len(made)


@given(
    st.integers(min_value=0, max_value=LATEST_NS),
    st.integers(min_value=0, max_value=(1 << 64) - 1),
)
def test_the_time_and_the_version_survive_any_instant_and_random_bits(
    now_ns: int, random_bits: int
) -> None:
    value = uuid7_at(now_ns, random_bits)

    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert 0 <= now_ns - uuid7_time_ns(value) < RESOLUTION_NS


@given(
    st.integers(min_value=0, max_value=LATEST_NS - 1_000_000),
    st.integers(min_value=RESOLUTION_NS, max_value=1_000_000),
    st.integers(min_value=0, max_value=(1 << 64) - 1),
    st.integers(min_value=0, max_value=(1 << 64) - 1),
)
def test_a_later_instant_sorts_after_whatever_the_random_bits(
    now_ns: int, later_by: int, first_bits: int, second_bits: int
) -> None:
    assert uuid7_at(now_ns, first_bits) < uuid7_at(now_ns + later_by, second_bits)


def test_ids_of_the_same_instant_differ_by_their_random_bits() -> None:
    now_ns = 1_700_000_000_123_456_789

    assert uuid7_at(now_ns, 1) != uuid7_at(now_ns, 2)
    assert uuid7_time_ns(uuid7_at(now_ns, 1)) == uuid7_time_ns(uuid7_at(now_ns, 2))


def test_new_envelopes_get_time_ordered_event_ids() -> None:
    first, second = (
        new_envelope(Noted(), stream_id="s-1", merchant_id="m", correlation_id=uuid.uuid4())
        for _ in range(2)
    )

    assert first.event_id.version == second.event_id.version == 7
    assert first.event_id < second.event_id
