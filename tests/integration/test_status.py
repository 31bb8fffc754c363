"""The status fold against a real PostgreSQL: monotonic whatever the event order."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg
import pytest

from shared.events import Progress, new_id
from shared.status import apply_progress

pytestmark = pytest.mark.integration


async def new_document(pool: asyncpg.Pool) -> str:
    doc = str(uuid.uuid4())
    await pool.execute(
        "INSERT INTO documents (id, upload_id, filename, content_type, file_size, object_key,"
        " upload_expires_at, status) VALUES ($1, $2, 'a.pdf', 'application/pdf', 1, 'k', $3,"
        " 'uploaded')",
        doc,
        uuid.uuid4(),
        dt.datetime.now(dt.UTC),
    )
    return doc


def progress(doc: str, status: str, pct: int, **fields: object) -> Progress:
    return Progress(
        event_id=new_id(),
        document_id=doc,
        job_id=new_id(),
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
