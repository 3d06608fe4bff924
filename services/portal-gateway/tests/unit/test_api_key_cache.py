"""Unit tests of the in-process cache of valid API keys (no database)."""

from __future__ import annotations

import pytest

from billing_events.envelope import Envelope
from portal_gateway.application.api_key_cache import ApiKeyCache
from portal_gateway.application.merchants import Merchants, NewMerchant
from portal_gateway.application.ports import Merchant
from portal_gateway.bootstrap import api_key_cache
from portal_gateway.domain.api_keys import IssuedKey, issue_key
from portal_gateway.settings import Settings

TTL = 5.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class CountingStore:
    """Keys as the database has them; revoking deletes one, as ``revoked_at`` hides it."""

    def __init__(self) -> None:
        self.merchants: dict[bytes, Merchant] = {}
        self.lookups = 0

    async def create(self, merchant: Merchant, key: IssuedKey, registered: Envelope) -> None:
        self.merchants[key.digest] = merchant

    async def by_key_digest(self, digest: bytes) -> Merchant | None:
        self.lookups += 1
        return self.merchants.get(digest)


def merchant(n: int) -> Merchant:
    return Merchant(merchant_id=f"mer_{n}", slug=f"m{n}", name=f"Merchant {n}")


async def cached_merchants() -> tuple[Merchants, CountingStore, Clock]:
    store, clock = CountingStore(), Clock()
    return Merchants(store, key_cache=ApiKeyCache(TTL, clock=clock)), store, clock


async def test_a_valid_key_is_looked_up_once_within_the_ttl() -> None:
    merchants, store, clock = await cached_merchants()
    acme = await merchants.register(NewMerchant(name="Acme"))
    assert await merchants.authenticate(acme.api_key) == acme.merchant
    clock.now += TTL - 0.01
    assert await merchants.authenticate(acme.api_key) == acme.merchant
    assert store.lookups == 1


async def test_a_revoked_key_stops_working_once_its_entry_expires() -> None:
    merchants, store, clock = await cached_merchants()
    acme = await merchants.register(NewMerchant(name="Acme"))
    assert await merchants.authenticate(acme.api_key) == acme.merchant
    store.merchants.clear()  # revoked in the database
    assert await merchants.authenticate(acme.api_key) == acme.merchant  # within the TTL
    clock.now += TTL
    assert await merchants.authenticate(acme.api_key) is None
    assert store.lookups == 2


async def test_an_unknown_key_is_never_remembered() -> None:
    merchants, store, _ = await cached_merchants()
    key = issue_key()
    assert await merchants.authenticate(key.secret) is None
    # The key is created right after the failed attempt: it must work at once.
    store.merchants[key.digest] = merchant(1)
    assert await merchants.authenticate(key.secret) == merchant(1)
    assert await merchants.authenticate(key.secret) == merchant(1)
    assert store.lookups == 2


async def test_without_a_cache_every_authentication_looks_up() -> None:
    store = CountingStore()
    merchants = Merchants(store)
    acme = await merchants.register(NewMerchant(name="Acme"))
    for _ in range(3):
        assert await merchants.authenticate(acme.api_key) == acme.merchant
    assert store.lookups == 3


def test_the_cache_keeps_at_most_max_entries_evicting_the_least_recently_used() -> None:
    cache = ApiKeyCache(TTL, max_entries=2, clock=Clock())
    cache.remember(b"a", merchant(1))
    cache.remember(b"b", merchant(2))
    assert cache.get(b"a") == merchant(1)  # "a" is now the most recently used
    cache.remember(b"c", merchant(3))
    assert len(cache) == 2
    assert cache.get(b"b") is None
    assert cache.get(b"a") == merchant(1)
    assert cache.get(b"c") == merchant(3)


def test_remembering_again_renews_the_entry() -> None:
    clock = Clock()
    cache = ApiKeyCache(TTL, clock=clock)
    cache.remember(b"a", merchant(1))
    clock.now += TTL - 1
    cache.remember(b"a", merchant(1))
    clock.now += 2
    assert cache.get(b"a") == merchant(1)


def test_an_expired_entry_is_dropped() -> None:
    clock = Clock()
    cache = ApiKeyCache(TTL, clock=clock)
    cache.remember(b"a", merchant(1))
    clock.now += TTL
    assert cache.get(b"a") is None
    assert len(cache) == 0


@pytest.mark.parametrize(("ttl", "max_entries"), [(0, 10), (-1, 10), (5, 0)])
def test_a_cache_that_could_hold_nothing_is_refused(ttl: float, max_entries: int) -> None:
    with pytest.raises(ValueError):
        ApiKeyCache(ttl, max_entries=max_entries)


def settings() -> Settings:
    return Settings(
        database_url="postgresql://postgres@127.0.0.1:5432/unused",
        kafka_bootstrap_servers="127.0.0.1:9",
    )


def test_the_setting_defaults_to_five_seconds_and_zero_disables_the_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("API_KEY_CACHE_SECONDS", raising=False)
    assert settings().api_key_cache_seconds == 5.0
    cache = api_key_cache(settings().api_key_cache_seconds)
    assert cache is not None
    assert cache.ttl_seconds == 5.0
    monkeypatch.setenv("API_KEY_CACHE_SECONDS", "0")
    assert api_key_cache(settings().api_key_cache_seconds) is None
