"""Index versions under races: a chunker that chose the active version while a build
activates, a cancel that meets the activation, a rollback that meets the janitor's drop,
the sweep that rebuilds a completed document the active version lacks, and the sweep
that meets a vector index being built."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from services.chunker import handler as chunker
from services.chunker.chunking import token_counter
from services.embedder import handler as embedder
from services.embedder.api_requests import open_batcher
from services.janitor import handler as janitor
from shared import indexes, rebuild, reindex
from shared.embeddings import open_embeddings
from shared.events import ChunksStored, DuplicatesChecked, EmbedUnit, Event, ProcessingFinished
from shared.guard import guarded
from shared.redis_client import RedisClient
from shared.settings import Settings
from shared.storage import ObjectStore
from shared.streams import Streams
from shared.worker import Context
from tests.integration.gateway import migrated_database

pytestmark = pytest.mark.integration


@pytest.fixture
async def own(settings: Settings) -> AsyncIterator[tuple[Settings, asyncpg.Pool]]:
    """A database of its own: these tests move the deployment's active version."""
    async with migrated_database(settings) as found:
        yield found


async def document(pool: asyncpg.Pool, status: str) -> tuple[str, str]:
    """A document at ``status`` with a stored page; its id and job."""
    doc, job = uuid.uuid4(), uuid.uuid4()
    await pool.execute(
        "INSERT INTO documents (id, upload_id, filename, content_type, file_size, object_key,"
        " upload_expires_at, job_id, status, chunk_count)"
        " VALUES ($1, $1, 'a.pdf', 'application/pdf', 1, 'k', now(), $2, $3,"
        " CASE WHEN $3 = 'completed' THEN 1 END)",
        doc,
        job,
        status,
    )
    await pool.execute(
        "INSERT INTO pages (document_id, page_no, text) VALUES ($1, 1, $2)",
        doc,
        "A page of plain text about index versions. " * 20,
    )
    return str(doc), str(job)


async def building(pool: asyncpg.Pool, chunk_tokens: int) -> int:
    """A version being built beside the active one (no document rows yet)."""
    active = await indexes.active(pool)
    await pool.execute(
        "INSERT INTO index_versions (version, chunk_tokens, chunk_overlap_tokens,"
        " embeddings_model, embeddings_dimensions, embeddings_input_mode,"
        " embeddings_send_dimensions, state) VALUES (2, $1, $2, $3, $4, $5, $6, 'building')",
        chunk_tokens,
        active.chunk_overlap_tokens,
        active.embeddings_model,
        active.embeddings_dimensions,
        active.embeddings_input_mode,
        active.embeddings_send_dimensions,
    )
    return 2


async def holding(pool: asyncpg.Pool, work: asyncio.Task[object]) -> None:
    """Let ``work`` run into the lock the caller holds, and show it waits there."""
    await asyncio.sleep(0.5)
    assert not work.done(), "it should wait for the activation to commit"


async def test_a_document_chunked_while_a_build_activates_lands_in_the_new_version(
    own: tuple[Settings, asyncpg.Pool], redis: RedisClient
) -> None:
    settings, pool = own
    doc, job = await document(pool, "chunking")  # extracted after the build started
    version = await building(pool, 200)
    deps = chunker.Deps(settings, pool, token_counter())
    event = DuplicatesChecked(event_id=str(uuid.uuid4()), document_id=doc, job_id=job)
    ctx = Context(Streams(redis, settings.stream_prefix), event)
    async with pool.acquire() as conn:
        activation = conn.transaction()
        await activation.start()
        assert await rebuild.try_activate(conn, version)  # nothing lacks it yet
        chunking = asyncio.create_task(chunker.handle(deps, event, ctx))
        await holding(pool, chunking)  # type: ignore[arg-type]
        await activation.commit()
    out = await chunking
    assert any(isinstance(e, ChunksStored) for e in out)
    stored = await pool.fetch(
        "SELECT index_version, count(*) FROM chunks WHERE document_id = $1 GROUP BY 1", doc
    )
    assert [tuple(r) for r in stored] == [(version, stored[0][1])]  # searchable when done
    own_job = "SELECT index_version FROM document_indexes WHERE job_id = $1"
    assert await pool.fetchval(own_job, uuid.UUID(job)) == 2


async def test_a_cancel_that_meets_the_activation_leaves_an_active_version(
    own: tuple[Settings, asyncpg.Pool],
) -> None:
    _, pool = own
    version = await building(pool, 200)
    async with pool.acquire() as conn:
        activation = conn.transaction()
        await activation.start()
        assert await rebuild.try_activate(conn, version)
        cancelling = asyncio.create_task(reindex.cancel(pool))
        await holding(pool, cancelling)  # type: ignore[arg-type]
        await activation.commit()
    with pytest.raises(reindex.ReindexConflict, match="became active"):
        await cancelling
    assert (await indexes.active(pool)).version == version


