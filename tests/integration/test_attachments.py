"""An e-mail's attachments recorded as documents (real PostgreSQL): within the tenant's
byte quota, the message's own bytes left out; a redelivered extraction records none
twice; an archive links imported attachments only to a message of the same tenant."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from shared import status
from shared.archive_import import import_archive
from shared.events import DocumentUploaded
from shared.redis_client import RedisClient
from shared.service_layer import attachments
from shared.service_layer.unit_of_work import UnitOfWork
from shared.settings import Settings
from shared.streams import Streams
from tests.archives import document, page, write_archive
from tests.integration.gateway import migrated_database

pytestmark = pytest.mark.integration


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    async with migrated_database(settings) as (_, pool):
        yield pool


async def _upload(pool: asyncpg.Pool, size: int, tenant: str = "acme") -> str:
    document_id = str(uuid.uuid4())
    await status.register_upload(
        pool, id=document_id, upload_id=str(uuid.uuid4()), filename="a.eml",
        content_type="message/rfc822", file_size=size, object_key=f"temp/{document_id}",
        upload_expires_at=dt.datetime.now(dt.UTC), tenant=tenant, tags=["mail"],
        metadata='{"box": "inbox"}',
    )  # fmt: skip
    await status.record_job(pool, document_id, str(uuid.uuid4()), None, "eml")
    return document_id


def _saved(message: DocumentUploaded, number: int, size: int) -> attachments.Saved:
    carried = attachments.Carried(
        str(number), f"{number}.txt", Path("-"), size, "txt", "text/plain"
    )
    document_id = str(uuid.uuid5(uuid.UUID(message.job_id), f"attachment:{number}"))
    return attachments.Saved(
        carried, document_id, str(uuid.uuid4()), str(uuid.uuid4()), f"temp/{number}", "0" * 64
    )


async def test_attachments_are_admitted_within_the_quota_once(pool: asyncpg.Pool) -> None:
    await _upload(pool, 100)  # another upload in flight holds 100 bytes
    message_id = await _upload(pool, 100)
    job = await pool.fetchval("SELECT job_id::text FROM documents WHERE id = $1", message_id)
    message = DocumentUploaded(
        event_id=str(uuid.uuid4()), document_id=message_id, job_id=job,
        object_key="temp/m", content_type="message/rfc822", file_size=100,
    )  # fmt: skip
    saved = [_saved(message, 1, 40), _saved(message, 2, 80)]
    for attempt in range(2):  # the second: a redelivered extraction
        async with UnitOfWork(pool) as uow:
            refused, failed = await attachments.admit(uow, 150, message, saved)
        # 100 + 40 fit in 150; 80 more do not. A redelivery records nothing again.
        assert refused == (["temp/2"] if attempt == 0 else [])
        assert failed == ([saved[1].document_id] if attempt == 0 else [])
        started = [e for e in uow.published if isinstance(e, DocumentUploaded)]
        assert [e.document_id for e in started] == [saved[0].document_id]  # not started yet
    rows = await pool.fetch(
        "SELECT id::text, status, error_code, attachment_of::text, tags, metadata, tenant"
        " FROM documents WHERE attachment_of IS NOT NULL ORDER BY filename"
    )
    assert [(r["status"], r["error_code"]) for r in rows] == [
        ("uploaded", None), ("failed", "quota_exceeded"),
    ]  # fmt: skip
    for row in rows:
        assert (row["attachment_of"], row["tags"], row["tenant"]) == (message_id, ["mail"], "acme")
        assert row["metadata"] == '{"box": "inbox"}'
    assert await attachments.depth(pool, rows[0]["id"]) == 1
    assert await attachments.depth(pool, message_id) == 0


async def test_an_archive_links_attachments_within_its_tenant(
    pool: asyncpg.Pool, settings: Settings, redis: RedisClient, tmp_path: Path
) -> None:
    foreign = await _upload(pool, 10, tenant="other")
    message = document(filename="a.eml", format="eml")
    # Sorted by id in the archive: an attachment may come before its message.
    attached = document(id="00000000-0000-4000-8000-000000000001", attachment_of=message["id"])
    stray = document(attachment_of=foreign)
    docs = [message, attached, stray]
    path = write_archive(
        tmp_path / "a.tar.gz", {"documents": docs, "pages": [page(d["id"], "text") for d in docs]}
    )
    streams = Streams(redis, settings.stream_prefix)
    await import_archive(pool, streams, path, "acme", settings, trust_unsigned=True)
    links = dict(await pool.fetch("SELECT id::text, attachment_of::text FROM documents"))
    assert links[attached["id"]] == message["id"]
    assert links[stray["id"]] is None  # another tenant's document is not found
