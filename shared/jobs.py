"""Jobs: every run of a document into an index version, a row of ``document_indexes``.

A live upload and a rebuild are the same thing here. Each is a job of (document,
index version) with an id of its own; the stages chunk, embed and finish it the
same way, keyed by that id. They differ in one respect only: the document's own
job (``documents.job_id``) also drives the document's visible status, since the
status fold applies only its progress (``shared.status``), and the janitor
finishes the document when it ends. A rebuild's job (added by a reindex or a
missing job of the active version, ``shared.rebuild``) leaves the document as it is.

A live job gets its row when it is chunked, in the version active then; a
rebuild's row exists from the start, ``pending`` until the build feeds it. The
row goes ``chunked`` when its chunks are stored, then ``done`` (or ``failed``)
when the janitor records the job's end.

This module owns the rows' life; ``shared.rebuild`` owns which rows a build has.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog

from shared.db import Conn
from shared.status import TERMINAL_SQL, in_pipeline

log = structlog.get_logger()

INDEXED_SQL = f"""(d.status = 'completed' AND d.duplicate_of IS NULL
    OR {in_pipeline("d.status")}) AND EXISTS (SELECT 1 FROM pages p WHERE p.document_id = d.id)"""
"""Documents a version must hold: completed ones (not duplicates) and those in the
pipeline that have pages (a row of ``documents d``)."""

REBUILD_LANE = "*rebuild*"
"""The lane of rebuild jobs' units: a window of the embedder of their own, so that
live uploads keep their tenants' windows (a live job's lane is its tenant)."""


def open_sql(di: str, d: str) -> str:
    """SQL that is true while job row ``di`` of document row ``d`` still has work: the
    document's own job while the document is in the pipeline and not cancelling;
    another while its version is being built (or active: a missing job) and it has not
    failed."""
    return f"""CASE WHEN {d}.job_id = {di}.job_id
        THEN {d}.status NOT IN {TERMINAL_SQL} AND NOT {d}.cancel_requested
        ELSE {di}.state <> 'failed' AND EXISTS (SELECT 1 FROM index_versions v
             WHERE v.version = {di}.index_version AND v.state IN ('building', 'active'))
    END"""


@dataclass(frozen=True)
class Job:
    """What the stages need of a job."""

    document_id: str
    job_id: str
    index_version: int
    lane: str


async def get(conn: Conn, document_id: str, index_version: int) -> Job | None:
    """The job of the document's row of ``index_version``."""
    row = await conn.fetchrow(
        "SELECT job_id::text, lane FROM document_indexes"
        " WHERE document_id = $1 AND index_version = $2",
        document_id,
        index_version,
    )
    return None if row is None else Job(document_id, row[0], index_version, row[1])


async def chunked(
    conn: asyncpg.Connection, document_id: str, job_id: str, version: int, count: int
) -> None:
    """The job's ``count`` chunks of ``version`` are stored (called in the chunker's
    transaction): its row says so, and units come next.

    The document's own job creates its row here (taking over a rebuild's row of the
    same version, whose later events the guard then skips). A document chunked while
    another version is built also gets a row of the build, so that it lands in both.
    """
    await conn.execute(
        """
        INSERT INTO document_indexes (document_id, index_version, job_id, state, chunk_count,
                                      queued_at, lane, traceparent)
        SELECT d.id, $2, d.job_id, 'chunked', $4, d.queued_at, d.tenant, d.traceparent
        FROM documents d WHERE d.id = $1 AND d.job_id = $3
        ON CONFLICT (index_version, document_id) DO UPDATE SET
            job_id = EXCLUDED.job_id, state = 'chunked', chunk_count = EXCLUDED.chunk_count,
            queued_at = EXCLUDED.queued_at, lane = EXCLUDED.lane,
            traceparent = EXCLUDED.traceparent, error = NULL, updated_at = now()
        WHERE document_indexes.job_id <> EXCLUDED.job_id OR document_indexes.state <> 'done'
        """,
        document_id,
        version,
        uuid.UUID(job_id),
        count,
    )
    await conn.execute(
        "UPDATE document_indexes SET state = 'chunked', chunk_count = $4, updated_at = now()"
        " WHERE document_id = $1 AND index_version = $2 AND job_id = $3 AND state <> 'done'",
        document_id,
        version,
        uuid.UUID(job_id),
        count,
    )
    await conn.execute(
        "INSERT INTO document_indexes (document_id, index_version, job_id)"
        " SELECT $1, version, gen_random_uuid() FROM index_versions WHERE state = 'building'"
        " ON CONFLICT DO NOTHING",
        document_id,
    )


@dataclass(frozen=True)
class Ended:
    """A job's row as its end left it."""

    index_version: int
    chunk_count: int | None
    embedded_count: int