async def test_a_rollback_that_meets_the_drop_builds_a_new_version(
    own: tuple[Settings, asyncpg.Pool],
) -> None:
    _, pool = own
    version = await building(pool, 200)
    await pool.execute(
        "UPDATE index_versions SET state = 'retired', retired_at = now() - interval '8 days'"
        " WHERE version = $1",
        version,
    )
    kept = await indexes.get(pool, version)
    assert kept is not None
    async with pool.acquire() as conn:
        dropping = conn.transaction()
        await dropping.start()
        await conn.execute(  # the janitor's first step of drop_expired
            "UPDATE index_versions SET state = 'dropped' WHERE state = 'retired'"
            " AND retired_at < now() - interval '7 days'"
        )
        starting = asyncio.create_task(reindex.start(pool, kept))
        await holding(pool, starting)  # type: ignore[arg-type]
        await dropping.commit()
    started = await starting
    assert started.version == 3 and started.same_build(kept)
    assert await pool.fetchval("SELECT state FROM index_versions WHERE version = 2") == "dropped"


async def test_the_sweep_rebuilds_a_completed_document_the_active_version_lacks(
    own: tuple[Settings, asyncpg.Pool], redis: RedisClient, store: ObjectStore
) -> None:
    settings, pool = own
    doc, _ = await document(pool, "completed")  # completed, yet version 1 holds nothing
    async with pool.acquire() as conn, conn.transaction():
        (event,) = await rebuild.index_missing(conn)
    async with pool.acquire() as conn, conn.transaction():
        assert await rebuild.index_missing(conn) == []  # queued once
    assert event.index_version == 1 and event.document_id == doc
    streams = Streams(redis, settings.stream_prefix)
    chunk = guarded(
        pool, lambda e, c: chunker.handle(chunker.Deps(settings, pool, token_counter()), e, c)
    )
    async with (
        open_embeddings(settings) as embeddings,
        open_batcher(embeddings, settings) as batcher,
    ):
        deps = embedder.Deps(settings, pool, embeddings, batcher)
        embed = guarded(pool, lambda e, c: embedder.handle(deps, e, c))
        finish = guarded(
            pool, lambda e, c: janitor.handle(janitor.Deps(settings, pool, store), e, c)
        )
        queue: list[Event] = list(await chunk(event, Context(streams, event)))
        while queue:
            step = queue.pop(0)
            if isinstance(step, ChunksStored | EmbedUnit):
                queue += await embed(step, Context(streams, step))
            elif isinstance(step, ProcessingFinished):
                queue += await finish(step, Context(streams, step))
    row = await pool.fetchrow(
        "SELECT state, chunk_count, embedded_count FROM document_indexes"
        " WHERE document_id = $1 AND index_version = 1",
        doc,
    )
    assert row["state"] == "done" and row["embedded_count"] == row["chunk_count"] > 0
    assert not await pool.fetchval(
        "SELECT count(*) FROM chunks WHERE document_id = $1 AND embedding IS NULL", doc
    )
    assert await pool.fetchval("SELECT status FROM documents WHERE id = $1", doc) == "completed"


async def test_the_sweep_leaves_a_vector_index_being_built_to_its_builder(
    own: tuple[Settings, asyncpg.Pool],
) -> None:
    """The gateway builds a new version's vector index while the janitor's sweep looks
    at the same build: the sweep must not take the index in progress (not yet valid)
    for one a crash left behind and drop it, and neither side may fail."""
    _, pool = own
    version = await indexes.get(pool, await building(pool, 200))
    assert version is not None
    name = f"chunks_embedding_v{version.version}_idx"
    async with pool.acquire() as reader:
        old = reader.transaction(isolation="repeatable_read")  # the build waits for it
        await old.start()
        await reader.fetchval("SELECT count(*) FROM chunks")
        async with pool.acquire() as conn:
            built = asyncio.create_task(indexes.ensure_vector_index(conn, version))
            for _ in range(100):  # until the index exists, not yet valid
                if await pool.fetchval("SELECT count(*) FROM pg_class WHERE relname = $1", name):
                    break
                await asyncio.sleep(0.05)
            oid = await pool.fetchval("SELECT oid FROM pg_class WHERE relname = $1", name)
            async with pool.acquire() as other, pool.acquire() as third:
                # The sweep leaves it; a second start waits for it, then finds it built.
                await asyncio.wait_for(indexes.ensure_vector_index(other, version, False), 5)
                again = asyncio.create_task(indexes.ensure_vector_index(third, version))
                await asyncio.sleep(0.5)
                assert not again.done()
                await old.commit()
                await asyncio.wait_for(asyncio.gather(built, again), 30)
    valid = "SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = $1"
    assert await pool.fetchval(valid, oid) is True  # the same index, built once
