"""A job's end, and with the document's own job, the document's: its last status, what
a replacement takes over, what an unfinished document leaves, the webhooks that want
its end, the copies waiting for it, and the build that goes on.

The janitor calls ``finish_job`` for every ``ProcessingFinished``; the gateway
calls ``finish_webhooks`` for a document cancelled before it had a job.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg
import msgspec

from shared import jobs, rebuild, replacement, resume, status, webhooks
from shared.events import Event, ProcessingFinished, Progress, WebhookDue
from shared.service_layer import attachments, erasing
from shared.service_layer.unit_of_work import UnitOfWork
from shared.stages import TERMINAL, Status
from shared.status import progress_event


@dataclass(frozen=True)
class Finished:
    """What a finished job leaves for after the commit: the upload to delete (None when
    it was a rebuild's job, or the document was deleted), and the outcome."""

    object_key: str | None
    outcome: str | None = None


async def finish_job(uow: UnitOfWork, event: ProcessingFinished, at_once: int) -> Finished:
    """Record the job's end on its row; the document's own job also finishes the
    document, once (its row stays locked from the check to the final status, so a
    redelivered or late finishing event finds it finished). A cancellation asked for
    meanwhile wins over a success. The replaced document is locked before its
    replacement, the order ``DELETE`` takes them in."""
    conn = uow.conn
    await replacement.lock_target(conn, event.document_id)
    row = await conn.fetchrow(
        "SELECT object_key, status, cancel_requested, job_id::text, replaces::text"
        " FROM documents WHERE id = $1 FOR UPDATE",
        event.document_id,
    )
    if row is None:
        return Finished(None)  # deleted: nothing to do
    error = f"{event.error_code}: {event.error_message}" if event.error_code else None
    ended = await jobs.end(conn, event.job_id, event.outcome, error)
    if row["job_id"] != event.job_id:  # a rebuild's job (or an earlier run's)
        uow.publish(*await rebuild.advance(conn, at_once))
        return Finished(None)
    if row["status"] in TERMINAL:  # finished before: maybe the upload's delete failed
        return Finished(row["object_key"])
    cancelled = row["cancel_requested"] and event.outcome != "failed"
    outcome = "cancelled" if cancelled else event.outcome
    await _drop_partial(conn, event.document_id, outcome)
    final = await _replacing(uow, row, terminal_progress(event, outcome, ended), ended)
    uow.publish(final)
    await finish(uow, final, event)
    uow.publish(*await resume.waiters(conn, event.document_id))
    uow.publish(*await rebuild.advance(conn, at_once))
    return Finished(row["object_key"], outcome)


async def finish(uow: UnitOfWork, final: Progress, cause: Event | None) -> None:
    """A document's last status (its upload marked deleted) and the deliveries of the
    tenant's webhooks that want it, scheduled in the same transaction (the notifier's
    sweep finds one whose event is lost)."""
    await status.finish(uow.conn, final)
    uow.publish(*await finish_webhooks(uow, final.document_id, final.status, cause))


async def finish_webhooks(
    uow: UnitOfWork, document_id: str, final_status: str, cause: Event | None
) -> list[WebhookDue]:
    """The deliveries for a document that ended in ``final_status``, and the events that
    announce them, with ids derived from ``cause``'s (or from the deliveries', for a
    document that ended before it had a job), so that doing it again sends nothing new."""
    deliveries = await webhooks.schedule(uow.conn, document_id, webhooks.event_for(final_status))
    if cause is not None:
        return [cause.follow(WebhookDue, f"webhook:{d}", delivery_id=d) for d in deliveries]
    return [
        WebhookDue(
            event_id=str(uuid.uuid5(uuid.UUID(d), "webhook")),
            document_id=document_id,
            job_id="",
            delivery_id=d,
        )
        for d in deliveries
    ]


async def _replacing(
    uow: UnitOfWork, row: asyncpg.Record, final: Progress, ended: jobs.Ended | None
) -> Progress:
    """A replacement of another document (``shared.replacement``): completed, its
    content becomes that document's (or, a duplicate of a third, the document becomes
    a duplicate of that one); a duplicate of the document itself, nothing changed.
    An e-mail's attachments follow its file: those of the replacement become the
    document's, and those of the file replaced go; a replacement that changes
    nothing takes its own with it."""
    if row["replaces"] is None:
        return final
    conn = uow.conn
    if final.status != Status.COMPLETED or final.duplicate_of == row["replaces"]:
        await erasing.erase(uow, await attachments.of(conn, final.document_id), None)
        if final.status != Status.COMPLETED:
            return final
        step = "Unchanged: the file is the document's current one; nothing was replaced"
        return msgspec.structs.replace(final, step=step)
    counts = (ended.chunk_count, ended.embedded_count) if ended else (0, 0)
    target = await replacement.take_over(conn, final.document_id, counts, final.duplicate_of)
    if target is None:
        return final
    await erasing.erase(uow, await attachments.move(conn, final.document_id, target), None)
    step = f"Completed: now the content of document {target}"
    if final.duplicate_of is not None:
        step = f"Completed: document {target} is now a duplicate of {final.duplicate_of}"
    return msgspec.structs.replace(final, step=step)


async def _drop_partial(conn: asyncpg.Connection, document_id: str, outcome: str) -> None:
    """Nothing of an unfinished document stays searchable. The pages of a failed one
    stay, so that a retry need not extract again; its content hashes go, so that a
    new upload of the same file is not called its duplicate."""
    if outcome == "completed":
        return
    await conn.execute("DELETE FROM chunks WHERE document_id = $1", document_id)
    await conn.execute("DELETE FROM embed_units WHERE document_id = $1", document_id)
    await jobs.drop(conn, document_id)
    if outcome != "failed":
        await conn.execute("DELETE FROM pages WHERE document_id = $1", document_id)
    if outcome in {"failed", "cancelled"}:
        await conn.execute("DELETE FROM content_hashes WHERE document_id = $1", document_id)
        await conn.execute("DELETE FROM minhash_bands WHERE document_id = $1", document_id)


def terminal_progress(
    event: ProcessingFinished, outcome: str, job: jobs.Ended | None = None
) -> Progress:
    """The last status of the document, as a progress event (with its job's counts, so
    that they stand whatever order the projector folds the last events in)."""
    if outcome == "failed":
        return progress_event(
            event,
            Status.FAILED,
            0,
            "Failed",
            error_code=event.error_code,
            error_message=event.error_message,
        )
    if outcome == "cancelled":
        return progress_event(event, Status.CANCELLED, 0, "Cancelled")
    if outcome == "duplicate":
        return progress_event(
            event,
            Status.COMPLETED,
            100,
            "Completed: duplicate of an earlier document",
            duplicate_of=event.duplicate_of,
        )
    counts = (
        {}
        if job is None
        else {"chunk_count": job.chunk_count, "embedded_count": job.embedded_count}
    )
    return progress_event(event, Status.COMPLETED, 100, "Completed", **counts)
