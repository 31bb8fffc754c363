"""The janitor's sweeps: PostgreSQL is the source of truth, Redis and S3 follow it.

Each sweep is safe to run twice and from several janitors at once (they take
a Redis lock so that usually one does): it deletes orphan uploads, expires
presigned uploads that never came, aborts abandoned multipart uploads, resumes
jobs that stopped progressing (lost events after a Redis restart, a publish that
never happened), trims the streams below what every group still needs,
removes idle consumers, keeps an index build going, drops index versions
past their retention and the cached vectors no chunk has any more.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import asyncpg
import structlog

from shared import erasure, indexes, metrics, rebuild, reindex, resume, status, tracing
from shared.db import Pool
from shared.events import ProcessingFinished
from shared.settings import Settings
from shared.stages import TERMINAL, Status, work_streams
from shared.storage import ObjectStore
from shared.streams import Streams

log = structlog.get_logger()

T = TypeVar("T")


@dataclass
class Report:
    orphans_deleted: int = 0
    uploads_expired: int = 0
    multiparts_aborted: int = 0
    resumed: int = 0
    stalled: int = 0
    entries_trimmed: int = 0
    consumers_removed: int = 0
    rebuilds_queued: int = 0
    index_chunks_dropped: int = 0
    orphan_vectors_deleted: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Sweeper:
    settings: Settings
    pool: Pool
    store: ObjectStore
    streams: Streams

    async def all(self) -> Report:
        """Every sweep. One that fails (the store or Redis away) is logged and noted,
        and the others still run: a store that cannot list uploads must not stop
        the resume of stalled documents."""
        report = Report()
        report.orphans_deleted = await self._step(report, self.orphans, 0)
        report.uploads_expired = await self._step(report, self.expire_uploads, 0)
        report.multiparts_aborted = await self._step(report, self.abandoned_multiparts, 0)
        report.resumed, report.stalled = await self._step(report, self.reconcile, (0, 0))
        report.entries_trimmed = await self._step(report, self.trim_streams, 0)
        report.consumers_removed = await self._step(report, self.remove_idle_consumers, 0)
        report.rebuilds_queued = await self._step(report, self.reindex, 0)
        report.index_chunks_dropped = await self._step(report, self.drop_index_versions, 0)
        report.orphan_vectors_deleted = await self._step(report, self.orphan_vectors, 0)
        counts = {k: v for k, v in vars(report).items() if k != "notes"}
        for action, count in counts.items():
            metrics.JANITOR_DELETIONS.labels(action).inc(count)
        log.info("sweep_done", **counts)
        return report

    @staticmethod
    async def _step(report: Report, sweep: Callable[[], Awaitable[T]], failed: T) -> T:
        try:
            return await sweep()
        except Exception as exc:
            log.exception("sweep_step_failed", step=sweep.__name__)
            report.notes.append(f"{sweep.__name__} failed: {type(exc).__name__}: {exc}")
            return failed

    async def orphans(self) -> int:
        """Delete temporary objects no live document owns.

        An object of a finished document goes at once: it can only be a presigned
        URL used again after ``/process`` (the janitor deleted the first upload), so
        a PUT sent again is never processed and does not stay. An object no document
        knows goes once it is older than ``orphan_age_s``.
        """
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=self.settings.orphan_age_s)
        objects = {key: written async for key, written in self.store.temp_objects()}
        if not objects:
            return 0
        owners = {
            r["object_key"]: r["status"]
            for r in await self.pool.fetch(
                "SELECT object_key, status FROM documents WHERE object_key = ANY($1::text[])",
                list(objects),
            )
        }
        deleted = 0
        for key, written in objects.items():
            owner = owners.get(key)
            if owner in TERMINAL or (owner is None and written < cutoff):
                await self.store.delete(key)
                deleted += 1
                log.info("orphan_deleted", key=key, owner_status=owner)
        return deleted

    async def expire_uploads(self) -> int:
        """Presigned uploads that never became a job are ``expired``; their object goes."""
        keys = await status.expire_uploads(self.pool, self.settings.expire_grace_s)
        for key in keys:
            await self.store.delete(key)
            log.info("upload_expired", key=key)
        return len(keys)

    async def abandoned_multiparts(self) -> int:
        """Abort multipart uploads no waiting document owns (the store keeps, and
        bills, the parts of an upload never completed until it is aborted): those of
        a document that expired, was cancelled or went on without them, and those no
        document knows once older than ``orphan_age_s``."""
        cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=self.settings.orphan_age_s)
        uploads = [upload async for upload in self.store.open_multiparts()]
        if not uploads:
            return 0
        owners = {
            r["multipart_id"]: r["status"]
            for r in await self.pool.fetch(
                "SELECT multipart_id, status FROM documents WHERE multipart_id = ANY($1::text[])",
                [multipart_id for _, multipart_id, _ in uploads],
            )
        }
        aborted = 0
        for key, multipart_id, started in uploads:
            owner = owners.get(multipart_id)
            waiting = owner == Status.AWAITING_UPLOAD
            if not waiting and (owner is not None or started < cutoff):
                await self.store.abort_multipart(key, multipart_id)
                aborted += 1
                log.info("multipart_aborted", key=key, owner_status=owner)
        return aborted

    async def reconcile(self) -> tuple[int, int]:
        """Resume documents that made no progress for ``stall_after_s``; past
        ``max_resumes`` they fail as ``stalled`` instead of staying "processing"."""
        rows = await status.count_stalled(self.pool, self.settings.stall_after_s)
        resumed = stalled = 0
        for row in rows:
            attributes = {
                "docmesh.cause": "resume",
                "docmesh.resumes": row["resumes"],
                "docmesh.document_id": str(row["id"]),
            }
            with tracing.span("janitor resume", row["traceparent"], attributes=attributes):
                if row["resumes"] > self.settings.max_resumes:
                    await self.streams.publish(stalled_event(row, self.settings))
                    stalled += 1
                else:
                    await resume.publish(self.streams, row)
                    resumed += 1
            log.warning(
                "document_resumed",
                document_id=str(row["id"]),
                status=row["status"],
                resumes=row["resumes"],
            )
        return resumed, stalled

    async def reindex(self) -> int:
        """Keep a build going: documents whose rebuild event was lost are queued again,
        pending ones are fed, and a build whose last document finished without
        switching (a crash between) becomes active. Completed documents the active
        version lacks are rebuilt into it."""
        s = self.settings
        async with self.pool.acquire() as conn, conn.transaction():
            # Locks in the order a finishing unit takes them (its row, the version,
            # then the feed's), so that the two never wait on each other in a cycle.
            events = await rebuild.resume_stalled(conn, s.stall_after_s, s.max_resumes + 1)
            events += await rebuild.index_missing(conn)
            build = await indexes.building(conn)
            if build is not None:
                await rebuild.try_activate(conn, build.version)
            events += await rebuild.feed(conn, s.reindex_documents)
        if build is not None:  # its index, if the request that started it was cut short
            async with self.pool.acquire() as conn:
                await indexes.ensure_vector_index(conn, build, wait=False)
        if events:
            await self.streams.publish(*events)
        return len(events)

    async def drop_index_versions(self) -> int:
        """Chunks of versions past their retention, and of cancelled builds."""
        return await reindex.drop_expired(self.pool, self.settings.index_retention_s)

    async def orphan_vectors(self) -> int:
        """Cached vectors of texts no chunk has: a dropped version's, or a deleted
        document's that an embedder cached while the deletion ran."""
        async with self.pool.acquire() as conn:
            return await erasure.delete_orphan_vectors(conn)

    async def trim_streams(self) -> int:
        """XTRIM MINID each stream below the oldest entry any of its groups still needs."""
        trimmed = 0
        for stream in work_streams():
            groups = await self.streams.groups(stream)
            if not groups:
                continue
            needed = [await self.streams.oldest_pending(g) or g.last_delivered_id for g in groups]
            trimmed += await self.streams.trim_below(stream, min(needed, key=_id_order))
        return trimmed

    async def remove_idle_consumers(self) -> int:
        removed = 0
        idle_ms = self.settings.idle_consumer_s * 1000
        for stream in work_streams():
            for group in await self.streams.groups(stream):
                for consumer in await self.streams.consumers(group):
                    if consumer.pending == 0 and consumer.idle_ms > idle_ms:
                        await self.streams.remove_consumer(group, consumer.name)
                        removed += 1
        return removed


def _id_order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def stalled_event(row: asyncpg.Record, settings: Settings) -> ProcessingFinished:
    job = str(row["job_id"])
    minutes = round(settings.stall_after_s / 60)
    return ProcessingFinished(
        event_id=str(uuid.uuid5(uuid.UUID(job), "stalled")),
        document_id=str(row["id"]),
        job_id=job,
        traceparent=tracing.traceparent() or row["traceparent"],
        outcome="failed",
        error_code="stalled",
        error_message=(
            f"Processing stopped at '{row['status']}' and did not resume after "
            f"{settings.max_resumes} attempts, {minutes} minutes apart. "
            "Retry the document; if it stalls again, report it."
        ),
    )
