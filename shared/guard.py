"""The gate in front of every stage handler: events of jobs that have no work left are
skipped, and the document's own job, when its cancellation was asked for, is turned
towards the janitor at this stage boundary."""

from __future__ import annotations

from collections.abc import Sequence

from shared import erasure
from shared.db import Pool
from shared.events import Event, ProcessingFinished
from shared.jobs import open_sql
from shared.status import TERMINAL_SQL
from shared.worker import Context, E, Handler


def cancelled(event: Event) -> ProcessingFinished:
    return event.follow(ProcessingFinished, "finished", outcome="cancelled")


_STATE = f"""
SELECT d.job_id = $2 AS own, d.status NOT IN {TERMINAL_SQL} AS running, d.cancel_requested,
       EXISTS (SELECT 1 FROM document_indexes di WHERE di.document_id = d.id
               AND di.job_id = $2 AND {open_sql("di", "d")}) AS open
FROM documents d WHERE d.id = $1
"""


def guarded(pool: Pool, handler: Handler[E], skipped: Handler[E] | None = None) -> Handler[E]:
    """``handler``, run only for jobs that still need it.

    The document's own job runs while the document is in the pipeline: a redelivered
    or late event of a document that already finished changes nothing, and the next
    event of a document whose cancellation was asked for ends it instead of doing
    the stage's work. Any other job (a rebuild's) runs while its row is open
    (``shared.jobs.open_sql``); an earlier run of a document since retried has
    neither, and is skipped. ``skipped`` gives the events of a stage that must react
    to work it will not do (the embedder frees the place the unit held).
    """

    async def skip(event: E, ctx: Context) -> Sequence[Event]:
        return list(await skipped(event, ctx)) if skipped else []

    async def gate(event: E, ctx: Context) -> Sequence[Event]:
        row = await pool.fetchrow(_STATE, event.document_id, event.job_id)
        if row is None:  # deleted: what is left of it on the streams goes too
            await erasure.delete_stream_entries(ctx.streams, [event.document_id])
            return await skip(event, ctx)
        if row["own"] and row["running"] and row["cancel_requested"]:
            return [cancelled(event), *await skip(event, ctx)]
        if (row["own"] and row["running"]) or row["open"]:
            return await handler(event, ctx)
        return await skip(event, ctx)

    return gate
