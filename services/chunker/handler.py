"""Chunker: split the stored pages into contextual, token-bounded chunks of an index version."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import msgspec

from services.chunker.boxes import PageGeometry
from services.chunker.chunking import Chunk, TokenCounter, split
from shared import indexes, jobs, tracing
from shared.db import Pool
from shared.errors import DocumentFailed
from shared.events import ChunksStored, DuplicatesChecked, Event
from shared.indexes import IndexVersion
from shared.locations import PagePlace
from shared.settings import Settings
from shared.text import Heading
from shared.worker import Context

PLACE = msgspec.json.Decoder(PagePlace)


@dataclass(frozen=True)
class Deps:
    settings: Settings
    pool: Pool
    count_tokens: TokenCounter


async def handle(deps: Deps, event: DuplicatesChecked, ctx: Context) -> Sequence[Event]:
    """Store the job's chunks in its version (replacing any from an earlier attempt):
    the one it names, or the one active when it is chunked."""
    await ctx.progress("Splitting into chunks")
    version = await _version(deps, event.index_version)
    chunks = await _split(deps, event.document_id, version)
    await ctx.progress(f"Storing {len(chunks)} chunks", 0.75)
    async with deps.pool.acquire() as conn, conn.transaction():
        # Chosen again under the activation lock: a version that became active while
        # the pages were split gets the chunks (split again with its settings).
        current = await _version(deps, event.index_version, conn)
        if current != version:
            version, chunks = current, await _split(deps, event.document_id, current)
        await _store(conn, event.document_id, version.version, chunks)
        await jobs.chunked(conn, event.document_id, event.job_id, version.version, len(chunks))
    return [
        ctx.report(f"Stored {len(chunks)} chunks", chunk_count=len(chunks)),
        event.follow(ChunksStored, chunk_count=len(chunks), index_version=version.version),
    ]


async def _version(deps: Deps, number: int, conn: asyncpg.Connection | None = None) -> IndexVersion:
    """Version ``number``, or the active one for 0 (read under the activation lock in
    ``conn``'s transaction, when given)."""
    if number:
        found = await indexes.get(conn or deps.pool, number)
        if found is None:
            raise DocumentFailed("index_version_missing", f"Index version {number} is gone.")
        return found
    if conn is None:
        return await indexes.active(deps.pool)
    return await indexes.active_for_writing(conn)


async def _split(deps: Deps, document_id: str, version: IndexVersion) -> list[Chunk]:
    """The document's chunks under ``version``'s settings; fails a document that has
    no text or splits into more chunks than allowed."""
    doc = await deps.pool.fetchrow(
        "SELECT coalesce(nullif(title, ''), filename) AS title FROM documents WHERE id = $1",
        document_id,
    )
    if doc is None:
        raise DocumentFailed("not_found", "The document was deleted while it was processed.")
    rows = await deps.pool.fetch(
        "SELECT text, width, height, spans::text, place::text FROM pages WHERE document_id = $1"
        " ORDER BY page_no",
        document_id,
    )
    pages = [r["text"] for r in rows]
    geometry = (
        [PageGeometry(r["width"], r["height"], json.loads(r["spans"])) for r in rows]
        if rows and all(r["spans"] is not None for r in rows)
        else None
    )
    places = (
        [PLACE.decode(r["place"]) for r in rows]
        if rows and all(r["place"] is not None for r in rows)
        else None
    )
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
        geometry,
        places,
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

    A redelivery produces the same chunks, so the rows (and any vectors already
    computed for unchanged text) stay as they were.
    """
    attributes = {"docmesh.chunks": len(chunks), "docmesh.index_version": version}
    with tracing.span("postgres store chunks", attributes=attributes):
        await conn.executemany(
            """
            INSERT INTO chunks (id, document_id, index_version, ordinal, text, context,
                                page_start, page_end, token_count, text_sha256, section, boxes,
                                location)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12::jsonb, $13::jsonb)
            ON CONFLICT (document_id, index_version, ordinal) DO UPDATE SET
                text = EXCLUDED.text, context = EXCLUDED.context, section = EXCLUDED.section,
                boxes = EXCLUDED.boxes, location = EXCLUDED.location,
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
                    None if c.boxes is None else json.dumps(c.boxes),
                    None if c.location is None else json.dumps(c.location, ensure_ascii=False),
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
