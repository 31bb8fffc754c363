"""Chunker: split the stored pages into contextual, token-bounded chunks of an index version."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from services.chunker.chunking import Chunk, TokenCounter, split
from shared import indexes, tracing
from shared import rebuild as rebuild_queue
from shared.db import Pool
from shared.errors import DocumentFailed
from shared.events import ChunksStored, DuplicatesChecked, Event
from shared.indexes import IndexVersion
from shared.settings import Settings
from shared.text import Heading
from shared.worker import Context


@dataclass(frozen=True)
class Deps:
    settings: Settings
    pool: Pool
    count_tokens: TokenCounter


async def handle(deps: Deps, event: DuplicatesChecked, ctx: Context) -> Sequence[Event]:
    """Store the document's chunks in the active version (replacing any from an earlier
    attempt), or, for a rebuild, in the version being built."""
    if event.rebuild:
        return await rebuild(deps, event)
    await ctx.progress("Splitting into chunks")
    version = await indexes.active(deps.pool)
    chunks = await _split(deps, event.document_id, version)
    await ctx.progress(f"Storing {len(chunks)} chunks", 0.75)
    async with deps.pool.acquire() as conn, conn.transaction():
        # Chosen again under the activation lock: a version that became active while
        # the pages were split gets the chunks (split again with its settings).
        if (current := await indexes.active_for_writing(conn)) != version:
            version, chunks = current, await _split(deps, event.document_id, current)
        await _store(conn, event.document_id, version.version, chunks)
        await conn.execute(
            "UPDATE documents SET chunk_count = $2, index_version = $3 WHERE id = $1",
            event.document_id,
            len(chunks),
            version.version,
        )
        await rebuild_queue.add_if_building(conn, event.document_id)
    return [
        ctx.report(f"Stored {len(chunks)} chunks", chunk_count=len(chunks)),
        event.follow(ChunksStored, chunk_count=len(chunks)),
    ]


async def rebuild(deps: Deps, event: DuplicatesChecked) -> Sequence[Event]:
    """Chunk the document's stored pages into the version being built. The document's
    status is not touched: it stays ``completed`` (or in its own run) meanwhile."""
    version = await indexes.get(deps.pool, event.rebuild)
    if version is None:
        return []
    chunks = await _split(deps, event.document_id, version)
    async with deps.pool.acquire() as conn, conn.transaction():
        await _store(conn, event.document_id, version.version, chunks)
        await rebuild_queue.chunked(conn, version.version, event.document_id, len(chunks))
    return [event.follow(ChunksStored, chunk_count=len(chunks), rebuild=version.version)]


async def _split(deps: Deps, document_id: str, version: IndexVersion) -> list[Chunk]:
    """The document's chunks under ``version``'s settings; fails a document that has
    no text or splits into more chunks than allowed."""
    doc = await deps.pool.fetchrow(
        "SELECT coalesce(nullif(title, ''), filename) AS title FROM documents WHERE id = $1",
        document_id,
    )
    if doc is None:
        raise DocumentFailed("not_found", "The document was deleted while it was processed.")
    pages = [
        r["text"]
        for r in await deps.pool.fetch(
            "SELECT text FROM pages WHERE document_id = $1 ORDER BY page_no", document_id
        )
    ]
    headings = [
        Heading(r["page_no"], r["page_offset"], r["level"], r["title"])
        for r in await deps.pool.fetch(
            "SELECT page_no, page_offset, level, title FROM headings WHERE document_id = $1"
            " ORDER BY ordinal",
            document_id,
        )
    ]
    chunks = await asyncio.to_thread(
        split,
        document_id,
        doc["title"],
        pages,
        deps.count_tokens,
        version.chunk_tokens,
        version.chunk_overlap_tokens,
        headings,
        version.version,
    )
    if not chunks:
        raise DocumentFailed("empty", "The document contains no text to index.")
    if len(chunks) > deps.settings.max_chunks:
        # Checked before anything is stored: embedding is the expensive part.
        raise DocumentFailed(
            "too_large",
            f"The document splits into {len(chunks):,} chunks; the limit is "
            f"{deps.settings.max_chunks:,}. Split it into smaller documents.",
        )
    return chunks


async def _store(
    conn: asyncpg.Connection, document_id: str, version: int, chunks: list[Chunk]
) -> None:
    """Upsert the version's chunks by (document, version, ordinal) and drop ordinals
    past the end.

    A replay produces the same chunks, so the rows (and any vectors already
    computed for unchanged text) stay as they were.
    """
    attributes = {"docmesh.chunks": len(chunks), "docmesh.index_version": version}
    with tracing.span("postgres store chunks", attributes=attributes):
        await conn.executemany(
            """
            INSERT INTO chunks (id, document_id, index_version, ordinal, text, context,
                                page_start, page_end, token_count, text_sha256, section)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            ON CONFLICT (document_id, index_version, ordinal) DO UPDATE SET
                text = EXCLUDED.text, context = EXCLUDED.context, section = EXCLUDED.section,
                page_start = EXCLUDED.page_start, page_end = EXCLUDED.page_end,
                token_count = EXCLUDED.token_count, text_sha256 = EXCLUDED.text_sha256,
                embedding = CASE WHEN chunks.text_sha256 = EXCLUDED.text_sha256
                                 THEN chunks.embedding END
            """,
            [
                (
                    c.id,
                    document_id,
                    version,
                    c.ordinal,
                    c.text,
                    c.context,
                    c.page_start,
                    c.page_end,
                    c.token_count,
                    c.text_sha256,
                    c.section,
                )
                for c in chunks
            ],
        )
        await conn.execute(
            "DELETE FROM chunks WHERE document_id = $1 AND index_version = $2 AND ordinal >= $3",
            document_id,
            version,
            len(chunks),
        )
