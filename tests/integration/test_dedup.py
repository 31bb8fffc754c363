"""Content-hash claims against a real PostgreSQL: one original, even under a race."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from services.deduplicator.handler import claim_hashes
from tests.integration.test_status import new_document

pytestmark = pytest.mark.integration


async def claim(pool: asyncpg.Pool, doc: str, hashes: list[str]) -> str | None:
    async with pool.acquire() as conn, conn.transaction():
        return await claim_hashes(conn, doc, hashes)


async def test_the_first_claimant_is_the_original(pool: asyncpg.Pool) -> None:
    h = uuid.uuid4().hex
    first, second = await new_document(pool), await new_document(pool)
    assert await claim(pool, first, [f"file:{h}", f"text:{h}"]) is None
    assert await claim(pool, first, [f"file:{h}", f"text:{h}"]) is None  # a replay
    assert await claim(pool, second, [f"file:other{h}", f"text:{h}"]) == first
    # The duplicate gave back its own file hash: a third copy names the original.
    third = await new_document(pool)
    assert await claim(pool, third, [f"file:other{h}", f"text:x{h}"]) is None


async def test_concurrent_copies_find_one_original(pool: asyncpg.Pool) -> None:
    h = uuid.uuid4().hex
    docs = [await new_document(pool) for _ in range(4)]
    results = await asyncio.gather(*(claim(pool, d, [f"file:{h}", f"text:{h}"]) for d in docs))
    originals = [d for d, r in zip(docs, results, strict=True) if r is None]
    assert len(originals) == 1
    assert all(r == originals[0] for r in results if r is not None)


async def test_tenants_do_not_see_each_others_copies(pool: asyncpg.Pool) -> None:
    h = uuid.uuid4().hex
    mine, theirs = await new_document(pool), await new_document(pool)
    await pool.execute("UPDATE documents SET tenant = 'other' WHERE id = $1", theirs)
    assert await claim(pool, mine, [f"file:{h}"]) is None
    assert await claim(pool, theirs, [f"file:{h}"]) is None  # an original in its tenant
