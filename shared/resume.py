"""Resuming a job: running it again from the last stage it committed (a stalled
document, a retry, a dead letter, a copy whose original ended, an import)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TypedDict

import asyncpg

from shared import tracing
from shared.events import ChunksStored, DocumentUploaded, DuplicatesChecked, Event, TextExtracted
from shared.stages import Stage, previous, stage_of_status
from shared.streams import Streams


class Ids(TypedDict):
    """The ids of the event to build."""

    event_id: str
    document_id: str
    job_id: str
    traceparent: str


def _uploaded(row: asyncpg.Record, ids: Ids) -> Event | None:
    return DocumentUploaded(
        **ids,
        object_key=row["object_key"],
        content_type=row["content_type"],
        file_size=row["file_size"],
        file_hash=row["file_hash"],
    )


def _extracted(row: asyncpg.Record, ids: Ids) -> Event | None:
    if not (row["file_sha256"] and row["text_hash"]):
        return None
    return TextExtracted(
        **ids,
        page_count=row["page_count"] or 0,
        char_count=0,
        file_sha256=row["file_sha256"],
        text_hash=row["text_hash"],
    )


def _checked(row: asyncpg.Record, ids: Ids) -> Event | None:
    return DuplicatesChecked(**ids)


def _chunked(row: asyncpg.Record, ids: Ids) -> Event | None:
    version = row.get("index_version")  # of the document's own job, once chunked
    if not (row["chunk_count"] and version):
        return None
    return ChunksStored(**ids, chunk_count=row["chunk_count"], index_version=version)


BUILDERS: dict[type[Event], Callable[[asyncpg.Record, Ids], Event | None]] = {
    DocumentUploaded: _uploaded,
    TextExtracted: _extracted,
    DuplicatesChecked: _checked,
    ChunksStored: _chunked,
}
"""How each stage's input event is rebuilt from the document's row; None when the
row lacks what it needs, or no builder, and the stage before it runs again."""


def event(row: asyncpg.Record, reason: str = "resume") -> Event:
    """The event that resumes the document from its last committed stage (see
    :func:`publish` for sending it to that stage)."""
    return _rebuilt(row, reason)[0]


def routed(row: asyncpg.Record, reason: str = "resume") -> tuple[Event, str | None]:
    """:func:`event`, and the service it is published after (for its route to the stage
    it resumes, not only the first stage that starts with its type)."""
    event, target = _rebuilt(row, reason)
    before = previous(target)
    return event, before.service if before else None


async def publish(streams: Streams, row: asyncpg.Record, reason: str = "resume") -> None:
    """Publish :func:`event` to the stage it resumes (not only the first stage
    that starts with its type: a stage may pass its event on to the next)."""
    event, after = routed(row, reason)
    await streams.publish(event, after=after)


def _rebuilt(row: asyncpg.Record, reason: str) -> tuple[Event, Stage]:
    """The event that resumes the document from its last committed stage, and that stage.

    Its id is derived from the job, the attempt and the stage, so a sweep
    that runs twice publishes the same event. It joins the document's trace (under
    the current span, as a resume's or a retry's, when there is one).
    """
    job = str(row["job_id"])
    ids: Ids = {
        "event_id": str(uuid.uuid5(uuid.UUID(job), f"{reason}:{row['resumes']}:{row['status']}")),
        "document_id": str(row["id"]),
        "job_id": job,
        "traceparent": tracing.traceparent() or row["traceparent"],
    }
    stage: Stage | None = stage_of_status(row["status"])
    while stage is not None:
        build = BUILDERS.get(stage.event)
        if build is not None and (event := build(row, ids)) is not None:
            return event, stage
        stage = previous(stage)
    raise AssertionError("the first stage's event needs nothing")  # pragma: no cover


async def waiters(conn: asyncpg.Connection, original_id: str) -> list[Event]:
    """Events that run the duplicate check again for the documents waiting for
    ``original_id`` (it has just ended, or is being deleted): they become its
    duplicates if it completed, or take its place if it did not."""
    rows = await conn.fetch(
        "SELECT * FROM documents WHERE waiting_for = $1 AND status = 'checking_duplicates'",
        original_id,
    )
    return [event(row, f"waited:{original_id}") for row in rows]
