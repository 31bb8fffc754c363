"""The pipeline, written down once: document statuses and the table of stages.

Every other place that needs to know the pipeline (which stream a service
reads, which event starts a stage, where a dead letter resumes, which
streams make the backlog, which processes ``docmesh up`` runs, the
Kubernetes manifests, the ``just`` recipes) derives it from :data:`STAGES`.
Adding a stage is one row here plus a service folder with its handler.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from shared.events import (
    ChunksStored,
    DocumentUploaded,
    DuplicatesChecked,
    EmbedUnit,
    Event,
    ProcessingFinished,
    Progress,
    Stream,
    TextExtracted,
    WebhookDue,
)


class Status(enum.StrEnum):
    """A document's status, in pipeline order: a document never moves back in it."""

    AWAITING_UPLOAD = "awaiting_upload"
    UPLOADED = "uploaded"
    EXTRACTING = "extracting"
    CHECKING_DUPLICATES = "checking_duplicates"
    CHUNKING = "chunking"
    EMBEDDING = "embedding"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


ORDER: tuple[Status, ...] = tuple(Status)
"""Statuses in pipeline order; a document never moves back in this order."""

TERMINAL = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED, Status.EXPIRED})


@dataclass(frozen=True)
class Stage:
    """One step of the pipeline: a service reading one stream through its group."""

    service: str
    """The service, its consumer group and its process name."""
    stream: Stream
    """The stream it consumes."""
    event: type[Event]
    """The event that starts it (the only type on its stream)."""
    status: Status
    """The document's status while the stage works."""
    progress: tuple[int, int]
    """The progress range the stage moves the document through."""
    max_replicas: int
    """How far an autoscaler may grow the service."""
    continues: tuple[type[Event], ...] = ()
    """Events the stage publishes to its own stream to carry on its work."""

    @property
    def events(self) -> tuple[type[Event], ...]:
        """Every event type on the stage's stream."""
        return (self.event, *self.continues)

    def progress_at(self, fraction: float) -> int:
        """Progress ``fraction`` (0..1) of the way through this stage's range."""
        low, high = self.progress
        return low + int((high - low) * min(max(fraction, 0.0), 1.0))


STAGES: tuple[Stage, ...] = (
    Stage("extractor", Stream.EXTRACT, DocumentUploaded, Status.EXTRACTING, (5, 25), 4),
    Stage("deduplicator", Stream.DEDUP, TextExtracted, Status.CHECKING_DUPLICATES, (25, 35), 2),
    Stage("chunker", Stream.CHUNK, DuplicatesChecked, Status.CHUNKING, (35, 55), 4),
    Stage("embedder", Stream.EMBED, ChunksStored, Status.EMBEDDING, (55, 85), 8, (EmbedUnit,)),
    Stage("janitor", Stream.FINALIZE, ProcessingFinished, Status.COMPLETED, (85, 100), 2),
)
"""The pipeline in order. The last stage finishes documents (its status is terminal)."""

PROJECTOR = Stage("gateway", Stream.PROGRESS, Progress, Status.UPLOADED, (0, 0), 1)
"""Not a stage of the pipeline: the gateway's fold of every stage's progress events."""

NOTIFIER = Stage("notifier", Stream.WEBHOOKS, WebhookDue, Status.COMPLETED, (100, 100), 1)
"""Not a stage of the pipeline: webhook deliveries, sent by the gateway's processes."""

WORKERS: tuple[str, ...] = tuple(s.service for s in STAGES)
SERVICES: tuple[str, ...] = (PROJECTOR.service, *WORKERS)
"""Every process of the mesh; the gateway also runs the projector."""

PIPELINE: tuple[Status, ...] = (
    Status.UPLOADED,
    *(s.status for s in STAGES if s.status not in TERMINAL),
)
"""Statuses of a document a worker is responsible for."""

WORK_STREAMS: tuple[Stream, ...] = tuple(s.stream for s in (*STAGES, PROJECTOR, NOTIFIER))
"""Every stream some group consumes (all but the dead letters)."""
STAGE_STREAMS: tuple[Stream, ...] = tuple(s.stream for s in STAGES)
"""The streams of the pipeline's stages: their entries are documents waiting for work."""

STREAM_OF: dict[type[Event], Stream] = {
    e: s.stream for s in (*STAGES, PROJECTOR, NOTIFIER) for e in s.events
}
"""Where each event is published."""

_BY_SERVICE = {s.service: s for s in (*STAGES, PROJECTOR, NOTIFIER)}
_BY_EVENT = {e: s for s in STAGES for e in s.events}
_BY_STATUS = {s.status: s for s in STAGES}


def stage(service: str) -> Stage:
    """The row of ``service`` (the projector's for ``gateway``)."""
    return _BY_SERVICE[service]


def stage_of_event(event_type: type[Event]) -> Stage:
    """The stage that ``event_type`` starts."""
    return _BY_EVENT[event_type]


def stage_of_status(status: str) -> Stage:
    """The stage working on a document in ``status`` (the first one for ``uploaded``)."""
    return STAGES[0] if status == Status.UPLOADED else _BY_STATUS[Status(status)]


def resume_status(event_type: type[Event]) -> Status:
    """The status of a document whose ``event_type`` event is handled again (a replayed
    dead letter): the stage's own, ``uploaded`` before the first, the last working
    status before the finishing stage."""
    index = STAGES.index(stage_of_event(event_type))
    if index == 0:
        return Status.UPLOADED
    for row in reversed(STAGES[: index + 1]):
        if row.status not in TERMINAL:
            return row.status
    raise AssertionError("unreachable")  # pragma: no cover


def previous(row: Stage) -> Stage | None:
    """The stage before ``row``, or None for the first."""
    index = STAGES.index(row)
    return STAGES[index - 1] if index else None


def rank(status: str) -> int:
    """Position of ``status`` in the pipeline order."""
    return ORDER.index(Status(status))
