"""The janitor's sweeps and the dead-letter operations against the real servers."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import aiohttp
import asyncpg
import msgspec
import pytest
from prometheus_client import REGISTRY

from services.janitor.sweeps import Sweeper
from shared.dlq import list_dead, purge_dead, retry_dead
from shared.events import (
    DocumentUploaded,
    DuplicatesChecked,
    ProcessingFinished,
    Stream,
    decode,
    new_id,
)
from shared.group_reader import Entry, GroupReader
from shared.redis_client import RedisClient
from shared.settings import Settings
from shared.storage import ObjectStore
from shared.streams import Streams

pytestmark = pytest.mark.integration


async def document(pool: asyncpg.Pool, status: str, **columns: object) -> str:
    doc = str(uuid.uuid4())
    await pool.execute(
        "INSERT INTO documents (id, upload_id, filename, content_type, file_size, object_key,"
        " upload_expires_at, status, job_id) VALUES ($1, $2, 'a.pdf', 'application/pdf', 10,"
        " $3, $4, $5, $6)",
        doc,
        uuid.uuid4(),
        columns.get("object_key", f"temp/{uuid.uuid4()}.pdf"),
        columns.get("expires", dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)),
        status,
        None if status == "awaiting_upload" else uuid.uuid4(),
    )
    return doc


def sweeper(
    settings: Settings,
    pool: asyncpg.Pool,
    store: ObjectStore,
    redis: RedisClient,
    **overrides: object,
) -> Sweeper:
    return Sweeper(
        msgspec.structs.replace(settings, **overrides),
        pool,
        store,
        Streams(redis, settings.stream_prefix),
    )


def deletions(action: str) -> float:
    """The janitor's Prometheus counter for ``action``, in this process."""
    return REGISTRY.get_sample_value("docmesh_janitor_actions_total", {"action": action}) or 0.0


async def test_orphan_uploads_go_and_live_ones_stay(
    settings: Settings, pool: asyncpg.Pool, store: ObjectStore, redis: RedisClient
) -> None:
    live_key, orphan_key = store.temp_key(new_id(), "pdf"), store.temp_key(new_id(), "pdf")
    await document(pool, "awaiting_upload", object_key=live_key)
    for key in (live_key, orphan_key):
        await store._s3.put_object(Bucket=store.bucket, Key=key, Body=b"%PDF-1.7")
    before = deletions("orphans_deleted")
    report = await sweeper(settings, pool, store, redis, orphan_age_s=-60).all()
    assert report.orphans_deleted >= 1
    assert deletions("orphans_deleted") - before == report.orphans_deleted
    assert await store.size(orphan_key) is None
    assert await store.size(live_key) == 8
    await store.delete(live_key)


async def test_presigned_uploads_that_never_came_expire(
    settings: Settings, pool: asyncpg.Pool, store: ObjectStore, redis: RedisClient
) -> None:
    old = await document(
        pool, "awaiting_upload", expires=dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)
    )
    fresh = await document(pool, "awaiting_upload")
    assert await sweeper(settings, pool, store, redis).expire_uploads() >= 1
    statuses = dict(
        await pool.fetch(
            "SELECT id::text, status FROM documents WHERE id = ANY($1)",
            [uuid.UUID(old), uuid.UUID(fresh)],
        )
    )
    assert statuses == {old: "expired", fresh: "awaiting_upload"}


async def test_stalled_documents_are_redriven_then_failed(
    settings: Settings, pool: asyncpg.Pool, store: ObjectStore, redis: RedisClient
) -> None:
    doc = await document(pool, "chunking")
    await pool.execute(
        "UPDATE documents SET updated_at = now() - interval '1 hour' WHERE id = $1", doc
    )
    sweep = sweeper(settings, pool, store, redis, stall_after_s=600, max_resumes=1)
    streams = sweep.streams

    async def mine(stream: Stream) -> list[object]:
        return [
            e
            for _, f in await streams.entries(stream)
            if (e := decode(f[b"event"])).document_id == doc
        ]

    await sweep.reconcile()
    (resumed,) = await mine(Stream.CHUNK)
    assert isinstance(resumed, DuplicatesChecked)
    await sweep.reconcile()  # it made progress just now (the resume): nothing to do
    assert len(await mine(Stream.CHUNK)) == 1
    await pool.execute(
        "UPDATE documents SET updated_at = now() - interval '1 hour' WHERE id = $1", doc
    )
    await sweep.reconcile()
    (stalled,) = await mine(Stream.FINALIZE)
    assert isinstance(stalled, ProcessingFinished)
    assert (stalled.outcome, stalled.error_code) == ("failed", "stalled")
    assert "did not resume" in str(stalled.error_message)


