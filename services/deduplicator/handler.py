"""Deduplicator: a document whose file or text was seen before is not embedded again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from shared.db import Pool
from shared.events import DuplicatesChecked, Event, ProcessingFinished, TextExtracted
from shared.stages import Status
from shared.status import is_finished
from shared.worker import Context, progress_event


@dataclass(frozen=True)
class Deps:
    pool: Pool


async def handle(deps: Deps, event: TextExtracted, ctx: Context) -> Sequence[Event]:
    """Pass a new document on to chunking, or finish it as a duplicate of the original."""
    if await is_finished(deps.pool, event.document_id):
        return []
    await ctx.progress(Status.CHECKING_DUPLICATES, 25, "Checking for duplicates")
    hashes = [f"file:{event.file_sha256}", f"text:{event.text_hash}"]
    async with deps.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE documents SET file_sha256 = $2, text_hash = $3 WHERE id = $1",
            event.document_id,
            event.file_sha256,
            event.text_hash,
        )
        original = await claim_hashes(conn, event.document_id, hashes)
    if original is None:
        return [
            progress_event(event, Status.CHECKING_DUPLICATES, 35, "No duplicate found"),
            DuplicatesChecked(
                event_id=event.child_id("duplicates_checked"),
                document_id=event.document_id,
                job_id=event.job_id,
            ),
        ]
    return [
        progress_event(
            event,
            Status.CHECKING_DUPLICATES,
            35,
            "Duplicate of an earlier document",
            duplicate_of=original,
        ),
        ProcessingFinished(
            event_id=event.child_id("finished"),
            document_id=event.document_id,
            job_id=event.job_id,
            outcome="duplicate",
            duplicate_of=original,
        ),
    ]


async def claim_hashes(conn: asyncpg.Connection, document_id: str, hashes: list[str]) -> str | None:
    """Claim ``hashes`` for the document; the id of the original if another owns one.

    The primary key on ``content_hashes.hash`` decides between two copies
    processed at the same time: the second insert waits for the first
    transaction and then finds its owner. A duplicate gives back what it
    claimed, so the original stays the only owner of its content.
    """
    inserted = await conn.fetch(
        "INSERT INTO content_hashes (hash, document_id) SELECT unnest($1::text[]), $2 "
        "ON CONFLICT (hash) DO NOTHING RETURNING hash",
        hashes,
        document_id,
    )
    owner = await conn.fetchval(
        "SELECT document_id::text FROM content_hashes "
        "WHERE hash = ANY($1::text[]) AND document_id <> $2 LIMIT 1",
        hashes,
        document_id,
    )
    if owner is not None and inserted:
        await conn.execute(
            "DELETE FROM content_hashes WHERE hash = ANY($1::text[]) AND document_id = $2",
            [r["hash"] for r in inserted],
            document_id,
        )
    return str(owner) if owner is not None else None
