"""Every event that crosses a Redis Stream, and the names of the streams.

Events are small frozen structs: ids, counts and hashes. Document text lives
in PostgreSQL and files in S3, never inside a stream entry. New fields must
get defaults so that entries already in a stream still decode.
"""

from __future__ import annotations

import enum
import time
import uuid
from typing import Any, Literal, TypeVar

import msgspec

from shared import tracing


class Stream(enum.StrEnum):
    """Logical stream names; ``shared.streams.stream_key`` makes them Redis keys. Which event
    travels on which stream is the stage table's business (``shared.stages``)."""

    EXTRACT = "extract"
    DEDUP = "dedup"
    CHUNK = "chunk"
    EMBED = "embed"
    FINALIZE = "finalize"
    PROGRESS = "progress"
    WEBHOOKS = "webhooks"
    DEAD = "dead"


F = TypeVar("F", bound="Event")


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Fields every event carries."""

    event_id: str
    document_id: str
    job_id: str
    created_at: float = msgspec.field(default_factory=time.time)
    traceparent: str = ""
    """The W3C trace context of the span that published the event (empty with tracing
    off): the handling's span is its child, so a document's hops make one trace."""

    def child_id(self, name: str) -> str:
        """A deterministic id for an event caused by this one.

        A redelivered handler derives the same ids, so downstream dedup by id works.
        """
        return str(uuid.uuid5(uuid.UUID(self.event_id), name))

    def follow(self, event_type: type[F], name: str | None = None, **fields: Any) -> F:
        """The ``event_type`` event caused by this one, for the same document and job.

        Its id is derived from this event's id and ``name`` (the type's tag by
        default), so a redelivered handler builds the same event. It carries the trace
        of the span handling this one (or this one's, outside a span).
        """
        tag = name or str(event_type.__struct_config__.tag)
        return event_type(
            event_id=self.child_id(tag),
            document_id=self.document_id,
            job_id=self.job_id,
            traceparent=tracing.traceparent() or self.traceparent,
            **fields,
        )


class DocumentUploaded(Event, frozen=True, tag="document_uploaded"):
    """The gateway accepted a job: the file is in S3 and waits for extraction."""

    object_key: str
    content_type: str
    file_size: int
    file_hash: str | None = None


class TextExtracted(Event, frozen=True, tag="text_extracted"):
    """Pages are stored in PostgreSQL; the file's and the text's hashes are known."""

    page_count: int
    char_count: int
    file_sha256: str
    text_hash: str


class DuplicatesChecked(Event, frozen=True, tag="duplicates_checked"):
    """The document's pages are ready for chunking: its upload is not a duplicate, or a
    job rebuilds it from its stored pages (``shared.jobs``)."""

    index_version: int = 0
    """The version the job chunks into; 0 for the version active when it is chunked."""


class ChunksStored(Event, frozen=True, tag="chunks_stored"):
    """Chunks are stored in PostgreSQL, waiting for their vectors: the embedder splits
    them into units and queues the document's first ones (also a resume's event)."""

    chunk_count: int
    index_version: int
    """The version the chunks were stored in."""


class EmbedUnit(Event, frozen=True, tag="embed_unit"):
    """One unit of a document's chunks to embed (a batch's worth), queued by the
    embedder's scheduler a few at a time per document and per tenant."""

    unit_no: int
    index_version: int
    """The version whose chunks the unit embeds."""
    lane: str
    """Whose embedder windows the unit uses (the job's lane): what a skipped unit frees."""


Outcome = Literal["completed", "failed", "duplicate", "cancelled"]


class ProcessingFinished(Event, frozen=True, tag="processing_finished"):
    """A document reached its end: the janitor cleans up and records the outcome."""

    outcome: Outcome
    error_code: str | None = None
    error_message: str | None = None
    duplicate_of: str | None = None


class Progress(Event, frozen=True, tag="progress"):
    """A status change the gateway folds into the status view."""

    status: str
    progress: int
    step: str
    page_count: int | None = None
    chunk_count: int | None = None
    embedded_count: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    duplicate_of: str | None = None


class WebhookDue(Event, frozen=True, tag="webhook_due"):
    """A delivery of a webhook is due: its first attempt, or a retry the schedule
    (``webhook_deliveries.next_attempt_at``) says has come."""

    delivery_id: str


AnyEvent = (
    DocumentUploaded
    | TextExtracted
    | DuplicatesChecked
    | ChunksStored
    | EmbedUnit
    | ProcessingFinished
    | Progress
    | WebhookDue
)

ENCODER = msgspec.json.Encoder()
DECODER: msgspec.json.Decoder[AnyEvent] = msgspec.json.Decoder(AnyEvent)

FIELD = "event"
"""The one field of a stream entry; its value is the event as JSON."""


def encode(event: Event) -> bytes:
    """The stream-entry payload of ``event``."""
    return ENCODER.encode(event)


def decode(payload: bytes | str) -> AnyEvent:
    """Decode a stream-entry payload; raises ``msgspec.DecodeError`` on bad input."""
    return DECODER.decode(payload)


def new_id() -> str:
    return str(uuid.uuid4())
