"""Embedder: a document's chunks in fair units, their vectors from the cache or the API.

``ChunksStored`` splits the job's chunks into units and queues what the windows
allow (``units``); each ``EmbedUnit`` embeds its chunks, stores them, marks the
unit done and queues the tenant's next units, in one transaction. The unit
that completes the job (exactly one) hands it to the janitor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg
import structlog

from services.embedder import completion, units
from services.embedder.api_requests import Batcher, Usage, Vector
from shared import indexes, jobs, tracing
from shared.db import Pool
from shared.embeddings import Embeddings, Model
from shared.errors import DocumentFailed
from shared.events import ChunksStored, EmbedUnit, Event, ProcessingFinished
from shared.indexes import IndexVersion
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
    index_versions: dict[int, IndexVersion] = field(default_factory=dict)
    """Index versions by number; a version's settings never change, so they are kept."""

    async def index_version(self, number: int) -> IndexVersion:
        if number not in self.index_versions:
            found = await indexes.get(self.pool, number)
            if found is None:
                raise DocumentFailed("index_version_missing", f"Index version {number} is gone.")
            self.index_versions[number] = found
        return self.index_versions[number]


async def handle(deps: Deps, event: ChunksStored | EmbedUnit, ctx: Context) -> Sequence[Event]:
    """Schedule a document's units, or embed one unit."""
    if isinstance(event, EmbedUnit):
        return await embed_unit(deps, event, ctx)
    return await schedule(deps, event, ctx)


async def schedule(deps: Deps, event: ChunksStored, ctx: Context) -> Sequence[Event]:
    """Split the job's chunks into units and queue the first ones the windows allow
    (a resume puts units whose events may be lost back in line)."""
    settings, doc, version = deps.settings, event.document_id, event.index_version
    job = await jobs.get(deps.pool, doc, version)
    tokens = [
        int(r[0])
        for r in await deps.pool.fetch(
            "SELECT token_count FROM chunks WHERE document_id = $1 AND index_version = $2"
            " ORDER BY ordinal",
            doc,
            version,
        )
    ]
    if job is None or not tokens:
        raise DocumentFailed("chunks_missing", "The document's chunks are gone; retry it.")
    unit_tokens = min(settings.embed_unit_tokens, settings.embeddings_batch_tokens)
    plan = units.plan(tokens, settings.embeddings_batch_inputs, unit_tokens)
    async with deps.pool.acquire() as conn, conn.transaction():
        await units.replan(conn, doc, version, job.lane, plan)
        queued = await _top_up(deps, conn, job.lane, event)
        done = await completion.progress(conn, doc, version)
    if done.document_done:  # a resume of a document whose last unit was done
        return [*_done_events(event, ctx, done), *queued]
    mine = any(unit.document_id == doc for unit in queued)
    step = f"Embedding {len(tokens)} chunks" if mine else "Waiting for the embedder"
    return [ctx.report(step, done.fraction, embedded_count=done.embedded), *queued]


async def embed_unit(deps: Deps, event: EmbedUnit, ctx: Context) -> Sequence[Event]:
    """Embed the unit's chunks that have no vector yet, then finish it."""
    doc, number = event.document_id, event.index_version
    unit = await completion.start(deps.pool, doc, number, event.unit_no)
    if unit is None:  # chunked anew since: the new plan was queued by its own event
        return await free_window(deps, event, ctx)
    rows = await deps.pool.fetch(
        "SELECT id, context, text, text_sha256, token_count FROM chunks"
        " WHERE document_id = $1 AND index_version = $2 AND ordinal BETWEEN $3 AND $4"
        " AND embedding IS NULL ORDER BY ordinal",
        doc,
        number,
        unit["first_ordinal"],
        unit["last_ordinal"],
    )
    usage = Usage()
    version = await deps.index_version(number)
    vectors, new = await _vectors(deps, version, rows, usage)
    async with deps.pool.acquire() as conn, conn.transaction():
        await _store(version.model, conn, rows, vectors, new)
        done = await completion.finish(conn, doc, number, event.unit_no)
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
    if not isinstance(event, EmbedUnit):
        return []  # a skipped ChunksStored queued nothing
    async with deps.pool.acquire() as conn, conn.transaction():
        return await _top_up(deps, conn, event.lane, event)


async def _top_up(deps: Deps, conn: asyncpg.Connection, lane: str, cause: Event) -> list[EmbedUnit]:
    s = deps.settings
    lane_window = s.reindex_window if lane == jobs.REBUILD_LANE else s.embed_tenant_window
    return await units.top_up(conn, lane, cause, units.Windows(s.embed_window, lane_window))


def _done_events(event: Event, ctx: Context, done: completion.Finished) -> list[Event]:
    return [
        ctx.report(f"Embedded {done.total} chunks", embedded_count=done.total),
        event.follow(ProcessingFinished, outcome="completed"),
    ]


async def _vectors(
    deps: Deps, version: IndexVersion, rows: Sequence[asyncpg.Record], usage: Usage
) -> tuple[dict[str, Vector], list[asyncpg.Record]]:
    """Vectors by text hash, from the cache or the API; the rows whose text was sent.

    The cache is keyed by model and dimensions, so a new index version with the same
    model pays only for texts it has not seen (a new chunk size changes most texts;
    a new model none of them is in the cache)."""
    model = version.model
    cached: dict[str, Vector] = {
        r["text_sha256"]: r["embedding"]
        for r in await deps.pool.fetch(
            "SELECT text_sha256, embedding FROM embedding_cache "
            "WHERE model = $1 AND dimensions = $2 AND text_sha256 = ANY($3::text[])",
            model.name,
            model.dimensions,
            [r["text_sha256"] for r in rows],
        )
    }
    # Texts in the cache are not sent; identical texts inside one unit are sent once.
    new = list({r["text_sha256"]: r for r in rows if r["text_sha256"] not in cached}.values())
    if new:
        tokens = sum(int(r["token_count"]) for r in new)
        texts = [embedded_text(r["context"], r["text"]) for r in new]
        vectors, usage.requests = await deps.batcher.embed(texts, tokens, model)
        cached.update({r["text_sha256"]: v for r, v in zip(new, vectors, strict=True)})
        usage.texts_embedded, usage.tokens_embedded = len(new), tokens
    usage.cache_hits = len(rows) - len(new)
    return cached, new


async def _store(
    model: Model,
    conn: asyncpg.Connection,
    rows: Sequence[asyncpg.Record],
    vectors: dict[str, Vector],
    new: Sequence[asyncpg.Record],
) -> None:
    with tracing.span("postgres store vectors", attributes={"docmesh.chunks": len(rows)}):
        if new:
            await conn.executemany(
                "INSERT INTO embedding_cache (model, dimensions, text_sha256, embedding) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                [
                    (model.name, model.dimensions, r["text_sha256"], vectors[r["text_sha256"]])
                    for r in new
                ],
            )
        await conn.executemany(
            "UPDATE chunks SET embedding = $2 WHERE id = $1",
            [(r["id"], vectors[r["text_sha256"]]) for r in rows],
        )
