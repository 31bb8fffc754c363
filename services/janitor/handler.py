"""Janitor: delete the upload from S3, then record the document's outcome."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared.db import Pool
from shared.events import Event, ProcessingFinished, Progress
from shared.stages import TERMINAL, Status
from shared.status import apply_progress
from shared.storage import ObjectStore
from shared.worker import Context, progress_event


@dataclass(frozen=True)
class Deps:
    pool: Pool
    store: ObjectStore


async def handle(deps: Deps, event: ProcessingFinished, ctx: Context) -> Sequence[Event]:
    """Finish the document: the S3 object always goes, whatever the outcome.

    The row stays locked from the check to the final status, so two finishing
    events for one document (a replay, a late dead letter) finish it once.
    """
    doc_id = event.document_id
    final = terminal_progress(event)
    async with deps.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT object_key, status FROM documents WHERE id = $1 FOR UPDATE", doc_id
        )
        if row is None or row["status"] in TERMINAL:
            return []  # finished before, or deleted: nothing to do
        await deps.store.delete(row["object_key"])
        await conn.execute("UPDATE documents SET object_deleted = true WHERE id = $1", doc_id)
        if event.outcome != "completed":
            # Nothing of a failed or duplicate document stays searchable.
            await conn.execute("DELETE FROM chunks WHERE document_id = $1", doc_id)
            await conn.execute("DELETE FROM pages WHERE document_id = $1", doc_id)
        if event.outcome == "failed":
            await conn.execute("DELETE FROM content_hashes WHERE document_id = $1", doc_id)
            await conn.execute("DELETE FROM minhash_bands WHERE document_id = $1", doc_id)
        await apply_progress(conn, final)
    return [final]


def terminal_progress(event: ProcessingFinished) -> Progress:
    """The last status of the document, as a progress event."""
    if event.outcome == "failed":
        return progress_event(
            event,
            Status.FAILED,
            0,
            "Failed",
            error_code=event.error_code,
            error_message=event.error_message,
        )
    if event.outcome == "duplicate":
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
