"""Idempotency keys in PostgreSQL: claim a key atomically, remember the response, replay it.

Two requests with the same new key race on the primary key: exactly one INSERT wins and runs;
the other reads the row under a lock and is told the key is in use. Taking over an abandoned
or expired key happens under the same row lock, so it too has a single winner.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from portal_gateway.domain.idempotency import (
    KeyState,
    StoredRequest,
    StoredResponse,
    Verdict,
    judge,
)

_CLAIM_ATTEMPTS = 3


class PostgresIdempotencyStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def begin(
        self, merchant_id: str, key: str, fingerprint: bytes, now: datetime
    ) -> tuple[Verdict, StoredResponse | None]:
        """Claim ``key`` for this request, or say why not (and what to replay)."""
        async with self._pool.acquire() as conn:
            for _ in range(_CLAIM_ATTEMPTS):
                async with conn.transaction():
                    claimed = await conn.fetchval(
                        """
                        INSERT INTO idempotency_keys (merchant_id, key, fingerprint, state,
                            created_at, locked_at)
                        VALUES ($1, $2, $3, 'in_progress', $4, $4)
                        ON CONFLICT DO NOTHING RETURNING true
                        """,
                        merchant_id,
                        key,
                        fingerprint,
                        now,
                    )
                    if claimed:
                        return Verdict.EXECUTE, None
                    row = await conn.fetchrow(
                        "SELECT * FROM idempotency_keys WHERE merchant_id = $1 AND key = $2 "
                        "FOR UPDATE",
                        merchant_id,
                        key,
                    )
                    if row is None:
                        continue  # released between our INSERT and SELECT: claim again
                    stored = _stored(row)
                    verdict = judge(stored, fingerprint, now)
                    if verdict is Verdict.EXECUTE:
                        await conn.execute(
                            """
                            UPDATE idempotency_keys SET fingerprint = $3,
                                state = 'in_progress', created_at = $4, locked_at = $4,
                                response_status = NULL, response_body = NULL,
                                response_content_type = NULL
                            WHERE merchant_id = $1 AND key = $2
                            """,
                            merchant_id,
                            key,
                            fingerprint,
                            now,
                        )
                    return verdict, stored.response
        return Verdict.IN_PROGRESS, None

    async def complete(
        self, merchant_id: str, key: str, fingerprint: bytes, response: StoredResponse
    ) -> None:
        await self._pool.execute(
            """
            UPDATE idempotency_keys SET state = 'completed', response_status = $4,
                response_body = $5, response_content_type = $6
            WHERE merchant_id = $1 AND key = $2 AND fingerprint = $3 AND state = 'in_progress'
            """,
            merchant_id,
            key,
            fingerprint,
            response.status,
            response.body,
            response.content_type,
        )

    async def release(self, merchant_id: str, key: str, fingerprint: bytes) -> None:
        await self._pool.execute(
            "DELETE FROM idempotency_keys WHERE merchant_id = $1 AND key = $2 "
            "AND fingerprint = $3 AND state = 'in_progress'",
            merchant_id,
            key,
            fingerprint,
        )

    async def prune(self, older_than: datetime) -> int:
        """Forget keys past their lifetime; returns how many."""
        result = await self._pool.execute(
            "DELETE FROM idempotency_keys WHERE created_at < $1", older_than
        )
        return int(result.split()[-1])


def _stored(row: asyncpg.Record) -> StoredRequest:
    response = None
    if row["response_status"] is not None:
        response = StoredResponse(
            status=row["response_status"],
            body=bytes(row["response_body"] or b""),
            content_type=row["response_content_type"] or "application/json",
        )
    return StoredRequest(
        fingerprint=bytes(row["fingerprint"]),
        state=KeyState(row["state"]),
        created_at=row["created_at"],
        locked_at=row["locked_at"],
        response=response,
    )
