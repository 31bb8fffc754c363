"""Embedder: vectors for the document's chunks, from the cache or the embeddings API."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import openai
import structlog

from services.embedder.batching import batches
from shared.db import Pool
from shared.embeddings import Embeddings
from shared.errors import DocumentFailed
from shared.events import ChunksStored, Event, ProcessingFinished
from shared.settings import Settings
from shared.text import embedded_text
from shared.worker import Context

log = structlog.get_logger()


@dataclass
class Usage:
    """What one batch sent to the API and what the cache saved (a result, not a store:
    the mesh-wide totals are the Redis hash that :meth:`Streams.count` adds to)."""

    texts_embedded: int = 0
    tokens_embedded: int = 0
    cache_hits: int = 0
    requests: int = 0


@dataclass(frozen=True)
class Deps:
    settings: Settings
    pool: Pool
    embeddings: Embeddings


async def handle(deps: Deps, event: ChunksStored, ctx: Context) -> Sequence[Event]:
    """Embed every chunk still without a vector (so a replay resumes, not restarts).

    Batches are bounded by inputs and tokens and run a few at a time; the
    progress moves as each one is stored.
    """
    rows = await deps.pool.fetch(
        "SELECT id, context, text, text_sha256, token_count FROM chunks "
        "WHERE document_id = $1 AND embedding IS NULL ORDER BY ordinal",
        event.document_id,
    )
    total, settings = event.chunk_count, deps.settings
    done = total - len(rows)
    await ctx.progress(f"Embedding {total} chunks", done / total, embedded_count=done)
    gate = asyncio.Semaphore(max(settings.embeddings_concurrency, 1))
    async with asyncio.TaskGroup() as group:
        for batch in batches(
            rows,
            lambda r: int(r["token_count"]),
            settings.embeddings_batch_inputs,
            settings.embeddings_batch_tokens,
        ):
            group.create_task(_embed_and_report(deps, ctx, total, batch, gate))
    log.info("document_embedded", chunks=total)
    return [
        ctx.report(f"Embedded {total} chunks", embedded_count=total),
        event.follow(ProcessingFinished, outcome="completed"),
    ]


async def _embed_and_report(
    deps: Deps, ctx: Context, total: int, batch: list[asyncpg.Record], gate: asyncio.Semaphore
) -> None:
    """One batch embedded and stored, its cost counted, the document's progress moved."""
    async with gate:
        usage, done = await _embed_batch(deps, ctx.event.document_id, batch)
    await ctx.streams.count("embedder", **vars(usage))
    await ctx.progress(f"Embedded {done} of {total} chunks", done / total, embedded_count=done)


async def _embed_batch(
    deps: Deps, document_id: str, batch: list[asyncpg.Record]
) -> tuple[Usage, int]:
    """Vectors for one batch, stored; what it cost and the document's embedded count."""
    usage = Usage()
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
    # Texts in the cache are not sent; identical texts inside one batch are sent once.
    unique = list({r["text_sha256"]: r for r in batch if r["text_sha256"] not in cached}.values())
    if unique:
        texts = [embedded_text(r["context"], r["text"]) for r in unique]
        vectors = await embed_splitting(deps.embeddings, texts, usage)
        cached.update({r["text_sha256"]: v for r, v in zip(unique, vectors, strict=True)})
        usage.texts_embedded += len(unique)
        usage.tokens_embedded += sum(int(r["token_count"]) for r in unique)
    usage.cache_hits += len(batch) - len(unique)
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
        done = await conn.fetchval(
            "UPDATE documents SET embedded_count = (SELECT count(*) FROM chunks"
            " WHERE document_id = $1 AND embedding IS NOT NULL) WHERE id = $1"
            " RETURNING embedded_count",
            document_id,
        )
    return usage, int(done or 0)


async def embed_splitting(
    embeddings: Embeddings, texts: list[str], usage: Usage
) -> list[list[float]]:
    """Embed ``texts``; a request refused as too large is split in halves and retried.

    Rate limits and server errors are retried inside the client, which honours
    ``Retry-After`` and backs off exponentially with jitter.
    """
    try:
        usage.requests += 1
        return await embeddings.embed(texts, "passage")
    except openai.APIStatusError as exc:
        if not _too_large(exc):
            if isinstance(exc, openai.BadRequestError):
                raise DocumentFailed(
                    "embedding_refused", f"The embeddings API refused the text: {exc}"
                ) from exc
            raise
        if len(texts) == 1:
            raise DocumentFailed(
                "too_large", "A chunk is larger than the embedding model accepts."
            ) from exc
    half = len(texts) // 2
    first = await embed_splitting(embeddings, texts[:half], usage)
    return [*first, *await embed_splitting(embeddings, texts[half:], usage)]


def _too_large(exc: openai.APIStatusError) -> bool:
    message = str(exc).lower()
    hints = ("too many tokens", "maximum context length", "too large", "too many inputs")
    return exc.status_code == 413 or any(hint in message for hint in hints)
