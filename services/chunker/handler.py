"""Chunker: split the stored pages into contextual, token-bounded chunks."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from services.chunker.chunking import Chunk, TokenCounter, split
from shared.db import Pool
from shared.errors import DocumentFailed
from shared.events import ChunksStored, DuplicatesChecked, Event
from shared.settings import Settings
from shared.text import Heading
from shared.worker import Context


@dataclass(frozen=True)
class Deps:
    settings: Settings
    pool: Pool
    count_tokens: TokenCounter


async def handle(deps: Deps, event: DuplicatesChecked, ctx: Context) -> Sequence[Event]:
    """Store the document's chunks (replacing any from an earlier attempt)."""
    await ctx.progress("Splitting into chunks")
    doc = await deps.pool.fetchrow(
        "SELECT coalesce(nullif(title, ''), filename) AS title FROM documents WHERE id = $1",
        event.document_id,
    )
    if doc is None:
        raise DocumentFailed("not_found", "The document was deleted while it was processed.")
    pages = [
        r["text"]
        for r in await deps.pool.fetch(
            "SELECT text FROM pages WHERE document_id = $1 ORDER BY page_no", event.document_id
        )
    ]
    headings = [
        Heading(r["page_no"], r["page_offset"], r["level"], r["title"])
        for r in await deps.pool.fetch(
            "SELECT page_no, page_offset, level, title FROM headings WHERE document_id = $1"
            " ORDER BY ordinal",
            event.document_id,
        )
    ]
    chunks = await asyncio.to_thread(
        split,
        event.document_id,
        doc["title"],
        pages,
        deps.count_tokens,
        deps.settings.chunk_tokens,
        deps.settings.chunk_overlap_tokens,
        headings,
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
    await ctx.progress(f"Storing {len(chunks)} chunks", 0.75)
    await _store(deps.pool, event.document_id, chunks)
    return [
        ctx.report(f"Stored {len(chunks)} chunks", chunk_count=len(chunks)),
        event.follow(ChunksStored, chunk_count=len(chunks)),
    ]


async def _store(pool: Pool, document_id: str, chunks: list[Chunk]) -> None:
    """Upsert chunks by (document, ordinal) and drop ordinals past the end.

    A replay produces the same chunks, so the rows (and any vectors already
    computed for unchanged text) stay as they were.
    """
    async with pool.acquire() as conn, conn.transaction():
        await conn.executemany(
            """
            INSERT INTO chunks (id, document_id, ordinal, text, context, page_start, page_end,
                                token_count, text_sha256, section)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            ON CONFLICT (document_id, ordinal) DO UPDATE SET
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
            "DELETE FROM chunks WHERE document_id = $1 AND ordinal >= $2", document_id, len(chunks)
        )
        await conn.execute(
            "UPDATE documents SET chunk_count = $2 WHERE id = $1", document_id, len(chunks)
        )
