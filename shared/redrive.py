"""Restarting a document from the last stage it committed (janitor and gateway)."""

from __future__ import annotations

import uuid

import asyncpg

from shared.events import ChunksStored, DocumentUploaded, DuplicatesChecked, Event, TextExtracted


def redrive_event(row: asyncpg.Record, reason: str = "redrive") -> Event:
    """The event that restarts the document from its last committed stage.

    Its id is derived from the job, the attempt and the stage, so a sweep
    that runs twice publishes the same event.
    """
    job, doc, status = str(row["job_id"]), str(row["id"]), row["status"]
    event_id = str(uuid.uuid5(uuid.UUID(job), f"{reason}:{row['redrives']}:{status}"))
    if status == "embedding" and row["chunk_count"]:
        return ChunksStored(
            event_id=event_id, document_id=doc, job_id=job, chunk_count=row["chunk_count"]
        )
    if status == "chunking":
        return DuplicatesChecked(event_id=event_id, document_id=doc, job_id=job)
    if status == "checking_duplicates" and row["file_sha256"] and row["text_hash"]:
        return TextExtracted(
            event_id=event_id,
            document_id=doc,
            job_id=job,
            page_count=row["page_count"] or 0,
            char_count=0,
            file_sha256=row["file_sha256"],
            text_hash=row["text_hash"],
        )
    return DocumentUploaded(
        event_id=event_id,
        document_id=doc,
        job_id=job,
        object_key=row["object_key"],
        content_type=row["content_type"],
        file_size=row["file_size"],
        file_hash=row["file_hash"],
    )
