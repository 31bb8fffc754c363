"""What clients ask of a document: cancel it, retry it, delete it (and the end of a
document that never started, with its webhooks)."""

from __future__ import annotations

import uuid

import msgspec

from shared import erasure, resume, status
from shared.errors import Conflict
from shared.service_layer import erasing, finishing
from shared.service_layer.unit_of_work import UnitOfWork
from shared.stages import TERMINAL, Status
from shared.storage import ObjectStore


class Delete(msgspec.Struct, frozen=True):
    document_id: str


class Cancel(msgspec.Struct, frozen=True):
    document_id: str


class Retry(msgspec.Struct, frozen=True):
    document_id: str
    traceparent: str = ""
    """The span the new run's trace starts from (the request's)."""


async def delete(uow: UnitOfWork, store: ObjectStore, cmd: Delete) -> None:
    """The document, its replacements and, an e-mail's, its attachments (and theirs),
    and everything stored of them (``erasing.erase``)."""
    doomed = [
        await uow.conn.fetchrow(
            "SELECT id::text, object_key, multipart_id FROM documents WHERE id = $1"
            " FOR UPDATE",  # first, as the janitor's take-over locks it
            cmd.document_id,
        ),
        *await erasure.replacements_of(uow.conn, [cmd.document_id]),
    ]
    await erasing.erase(uow, [row for row in doomed if row is not None], store)


async def cancel(uow: UnitOfWork, store: ObjectStore, cmd: Cancel) -> None:
    """Stop the document: one with no job yet ends here, ``cancelled`` (its upload goes,
    its webhooks are scheduled); a running one stops at its next stage boundary,
    where the janitor ends it."""
    doc = await uow.conn.fetchrow(
        "SELECT status, job_id, object_key, multipart_id FROM documents WHERE id = $1 FOR UPDATE",
        cmd.document_id,
    )
    if doc is None or doc["status"] in TERMINAL:
        ended = "deleted" if doc is None else doc["status"]
        raise Conflict("already_finished", f"The document is already {ended}.")
    if doc["job_id"] is None and await status.cancel_unstarted(uow.conn, cmd.document_id):
        uow.after(lambda: store.drop_upload(doc["object_key"], doc["multipart_id"]))
        uow.publish(*await finishing.finish_webhooks(uow, cmd.document_id, Status.CANCELLED, None))
        return
    await status.request_cancel(uow.conn, cmd.document_id)


async def retry(uow: UnitOfWork, cmd: Retry) -> None:
    """Run a failed document again from its extracted text, as a new job (events still
    in flight from the failed run carry the old job's id, and every stage skips
    them)."""
    doc = await uow.conn.fetchrow(
        "SELECT status, text_hash, EXISTS (SELECT 1 FROM pages WHERE document_id = $1)"
        " AS has_pages FROM documents WHERE id = $1",
        cmd.document_id,
    )
    if doc is None or doc["status"] != Status.FAILED:
        now = "deleted" if doc is None else doc["status"]
        raise Conflict("not_failed", f"Only a failed document can be retried; it is {now}.")
    if not doc["text_hash"] or not doc["has_pages"]:
        raise Conflict(
            "upload_gone",
            "The document failed before its text was extracted and its upload is "
            "deleted: presign and upload it again.",
        )
    job = str(uuid.uuid4())
    row = await status.resume_failed(
        uow.conn, cmd.document_id, Status.CHECKING_DUPLICATES, "Retrying", job, cmd.traceparent
    )
    if row is None:
        raise Conflict("not_failed", "The document changed meanwhile; ask again.")
    event, after = resume.routed(row, f"retry:{job}")
    uow.publish(event, after=after)
