"""A unit's start and completion, and its job's with it.

Completion is recorded in the transaction that stores the unit's vectors; the
unit that finishes a document's chunks of a version is recorded too, so that
exactly one unit (and its redeliveries) says the document is done.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from shared import jobs


async def start(
    conn: asyncpg.Pool, document_id: str, version: int, unit_no: int
) -> asyncpg.Record | None:
    """The unit's chunk range and tenant, its start time recorded; None when the
    document was chunked anew (or deleted) since the unit was queued."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "UPDATE embed_units SET started_at = coalesce(started_at, now())"
        " WHERE document_id = $1 AND index_version = $2 AND unit_no = $3"
        " RETURNING first_ordinal, last_ordinal, tenant, state",
        document_id,
        version,
        unit_no,
    )
    return row


@dataclass(frozen=True)
class Finished:
    embedded: int
    """Chunks of the document (of the version) with a vector."""
    total: int
    """Chunks of the document (of the version)."""
    document_done: bool
    """This unit finished the document (its last unit to be done)."""

    @property
    def fraction(self) -> float:
        return self.embedded / self.total if self.total else 0.0


async def finish(
    conn: asyncpg.Connection, document_id: str, version: int, unit_no: int
) -> Finished:
    """Mark the unit done and tell whether it finished the job's chunks of the version:
    exactly one unit does (the row lock orders concurrent completions; a redelivery
    of the finishing unit finds itself recorded as the finisher and says so again)."""
    by = await conn.fetchval(
        "SELECT embedded_by FROM document_indexes"
        " WHERE document_id = $1 AND index_version = $2 FOR UPDATE",
        document_id,
        version,
    )
    await conn.execute(
        "UPDATE embed_units SET state = 'done', done_at = now()"
        " WHERE document_id = $1 AND index_version = $2 AND unit_no = $3 AND state <> 'done'",
        document_id,
        version,
        unit_no,
    )
    row = await jobs.count_embedded(conn, document_id, version)
    # Done only while the plan holds this unit: a unit whose rows were dropped
    # meanwhile (the document failed, or was chunked anew) finishes nothing.
    all_done = row is not None and await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM embed_units WHERE document_id = $1"
        " AND index_version = $2 AND unit_no = $3) AND NOT EXISTS (SELECT 1 FROM embed_units"
        " WHERE document_id = $1 AND index_version = $2 AND state <> 'done')",
        document_id,
        version,
        unit_no,
    )
    embedded, total = (row[0] or 0, row[1] or 0) if row is not None else (0, 0)
    if all_done and by is None:
        await jobs.finished_by(conn, document_id, version, unit_no)
        by = unit_no
    return Finished(embedded, total, bool(all_done) and by == unit_no)


async def progress(conn: asyncpg.Connection, document_id: str, version: int) -> Finished:
    """Where the job's embedding of the version stands (done when its finishing unit
    is recorded and no unit is open: a resume after the finishing event was lost)."""
    row = await conn.fetchrow(
        "SELECT embedded_count, coalesce(chunk_count, 0), embedded_by IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM embed_units WHERE document_id = $1"
        " AND index_version = $2 AND state <> 'done') FROM document_indexes"
        " WHERE document_id = $1 AND index_version = $2",
        document_id,
        version,
    )
    return Finished(row[0], row[1], row[2]) if row is not None else Finished(0, 0, False)
