"""Dead letters for operators: list them, resume them, purge them.

A dead-lettered entry already failed its document (``dead_lettered``). A
retry puts the document back at the entry's stage and the entry back on its
stream; the stage's handler then runs as if the entry were new.
"""

from __future__ import annotations

from typing import Any

import msgspec

from shared import jobs, status
from shared.db import Pool
from shared.events import FIELD, decode
from shared.events import Stream as StreamName
from shared.stages import resume_status, workers
from shared.streams import Streams, decoded


def _summary(entry_id: str, fields: dict[bytes, bytes]) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": entry_id,
        "stream": decoded(fields.get(b"stream", b"")),
        "group": decoded(fields.get(b"group", b"")),
        "reason": decoded(fields.get(b"reason", b"")),
        "event_type": None,
        "document_id": None,
    }
    try:
        event = decode(fields.get(FIELD.encode(), b""))
    except msgspec.DecodeError:
        return item
    item.update(event_type=type(event).__name__, document_id=event.document_id)
    return item


async def list_dead(streams: Streams, count: int = 100) -> list[dict[str, Any]]:
    """The oldest ``count`` dead letters with their reason and document."""
    rows = await streams.entries(StreamName.DEAD, count=count)
    return [_summary(entry_id, fields) for entry_id, fields in rows]


async def _selected(
    streams: Streams, ids: list[str] | None
) -> list[tuple[str, dict[bytes, bytes]]]:
    if ids is None:
        return await streams.entries(StreamName.DEAD)
    return await streams.entries_by_id(StreamName.DEAD, ids)


async def retry_dead(streams: Streams, pool: Pool, ids: list[str] | None = None) -> int:
    """Resume dead letters (all, or ``ids``); poison entries are left for purging."""
    resumed = 0
    for entry_id, fields in await _selected(streams, ids):
        try:
            event = decode(fields[FIELD.encode()])
        except (KeyError, msgspec.DecodeError):
            continue
        # The job runs again: a rebuild's row reopens; the document's own job resumes
        # the document at the entry's stage (each statement leaves the other kind alone).
        await jobs.resume(pool, event.job_id)
        group = decoded(fields.get(b"group", b""))
        if group in workers():  # not a status fold's or a delivery's entry
            await status.resume_failed(
                pool,
                event.document_id,
                resume_status(group),
                "Retrying after a dead letter",
                job=event.job_id,
            )
        target = decoded(fields[b"stream"])
        async with streams.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(target, {FIELD: fields[FIELD.encode()]})
            pipe.xdel(streams.key(StreamName.DEAD), entry_id)
            added, _ = await pipe.execute()
        await streams.remember([(event.document_id, target, added)])
        resumed += 1
    return resumed


async def purge_dead(streams: Streams, ids: list[str] | None = None) -> int:
    """Delete dead letters (all, or ``ids``)."""
    selected = [entry_id for entry_id, _ in await _selected(streams, ids)]
    if not selected:
        return 0
    return int(await streams.redis.xdel(streams.key(StreamName.DEAD), *selected))
