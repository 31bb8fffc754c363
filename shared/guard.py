"""The gate in front of every stage handler: finished documents are skipped,
cancelled ones are turned towards the janitor at this stage boundary."""

from __future__ import annotations

from collections.abc import Sequence

from shared.db import Pool
from shared.events import Event, ProcessingFinished
from shared.stages import TERMINAL
from shared.worker import Context, E, Handler


def cancelled(event: Event) -> ProcessingFinished:
    return event.follow(ProcessingFinished, "finished", outcome="cancelled")


def guarded(pool: Pool, handler: Handler[E], skipped: Handler[E] | None = None) -> Handler[E]:
    """``handler``, run only for documents that still need it.

    A replayed or late event of a document that already finished, or of an
    earlier run of a document since retried (another job id), changes nothing;
    the next event of a document whose cancellation was asked for ends it
    instead of doing the stage's work. A rebuild's event (``rebuild``) runs while its
    version is being built (or active: a repair) and its document holds a row of it.
    ``skipped`` gives the events of a stage that must react to work it will not do
    (the embedder frees the place the unit held).
    """

    async def gate(event: E, ctx: Context) -> Sequence[Event]:
        if rebuild := getattr(event, "rebuild", 0):
            if not await _rebuilding(pool, event, rebuild):
                return list(await skipped(event, ctx)) if skipped else []
            return await handler(event, ctx)
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


async def _rebuilding(pool: Pool, event: Event, version: int) -> bool:
    """Whether a rebuild event still has work: its version is being built (or is the
    active one, for a repair) and the document's row of it is this job's and has not
    failed (a document since deleted, failed or found a duplicate has no row)."""
    row = await pool.fetchrow(
        "SELECT di.job_id::text AS job_id, di.state, v.state AS version_state"
        " FROM document_indexes di JOIN index_versions v ON v.version = di.index_version"
        " WHERE di.document_id = $1 AND di.index_version = $2",
        event.document_id,
        version,
    )
    return (
        row is not None
        and row["job_id"] == event.job_id
        and row["version_state"] in ("building", "active")
        and row["state"] != "failed"
    )
