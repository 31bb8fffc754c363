"""Embedder: vectors for the document's chunks, from the cache or the embeddings API."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg
import structlog

from services.embedder.batching import batches
from shared.db import Pool
from shared.embeddings import Embeddings
from shared.events import ChunksStored, Event, ProcessingFinished
from shared.settings import Settings
from shared.stages import Status, within
from shared.status import is_finished
from shared.text import embedded_text
from shared.worker import Context, progress_event

log = structlog.get_logger()


@dataclass
class Counters:
    """What this process sent to the API and what the cache saved."""

    texts_embedded: int = 0
    tokens_embedded: int = 0
    cache_hits: int = 0


@dataclass(frozen=True)
class Deps:
    settings: Settings
    pool: Pool
    embeddings: Embeddings
    counters: Counters = field(default_factory=Counters)


async def handle(deps: Deps, event: ChunksStored, ctx: Context) -> Sequence[Event]:
    """Embed every chunk still without a vector (so a replay resumes, not restarts)."""
    if await is_finished(deps.pool, event.document_id):
        return []
    rows = await deps.pool.fetch(
        "SELECT id, context, text, text_sha256, token_count FROM chunks "
        "WHERE document_id = $1 AND embedding IS NULL ORDER BY ordinal",
        event.document_id,
    )
    total = event.chunk_count
    done = total - len(rows)
    await ctx.progress(
        Status.EMBEDDING,
        within(Status.EMBEDDING, done, total),
        f"Embedding {total} chunks",
        embedded_count=done,
    )
    settings = deps.settings
    for batch in batches(
        rows,
        lambda r: int(r["token_count"]),
        settings.embeddings_batch_inputs,
        settings.embeddings_batch_tokens,
    ):
        await _embed_batch(deps, event.document_id, batch)
        done += len(batch)
        await ctx.progress(
            Status.EMBEDDING,
            within(Status.EMBEDDING, done, total),
            f"Embedded {done} of {total} chunks",
            embedded_count=done,
        )
    log.info("document_embedded", chunks=total, **vars(deps.counters))
    return [
        progress_event(
            event, Status.EMBEDDING, 85, f"Embedded {total} chunks", embedded_count=total
        ),
        ProcessingFinished(
            event_id=event.child_id("finished"),
            document_id=event.document_id,
            job_id=event.job_id,
            outcome="completed",
        ),
    ]


async def _embed_batch(deps: Deps, document_id: str, batch: list[asyncpg.Record]) -> None:
    model, dims = deps.embeddings.model, deps.embeddings.dimensions
    hashes = [r["text_sha256"] for r in batch]
    cached = {
        r["text_sha256"]: r["embedding"]
        for r in await deps.pool.fetch(
            "SELECT text_sha256, embedding FROM embedding_cache "
            "WHERE model = $1 AND dimensions = $2 AND text_sha256 = ANY($3::text[])",
            model,
            dims,
            hashes,
        )
    }
    missing = [r for r in batch if r["text_sha256"] not in cached]
    # Identical texts inside one batch are sent once.
    unique = list({r["text_sha256"]: r for r in missing}.values())
    if unique:
        vectors = await deps.embeddings.embed(
            [embedded_text(r["context"], r["text"]) for r in unique], "passage"
        )
        fresh = {r["text_sha256"]: v for r, v in zip(unique, vectors, strict=True)}
        cached.update(fresh)
        deps.counters.texts_embedded += len(unique)
        deps.counters.tokens_embedded += sum(int(r["token_count"]) for r in unique)
    deps.counters.cache_hits += len(batch) - len(unique)
    async with deps.pool.acquire() as conn, conn.transaction():
        if unique:
            await conn.executemany(
                "INSERT INTO embedding_cache (model, dimensions, text_sha256, embedding) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                [(model, dims, r["text_sha256"], cached[r["text_sha256"]]) for r in unique],
            )
        await conn.executemany(
            "UPDATE chunks SET embedding = $2 WHERE id = $1",
            [(r["id"], cached[r["text_sha256"]]) for r in batch],
        )
        # Counts are facts of the database, not of the progress events.
        await conn.execute(
            "UPDATE documents SET embedded_count = (SELECT count(*) FROM chunks"
            " WHERE document_id = $1 AND embedding IS NOT NULL) WHERE id = $1",
            document_id,
        )
