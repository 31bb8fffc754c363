"""Janitor: delete the upload from S3, then record the document's outcome."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared import metrics
from shared.db import Pool
from shared.events import Event, ProcessingFinished, Progress
from shared.settings import Settings
from shared.stages import TERMINAL, Status
from shared.status import apply_progress
from shared.storage import ObjectStore
from shared.worker import Context, progress_event


@dataclass(frozen=True)
class Deps:
    settings: Settings
    pool: Pool
    store: ObjectStore


async def handle(deps: Deps, event: ProcessingFinished, ctx: Context) -> Sequence[Event]:
    """Finish the document: the S3 object always goes, whatever the outcome.

    The row stays locked from the check to the final status, so two finishing
    events for one document (a replay, a late dead letter) finish it once. A
    cancellation asked for meanwhile wins over a success.
    """
    doc_id = event.document_id
    async with deps.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT object_key, status, cancel_requested FROM documents WHERE id = $1 FOR UPDATE",
            doc_id,
        )
        if row is None or row["status"] in TERMINAL:
            return []  # finished before, or deleted: nothing to do
        outcome = (
            "cancelled"
            if row["cancel_requested"] and event.outcome != "failed"
            else (event.outcome)
        )
        await deps.store.delete(row["object_key"])
        await conn.execute("UPDATE documents SET object_deleted = true WHERE id = $1", doc_id)
        if outcome != "completed":
            # Nothing of an unfinished document stays searchable. The pages of a
            # failed one stay, so that a retry need not extract again.
            await conn.execute("DELETE FROM chunks WHERE document_id = $1", doc_id)
            if outcome != "failed":
                await conn.execute("DELETE FROM pages WHERE document_id = $1", doc_id)
        if outcome in {"failed", "cancelled"}:
            await conn.execute("DELETE FROM content_hashes WHERE document_id = $1", doc_id)
            await conn.execute("DELETE FROM minhash_bands WHERE document_id = $1", doc_id)
        final = terminal_progress(event, outcome)
        await apply_progress(conn, final)
    metrics.DOCUMENTS_FINISHED.labels(outcome).inc()
    if outcome == "failed":
        metrics.DOCUMENTS_FAILED.labels(event.error_code or "unknown").inc()
    return [final]


def terminal_progress(event: ProcessingFinished, outcome: str) -> Progress:
    """The last status of the document, as a progress event."""
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
    return progress_event(event, Status.COMPLETED, 100, "Completed")


def fail_directly(event: Event, code: str, message: str) -> list[Event]:
    """When finishing itself fails for good, record the failure without the janitor."""
    return [
        progress_event(event, Status.FAILED, 0, "Failed", error_code=code, error_message=message)
    ]
