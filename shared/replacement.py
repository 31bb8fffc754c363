"""Replacement: a new file for a document, run through the pipeline as a document row
of its own (``documents.replaces`` names the document), that takes over the
document's content when it completes.

Until then the document's chunks keep answering searches. When the janitor
finishes the replacement as completed, in the same transaction, ``take_over``
moves its pages, chunks (of every index version), hashes and job rows onto the
document: searches see the old content or the new, never neither or both. The
replacement's row stays, completed and empty, as the record of the run its
client followed. A failed replacement changes nothing; one whose file or text is
the document's own ends as "unchanged"; one whose content another document holds
makes the document a duplicate of that one.

The content being replaced does not simply go: completed copies of the document
(``duplicate_of`` it) relied on it, so it is handed down to the oldest copy, which
becomes the original the others point to. Every version being built gets fresh
jobs for what changed (``jobs.carry_forward``), so a build still ends.
"""

from __future__ import annotations

import asyncpg

from shared import jobs, status

CONTENT_TABLES = ("chunks", "pages", "headings", "minhash_bands", "content_hashes", "embed_units")
"""What hangs off a document and moves with its content."""
FILE_COLUMNS = (
    "filename", "content_type", "file_size", "format", "file_sha256", "text_hash",
    "page_count", "ocr_pages", "similar_to", "minhash",
)  # fmt: skip


async def lock_target(conn: asyncpg.Connection, document_id: str) -> None:
    """Lock the document a replacement replaces before the replacement's own row: the
    order ``DELETE`` takes them in (the document, then its replacements by cascade),
    so the two never wait for each other."""
    await conn.execute(
        "SELECT 1 FROM documents WHERE id = (SELECT replaces FROM documents WHERE id = $1)"
        " FOR UPDATE",
        document_id,
    )


async def take_over(
    conn: asyncpg.Connection,
    replacement: str,
    counts: tuple[int | None, int],
    duplicate_of: str | None = None,
) -> str | None:
    """Make a completed replacement's content (``counts``: its chunks and those
    embedded) the content of the document it replaces, or, when it turned out a
    ``duplicate_of`` another document, make the document a duplicate of that one;
    the document's id, or None when it was deleted."""
    target = await conn.fetchval(
        "SELECT d.id::text FROM documents r JOIN documents d ON d.id = r.replaces"
        " WHERE r.id = $1 FOR UPDATE OF d",
        replacement,
    )
    if target is None:
        return None
    heir = await hand_down(conn, target)
    for table in CONTENT_TABLES:
        await conn.execute(f"DELETE FROM {table} WHERE document_id = $1", target)
        await conn.execute(
            f"UPDATE {table} SET document_id = $2 WHERE document_id = $1", replacement, target
        )
    await jobs.move(conn, replacement, target)
    columns = ", ".join(f"{c} = r.{c}" for c in FILE_COLUMNS)
    # The counts are the finished job's: the replacement's own columns wait for the fold.
    await conn.execute(
        f"UPDATE documents d SET {columns}, chunk_count = $3, embedded_count = $4,"
        " duplicate_of = $5, finished_at = now() FROM documents r WHERE r.id = $1 AND d.id = $2",
        replacement,
        target,
        *((None, 0) if duplicate_of else counts),
        duplicate_of,
    )
    await jobs.carry_forward(conn, [target, *([heir] if heir else [])])
    return str(target)


async def hand_down(conn: asyncpg.Connection, original: str) -> str | None:
    """Give the content being replaced (or deleted) to the oldest completed copy of
    ``original``, which the other copies then point to; the heir's id, or None
    without copies. The caller holds ``original``'s row lock (taken first, as
    ``lock_target`` says)."""
    heir = await conn.fetchval(
        "SELECT id::text FROM documents WHERE duplicate_of = $1 AND status = 'completed'"
        " ORDER BY created_at, id LIMIT 1 FOR UPDATE",
        original,
    )
    if heir is None:
        return None
    for table in CONTENT_TABLES:
        await conn.execute(
            f"UPDATE {table} SET document_id = $2 WHERE document_id = $1", original, heir
        )
    await jobs.move(conn, original, heir)
    await conn.execute(
        "UPDATE documents SET duplicate_of = $2 WHERE duplicate_of = $1 AND id <> $2",
        original,
        heir,
    )
    await status.inherit(conn, heir, original)
    return str(heir)
