"""Unit tests of merchant API keys, bearer parsing and key authentication (no database)."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from billing_events.envelope import Envelope
from portal_gateway.application.errors import Conflict
from portal_gateway.application.merchants import (
    Merchants,
    NewMerchant,
    SlugTaken,
)
from portal_gateway.application.ports import Merchant
from portal_gateway.domain import ids
from portal_gateway.domain.api_keys import (
    KEY_PREFIX,
    IssuedKey,
    bearer_token,
    issue_key,
    key_digest,
    looks_like_key,
)


def test_keys_are_prefixed_and_carry_at_least_128_random_bits() -> None:
    keys = [issue_key() for _ in range(100)]
    assert len({k.secret for k in keys}) == 100
    for key in keys:
        assert key.secret.startswith(KEY_PREFIX)
        random_part = key.secret.removeprefix(KEY_PREFIX)
        assert len(random_part) * 6 >= 128  # base64url: 6 bits per character
        assert looks_like_key(key.secret)


def test_only_the_sha256_digest_is_kept_and_the_repr_hides_the_secret() -> None:
    key = issue_key()
    assert key.digest == hashlib.sha256(key.secret.encode()).digest()
    assert key_digest(key.secret) == key.digest
    assert key.secret not in repr(key)
    assert key.display_prefix == key.secret[: len(KEY_PREFIX) + 4]


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer sk_test_abc", "sk_test_abc"),
        ("bearer   sk_test_abc  ", "sk_test_abc"),
        ("Basic dXNlcjpwYXNz", None),
        ("Bearer", None),
        ("Bearer    ", None),
        ("", None),
        (None, None),
    ],
)
def test_bearer_token_parsing(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


@pytest.mark.parametrize(
    "candidate", ["", "sk_test_", "sk_live_" + "a" * 43, "sk_test_" + "a" * 42]
)
def test_malformed_keys_are_recognised_without_a_lookup(candidate: str) -> None:
    assert not looks_like_key(candidate)


class MemoryStore:
    def __init__(self, taken: set[str] | None = None) -> None:
        self.taken = set(taken or ())
        self.merchants: dict[bytes, Merchant] = {}
        self.published: list[Envelope] = []
        self.lookups = 0

    async def create(self, merchant: Merchant, key: IssuedKey, registered: Envelope) -> None:
        if merchant.slug in self.taken:
            raise SlugTaken(merchant.slug)
        self.taken.add(merchant.slug)
        self.merchants[key.digest] = merchant
        self.published.append(registered)

    async def by_key_digest(self, digest: bytes) -> Merchant | None:
        self.lookups += 1
        return self.merchants.get(digest)


async def test_registering_issues_a_key_that_authenticates_that_merchant_only() -> None:
    store = MemoryStore()
    merchants = Merchants(store)
    acme = await merchants.register(NewMerchant(name="Acme Café, Inc."))
    other = await merchants.register(NewMerchant(name="Other"))
    assert acme.merchant.slug == "acme-cafe-inc"
    assert acme.merchant.merchant_id.startswith(ids.MERCHANT_PREFIX)
    assert await merchants.authenticate(acme.api_key) == acme.merchant
    assert await merchants.authenticate(other.api_key) == other.merchant
    assert await merchants.authenticate(acme.api_key[:-1] + "x") is None
    assert acme.api_key not in repr(acme)


async def test_garbage_keys_never_reach_the_store() -> None:
    store = MemoryStore()
    merchants = Merchants(store)
    assert await merchants.authenticate("not-a-key") is None
    assert store.lookups == 0


async def test_registration_publishes_merchant_registered_on_the_merchant_stream() -> None:
    store = MemoryStore()
    correlation = uuid.uuid4()
    registered = await Merchants(store).register(
        NewMerchant(name="Acme", support_email="help@acme.example.com"), correlation_id=correlation
    )
    (envelope,) = store.published
    assert envelope.event_type == "MerchantRegistered"
    assert envelope.stream_id == f"merchant-{registered.merchant.merchant_id}"
    assert envelope.stream_version == 1
    assert envelope.correlation_id == correlation
    assert envelope.merchant_id == registered.merchant.merchant_id
    assert registered.api_key not in envelope.to_json().decode()


async def test_an_explicit_slug_that_is_taken_is_a_conflict() -> None:
    merchants = Merchants(MemoryStore(taken={"acme"}))
    with pytest.raises(Conflict) as caught:
        await merchants.register(NewMerchant(name="Acme", slug="acme"))
    assert caught.value.code == "slug_taken"
    assert caught.value.param == "slug"


async def test_an_automatic_slug_that_is_taken_gets_a_suffix() -> None:
    merchants = Merchants(MemoryStore(taken={"acme"}))
    registered = await merchants.register(NewMerchant(name="Acme"))
    assert registered.merchant.slug.startswith("acme-")
    assert ids.is_valid_slug(registered.merchant.slug)


@pytest.mark.parametrize(
    ("name", "slug"),
    [("Acme", "acme"), ("  Big -- Shop!! ", "big-shop"), ("東京", ""), ("a" * 80, "a" * 63)],
)
def test_slug_from_name(name: str, slug: str) -> None:
    assert ids.slug_from_name(name) == slug
    assert slug == "" or ids.is_valid_slug(slug)
