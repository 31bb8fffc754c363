"""A remote embeddings API, modelled: a proxy adding a fixed delay to each request in
front of the local model, and one large document embedded through it by 1, 2 and 4
embedder replicas, or by one replica with 4 requests in flight.

With short chunks the local model answers a small request in tens of
milliseconds, so the fixed delay dominates, as the network does with a remote
API; replicas and concurrent requests then overlap the delays until the model
itself is busy all the time.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import msgspec
from aiohttp import web

from deploy.local.embedded import free_port
from services.embedder.__main__ import SPEC
from shared import indexes, jobs
from shared.db import open_pool
from shared.events import ChunksStored
from shared.redis_client import open_redis
from shared.settings import Settings
from shared.streams import Streams
from shared.worker import consume


async def synthetic_document(pool: asyncpg.Pool, tenant: str, chunks: int) -> ChunksStored:
    """A document in the embedding stage with ``chunks`` short chunks of its own text."""
    doc, job = str(uuid.uuid4()), str(uuid.uuid4())
    await pool.execute(
        "INSERT INTO documents (id, upload_id, filename, content_type, file_size, object_key,"
        " upload_expires_at, job_id, status, tenant, chunk_count, queued_at)"
        " VALUES ($1, $2, 'd.pdf', 'application/pdf', 1, 'k', $3, $4, 'embedding', $5, $6, now())",
        doc,
        uuid.uuid4(),
        dt.datetime.now(dt.UTC),
        job,
        tenant,
        chunks,
    )
    version = (await indexes.active(pool)).version
    texts = [f"Paragraph {n} of document {doc} about fair scheduling." for n in range(chunks)]
    await pool.executemany(
        "INSERT INTO chunks (id, document_id, ordinal, text, context, page_start, page_end,"
        " token_count, text_sha256, index_version) VALUES ($1, $2, $3, $4, 'd', 1, 1, 12, $5, $6)",
        [
            (uuid.uuid4(), doc, n, t, hashlib.sha256(t.encode()).hexdigest(), version)
            for n, t in enumerate(texts)
        ],
    )
    async with pool.acquire() as conn, conn.transaction():
        await jobs.chunked(conn, doc, job, version, chunks)
    return ChunksStored(
        event_id=str(uuid.uuid4()),
        document_id=doc,
        job_id=job,
        chunk_count=chunks,
        index_version=version,
    )


@contextlib.asynccontextmanager
async def delaying_proxy(target: str, delay_s: float) -> AsyncIterator[str]:
    """An OpenAI-compatible base URL that forwards to ``target`` after ``delay_s``."""
    async with aiohttp.ClientSession() as session:

        async def forward(request: web.Request) -> web.Response:
            body = await request.read()
            await asyncio.sleep(delay_s)
            async with session.post(
                f"{target}/embeddings", data=body, headers={"Content-Type": "application/json"}
            ) as resp:
                return web.Response(
                    body=await resp.read(), status=resp.status, content_type="application/json"
                )

        app = web.Application()
        app.router.add_post("/v1/embeddings", forward)
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            await runner.cleanup()


async def one_document(settings: Settings, replicas: int, chunks: int) -> float:
    """Seconds for ``replicas`` embedders to embed one document of ``chunks`` chunks."""
    settings = msgspec.structs.replace(
        settings, stream_prefix=f"bench-remote-{uuid.uuid4().hex[:6]}"
    )
    async with open_pool(settings, max_size=2) as pool, open_redis(settings) as redis:
        stored = await synthetic_document(pool, f"remote-{uuid.uuid4().hex[:6]}", chunks)
        stop = asyncio.Event()
        workers = [
            asyncio.create_task(
                consume(SPEC, msgspec.structs.replace(settings, consumer_name=f"e{n}"), stop)
            )
            for n in range(replicas)
        ]
        started = time.perf_counter()
        await Streams(redis, settings.stream_prefix).publish(stored)
        while (
            await pool.fetchval(
                "SELECT embedded_by FROM document_indexes WHERE job_id = $1", stored.job_id
            )
            is None
        ):
            await asyncio.sleep(0.05)
        seconds = time.perf_counter() - started
        stop.set()
        await asyncio.gather(*workers)
    return seconds


async def remote_latency(settings: Settings, delay_s: float, chunks: int) -> dict[str, Any]:
    """One large document through a slow API: by 1, 2 and 4 replicas, and by one replica
    with 4 requests in flight."""
    assert settings.embeddings_base_url
    async with delaying_proxy(settings.embeddings_base_url, delay_s) as url:
        slow = msgspec.structs.replace(
            settings,
            embeddings_base_url=url,
            embeddings_batch_inputs=8,
            embed_window=8,
            embed_tenant_window=8,
            log_level="WARNING",
        )
        seconds = {f"{r}_replicas": await one_document(slow, r, chunks) for r in (1, 2, 4)}
        concurrent = msgspec.structs.replace(slow, embeddings_concurrency=4)
        seconds["1_replica_4_requests"] = await one_document(concurrent, 1, chunks)
    base = seconds["1_replicas"]
    return {
        "delay_ms": int(delay_s * 1000),
        "chunks": chunks,
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "speedup": {k: round(base / v, 2) for k, v in seconds.items()},
    }
