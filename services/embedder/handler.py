"""Embedder: a document's chunks in fair units, their vectors from the cache or the API.

``ChunksStored`` splits the document into units and queues what the windows
allow (``units``); each ``EmbedUnit`` embeds its chunks, stores them, marks the
unit done and queues the tenant's next units, in one transaction. The unit
that completes the document (exactly one) hands it to the janitor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import structlog

from services.embedder import units
from services.embedder.batcher import Batcher, Usage, Vector
from shared.db import Pool
from shared.embeddings import Embeddings
from shared.errors import DocumentFailed
from shared.events import ChunksStored, EmbedUnit, Event, ProcessingFinished
from shared.settings import Settings
from shared.text import embedded_text
from shared.worker import Context

log = structlog.get_logger()


@dataclass(frozen=True)
class Deps:
    settings: Settings
    pool: Pool
    embeddings: Embeddings
    batcher: Batcher


async def handle(deps: Deps, event: ChunksStored | EmbedUnit, ctx: Context) -> Sequence[Event]:
    """Schedule a document's units, or embed one unit."""
    if isinstance(event, EmbedUnit):
        return await embed_unit(deps, event, ctx)
    return await schedule(deps, event, ctx)


async def schedule(deps: Deps, event: ChunksStored, ctx: Context) -> Sequence[Event]:
    """Split the document's chunks into units and queue the first ones the windows allow
    (a re-drive puts units whose events may be lost back in line)."""
    settings, doc = deps.settings, event.document_id
    tokens = [
        int(r[0])
        for r in await deps.pool.fetch(
            "SELECT token_count FROM chunks WHERE document_id = $1 ORDER BY ordinal", doc
        )
    ]
    if not tokens:
        raise DocumentFailed("chunks_missing", "The document's chunks are gone; retry it.")
    unit_tokens = min(settings.embed_unit_tokens, settings.embeddings_batch_tokens)
    plan = units.plan(tokens, settings.embeddings_batch_inputs, unit_tokens)
    async with deps.pool.acquire() as conn, conn.transaction():
        tenant = await conn.fetchval("SELECT tenant FROM documents WHERE id = $1", doc)
        await units.replan(conn, doc, tenant, plan)
        queued = await _top_up(deps, conn, tenant, event)
        done = await units.progress(conn, doc)
    if done.document_done:  # a re-drive of a document whose last unit was done
        return [*_done_events(event, ctx, done), *queued]
    mine = any(unit.document_id == doc for unit in queued)
    step = f"Embedding {len(tokens)} chunks" if mine else "Waiting for the embedder"
    return [ctx.report(step, done.fraction, embedded_count=done.embedded), *queued]


async def embed_unit(deps: Deps, event: EmbedUnit, ctx: Context) -> Sequence[Event]:
    """Embed the unit's chunks that have no vector yet, then finish it."""
    doc = event.document_id
    unit = await units.start(deps.pool, doc, event.unit_no)
    if unit is None:  # chunked anew since: the new plan was queued by its own event
        return await free_window(deps, event, ctx)
    rows = await deps.pool.fetch(
        "SELECT id, context, text, text_sha256, token_count FROM chunks"
        " WHERE document_id = $1 AND ordinal BETWEEN $2 AND $3 AND embedding IS NULL"
        " ORDER BY ordinal",
        doc,
        unit["first_ordinal"],
        unit["last_ordinal"],
    )
    usage = Usage()
    vectors, new = await _vectors(deps, rows, usage)
    async with deps.pool.acquire() as conn, conn.transaction():
        await _store(deps, conn, rows, vectors, new)
        done = await units.finish(conn, doc, event.unit_no)
        queued = await _top_up(deps, conn, unit["tenant"], event)
    await ctx.streams.count("embedder", **vars(usage))
    if done.document_done:
        log.info("document_embedded", chunks=done.total)
        return [*_done_events(event, ctx, done), *queued]
    step = f"Embedded {done.embedded} of {done.total} chunks"
    return [ctx.report(step, done.fraction, embedded_count=done.embedded), *queued]


async def free_window(deps: Deps, event: Event, ctx: Context) -> Sequence[Event]:
    """A unit that will not be embedded (its document finished, was cancelled or chunked
    anew) frees its place: queue the tenant's next units."""
    tenant = event.tenant if isinstance(event, EmbedUnit) else ""
    tenant = tenant or await deps.pool.fetchval(
        "SELECT tenant FROM documents WHERE id = $1", event.document_id
    )
    if not tenant:
        return []
    async with deps.pool.acquire() as conn, conn.transaction():
        return await _top_up(deps, conn, tenant, event)


async def _top_up(
    deps: Deps, conn: asyncpg.Connection, tenant: str, cause: Event
) -> list[EmbedUnit]:
    s = deps.settings
    return await units.top_up(conn, tenant, cause, s.embed_window, s.embed_tenant_window)


def _done_events(event: Event, ctx: Context, done: units.Finished) -> list[Event]:
    return [
        ctx.report(f"Embedded {done.total} chunks", embedded_count=done.total),
        event.follow(ProcessingFinished, outcome="completed"),
    ]


async def _vectors(
    deps: Deps, rows: Sequence[asyncpg.Record], usage: Usage
) -> tuple[dict[str, Vector], list[asyncpg.Record]]:
    """Vectors by text hash, from the cache or the API; the rows whose text was sent."""
    model, dims = deps.embeddings.model, deps.embeddings.dimensions
    cached: dict[str, Vector] = {
        r["text_sha256"]: r["embedding"]
        for r in await deps.pool.fetch(
            "SELECT text_sha256, embedding FROM embedding_cache "
            "WHERE model = $1 AND dimensions = $2 AND text_sha256 = ANY($3::text[])",
            model,
            dims,
            [r["text_sha256"] for r in rows],
        )
    }
    # Texts in the cache are not sent; identical texts inside one unit are sent once.
    new = list({r["text_sha256"]: r for r in rows if r["text_sha256"] not in cached}.values())
    if new:
        tokens = sum(int(r["token_count"]) for r in new)
        texts = [embedded_text(r["context"], r["text"]) for r in new]
        vectors, usage.requests = await deps.batcher.embed(texts, tokens)
        cached.update({r["text_sha256"]: v for r, v in zip(new, vectors, strict=True)})
        usage.texts_embedded, usage.tokens_embedded = len(new), tokens
    usage.cache_hits = len(rows) - len(new)
    return cached, new


async def _store(
    deps: Deps,
    conn: asyncpg.Connection,
    rows: Sequence[asyncpg.Record],
    vectors: dict[str, Vector],
    new: Sequence[asyncpg.Record],
) -> None:
    model, dims = deps.embeddings.model, deps.embeddings.dimensions
    if new:
        await conn.executemany(
            "INSERT INTO embedding_cache (model, dimensions, text_sha256, embedding) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            [(model, dims, r["text_sha256"], vectors[r["text_sha256"]]) for r in new],
        )
    await conn.executemany(
        "UPDATE chunks SET embedding = $2 WHERE id = $1",
        [(r["id"], vectors[r["text_sha256"]]) for r in rows],
    )
