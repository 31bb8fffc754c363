"""Presigning an upload, of a new document or of a replacement of one: the upload is
started in the store (one presigned PUT, or a multipart upload whose parts the route
signs), and the document's row recorded under the tenant's lock, within its quota.
The routes of presign and of replacements call these."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
import msgspec

from shared import collections, status
from shared.db import Conn
from shared.errors import Conflict
from shared.formats import Format
from shared.service_layer.unit_of_work import UnitOfWork
from shared.service_layer.uploads import lock_tenant_admission
from shared.settings import Settings
from shared.stages import Status
from shared.status import TERMINAL_SQL
from shared.storage import ObjectStore, plan_parts


class Upload(msgspec.Struct, frozen=True):
    """The file a client is about to upload (checked against the API's limits)."""

    filename: str
    file_size: int
    content_type: str
    fmt: Format
    multipart: bool | None = None
    """In parts or not; None: in parts from ``DOCMESH_MULTIPART_THRESHOLD_BYTES``."""


class Presign(msgspec.Struct, frozen=True):
    tenant: str
    upload: Upload
    title: str | None = None
    description: str | None = None
    tags: list[str] = []
    metadata: str = "{}"
    """JSON text, checked (``shared.fields``)."""
    collections: list[str] = []
    """Ids of the tenant's collections the document goes in."""


class Replace(msgspec.Struct, frozen=True):
    document_id: str
    tenant: str
    upload: Upload


@dataclass(frozen=True)
class Presigned:
    """What the client is told: where to PUT the file, or the upload whose parts to PUT."""

    document_id: str
    upload_id: str
    key: str
    content_type: str
    expires_at: dt.datetime
    url: str | None
    multipart_id: str | None
    part_size: int | None


class Quota(Protocol):
    """The bytes a tenant may hold in flight (the gateway's throttle)."""

    async def check_tenant_bytes(self, pool: Conn, tenant: str, size: int) -> None: ...


async def presign(
    uow: UnitOfWork, store: ObjectStore, quota: Quota, settings: Settings, cmd: Presign
) -> Presigned:
    """A new document, ``awaiting_upload``, in the collections named, and the upload it
    waits for."""
    fields = msgspec.structs.asdict(cmd)
    del fields["tenant"], fields["upload"], fields["collections"]
    await collections.check(uow.conn, cmd.tenant, cmd.collections)
    made = await _presigned(uow, store, quota, settings, cmd.tenant, cmd.upload, fields)
    if cmd.collections:
        await collections.add(uow.conn, cmd.tenant, cmd.collections, made.document_id)
    return made


async def replace(
    uow: UnitOfWork, store: ObjectStore, quota: Quota, settings: Settings, cmd: Replace
) -> Presigned:
    """A replacement of a completed document that holds its own chunks: a new row that
    keeps the document's title, tags and metadata and names it in ``replaces``; one
    open at a time. The document's row is held (``FOR KEY SHARE``) until the new row
    is in: a deletion meanwhile waits, then takes the replacement with it, and one
    that came first leaves no row to read (refused, not a foreign-key failure)."""
    doc = await uow.conn.fetchrow(
        "SELECT status, duplicate_of, replaces, title, description, tags, metadata"
        " FROM documents WHERE id = $1 FOR KEY SHARE",
        cmd.document_id,
    )
    if doc is None:
        raise Conflict("document_deleted", "The document was deleted.")
    if doc["replaces"] is not None:
        raise Conflict(
            "is_a_replacement", "This is a replacement of another document; replace that one."
        )
    if doc["status"] != Status.COMPLETED or doc["duplicate_of"] is not None:
        raise Conflict(
            "not_replaceable",
            f"Only a completed document that holds its own chunks can be replaced; "
            f"this one is {doc['status']}.",
        )
    if await _open_replacement(uow.conn, cmd.document_id):
        raise replacement_open()
    fields = {key: doc[key] for key in ("title", "description", "tags", "metadata")}
    fields["replaces"] = cmd.document_id
    return await _presigned(uow, store, quota, settings, cmd.tenant, cmd.upload, fields)


async def _presigned(
    uow: UnitOfWork,
    store: ObjectStore,
    quota: Quota,
    settings: Settings,
    tenant: str,
    upload: Upload,
    fields: dict[str, Any],
) -> Presigned:
    # Checked before the store is asked for anything, and again under the lock.
    await quota.check_tenant_bytes(uow.conn, tenant, upload.file_size)
    document_id, upload_id = str(uuid.uuid4()), str(uuid.uuid4())
    key = store.temp_key(upload_id, upload.fmt.value)
    content_type = upload.content_type.split(";")[0].strip().lower()
    expires_s = settings.presign_expires_s
    in_parts = upload.multipart
    if in_parts is None:
        in_parts = upload.file_size >= settings.multipart_threshold_bytes
    url, multipart_id, part_size = None, None, None
    if in_parts:
        multipart_id = await store.start_multipart(key, content_type)
        part_size, _ = plan_parts(upload.file_size, settings.multipart_part_bytes)
    else:
        url = await store.presign_put(key, content_type, expires_s, upload.file_size)
    made = Presigned(
        document_id, upload_id, key, content_type,
        dt.datetime.now(dt.UTC) + dt.timedelta(seconds=expires_s), url, multipart_id, part_size,
    )  # fmt: skip
    try:
        await _admit(uow.conn, quota, tenant, upload, made, fields)
    except Exception:
        await store.drop_upload(key, multipart_id)  # the quota was taken meanwhile
        raise
    return made


async def _admit(
    conn: Conn, quota: Quota, tenant: str, upload: Upload, made: Presigned, fields: dict[str, Any]
) -> None:
    """Record the upload if the tenant's quota still has room for it: checked and
    recorded under the tenant's lock, so concurrent presigns cannot overrun it."""
    await lock_tenant_admission(conn, tenant)
    await quota.check_tenant_bytes(conn, tenant, upload.file_size)
    try:
        await status.register_upload(
            conn,
            id=made.document_id,
            upload_id=made.upload_id,
            filename=upload.filename,
            content_type=made.content_type,
            file_size=upload.file_size,
            **fields,
            object_key=made.key,
            upload_expires_at=made.expires_at,
            tenant=tenant,
            multipart_id=made.multipart_id,
            part_size=made.part_size,
        )
    except asyncpg.UniqueViolationError as exc:  # two replacements presigned at once
        raise replacement_open() from exc


async def _open_replacement(conn: Conn, document_id: str) -> bool:
    """Whether a replacement of the document is still uploading or being processed."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM documents WHERE replaces = $1"
            f" AND NOT cancel_requested AND status NOT IN {TERMINAL_SQL})",
            document_id,
        )
    )


def replacement_open() -> Conflict:
    """The answer to a second replacement of a document while one is open."""
    return Conflict(
        "replacement_in_progress",
        "A new file for this document is already being uploaded or processed; wait for "
        "it to end (or cancel it), then replace the document again.",
    )
