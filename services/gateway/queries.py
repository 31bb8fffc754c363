"""The gateway's reads and deletions of documents and chunks, one function each.

Status changes are not here: they are transitions of ``shared.status``.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import msgspec

from services.gateway.eta import RECENT
from services.gateway.status_reader import STATUS_FROM, STATUS_VIEW
from shared.db import Conn, Pool
from shared.fields import merged
from shared.locations import paged
from shared.status import IN_PIPELINE


async def document_row(pool: Pool, document_id: str, tenant: str) -> asyncpg.Record | None:
    """The tenant's document row (another tenant's document is not found)."""
    row: asyncpg.Record | None = await pool.fetchrow(
        "SELECT * FROM documents WHERE id = $1 AND tenant = $2", document_id, tenant
    )
    return row


async def job_of(pool: Pool, document_id: str) -> str:
    return str(await pool.fetchval("SELECT job_id FROM documents WHERE id = $1", document_id))


LIBRARY_FILTER_FROM = 8
"""The library query's first parameter number for its metadata filter's values."""


class Wanted(msgspec.Struct, frozen=True):
    """Which documents the library lists (None: any)."""

    status: str | None = None
    tag: str | None = None
    attachment_of: str | None = None
    """The e-mail they are attachments of."""
    collection: str | None = None
    """The collection they are in."""


async def status_page(
    pool: Pool,
    tenant: str,
    wanted: Wanted,
    page: tuple[int, int],
    metadata_filter: tuple[str, list[Any]] = ("true", []),
) -> tuple[list[str], int]:
    """Status views (JSON text), newest first, and how many match in all: those
    ``wanted``; ``page`` is (limit, offset); ``metadata_filter`` SQL over
    ``documents.metadata`` with its parameters numbered from ``$LIBRARY_FILTER_FROM``."""
    where, params = metadata_filter
    rows = await pool.fetch(
        RECENT + f"SELECT {STATUS_VIEW} AS body, count(*) OVER () AS total FROM {STATUS_FROM}"
        " WHERE tenant = $5 AND replaces IS NULL AND ($1::text IS NULL OR status = $1)"
        f" AND ($2::text IS NULL OR $2 = ANY(tags)) AND ({where})"
        " AND ($6::uuid IS NULL OR attachment_of = $6)"
        " AND ($7::uuid IS NULL OR id IN (SELECT document_id FROM collection_documents"
        "                                 WHERE collection_id = $7))"
        " ORDER BY created_at DESC, id LIMIT $3 OFFSET $4",
        wanted.status,
        wanted.tag,
        *page,
        tenant,
        wanted.attachment_of,
        wanted.collection,
        *params,
    )
    return [r["body"] for r in rows], rows[0]["total"] if rows else 0


CHUNK_FIELDS = ("ordinal", "text", "context", "page_start", "page_end", "token_count", "dimensions")


async def chunk_page(
    pool: Pool, document_id: str, limit: int, offset: int
) -> tuple[list[dict[str, object]], int, int | None]:
    """The document's chunks in order, how many it has in all, and their index version:
    the active one, or the document's own while only that holds it (its run is not
    through yet)."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        version = await conn.fetchval(
            """
            SELECT coalesce(
                (SELECT v.version FROM index_versions v WHERE v.state = 'active' AND EXISTS
                    (SELECT 1 FROM chunks c WHERE c.document_id = $1
                     AND c.index_version = v.version)),
                (SELECT di.index_version FROM document_indexes di JOIN documents d
                 ON d.id = di.document_id AND d.job_id = di.job_id WHERE d.id = $1))
            """,
            document_id,
        )
        rows = await conn.fetch(
            """
            SELECT id, ordinal, text, context, page_start, page_end, token_count,
                   vector_dims(embedding) AS dimensions, boxes::text, location::text,
                   count(*) OVER () AS total
            FROM chunks WHERE document_id = $1 AND index_version = $2
            ORDER BY ordinal LIMIT $3 OFFSET $4
            """,
            document_id,
            version,
            limit,
            offset,
        )
        total = (
            rows[0]["total"]
            if rows
            else await conn.fetchval(
                "SELECT count(*) FROM chunks WHERE document_id = $1 AND index_version = $2",
                document_id,
                version,
            )
        )
    items = [
        {
            "chunk_id": str(r["id"]),
            **{k: r[k] for k in CHUNK_FIELDS},
            "boxes": boxes(r["boxes"]),
            "location": location(r["location"], r["page_start"], r["page_end"]),
        }
        for r in rows
    ]
    return items, int(total), version


async def update_metadata(
    conn: asyncpg.Connection,
    document_id: str,
    patch: dict[str, Any] | None,
    tags: list[str] | None,
) -> None:
    """Apply a ``PATCH``: metadata merged (``shared.fields.merged``), tags replaced."""
    current = await conn.fetchval(
        "SELECT metadata::text FROM documents WHERE id = $1 FOR UPDATE", document_id
    )
    fresh = json.loads(current) if patch is None else merged(json.loads(current), patch)
    await conn.execute(
        # updated_at is the pipeline's clock (stall detection): not touched here.
        "UPDATE documents SET metadata = $2::jsonb, tags = coalesce($3, tags) WHERE id = $1",
        document_id,
        json.dumps(fresh),
        tags,
    )


def boxes(stored: str | None) -> list[dict[str, float]] | None:
    """A chunk's citation boxes as the API gives them (None: a format without pages)."""
    return None if stored is None else list(json.loads(stored))


def location(stored: str | None, page_start: int, page_end: int) -> dict[str, Any]:
    """A chunk's location as the API gives it: as stored, or (for chunks stored before
    locations were) its pages."""
    return json.loads(stored) if stored is not None else paged(page_start, page_end, "")


async def has_pages(pool: Pool, document_id: str) -> bool:
    """Whether the document's extracted text is still stored."""
    return bool(
        await pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pages WHERE document_id = $1)", document_id
        )
    )


IN_FLIGHT_SQL = IN_PIPELINE
"""Documents the pipeline holds (implies the predicate of ``documents_in_flight_idx``)."""


async def in_flight(pool: Conn, tenant: str) -> int:
    """How many of the tenant's documents are waiting or being processed."""
    count: int = await pool.fetchval(
        f"SELECT count(*) FROM documents WHERE tenant = $1 AND {IN_FLIGHT_SQL}", tenant
    )
    return count


async def extend_upload(pool: Pool, document_id: str, seconds: int, lifetime_s: int) -> float:
    """A multipart upload still under way is not expired while its client keeps asking
    for part URLs: its deadline moves to ``seconds`` from now, but never past
    ``lifetime_s`` after presign (a client cannot hold storage for ever). The seconds
    left until the deadline."""
    left: float = await pool.fetchval(
        "UPDATE documents SET upload_expires_at = least(greatest(upload_expires_at,"
        " now() + make_interval(secs => $2)), created_at + make_interval(secs => $3))"
        " WHERE id = $1 RETURNING extract(epoch FROM upload_expires_at - now())::float8",
        document_id,
        seconds,
        lifetime_s,
    )
    return left