async def end(conn: Conn, job_id: str, outcome: str, error: str | None = None) -> Ended | None:
    """Record the job's end on its row (``done`` when it completed, else ``failed`` with
    ``error``); the row, or None when it has no open row."""
    row = await conn.fetchrow(
        "UPDATE document_indexes SET state = $2, error = $3, updated_at = now()"
        " WHERE job_id = $1 AND state <> 'done'"
        " RETURNING index_version, chunk_count, embedded_count",
        uuid.UUID(job_id),
        "done" if outcome == "completed" else "failed",
        None if outcome == "completed" else error,
    )
    if row is not None and outcome != "completed":
        log.warning("job_failed", index_version=row[0], error=error)
    return None if row is None else Ended(*row)


async def resume(conn: Conn, job_id: str) -> None:
    """A failed job resumed from the dead letters runs again (the document's own job
    has no row by then: the status resumes it, ``shared.status.resume_failed``)."""
    await conn.execute(
        "UPDATE document_indexes SET state = 'queued', error = NULL, queued_at = now(),"
        " updated_at = now() WHERE job_id = $1 AND state = 'failed'",
        uuid.UUID(job_id),
    )


async def move(conn: asyncpg.Connection, source: str, target: str) -> None:
    """``source``'s job rows become ``target``'s, whose own rows go (its content is
    replaced by ``source``'s): the row of ``source``'s own job becomes the row of
    ``target``'s own job; rebuild jobs keep their ids."""
    await conn.execute("DELETE FROM document_indexes WHERE document_id = $1", target)
    await conn.execute(
        """
        UPDATE document_indexes di SET document_id = t.id,
            job_id = CASE WHEN di.job_id = s.job_id THEN t.job_id ELSE di.job_id END,
            updated_at = now()
        FROM documents s, documents t
        WHERE s.id = $1 AND t.id = $2 AND di.document_id = s.id
        """,
        source,
        target,
    )


async def carry_forward(conn: asyncpg.Connection, document_ids: list[str]) -> None:
    """The documents' content changed (a replacement took over, an import restored
    them, an original's content was handed down): each version being built gets a
    fresh job for each of them, ``pending``, and what it had built of them goes. The
    rule that keeps a build complete whatever runs beside it: whatever adds or swaps
    a document's content calls this in the same transaction."""
    for version in await conn.fetch("SELECT version FROM index_versions WHERE state = 'building'"):
        number = version["version"]
        for table in ("chunks", "embed_units"):
            await conn.execute(
                f"DELETE FROM {table} WHERE document_id = ANY($1::uuid[]) AND index_version = $2",
                document_ids,
                number,
            )
        await conn.execute(
            """
            INSERT INTO document_indexes (document_id, index_version, job_id)
            SELECT d, $2, gen_random_uuid() FROM unnest($1::uuid[]) AS d
            ON CONFLICT (index_version, document_id) DO UPDATE SET
                job_id = gen_random_uuid(), state = 'pending', chunk_count = NULL,
                embedded_count = 0, embedded_by = NULL, queued_at = NULL, attempts = 0,
                error = NULL, lane = EXCLUDED.lane, traceparent = '', updated_at = now()
            """,
            document_ids,
            number,
        )


async def restored(conn: asyncpg.Connection, document_ids: list[str], version: int) -> None:
    """Imported documents whose chunks and vectors came with them: each one's own job
    (given it by ``shared.status.complete_imported``) is done in ``version``."""
    await conn.execute(
        """
        INSERT INTO document_indexes (document_id, index_version, job_id, state,
            chunk_count, embedded_count, lane)
        SELECT id, $2, job_id, 'done', chunk_count, chunk_count, tenant
        FROM documents WHERE id = ANY($1::uuid[])
        """,
        document_ids,
        version,
    )


async def drop(conn: asyncpg.Connection, document_id: str) -> None:
    """Every job row of a document that did not complete (its chunks go with them)."""
    await conn.execute("DELETE FROM document_indexes WHERE document_id = $1", document_id)


async def drop_version(conn: Conn, version: int) -> None:
    """Every job row of an index version being dropped."""
    await conn.execute("DELETE FROM document_indexes WHERE index_version = $1", version)


async def units_planned(conn: asyncpg.Connection, document_id: str, version: int) -> None:
    """The job's embedding units were planned anew: no unit has finished it yet."""
    await conn.execute(
        "UPDATE document_indexes SET embedded_by = NULL"
        " WHERE document_id = $1 AND index_version = $2",
        document_id,
        version,
    )


