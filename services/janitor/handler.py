"""Janitor: delete the upload from S3, then record the document's outcome."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
import msgspec
import structlog

from shared import jobs, metrics, rebuild, replacement, resume, status, tracing, webhooks
from shared.db import Pool
from shared.events import Event, ProcessingFinished, Progress, WebhookDue
from shared.settings import Settings
from shared.stages import TERMINAL, Status
from shared.status import progress_event
from shared.storage import ObjectStore
from shared.worker import Context

log = structlog.get_logger()


@dataclass(frozen=True)
class Deps:
    settings: Settings
    pool: Pool
    store: ObjectStore


async def handle(deps: Deps, event: ProcessingFinished, ctx: Context) -> Sequence[Event]:
    """Record the job's end on its row; the document's own job also finishes the
    document: the S3 object always goes, whatever the outcome, and the tenant's
    webhooks that want this end get a delivery (scheduled in the same transaction,
    so a crash never loses one: the notifier's sweep finds it). A build goes on.

    The row stays locked from the check to the final status, so two finishing
    events for one document (a redelivery, a late dead letter) finish it once. A
    cancellation asked for meanwhile wins over a success. The object is deleted
    after the commit, so no row lock waits on S3; a redelivery deletes it again.
    """
    async with deps.pool.acquire() as conn, conn.transaction():
        await replacement.lock_target(conn, event.document_id)
        row = await conn.fetchrow(
            "SELECT object_key, status, cancel_requested, job_id::text, replaces::text"
            " FROM documents"
            " WHERE id = $1 FOR UPDATE",
            event.document_id,
        )
        if row is None:
            return []  # deleted: nothing to do
        error = f"{event.error_code}: {event.error_message}" if event.error_code else None
        ended = await jobs.end(conn, event.job_id, event.outcome, error)
        if row["job_id"] != event.job_id:  # a rebuild's job (or an earlier run's)
            return [*await rebuild.advance(conn, deps.settings.reindex_documents)]
        if row["status"] in TERMINAL:
            # Finished before: a redelivery, maybe after the delete below failed.
            await deps.store.delete(row["object_key"])
            return []
        cancelled = row["cancel_requested"] and event.outcome != "failed"
        outcome = "cancelled" if cancelled else event.outcome
        await _drop_partial(conn, event.document_id, outcome)
        final = await _replacing(conn, row, terminal_progress(event, outcome, ended), ended)
        await status.finish(conn, final)
        deliveries = await webhooks.schedule(
            conn, event.document_id, webhooks.event_for(final.status)
        )
        resumed = await resume.waiters(conn, event.document_id)
        resumed += await rebuild.advance(conn, deps.settings.reindex_documents)
    with tracing.span("s3 delete"):
        await deps.store.delete(row["object_key"])
    metrics.DOCUMENTS_FINISHED.labels(outcome).inc()
    if outcome == "failed":
        metrics.DOCUMENTS_FAILED.labels(event.error_code or "unknown").inc()
    due = [event.follow(WebhookDue, f"webhook:{d}", delivery_id=d) for d in deliveries]
    return [final, *due, *resumed]


async def _replacing(
    conn: asyncpg.Connection, row: asyncpg.Record, final: Progress, ended: jobs.Ended | None
) -> Progress:
    """A replacement of another document (``shared.replacement``): completed, its
    content becomes that document's (or, a duplicate of a third, the document becomes
    a duplicate of that one); a duplicate of the document itself, nothing changed."""
    if row["replaces"] is None or final.status != Status.COMPLETED:
        return final
    if final.duplicate_of == row["replaces"]:
        step = "Unchanged: the file is the document's current one; nothing was replaced"
        return msgspec.structs.replace(final, step=step)
    counts = (ended.chunk_count, ended.embedded_count) if ended else (0, 0)
    target = await replacement.take_over(conn, final.document_id, counts, final.duplicate_of)
    if target is None:
        return final
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


def fail_directly(event: Event, code: str, message: str) -> list[Event]:
    """When finishing itself fails for good, record the failure without the janitor."""
    return [
        progress_event(event, Status.FAILED, 0, "Failed", error_code=code, error_message=message)
    ]
