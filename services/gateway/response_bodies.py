"""Response bodies of every route, as the OpenAPI document describes them.

The status view is built by PostgreSQL (``status_reader.STATUS_VIEW``);
a test decodes real answers into these types with unknown fields refused,
so the description and the SQL cannot drift apart.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from shared.stages import Status


class ErrorDetail(msgspec.Struct):
    code: str
    """A stable, machine-readable name of the problem."""
    message: str
    """What went wrong and what to do about it, for a person."""
    field: str | None
    """The request field at fault, when one is."""
    error_id: str | None = None
    """On a server error: the id of the log line that holds the details."""


class ErrorBody(msgspec.Struct):
    error: ErrorDetail


class Failure(msgspec.Struct, forbid_unknown_fields=True):
    code: str | None
    message: str | None


class Similar(msgspec.Struct, forbid_unknown_fields=True):
    document_id: str
    similarity: float


class DocumentStatus(msgspec.Struct, forbid_unknown_fields=True):
    """A document and where its processing stands."""

    document_id: str
    upload_id: str
    job_id: str | None
    filename: str
    title: str | None
    tags: list[str]
    metadata: dict[str, Any]
    """The client's own key/values (presign, ``PATCH``)."""
    file_size: int
    format: str | None
    """What the file's bytes were found to be at ``/process`` (``pdf``, ``docx``,
    ``eml``...), whatever it was declared as; null before."""
    status: Status
    progress: int
    """0-100; never goes back."""
    current_step: str
    error: Failure | None
    """Why it failed, when it did."""
    duplicate_of: str | None
    """The original, when this document was a copy of one."""
    replaces: str | None
    """For a replacement of a document (``POST /documents/{id}/replacements``): that
    document, whose content this one becomes when it completes."""
    attachment_of: str | None
    """For an e-mail's attachment, a document of its own: the message that carried it
    (``GET /documents?attachment_of=`` lists a message's attachments)."""
    collections: list[str]
    """The ids of the collections it is in."""
    similar_to: list[Similar]
    page_count: int | None
    ocr_pages: int | None
    chunk_count: int | None
    embedded_count: int | None
    object_deleted: bool
    cancel_requested: bool
    created_at: str
    queued_at: str | None
    started_at: str | None
    finished_at: str | None
    updated_at: str
    stage_seconds: dict[str, float]
    """Seconds spent in each stage reached so far."""
    queue_position: int | None
    """Documents ahead of it, itself included, while it waits for a worker."""
    chunks_ahead: int | None
    """Chunks queued for the embedder before it, while it waits for the embedder."""
    eta_seconds: int | None
    """Estimated seconds of processing left, from measured rates."""


class StreamToken(msgspec.Struct, forbid_unknown_fields=True):
    """A short-lived credential for one document's status stream."""

    token: str
    expires_in: int
    """Seconds during which the token opens the stream."""
    url: str
    """The stream's path with the token: ``new EventSource(base + url)``."""


class StatusEvent(msgspec.Struct):
    """One Server-Sent Event of the live status stream."""

    event: Literal["status"]
    data: Annotated[
        str,
        msgspec.Meta(
            description="The status view, as JSON.",
            extra_json_schema={
                "contentMediaType": "application/json",
                "contentSchema": {"$ref": "#/components/schemas/DocumentStatus"},
            },
        ),
    ]


class Collection(msgspec.Struct, forbid_unknown_fields=True):
    """A named set of the tenant's documents."""

    collection_id: str
    name: str
    description: str
    created_at: str
    document_count: int


class CollectionPage(msgspec.Struct, forbid_unknown_fields=True):
    items: list[Collection]
    total: int
    limit: int
    offset: int


class DocumentPage(msgspec.Struct, forbid_unknown_fields=True):
    items: list[DocumentStatus]
    total: int
    limit: int
    offset: int


class Box(msgspec.Struct, forbid_unknown_fields=True):
    """Where part of a chunk's text is on a PDF page: PDF points from the page's top
    left (``page_width`` x ``page_height``), so a viewer scales it to its rendering."""

    page: int
    x0: float
    y0: float
    x1: float
    y1: float
    page_width: float
    page_height: float


BOXES_DOC = (
    "The page boxes the chunk's text came from, for highlighting a citation; null for "
    "formats without fixed pages (all but PDF)."
)


class Location(msgspec.Struct, omit_defaults=True):
    """Where a chunk came from, in the terms of its format; ``label`` says it for a
    reader ("slide 3: Plans", "sheet Sales, rows 2-40", "pages 4-5")."""

    label: str
    pages: list[int] | None = None
    """First and last page (PDF, DOC, DOCX)."""
    slide: int | None = None
    chapter: int | None = None
    title: str | None = None
    """The slide's or chapter's title."""
    sheet: str | None = None
    rows: list[int] | None = None
    """First and last row: of the sheet (XLSX, XLS, ODS) or of the file (CSV, TSV),
    the header being row 1."""
    lines: list[int] | None = None
    """First and last line of a text file."""
    message: str | None = None
    """The e-mail's subject (EML, MSG)."""
    attachment: str | None = None
    """The e-mail attachment's file name, for text that came from one."""
    page: int | None = None
    """The page of a paged attachment (a PDF attached to an e-mail)."""
    section: str | None = None
    """The heading path (HTML, Markdown, ODT, DOCX, PDF outlines)."""


