"""An e-mail's attachments, documents of their own: each one saved in the bucket as an
upload, recorded ``attachment_of`` its message (with the message's tenant, tags,
metadata and collections) under the tenant's lock and within its byte quota, and started as a job
whose first event the extractor publishes with its own.

Ids derive from the message's job, so a redelivered extraction saves, records and
starts the same attachments, never a second set. The extractor calls ``depth``,
``save`` and ``admit``; deleting a message deletes its attachments (``tree``), and
a message's replacement brings its own (``move``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from shared import collections, status
from shared.db import Conn
from shared.events import DocumentUploaded
from shared.service_layer.unit_of_work import UnitOfWork
from shared.service_layer.uploads import lock_tenant_admission
from shared.stages import TERMINAL, Status
from shared.storage import ObjectStore


@dataclass(frozen=True)
class Carried:
    """An attachment saved by the extraction (``number``: its place in the message)."""

    number: str
    name: str
    path: Path
    size: int
    format: str
    content_type: str


@dataclass(frozen=True)
class Saved:
    """An attachment in the bucket, and the ids it is recorded with."""

    carried: Carried
    document_id: str
    upload_id: str
    job_id: str
    object_key: str
    sha256: str


async def depth(conn: Conn, document_id: str) -> int:
    """How many messages hold the document (0 for an upload of its own)."""
    found: int = await conn.fetchval(
        """
        WITH RECURSIVE up(id, n) AS (
            SELECT attachment_of, 1 FROM documents WHERE id = $1 AND attachment_of IS NOT NULL
            UNION ALL
            SELECT d.attachment_of, up.n + 1 FROM documents d JOIN up ON d.id = up.id
            WHERE d.attachment_of IS NOT NULL AND up.n < 100)
        SELECT coalesce(max(n), 0) FROM up
        """,
        document_id,
    )
    return found


async def tree(conn: Conn, document_ids: list[str]) -> list[asyncpg.Record]:
    """The attachments of the documents, and theirs in turn: id, object_key and
    multipart_id of each, for their uploads and stream entries."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        WITH RECURSIVE below(id) AS (
            SELECT id FROM documents WHERE attachment_of = ANY($1::uuid[])
            UNION
            SELECT d.id FROM documents d JOIN below ON d.attachment_of = below.id)
        SELECT d.id::text, d.object_key, d.multipart_id FROM documents d JOIN below USING (id)
        """,
        document_ids,
    )
    return rows


async def of(conn: Conn, document_id: str) -> list[asyncpg.Record]:
    """The document's own attachments (id, object_key, multipart_id)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT id::text, object_key, multipart_id FROM documents WHERE attachment_of = $1",
        document_id,
    )
    return rows


async def move(conn: Conn, replacement: str, target: str) -> list[asyncpg.Record]:
    """A completed replacement's attachments made the attachments of the document it
    replaced (and put in its collections); the document's former ones, to delete."""
    former = await of(conn, target)
    moved = await conn.fetch(
        "UPDATE documents SET attachment_of = $2 WHERE attachment_of = $1 RETURNING id::text",
        replacement,
        target,
    )
    for row in moved:  # the replacement's row is in no collection; the document may be
        await collections.inherit(conn, target, row["id"])
    return former


async def save(
    store: ObjectStore, conn: Conn, message: DocumentUploaded, carried: list[Carried]
) -> list[Saved]:
    """Each attachment stored in the bucket (before any row names it; an object whose
    row never comes is an orphan the janitor deletes), but those a redelivered
    extraction finds recorded already."""
    saved = []
    for part in carried:
        document_id = uuid.uuid5(uuid.UUID(message.job_id), f"attachment:{part.number}")
        upload_id = str(uuid.uuid5(document_id, "upload"))
        job_id = str(uuid.uuid5(document_id, "job"))
        key = store.temp_key(upload_id, part.format)
        saved.append(Saved(part, str(document_id), upload_id, job_id, key, _sha256(part.path)))
    recorded = await _recorded(conn, saved)
    for item in saved:
        if item.document_id not in recorded:
            await store.upload(item.object_key, item.carried.path, item.carried.content_type)
    return saved


