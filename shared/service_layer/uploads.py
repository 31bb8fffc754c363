"""Processing an upload: the file is checked where it landed (there, of the size
declared, of a format docmesh reads), the job recorded under the tenant's lock, and
the first event published. The route of ``/process`` and the command line both call
``process``."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Protocol

import asyncpg
import msgspec
import structlog

from shared import status
from shared.db import Conn
from shared.errors import Conflict, Gone, Invalid, Unavailable
from shared.events import DocumentUploaded
from shared.formats import CONTENT_TYPES, Format, describe, sniff_prefix
from shared.service_layer.unit_of_work import UnitOfWork
from shared.stages import Status
from shared.storage import ObjectStore

log = structlog.get_logger()


class Process(msgspec.Struct, frozen=True):
    document_id: str
    tenant: str
    file_hash: str | None = None
    traceparent: str = ""
    """The span the document's trace starts from (the request's)."""


class Admission(Protocol):
    """The limits a tenant's new work must fit (the gateway's throttle)."""

    async def check_tenant_backlog(self, pool: Conn, tenant: str) -> None: ...


async def lock_tenant_admission(conn: Conn, tenant: str) -> None:
    """Serialise, until the transaction ends, the requests that check a tenant's quota
    or backlog and then add to it: two at once cannot both pass a limit only one fits."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"admit:{tenant}")


async def process(uow: UnitOfWork, store: ObjectStore, admission: Admission, cmd: Process) -> str:
    """The job of the document's upload, recorded and started; the one recorded first
    when another request won (asking twice returns the same job)."""
    doc = await uow.conn.fetchrow("SELECT * FROM documents WHERE id = $1", cmd.document_id)
    if doc is None or doc["status"] in {Status.EXPIRED, Status.CANCELLED}:
        ended = "deleted" if doc is None else doc["status"]
        raise Conflict(f"document_{ended}", f"The document was {ended}; presign and upload again.")
    if doc["job_id"] is not None:
        return str(doc["job_id"])
    fmt = await verify_upload(store, doc)
    job_id = str(uuid.uuid4())
    file_hash = cmd.file_hash.lower() if cmd.file_hash else None
    # Under the tenant's lock: concurrent requests cannot pass the backlog together.
    await lock_tenant_admission(uow.conn, cmd.tenant)
    await admission.check_tenant_backlog(uow.conn, cmd.tenant)
    won = await status.record_job(
        uow.conn, cmd.document_id, job_id, file_hash, fmt.value, cmd.traceparent
    )
    if won is None:
        return await _recorded_meanwhile(uow.conn, cmd.document_id)
    event = DocumentUploaded(
        event_id=str(uuid.uuid5(uuid.UUID(job_id), "uploaded")),
        document_id=cmd.document_id,
        job_id=job_id,
        traceparent=cmd.traceparent,
        object_key=doc["object_key"],
        content_type=doc["content_type"],
        file_size=doc["file_size"],
        file_hash=file_hash,
    )
    uow.after(lambda: _start(uow, event))
    return job_id


async def _start(uow: UnitOfWork, event: DocumentUploaded) -> None:
    """Publish the job's first event; a 503 when the queue does not take it, with the
    job unrecorded, so that the client's retry records and publishes again (rather
    than a 202 for a job that would wait for the janitor's stall sweep)."""
    assert uow.streams is not None
    try:
        await uow.streams.publish(event)
    except Exception as exc:
        await status.unrecord_job(uow.pool, event.document_id, event.job_id)
        raise Unavailable(
            "queue_unavailable", "The processing queue is unavailable; try again shortly."
        ) from exc


async def verify_upload(store: ObjectStore, doc: asyncpg.Record) -> Format:
    """The object exists and has the declared size; the format its bytes are.

    A supported format declared as another (a DOCX saved as ``.doc``, common in
    mail) is processed as what it is; only bytes of no supported format are refused.
    """
    key = doc["object_key"]
    size = await store.size(key)
    if size is None:
        if doc["upload_expires_at"] < dt.datetime.now(dt.UTC):
            raise Gone(
                "upload_expired", "The upload URL expired before a file arrived; presign again."
            )
        first = "complete the multipart upload" if doc["multipart_id"] else "PUT it to upload_url"
        raise Conflict("not_uploaded", f"No file was uploaded yet: {first} first.")
    if size != doc["file_size"]:
        await store.delete(key)
        raise Invalid(
            "size_mismatch",
            f"The uploaded file has {size} bytes, not the {doc['file_size']} declared. "
            "It was deleted; presign and upload again.",
        )
    head = await store.head_bytes(key, 1024)
    found = sniff_prefix(head, CONTENT_TYPES.get(doc["content_type"]))
    if found is None:
        await store.delete(key)
        raise Invalid(
            "unsupported_format",
            f"The uploaded bytes are {describe(head)}, not a document of a format docmesh "
            "reads. "
            "It was deleted; presign and upload again.",
        )
    if found is not CONTENT_TYPES.get(doc["content_type"]):
        log.info("format_differs", declared=doc["content_type"], found=found.value)
    return found


async def _recorded_meanwhile(conn: Conn, document_id: str) -> str:
    """The job another request recorded first; a 409 when the upload was cancelled or
    expired meanwhile instead (it is not brought back to life)."""
    row = await conn.fetchrow("SELECT job_id, status FROM documents WHERE id = $1", document_id)
    if row is None or row["job_id"] is None:
        ended = row["status"] if row is not None else "deleted"
        raise Conflict(f"document_{ended}", f"The document was {ended}; presign and upload again.")
    return str(row["job_id"])
