"""A retried document runs as a new job: events of the failed run still in flight
(a unit being embedded, its finishing event) change nothing in the new run."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import asyncpg
import pytest

from services.embedder import completion
from services.janitor.handler import Deps as JanitorDeps
from services.janitor.handler import handle as finish_document
from shared import status
from shared.events import EmbedUnit, Event, ProcessingFinished
from shared.guard import guarded
from shared.redis_client import RedisClient
from shared.settings import Settings
from shared.stages import Status
from shared.storage import ObjectStore
from shared.streams import Streams
from shared.worker import Context

pytestmark = pytest.mark.integration


async def failed_document(pool: asyncpg.Pool) -> tuple[str, str]:
    """A document that failed while embedding: its units dropped by the janitor."""
    doc, job = uuid.uuid4(), uuid.uuid4()
    await pool.execute(
        "INSERT INTO documents (id, upload_id, filename, content_type, file_size, object_key,"
        " upload_expires_at, tenant, status, job_id, chunk_count)"
        " VALUES ($1, $1, 'a.pdf', 'application/pdf', 1, 'k', now(), 'runs', 'failed', $2, 2)",
        doc,
        job,
    )
    return str(doc), str(job)


async def test_a_unit_of_the_failed_run_finishes_nothing(pool: asyncpg.Pool) -> None:
    doc, _ = await failed_document(pool)
    async with pool.acquire() as conn, conn.transaction():
        # Its rows were dropped with the failure.
        done = await completion.finish(conn, doc, 1, 1)
    assert not done.document_done
    assert not await pool.fetchval(
        "SELECT count(*) FROM document_indexes WHERE document_id = $1", doc
    )


async def test_events_of_the_failed_run_are_skipped_after_a_retry(
    pool: asyncpg.Pool, settings: Settings, store: ObjectStore, redis: RedisClient
) -> None:
    doc, old_job = await failed_document(pool)
    new_job = str(uuid.uuid4())
    row = await status.resume_failed(pool, doc, Status.CHECKING_DUPLICATES, "Retrying", new_job)
    assert row is not None and str(row["job_id"]) == new_job
    handled: list[Event] = []

    async def handler(event: EmbedUnit, ctx: Context) -> Sequence[Event]:
        handled.append(event)
        return []

    def unit(job: str) -> EmbedUnit:
        event_id = str(uuid.uuid4())
        return EmbedUnit(
            event_id=event_id, document_id=doc, job_id=job, unit_no=1, index_version=1, lane="runs"
        )

    stale = unit(old_job)
    ctx = Context(Streams(redis, settings.stream_prefix), stale)
    gate = guarded(pool, handler)
    assert await gate(stale, ctx) == [] and handled == []
    current = unit(new_job)
    await gate(current, ctx)
    assert handled == [current]

    stale_end = ProcessingFinished(
        event_id=str(uuid.uuid4()), document_id=doc, job_id=old_job, outcome="completed"
    )
    deps = JanitorDeps(settings, pool, store)
    assert await finish_document(deps, stale_end, ctx) == []
    still = await pool.fetchval("SELECT status FROM documents WHERE id = $1", doc)
    assert still == Status.CHECKING_DUPLICATES
