"""The gate in front of every stage handler: finished documents are skipped,
cancelled ones are turned towards the janitor at this stage boundary."""

from __future__ import annotations

from collections.abc import Sequence

from shared.db import Pool
from shared.events import Event, ProcessingFinished
from shared.stages import TERMINAL
from shared.worker import Context, E, Handler


def cancelled(event: Event) -> ProcessingFinished:
    return ProcessingFinished(
        event_id=event.child_id("finished"),
        document_id=event.document_id,
        job_id=event.job_id,
        outcome="cancelled",
    )


def guarded(pool: Pool, handler: Handler[E], skipped: Handler[E] | None = None) -> Handler[E]:
    """``handler``, run only for documents that still need it.

    A replayed or late event of a document that already finished, or of an
    earlier run of a document since retried (another job id), changes nothing;
    the next event of a document whose cancellation was asked for ends it
    instead of doing the stage's work. ``skipped`` gives the events of
    a stage that must react to work it will not do (the embedder frees the
    place the unit held).
    """

    async def gate(event: E, ctx: Context) -> Sequence[Event]:
        row = await pool.fetchrow(
            "SELECT status, cancel_requested, job_id::text FROM documents WHERE id = $1",
            event.document_id,
        )
        stale = row is not None and row["job_id"] != event.job_id  # of a run since retried
        if row is None or row["status"] in TERMINAL or stale:
            return list(await skipped(event, ctx)) if skipped else []
        if row["cancel_requested"]:
            return [cancelled(event), *(await skipped(event, ctx) if skipped else [])]
        return await handler(event, ctx)

    return gate
