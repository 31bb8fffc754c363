"""Deduplicator: a document whose file or text was seen before is not embedded again;
one that is merely similar to others is processed, and says so."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from services.deduplicator.similarity import bands, signature, similarity
from shared.db import Pool
from shared.events import DuplicatesChecked, Event, ProcessingFinished, TextExtracted
from shared.settings import Settings
from shared.stages import IDLE, Status
from shared.worker import Context


@dataclass(frozen=True)
class Deps:
    settings: Settings
    pool: Pool


async def handle(deps: Deps, event: TextExtracted, ctx: Context) -> Sequence[Event]:
    """Pass a new document on to chunking, or finish it as a duplicate of the original."""
    await ctx.progress("Checking for duplicates")
    hashes = [f"file:{event.file_sha256}", f"text:{event.text_hash}"]
    async with deps.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE documents SET file_sha256 = $2, text_hash = $3, waiting_for = NULL"
            " WHERE id = $1",
            event.document_id,
            event.file_sha256,
            event.text_hash,
        )
        original, finished = await _original(conn, event.document_id, hashes)
        if original is not None and not finished:
            await conn.execute(
                "UPDATE documents SET waiting_for = $2 WHERE id = $1", event.document_id, original
            )
    if original is not None and not finished:
        # Its end resumes this document (resume.waiters): a duplicate then, or the
        # original itself if that one fails or is deleted.
        return [ctx.report("Waiting for the same content, uploaded earlier, to finish", 0.25)]
    if original is not None:
        return [
            ctx.report("Duplicate of an earlier document", duplicate_of=original),
            event.follow(ProcessingFinished, outcome="duplicate", duplicate_of=original),
        ]
    await ctx.progress("Looking for similar documents", 0.5)
    similar = await find_similar(deps, event.document_id)
    step = f"Similar to {len(similar)} documents" if similar else "No duplicate found"
    return [
        ctx.report(step),
        event.follow(DuplicatesChecked),
    ]


async def _original(
    conn: asyncpg.Connection, document_id: str, hashes: list[str]
) -> tuple[str | None, bool]:
    """The document that owns the content, and whether it is completed (only a
    completed document is an original).

    The owner's row is read under a share lock, so that its end (the janitor locks
    it for update) comes either before this reading or after the caller's waiting
    mark is committed, where the end finds it. An owner that failed meanwhile gave
    its hashes back: claimed again, they are this document's."""
    for _ in range(2):
        owner = await claim_hashes(conn, document_id, hashes)
        if owner is None:
            return None, False
        status = await conn.fetchval("SELECT status FROM documents WHERE id = $1 FOR SHARE", owner)
        if status == Status.COMPLETED:
            return owner, True
        if status not in IDLE:
            return owner, False
    return None, False  # pragma: no cover - an owner ends at most once


async def claim_hashes(conn: asyncpg.Connection, document_id: str, hashes: list[str]) -> str | None:
    """Claim ``hashes`` for the document; the id of the original if another owns one.

    Hashes are claimed within the document's tenant: tenants never see each
    other's documents, not even as duplicates. The primary key on
    ``content_hashes (tenant, hash)`` decides between two copies
    processed at the same time: the second insert waits for the first
    transaction and then finds its owner. A duplicate gives back what it
    claimed, so the original stays the only owner of its content.
    """
    tenant = await conn.fetchval("SELECT tenant FROM documents WHERE id = $1", document_id)
    inserted = await conn.fetch(
        "INSERT INTO content_hashes (tenant, hash, document_id)"
        " SELECT $3, unnest($1::text[]), $2 ON CONFLICT (tenant, hash) DO NOTHING RETURNING hash",
        hashes,
        document_id,
        tenant,
    )
    owner = await conn.fetchval(
        "SELECT document_id::text FROM content_hashes "
        "WHERE tenant = $3 AND hash = ANY($1::text[]) AND document_id <> $2 LIMIT 1",
        hashes,
        document_id,
        tenant,
    )
    if owner is not None and inserted:
        await conn.execute(
            "DELETE FROM content_hashes WHERE hash = ANY($1::text[]) AND document_id = $2",
            [r["hash"] for r in inserted],
            document_id,
        )
    return str(owner) if owner is not None else None


async def find_similar(deps: Deps, document_id: str) -> list[dict[str, object]]:
    """Documents whose MinHash estimate reaches the threshold; recorded in ``similar_to``.

    Candidates come from the LSH bands index, so the check does not scan
    every document.
    """
    pages = [
        r["text"]
        for r in await deps.pool.fetch(
            "SELECT text FROM pages WHERE document_id = $1 ORDER BY page_no", document_id
        )
    ]
    sig = await asyncio.to_thread(signature, pages)
    own = bands(sig)
    async with deps.pool.acquire() as conn, conn.transaction():
        candidates = await conn.fetch(
            f"""
            SELECT d.id::text AS id, d.minhash FROM documents d
            WHERE d.id IN (SELECT b.document_id FROM minhash_bands b
                           JOIN unnest($1::smallint[], $2::bigint[]) AS o(band, hash)
                             ON b.band = o.band AND b.hash = o.hash)
              AND d.id <> $3 AND d.status <> '{Status.FAILED}' AND d.minhash IS NOT NULL
              AND d.tenant = (SELECT tenant FROM documents WHERE id = $3)
              -- Not a replacement's own document (its content is what is replaced), nor
              -- a replacement (its content becomes its document's; its row stays empty).
              AND d.replaces IS NULL
              AND d.id IS DISTINCT FROM (SELECT replaces FROM documents WHERE id = $3)
            """,
            [b for b, _ in own],
            [h for _, h in own],
            document_id,
        )
        scored = sorted(
            ((similarity(sig, list(r["minhash"])), r["id"]) for r in candidates), reverse=True
        )
        similar: list[dict[str, object]] = [
            {"document_id": doc, "similarity": round(score, 3)}
            for score, doc in scored
            if score >= deps.settings.near_duplicate_threshold
        ]
        # MinHash values are unsigned 32-bit: they fit a bigint as they are.
        await conn.execute(
            "UPDATE documents SET minhash = $2, similar_to = $3::jsonb WHERE id = $1",
            document_id,
            sig,
            json.dumps(similar[:10]),
        )
        await conn.executemany(
            "INSERT INTO minhash_bands (band, hash, document_id) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING",
            [(band, value, document_id) for band, value in own],
        )
    return similar