async def test_streams_are_trimmed_below_what_groups_need(
    settings: Settings, pool: asyncpg.Pool, store: ObjectStore, redis: RedisClient
) -> None:
    sweep = sweeper(settings, pool, store, redis)
    streams = sweep.streams
    reader = GroupReader(streams, Stream.EXTRACT, "extractor", "extractor-1")
    await reader.ensure_group()
    events = [
        DocumentUploaded(
            event_id=new_id(),
            document_id=new_id(),
            job_id=new_id(),
            object_key="k",
            content_type="application/pdf",
            file_size=1,
        )
        for _ in range(6)
    ]
    await streams.publish(*events)
    read = await reader.new(4, 100)
    for entry in read[:2]:
        await reader.ack_and_publish(entry.id, [])
    # Two acked, two read but pending, two never read: only the acked may go.
    assert await sweep.trim_streams() >= 1
    left = [e for e, _ in await streams.entries(Stream.EXTRACT)]
    assert read[2].id in left and read[3].id in left and len(left) >= 4
    assert read[0].id not in left


async def test_idle_consumers_without_pending_entries_are_removed(
    settings: Settings, pool: asyncpg.Pool, store: ObjectStore, redis: RedisClient
) -> None:
    sweep = sweeper(settings, pool, store, redis, idle_consumer_s=0)
    gone = GroupReader(sweep.streams, Stream.CHUNK, "chunker", "chunker-gone")
    await gone.ensure_group()
    await sweep.streams.publish(
        DuplicatesChecked(event_id=new_id(), document_id=new_id(), job_id=new_id())
    )
    (entry,) = await gone.new(1, 10)
    await gone.ack_and_publish(entry.id, [])
    await asyncio.sleep(0.05)
    assert await sweep.remove_idle_consumers() >= 1
    names = {c["name"] for c in await redis.xinfo_consumers(gone.key, "chunker")}
    assert b"chunker-gone" not in names


async def test_dead_letters_are_listed_retried_and_purged(
    settings: Settings, pool: asyncpg.Pool, redis: RedisClient
) -> None:
    streams = Streams(redis, settings.stream_prefix)
    doc = await document(pool, "failed")
    await pool.execute("UPDATE documents SET error_code = 'dead_lettered' WHERE id = $1", doc)
    job = await pool.fetchval("SELECT job_id::text FROM documents WHERE id = $1", doc)
    event = DuplicatesChecked(event_id=new_id(), document_id=doc, job_id=job)
    reader = GroupReader(streams, Stream.CHUNK, "chunker", "chunker-1")
    await reader.ensure_group()
    await streams.publish(event)
    (entry,) = await reader.new(1, 100)
    await reader.dead_letter(entry, "RuntimeError: boom", [])
    await reader.dead_letter(Entry("0-1", None), "poison", [])
    listed = await list_dead(streams)
    assert {(d["document_id"], d["reason"]) for d in listed} == {
        (doc, "RuntimeError: boom"),
        (None, "poison"),
    }
    assert await retry_dead(streams, pool) == 1  # the poison entry cannot be replayed
    row = await pool.fetchrow("SELECT status, error_code FROM documents WHERE id = $1", doc)
    assert (row["status"], row["error_code"]) == ("chunking", None)
    (again,) = await reader.new(1, 100)
    assert again.payload is not None and decode(again.payload) == event
    (poison,) = [d["id"] for d in await list_dead(streams)]
    # By id: repeated and unknown ids are harmless, and a thousand are one round trip.
    assert await retry_dead(streams, pool, [poison, poison, "1-1"]) == 0
    assert await purge_dead(streams, ["1-1"] * 1000 + [poison, poison]) == 1
    assert await list_dead(streams) == []


async def test_a_presigned_url_used_again_after_processing_uploads_nothing_that_stays(
    settings: Settings, pool: asyncpg.Pool, store: ObjectStore, redis: RedisClient
) -> None:
    data = b"%PDF-1.7 replayed"
    finished_key, stranger_key = store.temp_key(new_id(), "pdf"), store.temp_key(new_id(), "pdf")
    url = await store.presign_put(finished_key, "application/pdf", 600, len(data))
    await document(pool, "completed", object_key=finished_key)
    # The document is done and its upload deleted; the same URL is PUT again.
    async with (
        aiohttp.ClientSession() as http,
        http.put(url, data=data, headers={"Content-Type": "application/pdf"}) as put,
    ):
        assert put.status == 200
    await store._s3.put_object(Bucket=store.bucket, Key=stranger_key, Body=data)
    assert await store.size(finished_key) == len(data)
    await sweeper(settings, pool, store, redis).orphans()
    assert await store.size(finished_key) is None  # at the next sweep, whatever its age
    assert await store.size(stranger_key) == len(data)  # unknown and young: kept for now
    await store.delete(stranger_key)
