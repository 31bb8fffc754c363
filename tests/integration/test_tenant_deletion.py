"""Deleting a tenant revokes its keys and webhooks before its documents go, so nothing
is uploaded or sent for it while the deletion runs."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from shared import collections, erasure, evaluations, keys, status
from shared.redis_client import RedisClient
from shared.settings import Settings
from shared.storage import ObjectStore
from shared.streams import Streams
from tests.integration.gateway import migrated_database

pytestmark = pytest.mark.integration


async def test_keys_and_webhooks_go_before_the_documents(
    settings: Settings, store: ObjectStore, redis: RedisClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with migrated_database(settings) as (own, pool):
        tenant = f"t{uuid.uuid4().hex[:8]}"
        await keys.create_key(pool, tenant, "web")
        await pool.execute(
            "INSERT INTO webhooks (id, tenant, url, events, secret)"
            " VALUES (gen_random_uuid(), $1, 'https://example.com/h', '{document.completed}', 's')",
            tenant,
        )
        for _ in range(3):
            await status.register_upload(
                pool, id=str(uuid.uuid4()), upload_id=str(uuid.uuid4()), filename="a.pdf",
                content_type="application/pdf", file_size=10, object_key="temp/x.pdf",
                upload_expires_at=await pool.fetchval("SELECT now()"), tenant=tenant,
            )  # fmt: skip
        seen: list[tuple[int, int]] = []

        async def left() -> tuple[int, int]:
            return (
                await pool.fetchval("SELECT count(*) FROM api_keys WHERE tenant = $1", tenant),
                await pool.fetchval("SELECT count(*) FROM webhooks WHERE tenant = $1", tenant),
            )

        def progress(deleted: int) -> None:
            seen.append(deleted)

        streams = Streams(redis, own.stream_prefix)
        original = erasure.delete_rows

        async def watching(conn: asyncpg.Connection, ids: list[str]) -> None:
            assert await left() == (0, 0), "documents went while keys or webhooks lived"
            await original(conn, ids)

        monkeypatch.setattr(erasure, "delete_rows", watching)
        await collections.create(pool, tenant, "Shelf", "")
        await evaluations.create_set(pool, tenant, "Questions", 5, [])
        counts = await erasure.delete_tenant(pool, store, streams, tenant, progress)
        assert (counts["documents"], counts["api_keys"], counts["webhooks"]) == (3, 1, 1)
        assert (counts["collections"], counts["evaluation_sets"]) == (1, 1)
        assert (
            await pool.fetchval("SELECT count(*) FROM collections WHERE tenant = $1", tenant) == 0
        )
        assert seen == [3]
