"""API keys and tenants: each tenant sees only its own documents."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import numpy as np
import pytest
from pgvector.asyncpg import register_vector

from services.gateway.auth import CACHE_TTL_S
from shared.embeddings import open_embeddings
from shared.keys import create_key, list_keys, revoke_key
from shared.settings import Settings
from tests.client import Client
from tests.generate import make_pdf
from tests.integration.gateway import client_of, running_gateway

pytestmark = pytest.mark.integration


async def _completed_chunk(
    db: asyncpg.Connection, document_id: str, text: str, vector: list[float]
) -> None:
    """Mark a document completed with one embedded chunk, as the pipeline would."""
    await register_vector(db)
    await db.execute("UPDATE documents SET status = 'completed' WHERE id = $1", document_id)
    await db.execute(
        "INSERT INTO chunks (id, document_id, ordinal, text, context, page_start, page_end,"
        " token_count, text_sha256, embedding, index_version)"
        " VALUES ($1, $2, 0, $3, '', 1, 1, 5, 'x', $4,"
        " (SELECT version FROM index_versions WHERE state = 'active'))",
        uuid.uuid4(),
        document_id,
        text,
        np.array(vector, dtype=np.float32),
    )


@pytest.mark.slow
async def test_each_tenant_sees_only_its_documents(settings: Settings, tmp_path: Path) -> None:
    async with running_gateway(settings) as (base, own):
        pool = await asyncpg.create_pool(own.database_url, min_size=1, max_size=2)
        try:
            alice = (await create_key(pool, "alice", "alice's app"))["key"]
            bob_key = await create_key(pool, "bob")
            admin = (await create_key(pool, "ops", admin=True))["key"]
            assert {k["tenant"] for k in await list_keys(pool)} == {"alice", "bob", "ops"}
            assert all("key" not in k for k in await list_keys(pool))
            async with (
                client_of(base, alice) as a,
                client_of(base, bob_key["key"]) as b,
                client_of(base) as anonymous,
                client_of(base, "dm_not-a-key") as forger,
                client_of(base, admin) as ops,
            ):
                job = await a.upload(make_pdf(tmp_path / "a.pdf", 1, "Alice's secret"))
                doc = job["document_id"]
                await _cross_tenant_reads(a, b, doc)
                word = f"zebra{uuid.uuid4().hex[:6]}"
                text = f"the {word} report on quarterly revenue"
                async with open_embeddings(own) as embeddings:
                    (vector,) = await embeddings.embed([text], "passage")
                async with pool.acquire() as db:
                    await _completed_chunk(db, doc, text, vector)
                # Found by words (full text) and by meaning alone (the vector path):
                # either way, only by its own tenant.
                for query in (word, "how much money did the company earn this quarter"):
                    status, found = await a.call("POST", "/search", json={"query": query})
                    assert status == 200 and [r["document_id"] for r in found["results"]] == [doc]
                    status, found = await b.call("POST", "/search", json={"query": query})
                    assert (status, found["results"]) == (200, [])
                for who, code in ((anonymous, "missing_api_key"), (forger, "invalid_api_key")):
                    status, body = await who.call("GET", "/documents")
                    assert (status, body["error"]["code"]) == (401, code)
                status, body = await a.call("GET", "/queue/info")
                assert (status, body["error"]["code"]) == (403, "admin_only")
                assert (await ops.call("GET", "/queue/info"))[0] == 200
                assert (await anonymous.call("GET", "/healthz"))[0] == 200
                assert await revoke_key(pool, bob_key["id"][:8])
                await asyncio.sleep(CACHE_TTL_S + 0.5)
                status, body = await b.call("GET", "/documents")
                assert (status, body["error"]["code"]) == (401, "invalid_api_key")
                # Revoking every key closes the API; it never reopens it.
                for key in await list_keys(pool):
                    await revoke_key(pool, key["id"])
                await asyncio.sleep(CACHE_TTL_S + 0.5)
                status, body = await anonymous.call("GET", "/documents")
                assert (status, body["error"]["code"]) == (401, "missing_api_key")
        finally:
            await pool.close()


async def _cross_tenant_reads(a: Client, b: Client, doc: str) -> None:
    """Another tenant's document id is not found, whatever is asked of it."""
    for method, path in (
        ("GET", f"/documents/{doc}"),
        ("GET", f"/documents/{doc}/status"),
        ("GET", f"/documents/{doc}/chunks"),
        ("GET", f"/documents/{doc}/events"),
        ("POST", f"/documents/{doc}/cancel"),
        ("POST", f"/documents/{doc}/retry"),
        ("DELETE", f"/documents/{doc}"),
    ):
        status, body = await b.call(method, path)
        assert (status, body["error"]["code"]) == (404, "not_found"), (method, path)
    status, body = await b.call("POST", f"/documents/{doc}/process", json={"upload_id": "x"})
    assert status == 404
    status, page = await b.call("GET", "/documents")
    assert (status, page["total"]) == (200, 0)
    status, page = await a.call("GET", "/documents")
    assert [d["document_id"] for d in page["items"]] == [doc]
    assert (await a.call("GET", f"/documents/{doc}"))[0] == 200