LOCATION_DOC = "Where the chunk came from, in its format's terms (see Location)."


class Chunk(msgspec.Struct, forbid_unknown_fields=True):
    chunk_id: str
    ordinal: int
    text: str
    context: str
    """The document title and section path the chunk was embedded with."""
    page_start: int
    page_end: int
    token_count: int
    dimensions: int | None
    boxes: Annotated[list[Box] | None, msgspec.Meta(description=BOXES_DOC)] = None
    location: Annotated[Location | None, msgspec.Meta(description=LOCATION_DOC)] = None


class ChunkPage(msgspec.Struct, forbid_unknown_fields=True):
    document_id: str
    total: int
    limit: int
    offset: int
    items: list[Chunk]
    index_version: int | None = None
    """The index version the chunks belong to (the active one once the document holds it)."""
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    """The document's metadata, which every chunk shares."""


class StageHealth(msgspec.Struct):
    stream: str
    consumers: int
    pending: int
    lag: int
    status: Literal["ok", "stuck", "no_workers"]


class Health(msgspec.Struct):
    status: Literal["ok", "unhealthy"]
    dependencies: dict[str, str]
    """Each dependency: ``ok`` or the error that reaching it gave."""
    stages: dict[str, StageHealth]
    """Each stage's consumer group."""
    reasons: list[str]


class Alive(msgspec.Struct):
    status: str


class PipelineStage(msgspec.Struct):
    service: str
    status: str
    label: str
    progress: tuple[int, int]


class PipelineBody(msgspec.Struct):
    """The stage table, as a page needs it: its stages in order and a label for every
    status a document can have."""

    stages: list[PipelineStage]
    labels: dict[str, str]


class QueueInfo(msgspec.Struct):
    streams: list[dict[str, Any]]
    dead_letters: int
    counters: dict[str, dict[str, int]]


class DeadLetter(msgspec.Struct):
    id: str
    stream: str
    group: str
    reason: str
    event_type: str | None
    document_id: str | None


class DeadLetters(msgspec.Struct):
    dead_letters: list[DeadLetter]


class Retried(msgspec.Struct):
    retried: int


class Purged(msgspec.Struct):
    purged: int


class PartUrl(msgspec.Struct):
    part_number: int
    url: str


class MultipartPlan(msgspec.Struct):
    """PUT each part's bytes to its URL (any order, in parallel), keep each answer's
    ETag header, then complete the upload with them."""

    part_size: int
    part_count: int
    parts: list[PartUrl]


class PresignResponse(msgspec.Struct):
    document_id: str
    upload_id: str
    upload_url: str | None
    """Where to PUT the whole file; null when the upload goes in parts."""
    method: str
    headers: dict[str, str]
    expires_in: int
    expires_at: str
    multipart: MultipartPlan | None = None


class StoredPart(msgspec.Struct):
    part_number: int
    etag: str
    size: int


class UploadParts(msgspec.Struct):
    """What the store holds of a multipart upload, and fresh URLs for the rest."""

    parts: list[StoredPart]
    missing: list[PartUrl]
    part_size: int
    part_count: int


class ProcessResponse(msgspec.Struct):
    document_id: str
    job_id: str
    status: str
    estimated_time: str
    estimated_seconds: int


class SearchResult(msgspec.Struct):
    document_id: str
    chunk_id: str
    title: str
    text: str
    context: str
    page_start: int
    page_end: int
    score: float
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    """The document's metadata."""
    boxes: Annotated[list[Box] | None, msgspec.Meta(description=BOXES_DOC)] = None
    location: Annotated[Location | None, msgspec.Meta(description=LOCATION_DOC)] = None


class SearchResponse(msgspec.Struct):
    results: list[SearchResult]
    index_version: int = 1
    """The index version that answered: every result comes from it."""
    reranked: bool | msgspec.UnsetType = msgspec.UNSET
    """With a reranker configured: whether it ordered the results (false: it failed or
    was slow, and the fused order was kept). Absent without one."""


class Webhook(msgspec.Struct):
    id: str
    url: str
    events: list[str]
    created_at: str


class WebhookCreated(msgspec.Struct):
    id: str
    url: str
    events: list[str]
    created_at: str
    secret: str
    """Shown once: verify each delivery's Docmesh-Signature with it."""


class WebhookList(msgspec.Struct):
    items: list[Webhook]


class DeliveryAttempt(msgspec.Struct):
    attempted_at: str
    status_code: int | None
    error: str | None
    duration_ms: int


class Delivery(msgspec.Struct):
    id: str
    """Sent as Docmesh-Delivery, the same on every attempt."""
    type: str
    document_id: str
    status: str
    """pending (retried with growing pauses), delivered or failed."""
    created_at: str
    next_attempt_at: str | None
    attempts: list[DeliveryAttempt]


class DeliveryList(msgspec.Struct):
    items: list[Delivery]
