"""Registering merchants and authenticating their API keys.

Authentication may remember valid keys for a few seconds (:mod:`.api_key_cache`): a revoked
key then keeps working until its entry expires.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

from billing_events.contract.events import MerchantRegistered
from billing_events.envelope import Envelope, new_envelope
from portal_gateway.application.api_key_cache import ApiKeyCache
from portal_gateway.application.errors import Conflict
from portal_gateway.application.ports import Merchant
from portal_gateway.domain import ids
from portal_gateway.domain.api_keys import IssuedKey, issue_key, key_digest, looks_like_key
from portal_gateway.domain.merchants import DEFAULT_CANCEL_MODE, CancelMode


class SlugTaken(Exception):
    """Another merchant has this slug."""


class MerchantStore(Protocol):
    async def create(self, merchant: Merchant, key: IssuedKey, registered: Envelope) -> None:
        """Store the merchant and its key and publish ``registered``, in one transaction.

        Raises :class:`SlugTaken` if the slug is in use.
        """
        ...

    async def by_key_digest(self, digest: bytes) -> Merchant | None: ...


@dataclass(frozen=True)
class NewMerchant:
    name: str
    slug: str | None = None
    support_email: str | None = None
    logo_url: str | None = None
    brand_color: str | None = None
    cancel_mode: CancelMode = DEFAULT_CANCEL_MODE


@dataclass(frozen=True)
class RegisteredMerchant:
    merchant: Merchant
    api_key: str  # shown once

    def __repr__(self) -> str:
        return f"RegisteredMerchant(merchant={self.merchant!r}, api_key='sk_test_…')"


# An automatic slug that collides gets a random suffix; a few tries are plenty.
_SLUG_ATTEMPTS = 5


class Merchants:
    def __init__(self, store: MerchantStore, *, key_cache: ApiKeyCache | None = None) -> None:
        self._store = store
        self._key_cache = key_cache

    async def register(
        self, request: NewMerchant, *, correlation_id: uuid.UUID | None = None
    ) -> RegisteredMerchant:
        explicit = request.slug is not None
        base = request.slug or ids.slug_from_name(request.name) or ids.fallback_slug()
        for attempt in range(_SLUG_ATTEMPTS):
            slug = base if attempt == 0 else _suffixed(base, ids.fallback_slug()[-8:])
            merchant = Merchant(
                merchant_id=ids.new_merchant_id(),
                slug=slug,
                name=request.name,
                logo_url=request.logo_url,
                brand_color=request.brand_color,
                support_email=request.support_email,
                cancel_mode=request.cancel_mode.value,
            )
            key = issue_key()
            try:
                await self._store.create(merchant, key, _registered(merchant, correlation_id))
            except SlugTaken:
                if explicit:
                    raise Conflict(
                        f"The slug {slug!r} is already taken.", code="slug_taken", param="slug"
                    ) from None
                continue
            return RegisteredMerchant(merchant=merchant, api_key=key.secret)
        raise Conflict("Could not find a free slug; pass one explicitly.", code="slug_taken")

    async def authenticate(self, api_key: str) -> Merchant | None:
        if not looks_like_key(api_key):
            return None
        digest = key_digest(api_key)
        cache = self._key_cache
        if cache is None:
            return await self._store.by_key_digest(digest)
        merchant = cache.get(digest)
        if merchant is None:
            merchant = await self._store.by_key_digest(digest)
            if merchant is not None:
                cache.remember(digest, merchant)
        return merchant


def _suffixed(base: str, suffix: str) -> str:
    return f"{base[: ids.SLUG_MAX_LENGTH - len(suffix) - 1].rstrip('-')}-{suffix}"


def _registered(merchant: Merchant, correlation_id: uuid.UUID | None) -> Envelope:
    return new_envelope(
        MerchantRegistered(
            merchant_id=merchant.merchant_id,
            slug=merchant.slug,
            name=merchant.name,
            support_email=merchant.support_email,
            logo_url=merchant.logo_url,
            brand_color=merchant.brand_color,
        ),
        stream_id=ids.merchant_stream(merchant.merchant_id),
        stream_version=1,
        merchant_id=merchant.merchant_id,
        correlation_id=correlation_id or uuid.uuid4(),
    )
