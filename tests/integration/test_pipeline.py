"""Each stage's handler on real servers, each run twice: a replay changes nothing."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import asyncpg
import msgspec
import pytest

from services.chunker import handler as chunker
from services.chunker.chunking import token_counter
from services.deduplicator import handler as deduplicator
from services.embedder import handler as embedder
from services.embedder.api_requests import open_batcher
from services.extractor import handler as extractor
from services.extractor.sandbox import Sandbox
from services.janitor import handler as janitor
from shared.embeddings import open_embeddings
from shared.events import (
    ChunksStored,
    DocumentUploaded,
    DuplicatesChecked,
    EmbedUnit,
    Event,
    ProcessingFinished,
    TextExtracted,
)
from shared.guard import guarded
from shared.redis_client import RedisClient
from shared.settings import Settings
from shared.storage import ObjectStore
from shared.streams import Streams
from shared.worker import Context
from tests.bench.pipeline import embed_document, register_upload

pytestmark = pytest.mark.integration


def only(events: Sequence[Event], kind: type[Event]) -> Event:
    (found,) = [e for e in events if isinstance(e, kind)]
    return found


def timeless(events: Sequence[Event]) -> list[Event]:
    """Events as compared across runs: everything but the time they were made."""
    return [msgspec.structs.replace(e, created_at=0.0) for e in events]


async def upload(pool: asyncpg.Pool, store: ObjectStore, path: Path) -> DocumentUploaded:
    return await register_upload(pool, store, path)


async def snapshot(pool: asyncpg.Pool, doc: str) -> list[tuple[object, ...]]:
    rows = await pool.fetch(
        "SELECT ordinal, text, context, page_start, page_end, token_count, embedding IS NOT NULL"
        " AS embedded FROM chunks WHERE document_id = $1 ORDER BY ordinal",
        doc,
    )
    return [tuple(r) for r in rows]


async def test_every_stage_is_idempotent(
    settings: Settings,
    pool: asyncpg.Pool,
    store: ObjectStore,
    redis: RedisClient,
    corpus: Path,
    sandbox: Sandbox,
) -> None:
    uploaded = await upload(pool, store, corpus / "layout-parser-paper-fast.pdf")
    doc = uploaded.document_id
    streams = Streams(redis, settings.stream_prefix)

    def ctx(event: Event) -> Context:
        return Context(streams, event)

    x_deps = extractor.Deps(settings, pool, store, sandbox)
    first = await extractor.handle(x_deps, uploaded, ctx(uploaded))
    assert timeless(first) == timeless(await extractor.handle(x_deps, uploaded, ctx(uploaded)))
    extracted = only(first, TextExtracted)
    assert isinstance(extracted, TextExtracted) and extracted.page_count == 2

    d_deps = deduplicator.Deps(settings, pool)
    checked = only(await deduplicator.handle(d_deps, extracted, ctx(extracted)), DuplicatesChecked)
    again = await deduplicator.handle(d_deps, extracted, ctx(extracted))
    assert timeless([only(again, DuplicatesChecked)]) == timeless([checked])

    c_deps = chunker.Deps(settings, pool, token_counter())
    stored = only(await chunker.handle(c_deps, checked, ctx(checked)), ChunksStored)
    chunks = await snapshot(pool, doc)
    again = await chunker.handle(c_deps, checked, ctx(checked))
    assert timeless([only(again, ChunksStored)]) == timeless([stored])
    assert await snapshot(pool, doc) == chunks
    assert isinstance(stored, ChunksStored) and stored.chunk_count == len(chunks) > 0
    # The PDF's outline gives its chunks a section path in their context.
    assert any(" > LayoutParser" in str(c[2]) for c in chunks), chunks

    async with (
        open_embeddings(settings) as embeddings,
        open_batcher(embeddings, settings) as batcher,
    ):
        e_deps = embedder.Deps(settings, pool, embeddings, batcher)
        embedded = await embed_document(e_deps, stored, streams)
        finished = only(embedded, ProcessingFinished)
        units = [e for e in embedded if isinstance(e, EmbedUnit)]
        sent = (await streams.counters("embedder"))["texts_embedded"]
        assert 0 < sent <= len(chunks)
        # Replays find every chunk embedded and send nothing; only the unit that
        # finished the document says so again.
        again = [e for u in units for e in await embedder.handle(e_deps, u, ctx(u))]
        assert (await streams.counters("embedder"))["texts_embedded"] == sent
        assert timeless([only(again, ProcessingFinished)]) == timeless([finished])
    assert all(row[-1] for row in await snapshot(pool, doc))

    j_deps = janitor.Deps(settings, pool, store)
    assert isinstance(finished, ProcessingFinished)
    assert len(await janitor.handle(j_deps, finished, ctx(finished))) == 1
    assert await janitor.handle(j_deps, finished, ctx(finished)) == []
    assert await store.size(uploaded.object_key) is None
    row = await pool.fetchrow("SELECT status, progress FROM documents WHERE id = $1", doc)
    assert (row["status"], row["progress"]) == ("completed", 100)
    # Events after the end change nothing either: the gate in front of every stage.
    gated = guarded(pool, functools.partial(extractor.handle, x_deps))
    assert await gated(uploaded, ctx(uploaded)) == []
    assert await snapshot(pool, doc) == [(*c[:-1], True) for c in chunks]


async def test_the_embedding_cache_serves_identical_text_across_documents(
    settings: Settings,
    pool: asyncpg.Pool,
    store: ObjectStore,
    redis: RedisClient,
    corpus: Path,
    tmp_path: Path,
    sandbox: Sandbox,
) -> None:
    streams = Streams(redis, settings.stream_prefix)
    async with (
        open_embeddings(settings) as embeddings,
        open_batcher(embeddings, settings) as batcher,
    ):
        e_deps = embedder.Deps(settings, pool, embeddings, batcher)
        c_deps = chunker.Deps(settings, pool, token_counter())
        for _ in range(2):
            uploaded = await upload(pool, store, corpus / "fake-memo.pdf")
            x = await extractor.handle(
                extractor.Deps(settings, pool, store, sandbox), uploaded, Context(streams, uploaded)
            )
            extracted = only(x, TextExtracted)
            # Same title for both copies, so the embedded texts are identical.
            await pool.execute(
                "UPDATE documents SET title = 'memo' WHERE id = $1", uploaded.document_id
            )
            checked = DuplicatesChecked(
                event_id=extracted.child_id("c"),
                document_id=uploaded.document_id,
                job_id=uploaded.job_id,
            )
            stored = only(
                await chunker.handle(c_deps, checked, Context(streams, checked)), ChunksStored
            )
            assert isinstance(stored, ChunksStored)
            await embed_document(e_deps, stored, streams)
        counted = await streams.counters("embedder")
        assert counted["cache_hits"] >= 1
        assert counted["texts_embedded"] + counted["cache_hits"] == 2 * stored.chunk_count