async def count_embedded(
    conn: asyncpg.Connection, document_id: str, version: int
) -> asyncpg.Record | None:
    """Record how many of the job's chunks have vectors: (embedded, chunk count)."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "UPDATE document_indexes SET embedded_count = (SELECT count(*) FROM chunks"
        " WHERE document_id = $1 AND index_version = $2 AND embedding IS NOT NULL),"
        " updated_at = now() WHERE document_id = $1 AND index_version = $2"
        " RETURNING embedded_count, chunk_count",
        document_id,
        version,
    )
    return row


async def finished_by(
    conn: asyncpg.Connection, document_id: str, version: int, unit_no: int
) -> None:
    """Unit ``unit_no`` is the one that finished the job's embedding (exactly one is)."""
    await conn.execute(
        "UPDATE document_indexes SET embedded_by = $3, updated_at = now()"
        " WHERE document_id = $1 AND index_version = $2",
        document_id,
        version,
        unit_no,
    )


async def add_missing(conn: Conn, version: int, completed_only: bool = False) -> int:
    """A job, ``pending``, for each document ``version`` lacks (completed ones, or also
    those in the pipeline that have pages, unless ``completed_only``); how many."""
    result = await conn.execute(
        f"""
        INSERT INTO document_indexes (document_id, index_version, job_id)
        SELECT d.id, $1, gen_random_uuid() FROM documents d
        WHERE {INDEXED_SQL} AND (NOT $2 OR d.status = 'completed') AND d.replaces IS NULL
          AND NOT EXISTS (SELECT 1 FROM document_indexes di
                          WHERE di.document_id = d.id AND di.index_version = $1)
        ON CONFLICT DO NOTHING
        """,
        version,
        completed_only,
    )
    return int(result.split()[-1])


async def queue_pending(conn: asyncpg.Connection, version: int, at_once: int) -> list[Any]:
    """Queue pending jobs of a build while fewer than ``at_once`` are at work; the rows
    queued (document, job, attempts)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('rebuild-feed', 0))")
    return list(
        await conn.fetch(
            """
            WITH busy AS (SELECT count(*) AS n FROM document_indexes
                          WHERE index_version = $1 AND state IN ('queued', 'chunked')),
            next AS (SELECT document_id FROM document_indexes
                     WHERE index_version = $1 AND state = 'pending'
                     ORDER BY updated_at, document_id
                     LIMIT greatest($2 - (SELECT n FROM busy), 0))
            UPDATE document_indexes di SET state = 'queued', queued_at = now(),
                   attempts = attempts + 1, updated_at = now()
            FROM next WHERE di.index_version = $1 AND di.document_id = next.document_id
            RETURNING di.document_id, di.job_id, di.attempts
            """,
            version,
            at_once,
        )
    )


_STALLED = """v.version = di.index_version AND v.state IN ('building', 'active')
    AND di.state IN ('queued', 'chunked') AND NOT EXISTS (SELECT 1 FROM documents d
        WHERE d.id = di.document_id AND d.job_id = di.job_id)
    AND di.updated_at < now() - make_interval(secs => $1)"""
"""Rebuild jobs at work that made no progress for ``$1`` seconds (a document's own job
is resumed by its status)."""


async def requeue_stalled(
    conn: asyncpg.Connection, stall_after_s: float, max_attempts: int
) -> list[Any]:
    """Rebuild jobs whose event was lost: queued again, or ``failed`` after
    ``max_attempts``; the rows queued again (with their index version)."""
    await conn.execute(
        "UPDATE document_indexes di SET state = 'failed', updated_at = now(),"
        " error = coalesce(error, 'The rebuild did not progress after repeated attempts.')"
        f" FROM index_versions v WHERE {_STALLED} AND di.attempts >= $2",
        stall_after_s,
        max_attempts,
    )
    return list(
        await conn.fetch(
            "UPDATE document_indexes di SET state = 'queued', queued_at = now(),"
            f" attempts = di.attempts + 1, updated_at = now() FROM index_versions v"
            f" WHERE {_STALLED}"
            " RETURNING di.document_id, di.job_id, di.attempts, di.index_version",
            stall_after_s,
        )
    )


async def queue_repairs(conn: asyncpg.Connection, version: int, limit: int) -> list[Any]:
    """A job, queued, for each completed document the active ``version`` lacks (a crash
    or a race could leave one unsearchable); the rows queued."""
    return list(
        await conn.fetch(
            """
            INSERT INTO document_indexes (document_id, index_version, job_id, state,
                                          queued_at, attempts)
            SELECT d.id, $1, gen_random_uuid(), 'queued', now(), 1 FROM documents d
            WHERE d.status = 'completed' AND d.duplicate_of IS NULL AND d.replaces IS NULL
              AND EXISTS (SELECT 1 FROM pages p WHERE p.document_id = d.id)
              AND NOT EXISTS (SELECT 1 FROM document_indexes di
                              WHERE di.document_id = d.id AND di.index_version = $1)
            LIMIT $2
            ON CONFLICT DO NOTHING
            RETURNING document_id, job_id, attempts
            """,
            version,
            limit,
        )
    )
