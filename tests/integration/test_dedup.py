"""Content-hash claims against a real PostgreSQL: one original, even under a race."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from services.deduplicator import handler as deduplicator
from services.deduplicator.handler import claim_hashes
from services.janitor import handler as janitor
from shared import status
from shared.events import DuplicatesChecked, Event, ProcessingFinished, TextExtracted, new_id
from shared.redis_client import RedisClient
from shared.settings import Settings
from shared.storage import ObjectStore
from shared.streams import Streams
from shared.worker import Context
from tests.integration.test_status import new_document

pytestmark = pytest.mark.integration


async def claim(pool: asyncpg.Pool, doc: str, hashes: list[str]) -> str | None:
    async with pool.acquire() as conn, conn.transaction():
        return await claim_hashes(conn, doc, hashes)


async def test_the_first_claimant_is_the_original(pool: asyncpg.Pool) -> None:
    h = uuid.uuid4().hex
    first, second = await new_document(pool), await new_document(pool)
    assert await claim(pool, first, [f"file:{h}", f"text:{h}"]) is None
    assert await claim(pool, first, [f"file:{h}", f"text:{h}"]) is None  # a replay
    assert await claim(pool, second, [f"file:other{h}", f"text:{h}"]) == first
    # The duplicate gave back its own file hash: a third copy names the original.
    third = await new_document(pool)
    assert await claim(pool, third, [f"file:other{h}", f"text:x{h}"]) is None


async def test_concurrent_copies_find_one_original(pool: asyncpg.Pool) -> None:
    h = uuid.uuid4().hex
    docs = [await new_document(pool) for _ in range(4)]
    results = await asyncio.gather(*(claim(pool, d, [f"file:{h}", f"text:{h}"]) for d in docs))
    originals = [d for d, r in zip(docs, results, strict=True) if r is None]
    assert len(originals) == 1
    assert all(r == originals[0] for r in results if r is not None)


async def test_tenants_do_not_see_each_others_copies(pool: asyncpg.Pool) -> None:
    h = uuid.uuid4().hex
    mine, theirs = await new_document(pool), await new_document(pool)
    await pool.execute("UPDATE documents SET tenant = 'other' WHERE id = $1", theirs)
    assert await claim(pool, mine, [f"file:{h}"]) is None
    assert await claim(pool, theirs, [f"file:{h}"]) is None  # an original in its tenant


async def running(pool: asyncpg.Pool, status: str) -> tuple[str, str]:
    """A document of a job at ``status`` with a page of text; its id and job."""
    doc, job = await new_document(pool), str(uuid.uuid4())
    await pool.execute(
        "UPDATE documents SET job_id = $2, status = $3 WHERE id = $1", doc, job, status
    )
    await pool.execute(
        "INSERT INTO pages (document_id, page_no, text) VALUES ($1, 1, 'Same words.')", doc
    )
    return doc, job


def extracted(doc: str, job: str, h: str) -> TextExtracted:
    return TextExtracted(
        event_id=new_id(),
        document_id=doc,
        job_id=job,
        page_count=1,
        char_count=11,
        file_sha256=h,
        text_hash=h,
    )


@pytest.mark.parametrize("outcome", ["failed", "completed"])
async def test_a_copy_of_a_document_in_flight_waits_for_its_end(
    settings: Settings, pool: asyncpg.Pool, store: ObjectStore, redis: RedisClient, outcome: str
) -> None:
    """A copy is a duplicate only of a completed document: it waits while the original
    runs, then is its duplicate, or takes its place when the original fails."""
    h, streams = uuid.uuid4().hex, Streams(redis, settings.stream_prefix)
    dedup = deduplicator.Deps(settings, pool)
    original, first_job = await running(pool, "checking_duplicates")
    first = extracted(original, first_job, h)
    assert any(isinstance(e, DuplicatesChecked) for e in await run(dedup, first, streams))
    await pool.execute("UPDATE documents SET status = 'embedding' WHERE id = $1", original)
    copy, copy_job = await running(pool, "checking_duplicates")
    waiting = await run(dedup, extracted(copy, copy_job, h), streams)
    assert not any(isinstance(e, ProcessingFinished | DuplicatesChecked) for e in waiting)
    assert await pool.fetchval("SELECT waiting_for::text FROM documents WHERE id = $1", copy) == (
        original
    )
    # Waiting is not stalling, while the original is in the pipeline.
    await pool.execute(
        "UPDATE documents SET updated_at = now() - interval '2 hours' WHERE id = $1", copy
    )
    assert copy not in [str(r["id"]) for r in await status.count_stalled(pool, 60)]
    # The original ends: its end resumes the copy.
    end = ProcessingFinished(
        event_id=new_id(), document_id=original, job_id=first_job, outcome=outcome
    )
    out = await janitor.handle(janitor.Deps(settings, pool, store), end, Context(streams, end))
    (again,) = [e for e in out if isinstance(e, TextExtracted)]
    assert again.document_id == copy and again.job_id == copy_job
    after = await run(dedup, again, streams)
    if outcome == "completed":
        (finished,) = [e for e in after if isinstance(e, ProcessingFinished)]
        assert finished.outcome == "duplicate" and finished.duplicate_of == original
    else:  # the copy is the original now: processed in full, with chunks of its own
        assert any(isinstance(e, DuplicatesChecked) for e in after)


async def run(deps: deduplicator.Deps, event: TextExtracted, streams: Streams) -> list[Event]:
    return list(await deduplicator.handle(deps, event, Context(streams, event)))
