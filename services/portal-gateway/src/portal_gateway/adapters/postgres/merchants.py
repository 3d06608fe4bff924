"""Merchants and their API keys, in the gateway's own tables."""

from __future__ import annotations

import asyncpg

from billing_events.envelope import Envelope
from billing_events.outbox import enqueue_envelope
from portal_gateway.adapters.postgres.read_model import merchant_from_row
from portal_gateway.application.merchants import SlugTaken
from portal_gateway.application.ports import Merchant
from portal_gateway.domain.api_keys import IssuedKey


class PostgresMerchants:
    """Implements :class:`portal_gateway.application.merchants.MerchantStore`."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create(self, merchant: Merchant, key: IssuedKey, registered: Envelope) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            try:
                await conn.execute(
                    """
                    INSERT INTO merchants (merchant_id, slug, name, logo_url, brand_color,
                        support_email, cancel_mode)
                    VALUES ($1, $2, $3, $4, $5, $6, $7)
                    """,
                    merchant.merchant_id,
                    merchant.slug,
                    merchant.name,
                    merchant.logo_url,
                    merchant.brand_color,
                    merchant.support_email,
                    merchant.cancel_mode,
                )
            except asyncpg.UniqueViolationError as exc:
                if exc.constraint_name == "merchants_slug_key":
                    raise SlugTaken(merchant.slug) from None
                raise
            await conn.execute(
                "INSERT INTO api_keys (key_digest, merchant_id, display_prefix) "
                "VALUES ($1, $2, $3)",
                key.digest,
                merchant.merchant_id,
                key.display_prefix,
            )
            # Same transaction: a merchant exists if and only if the world hears about it.
            await enqueue_envelope(conn, registered)

    async def by_key_digest(self, digest: bytes) -> Merchant | None:
        row = await self._pool.fetchrow(
            """
            SELECT m.* FROM api_keys k JOIN merchants m USING (merchant_id)
            WHERE k.key_digest = $1 AND k.revoked_at IS NULL
            """,
            digest,
        )
        return merchant_from_row(row) if row is not None else None
