"""The embedder's units and scheduler on real servers: fairness, and a document's
completion detected exactly once however units are delivered."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import deque
from collections.abc import AsyncIterator

import asyncpg
import msgspec
import pytest

from services.embedder import completion
from services.embedder import handler as embedder
from services.embedder.api_requests import open_batcher
from services.gateway.status_reader import STATUS_JSON
from shared.embeddings import open_embeddings
from shared.events import ChunksStored, EmbedUnit, Event, ProcessingFinished
from shared.redis_client import RedisClient
from shared.settings import Settings
from shared.streams import Streams
from shared.worker import Context
from tests.bench.remote import synthetic_document

pytestmark = pytest.mark.integration


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

    def __init__(self, deps: embedder.Deps, redis: RedisClient, prefix: str) -> None:
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
    deps: embedder.Deps, pool: asyncpg.Pool, redis: RedisClient, settings: Settings
) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    stream = Stream(deps, redis, settings.stream_prefix)
    large = await synthetic_document(pool, tenant, 40)  # 20 units
    await stream.handle(large)
    assert len(stream.entries) == 2  # its window, not its 20 units
    await stream.drain(limit=3)
    small = await synthetic_document(pool, tenant, 4)  # 2 units
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
        "SELECT embedded_count, chunk_count FROM document_indexes"
        " WHERE document_id = ANY($1::uuid[])",
        [large.document_id, small.document_id],
    )
    assert all(r[0] == r[1] for r in counts)


async def test_one_tenants_many_documents_do_not_starve_another_tenant(
    deps: embedder.Deps, pool: asyncpg.Pool, redis: RedisClient, settings: Settings
) -> None:
    busy, other = f"busy-{uuid.uuid4().hex[:8]}", f"other-{uuid.uuid4().hex[:8]}"
    stream = Stream(deps, redis, settings.stream_prefix)
    for _ in range(8):
        await stream.handle(await synthetic_document(pool, busy, 4))
    assert len(stream.entries) == 4  # the busy tenant's window
    lone = await synthetic_document(pool, other, 2)
    await stream.handle(lone)
    order = await stream.drain()
    assert order.index(lone.document_id) == 4  # right behind what was already queued
    assert len(set(stream.finished)) == 9


async def test_a_document_is_finished_by_exactly_one_unit(
    deps: embedder.Deps, pool: asyncpg.Pool, redis: RedisClient, settings: Settings
) -> None:
    stream = Stream(deps, redis, settings.stream_prefix)
    doc = await synthetic_document(pool, f"t-{uuid.uuid4().hex[:8]}", 4)
    await stream.handle(doc)
    first, second = stream.entries
    stream.entries.clear()
    # Both units handled at once by two "replicas", each of them twice (redeliveries).
    outs = await asyncio.gather(*(stream.handle(u) for u in (first, second, first, second)))
    finishing = [e for out in outs for e in out if isinstance(e, ProcessingFinished)]
    by = await pool.fetchval(
        "SELECT embedded_by FROM document_indexes WHERE job_id = $1", doc.job_id
    )
    assert by in {0, 1}
    # Only the unit recorded as the finisher says so, once per delivery of it.
    assert len(finishing) == 2 and len({e.event_id for e in finishing}) == 1
    async with pool.acquire() as conn:
        assert (await completion.progress(conn, doc.document_id, 1)).document_done


@pytest.mark.slow
async def test_a_waiting_document_says_what_is_ahead_and_when_it_will_be_done(
    deps: embedder.Deps, pool: asyncpg.Pool, redis: RedisClient, settings: Settings
) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    stream = Stream(deps, redis, settings.stream_prefix)
    large = await synthetic_document(pool, tenant, 40)
    await stream.handle(large)
    await stream.drain(limit=3)  # the embedder's rate is measured from these
    small = await synthetic_document(pool, tenant, 2)
    await stream.handle(small)
    rows = await pool.fetch(STATUS_JSON, [large.document_id, small.document_id])
    views = {r[0]: json.loads(r[2]) for r in rows}
    waiting, running = views[small.document_id], views[large.document_id]
    assert waiting["chunks_ahead"] >= 4  # the large one's two queued units
    assert waiting["current_step"].startswith("Waiting for the embedder: ")
    assert running["chunks_ahead"] is None
    assert 0 < waiting["eta_seconds"] < running["eta_seconds"]
    await stream.drain()
