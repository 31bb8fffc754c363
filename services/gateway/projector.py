"""The projector: folds every stage's progress events into the status view.

It is a consumer like any worker (group ``gateway`` on the progress stream),
run inside the gateway process; with several gateways the events are shared
between them, which is safe because the fold is monotonic.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Sequence

import structlog

from shared import erasure
from shared.db import Pool
from shared.events import Event, Progress
from shared.settings import Settings
from shared.stages import PROJECTOR
from shared.status import apply_progress
from shared.worker import Context, Handler, WorkerSpec

log = structlog.get_logger()


async def project(pool: Pool, event: Progress, ctx: Context) -> Sequence[Event]:
    """Apply one progress event; stale ones change nothing."""
    applied = await apply_progress(pool, event)
    log.debug("progress_projected", status=event.status, progress=event.progress, applied=applied)
    if not applied:  # stale, or of a document deleted while a worker reported on it
        await erasure.forget_if_gone(pool, ctx.streams, event.document_id)
    return []


def _no_failure_events(event: Event, code: str, message: str) -> list[Event]:
    return []


def spec(pool: Pool) -> WorkerSpec[Progress]:
    """The projector's worker, folding into the gateway's own pool."""

    @contextlib.asynccontextmanager
    async def lifespan(settings: Settings) -> AsyncIterator[Handler[Progress]]:
        yield functools.partial(project, pool)

    return WorkerSpec(PROJECTOR, lifespan, _no_failure_events)
