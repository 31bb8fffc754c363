"""The embedder's units and scheduler on real servers: fairness, and a document's
completion detected exactly once however units are delivered."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import uuid
from collections import deque
from collections.abc import AsyncIterator

import asyncpg
import msgspec
import pytest
import redis.asyncio as aioredis

from services.embedder import handler as embedder
from services.embedder import units
from services.embedder.batcher import open_batcher
from shared.embeddings import open_embeddings
from shared.events import ChunksStored, EmbedUnit, Event, ProcessingFinished
from shared.settings import Settings
from shared.streams import Streams
from shared.worker import Context

pytestmark = pytest.mark.integration


async def make_document(pool: asyncpg.Pool, tenant: str, chunks: int) -> ChunksStored:
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
    texts = [f"Paragraph {n} of document {doc} about fair scheduling." for n in range(chunks)]
    await pool.executemany(
        "INSERT INTO chunks (id, document_id, ordinal, text, context, page_start, page_end,"
        " token_count, text_sha256) VALUES ($1, $2, $3, $4, 'd', 1, 1, 12, $5)",
        [
            (uuid.uuid4(), doc, n, t, hashlib.sha256(t.encode()).hexdigest())
            for n, t in enumerate(texts)
        ],
    )
    return ChunksStored(event_id=str(uuid.uuid4()), document_id=doc, job_id=job, chunk_count=chunks)


@pytest.fixture
async def deps(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[embedder.Deps]:
    # Units of two chunks, windows of two per document and four per tenant.
    small = msgspec.structs.replace(
        settings, embeddings_batch_inputs=2, embed_window=2, embed_tenant_window=4
    )
    async with open_embeddings(small) as embeddings, open_batcher(embeddings, small) as batcher:
        yield embedder.Deps(small, pool, embeddings, batcher)


class Stream:
    """The embed stream, first in first out, handled by the real handler."""

    def __init__(self, deps: embedder.Deps, redis: aioredis.Redis, prefix: str) -> None:
        self.deps, self.streams = deps, Streams(redis, prefix)
        self.entries: deque[Event] = deque()
        self.finished: list[str] = []

    async def handle(self, event: Event) -> list[Event]:
        assert isinstance(event, ChunksStored | EmbedUnit)
        out = list(await embedder.handle(self.deps, event, Context(self.streams, event)))
        self.entries += [e for e in out if isinstance(e, EmbedUnit)]
        self.finished += [e.document_id for e in out if isinstance(e, ProcessingFinished)]
        return out

    async def drain(self, limit: int = 1000) -> list[str]:
        """Handle every entry in order; the documents of the units, as handled."""
        order = []
        while self.entries and len(order) < limit:
            unit = self.entries.popleft()
            order.append(unit.document_id)
            await self.handle(unit)
        return order


async def test_a_small_document_waits_for_at_most_a_window_of_a_large_one(
    deps: embedder.Deps, pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings
) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    stream = Stream(deps, redis, settings.stream_prefix)
    large = await make_document(pool, tenant, 40)  # 20 units
    await stream.handle(large)
    assert len(stream.entries) == 2  # its window, not its 20 units
    await stream.drain(limit=3)
    small = await make_document(pool, tenant, 4)  # 2 units
    await stream.handle(small)
    order = await stream.drain()
    # The small one's two units come right after the large one's two in the stream.
    assert order.index(small.document_id) <= 2
    assert stream.finished.index(small.document_id) == 0
    assert stream.finished[-1] == large.document_id and len(stream.finished) == 2
    states = await pool.fetch(
        "SELECT DISTINCT state FROM embed_units WHERE document_id = ANY($1::uuid[])",
        [large.document_id, small.document_id],
    )
    assert [r[0] for r in states] == ["done"]
    counts = await pool.fetch(
        "SELECT embedded_count, chunk_count FROM documents WHERE id = ANY($1::uuid[])",
        [large.document_id, small.document_id],
    )
    assert all(r[0] == r[1] for r in counts)


async def test_one_tenants_many_documents_do_not_starve_another_tenant(
    deps: embedder.Deps, pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings
) -> None:
    busy, other = f"busy-{uuid.uuid4().hex[:8]}", f"other-{uuid.uuid4().hex[:8]}"
    stream = Stream(deps, redis, settings.stream_prefix)
    for _ in range(8):
        await stream.handle(await make_document(pool, busy, 4))
    assert len(stream.entries) == 4  # the busy tenant's window
    lone = await make_document(pool, other, 2)
    await stream.handle(lone)
    order = await stream.drain()
    assert order.index(lone.document_id) == 4  # right behind what was already queued
    assert len(set(stream.finished)) == 9


async def test_a_document_is_finished_by_exactly_one_unit(
    deps: embedder.Deps, pool: asyncpg.Pool, redis: aioredis.Redis, settings: Settings
) -> None:
    stream = Stream(deps, redis, settings.stream_prefix)
    doc = await make_document(pool, f"t-{uuid.uuid4().hex[:8]}", 4)
    await stream.handle(doc)
    first, second = stream.entries
    stream.entries.clear()
    # Both units handled at once by two "replicas", each of them twice (redeliveries).
    outs = await asyncio.gather(*(stream.handle(u) for u in (first, second, first, second)))
    finishing = [e for out in outs for e in out if isinstance(e, ProcessingFinished)]
    by = await pool.fetchval("SELECT embedded_by FROM documents WHERE id = $1", doc.document_id)
    assert by in {0, 1}
    # Only the unit recorded as the finisher says so, once per delivery of it.
    assert len(finishing) == 2 and len({e.event_id for e in finishing}) == 1
    async with pool.acquire() as conn:
        assert (await units.progress(conn, doc.document_id)).document_done
