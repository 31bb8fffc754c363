"""The status fold against a real PostgreSQL: monotonic whatever the event order."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg
import msgspec
import pytest

from shared import status
from shared.events import Progress, new_id
from shared.stages import Status
from shared.status import advances, apply_progress

pytestmark = pytest.mark.integration


async def new_document(pool: asyncpg.Pool) -> str:
    doc = str(uuid.uuid4())
    await pool.execute(
        "INSERT INTO documents (id, upload_id, filename, content_type, file_size, object_key,"
        " upload_expires_at, status, job_id) VALUES ($1, $2, 'a.pdf', 'application/pdf', 1,"
        " 'k', $3, 'uploaded', $1)",
        doc,
        uuid.uuid4(),
        dt.datetime.now(dt.UTC),
    )
    return doc


def progress(doc: str, status: str, pct: int, **fields: object) -> Progress:
    """A progress event of the document's own job (its id is the document's here)."""
    return Progress(
        event_id=new_id(),
        document_id=doc,
        job_id=doc,
        status=status,
        progress=pct,
        step=f"{status} {pct}",
        **fields,
    )  # type: ignore[arg-type]


async def state(pool: asyncpg.Pool, doc: str) -> tuple[str, int]:
    row = await pool.fetchrow("SELECT status, progress FROM documents WHERE id = $1", doc)
    return row["status"], row["progress"]


async def test_progress_never_goes_back(pool: asyncpg.Pool) -> None:
    doc = await new_document(pool)
    assert await apply_progress(pool, progress(doc, "chunking", 40, page_count=3))
    assert not await apply_progress(pool, progress(doc, "extracting", 25))
    assert not await apply_progress(pool, progress(doc, "chunking", 36))
    assert await state(pool, doc) == ("chunking", 40)
    assert await apply_progress(pool, progress(doc, "embedding", 60, chunk_count=7))
    row = await pool.fetchrow("SELECT page_count, chunk_count FROM documents WHERE id = $1", doc)
    assert (row["page_count"], row["chunk_count"]) == (3, 7)


async def test_only_the_documents_own_job_moves_its_status(pool: asyncpg.Pool) -> None:
    doc = await new_document(pool)
    rebuild = msgspec.structs.replace(progress(doc, "chunking", 40), job_id=new_id())
    assert not await apply_progress(pool, rebuild)
    assert await state(pool, doc) == ("uploaded", 0)


async def test_terminal_states_are_final(pool: asyncpg.Pool) -> None:
    doc = await new_document(pool)
    assert await apply_progress(pool, progress(doc, "completed", 100))
    assert not await apply_progress(pool, progress(doc, "embedding", 70))
    assert not await apply_progress(pool, progress(doc, "failed", 0, error_code="x"))
    assert await state(pool, doc) == ("completed", 100)


async def test_failure_keeps_its_reason(pool: asyncpg.Pool) -> None:
    doc = await new_document(pool)
    await apply_progress(pool, progress(doc, "extracting", 10))
    await apply_progress(
        pool, progress(doc, "failed", 0, error_code="encrypted", error_message="locked")
    )
    row = await pool.fetchrow("SELECT * FROM documents WHERE id = $1", doc)
    assert (row["status"], row["progress"], row["error_code"]) == ("failed", 10, "encrypted")
    assert row["finished_at"] is not None


async def test_the_sql_fold_is_the_python_rule(pool: asyncpg.Pool) -> None:
    """Every pair of statuses, at lower, equal and higher progress: the row moves
    exactly when :func:`advances` says it may (the live stream uses the latter)."""
    cases = [
        (old, old_pct, new, new_pct)
        for old in Status
        for new in Status
        for old_pct, new_pct in ((50, 40), (50, 50), (50, 60))
    ]
    docs = [await new_document(pool) for _ in cases]
    await pool.executemany(
        "UPDATE documents SET status = $2, progress = $3 WHERE id = $1",
        [(doc, old, old_pct) for doc, (old, old_pct, _, _) in zip(docs, cases, strict=True)],
    )
    for doc, (old, old_pct, new, new_pct) in zip(docs, cases, strict=True):
        applied = await apply_progress(pool, progress(doc, new, new_pct))
        assert applied == advances(old, old_pct, new, new_pct), (old, old_pct, new, new_pct)


async def test_transitions_guard_themselves(pool: asyncpg.Pool) -> None:
    doc = await new_document(pool)
    job = doc  # the job whose progress ``progress`` sends
    await pool.execute(
        "UPDATE documents SET status = 'awaiting_upload', job_id = NULL WHERE id = $1", doc
    )
    assert await status.record_job(pool, doc, job, None) == job
    assert await status.record_job(pool, doc, str(uuid.uuid4()), None) is None  # lost race
    assert await status.resume_failed(pool, doc, Status.CHUNKING, "Retrying") is None  # not failed
    await apply_progress(pool, progress(doc, "failed", 0, error_code="x", error_message="m"))
    row = await status.resume_failed(pool, doc, Status.CHUNKING, "Retrying")
    assert row is not None and (row["status"], row["error_code"]) == ("chunking", None)
    assert await status.request_cancel(pool, doc)
    assert not await status.cancel_unstarted(pool, doc)  # it has a job: the janitor ends it
    await apply_progress(pool, progress(doc, "cancelled", 0))
    assert not await status.request_cancel(pool, doc)  # terminal
