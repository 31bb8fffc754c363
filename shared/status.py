"""A document's status, owned here: every transition by name, and one fold.

Nothing else writes ``documents.status``. Workers and the janitor report
progress as events that :func:`apply_progress` folds into the row with a
monotonic rule (:func:`advances`, written once in Python and generated into
the SQL): a document never moves back to an earlier status, its progress
never decreases, and nothing changes once it reached a terminal state, so
redelivered or reordered events leave the row as it was. The other transitions
(recording a job, cancelling, resuming, expiring) are explicit steps an
operator or the gateway takes, each one statement with its own guard.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import asyncpg

from shared.db import Conn
from shared.events import Event, Progress
from shared.stages import ENDS, TERMINAL, Status, pipeline, rank


def sql_list(statuses: Sequence[str] | frozenset[str]) -> str:
    """``statuses`` as an SQL list of literals, in pipeline order: ``('a','b')``."""
    return "(" + ",".join(f"'{s}'" for s in pipeline().order if s in statuses) + ")"


TERMINAL_SQL = "(" + ",".join(f"'{s}'" for s in ENDS) + ")"
_IDLE_SQL = "(" + ",".join(f"'{s}'" for s in (Status.AWAITING_UPLOAD, *ENDS)) + ")"


def in_pipeline(column: str = "status") -> str:
    """SQL true for a document in the pipeline (a stage's, or waiting for the first): the
    same text whatever stages the table has, so partial indexes on it never change."""
    return f"{column} NOT IN {_IDLE_SQL}"


IN_PIPELINE = in_pipeline()


def advances(status: str, progress: int, new_status: str, new_progress: int) -> bool:
    """Whether a progress event may move a document from where it is.

    Not from a terminal state; never back in the pipeline order; within one
    status, never to less progress. :func:`_apply_sql` is this rule in SQL.
    """
    if status in TERMINAL or rank(new_status) < rank(status):
        return False
    return not (status == new_status and progress > new_progress)


@functools.cache
def _apply_sql(order: tuple[str, ...]) -> str:
    """The fold's statement for the stage table whose statuses are ``order``."""
    array = "ARRAY[" + ",".join(f"'{s}'" for s in order) + "]"
    fold = f"""status NOT IN {TERMINAL_SQL}
  AND array_position({array}, status) <= array_position({array}, $2::text)
  AND NOT (status = $2 AND progress > $3)"""
    return f"""
UPDATE documents SET
    status = $2,
    progress = GREATEST(progress, $3),
    current_step = $4,
    page_count = COALESCE($5, page_count),
    chunk_count = COALESCE($6, chunk_count),
    embedded_count = GREATEST(COALESCE($7, embedded_count), embedded_count),
    error_code = COALESCE($8, error_code),
    error_message = COALESCE($9, error_message),
    duplicate_of = COALESCE($10::uuid, duplicate_of),
    stage_started = CASE WHEN stage_started ? $2 THEN stage_started
                         ELSE stage_started || jsonb_build_object($2::text, now()) END,
    stage_seconds = CASE WHEN status <> $2 AND stage_started ? status
                         THEN stage_seconds || jsonb_build_object(status, round(extract(epoch
                              FROM now() - (stage_started ->> status)::timestamptz)::numeric, 3))
                         ELSE stage_seconds END,
    started_at = COALESCE(started_at, CASE WHEN $2 <> '{Status.UPLOADED}' THEN now() END),
    finished_at = COALESCE(finished_at, CASE WHEN $2 IN {TERMINAL_SQL} THEN now() END),
    updated_at = now()
WHERE id = $1::uuid AND job_id = $11::uuid AND {fold}
"""


def progress_event(
    parent: Event, status: str, progress: int, step: str, **fields: int | str | None
) -> Progress:
    """A progress event caused by ``parent`` (its id derived from the parent's)."""
    return parent.follow(
        Progress,
        f"progress:{status}:{progress}:{step}",
        status=str(status),
        progress=progress,
        step=step,
        **fields,
    )


async def apply_progress(conn: Conn, event: Progress) -> bool:
    """Fold ``event`` into its document's status; False when it was stale, or of a job
    that does not drive the document (a rebuild's, an earlier run's)."""
    result = await conn.execute(
        _apply_sql(pipeline().order),
        event.document_id,
        event.status,
        event.progress,
        event.step,
        event.page_count,
        event.chunk_count,
        event.embedded_count,
        event.error_code,
        event.error_message,
        event.duplicate_of,
        event.job_id,
    )
    return bool(result == "UPDATE 1")


async def finish(conn: asyncpg.Connection, final: Progress) -> bool:
    """The janitor's last word on a document: its terminal status, the upload marked
    deleted (the janitor deletes it once this commits; the orphan sweep covers a
    crash in between)."""
    await conn.execute(
        "UPDATE documents SET object_deleted = true WHERE id = $1", final.document_id
    )
    return await apply_progress(conn, final)


async def register_upload(conn: Conn, **row: Any) -> None:
    """A presigned upload: the document exists, ``awaiting_upload``."""
    columns = ", ".join(row)
    values = ", ".join(f"${n}" for n in range(1, len(row) + 1))
    await conn.execute(
        f"INSERT INTO documents ({columns}, status) VALUES ({values}, '{Status.AWAITING_UPLOAD}')",
        *row.values(),
    )


async def register_attachment(
    conn: Conn, row: dict[str, Any], job_id: str, refused: tuple[str, str] | None
) -> bool:
    """An e-mail's attachment (``shared.service_layer.attachments``), a document of its
    own: ``uploaded`` as job ``job_id``, or ``failed`` with ``refused`` (its code and
    message); False when it was recorded before."""
    code, message = refused or (None, None)
    columns = ", ".join(row)
    marks = ", ".join(f"${n}" for n in range(5, len(row) + 5))
    added = await conn.fetchval(
        f"""
        INSERT INTO documents ({columns}, job_id, status, current_step, error_code,
            error_message, object_deleted, queued_at, finished_at, stage_started)
        VALUES ({marks}, $1, CASE WHEN $2::text IS NULL THEN '{Status.UPLOADED}'
            ELSE '{Status.FAILED}' END, CASE WHEN $2 IS NULL THEN 'Waiting for a worker'
            ELSE 'Failed' END, $2, $3, $2 IS NOT NULL, now(), CASE WHEN $2 IS NOT NULL
            THEN now() END, jsonb_build_object($4::text, now()))
        ON CONFLICT (id) DO NOTHING RETURNING id
        """,
        job_id,
        code,
        message,
        Status.UPLOADED if refused is None else Status.FAILED,
        *row.values(),
    )
    return added is not None


async def bytes_in_flight(conn: Conn, tenant: str) -> int:
    """Declared bytes of the tenant's uploads not finished yet (awaited or processing)."""
    held: int = await conn.fetchval(
        "SELECT coalesce(sum(file_size), 0)::bigint FROM documents WHERE tenant = $1"
        f" AND status NOT IN {TERMINAL_SQL}",
        tenant,
    )
    return held


async def record_job(
    conn: Conn,
    document_id: str,
    job_id: str,
    file_hash: str | None,
    fmt: str | None = None,
    traceparent: str = "",
) -> str | None:
    """The upload (whose bytes are ``fmt``) becomes job ``job_id``, ``uploaded``; None
    when another request recorded a job first (the document's ``job_id`` is that one),
    or the upload ended meanwhile (cancelled or expired: it stays so)."""
    won = await conn.fetchval(
        f"""
        UPDATE documents SET job_id = $2, file_hash = $3, status = '{Status.UPLOADED}',
               progress = 0, current_step = 'Waiting for a worker', queued_at = now(),
               updated_at = now(), stage_started = jsonb_build_object('{Status.UPLOADED}', now()),
               format = coalesce($4, format), traceparent = $5
        WHERE id = $1 AND job_id IS NULL AND status = '{Status.AWAITING_UPLOAD}' RETURNING job_id
        """,
        document_id,
        job_id,
        file_hash,
        fmt,
        traceparent,
    )
    return None if won is None else str(won)


async def unrecord_job(conn: Conn, document_id: str, job_id: str) -> None:
    """Undo :func:`record_job` when its first event could not be published, so that
    the client's retry records and publishes again."""
    await conn.execute(
        f"UPDATE documents SET job_id = NULL, status = '{Status.AWAITING_UPLOAD}'"
        f" WHERE id = $1 AND job_id = $2 AND status = '{Status.UPLOADED}'",
        document_id,
        job_id,
    )


async def cancel_unstarted(conn: Conn, document_id: str) -> bool:
    """Cancel a document with no job yet (nothing runs: it ends here)."""
    result = await conn.execute(
        f"UPDATE documents SET status = '{Status.CANCELLED}', current_step = 'Cancelled',"
        " object_deleted = true, finished_at = now(), updated_at = now()"
        f" WHERE id = $1 AND job_id IS NULL AND status NOT IN {TERMINAL_SQL}",
        document_id,
    )
    return bool(result == "UPDATE 1")


async def request_cancel(conn: Conn, document_id: str) -> bool:
    """Ask for a running document to stop at its next stage boundary."""
    result = await conn.execute(
        "UPDATE documents SET cancel_requested = true, current_step = 'Cancelling',"
        f" updated_at = now() WHERE id = $1 AND status NOT IN {TERMINAL_SQL}",
        document_id,
    )
    return bool(result == "UPDATE 1")


async def resume_failed(
    conn: Conn,
    document_id: str,
    resume_at: str,
    step: str,
    new_job: str | None = None,
    traceparent: str | None = None,
    job: str | None = None,
) -> asyncpg.Record | None:
    """Put a failed document back at ``resume_at`` (a retry, a resumed dead letter),
    with a fresh budget of resumes; the row, or None when it was not failed (or
    ``job`` is given and is not the document's: a rebuild's dead letter).

    A retry runs as ``new_job``: events still in flight from the failed run carry
    the old job id, and every stage skips them (``shared.guard``), so a late unit
    of the old run can neither embed into nor finish the new one.
    """
    row: asyncpg.Record | None = await conn.fetchrow(
        f"UPDATE documents SET status = $2, error_code = NULL, error_message = NULL,"
        " finished_at = NULL, cancel_requested = false, resumes = 0, current_step = $3,"
        " updated_at = now(), stage_started = '{}', stage_seconds = '{}',"
        " job_id = coalesce($4::uuid, job_id), embedded_count = 0,"
        " traceparent = coalesce($5, traceparent)"
        f" WHERE id = $1 AND status = '{Status.FAILED}'"
        " AND ($6::uuid IS NULL OR job_id = $6) RETURNING *",
        document_id,
        str(resume_at),
        step,
        new_job,
        traceparent,
        job,
    )
    return row


async def expire_uploads(conn: Conn, grace_s: float) -> list[str]:
    """Presigned uploads unused ``grace_s`` past their URL's expiry become ``expired``;
    the object keys to delete."""
    rows = await conn.fetch(
        f"""
        UPDATE documents SET status = '{Status.EXPIRED}', current_step = 'The upload URL expired',
               finished_at = now(), updated_at = now(), object_deleted = true
        WHERE status = '{Status.AWAITING_UPLOAD}'
          AND upload_expires_at < now() - make_interval(secs => $1)
        RETURNING object_key
        """,
        grace_s,
    )
    return [r["object_key"] for r in rows]


async def count_stalled(conn: Conn, stall_after_s: float) -> list[asyncpg.Record]:
    """Documents in the pipeline with no progress for ``stall_after_s``, each with one
    more resume counted (and its clock reset): the rows to resume or fail.

    A document waiting for the embedder is not stalled while its tenant's units
    get done and none of its own has been queued for that long, nor is a copy
    waiting for its original while the original is in the pipeline.
    """
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""
        UPDATE documents SET resumes = resumes + 1, updated_at = now()
        WHERE {IN_PIPELINE} AND job_id IS NOT NULL
          AND updated_at < now() - make_interval(secs => $1)
          AND NOT (status = '{Status.EMBEDDING}'
                   AND EXISTS (SELECT 1 FROM embed_units u WHERE u.tenant = documents.tenant
                               AND u.done_at > now() - make_interval(secs => $1))
                   AND NOT EXISTS (SELECT 1 FROM embed_units u WHERE u.document_id = documents.id
                                   AND u.state = 'queued'
                                   AND u.queued_at < now() - make_interval(secs => $1)))
          AND NOT EXISTS (SELECT 1 FROM documents o WHERE o.id = documents.waiting_for
                          AND {in_pipeline("o.status")})
        RETURNING *, (SELECT di.index_version FROM document_indexes di
                      WHERE di.document_id = documents.id AND di.job_id = documents.job_id)
                     AS index_version
        """,
        stall_after_s,
    )
    return rows


async def register_import(conn: Conn, row: dict[str, Any]) -> str | None:
    """A document from an archive (``shared.archive_import``), not started: ``row``'s
    columns; its id, or None when the deployment has a document of that id."""
    columns = ", ".join(row)
    marks = ", ".join(f"${n}" for n in range(1, len(row) + 1))
    added: str | None = await conn.fetchval(
        f"INSERT INTO documents ({columns}, object_key, object_deleted, status,"
        f" current_step) VALUES ({marks}, 'imported', true, '{Status.AWAITING_UPLOAD}',"
        " 'Importing') ON CONFLICT (id) DO NOTHING RETURNING id::text",
        *row.values(),
    )
    return added


async def complete_imported(conn: Conn, ids: list[str], version: int) -> None:
    """Imported documents whose chunks and vectors came with them: completed, each as a
    job of its own (the caller adds the job rows)."""
    await conn.execute(
        f"""
        UPDATE documents d SET job_id = gen_random_uuid(), status = '{Status.COMPLETED}',
            progress = 100, current_step = 'Imported', queued_at = now(), started_at = now(),
            finished_at = coalesce(finished_at, now()), updated_at = now(),
            chunk_count = n.chunks, embedded_count = n.chunks
        FROM (SELECT d2.id, count(c.id)::int AS chunks FROM documents d2
              LEFT JOIN chunks c ON c.document_id = d2.id AND c.index_version = $2
              WHERE d2.id = ANY($1::uuid[]) GROUP BY d2.id) n
        WHERE d.id = n.id
        """,
        ids,
        version,
    )


async def start_imported(conn: Conn, document_id: str, resume_at: str) -> asyncpg.Record | None:
    """An imported document put at ``resume_at`` as a new job (its vectors are
    rebuilt there); the row, for the event that starts it."""
    row: asyncpg.Record | None = await conn.fetchrow(
        "UPDATE documents SET job_id = gen_random_uuid(), status = $2, finished_at = NULL,"
        " current_step = 'Imported: indexing again', queued_at = now(), started_at = now(),"
        " updated_at = now() WHERE id = $1 RETURNING *",
        document_id,
        str(resume_at),
    )
    return row


async def inherit(conn: Conn, heir: str, original: str) -> None:
    """A completed copy takes over its original's content (the original's is being
    replaced, ``shared.replacement``): an original now, with the original's counts."""
    await conn.execute(
        """
        UPDATE documents h SET duplicate_of = NULL, chunk_count = o.chunk_count,
            embedded_count = o.embedded_count, minhash = o.minhash, similar_to = o.similar_to,
            current_step = 'Completed: holds the content its original had before that was'
                           ' replaced'
        FROM documents o WHERE h.id = $1 AND o.id = $2
        """,
        heir,
        original,
    )
