"""Replace in place: a completed version takes over the document it replaces.

A version is a document row of its own (``documents.replaces`` names the one it
replaces) that runs through the pipeline like any upload, while the replaced
document's chunks keep answering searches. When the janitor finishes the version
as completed, in the same transaction, ``take_over`` deletes the replaced
document's pages, chunks (of every index version) and hashes and moves the
version's onto it: searches see the old content or the new, never neither or both.
The version row stays, completed and empty, as the record of the run its client
followed. A failed version changes nothing; a version whose file or text is the
document's own is a duplicate of it, and ends as "unchanged".
"""

from __future__ import annotations

import asyncpg

# What hangs off a document and moves with its content.
CONTENT_TABLES = ("chunks", "pages", "headings", "minhash_bands", "content_hashes", "embed_units")
FILE_COLUMNS = (
    "filename", "content_type", "file_size", "format", "file_sha256", "text_hash",
    "page_count", "ocr_pages", "similar_to", "minhash",
)  # fmt: skip


async def take_over(
    conn: asyncpg.Connection, version_id: str, counts: tuple[int | None, int]
) -> str | None:
    """Move a completed version's content (``counts``: its chunks and those embedded)
    onto the document it replaces; that document's id, or None when the version
    replaces none (or it was deleted)."""
    target = await conn.fetchval(
        "SELECT d.id::text FROM documents v JOIN documents d ON d.id = v.replaces"
        " WHERE v.id = $1 FOR UPDATE OF d",
        version_id,
    )
    if target is None:
        return None
    for table in CONTENT_TABLES:
        await conn.execute(f"DELETE FROM {table} WHERE document_id = $1", target)
        await conn.execute(
            f"UPDATE {table} SET document_id = $2 WHERE document_id = $1", version_id, target
        )
    # Job rows are keyed by the document's own job: the moved ones become its job's.
    await conn.execute("DELETE FROM document_indexes WHERE document_id = $1", target)
    await conn.execute(
        "UPDATE document_indexes SET document_id = $2,"
        " job_id = (SELECT job_id FROM documents WHERE id = $2) WHERE document_id = $1",
        version_id,
        target,
    )
    columns = ", ".join(f"{c} = v.{c}" for c in FILE_COLUMNS)
    # The counts are the finished job's: the version's own columns wait for the fold.
    await conn.execute(
        f"UPDATE documents d SET {columns}, chunk_count = $3, embedded_count = $4,"
        " finished_at = now() FROM documents v WHERE v.id = $1 AND d.id = $2",
        version_id,
        target,
        *counts,
    )
    return str(target)
