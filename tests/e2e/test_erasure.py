"""Deletion that deletes, on ``docmesh up`` with traces exported: after
``DELETE /documents/{id}`` (and ``docmesh tenant delete``) nothing of the document
is left in any PostgreSQL table (chunks of every index version included), the
embedding cache, any Redis key (stream entries and dead letters included), the
webhook deliveries, the logs at info level or the exported span attributes."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from shared.db import open_pool
from shared.events import DocumentUploaded, Stream, encode
from shared.group_reader import Entry, GroupReader
from shared.redis_client import RedisClient, open_redis
from shared.streams import GONE_S, Streams
from tests.client import Client
from tests.generate import make_pdf
from tests.integration.cli import docmesh
from tests.mesh import Mesh
from tests.otlp import Receiver

pytestmark = pytest.mark.e2e


@pytest.fixture
async def client(traced: Mesh) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as session:
        yield Client(session, traced.url)


async def _in_postgres(conn: asyncpg.Connection, needle: str) -> list[str]:
    """Tables with a row whose text holds ``needle``."""
    tables = await conn.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        " AND tablename <> 'schema_migrations'"
    )
    found = []
    for (table,) in tables:
        hit = await conn.fetchval(
            f'SELECT EXISTS (SELECT 1 FROM "{table}" t WHERE t::text LIKE $1)', f"%{needle}%"
        )
        if hit:
            found.append(table)
    return found


async def _in_redis(redis: RedisClient, needle: str) -> list[str]:
    """Keys whose name or any value holds ``needle`` (every type docmesh uses)."""
    raw = needle.encode()
    found = []
    async for key in redis.scan_iter(count=500):
        kind = (await redis.type(key)).decode()
        if kind == "stream":
            values: Any = [f for _, fields in await redis.xrange(key) for f in fields.values()]
        elif kind == "hash":
            values = list((await redis.hgetall(key)).values())
        elif kind == "string":
            values = [await redis.get(key)]
        elif kind == "zset":
            values = await redis.zrange(key, 0, -1)
        elif kind == "set":
            values = list(await redis.smembers(key))
        else:
            values = await redis.lrange(key, 0, -1)
        held = raw in key or any(raw in (v or b"") for v in values)
        if held and not await _a_gone_mark(redis, key.decode()):
            found.append(key.decode())
    return found


async def _a_gone_mark(redis: RedisClient, key: str) -> bool:
    """A deleted document's mark (its id and nothing else, gone within a day): what
    makes an entry published while the deletion ran delete itself (``Streams.forget``)."""
    return ":gone:" in key and 0 < await redis.ttl(key) <= GONE_S


async def _leftovers(traced: Mesh, needles: list[str], hashes: list[str]) -> dict[str, Any]:
    settings = traced.settings
    async with open_pool(settings, max_size=1) as pool, open_redis(settings) as redis:
        async with pool.acquire() as conn:
            tables = {n: await _in_postgres(conn, n) for n in needles}
            cached = await conn.fetchval(
                "SELECT count(*) FROM embedding_cache WHERE text_sha256 = ANY($1)", hashes
            )
        keys = {n: await _in_redis(redis, n) for n in needles}
    return {"tables": tables, "cache": cached, "redis": keys}


async def _dead_letter(traced: Mesh, document_id: str) -> None:
    """A dead letter of the document, as a worker that gave up on it leaves one."""
    settings = traced.settings
    event = DocumentUploaded(
        event_id=str(uuid.uuid4()),
        document_id=document_id,
        job_id=str(uuid.uuid4()),
        object_key="temp/x.pdf",
        content_type="application/pdf",
        file_size=1,
    )
    async with open_redis(settings) as redis:
        streams = Streams(redis, settings.stream_prefix)
        reader = GroupReader(streams, Stream.EXTRACT, "extractor", "erasure-test")
        await reader.dead_letter(Entry("1-1", encode(event)), "test", [])


async def _uploaded(client: Client, tmp_path: Path, marker: str, **extra: Any) -> str:
    pdf = make_pdf(tmp_path / f"{marker}.pdf", 2, f"{marker} confidential figures")
    job = await client.upload(
        pdf, title=f"Title {marker}", metadata={"client": marker}, tags=[marker], **extra
    )
    assert (await client.wait(job["document_id"]))[-1]["status"] == "completed"
    return str(job["document_id"])


async def _chunk_hashes(traced: Mesh, document_id: str) -> list[str]:
    async with open_pool(traced.settings, max_size=1) as pool:
        rows = await pool.fetch(
            "SELECT text_sha256 FROM chunks WHERE document_id = $1", document_id
        )
    return [r["text_sha256"] for r in rows]


async def test_deleting_a_document_leaves_nothing(
    client: Client, traced: Mesh, receiver: Receiver, tmp_path: Path
) -> None:
    marker = f"erase{uuid.uuid4().hex[:12]}"
    # A subscriber that never answers: the delivery stays, its body the status view.
    status, hook = await client.call(
        "POST",
        "/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "events": ["document.completed"]},
    )
    assert status == 201, hook
    try:
        document_id = await _uploaded(client, tmp_path, marker)
        await _dead_letter(traced, document_id)
        hashes = await _chunk_hashes(traced, document_id)
        before = await _leftovers(traced, [document_id, marker], hashes)
        # The test looks where things are: each place holds the document before.
        assert before["cache"] == len(set(hashes)) > 0
        assert {"documents", "pages", "chunks", "webhook_deliveries"} <= set(
            before["tables"][marker]
        )
        assert before["redis"][document_id]  # stream entries and the dead letter

        status, _ = await client.call("DELETE", f"/documents/{document_id}")
        assert status == 204
        after = await _leftovers(traced, [document_id, marker], hashes)
        assert after == {"tables": {document_id: [], marker: []}, "cache": 0,
                         "redis": {document_id: [], marker: []}}  # fmt: skip
    finally:
        await client.call("DELETE", f"/webhooks/{hook['id']}")
    await asyncio.sleep(1)  # the exporters' last batch
    logs = [p for p in (traced.state / "logs").glob("*") if p.is_file()]
    info = [
        line
        for p in logs
        for line in p.read_text(errors="replace").splitlines()
        if marker in line and '"level": "debug"' not in line
    ]
    assert info == []
    assert [s.name for s in receiver.spans if marker in json.dumps(s.attributes)] == []


async def test_deleting_a_tenant_leaves_nothing(
    client: Client, traced: Mesh, tmp_path: Path
) -> None:
    marker = f"tenant{uuid.uuid4().hex[:12]}"
    document_id = await _uploaded(client, tmp_path, marker)
    hashes = await _chunk_hashes(traced, document_id)
    # The default tenant holds other tests' documents too: move this one to a tenant
    # of its own, as if a key of that tenant had uploaded it.
    async with open_pool(traced.settings, max_size=1) as pool:
        await pool.execute("UPDATE documents SET tenant = $1 WHERE id = $2", marker, document_id)
    done = await docmesh(traced.settings, "tenant", "delete", marker, "--yes")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["documents"] == 1
    assert "1 documents deleted" in done.stderr
    after = await _leftovers(traced, [document_id, marker], hashes)
    assert after == {"tables": {document_id: [], marker: []}, "cache": 0,
                     "redis": {document_id: [], marker: []}}  # fmt: skip
