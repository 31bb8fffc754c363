"""Janitor: finish each job (and with the document's own, the document), then delete
its upload from S3."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared import metrics, tracing
from shared.db import Pool
from shared.events import Event, ProcessingFinished
from shared.service_layer import finishing
from shared.service_layer.unit_of_work import UnitOfWork
from shared.settings import Settings
from shared.stages import Status
from shared.status import progress_event
from shared.storage import ObjectStore
from shared.worker import Context


@dataclass(frozen=True)
class Deps:
    settings: Settings
    pool: Pool
    store: ObjectStore


async def handle(deps: Deps, event: ProcessingFinished, ctx: Context) -> Sequence[Event]:
    """Finish the job (``shared.service_layer.finishing``); the document's upload always
    goes, whatever the outcome, after the commit, so no row lock waits on S3 (a
    redelivery deletes it again). The runner publishes the events with its ack."""
    async with UnitOfWork(deps.pool) as uow:
        finished = await finishing.finish_job(uow, event, deps.settings.reindex_documents)
    if finished.object_key is not None:
        with tracing.span("s3 delete"):
            await deps.store.delete(finished.object_key)
    if finished.outcome is not None:
        metrics.DOCUMENTS_FINISHED.labels(finished.outcome).inc()
        if finished.outcome == "failed":
            metrics.DOCUMENTS_FAILED.labels(event.error_code or "unknown").inc()
    return uow.published


def fail_directly(event: Event, code: str, message: str) -> list[Event]:
    """When finishing itself fails for good, record the failure without the janitor."""
    return [
        progress_event(event, Status.FAILED, 0, "Failed", error_code=code, error_message=message)
    ]
