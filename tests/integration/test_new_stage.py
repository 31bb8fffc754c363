"""A new stage is one row of the stage table and a handler.

A throwaway "classifier" between the chunker and the embedder, in a temporary
table, takes a document through the real chunker, embedder, janitor and status
fold: the event it passes on is routed by the table, its status takes its place
in the order the fold keeps, and its progress range is its row's. Nothing else
of the pipeline is told about it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator, Sequence

import asyncpg
import msgspec
import pytest

from services.chunker.__main__ import SPEC as CHUNKER
from services.embedder.__main__ import SPEC as EMBEDDER
from services.gateway.projector import spec as projector
from services.janitor.__main__ import SPEC as JANITOR
from shared import stages
from shared.events import ChunksStored, DuplicatesChecked, Event
from shared.guard import guarded
from shared.redis_client import RedisClient
from shared.settings import Settings
from shared.stages import Stage, stage
from shared.streams import Streams
from shared.worker import Context, Handler, WorkerSpec, consume

pytestmark = pytest.mark.integration

SEEN: list[str] = []


async def classify(event: ChunksStored, ctx: Context) -> Sequence[Event]:
    """The throwaway stage's handler: note the document, pass its chunks on."""
    SEEN.append(event.document_id)
    await ctx.progress("Classifying the chunks")
    return [
        ctx.report("Classified"),
        event.follow(
            ChunksStored, chunk_count=event.chunk_count, index_version=event.index_version
        ),
    ]


def classifier_spec(row: Stage, pool: asyncpg.Pool) -> WorkerSpec[ChunksStored]:
    @contextlib.asynccontextmanager
    async def lifespan(settings: Settings) -> AsyncIterator[Handler[ChunksStored]]:
        yield guarded(pool, classify)

    return WorkerSpec(row, lifespan)


def with_classifier() -> tuple[Stage, ...]:
    """The built-in table with the classifier's row between the chunker and the embedder
    (the chunker gives it half of its progress range)."""
    chunker = dataclasses.replace(stage("chunker"), progress=(35, 45))
    row = Stage("classifier", "classify", ChunksStored, "classifying", (45, 55), 2, "Classifying")
    built_in = stages.stages()
    at = built_in.index(stage("chunker"))
    return (*built_in[:at], chunker, row, *built_in[at + 1 :])


async def document(pool: asyncpg.Pool) -> tuple[str, str]:
    """A document whose duplicate check just passed, with a stored page."""
    doc, job = uuid.uuid4(), uuid.uuid4()
    await pool.execute(
        "INSERT INTO documents (id, upload_id, filename, content_type, file_size, object_key,"
        " upload_expires_at, job_id, status, tenant) VALUES ($1, $1, 'a.pdf', 'application/pdf',"
        " 1, $3, now(), $2, 'checking_duplicates', 'classified')",
        doc,
        job,
        f"temp/{doc}.pdf",
    )
    await pool.execute(
        "INSERT INTO pages (document_id, page_no, text) VALUES ($1, 1, $2)",
        doc,
        "A page about a stage added to the pipeline by one row of its table. " * 30,
    )
    return str(doc), str(job)


async def test_a_document_goes_through_a_stage_added_as_a_table_row(
    settings: Settings, pool: asyncpg.Pool, redis: RedisClient
) -> None:
    settings = msgspec.structs.replace(settings, stream_prefix=f"stage-{uuid.uuid4().hex[:8]}")
    doc, job = await document(pool)
    with stages.use(with_classifier()) as table:
        chunker, row = stage("chunker"), stage("classifier")
        specs = [
            WorkerSpec(chunker, CHUNKER.lifespan),
            classifier_spec(row, pool),
            EMBEDDER,
            JANITOR,
            projector(pool),
        ]
        stop = asyncio.Event()
        workers = [asyncio.create_task(consume(spec, settings, stop)) for spec in specs]
        try:
            checked = DuplicatesChecked(event_id=str(uuid.uuid4()), document_id=doc, job_id=job)
            await Streams(redis, settings.stream_prefix).publish(checked, after="deduplicator")
            async with asyncio.timeout(90):
                while await pool.fetchval(
                    "SELECT status FROM documents WHERE id = $1", doc
                ) not in {"completed", "failed"}:
                    await asyncio.sleep(0.1)
        finally:
            stop.set()
            await asyncio.gather(*workers)
        assert table.labels["classifying"] == "Classifying"
    done = await pool.fetchrow(
        "SELECT status, stage_seconds, stage_started, embedded_count, chunk_count FROM documents"
        " WHERE id = $1",
        doc,
    )
    # The janitor's sweeps may resume another test's stalled document on the same
    # database through the new stage too: this one must be among those it saw.
    assert done["status"] == "completed" and doc in SEEN
    assert done["embedded_count"] == done["chunk_count"] > 0
    started: dict[str, str] = msgspec.json.decode(done["stage_started"])
    assert sorted(started, key=started.__getitem__) == [
        "chunking",
        "classifying",
        "embedding",
        "completed",
    ]
    assert "classifying" in msgspec.json.decode(done["stage_seconds"])
    assert stages.pipeline().order == tuple(stages.Status)  # the built-in table is back