async def admit(
    uow: UnitOfWork, max_tenant_bytes: int, message: DocumentUploaded, saved: list[Saved]
) -> tuple[list[str], list[str]]:
    """Record the attachments and start them (their first events published with the
    unit of work's); the uploads refused by the tenant's byte quota, each recorded
    ``failed``, ``quota_exceeded`` (the message still names it), and their ids
    (whose webhooks are due). Those recorded before (a redelivered extraction) are
    started again if they have not started.

    The quota counts the tenant's uploads in flight, the message's own bytes and its
    attachments recorded before left out: its file carried them, and was admitted
    with them.
    """
    conn = uow.conn
    parent = await conn.fetchrow(
        "SELECT tenant, tags, metadata, traceparent, file_size FROM documents WHERE id = $1",
        message.document_id,
    )
    if parent is None:  # the message was deleted meanwhile
        return [s.object_key for s in saved], []
    await lock_tenant_admission(conn, parent["tenant"])
    recorded = await _recorded(conn, saved)
    held = await status.bytes_in_flight(conn, parent["tenant"]) - parent["file_size"]
    held -= sum(size for state, size in recorded.values() if state not in TERMINAL)
    refused, failed = [], []
    for item in saved:
        if item.document_id in recorded:
            if recorded[item.document_id][0] == Status.UPLOADED:  # its event may be lost
                uow.publish(_first_event(item, message))
            continue
        fits = not max_tenant_bytes or held + item.carried.size <= max_tenant_bytes
        held += item.carried.size if fits else 0
        row = {
            "id": item.document_id, "upload_id": item.upload_id,
            "filename": item.carried.name, "content_type": item.carried.content_type,
            "file_size": item.carried.size, "format": item.carried.format,
            "file_hash": item.sha256, "object_key": item.object_key,
            "tenant": parent["tenant"], "tags": parent["tags"], "metadata": parent["metadata"],
            "traceparent": parent["traceparent"], "attachment_of": message.document_id,
            "upload_expires_at": dt.datetime.now(dt.UTC),
        }  # fmt: skip
        over = None if fits else _over_quota(item, max_tenant_bytes)
        await status.register_attachment(conn, row, item.job_id, over)
        await collections.inherit(conn, message.document_id, item.document_id)
        if fits:
            uow.publish(_first_event(item, message))
        else:
            refused.append(item.object_key)
            failed.append(item.document_id)
    return refused, failed


async def _recorded(conn: Conn, saved: list[Saved]) -> dict[str, tuple[str, int]]:
    """The status and size of each attachment recorded already."""
    rows = await conn.fetch(
        "SELECT id::text, status, file_size FROM documents WHERE id = ANY($1::uuid[])",
        [s.document_id for s in saved],
    )
    return {r["id"]: (r["status"], r["file_size"]) for r in rows}


def _first_event(item: Saved, message: DocumentUploaded) -> DocumentUploaded:
    return DocumentUploaded(
        event_id=str(uuid.uuid5(uuid.UUID(item.job_id), "uploaded")),
        document_id=item.document_id,
        job_id=item.job_id,
        traceparent=message.traceparent,
        object_key=item.object_key,
        content_type=item.carried.content_type,
        file_size=item.carried.size,
        file_hash=item.sha256,
    )


def _over_quota(item: Saved, limit: int) -> tuple[str, str]:
    return (
        "quota_exceeded",
        f"The attachment {item.carried.name!r} ({item.carried.size:,} bytes) would pass the "
        f"tenant's quota of {limit:,} bytes in flight; upload it as a document of its own "
        "when some have finished.",
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(2**20):
            digest.update(chunk)
    return digest.hexdigest()
