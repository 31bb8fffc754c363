"""Deleting documents so that nothing of them is left to find.

A document's rows (pages, chunks of every index version, headings, job rows,
embedding units, hashes) go with it by cascade. What does not hang off its row is
removed here as well:

- embedding-cache vectors of texts no other chunk has (a vector can be inverted
  back to text closely enough to matter);
- webhook deliveries about it, whose bodies hold its status view;
- its entries on every stream, dead letters included;
- its upload in S3 (the caller's part: ``ObjectStore.drop_upload``).

Logs at info level and span attributes carry ids, counts and timings, never a
document's names, metadata or text, so there is nothing of it to remove there.
The janitor's ``orphan_vectors`` sweep catches a vector cached by an embedder that
was mid-unit when its document was deleted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection

import asyncpg
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_random

from shared import collections, evaluations
from shared.db import Conn
from shared.storage import ObjectStore
from shared.streams import Streams

PAGE = 500


async def replacements_of(
    conn: asyncpg.Connection, document_ids: list[str]
) -> list[asyncpg.Record]:
    """The replacements of the documents (``shared.replacement``), which go with them: id,
    object_key and multipart_id of each, for their uploads and stream entries."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT id::text, object_key, multipart_id FROM documents WHERE replaces = ANY($1::uuid[])",
        document_ids,
    )
    return rows


async def delete_rows(conn: asyncpg.Connection, document_ids: list[str]) -> None:
    """The documents' rows and everything stored about them in PostgreSQL (in the
    caller's transaction; ``forget_similar`` follows its commit)."""
    await conn.execute(
        """
        DELETE FROM embedding_cache e
        USING (SELECT DISTINCT text_sha256 FROM chunks WHERE document_id = ANY($1::uuid[])) mine
        WHERE e.text_sha256 = mine.text_sha256 AND NOT EXISTS (
            SELECT 1 FROM chunks c
            WHERE c.text_sha256 = mine.text_sha256 AND NOT c.document_id = ANY($1::uuid[]))
        """,
        document_ids,
    )
    await conn.execute(
        "DELETE FROM webhook_deliveries WHERE document_id = ANY($1::uuid[])", document_ids
    )
    await conn.execute("DELETE FROM documents WHERE id = ANY($1::uuid[])", document_ids)


@retry(
    retry=retry_if_exception_type(asyncpg.DeadlockDetectedError),
    stop=stop_after_attempt(5),
    wait=wait_random(0.01, 0.2),
    reraise=True,
)
async def forget_similar(conn: Conn, document_ids: list[str]) -> None:
    """Take deleted documents' ids out of other documents' ``similar_to`` (after the
    deletion committed, in a statement of its own: it touches rows of any document,
    and holding them with the deletion's locks could deadlock with a replacement)."""
    await conn.execute(
        """
        UPDATE documents SET similar_to = (
            SELECT coalesce(jsonb_agg(e ORDER BY n), '[]'::jsonb)
            FROM jsonb_array_elements(similar_to) WITH ORDINALITY AS s(e, n)
            WHERE NOT (e ->> 'document_id') = ANY($1::text[]))
        WHERE similar_to @> ANY($2::jsonb[])
        """,
        document_ids,
        [json.dumps([{"document_id": d}]) for d in document_ids],
    )


async def delete_orphan_vectors(conn: asyncpg.Connection) -> int:
    """Cached vectors whose text no chunk has any more (a deleted document's, or a
    dropped index version's)."""
    result = await conn.execute(
        "DELETE FROM embedding_cache e WHERE NOT EXISTS"
        " (SELECT 1 FROM chunks c WHERE c.text_sha256 = e.text_sha256)"
    )
    return int(result.split()[-1])


async def delete_stream_entries(streams: Streams, document_ids: Collection[str]) -> int:
    """XDEL every entry about the documents, on every stream and the dead letters; how
    many went. Found through each document's record of its entries
    (``Streams.forget``), so the cost is the documents' entries, whatever the
    streams hold. A worker holding one of them finds no document and skips it."""
    return await streams.forget(list(document_ids))


async def delete_tenant(
    pool: asyncpg.Pool,
    store: ObjectStore,
    streams: Streams,
    tenant: str,
    progress: Callable[[int], None] = lambda _: None,
) -> dict[str, int]:
    """The tenant's keys and webhooks first, so that nothing is uploaded or sent while
    it runs, then every document of ``tenant`` as ``DELETE /documents/{id}`` deletes
    one (in batches, ``progress`` told the running count), then its collections and
    evaluation sets."""
    keys = await pool.execute("DELETE FROM api_keys WHERE tenant = $1", tenant)
    hooks = await pool.execute("DELETE FROM webhooks WHERE tenant = $1", tenant)
    deleted: list[str] = []
    while True:
        rows = await pool.fetch(
            "SELECT id::text, object_key, multipart_id FROM documents WHERE tenant = $1 LIMIT $2",
            tenant,
            PAGE,
        )
        if not rows:
            break
        for row in rows:
            await store.drop_upload(row["object_key"], row["multipart_id"])
        async with pool.acquire() as conn, conn.transaction():
            await delete_rows(conn, [r["id"] for r in rows])
        await forget_similar(pool, [r["id"] for r in rows])
        deleted += [r["id"] for r in rows]
        progress(len(deleted))
    entries = await delete_stream_entries(streams, deleted)
    shelves = await collections.delete_all(pool, tenant)
    sets = await evaluations.delete_all(pool, tenant)
    return {
        "documents": len(deleted),
        "collections": shelves,
        "evaluation_sets": sets,
        "stream_entries": entries,
        "api_keys": int(keys.split()[-1]),
        "webhooks": int(hooks.split()[-1]),
    }


async def forget_if_gone(conn: Conn, streams: Streams, document_id: str) -> bool:
    """A consumer that found no work for an event: if the event's document was deleted,
    delete what is left of it on the streams (an event a worker published while the
    deletion ran, this one included), so a deletion always ends with nothing of it.
    Whether it was gone."""
    if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM documents WHERE id = $1)", document_id):
        return False
    await delete_stream_entries(streams, [document_id])
    return True
